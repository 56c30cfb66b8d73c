#include <archive.h>
#include <archive_entry.h>

// sync_file_range(2) (glibc declares it only under _GNU_SOURCE, which this module cannot set before <fcntl.h> is
// seen): the extractor's writeback window (Sources/KaplanArchive/WritebackWindow.swift), which only starts writeback
// (SYNC_FILE_RANGE_WRITE in <fcntl.h>) and never waits for it.
#include <stdint.h>
extern int sync_file_range(int fd, int64_t offset, int64_t nbytes, unsigned int flags);
#define KAPLAN_SYNC_FILE_RANGE_WRITE 2u
