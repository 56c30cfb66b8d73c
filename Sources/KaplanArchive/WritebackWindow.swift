import CArchive

#if canImport(Glibc)
    import Glibc
#endif

/// Keeps a large file's extraction from piling its data up in the page cache: every `window` bytes it starts
/// writeback of what was just written (`sync_file_range` WRITE) and drops the two windows before that from the
/// cache (`POSIX_FADV_DONTNEED`). It never waits for the disk: pages whose writeback has not finished yet (a disk
/// slower than the stream) are skipped by the kernel and stay cached as before, to be written and reclaimed the
/// usual way. So with a disk that keeps up, a clone's file holds about three windows of cached pages instead of
/// all of it, the disk is written while the stream arrives instead of in a burst at the end, and the same few
/// pages are reused for the whole file.
///
/// Why it matters: a clone is written once and not read back (the fix-ups read a few small files), so caching it
/// only evicts what the node needs — a network-booted node runs from RAM. Measured in the lab (bench/RESULTS.md,
/// chain "Seventh run"): 16 model writers paced at 100 Mbit, 512 MiB each, into XFS on loop devices took 26–28
/// CPU-s of system time through the page cache and 3.7–4.0 with a window that waited for each writeback; with this
/// one, which does not wait, a 16-node chain's agents went from 8.3–8.7 to 4.5–4.9 CPU-s per GiB. This virtual
/// machine backs each new page-cache page on first touch, and an unbounded cache keeps asking for new pages.
///
/// Only a hint: it opens its own read-only descriptor of the file libarchive is writing (libarchive does not
/// share its own), and if that fails or a call fails, extraction goes on as before. Errors writing the data are
/// libarchive's to report, and the segment's final sync and the manifest check stay the proof.
struct WritebackWindow: ~Copyable {
    /// Bytes between two hints; files smaller than this are never opened.
    static let window: Int64 = 8 << 20

    private let path: [CChar]
    private var fd: Int32 = -1
    private var failed = false
    /// Writeback was started for [0, started).
    private var started: Int64 = 0

    /// Hints for the file at `path` (the name libarchive just created).
    init(path: [CChar]) { self.path = path }

    deinit { if fd >= 0 { close(fd) } }

    /// The file's data is written up to `position`.
    mutating func wrote(upTo position: Int64) {
        guard !failed, position - started >= Self.window else { return }
        if fd < 0 {
            fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)
            var info = stat()
            guard fd >= 0, fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
                failed = true
                return
            }
        }
        guard sync_file_range(fd, started, position - started, KAPLAN_SYNC_FILE_RANGE_WRITE) == 0 else {
            failed = true
            return
        }
        // The two windows before this one (their writeback began one and two windows ago; each range is dropped
        // twice, so what was still being written the first time goes the second).
        let from = max(0, started - 2 * Self.window)
        if started > from {
            _ = posix_fadvise(fd, off_t(from), off_t(started - from), POSIX_FADV_DONTNEED)
        }
        started = position
    }
}
