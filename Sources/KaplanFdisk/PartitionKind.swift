/// Where a partition lives in its table: a primary entry, the dos extended container, or a logical partition inside it.
public enum PartitionKind: Hashable, Sendable {
    /// A primary partition (every GPT partition is primary).
    case primary
    /// The dos extended partition that holds the logical partitions.
    case extended
    /// A dos logical partition inside the extended one (numbered from 5, each preceded by its EBR).
    case logical
}
