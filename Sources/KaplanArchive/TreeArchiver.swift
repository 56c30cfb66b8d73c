import CArchive
import KaplanDigest

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Streams one directory tree (one filesystem) as a compressed pax archive to a sink, and returns its manifest.
///
/// Keeps numeric owners, modes, nanosecond mtimes, xattrs, POSIX ACLs, hard links, symlinks, holes of sparse
/// files, device nodes and fifos. Does not cross mountpoints: a mountpoint is archived as an empty directory.
public struct TreeArchiver: Sendable {
    /// The directory whose tree is archived; entries are named relative to it (`.` is the root itself).
    public var root: String
    /// Paths relative to `root` to leave out: a directory keeps its own entry but loses its content;
    /// anything else is left out entirely.
    public var excluding: [String]
    /// How the stream is compressed.
    public var compression: ArchiveCompression

    /// Creates an archiver for the tree at `root`.
    public init(root: String, excluding: [String] = [], compression: ArchiveCompression = .zstd(level: 3)) {
        self.root = root
        self.excluding = excluding
        self.compression = compression
    }

    /// Walks the tree and hands the archive bytes to `sink` as they are produced, in order.
    ///
    /// The walk runs on a worker thread with a private working directory (libarchive changes directory as it
    /// walks); `sink` is called on that thread while the caller waits.
    public func archive(to sink: (UnsafeRawBufferPointer) throws -> Void) throws(ArchiveError) -> ArchiveResult {
        let result = withoutActuallyEscaping(sink) { sink -> Result<ArchiveResult, ArchiveError> in
            do throws(ArchiveError) {
                return try WorkerThread.run { () -> Result<ArchiveResult, ArchiveError> in
                    do throws(ArchiveError) {
                        return .success(try run(sink: SinkContext(sink)))
                    } catch {
                        return .failure(error)
                    }
                }
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    private func run(sink: SinkContext) throws(ArchiveError) -> ArchiveResult {
        let rootBytes = try ArchivePath.resolvedDirectory(root, role: "archive root")
        var exclusions: [[UInt8]: Bool] = [:]  // normalized path → matched
        for path in excluding {
            guard let normalized = ArchivePath.normalized(Array(path.utf8)), normalized != Array(".".utf8) else {
                throw ArchiveError(
                    kind: .invalidArgument, function: "TreeArchiver.archive",
                    message: "an exclusion must name a path below the root, without '..'", path: path)
            }
            exclusions[normalized] = false
        }

        let disk = try ArchiveHandle(.readDisk)
        try disk.check(archive_read_disk_set_symlink_physical(disk.pointer), "archive_read_disk_set_symlink_physical")
        // File flags (chattr) are left out: restoring them fails on filesystems without them (ext4 'e' on xfs).
        try disk.check(
            archive_read_disk_set_behavior(
                disk.pointer, ARCHIVE_READDISK_NO_TRAVERSE_MOUNTS | ARCHIVE_READDISK_NO_FFLAGS),
            "archive_read_disk_set_behavior")

        let writer = try ArchiveHandle(.write)
        writer.retainedContext = sink
        try writer.check(archive_write_set_format_pax(writer.pointer), "archive_write_set_format_pax")
        // Names are bytes on Linux; BINARY stores them as they are, with no locale conversion either way.
        try writer.check(
            archive_write_set_format_option(writer.pointer, "pax", "hdrcharset", "BINARY"),
            "archive_write_set_format_option(hdrcharset=BINARY)")
        switch compression {
        case .none:
            try writer.check(archive_write_add_filter_none(writer.pointer), "archive_write_add_filter_none")
        case .zstd(let level, let workers):
            guard (1...22).contains(level), workers >= 0 else {
                throw ArchiveError(
                    kind: .invalidArgument, function: "TreeArchiver.archive",
                    message: "zstd needs a level from 1 to 22 and a non-negative worker count, not \(compression)")
            }
            try writer.check(archive_write_add_filter_zstd(writer.pointer), "archive_write_add_filter_zstd")
            try writer.check(
                archive_write_set_filter_option(writer.pointer, "zstd", "compression-level", "\(level)"),
                "archive_write_set_filter_option(compression-level=\(level))")
            if workers > 0 {
                try writer.check(
                    archive_write_set_filter_option(writer.pointer, "zstd", "threads", "\(workers)"),
                    "archive_write_set_filter_option(threads=\(workers))")
            }
        }
        try writer.check(
            archive_write_set_bytes_per_block(writer.pointer, 64 * 1024), "archive_write_set_bytes_per_block")
        try writer.check(
            archive_write_set_bytes_in_last_block(writer.pointer, 1), "archive_write_set_bytes_in_last_block")
        let context = Unmanaged.passUnretained(sink).toOpaque()
        try checked(
            archive_write_open2(
                writer.pointer, context, nil,
                { _, context, buffer, length in
                    guard let context else { return -1 }
                    return Unmanaged<SinkContext>.fromOpaque(context).takeUnretainedValue().write(buffer, length)
                }, nil, nil), "archive_write_open2",
            writer, sink)

        let resolver = try LinkResolver(format: archive_format(writer.pointer))
        let entry = try EntryHandle()
        var manifest = TreeManifest.Builder()
        var statistics = ArchiveStatistics()
        var skipped: [String] = []
        let reserved = Array(StreamTrailer.name.utf8)

        try disk.check(
            archive_read_disk_open(disk.pointer, ArchivePath.cString(rootBytes)), "archive_read_disk_open",
            path: root)
        while true {
            let rc = try disk.check(
                archive_read_next_header2(disk.pointer, entry.pointer), "archive_read_next_header2",
                accepting: ARCHIVE_EOF)
            if rc == ARCHIVE_EOF { break }
            guard let sourcePath = archive_entry_pathname(entry.pointer),
                let relative = ArchivePath.relative(ArchivePath.bytes(sourcePath), under: rootBytes)
            else {
                throw ArchiveError(
                    kind: .library, function: "archive_read_next_header2",
                    message: "libarchive returned an entry outside the root", path: root)
            }
            let display = ArchivePath.display(relative)
            let isDirectory = archive_entry_filetype(entry.pointer) == FileType.directory
            let excluded = exclusions[relative] != nil
            if excluded { exclusions[relative] = true }

            if isDirectory && !excluded && archive_read_disk_can_descend(disk.pointer) != 0 {
                try disk.check(archive_read_disk_descend(disk.pointer), "archive_read_disk_descend", path: display)
            }
            if excluded && !isDirectory { continue }
            if archive_entry_filetype(entry.pointer) == FileType.socket {
                skipped.append(display)
                continue
            }
            if relative == reserved {
                throw ArchiveError(
                    kind: .reservedName, function: "TreeArchiver.archive",
                    message: "the stream format reserves this name for its trailer; remove the file or exclude it",
                    path: display)
            }

            archive_entry_copy_pathname(entry.pointer, ArchivePath.cString(relative))
            archive_entry_set_uname(entry.pointer, nil)
            archive_entry_set_gname(entry.pointer, nil)
            archive_entry_unset_atime(entry.pointer)
            archive_entry_unset_ctime(entry.pointer)
            archive_entry_unset_birthtime(entry.pointer)

            var linked: OpaquePointer? = entry.pointer
            var spare: OpaquePointer? = nil
            archive_entry_linkify(resolver.pointer, &linked, &spare)
            guard linked == entry.pointer, spare == nil else {
                throw ArchiveError(
                    kind: .library, function: "archive_entry_linkify",
                    message: "the link resolver deferred an entry, which the pax strategy never does", path: display)
            }
            let hardlink = archive_entry_hardlink(entry.pointer).map { ArchivePath.display(ArchivePath.bytes($0)) }

            try checked(
                archive_write_header(writer.pointer, entry.pointer), "archive_write_header", writer, sink, path: display
            )
            var digest: String? = nil
            if hardlink == nil && archive_entry_filetype(entry.pointer) == FileType.regular {
                digest = try copyContent(from: disk, to: writer, sink: sink, entry: entry.pointer, path: display)
                statistics.regularFiles += 1
                statistics.fileBytes += archive_entry_size(entry.pointer)
            }
            try checked(
                archive_write_finish_entry(writer.pointer), "archive_write_finish_entry", writer, sink,
                path: display)
            manifest.append(
                ManifestEntry(entry: entry.pointer, path: display, hardlinkTarget: hardlink, sha256: digest))
            statistics.entries += 1
        }
        try disk.check(archive_read_close(disk.pointer), "archive_read_close", path: root)

        try writeTrailer(
            StreamTrailer(entries: statistics.entries, manifestDigest: manifest.currentDigest),
            to: writer, sink: sink)
        try checked(archive_write_close(writer.pointer), "archive_write_close", writer, sink)
        statistics.archiveBytes = archive_filter_bytes(writer.pointer, 0)
        statistics.compressedBytes = sink.bytes
        let unmatched = exclusions.filter { !$0.value }.keys.map { ArchivePath.display($0) }.sorted()
        return ArchiveResult(
            statistics: statistics, manifest: manifest.finish(), skipped: skipped, unmatchedExclusions: unmatched)
    }

    /// Copies a regular file's content (holes as zeros, which the pax writer turns back into holes).
    /// Returns the SHA-256 of the content.
    private func copyContent(
        from disk: ArchiveHandle, to writer: ArchiveHandle, sink: SinkContext, entry: OpaquePointer, path: String
    ) throws(ArchiveError) -> String {
        let size = archive_entry_size(entry)
        var hasher = SHA256()
        var position: Int64 = 0
        while position < size {
            var buffer: UnsafeRawPointer? = nil
            var length = 0
            var offset: Int64 = 0
            let rc = try disk.check(
                archive_read_data_block(disk.pointer, &buffer, &length, &offset), "archive_read_data_block",
                path: path, accepting: ARCHIVE_EOF)
            if rc == ARCHIVE_EOF { break }
            if offset > position {
                position += try writeZeros(
                    min(offset, size) - position, to: writer, sink: sink, hasher: &hasher,
                    path: path)
            }
            guard offset == position, let buffer else { continue }
            let wanted = Int(min(Int64(length), size - position))
            let written = try checked(
                count: archive_write_data(writer.pointer, buffer, wanted), "archive_write_data", writer, sink,
                path: path)
            hasher.update(UnsafeRawBufferPointer(start: buffer, count: written))
            position += Int64(written)
            if written < wanted { break }
        }
        // A file that ends in a hole (or shrank while being read) is padded to its recorded size.
        if position < size {
            position += try writeZeros(size - position, to: writer, sink: sink, hasher: &hasher, path: path)
        }
        return hasher.finalizeHex()
    }

    private func writeZeros(
        _ count: Int64, to writer: ArchiveHandle, sink: SinkContext, hasher: inout SHA256, path: String
    ) throws(ArchiveError) -> Int64 {
        var left = count
        while left > 0 {
            let step = Int(min(left, Int64(zeroBlock.count)))
            let count = zeroBlock.withUnsafeBytes { archive_write_data(writer.pointer, $0.baseAddress, step) }
            let written = try checked(count: count, "archive_write_data", writer, sink, path: path)
            hasher.updateZeros(count: Int64(written))
            left -= Int64(written)
            if written < step { break }
        }
        return count - left
    }

    private func writeTrailer(_ trailer: StreamTrailer, to writer: ArchiveHandle, sink: SinkContext)
        throws(ArchiveError)
    {
        let entry = try EntryHandle()
        let body = trailer.encoded
        archive_entry_copy_pathname(entry.pointer, StreamTrailer.name)
        archive_entry_set_filetype(entry.pointer, FileType.regular)
        archive_entry_set_perm(entry.pointer, 0o600)
        archive_entry_set_size(entry.pointer, Int64(body.count))
        archive_entry_set_mtime(entry.pointer, 0, 0)
        try checked(
            archive_write_header(writer.pointer, entry.pointer), "archive_write_header", writer, sink,
            path: StreamTrailer.name)
        let count = body.withUnsafeBytes { archive_write_data(writer.pointer, $0.baseAddress, $0.count) }
        _ = try checked(count: count, "archive_write_data", writer, sink, path: StreamTrailer.name)
        try checked(
            archive_write_finish_entry(writer.pointer), "archive_write_finish_entry", writer, sink,
            path: StreamTrailer.name)
    }

    /// ``ArchiveHandle/check(_:_:path:accepting:)`` that reports the sink's own error when the sink caused the failure.
    private func checked(
        _ rc: Int32, _ function: String, _ writer: ArchiveHandle, _ sink: SinkContext, path: String? = nil
    ) throws(ArchiveError) {
        do throws(ArchiveError) {
            try writer.check(rc, function, path: path)
        } catch {
            throw sink.failure(function: function, path: path) ?? error
        }
    }

    private func checked(
        count: Int, _ function: String, _ writer: ArchiveHandle, _ sink: SinkContext, path: String? = nil
    ) throws(ArchiveError) -> Int {
        do throws(ArchiveError) {
            return try writer.check(count: count, function, path: path)
        } catch {
            throw sink.failure(function: function, path: path) ?? error
        }
    }
}

private let zeroBlock = [UInt8](repeating: 0, count: 64 * 1024)

/// The caller's sink, as libarchive's write callback sees it.
final class SinkContext: CallbackContext {
    let sink: (UnsafeRawBufferPointer) throws -> Void
    /// The first error the sink threw; libarchive only learns that the write failed.
    var error: (any Error)?
    /// Bytes the sink accepted.
    var bytes: Int64 = 0
    private var abandoned = false

    init(_ sink: @escaping (UnsafeRawBufferPointer) throws -> Void) {
        self.sink = sink
    }

    /// Hands libarchive's output to the sink; -1 tells libarchive the write failed (the error is kept here).
    func write(_ buffer: UnsafeRawPointer?, _ length: Int) -> Int {
        if error != nil || abandoned { return -1 }
        do {
            try sink(UnsafeRawBufferPointer(start: buffer, count: length))
            bytes += Int64(length)
            return length
        } catch {
            self.error = error
            return -1
        }
    }

    func abandon() {
        abandoned = true
    }

    /// The sink's error as an ``ArchiveError``, if the sink failed.
    func failure(function: String, path: String?) -> ArchiveError? {
        guard let error else { return nil }
        return ArchiveError(
            kind: .sinkFailed, function: function, message: "the sink refused archive bytes", path: path,
            cause: error)
    }
}
