import KaplanModel

/// Adds `golden.snapshot` and `golden.serve`.
public struct GoldenSteps: GraphTransformer {
    /// Creates the transformer.
    public init() {}

    /// Adds the golden's steps.
    public func apply(to graph: inout StepGraph, plan: Plan) {
        let snapshot = StepAddress("golden", .snapshot)
        let summary: String =
            switch plan.golden.source {
            case .disk(let device, let root): "read the live tree at \(root) (golden disk \(device), never written)"
            case .image(let path): "attach \(path) read-only and mount its filesystems read-only"
            }
        graph.add(Step(address: snapshot, summary: summary, detail: .snapshot(plan.golden.source)))
        let mounts = plan.mountedPartitions.map { $0.mount! }
        let excluded = plan.exclude.paths.isEmpty ? "" : ", excluding \(plan.exclude.paths.joined(separator: " "))"
        graph.add(
            Step(
                address: StepAddress("golden", .serve), dependencies: [snapshot],
                summary: "stream \(mounts.joined(separator: " ")) as pax+\(plan.transport.compression.rawValue) over \(plan.transport.kind.rawValue)\(excluded)",
                detail: .serve(mounts: mounts, excluded: plan.exclude.paths)))
    }
}
