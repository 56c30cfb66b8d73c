import KaplanModel

/// Adds `NODE.format[ID]` for every partition that gets a filesystem or swap, after the table.
public struct FormatSteps: GraphTransformer {
    /// Creates the transformer.
    public init() {}

    /// Adds the format steps.
    public func apply(to graph: inout StepGraph, plan: Plan) {
        for node in plan.nodes {
            let table = StepAddress(node.name, .partition, node.target.name)
            for p in plan.partitions where p.filesystem != .none {
                let tool = p.filesystem == .swap ? "mkswap" : "mkfs.\(p.filesystem.rawValue)"
                let label = p.label.map { " label \($0)" } ?? ""
                let options = p.mkfsOptions.isEmpty ? "" : " " + p.mkfsOptions.joined(separator: " ")
                graph.add(
                    Step(
                        address: StepAddress(node.name, .format, p.id), dependencies: [table],
                        summary: "\(tool)\(options) on partition '\(p.id)'\(label)", detail: .format(partition: p)))
            }
        }
    }
}
