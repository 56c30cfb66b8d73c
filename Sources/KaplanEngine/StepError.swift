import KaplanGraph

/// Why a step failed: a code, the operator's message, the cause, and the step's address.
public struct StepError: Error, Sendable, Hashable, Codable, CustomStringConvertible {
    /// A stable code (`timeout`, `mkfs-failed`, `dependency-failed`, …).
    public var code: String
    /// What went wrong and what to do.
    public var message: String
    /// The underlying cause, in words.
    public var cause: String?
    /// The step that failed.
    public var step: StepAddress

    /// Creates a step error.
    public init(code: String, message: String, cause: String? = nil, step: StepAddress) {
        self.code = code
        self.message = message
        self.cause = cause
        self.step = step
    }

    /// `node03.format[root]: mkfs.xfs failed (exit 1): …`
    public var description: String { "\(step): \(message)" + (cause.map { ": \($0)" } ?? "") }
}
