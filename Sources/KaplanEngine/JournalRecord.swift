import KaplanGraph

/// What a node's apply journal holds after each completed step: enough for a rerun of the same plan on the same
/// target to skip what an earlier run finished (see ``JournalResume``).
public struct JournalRecord: Sendable, Hashable, Codable {
    /// The record format this build writes and accepts.
    public static let currentFormat = 1

    /// The record's format version (a record of another version is ignored).
    public var format: Int
    /// ``PlanDigest/of(_:node:)`` of the plan the steps were run for.
    public var planDigest: String
    /// The node.
    public var node: String
    /// The target's device or image path.
    public var target: String
    /// The node's facts after the last completed step (new UUIDs, stream digest, layout, golden identity).
    public var facts: CloneFacts
    /// The node's completed steps, in completion order.
    public var completed: [StepAddress]
    /// When the store wrote the record, in the store's clock (`2026-11-23 14:02:11`); the store stamps it.
    public var written: String

    /// Creates a record.
    public init(
        format: Int = JournalRecord.currentFormat, planDigest: String, node: String, target: String, facts: CloneFacts,
        completed: [StepAddress], written: String = ""
    ) {
        self.format = format
        self.planDigest = planDigest
        self.node = node
        self.target = target
        self.facts = facts
        self.completed = completed
        self.written = written
    }
}
