import KaplanModel

/// Adds `NODE.record` (the deployment stamp, after everything that writes into the clone), then
/// `NODE.unmount[PATH]`, children before parents, then `NODE.verify` after the last unmount.
public struct UnmountSteps: GraphTransformer {
    /// Creates the transformer.
    public init() {}

    /// Adds the unmount and verify steps.
    public func apply(to graph: inout StepGraph, plan: Plan) {
        let mounts = plan.mountedPartitions.map { $0.mount! }
        for node in plan.nodes {
            let writers = graph.steps(of: node.name).filter {
                [.stream, .fixup, .initrd, .bootloader].contains($0.address.kind)
            }.map(\.address)
            // Only the writers nothing else depends on are needed as direct dependencies.
            let dependedOn = Set(graph.steps(of: node.name).flatMap(\.dependencies))
            let record = StepAddress(node.name, .record)
            graph.add(
                Step(
                    address: record, dependencies: writers.filter { !dependedOn.contains($0) }.sorted(),
                    summary: "write /var/lib/kaplan/stamp.json (plan and stream digests, new UUIDs)", detail: .record))
            let lastWriters = [record]
            for mount in mounts {
                let children = mounts.filter { plan.parentMount(of: $0) == mount }.map { StepAddress(node.name, .unmount, $0) }
                graph.add(
                    Step(
                        address: StepAddress(node.name, .unmount, mount), dependencies: (lastWriters + children).sorted(),
                        summary: "unmount \(mount)", detail: .unmount(mountpoint: mount)))
            }
            let roots = mounts.filter { plan.parentMount(of: $0) == nil }.map { StepAddress(node.name, .unmount, $0) }
            graph.add(
                Step(
                    address: StepAddress(node.name, .verify), dependencies: (roots.isEmpty ? lastWriters : roots).sorted(),
                    summary: "re-read \(node.target.path): table, filesystems and UUIDs as planned",
                    detail: .verify(target: node.target)))
        }
    }
}
