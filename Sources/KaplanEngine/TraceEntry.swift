import KaplanGraph

/// One operation a host carried out, in the vocabulary both hosts log: the step address it serves
/// (`node03.format[root]`) and what was done (`mkfs.ext4 on lab/node3.img #1`).
public struct TraceEntry: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The step address the operation serves, or a host-level name (`node03.cleanup`, `golden.open`).
    public var address: String
    /// What was done, in words.
    public var detail: String

    /// Creates an entry.
    public init(_ address: String, _ detail: String) {
        self.address = address
        self.detail = detail
    }

    /// `address: detail`.
    public var description: String { "\(address): \(detail)" }

    /// The trace address of a fix-up step.
    public static func fixup(_ node: String, _ fixup: Step.Fixup) -> String { StepAddress(node, .fixup, fixup.name).description }
}
