/// One partition as the table on disk (or in memory) holds it.
public struct PartitionInfo: Hashable, Sendable {
    /// 1-based partition number (dos logical partitions start at 5).
    public let number: Int
    /// First sector.
    public let start: UInt64
    /// Length in sectors.
    public let size: UInt64
    /// The MBR type byte or the upper-case GPT type GUID.
    public let type: PartitionType
    /// libfdisk's human name for the type ("Linux", "EFI System"), when it knows it.
    public let typeName: String?
    /// The GPT partition name (PARTLABEL); nil on dos and for an unnamed GPT partition.
    public let name: String?
    /// The dos active flag, or the GPT legacy BIOS bootable attribute.
    public let bootable: Bool
    /// Primary, extended or logical.
    public let kind: PartitionKind
    /// The GPT partition UUID (PARTUUID), upper-case; nil on dos, where libfdisk has none.
    public let uuid: String?
    /// libfdisk's rendering of the attributes (GPT attribute names, the dos boot byte), when there are any.
    public let attributes: String?

    /// Creates a value.
    public init(
        number: Int, start: UInt64, size: UInt64, type: PartitionType, typeName: String? = nil, name: String? = nil,
        bootable: Bool = false, kind: PartitionKind = .primary, uuid: String? = nil, attributes: String? = nil
    ) {
        self.number = number
        self.start = start
        self.size = size
        self.type = type
        self.typeName = typeName
        self.name = name
        self.bootable = bootable
        self.kind = kind
        self.uuid = uuid
        self.attributes = attributes
    }

    /// Last sector (inclusive).
    public var end: UInt64 { size == 0 ? start : start + size - 1 }
    /// True for the dos extended container.
    public var isExtended: Bool { kind == .extended }
    /// True for a dos logical partition.
    public var isLogical: Bool { kind == .logical }
}
