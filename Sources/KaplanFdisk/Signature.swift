/// One signature (magic string) libblkid recognises in a region, whether or not it is the one that counts.
public struct Signature: Hashable, Sendable {
    /// The filesystem or partition-table type the magic belongs to (`ext4`, `gpt`, `dos`, `PMBR`, …).
    public let type: String
    /// Whether it marks a partition table (`true`) or a filesystem/RAID/swap superblock (`false`).
    public let isPartitionTable: Bool
    /// Byte offset of the magic from the start of the probed region.
    public let offset: UInt64

    /// Creates a value.
    public init(type: String, isPartitionTable: Bool, offset: UInt64) {
        self.type = type
        self.isPartitionTable = isPartitionTable
        self.offset = offset
    }
}
