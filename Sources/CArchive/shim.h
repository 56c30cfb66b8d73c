#include <archive.h>
#include <archive_entry.h>

// sync_file_range(2) (glibc declares it only under _GNU_SOURCE, which this module cannot set before <fcntl.h> is
// seen): the extractor's writeback window (Sources/KaplanArchive/WritebackWindow.swift). Flags as in <fcntl.h>.
#include <stdint.h>
extern int sync_file_range(int fd, int64_t offset, int64_t nbytes, unsigned int flags);
#define KAPLAN_SYNC_FILE_RANGE_WAIT_BEFORE 1u
#define KAPLAN_SYNC_FILE_RANGE_WRITE 2u
#define KAPLAN_SYNC_FILE_RANGE_WAIT_AFTER 4u
