import CArchive

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Owns one libarchive `struct archive *`; every return code of a call on it goes through ``check(_:_:path:)``.
final class ArchiveHandle {
    /// Which constructor made the handle, so `deinit` calls the matching free function.
    enum Role {
        case read, write, readDisk, writeDisk
    }

    let pointer: OpaquePointer
    let role: Role
    /// Callback context that must outlive the handle (libarchive may call back while freeing).
    var retainedContext: (any CallbackContext)?

    /// Creates a handle of `role`, or throws when libarchive cannot allocate one.
    init(_ role: Role) throws(ArchiveError) {
        let made: OpaquePointer?
        let function: String
        switch role {
        case .read: (made, function) = (archive_read_new(), "archive_read_new")
        case .write: (made, function) = (archive_write_new(), "archive_write_new")
        case .readDisk: (made, function) = (archive_read_disk_new(), "archive_read_disk_new")
        case .writeDisk: (made, function) = (archive_write_disk_new(), "archive_write_disk_new")
        }
        guard let made else {
            throw ArchiveError(
                kind: .library, function: function, errno: ENOMEM, message: "libarchive could not allocate a handle")
        }
        pointer = made
        self.role = role
    }

    deinit {
        // Freeing an unclosed writer makes libarchive close it, flushing an end-of-archive to the sink as if the
        // stream were complete; an abandoned context drops that instead.
        retainedContext?.abandon()
        switch role {
        case .read, .readDisk: archive_read_free(pointer)
        case .write, .writeDisk: archive_write_free(pointer)
        }
    }

    /// Throws the handle's current error unless `rc` is `ARCHIVE_OK` (or one of `accepting`); returns `rc`.
    @discardableResult
    func check(_ rc: Int32, _ function: String, path: String? = nil, accepting: Int32? = nil) throws(ArchiveError)
        -> Int32
    {
        if rc == ARCHIVE_OK || rc == accepting { return rc }
        throw error(function, path: path)
    }

    /// Throws the handle's current error when a byte-count result is negative; returns the count.
    @discardableResult
    func check(count: Int, _ function: String, path: String? = nil) throws(ArchiveError) -> Int {
        if count >= 0 { return count }
        throw error(function, path: path)
    }

    /// The handle's current error (`archive_errno`, `archive_error_string`) as an ``ArchiveError``.
    func error(_ function: String, path: String?) -> ArchiveError {
        let message = archive_error_string(pointer).map { String(cString: $0) } ?? "libarchive reported an error"
        return ArchiveError(
            kind: .library, function: function, errno: archive_errno(pointer), message: message, path: path)
    }
}

/// The object behind a libarchive callback's client data.
protocol CallbackContext: AnyObject {
    /// Stops passing bytes through: from now on every callback reports failure.
    func abandon()
}
