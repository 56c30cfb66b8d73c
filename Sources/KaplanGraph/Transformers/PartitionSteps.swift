import KaplanModel

/// Adds `NODE.partition[DISK]`: the whole table, written once.
public struct PartitionSteps: GraphTransformer {
    /// Creates the transformer.
    public init() {}

    /// Adds one partition step per node.
    public func apply(to graph: inout StepGraph, plan: Plan) {
        for node in plan.nodes {
            let list = plan.partitions.map { "\($0.id) \($0.size)" }.joined(separator: ", ")
            graph.add(
                Step(
                    address: StepAddress(node.name, .partition, node.target.name),
                    summary: "write a \(plan.table.rawValue) table on \(node.target): \(list)",
                    detail: .partition(target: node.target, table: plan.table, partitions: plan.partitions)))
        }
    }
}
