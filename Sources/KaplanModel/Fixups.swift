/// What is adjusted inside every clone after the copy; each is a step the plan can switch off.
public struct Fixups: Sendable, Hashable, Codable {
    /// How fstab entries name filesystems after the rewrite.
    public enum FstabMode: String, Sendable, Hashable, Codable, CaseIterable {
        /// By the new filesystems' UUIDs.
        case uuid
        /// By the labels the plan gives (every mounted partition needs one).
        case label
        /// Leave fstab as copied.
        case keep
    }

    /// fstab rewrite.
    public var fstab: FstabMode
    /// Write `/etc/hostname` and `/etc/hosts` from the node's name.
    public var hostname: Bool
    /// Empty `/etc/machine-id` so that each clone gets its own at first boot.
    public var machineIDReset: Bool
    /// Regenerate SSH host keys.
    public var sshHostKeysRegenerate: Bool
    /// Remove udev persistent-net rules and DHCP leases.
    public var networkClean: Bool
    /// Point `resume=` (initramfs, kernel command line) at the clone's swap UUID.
    public var resumeUpdate: Bool
    /// Extra commands run in the clone's chroot, as argv lists (never shell strings).
    public var commands: [[String]]
    /// Where the fix-ups were declared.
    public var range: SourceRange

    /// Creates fix-ups; the defaults are what a clone needs to boot as its own node.
    public init(
        fstab: FstabMode = .uuid, hostname: Bool = true, machineIDReset: Bool = true,
        sshHostKeysRegenerate: Bool = true, networkClean: Bool = true, resumeUpdate: Bool = true,
        commands: [[String]] = [], range: SourceRange
    ) {
        self.fstab = fstab
        self.hostname = hostname
        self.machineIDReset = machineIDReset
        self.sshHostKeysRegenerate = sshHostKeysRegenerate
        self.networkClean = networkClean
        self.resumeUpdate = resumeUpdate
        self.commands = commands
        self.range = range
    }
}

/// Session authentication.
public struct Security: Sendable, Hashable, Codable {
    /// The pre-shared key file (at least 32 bytes of secret), or nil for an unauthenticated local-only plan.
    public var keyFile: String?

    /// Creates a security setting.
    public init(keyFile: String? = nil) { self.keyFile = keyFile }
}

/// Retries, timeouts and what counts as success.
public struct Policy: Sendable, Hashable, Codable {
    /// How many nodes must end OK for the deployment to count as (partly) successful.
    public enum MinSuccess: Sendable, Hashable, Codable {
        /// At least this many nodes.
        case count(Int)
        /// At least this share of the nodes, rounded up.
        case percent(Double)

        /// The number of nodes required out of `total`.
        public func required(of total: Int) -> Int {
            switch self {
            case .count(let n): n
            case .percent(let p): Int((Double(total) * p / 100).rounded(.up))
            }
        }
    }

    /// Times a failed step is retried on the same node before the node is KO.
    public var retries: Int
    /// Minimum successful nodes.
    public var minSuccess: MinSuccess
    /// The longest one step may run.
    public var stepTimeout: Duration
    /// Most nodes running steps at once (local apply).
    public var parallel: Int

    /// Creates a policy.
    public init(retries: Int = 1, minSuccess: MinSuccess = .count(1), stepTimeout: Duration = .seconds(3600), parallel: Int = 4) {
        self.retries = retries
        self.minSuccess = minSuccess
        self.stepTimeout = stepTimeout
        self.parallel = parallel
    }
}
