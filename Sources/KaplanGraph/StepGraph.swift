import KaplanModel

/// The deployment as a DAG of steps with stable addresses: the golden's steps and every node's.
public struct StepGraph: Sendable, Hashable {
    /// Every step, by address.
    public private(set) var steps: [StepAddress: Step] = [:]
    /// The owners in plan order: `golden` first, then the nodes.
    public private(set) var owners: [String] = []

    /// An empty graph.
    public init() {}

    /// Adds a step (replacing one at the same address).
    public mutating func add(_ step: Step) {
        if !owners.contains(step.address.owner) { owners.append(step.address.owner) }
        steps[step.address] = step
    }

    /// Adds a dependency edge `from` → `to` (`to` runs after `from`).
    public mutating func addDependency(_ to: StepAddress, after from: StepAddress) {
        guard var step = steps[to], !step.dependencies.contains(from) else { return }
        step.dependencies.append(from)
        step.dependencies.sort()
        steps[to] = step
    }

    /// The steps of one owner.
    public func steps(of owner: String) -> [Step] { steps.values.filter { $0.address.owner == owner } }

    /// A deterministic topological order: owners in plan order, then dependency depth, then address.
    /// Steps whose dependencies are missing from the graph or form a cycle are reported, not dropped.
    public func ordered() throws(GraphError) -> [Step] {
        var depth: [StepAddress: Int] = [:]
        var visiting = Set<StepAddress>()
        func visit(_ a: StepAddress) throws(GraphError) -> Int {
            if let d = depth[a] { return d }
            guard let step = steps[a] else { throw GraphError.missingDependency(a) }
            guard visiting.insert(a).inserted else { throw GraphError.cycle(a) }
            var d = 0
            for dep in step.dependencies {
                guard steps[dep] != nil else { throw GraphError.missingDependency(dep) }
                d = max(d, try visit(dep) + 1)
            }
            visiting.remove(a)
            depth[a] = d
            return d
        }
        for a in steps.keys.sorted() { _ = try visit(a) }
        let ownerIndex = Dictionary(uniqueKeysWithValues: owners.enumerated().map { ($1, $0) })
        return steps.values.sorted { x, y in
            let ox = ownerIndex[x.address.owner] ?? Int.max
            let oy = ownerIndex[y.address.owner] ?? Int.max
            if ox != oy { return ox < oy }
            let dx = x.address.owner == y.address.owner ? depth[x.address]! : 0
            let dy = x.address.owner == y.address.owner ? depth[y.address]! : 0
            if dx != dy { return dx < dy }
            return x.address < y.address
        }
    }

    /// The subgraph of the golden and one node (for `kaplan graph --node`).
    public func restricted(to owner: String) -> StepGraph {
        var g = StepGraph()
        for o in owners where o == "golden" || o == owner {
            for step in steps(of: o).sorted(by: { $0.address < $1.address }) { g.add(step) }
        }
        return g
    }
}

/// Why a graph cannot be ordered.
public enum GraphError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A step depends on an address that is not in the graph.
    case missingDependency(StepAddress)
    /// A dependency cycle passes through this step.
    case cycle(StepAddress)

    /// What is wrong.
    public var description: String {
        switch self {
        case .missingDependency(let a): "step \(a) is depended on but not in the graph"
        case .cycle(let a): "a dependency cycle passes through \(a)"
        }
    }
}
