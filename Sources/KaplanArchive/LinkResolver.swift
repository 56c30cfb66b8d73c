import CArchive

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Owns an `archive_entry_linkresolver`, which turns the second and later names of a file into hard-link entries.
final class LinkResolver {
    let pointer: OpaquePointer

    /// Creates a resolver using the hard-link strategy of `format` (an `ARCHIVE_FORMAT_*` code).
    init(format: Int32) throws(ArchiveError) {
        guard let made = archive_entry_linkresolver_new() else {
            throw ArchiveError(
                kind: .library, function: "archive_entry_linkresolver_new", errno: ENOMEM,
                message: "libarchive could not allocate a link resolver")
        }
        pointer = made
        archive_entry_linkresolver_set_strategy(made, format)
    }

    deinit {
        archive_entry_linkresolver_free(pointer)
    }
}
