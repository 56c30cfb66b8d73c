import KaplanModel

/// Adds `NODE.mount[PATH]`, each after its filesystem exists and after its parent mount.
public struct MountSteps: GraphTransformer {
    /// Creates the transformer.
    public init() {}

    /// Adds the mount steps.
    public func apply(to graph: inout StepGraph, plan: Plan) {
        for node in plan.nodes {
            for p in plan.mountedPartitions {
                let mount = p.mount!
                var deps = [StepAddress(node.name, .format, p.id)]
                if let parent = plan.parentMount(of: mount) { deps.append(StepAddress(node.name, .mount, parent)) }
                graph.add(
                    Step(
                        address: StepAddress(node.name, .mount, mount), dependencies: deps.sorted(),
                        summary: "mount '\(p.id)' (\(p.filesystem.rawValue)) at \(mount)",
                        detail: .mount(partitionID: p.id, mountpoint: mount, filesystem: p.filesystem, options: p.mountOptions)))
            }
        }
    }
}
