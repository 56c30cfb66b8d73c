/// A checked deployment plan: what the golden is, what every node's disk becomes, and how data gets there.
public struct Plan: Sendable, Hashable, Codable {
    /// The plan format version (always 1 for now).
    public var version: Int
    /// The deployment's name (also the session name on the wire).
    public var name: String
    /// Free text for operators.
    public var description: String?
    /// Where the golden files come from.
    public var golden: Golden
    /// The partition table written on every node.
    public var table: PartitionTable
    /// The partitions, in table order.
    public var partitions: [Partition]
    /// Disks and paths that are never touched or copied.
    public var exclude: Exclusions
    /// The nodes to deploy, expanded (ranges resolved), in plan order.
    public var nodes: [Node]
    /// How the stream travels.
    public var transport: Transport
    /// The bootloader and initrd to install in every clone.
    public var bootloader: Bootloader
    /// What is adjusted in every clone after the copy.
    public var fixups: Fixups
    /// Session authentication.
    public var security: Security
    /// Retries, timeouts and what counts as success.
    public var policy: Policy
    /// The file the plan was read from, as named.
    public var sourceFile: String

    /// Creates a plan.
    public init(
        version: Int, name: String, description: String?, golden: Golden, table: PartitionTable,
        partitions: [Partition], exclude: Exclusions, nodes: [Node], transport: Transport,
        bootloader: Bootloader, fixups: Fixups, security: Security, policy: Policy, sourceFile: String
    ) {
        self.version = version
        self.name = name
        self.description = description
        self.golden = golden
        self.table = table
        self.partitions = partitions
        self.exclude = exclude
        self.nodes = nodes
        self.transport = transport
        self.bootloader = bootloader
        self.fixups = fixups
        self.security = security
        self.policy = policy
        self.sourceFile = sourceFile
    }
}

/// Where the golden's files are read from.
public struct Golden: Sendable, Hashable, Codable {
    /// The source of the golden's files.
    public enum Source: Sendable, Hashable, Codable {
        /// A live node: its disk (for safety checks) and the directory its tree is mounted at (`/`).
        case disk(device: String, root: String)
        /// A disk image file, mounted read-only by kaplan.
        case image(path: String)
    }

    /// The source.
    public var source: Source
    /// Where the source was declared.
    public var range: SourceRange

    /// Creates a golden description.
    public init(source: Source, range: SourceRange) {
        self.source = source
        self.range = range
    }
}

/// The partition table type.
public enum PartitionTable: String, Sendable, Hashable, Codable, CaseIterable {
    /// MBR (msdos): up to 4 primaries, one of them extended with logicals.
    case dos
    /// GUID partition table.
    case gpt
}

/// Disks and paths kaplan must never touch or copy.
public struct Exclusions: Sendable, Hashable, Codable {
    /// Disk names (`sdb`) or paths (`/dev/sdb`) never written, on the golden or any node.
    public var disks: [String]
    /// Absolute paths not copied; each is recreated empty with the golden's mode and owner.
    public var paths: [String]

    /// Creates exclusions.
    public init(disks: [String] = [], paths: [String] = []) {
        self.disks = disks
        self.paths = paths
    }
}
