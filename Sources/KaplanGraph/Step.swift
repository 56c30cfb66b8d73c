import KaplanModel

/// One step of a deployment: what it does, what it needs first, and the parameters its runner uses.
public struct Step: Sendable, Hashable, Codable {
    /// Its address.
    public var address: StepAddress
    /// Steps that must succeed before it runs.
    public var dependencies: [StepAddress]
    /// What the step will do, in one line an operator reads (`mkfs.ext4 -L rootfs on partition 1 (5000MiB)`).
    public var summary: String
    /// The parameters the step's runner needs.
    public var detail: Detail

    /// Creates a step.
    public init(address: StepAddress, dependencies: [StepAddress] = [], summary: String, detail: Detail) {
        self.address = address
        self.dependencies = dependencies
        self.summary = summary
        self.detail = detail
    }

    /// The runner's parameters, by kind.
    public enum Detail: Sendable, Hashable, Codable {
        /// Golden snapshot.
        case snapshot(Golden.Source)
        /// Golden serve: the filesystems streamed (mountpoints) and the excluded paths.
        case serve(mounts: [String], excluded: [String])
        /// Partition a node's disk with this table.
        case partition(target: Target, table: PartitionTable, partitions: [Partition])
        /// Make a filesystem on a partition.
        case format(partition: Partition)
        /// Mount a partition at its mountpoint.
        case mount(partitionID: String, mountpoint: String, filesystem: Filesystem, options: [String])
        /// Receive and extract the stream.
        case stream(mounts: [String], excluded: [String])
        /// A fix-up.
        case fixup(Fixup)
        /// Rebuild the initrd.
        case initrd(tool: Bootloader.InitrdTool, modules: [String])
        /// Install the bootloader.
        case bootloader(Bootloader, target: Target)
        /// Record the deployment stamp in the clone.
        case record
        /// Unmount a mountpoint.
        case unmount(mountpoint: String)
        /// Verify the result.
        case verify(target: Target)
    }

    /// One fix-up inside a clone.
    public enum Fixup: Sendable, Hashable, Codable {
        /// Rewrite fstab naming filesystems by UUID or label.
        case fstab(Fixups.FstabMode)
        /// Write `/etc/hostname` and `/etc/hosts`.
        case hostname(String)
        /// Empty `/etc/machine-id`.
        case machineID
        /// Regenerate SSH host keys.
        case sshHostKeys
        /// Remove persistent-net rules and DHCP leases.
        case network
        /// Point `resume=` at the clone's swap.
        case resume
        /// Run a plan command (argv) in the chroot.
        case command(index: Int, argv: [String])
    }
}

extension Step.Fixup {
    /// The fix-up's name in step addresses: `fstab`, `hostname`, …, `command-2`.
    public var name: String {
        switch self {
        case .fstab: "fstab"
        case .hostname: "hostname"
        case .machineID: "machine-id"
        case .sshHostKeys: "ssh-host-keys"
        case .network: "network"
        case .resume: "resume"
        case .command(let index, _): "command-\(index)"
        }
    }
}
