import KaplanModel

/// Adds `NODE.stream`: after every mount of the node and after the golden serves.
public struct StreamSteps: GraphTransformer {
    /// Creates the transformer.
    public init() {}

    /// Adds the stream steps.
    public func apply(to graph: inout StepGraph, plan: Plan) {
        let mounts = plan.mountedPartitions.map { $0.mount! }
        for node in plan.nodes {
            var deps = mounts.map { StepAddress(node.name, .mount, $0) }
            deps.append(StepAddress("golden", .serve))
            // Swap has no mount; it must exist before the fix-ups read its UUID, so the stream waits for it too.
            for p in plan.partitions where p.filesystem == .swap { deps.append(StepAddress(node.name, .format, p.id)) }
            graph.add(
                Step(
                    address: StepAddress(node.name, .stream), dependencies: deps.sorted(),
                    summary: "receive the golden's files into \(mounts.joined(separator: " ")) and verify every digest",
                    detail: .stream(mounts: mounts, excluded: plan.exclude.paths)))
        }
    }
}
