#if canImport(Glibc)
import Glibc
#endif

/// A network failure: a stable code a program can switch on, a message for the operator, and its cause.
///
/// Codes used by the wire layer: `connect-failed`, `listen-failed`, `accept-failed`, `timeout`, `closed`,
/// `io`, `auth-failed`, `server-not-authenticated`, `bad-handshake`, `version-mismatch`, `wrong-session`,
/// `bad-name`, `frame-too-large`, `frame-forged`, `bad-frame`, `chunk-forged`, `bad-chunk`, `wrong-stream`,
/// `key-file`; multicast: `bad-group`, `no-interface`, `bad-fec`, `no-segmentation` (internal: the device cannot
/// segment UDP batches; the socket falls back to one datagram per call). The erasure code itself throws
/// `ErasureError` (KaplanErasure).
public struct NetworkError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Stable machine-readable code, such as `timeout` or `frame-forged`.
    public var code: String
    /// What went wrong, where, and what to do, for an operator.
    public var message: String
    /// The lower-level cause (an errno text, a library error), when there is one.
    public var cause: String?

    /// Creates an error from its code, message and optional cause.
    public init(_ code: String, _ message: String, cause: String? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    /// `message (cause)`, prefixed by the code.
    public var description: String {
        if let cause { return "\(code): \(message) (\(cause))" }
        return "\(code): \(message)"
    }
}

extension NetworkError {
    /// The C library's words for an errno value, with its number.
    static func errnoText(_ value: Int32) -> String {
        guard let text = strerror(value) else { return "errno \(value)" }
        return "\(String(cString: text)) (errno \(value))"
    }
}
