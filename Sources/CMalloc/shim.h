// glibc malloc tuning (mallopt): see Sources/kaplan/Entry.swift.
#include <malloc.h>
