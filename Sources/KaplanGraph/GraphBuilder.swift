import KaplanModel

/// Compiles a checked plan into its step graph by running the transformers in order.
public struct GraphBuilder: Sendable {
    /// The passes, in order; each adds steps that only depend on steps added before it.
    public var transformers: [any GraphTransformer] = [
        GoldenSteps(), PartitionSteps(), FormatSteps(), MountSteps(), StreamSteps(), FixupSteps(), BootSteps(),
        UnmountSteps(),
    ]

    /// Creates a builder with the standard passes.
    public init() {}

    /// The graph of `plan`.
    public func build(_ plan: Plan) -> StepGraph {
        var graph = StepGraph()
        for t in transformers { t.apply(to: &graph, plan: plan) }
        return graph
    }
}
