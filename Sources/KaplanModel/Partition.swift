/// One partition of the target layout, and the filesystem and mountpoint it carries.
public struct Partition: Sendable, Hashable, Codable {
    /// The partition's id, unique in the plan (`root`, `swap`, `home`); step addresses use it.
    public var id: String
    /// The partition type.
    public var type: PartitionType
    /// The partition's size.
    public var size: SizeSpec
    /// The filesystem made on it.
    public var filesystem: Filesystem
    /// The absolute mountpoint in the clone, if it is mounted.
    public var mount: String?
    /// True for a logical partition inside the extended one (dos only).
    public var logical: Bool
    /// The dos bootable flag.
    public var bootable: Bool
    /// The GPT partition name.
    public var name: String?
    /// The filesystem label.
    public var label: String?
    /// Extra mkfs arguments, one argv element each.
    public var mkfsOptions: [String]
    /// Mount options written to fstab (`defaults` when empty).
    public var mountOptions: [String]
    /// Where the partition was declared.
    public var range: SourceRange

    /// Creates a partition.
    public init(
        id: String, type: PartitionType, size: SizeSpec, filesystem: Filesystem, mount: String? = nil,
        logical: Bool = false, bootable: Bool = false, name: String? = nil, label: String? = nil,
        mkfsOptions: [String] = [], mountOptions: [String] = [], range: SourceRange
    ) {
        self.id = id
        self.type = type
        self.size = size
        self.filesystem = filesystem
        self.mount = mount
        self.logical = logical
        self.bootable = bootable
        self.name = name
        self.label = label
        self.mkfsOptions = mkfsOptions
        self.mountOptions = mountOptions
        self.range = range
    }
}

/// A partition type: a named kind, or a raw MBR id / GPT type GUID.
public enum PartitionType: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Linux filesystem data (MBR 0x83).
    case linux
    /// Linux swap (MBR 0x82).
    case swap
    /// The dos extended container (MBR 0x05).
    case extended
    /// EFI system partition (MBR 0xef).
    case efi
    /// GRUB's BIOS boot partition on GPT (no filesystem).
    case biosBoot
    /// Linux LVM physical volume (MBR 0x8e).
    case lvm
    /// Linux software RAID member (MBR 0xfd).
    case raid
    /// A raw MBR type byte.
    case mbr(UInt8)
    /// A raw GPT type GUID, upper case.
    case gpt(String)

    /// The spellings accepted for the named kinds.
    public static let names: [String: PartitionType] = [
        "linux": .linux, "swap": .swap, "extended": .extended, "efi": .efi, "bios-boot": .biosBoot,
        "lvm": .lvm, "raid": .raid,
    ]

    /// The MBR type byte, or nil when the type has none (bios-boot, a GPT GUID).
    public var mbrCode: UInt8? {
        switch self {
        case .linux: 0x83
        case .swap: 0x82
        case .extended: 0x05
        case .efi: 0xEF
        case .biosBoot: nil
        case .lvm: 0x8E
        case .raid: 0xFD
        case .mbr(let code): code
        case .gpt: nil
        }
    }

    /// The GPT type GUID, or nil when the type has none on GPT (extended, a raw MBR byte without an equivalent).
    public var gptGUID: String? {
        switch self {
        case .linux: "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
        case .swap: "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F"
        case .extended: nil
        case .efi: "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
        case .biosBoot: "21686148-6449-6E6F-744E-656564454649"
        case .lvm: "E6D6D379-F507-44C2-A23C-238F2A3DF928"
        case .raid: "A19D880F-05FC-4D3B-A006-743F0F84911E"
        case .mbr: nil
        case .gpt(let guid): guid
        }
    }

    /// The plan spelling.
    public var description: String {
        switch self {
        case .linux: "linux"
        case .swap: "swap"
        case .extended: "extended"
        case .efi: "efi"
        case .biosBoot: "bios-boot"
        case .lvm: "lvm"
        case .raid: "raid"
        case .mbr(let code):
            "0x" + (code < 16 ? "0" : "") + String(code, radix: 16)
        case .gpt(let guid): guid
        }
    }
}

/// A filesystem kaplan can make.
public enum Filesystem: String, Sendable, Hashable, Codable, CaseIterable {
    case ext2, ext3, ext4, xfs, btrfs, vfat, jfs, swap, none

    /// The longest label mkfs accepts for this filesystem, in bytes (nil: no label).
    public var maxLabelBytes: Int? {
        switch self {
        case .ext2, .ext3, .ext4: 16
        case .xfs: 12
        case .btrfs: 255
        case .vfat: 11
        case .jfs: 16
        case .swap: 15
        case .none: nil
        }
    }

    /// The smallest partition its mkfs accepts, in bytes (nil: no filesystem).
    public var minimumBytes: UInt64? {
        switch self {
        case .xfs: 300 << 20
        case .btrfs: 114 << 20
        case .jfs: 16 << 20
        case .ext2, .ext3, .ext4, .vfat, .swap: 1 << 20
        case .none: nil
        }
    }

    /// True when the filesystem can be mounted and receive files.
    public var holdsFiles: Bool { self != .swap && self != .none }
}
