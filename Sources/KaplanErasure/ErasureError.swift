/// An erasure-code failure: a stable code a program can switch on, a message for the operator, and its cause.
///
/// Codes: `bad-fec` (a code shape outside the GF(2^8) limits, or a fragment index outside the block),
/// `fec-short` (fewer than `dataCount` fragments of a block), `fec-singular` (ISA-L's `gf_invert_matrix`
/// refused a matrix that must be invertible: a bug). They are the codes the multicast transport used before the
/// erasure code moved out of KaplanNetwork, unchanged.
public struct ErasureError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Stable machine-readable code, such as `fec-short` or `bad-fec`.
    public var code: String
    /// What went wrong and what to do, for an operator.
    public var message: String
    /// The lower-level cause, naming the ISA-L function that failed, when there is one.
    public var cause: String?

    /// Creates an error from its code, message and optional cause.
    public init(_ code: String, _ message: String, cause: String? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    /// `code: message (cause)`.
    public var description: String {
        if let cause { return "\(code): \(message) (\(cause))" }
        return "\(code): \(message)"
    }
}
