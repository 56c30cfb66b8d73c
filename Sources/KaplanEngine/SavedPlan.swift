import KaplanModel
import KaplanDigest

/// The output of `kaplan diff -o FILE`: exactly what apply will do, tied to the plan file and to what each
/// target held when it was probed. `apply FILE` refuses it when either changed since.
public struct SavedPlan: Sendable, Codable, Hashable {
    /// The saved-plan format version.
    public var format = 1
    /// The plan file as named.
    public var planFile: String
    /// SHA-256 of the plan file's bytes.
    public var planFileDigest: String
    /// The golden's identity when probed.
    public var goldenIdentity: String
    /// Per node: its changes and a digest of what the probe saw.
    public var nodes: [SavedNode]

    /// One node of a saved plan.
    public struct SavedNode: Sendable, Codable, Hashable {
        /// The node's name.
        public var node: String
        /// Its target.
        public var target: Target
        /// Digest of the observed state (``PlanDigest/of(_:)-(DeviceState)``).
        public var observedDigest: String
        /// The changes apply will make.
        public var changes: NodeChanges
    }

    /// Creates a saved plan from a diff.
    public init(planFile: String, planFileBytes: [UInt8], goldenIdentity: String, changes: [NodeChanges]) {
        var h = SHA256()
        h.update(planFileBytes)
        self.planFile = planFile
        self.planFileDigest = h.hex()
        self.goldenIdentity = goldenIdentity
        self.nodes = changes.map {
            SavedNode(node: $0.node, target: $0.target, observedDigest: PlanDigest.of($0.observed), changes: $0)
        }
    }

    /// Why the saved plan no longer applies (empty when it still does): the plan file changed, a target
    /// changed, the golden changed, or the nodes differ.
    public func staleness(planFileBytes: [UInt8], goldenIdentity: String, observed: [String: DeviceState]) -> [String] {
        var reasons: [String] = []
        var h = SHA256()
        h.update(planFileBytes)
        if h.hex() != planFileDigest { reasons.append("\(planFile) changed since the plan was saved") }
        if goldenIdentity != self.goldenIdentity { reasons.append("the golden changed since the plan was saved") }
        for node in nodes {
            guard let state = observed[node.node] else {
                reasons.append("\(node.node) was not probed again")
                continue
            }
            if PlanDigest.of(state) != node.observedDigest {
                reasons.append("\(node.node): \(node.target.path) changed since the plan was saved")
            }
        }
        let extra = Set(observed.keys).subtracting(nodes.map(\.node))
        for name in extra.sorted() { reasons.append("\(name) is not in the saved plan") }
        return reasons
    }
}
