/// Why archiving or extracting a tree failed: which C function, its errno and message, and the path at hand.
public struct ArchiveError: Error, CustomStringConvertible {
    /// The kind of failure, for callers that react differently to each.
    public enum Kind: String, Sendable, Equatable, Codable {
        /// libarchive reported an error (see `function`, `errno`, `message`).
        case library
        /// A libc call outside libarchive failed (see `function` and `errno`).
        case system
        /// An archive entry would land outside the destination (absolute path, `..`, or through a symlink).
        case unsafePath
        /// The stream ended before the archive's trailer: bytes were lost.
        case truncated
        /// The stream decoded, but its contents differ from what the archiver sent.
        case integrity
        /// The caller's sink threw while taking archive bytes (see `cause`).
        case sinkFailed
        /// The caller's source threw while handing in archive bytes (see `cause`).
        case sourceFailed
        /// The tree holds a file whose name the stream format reserves.
        case reservedName
        /// An argument was unusable (a missing root, a bad compression level, …).
        case invalidArgument
        /// The extraction was cancelled before the stream ended.
        case cancelled
    }

    /// The kind of failure.
    public let kind: Kind
    /// The C function (or, for checks of our own, the step) that failed.
    public let function: String
    /// The errno reported with the failure (`archive_errno`), or 0 when there is none.
    public let errno: Int32
    /// What went wrong, in words for an operator (`archive_error_string` for library errors).
    public let message: String
    /// The path being processed, relative to the tree root when one is known.
    public let path: String?
    /// The caller's error that caused this one (a sink or source failure).
    public let cause: (any Error)?

    /// Creates an error.
    public init(
        kind: Kind, function: String, errno: Int32 = 0, message: String, path: String? = nil,
        cause: (any Error)? = nil
    ) {
        self.kind = kind
        self.function = function
        self.errno = errno
        self.message = message
        self.path = path
        self.cause = cause
    }

    /// One line for the operator: the function, the path, the message and the errno.
    public var description: String {
        var text = "\(function)"
        if let path { text += " [\(path)]" }
        text += ": \(message)"
        if errno != 0 { text += " (errno \(errno))" }
        if let cause { text += "; caused by: \(cause)" }
        return text
    }
}
