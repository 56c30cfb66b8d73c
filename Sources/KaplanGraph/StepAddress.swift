/// The stable name of one step: `node03.format[root]`, `golden.serve`, `node03.unmount[/home]`.
public struct StepAddress: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// The machine the step runs for: `golden` or a node name.
    public var owner: String
    /// What the step does.
    public var kind: StepKind
    /// What it applies to (partition id, mountpoint, disk, fix-up name), if anything.
    public var argument: String?

    /// Creates an address.
    public init(_ owner: String, _ kind: StepKind, _ argument: String? = nil) {
        self.owner = owner
        self.kind = kind
        self.argument = argument
    }

    /// `owner.kind[argument]`.
    public var description: String {
        argument.map { "\(owner).\(kind.rawValue)[\($0)]" } ?? "\(owner).\(kind.rawValue)"
    }

    /// Orders by text, for stable renderings.
    public static func < (a: StepAddress, b: StepAddress) -> Bool { a.description < b.description }
}

/// The kinds of steps; the executor has one runner per kind.
public enum StepKind: String, Sendable, Hashable, Codable, CaseIterable {
    /// Golden: make the golden's tree readable (mount an image read-only, or check the live tree).
    case snapshot
    /// Golden: build and serve the stream (archive of every filesystem, with its manifest).
    case serve
    /// Node: write the partition table.
    case partition
    /// Node: make one filesystem (or swap).
    case format
    /// Node: mount one filesystem under the node's private root.
    case mount
    /// Node: receive the stream and extract it, verifying the manifest.
    case stream
    /// Node: one fix-up inside the clone (fstab, hostname, machine-id, …, or a plan command).
    case fixup
    /// Node: rebuild the initrd in a chroot.
    case initrd
    /// Node: install the bootloader from inside the clone.
    case bootloader
    /// Node: write kaplan's deployment stamp into the clone (what `diff` later compares).
    case record
    /// Node: unmount one filesystem.
    case unmount
    /// Node: re-read the written table and filesystems and compare them with the plan.
    case verify
}
