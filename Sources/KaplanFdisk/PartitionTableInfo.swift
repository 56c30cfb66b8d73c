/// The partition table libblkid sees on a device: its type and its identifier.
public struct PartitionTableInfo: Hashable, Sendable {
    /// `dos`, `gpt`, or another table type libblkid knows.
    public let type: PartitionTableType
    /// PTUUID: the GPT disk GUID, or the dos disk identifier as eight hex digits.
    public let uuid: String?

    /// Creates a value.
    public init(type: PartitionTableType, uuid: String?) {
        self.type = type
        self.uuid = uuid
    }
}
