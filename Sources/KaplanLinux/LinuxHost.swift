import Foundation
import KaplanArchive
import KaplanEngine
import KaplanFdisk
import KaplanGraph
import KaplanModel
import Synchronization
import KaplanDigest

/// The real host: libfdisk tables, mkfs, loop devices and mounts under a private directory, the stream
/// through libarchive, fix-ups in a chroot. Every method may be called from several nodes at once.
public final class LinuxHost: KaplanEngine.Host, Sendable {
    /// Where everything of this run is mounted: `/run/kaplan/SESSION`.
    public let runRoot: String
    /// The gate every target passes before its first write.
    public let gate: SafetyGate
    /// Stream compression.
    public let compression: ArchiveCompression

    struct NodeDisk {
        var target: Target
        var partitionDevices: [Int: String] = [:]
        var loops: [String] = []
        var mounted: [String] = []
        /// Mountpoints (directories) staged for a FAT this kernel cannot mount, and the FAT's device (StagedFAT.swift).
        var stagedFAT: [String: String] = [:]
        var stamp: DeploymentStamp?
    }

    struct State {
        var nodes: [String: NodeDisk] = [:]
        var goldenLoops: [String] = []
        var goldenFilesystems: [String] = []
        var goldenRoot: String = "/"
        var cloneLocks: [String: NSLock] = [:]
    }

    /// The lock that serialises the steps working inside one node's clone.
    func cloneLock(_ node: String) -> NSLock {
        state.withLock { s in
            if let lock = s.cloneLocks[node] { return lock }
            let lock = NSLock()
            s.cloneLocks[node] = lock
            return lock
        }
    }

    let state = Mutex(State())

    /// Creates a host for one run.
    public init(session: String, gate: SafetyGate, compression: ArchiveCompression = .zstd(level: 3), runRoot: String? = nil) {
        self.runRoot = runRoot ?? "/run/kaplan/\(session)"
        self.gate = gate
        self.compression = compression
    }

    func nodeRoot(_ node: String) -> String { "\(runRoot)/nodes/\(node)" }

    private func disk(_ node: String) throws -> NodeDisk {
        guard let d = state.withLock({ $0.nodes[node] }) else {
            throw HostError("internal", "\(node): no partition table was written by this run")
        }
        return d
    }

    // MARK: probe

    public func probe(node: String, target: Target) async throws -> DeviceState {
        try await blocking { try DiskProbe.probe(path: target.path) }
    }

    // MARK: golden

    public func openGolden(_ source: Golden.Source, mounts: [String]) async throws -> GoldenHandle {
        switch source {
        case .disk(_, let root):
            // A live golden: its filesystems are the planned mountpoints that are mountpoints on this system.
            let live = Set(Mounts.below(root == "/" ? "/" : root))
            let filesystems = mounts.filter { m in m == "/" || live.contains(root == "/" ? m : root + m) }
            state.withLock {
                $0.goldenFilesystems = filesystems.isEmpty ? ["/"] : filesystems
                $0.goldenRoot = root
            }
            return GoldenHandle(root: root, identity: GoldenIdentity.of(source, base: "/"))
        case .image(let path):
            let view = "\(runRoot)/golden"
            return try await blocking { try self.mountGoldenImage(path, at: view, identity: GoldenIdentity.of(source, base: "/")) }
        }
    }

    /// Attaches every partition of the golden image read-only, finds the root filesystem (the one with
    /// /etc/fstab), and mounts the others where the golden's fstab puts them, all read-only.
    private func mountGoldenImage(_ path: String, at view: String, identity: String) throws -> GoldenHandle {
        let label = try DiskLabel(path: path, readOnly: true)
        let sector = label.sectorSize
        var candidates: [(device: String, fs: FilesystemInfo)] = []
        for p in try label.partitions() where !p.isExtended {
            guard let fs = try BlockProbe.probe(path: path, offset: p.start * sector, size: p.size * sector),
                !["swap", "linux_raid_member", "LVM2_member", "crypto_LUKS"].contains(fs.type)
            else { continue }
            let loop = try Loop.attach(path, offset: p.start * sector, size: p.size * sector, readOnly: true)
            state.withLock { $0.goldenLoops.append(loop) }
            candidates.append((loop, fs))
        }
        let probeDir = "\(runRoot)/golden-probe"
        var rootDevice: (device: String, fs: FilesystemInfo)? = nil
        // A FAT never holds a Linux root, and this kernel may not be able to mount one (StagedFAT.swift).
        for c in candidates where !StagedFAT.types.contains(c.fs.type) {
            try Mounts.mount(c.device, at: probeDir, type: c.fs.type, options: Self.readOnlyOptions(c.fs.type))
            let hasFstab = FileManager.default.fileExists(atPath: probeDir + "/etc/fstab")
            try Mounts.unmount(probeDir)
            if hasFstab {
                rootDevice = c
                break
            }
        }
        try? FileManager.default.removeItem(atPath: probeDir)
        guard let root = rootDevice else {
            throw HostError("golden-no-root", "no filesystem of the golden image \(path) holds /etc/fstab", cause: "is it a Linux system disk?")
        }
        try Mounts.mount(root.device, at: view, type: root.fs.type, options: Self.readOnlyOptions(root.fs.type))
        var filesystems = ["/"]
        let fstab = (try? String(contentsOfFile: view + "/etc/fstab", encoding: .utf8)) ?? ""
        for line in fstab.split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 2, !fields[0].hasPrefix("#") else { continue }
            let source = String(fields[0])
            let point = String(fields[1])
            guard point.hasPrefix("/"), point != "/" else { continue }
            let match = candidates.first { c in
                c.device != root.device
                    && (source == "UUID=\(c.fs.uuid ?? "-")" || source == "LABEL=\(c.fs.label ?? "-")"
                        || source == "/dev/disk/by-uuid/\(c.fs.uuid ?? "-")")
            }
            guard let match else { continue }
            _ = try StagedFAT.mountOrStage(
                device: match.device, at: view + point, type: match.fs.type, options: Self.readOnlyOptions(match.fs.type)
            ) { try StagedFAT.stageGolden(device: match.device, at: view + point, what: "golden.open (\(point))") }
            filesystems.append(point)
        }
        state.withLock {
            $0.goldenFilesystems = filesystems
            $0.goldenRoot = view
        }
        return GoldenHandle(root: view, identity: identity)
    }

    /// Mount options that cannot write, even to replay a journal.
    static func readOnlyOptions(_ type: String) -> [String] {
        switch type {
        case "ext3", "ext4": ["ro", "noload"]
        case "xfs": ["ro", "norecovery"]
        default: ["ro"]
        }
    }

    public func closeGolden(_ golden: GoldenHandle) async {
        let loops = state.withLock { s -> [String] in
            let l = s.goldenLoops
            s.goldenLoops = []
            return l
        }
        let view = "\(runRoot)/golden"
        _ = try? await blocking {
            for point in Mounts.below(view) { try? Mounts.unmount(point) }
            for loop in loops { Loop.detach(loop) }
            try? FileManager.default.removeItem(atPath: view)
        }
    }

    // MARK: partition, format, mount

    public func writeTable(node: String, target: Target, layout: Layout, partitions: [Partition]) async throws {
        try await blocking { try self.writeTableNow(node: node, target: target, layout: layout, partitions: partitions) }
    }

    private func writeTableNow(node: String, target: Target, layout: Layout, partitions: [Partition]) throws {
        try gate.check(node: node, target: target)
        let byID = Dictionary(uniqueKeysWithValues: partitions.map { ($0.id, $0) })
        do {
            let label = try DiskLabel(path: target.path, readOnly: false)
            guard label.sizeInBytes >= layout.totalSectors * Layout.sectorSize else {
                throw HostError(
                    "no-space", "\(node): \(target.path) is \(ByteSize(label.sizeInBytes)); the layout needs \(ByteSize(layout.totalSectors * 512))")
            }
            try label.wipeSignatures()
            try label.createLabel(layout.table == .dos ? .dos : .gpt)
            for e in layout.entries {
                let p = byID[e.id]!
                let type: KaplanFdisk.PartitionType =
                    layout.table == .dos ? .mbr(p.type.mbrCode ?? 0x83) : .gpt(p.type.gptGUID ?? PartitionType.linux.gptGUID!)
                var spec = PartitionSpec(start: e.start, size: e.sectors, type: type)
                spec.number = e.number
                spec.kind = p.logical ? .logical : (p.type == .extended ? .extended : .primary)
                spec.bootable = p.bootable
                spec.name = p.name
                _ = try label.addPartition(spec)
            }
            try label.write()
        } catch let error as FdiskError {
            throw HostError("partition-failed", "\(node): writing the \(layout.table.rawValue) table on \(target.path) failed", cause: "\(error)")
        }
        try attachPartitions(node: node, target: target, layout: layout, partitions: partitions)
    }

    /// Makes a device for every planned partition: offset loops for image files, the kernel's nodes for disks.
    /// (Also used to take over a table an earlier run wrote: see FileJournal.swift.)
    func attachPartitions(node: String, target: Target, layout: Layout, partitions: [Partition]) throws {
        var disk = NodeDisk(target: target)
        defer { state.withLock { $0.nodes[node] = disk } }
        let extended = Set(partitions.filter { $0.type == .extended }.map(\.id))
        switch target {
        case .image(let file):
            for e in layout.entries where !extended.contains(e.id) {
                let loop = try Loop.attach(file, offset: e.start * Layout.sectorSize, size: e.sectors * Layout.sectorSize, directIO: true)
                disk.loops.append(loop)
                disk.partitionDevices[e.number] = loop
            }
        case .device(let device):
            _ = Command.run("/usr/bin/partx", ["--update", device], timeout: 60)
            for e in layout.entries where !extended.contains(e.id) {
                disk.partitionDevices[e.number] = try Self.partitionNode(device, number: e.number)
            }
        }
    }

    /// `/dev/sda3`, `/dev/nvme0n1p3`: waits for the kernel's node, or makes it from sysfs (no udev here).
    static func partitionNode(_ device: String, number: Int) throws -> String {
        let base = SafetyGate.diskName(device)
        let name = (base.last?.isNumber ?? false) ? "\(base)p\(number)" : "\(base)\(number)"
        let path = "/dev/\(name)"
        for _ in 0..<50 {
            if FileManager.default.fileExists(atPath: path) { return path }
            if let dev = ProcFile.read("/sys/class/block/\(name)/dev") {
                let parts = dev.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ":")
                if parts.count == 2, Command.run("/bin/mknod", [path, "b", String(parts[0]), String(parts[1])], timeout: 10).status == 0 {
                    return path
                }
            }
            usleep(100_000)
        }
        throw HostError("no-partition-node", "partition \(number) of \(device) did not appear as \(path)", cause: "run partx -u \(device)")
    }

    public func makeFilesystem(node: String, target: Target, entry: Layout.Entry, partition: Partition) async throws -> String {
        let device = try disk(node).partitionDevices[entry.number]
        guard let device else { throw HostError("internal", "\(node): partition #\(entry.number) has no device") }
        return try await blocking {
            _ = Command.run("/sbin/wipefs", ["--all", "--quiet", device], timeout: 60)
            let (program, args) = Self.mkfsCommand(partition, device: device)
            let r = Command.run(program, args, timeout: 1800)
            guard r.status == 0 else {
                throw HostError(
                    "mkfs-failed", "\(node).format[\(partition.id)]: \(URL(fileURLWithPath: program).lastPathComponent) failed (exit \(r.status))",
                    cause: r.lastLine + (partition.filesystem == .xfs ? "; the partition may be too small for xfs (300 MiB minimum)" : ""))
            }
            guard let info = try? BlockProbe.probe(path: device), let uuid = info.uuid else {
                throw HostError("mkfs-failed", "\(node).format[\(partition.id)]: no filesystem UUID could be read back from \(device)")
            }
            return uuid
        }
    }

    /// The mkfs program and argv for a partition.
    static func mkfsCommand(_ p: Partition, device: String) -> (String, [String]) {
        var args: [String] = []
        let program: String
        switch p.filesystem {
        case .ext2, .ext3, .ext4:
            program = "/sbin/mkfs.\(p.filesystem.rawValue)"
            args = ["-F", "-q"] + (p.label.map { ["-L", $0] } ?? [])
        case .xfs:
            program = "/sbin/mkfs.xfs"
            args = ["-f", "-q"] + (p.label.map { ["-L", $0] } ?? [])
        case .btrfs:
            program = "/sbin/mkfs.btrfs"
            args = ["-f", "-q"] + (p.label.map { ["-L", $0] } ?? [])
        case .vfat:
            program = "/sbin/mkfs.vfat"
            args = p.label.map { ["-n", $0] } ?? []
        case .jfs:
            program = "/sbin/mkfs.jfs"
            args = ["-q"] + (p.label.map { ["-L", $0] } ?? [])
        case .swap:
            program = "/sbin/mkswap"
            args = p.label.map { ["-L", $0] } ?? []
        case .none:
            return ("/bin/true", [])
        }
        return (program, args + p.mkfsOptions + [device])
    }

    public func mount(node: String, target: Target, entry: Layout.Entry, partition: Partition) async throws {
        guard let mountpoint = partition.mount else { return }
        let device = try disk(node).partitionDevices[entry.number]
        guard let device else { throw HostError("internal", "\(node): partition #\(entry.number) has no device") }
        let directory = nodeRoot(node) + (mountpoint == "/" ? "" : mountpoint)
        let what = "\(node).mount[\(mountpoint)]"
        let staged = try await blocking {
            try StagedFAT.mountOrStage(device: device, at: directory, type: partition.filesystem.rawValue, options: []) {
                try StagedFAT.stageTarget(device: device, at: directory, what: what)
            }
        }
        state.withLock {
            $0.nodes[node]?.mounted.append(directory)
            if staged { $0.nodes[node]?.stagedFAT[directory] = device }
        }
    }

    // MARK: stream

    public func receiveStream(
        node: String, golden: GoldenHandle, mounts: [String], excluded: [String], progress: @escaping @Sendable (UInt64) -> Void
    ) async throws -> String {
        let (filesystems, root) = state.withLock { ($0.goldenFilesystems, $0.goldenRoot) }
        let destinationRoot = nodeRoot(node)
        let compression = self.compression
        let progressBox = ProgressBox(progress)
        return try await blocking {
            var digest = KaplanDigest.SHA256()
            var total: UInt64 = 0
            for fs in filesystems.sorted() {
                let source = root == "/" ? fs : (fs == "/" ? root : root + fs)
                let destination = fs == "/" ? destinationRoot : destinationRoot + fs
                // Excluded paths inside this filesystem, relative to it.
                let relative = excluded.compactMap { e -> String? in
                    if fs == "/" { return String(e.dropFirst()) }
                    return e.hasPrefix(fs + "/") ? String(e.dropFirst(fs.count + 1)) : nil
                }
                if excluded.contains(fs) {
                    // The whole filesystem is excluded: only its root directory, empty, as the golden has it.
                    try Self.copyDirectoryAttributes(from: source, to: destination)
                    continue
                }
                let done = total
                let result = try TreeStream.copy(
                    source: source, destination: destination, excluding: relative, compression: compression,
                    what: "\(node).stream (\(fs))", progress: { progressBox.report(done + $0) })
                total += result.streamBytes
                digest.update("\(fs)=\(result.digest)\n")
            }
            return digest.hex()
        }
    }

    /// Gives `destination` the mode, owner and mtime of the directory `source`.
    static func copyDirectoryAttributes(from source: String, to destination: String) throws {
        let attributes = try FileManager.default.attributesOfItem(atPath: source)
        var copy: [FileAttributeKey: Any] = [:]
        for key in [FileAttributeKey.posixPermissions, .ownerAccountID, .groupOwnerAccountID, .modificationDate] {
            if let value = attributes[key] { copy[key] = value }
        }
        try FileManager.default.setAttributes(copy, ofItemAtPath: destination)
    }

    // MARK: stamp, unmount, verify, cleanup

    public func writeStamp(node: String, stamp: DeploymentStamp) async throws {
        let directory = nodeRoot(node) + "/var/lib/kaplan"
        try await blocking {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            try encoder.encode(stamp).write(to: URL(fileURLWithPath: directory + "/stamp.json"), options: .atomic)
        }
        state.withLock { $0.nodes[node]?.stamp = stamp }
    }

    public func unmount(node: String, mountpoint: String) async throws {
        let directory = nodeRoot(node) + (mountpoint == "/" ? "" : mountpoint)
        let stagedFor = state.withLock { $0.nodes[node]?.stagedFAT[directory] }
        try await blocking {
            // A staged FAT is written now, before its tmpfs (and then its parent) is unmounted.
            if let device = stagedFor { try StagedFAT.commit(directory, to: device, what: "\(node).unmount[\(mountpoint)]") }
            try Mounts.unmount(directory)
        }
        state.withLock {
            $0.nodes[node]?.mounted.removeAll { $0 == directory }
            $0.nodes[node]?.stagedFAT[directory] = nil
        }
    }

    public func verify(node: String, target: Target, facts: CloneFacts) async throws {
        // The node's loops still point into the image; the table is read from the image (or disk) itself.
        let observed = try await probe(node: node, target: target)
        for e in facts.layout.entries {
            guard let p = observed.partitions.first(where: { $0.number == e.number }), p.start == e.start, p.sectors == e.sectors else {
                throw HostError("verify-failed", "\(node): partition #\(e.number) on \(target.path) is not as planned after writing")
            }
            if let uuid = facts.uuids[e.id], p.filesystem?.uuid != uuid {
                throw HostError(
                    "verify-failed", "\(node): partition #\(e.number) holds \(p.filesystem?.uuid ?? "no filesystem"), expected \(uuid)")
            }
        }
    }

    public func cleanup(node: String) async {
        let disk = state.withLock { s -> NodeDisk? in
            let d = s.nodes[node]
            s.nodes[node]?.loops = []
            s.nodes[node]?.mounted = []
            s.nodes[node]?.stagedFAT = [:]  // their tmpfs mounts go below, with what they held
            return d
        }
        let root = nodeRoot(node)
        _ = try? await blocking {
            for point in Mounts.below(root) {
                if (try? Mounts.unmount(point)) == nil { _ = Command.run("/bin/umount", ["--lazy", point], timeout: 60) }
            }
            for loop in disk?.loops ?? [] { Loop.detach(loop) }
            try? FileManager.default.removeItem(atPath: root)
        }
    }
}

/// Carries a non-Sendable-looking progress callback into the blocking stream worker.
private final class ProgressBox: @unchecked Sendable {
    let report: (UInt64) -> Void
    init(_ report: @escaping (UInt64) -> Void) { self.report = report }
}
