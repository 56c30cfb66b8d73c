import CArchive

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Owns one `struct archive_entry *` that Swift allocated (entries handed out by a reader belong to the reader).
final class EntryHandle {
    let pointer: OpaquePointer

    /// Allocates an empty entry.
    init() throws(ArchiveError) {
        guard let made = archive_entry_new() else {
            throw ArchiveError(
                kind: .library, function: "archive_entry_new", errno: ENOMEM,
                message: "libarchive could not allocate an entry")
        }
        pointer = made
    }

    deinit {
        archive_entry_free(pointer)
    }
}
