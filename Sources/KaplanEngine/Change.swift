import KaplanGraph
import KaplanModel

/// One thing `apply` would do to a node's disk, as `diff` shows it.
public struct Change: Sendable, Hashable, Codable {
    /// What happens to the subject.
    public enum Action: String, Sendable, Hashable, Codable {
        /// Made where nothing was.
        case create
        /// Made anew over something that exists.
        case replace
        /// Left as it is.
        case keep
        /// Removed.
        case delete
        /// A step that runs (stream, fix-ups, bootloader).
        case run
    }

    /// What is changed: `table`, `partition root`, `filesystem root`, `stream`, `fixup[fstab]`, …
    public var subject: String
    /// What happens to it.
    public var action: Action
    /// The specifics, in words (sizes, types, UUIDs).
    public var detail: String
    /// True when existing data is lost.
    public var destroysData: Bool
    /// The step that carries the change out, if one does.
    public var step: StepAddress?

    /// Creates a change.
    public init(_ subject: String, _ action: Action, _ detail: String, destroysData: Bool = false, step: StepAddress? = nil) {
        self.subject = subject
        self.action = action
        self.detail = detail
        self.destroysData = destroysData
        self.step = step
    }
}

/// What `apply` would do to one node, computed entirely before anything is written.
public struct NodeChanges: Sendable, Hashable, Codable {
    /// The node's name.
    public var node: String
    /// Its target.
    public var target: Target
    /// What the probe saw.
    public var observed: DeviceState
    /// The table to write, resolved against the observed disk size (nil when it does not fit).
    public var layout: Layout?
    /// The changes, in the order apply makes them.
    public var changes: [Change]
    /// Why the node cannot be deployed (the layout does not fit, …), if it cannot.
    public var problem: String?

    /// Creates a node's changes.
    public init(node: String, target: Target, observed: DeviceState, layout: Layout?, changes: [Change], problem: String?) {
        self.node = node
        self.target = target
        self.observed = observed
        self.layout = layout
        self.changes = changes
        self.problem = problem
    }

    /// True when apply would change anything on this node.
    public var hasChanges: Bool { changes.contains { $0.action != .keep } }
    /// True when apply would destroy existing data on this node.
    public var destroysData: Bool { changes.contains(where: \.destroysData) }
}
