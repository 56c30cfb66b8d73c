/// What libblkid found at the start of a region: the filesystem (or swap) signature and its identity.
public struct FilesystemInfo: Hashable, Sendable {
    /// libblkid's type name: `ext4`, `xfs`, `vfat`, `swap`, `btrfs`, …
    public let type: String
    /// The filesystem UUID, as libblkid prints it (`ABCD-1234` for vfat).
    public let uuid: String?
    /// The filesystem label (LABEL).
    public let label: String?
    /// libblkid's usage class: `filesystem`, `other` (swap), `raid`, `crypto`.
    public let usage: String?

    /// Creates a value.
    public init(type: String, uuid: String? = nil, label: String? = nil, usage: String? = nil) {
        self.type = type
        self.uuid = uuid
        self.label = label
        self.usage = usage
    }
}
