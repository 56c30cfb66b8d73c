/// An erasure-code failure: a stable code a program can switch on, a message for the operator, and its cause.
///
/// Codes: `bad-fec` (a code shape outside the limits, or a fragment index outside the block),
/// `fec-short` (fewer than `dataCount` fragments of a block), `fec-dependent` (a random-generator block's parity
/// fragments do not determine its lost data yet: ask for `moreFragments` more), `fec-singular` (ISA-L's `gf_invert_matrix`
/// refused a matrix that must be invertible: a bug). They are the codes the multicast transport used before the
/// erasure code moved out of KaplanNetwork, unchanged.
public struct ErasureError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Stable machine-readable code, such as `fec-short` or `bad-fec`.
    public var code: String
    /// What went wrong and what to do, for an operator.
    public var message: String
    /// The lower-level cause, naming the ISA-L function that failed, when there is one.
    public var cause: String?
    /// For `fec-short` and `fec-dependent`: how many more fragments of the block to ask for.
    public var moreFragments: Int?

    /// Creates an error from its code, message, optional cause and, for a block short of fragments, how many more it needs.
    public init(_ code: String, _ message: String, cause: String? = nil, moreFragments: Int? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
        self.moreFragments = moreFragments
    }

    /// `code: message (cause)`.
    public var description: String {
        if let cause { return "\(code): \(message) (\(cause))" }
        return "\(code): \(message)"
    }
}
