import CArchive
import KaplanDigest

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Extracts a stream made by ``TreeArchiver`` into a destination directory, and computes its manifest as it writes.
///
/// Restores owners (numerically), modes, times, xattrs, ACLs, holes; refuses entries that would land outside the
/// destination (absolute names, `..`, through symlinks). Throws on a truncated or corrupted stream, after which
/// the destination holds a partial tree.
public struct TreeExtractor: Sendable {
    /// The existing directory that becomes the tree root (entry `.` sets its own mode, owner and times).
    public var destination: String

    /// Creates an extractor writing into `destination`.
    public init(destination: String) {
        self.destination = destination
    }

    /// Extracts, pulling the stream from `source` chunk by chunk until it returns nil (end of stream).
    ///
    /// Returns when the tree is complete. `source` is called only when libarchive needs more bytes, so a network
    /// receiver can hand in chunks as they arrive; it is called on a worker thread with a private working
    /// directory (libarchive may change directory) while the caller waits.
    public func extract(from source: () throws -> [UInt8]?) throws(ArchiveError) -> ExtractionResult {
        let result = withoutActuallyEscaping(source) { source -> Result<ExtractionResult, ArchiveError> in
            do throws(ArchiveError) {
                return try WorkerThread.run { extractOnCurrentThread(from: source) }
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// Extracts on the calling thread, which must be a ``WorkerThread``.
    func extractOnCurrentThread(from source: @escaping () throws -> [UInt8]?) -> Result<ExtractionResult, ArchiveError>
    {
        do throws(ArchiveError) {
            return .success(try run(source: SourceContext(source)))
        } catch {
            return .failure(error)
        }
    }

    /// Starts extracting on a thread of its own, fed by ``ExtractionSession/feed(_:)``; see ``ExtractionSession``.
    public func start(bufferLimit: Int = 8 << 20) throws(ArchiveError) -> ExtractionSession {
        try ExtractionSession(extractor: self, bufferLimit: bufferLimit)
    }

    /// The `archive_write_disk` options: full metadata, and the libarchive guards against escaping paths.
    ///
    /// Not `ARCHIVE_EXTRACT_SPARSE`: the holes the archive records are recreated anyway (data blocks carry their
    /// offsets); that flag would also punch holes into runs of zeros the golden had allocated (a swap file).
    static let diskFlags: Int32 =
        ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_XATTR
        | ARCHIVE_EXTRACT_ACL | ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT

    private func run(source: SourceContext) throws(ArchiveError) -> ExtractionResult {
        let destinationBytes = try ArchivePath.resolvedDirectory(destination, role: "destination")

        let reader = try ArchiveHandle(.read)
        reader.retainedContext = source
        try reader.check(archive_read_support_filter_zstd(reader.pointer), "archive_read_support_filter_zstd")
        try reader.check(archive_read_support_filter_none(reader.pointer), "archive_read_support_filter_none")
        try reader.check(archive_read_support_format_tar(reader.pointer), "archive_read_support_format_tar")

        // Names in the archive are relative; libarchive writes relative to the process's working directory,
        // which is shared by every thread, so each name is prefixed with the (symlink-free) destination instead.
        // Absolute names are refused here, before prefixing, since libarchive can no longer tell them apart.
        let disk = try ArchiveHandle(.writeDisk)
        try disk.check(archive_write_disk_set_options(disk.pointer, Self.diskFlags), "archive_write_disk_set_options")

        let context = Unmanaged.passUnretained(source).toOpaque()
        try checked(
            archive_read_open(
                reader.pointer, context, nil,
                { _, context, buffer in
                    guard let context, let buffer else { return -1 }
                    return Unmanaged<SourceContext>.fromOpaque(context).takeUnretainedValue().read(into: buffer)
                }, nil),
            "archive_read_open", reader, source)

        var manifest = TreeManifest.Builder()
        var statistics = ArchiveStatistics()
        var trailer: StreamTrailer? = nil
        var existingDirectories: [(target: [CChar], display: String, mtime: timespec)] = []
        while true {
            var entryPointer: OpaquePointer? = nil
            let rc = try checked(
                archive_read_next_header(reader.pointer, &entryPointer), "archive_read_next_header", reader, source,
                accepting: ARCHIVE_EOF)
            if rc == ARCHIVE_EOF { break }
            guard let entry = entryPointer else {
                throw reader.error("archive_read_next_header", path: nil)
            }
            let rawPath = archive_entry_pathname(entry).map(ArchivePath.bytes) ?? []
            let shownPath = ArchivePath.display(rawPath)
            if trailer != nil {
                throw ArchiveError(
                    kind: .integrity, function: "TreeExtractor.extract",
                    message: "the stream continues after its trailer; it was not made by TreeArchiver or was spliced",
                    path: shownPath)
            }
            guard let relative = ArchivePath.normalized(rawPath) else {
                throw Self.unsafe(shownPath, "the entry's name is absolute or climbs out with '..'")
            }
            let display = ArchivePath.display(relative)
            if relative == Array(StreamTrailer.name.utf8) && archive_entry_filetype(entry) == FileType.regular {
                trailer = try readTrailer(reader: reader, source: source)
                continue
            }

            var hardlinkDisplay: String? = nil
            if let hardlink = archive_entry_hardlink(entry) {
                let rawLink = ArchivePath.bytes(hardlink)
                guard let link = ArchivePath.normalized(rawLink), link != Array(".".utf8) else {
                    throw Self.unsafe(
                        display, "the hard link's target \(ArchivePath.display(rawLink)) is not below the root")
                }
                hardlinkDisplay = ArchivePath.display(link)
                archive_entry_copy_hardlink(entry, ArchivePath.cString(Self.join(destinationBytes, link)))
            }
            let target = ArchivePath.cString(Self.join(destinationBytes, relative))
            archive_entry_copy_pathname(entry, target)
            if archive_entry_filetype(entry) == FileType.directory && archive_entry_mtime_is_set(entry) != 0 {
                // libarchive defers the times only of directories it creates; an existing one (the root, at
                // least) gets its mtime at once, and then loses it as its content is written.
                var info = stat()
                if lstat(target, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR {
                    let mtime = timespec(tv_sec: archive_entry_mtime(entry), tv_nsec: archive_entry_mtime_nsec(entry))
                    existingDirectories.append((target, display, mtime))
                }
            }

            do throws(ArchiveError) {
                try disk.check(archive_write_header(disk.pointer, entry), "archive_write_header", path: display)
            } catch {
                // libarchive's own guards (SECURE_SYMLINKS, SECURE_NODOTDOT) report through the same call.
                let escaping = ["through symlink", "Path contains '..'"].contains { error.message.contains($0) }
                guard escaping else { throw error }
                throw ArchiveError(
                    kind: .unsafePath, function: error.function, errno: error.errno,
                    message: "\(error.message); refusing to write outside the destination", path: display)
            }
            var digest: String? = nil
            if hardlinkDisplay == nil && archive_entry_filetype(entry) == FileType.regular {
                digest = try copyContent(from: reader, source: source, to: disk, entry: entry, target: target, path: display)
                statistics.regularFiles += 1
                statistics.fileBytes += archive_entry_size(entry)
            }
            try disk.check(archive_write_finish_entry(disk.pointer), "archive_write_finish_entry", path: display)
            manifest.append(ManifestEntry(entry: entry, path: display, hardlinkTarget: hardlinkDisplay, sha256: digest))
            statistics.entries += 1
        }
        // Closing applies what libarchive defers to the end: directory modes and times.
        try disk.check(archive_write_close(disk.pointer), "archive_write_close")
        for (target, display, mtime) in existingDirectories.reversed() {
            // Only where the path still leads, without symlinks, to where it did (the archive may have changed it).
            guard let resolved = realpath(target, nil) else { continue }
            let unchanged = strcmp(resolved, target) == 0
            free(resolved)
            guard unchanged else { continue }
            let omit = (1 << 30) - 2  // UTIME_OMIT: leave the atime alone
            var times = [timespec(tv_sec: 0, tv_nsec: omit), mtime]
            guard utimensat(AT_FDCWD, target, &times, AT_SYMLINK_NOFOLLOW) == 0 else {
                let code = errno
                throw ArchiveError(
                    kind: .system, function: "utimensat", errno: code,
                    message: "cannot set the directory's mtime: \(String(cString: strerror(code)))", path: display)
            }
        }
        statistics.archiveBytes = archive_filter_bytes(reader.pointer, 0)
        statistics.compressedBytes = archive_filter_bytes(reader.pointer, -1)
        try checked(archive_read_close(reader.pointer), "archive_read_close", reader, source)

        guard let trailer else {
            throw ArchiveError(
                kind: .truncated, function: "TreeExtractor.extract",
                message: "the stream ended after \(statistics.entries) entries without its trailer; bytes were lost "
                    + "in transit or the sender stopped early")
        }
        let result = manifest.finish()
        guard trailer.entries == statistics.entries, trailer.manifestDigest == result.digest else {
            throw ArchiveError(
                kind: .integrity, function: "TreeExtractor.extract",
                message: "the extracted tree differs from what the archiver sent (entries \(statistics.entries) vs "
                    + "\(trailer.entries), manifest \(result.digest) vs \(trailer.manifestDigest)); the stream was "
                    + "corrupted in transit")
        }
        return ExtractionResult(statistics: statistics, manifest: result)
    }

    /// Writes a regular file's data blocks where the archive places them (holes stay holes); returns its digest.
    private func copyContent(
        from reader: ArchiveHandle, source: SourceContext, to disk: ArchiveHandle, entry: OpaquePointer, target: [CChar],
        path: String
    ) throws(ArchiveError) -> String {
        let size = archive_entry_size(entry)
        var hasher = SHA256()
        var writeback = WritebackWindow(path: target)
        var position: Int64 = 0
        while true {
            var buffer: UnsafeRawPointer? = nil
            var length = 0
            var offset: Int64 = 0
            let rc = try checked(
                archive_read_data_block(reader.pointer, &buffer, &length, &offset), "archive_read_data_block", reader,
                source, path: path, accepting: ARCHIVE_EOF)
            if rc == ARCHIVE_EOF { break }
            guard offset >= position, offset + Int64(length) <= size else {
                throw ArchiveError(
                    kind: .library, function: "archive_read_data_block",
                    message: "data block at \(offset)+\(length) lies outside the file (size \(size), at \(position))",
                    path: path)
            }
            if offset > position { hasher.updateZeros(count: offset - position) }
            try disk.check(
                count: archive_write_data_block(disk.pointer, buffer, length, offset), "archive_write_data_block",
                path: path)
            hasher.update(UnsafeRawBufferPointer(start: buffer, count: length))
            position = offset + Int64(length)
            writeback.wrote(upTo: position)
        }
        if position < size { hasher.updateZeros(count: size - position) }
        return hasher.finalizeHex()
    }

    /// Reads the trailer entry's body (never written to disk).
    private func readTrailer(reader: ArchiveHandle, source: SourceContext) throws(ArchiveError) -> StreamTrailer {
        var body: [UInt8] = []
        while true {
            var buffer: UnsafeRawPointer? = nil
            var length = 0
            var offset: Int64 = 0
            let rc = try checked(
                archive_read_data_block(reader.pointer, &buffer, &length, &offset), "archive_read_data_block", reader,
                source, path: StreamTrailer.name, accepting: ARCHIVE_EOF)
            if rc == ARCHIVE_EOF { break }
            guard offset == Int64(body.count), body.count + length <= StreamTrailer.maxSize else {
                throw Self.corruptTrailer()
            }
            body.append(contentsOf: UnsafeRawBufferPointer(start: buffer, count: length))
        }
        guard let trailer = StreamTrailer(decoding: body) else { throw Self.corruptTrailer() }
        return trailer
    }

    private static func corruptTrailer() -> ArchiveError {
        ArchiveError(
            kind: .integrity, function: "TreeExtractor.extract", message: "the stream's trailer is unreadable",
            path: StreamTrailer.name)
    }

    private static func unsafe(_ path: String, _ message: String) -> ArchiveError {
        ArchiveError(
            kind: .unsafePath, function: "TreeExtractor.extract",
            message: "\(message); refusing to write outside the destination", path: path)
    }

    /// `destination/relative`, or `destination` itself for `.`.
    private static func join(_ destination: [UInt8], _ relative: [UInt8]) -> [UInt8] {
        if relative == Array(".".utf8) { return destination }
        let separator: [UInt8] = destination.last == UInt8(ascii: "/") ? [] : [UInt8(ascii: "/")]
        return destination + separator + relative
    }

    /// ``ArchiveHandle/check(_:_:path:accepting:)`` that reports the source's own error when the source caused it.
    @discardableResult
    private func checked(
        _ rc: Int32, _ function: String, _ reader: ArchiveHandle, _ source: SourceContext, path: String? = nil,
        accepting: Int32? = nil
    ) throws(ArchiveError) -> Int32 {
        do throws(ArchiveError) {
            return try reader.check(rc, function, path: path, accepting: accepting)
        } catch {
            throw source.failure(function: function, path: path) ?? error
        }
    }
}

/// The caller's source, as libarchive's read callback sees it.
final class SourceContext: CallbackContext {
    let source: () throws -> [UInt8]?
    /// The first error the source threw; libarchive only learns that the read failed.
    var error: (any Error)?
    /// Set once the source has said the stream ended.
    var ended = false
    private var abandoned = false
    /// The chunk libarchive is reading from; it must stay put until the next callback.
    private var buffer: UnsafeMutableRawPointer? = nil
    private var capacity = 0

    init(_ source: @escaping () throws -> [UInt8]?) {
        self.source = source
    }

    deinit {
        free(buffer)
    }

    /// Fetches the next non-empty chunk; 0 at the end of the stream, -1 (with `error` set) on failure.
    func read(into pointer: UnsafeMutablePointer<UnsafeRawPointer?>) -> Int {
        if error != nil || abandoned { return -1 }
        if ended { return 0 }
        do {
            while true {
                guard let chunk = try source() else {
                    ended = true
                    return 0
                }
                if chunk.isEmpty { continue }
                if chunk.count > capacity {
                    free(buffer)
                    buffer = malloc(chunk.count)
                    capacity = buffer == nil ? 0 : chunk.count
                    guard buffer != nil else {
                        throw ArchiveError(
                            kind: .system, function: "malloc", errno: ENOMEM,
                            message: "cannot buffer a chunk of \(chunk.count) bytes")
                    }
                }
                chunk.withUnsafeBytes { buffer!.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                pointer.pointee = UnsafeRawPointer(buffer)
                return chunk.count
            }
        } catch {
            self.error = error
            return -1
        }
    }

    func abandon() {
        abandoned = true
    }

    /// The source's error as an ``ArchiveError``, if the source failed.
    func failure(function: String, path: String?) -> ArchiveError? {
        guard let error else { return nil }
        if let error = error as? ArchiveError { return error }
        return ArchiveError(
            kind: .sourceFailed, function: function, message: "the source failed to deliver archive bytes",
            path: path, cause: error)
    }
}
