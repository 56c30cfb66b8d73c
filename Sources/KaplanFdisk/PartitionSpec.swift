/// One partition to add, fully decided by the caller: libfdisk is not allowed to pick its place.
public struct PartitionSpec: Hashable, Sendable {
    /// 1-based partition number, or nil for the next free one (dos logical partitions always take the next number from 5).
    public var number: Int?
    /// First sector.
    public var start: UInt64
    /// Length in sectors.
    public var size: UInt64
    /// The MBR type byte (dos) or type GUID (gpt).
    public var type: PartitionType
    /// Primary, extended or logical (dos only; GPT partitions are primary).
    public var kind: PartitionKind
    /// The dos active flag; on a GPT, the legacy BIOS bootable attribute.
    public var bootable: Bool
    /// The GPT partition name (PARTLABEL); must be nil on dos.
    public var name: String?

    /// Creates a specification.
    public init(
        number: Int? = nil, start: UInt64, size: UInt64, type: PartitionType, kind: PartitionKind = .primary,
        bootable: Bool = false, name: String? = nil
    ) {
        self.number = number
        self.start = start
        self.size = size
        self.type = type
        self.kind = kind
        self.bootable = bootable
        self.name = name
    }

    /// Last sector (inclusive).
    public var end: UInt64 { start + size - 1 }
}
