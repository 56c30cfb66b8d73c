import KaplanModel

/// One small, ordered pass that adds steps or edges to the graph.
public protocol GraphTransformer: Sendable {
    /// Adds this transformer's steps for `plan` to `graph`.
    func apply(to graph: inout StepGraph, plan: Plan)
}

extension Plan {
    /// The partitions that are mounted, parents before children (`/` before `/var` before `/var/log`).
    var mountedPartitions: [Partition] {
        partitions.filter { $0.mount != nil && $0.filesystem.holdsFiles }.sorted {
            let (a, b) = ($0.mount!, $1.mount!)
            let (da, db) = (a == "/" ? 0 : a.split(separator: "/").count, b == "/" ? 0 : b.split(separator: "/").count)
            return da != db ? da < db : a < b
        }
    }

    /// The nearest mounted ancestor of a mountpoint (`/var` for `/var/log`), if any.
    func parentMount(of mountpoint: String) -> String? {
        mountedPartitions.map { $0.mount! }.filter { candidate in
            candidate != mountpoint && (candidate == "/" || mountpoint.hasPrefix(candidate + "/"))
        }.max { $0.count < $1.count }
    }
}
