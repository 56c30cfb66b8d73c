import KaplanEngine
import KaplanGraph
import KaplanModel
import KaplanDigest

/// An in-memory host: disks, tables, filesystems, mounts and a golden, with the same rules the Linux host
/// enforces (no writes to the golden or to a busy disk, mounts need their parent, unmount children first)
/// and every operation recorded in a trace. The dry run and the engine tests run on it.
public actor SimulatedHost: Host {
    /// An injected fault: the operation serving `address` fails (or stalls) on its first `times` attempts.
    public struct Fault: Sendable, Hashable {
        /// The step address, as `node03.format[root]`.
        public var address: String
        /// How many attempts fail before it succeeds (Int.max: always).
        public var times: Int
        /// Extra simulated seconds before failing (0: fail at once). A stall longer than the step timeout times out.
        public var stallSeconds: Double

        /// Creates a fault.
        public init(address: String, times: Int = Int.max, stallSeconds: Double = 0) {
            self.address = address
            self.times = times
            self.stallSeconds = stallSeconds
        }
    }

    struct Disk {
        var size: UInt64
        var table: PartitionTable?
        var partitions: [DeviceState.ObservedPartition] = []
        var stamp: DeploymentStamp?
    }

    private var disks: [String: Disk] = [:]
    private var goldenPath: String?
    private var goldenBytes: UInt64
    private var mounts: [String: [String: Int]] = [:]  // node → mountpoint → partition number
    private var streamed: Set<String> = []
    private var faults: [String: Fault] = [:]
    private var attempts: [String: Int] = [:]
    private var uuidCounter = 0
    /// Every operation, in the order it happened.
    public private(set) var trace: [TraceEntry] = []

    /// Creates a host whose golden streams `goldenBytes` of files.
    public init(goldenBytes: UInt64 = 1 << 30) { self.goldenBytes = goldenBytes }

    /// Adds a blank disk (or one in `state`) at `path` on `node` (each node is its own machine).
    public func addDisk(node: String, _ path: String, size: UInt64, state: DeviceState? = nil) {
        var disk = Disk(size: size)
        if let state {
            disk.table = state.table
            disk.partitions = state.partitions
            disk.stamp = state.stamp
        }
        disks[Self.key(node, path)] = disk
    }

    static func key(_ node: String, _ path: String) -> String { "\(node):\(path)" }

    /// Injects a fault.
    public func inject(_ fault: Fault) { faults[fault.address] = fault }

    private func log(_ address: String, _ detail: String) { trace.append(TraceEntry(address, detail)) }

    private func checkFault(_ address: String) async throws {
        guard let fault = faults[address] else { return }
        let n = attempts[address, default: 0] + 1
        attempts[address] = n
        guard n <= fault.times else { return }
        if fault.stallSeconds > 0 { try await Task.sleep(for: .milliseconds(Int64(fault.stallSeconds * 1000))) }
        log(address, "injected fault (attempt \(n))")
        throw HostError("injected-fault", "injected fault at \(address)", cause: "simulator")
    }

    private func disk(_ node: String, _ target: Target) throws -> Disk {
        guard let d = disks[Self.key(node, target.path)] else {
            throw HostError("no-such-disk", "\(target) does not exist", cause: "simulated host has no disk at \(target.path)")
        }
        return d
    }

    // MARK: Host

    public func probe(node: String, target: Target) async throws -> DeviceState {
        let d = try disk(node, target)
        log("probe", "read \(target) (read-only)")
        return DeviceState(sizeBytes: d.size, table: d.table, partitions: d.partitions, stamp: d.stamp)
    }

    public func openGolden(_ source: Golden.Source, mounts: [String]) async throws -> GoldenHandle {
        try await checkFault("golden.snapshot")
        switch source {
        case .image(let path):
            goldenPath = path
            log("golden.snapshot", "attach \(path) read-only, mount \(mounts.sorted().joined(separator: " ")) read-only")
            return GoldenHandle(root: "/sim/golden", identity: "image:\(path):\(goldenBytes)")
        case .disk(let device, let root):
            // A live golden's disk is on the golden node; the nodes' disks of the same name are other machines.
            log("golden.snapshot", "use the live tree at \(root) (golden disk \(device))")
            return GoldenHandle(root: root, identity: "live:\(device)")
        }
    }

    public func closeGolden(_ golden: GoldenHandle) async { log("golden.close", "release the golden") }

    public func writeTable(node: String, target: Target, layout: Layout, partitions: [Partition]) async throws {
        let address = StepAddress(node, .partition, target.name).description
        try await checkFault(address)
        guard target.path != goldenPath else {
            throw HostError("refused-golden", "refusing to write the golden \(target.path)")
        }
        var d = try disk(node, target)
        if let busy = mounts[node], !busy.isEmpty {
            throw HostError("busy-device", "\(target.path) has mounted filesystems: \(busy.keys.sorted().joined(separator: " "))")
        }
        guard layout.totalSectors * Layout.sectorSize <= d.size else {
            throw HostError("no-space", "the layout needs \(ByteSize(layout.totalSectors * 512)) but \(target.path) has \(ByteSize(d.size))")
        }
        let byID = Dictionary(uniqueKeysWithValues: partitions.map { ($0.id, $0) })
        d.table = layout.table
        d.stamp = nil
        d.partitions = layout.entries.map { e in
            DeviceState.ObservedPartition(
                number: e.number, start: e.start, sectors: e.sectors, type: Planner.typeString(byID[e.id]!.type, table: layout.table))
        }
        disks[Self.key(node, target.path)] = d
        log(address, "write \(layout.table.rawValue) table: " + layout.entries.map { "#\($0.number) \($0.start)+\($0.sectors)" }.joined(separator: ", "))
    }

    public func makeFilesystem(node: String, target: Target, entry: Layout.Entry, partition: Partition) async throws -> String {
        let address = StepAddress(node, .format, partition.id).description
        try await checkFault(address)
        var d = try disk(node, target)
        guard let index = d.partitions.firstIndex(where: { $0.number == entry.number && $0.start == entry.start }) else {
            throw HostError("no-partition", "partition #\(entry.number) is not on \(target.path)")
        }
        if partition.filesystem == .xfs, entry.bytes < 300 << 20 {
            throw HostError("mkfs-failed", "mkfs.xfs failed (exit 1)", cause: "Filesystem must be larger than 300MB.")
        }
        uuidCounter += 1
        let uuid = Self.uuid(seed: "\(node)/\(partition.id)/\(uuidCounter)")
        let type = partition.filesystem == .swap ? "swap" : partition.filesystem.rawValue
        d.partitions[index].filesystem = DeviceState.ObservedFilesystem(type: type, uuid: uuid, label: partition.label)
        disks[Self.key(node, target.path)] = d
        log(address, "\(partition.filesystem == .swap ? "mkswap" : "mkfs.\(type)") on \(target.path) #\(entry.number) → UUID \(uuid)")
        return uuid
    }

    public func mount(node: String, target: Target, entry: Layout.Entry, partition: Partition) async throws {
        let mountpoint = partition.mount ?? "?"
        let address = StepAddress(node, .mount, mountpoint).description
        try await checkFault(address)
        let d = try disk(node, target)
        guard d.partitions.first(where: { $0.number == entry.number })?.filesystem != nil else {
            throw HostError("no-filesystem", "partition #\(entry.number) has no filesystem to mount")
        }
        var current = mounts[node, default: [:]]
        if mountpoint != "/", current["/"] == nil {
            throw HostError("no-parent-mount", "cannot mount \(mountpoint) before /")
        }
        guard current[mountpoint] == nil else { throw HostError("busy-mountpoint", "\(mountpoint) is already mounted") }
        current[mountpoint] = entry.number
        mounts[node] = current
        log(address, "mount #\(entry.number) (\(partition.filesystem.rawValue)) at /run/kaplan/\(node)\(mountpoint == "/" ? "" : mountpoint)")
    }

    public func receiveStream(
        node: String, golden: GoldenHandle, mounts wanted: [String], excluded: [String], progress: @escaping @Sendable (UInt64) -> Void
    ) async throws -> String {
        let address = StepAddress(node, .stream).description
        try await checkFault(address)
        let present = Set(mounts[node, default: [:]].keys)
        for m in wanted where !present.contains(m) {
            throw HostError("not-mounted", "\(m) is not mounted; the stream has nowhere to go")
        }
        let chunk: UInt64 = max(1, goldenBytes / 8)
        var sent: UInt64 = 0
        while sent < goldenBytes {
            sent = min(goldenBytes, sent + chunk)
            progress(sent)
        }
        streamed.insert(node)
        let digest = SHA256.hex("stream|\(golden.identity)|\(excluded.joined(separator: ","))")
        log(address, "receive \(ByteSize(goldenBytes)) into \(wanted.joined(separator: " ")); manifest \(digest.prefix(12)) verified")
        return digest
    }

    private func requireClone(_ node: String, _ what: String) throws {
        guard mounts[node, default: [:]]["/"] != nil, streamed.contains(node) else {
            throw HostError("no-clone", "\(what) needs the clone's root mounted and its files received")
        }
    }

    public func fixup(node: String, fixup: Step.Fixup, facts: CloneFacts) async throws {
        let address = TraceEntry.fixup(node, fixup)
        try await checkFault(address)
        try requireClone(node, "fix-up \(fixup.name)")
        let detail: String =
            switch fixup {
            case .fstab(let mode): "rewrite /etc/fstab by \(mode.rawValue): " + facts.uuids.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            case .hostname(let name): "write /etc/hostname and /etc/hosts: \(name)"
            case .machineID: "empty /etc/machine-id"
            case .sshHostKeys: "remove /etc/ssh/ssh_host_*; ssh-keygen -A in chroot"
            case .network: "remove /etc/udev/rules.d/70-persistent-net.rules and DHCP leases"
            case .resume: "set RESUME=UUID=\(facts.partitions.first { $0.filesystem == .swap }.flatMap { facts.uuids[$0.id] } ?? "none")"
            case .command(_, let argv): "chroot run: \(argv.joined(separator: " "))"
            }
        log(address, detail)
    }

    public func rebuildInitrd(node: String, tool: Bootloader.InitrdTool, modules: [String], facts: CloneFacts) async throws {
        let address = StepAddress(node, .initrd).description
        try await checkFault(address)
        try requireClone(node, "initrd")
        log(address, "rebuild initrd with \(tool.rawValue)\(modules.isEmpty ? "" : " + " + modules.joined(separator: " "))")
    }

    public func installBootloader(node: String, bootloader: Bootloader, target: Target, facts: CloneFacts) async throws {
        let address = StepAddress(node, .bootloader).description
        try await checkFault(address)
        try requireClone(node, "bootloader")
        let root = facts.partitions.first { $0.mount == "/" }.flatMap { facts.uuids[$0.id] } ?? "?"
        log(address, "install \(bootloader.kind.rawValue) on \(target.path); root=UUID=\(root)")
    }

    public func writeStamp(node: String, stamp: DeploymentStamp) async throws {
        let address = StepAddress(node, .record).description
        try await checkFault(address)
        try requireClone(node, "the stamp")
        pendingStamps[node] = stamp
        log(address, "write /var/lib/kaplan/stamp.json: plan \(stamp.planDigest.prefix(12)) stream \(stamp.streamDigest.prefix(12))")
    }

    private var pendingStamps: [String: DeploymentStamp] = [:]

    public func unmount(node: String, mountpoint: String) async throws {
        let address = StepAddress(node, .unmount, mountpoint).description
        try await checkFault(address)
        var current = mounts[node, default: [:]]
        guard current[mountpoint] != nil else { throw HostError("not-mounted", "\(mountpoint) is not mounted") }
        let below = current.keys.filter { $0 != mountpoint && (mountpoint == "/" || $0.hasPrefix(mountpoint + "/")) }
        guard below.isEmpty else {
            throw HostError("busy-mountpoint", "\(mountpoint) still has \(below.sorted().joined(separator: " ")) mounted below it")
        }
        current[mountpoint] = nil
        mounts[node] = current
        log(address, "unmount \(mountpoint)")
    }

    public func verify(node: String, target: Target, facts: CloneFacts) async throws {
        let address = StepAddress(node, .verify).description
        try await checkFault(address)
        var d = try disk(node, target)
        for e in facts.layout.entries {
            guard let p = d.partitions.first(where: { $0.number == e.number }), p.start == e.start, p.sectors == e.sectors else {
                throw HostError("verify-failed", "partition #\(e.number) is not as planned on \(target.path)")
            }
            if let uuid = facts.uuids[e.id], p.filesystem?.uuid != uuid {
                throw HostError("verify-failed", "partition #\(e.number) does not hold filesystem \(uuid)")
            }
        }
        d.stamp = pendingStamps[node]
        disks[Self.key(node, target.path)] = d
        log(address, "table and \(facts.uuids.count) filesystems as planned")
    }

    public func cleanup(node: String) async {
        let left = mounts[node, default: [:]].keys.sorted { $0.count > $1.count }
        mounts[node] = [:]
        log("\(node).cleanup", left.isEmpty ? "nothing left mounted" : "unmount \(left.joined(separator: " "))")
    }

    /// A deterministic, well-formed UUID from a seed.
    static func uuid(seed: String) -> String {
        let h = Array(SHA256.hex(seed).prefix(32))
        return String(h[0..<8]) + "-" + String(h[8..<12]) + "-4" + String(h[13..<16]) + "-a" + String(h[17..<20]) + "-" + String(h[20..<32])
    }
}
