import KaplanGraph
import KaplanModel

/// Every side effect a deployment has, behind one protocol: the Linux host does them for real, the simulated
/// host in memory. Steps never ask which one they have.
public protocol Host: Sendable {
    /// Reads a node's target without writing anything.
    func probe(node: String, target: Target) async throws -> DeviceState
    /// Makes the golden's tree readable; returns a handle the stream step reads from.
    func openGolden(_ source: Golden.Source, mounts: [String]) async throws -> GoldenHandle
    /// Releases what `openGolden` set up (unmounts, detaches). Always called.
    func closeGolden(_ golden: GoldenHandle) async
    /// Writes the partition table (old signatures wiped); the layout was computed before.
    func writeTable(node: String, target: Target, layout: Layout, partitions: [Partition]) async throws
    /// Makes a filesystem (or swap) on a partition; returns its new UUID.
    func makeFilesystem(node: String, target: Target, entry: Layout.Entry, partition: Partition) async throws -> String
    /// Mounts a partition at its mountpoint below the node's private root.
    func mount(node: String, target: Target, entry: Layout.Entry, partition: Partition) async throws
    /// Copies the golden's files into the node's mounted tree, verifying every digest; returns the stream's digest.
    func receiveStream(node: String, golden: GoldenHandle, mounts: [String], excluded: [String], progress: @escaping @Sendable (UInt64) -> Void) async throws -> String
    /// Applies one fix-up inside the clone.
    func fixup(node: String, fixup: Step.Fixup, facts: CloneFacts) async throws
    /// Rebuilds the initrd inside the clone.
    func rebuildInitrd(node: String, tool: Bootloader.InitrdTool, modules: [String], facts: CloneFacts) async throws
    /// Installs the bootloader from inside the clone.
    func installBootloader(node: String, bootloader: Bootloader, target: Target, facts: CloneFacts) async throws
    /// Writes the deployment stamp into the clone's root filesystem.
    func writeStamp(node: String, stamp: DeploymentStamp) async throws
    /// Unmounts one mountpoint of the node.
    func unmount(node: String, mountpoint: String) async throws
    /// Re-reads the target and compares it with what was planned and made.
    func verify(node: String, target: Target, facts: CloneFacts) async throws
    /// Unmounts and detaches whatever is still set up for the node. Always called, after success or failure.
    func cleanup(node: String) async
}

/// What the golden side set up: where its tree is readable, and its identity for stamps.
public struct GoldenHandle: Sendable, Hashable {
    /// The directory holding the golden's tree (mountpoints below it).
    public var root: String
    /// The golden's identity (image path, size, mtime; or the live disk).
    public var identity: String

    /// Creates a handle.
    public init(root: String, identity: String) {
        self.root = root
        self.identity = identity
    }
}

/// What is known about a clone as its steps run: the facts the fix-ups, initrd and bootloader need.
public struct CloneFacts: Sendable, Hashable, Codable {
    /// The node's name (its hostname).
    public var node: String
    /// The table type.
    public var table: PartitionTable
    /// The resolved layout.
    public var layout: Layout
    /// The plan's partitions.
    public var partitions: [Partition]
    /// New filesystem UUIDs, by partition id.
    public var uuids: [String: String]
    /// The stream's digest, once received.
    public var streamDigest: String?
    /// The plan's fstab mode.
    public var fstab: Fixups.FstabMode
    /// Extra kernel arguments.
    public var kernelOptions: [String]
    /// A stamp to leave in the clone, once everything else succeeded.
    public var planDigest: String
    /// The golden's identity.
    public var goldenIdentity: String

    /// Creates facts.
    public init(
        node: String, table: PartitionTable, layout: Layout, partitions: [Partition], uuids: [String: String] = [:],
        streamDigest: String? = nil, fstab: Fixups.FstabMode, kernelOptions: [String], planDigest: String,
        goldenIdentity: String
    ) {
        self.node = node
        self.table = table
        self.layout = layout
        self.partitions = partitions
        self.uuids = uuids
        self.streamDigest = streamDigest
        self.fstab = fstab
        self.kernelOptions = kernelOptions
        self.planDigest = planDigest
        self.goldenIdentity = goldenIdentity
    }

    /// The stamp this clone carries once deployed.
    public func stamp(planName: String) -> DeploymentStamp {
        DeploymentStamp(
            planName: planName, planDigest: planDigest, streamDigest: streamDigest ?? "", goldenIdentity: goldenIdentity,
            node: node, uuids: uuids)
    }
}

/// A failure from a host operation: what failed, in words, and the underlying cause.
public struct HostError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A stable code (`mkfs-failed`, `busy-device`, `no-space`, …).
    public var code: String
    /// What went wrong and what to do.
    public var message: String
    /// The underlying error, in words (a command's exit status and stderr, an errno).
    public var cause: String?

    /// Creates a host error.
    public init(_ code: String, _ message: String, cause: String? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    /// The message and cause.
    public var description: String { cause.map { "\(message): \($0)" } ?? message }
}
