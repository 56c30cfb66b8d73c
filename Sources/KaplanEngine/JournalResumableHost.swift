import KaplanModel

/// A host that can take over a partition table an earlier run wrote, so that a journal rerun may skip the
/// partition step: the later steps find the partitions' devices as if this run had written the table.
public protocol JournalResumableHost: Host {
    /// Makes the partitions of the table already on `target` usable by this run's steps, writing nothing;
    /// throws when the table is not there or its partitions cannot be attached.
    func attachExisting(node: String, target: Target, layout: Layout, partitions: [Partition]) async throws
}
