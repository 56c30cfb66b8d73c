/// What a read-only probe saw on a target disk: its size, its table, each partition and the filesystem in it.
public struct DeviceState: Sendable, Hashable, Codable {
    /// One partition as found.
    public struct ObservedPartition: Sendable, Hashable, Codable {
        /// Its number in the table.
        public var number: Int
        /// First sector.
        public var start: UInt64
        /// Length in sectors.
        public var sectors: UInt64
        /// Its type: an MBR byte as `0x83`, or a GPT GUID in upper case.
        public var type: String
        /// The filesystem found inside, if any.
        public var filesystem: ObservedFilesystem?

        /// Creates an observed partition.
        public init(number: Int, start: UInt64, sectors: UInt64, type: String, filesystem: ObservedFilesystem? = nil) {
            self.number = number
            self.start = start
            self.sectors = sectors
            self.type = type
            self.filesystem = filesystem
        }
    }

    /// A filesystem signature as found.
    public struct ObservedFilesystem: Sendable, Hashable, Codable {
        /// Its type as blkid names it (`ext4`, `xfs`, `vfat`, `swap`, …).
        public var type: String
        /// Its UUID, if it has one.
        public var uuid: String?
        /// Its label, if it has one.
        public var label: String?

        /// Creates an observed filesystem.
        public init(type: String, uuid: String? = nil, label: String? = nil) {
            self.type = type
            self.uuid = uuid
            self.label = label
        }
    }

    /// The disk's size in bytes.
    public var sizeBytes: UInt64
    /// The table type found, or nil for a blank disk (or one whose table kaplan cannot read).
    public var table: PartitionTable?
    /// The partitions found, by number.
    public var partitions: [ObservedPartition]
    /// A signature on the whole disk (a filesystem without a table), if any.
    public var wholeDiskFilesystem: ObservedFilesystem?
    /// The record kaplan left after a successful deployment, if any.
    public var stamp: DeploymentStamp?

    /// Creates an observed state.
    public init(
        sizeBytes: UInt64, table: PartitionTable? = nil, partitions: [ObservedPartition] = [],
        wholeDiskFilesystem: ObservedFilesystem? = nil, stamp: DeploymentStamp? = nil
    ) {
        self.sizeBytes = sizeBytes
        self.table = table
        self.partitions = partitions
        self.wholeDiskFilesystem = wholeDiskFilesystem
        self.stamp = stamp
    }

    /// A blank disk of `sizeBytes`.
    public static func blank(_ sizeBytes: UInt64) -> DeviceState { DeviceState(sizeBytes: sizeBytes) }
}

/// What kaplan records in a clone after a successful deployment (`/var/lib/kaplan/stamp.json` in its root
/// filesystem): enough for `diff` to say "No changes." when the node already matches.
public struct DeploymentStamp: Sendable, Hashable, Codable {
    /// The plan's deployment name.
    public var planName: String
    /// A digest of everything in the plan that shapes this node's disk and files.
    public var planDigest: String
    /// The digest of the stream's manifest (every file's path, metadata and SHA-256).
    public var streamDigest: String
    /// The golden's identity when it was streamed (image path, size and mtime, or the live disk).
    public var goldenIdentity: String
    /// The node the clone was made for.
    public var node: String
    /// The filesystem UUIDs made, by partition id.
    public var uuids: [String: String]

    /// Creates a stamp.
    public init(
        planName: String, planDigest: String, streamDigest: String, goldenIdentity: String, node: String,
        uuids: [String: String]
    ) {
        self.planName = planName
        self.planDigest = planDigest
        self.streamDigest = streamDigest
        self.goldenIdentity = goldenIdentity
        self.node = node
        self.uuids = uuids
    }
}
