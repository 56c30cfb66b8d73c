import Foundation
import KaplanEngine
import Synchronization

/// Runs programs inside a clone's root with the host's `/dev`, `/proc`, `/sys` and `/run` mounted in it, and a
/// private `/dev/disk/by-uuid` naming the clone's new filesystems (this kind of machine has no udev, and
/// update-grub/grub-mkconfig silently write `root=/dev/loop0p1` without those links).
///
/// `prepare()` mounts (and undoes what it did when a mount fails); `run` prepares on first use; `teardown()`
/// stops processes left running in the chroot, unmounts everything in reverse order (lazily as a last resort),
/// may be called any number of times, and runs from `deinit` as a safety net. Every mount is made private so
/// that nothing propagates to or from the host's mount tree.
public final class ChrootRunner: Sendable {
    /// The clone's root directory on the host.
    public let root: String
    /// Device paths by filesystem UUID, linked as `/dev/disk/by-uuid/<uuid>` inside the chroot.
    public let devices: [String: String]

    /// The environment of every program run: a fixed `PATH`, `HOME=/root`, the C locale, no debconf questions.
    public static let environment: [String: String] = [
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LC_ALL": "C", "DEBIAN_FRONTEND": "noninteractive",
    ]

    private struct Mounted: Sendable {
        var path: String
        var recursive: Bool
        var devDisk: Bool
    }

    private struct State: Sendable {
        var realRoot: String?
        var mounted: [Mounted] = []
    }

    private let state = Mutex(State())

    /// Users of the host's `/dev/disk` directory as a mountpoint, and whether a runner created it (a host without
    /// udev has none; it is removed again when the last runner is done with it).
    private static let hostDevDisk = Mutex<(users: Int, created: Bool)>((0, false))

    /// Creates a runner; nothing is mounted until `prepare()` or the first `run`.
    public init(root: String, devices: [String: String] = [:]) {
        self.root = root
        self.devices = devices
    }

    deinit { teardown() }

    /// The mountpoints this runner currently holds, in the order they were mounted.
    public var mountpoints: [String] { state.withLock { $0.mounted.map(\.path) } }

    // MARK: prepare

    /// Mounts `/dev` (recursive bind), `/proc` (a new proc), `/sys` (recursive bind) and `/run` (bind) into the
    /// root, then a private tmpfs on `/dev/disk` with the host's links plus `by-uuid/<uuid> → device` for
    /// `devices`. Does nothing when already prepared. On failure, whatever it mounted is unmounted again.
    public func prepare() throws {
        if state.withLock({ $0.realRoot != nil }) { return }
        let realRoot = try Self.checkRoot(root)
        try checkDevices()
        state.withLock { $0.realRoot = realRoot }
        do {
            let tree = CloneTree(root: realRoot)
            try bind("/dev", at: try directory("/dev", in: tree), recursive: true)
            try mountNew(type: "proc", source: "proc", options: "nosuid,nodev,noexec", at: try directory("/proc", in: tree))
            try bind("/sys", at: try directory("/sys", in: tree), recursive: true)
            try bind("/run", at: try directory("/run", in: tree), recursive: false)
            if !devices.isEmpty { try makeDiskLinks(in: tree) }
        } catch {
            teardown()
            throw error
        }
    }

    private static func checkRoot(_ root: String) throws -> String {
        guard root.hasPrefix("/"), let resolved = realpath(root, nil) else {
            throw HostError(
                "chroot-root", "cannot use \(root) as a chroot: it does not exist or is not an absolute path",
                cause: "is the clone's root filesystem mounted?")
        }
        let real = String(cString: resolved)
        free(resolved)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: real, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw HostError("chroot-root", "cannot use \(root) as a chroot: it is not a directory")
        }
        guard real != "/" else {
            throw HostError(
                "chroot-root", "refusing to use \(root) as a chroot: it is the host's own root directory",
                cause: "the clone's root must be mounted somewhere below /run/kaplan")
        }
        return real
    }

    private func checkDevices() throws {
        for (uuid, device) in devices.sorted(by: { $0.key < $1.key }) {
            guard !uuid.isEmpty, !uuid.contains("/"), uuid != ".", uuid != ".." else {
                throw HostError("chroot-devices", "cannot link /dev/disk/by-uuid/\(uuid) in the chroot of \(root): not a valid UUID")
            }
            guard device.hasPrefix("/"), FileManager.default.fileExists(atPath: device) else {
                throw HostError(
                    "chroot-devices",
                    "cannot link /dev/disk/by-uuid/\(uuid) in the chroot of \(root): device \(device) does not exist",
                    cause: "is the partition's loop device still attached? (losetup -l; partx -a)")
            }
        }
    }

    /// The host path of the clone's directory `path` (created 0755 when missing), refusing a symlink that leads
    /// out of the root: mount(8) follows symlinks, and a bind mount must never land on a host directory.
    private func directory(_ path: String, in tree: CloneTree) throws -> String {
        let host = try tree.resolve(path)
        guard host.hasPrefix(tree.root + "/") else {
            throw HostError("chroot-mount", "refusing to mount \(path) in the chroot of \(root): it resolves to \(host)")
        }
        do {
            try FileManager.default.createDirectory(atPath: host, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        } catch {
            throw HostError("chroot-mount", "cannot create \(host) to mount \(path) in the chroot", cause: "\(error)")
        }
        return host
    }

    private func bind(_ source: String, at target: String, recursive: Bool) throws {
        try mountCommand([recursive ? "--rbind" : "--bind", source, target], describing: "bind \(source) at \(target)")
        state.withLock { $0.mounted.append(Mounted(path: target, recursive: recursive, devDisk: false)) }
        try mountCommand([recursive ? "--make-rprivate" : "--make-private", target], describing: "make \(target) private")
    }

    private func mountNew(type: String, source: String, options: String, at target: String, devDisk: Bool = false) throws {
        try mountCommand(["-t", type, "-o", options, source, target], describing: "mount \(type) at \(target)")
        state.withLock { $0.mounted.append(Mounted(path: target, recursive: false, devDisk: devDisk)) }
        try mountCommand(["--make-private", target], describing: "make \(target) private")
    }

    private func mountCommand(_ arguments: [String], describing what: String) throws {
        let r = Command.run(Self.tool("mount"), arguments, timeout: 60)
        guard r.status == 0 else {
            throw HostError(
                "chroot-mount", "cannot prepare the chroot of \(root): cannot \(what) (mount exit \(r.status))",
                cause: r.lastLine.isEmpty ? nil : r.lastLine)
        }
    }

    /// A tmpfs on the chroot's `/dev/disk` (so the host's `/dev` is never written), holding the host's links and
    /// `by-uuid/<uuid>` for every device.
    private func makeDiskLinks(in tree: CloneTree) throws {
        var hostLinks: [(String, String, String)] = []
        for group in (try? FileManager.default.contentsOfDirectory(atPath: "/dev/disk")) ?? [] {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: "/dev/disk/\(group)")) ?? [] {
                if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/dev/disk/\(group)/\(name)") {
                    hostLinks.append((group, name, target))
                }
            }
        }
        // The chroot's /dev is the host's: its /dev/disk is the mountpoint (created when the host has none).
        try Self.hostDevDisk.withLock { use in
            if use.users == 0 {
                var isDirectory: ObjCBool = false
                if !FileManager.default.fileExists(atPath: "/dev/disk", isDirectory: &isDirectory) {
                    guard mkdir("/dev/disk", 0o755) == 0 || errno == EEXIST else {
                        throw HostError("chroot-devices", "cannot create /dev/disk on the host", cause: CloneTree.errnoText())
                    }
                    use.created = true
                }
            }
            use.users += 1
        }
        let disk = tree.root + "/dev/disk"
        do {
            try mountNew(type: "tmpfs", source: "kaplan-dev-disk", options: "mode=0755,size=1m", at: disk, devDisk: true)
        } catch {
            Self.releaseHostDevDisk()
            throw error
        }
        var links = hostLinks.filter { !($0.0 == "by-uuid" && devices[$0.1] != nil) }
        links += devices.sorted(by: { $0.key < $1.key }).map { ("by-uuid", $0.key, $0.value) }
        for (group, name, target) in links {
            let directory = "\(disk)/\(group)"
            if mkdir(directory, 0o755) != 0 && errno != EEXIST {
                throw HostError("chroot-devices", "cannot create \(directory)", cause: CloneTree.errnoText())
            }
            guard symlink(target, "\(directory)/\(name)") == 0 else {
                throw HostError("chroot-devices", "cannot link \(directory)/\(name) → \(target)", cause: CloneTree.errnoText())
            }
        }
    }

    private static func releaseHostDevDisk() {
        hostDevDisk.withLock { use in
            use.users -= 1
            if use.users == 0 && use.created {
                rmdir("/dev/disk")  // fails harmlessly (EBUSY, ENOTEMPTY) when something else uses it now
                use.created = false
            }
        }
    }

    // MARK: run

    /// Runs `argv` inside the chroot (`chroot ROOT argv…`, never a shell) with `environment`, preparing first.
    /// Throws a `HostError` naming the command, its exit status and last line of stderr when it fails or times out.
    @discardableResult
    public func run(_ argv: [String], timeout: Double = 600) throws -> Command.Result {
        guard let program = argv.first, !program.isEmpty else {
            throw HostError("chroot-command", "cannot run an empty command in the chroot of \(root)")
        }
        try prepare()
        let realRoot = state.withLock { $0.realRoot } ?? root
        let r = Command.run(Self.tool("chroot"), [realRoot] + argv, timeout: timeout, environment: Self.environment)
        let shown = Self.shellWords(argv)
        if r.timedOut {
            throw HostError(
                "chroot-timeout",
                "command `\(shown)` did not finish within \(Self.duration(timeout)) in the chroot of \(realRoot) and was killed; "
                    + "run `chroot \(realRoot) \(shown)` by hand to see where it hangs",
                cause: r.lastLine.isEmpty ? nil : r.lastLine)
        }
        guard r.status == 0 else {
            let hint: String
            switch r.status {
            case 127: hint = " (`\(program)` was not found in the clone: is its package installed in the golden?)"
            case 126: hint = " (`\(program)` is not executable in the clone)"
            default: hint = ""
            }
            throw HostError(
                "chroot-command-failed",
                "command `\(shown)` failed with exit status \(r.status) in the chroot of \(realRoot)\(hint); "
                    + "to see its whole output run: chroot \(realRoot) \(shown)",
                cause: r.lastLine.isEmpty ? "no output" : r.lastLine)
        }
        return r
    }

    // MARK: teardown

    /// Stops processes left running in the chroot, then unmounts everything this runner mounted, in reverse order
    /// (lazily when busy). Safe to call any number of times; returns warnings (empty when all went cleanly).
    @discardableResult
    public func teardown() -> [String] {
        let (realRoot, mounted) = state.withLock { s -> (String?, [Mounted]) in
            defer { s = State() }
            return (s.realRoot, s.mounted)
        }
        guard let realRoot, !mounted.isEmpty else { return [] }
        var warnings = Self.stopProcesses(in: realRoot)
        for mount in mounted.reversed() {
            let umount = Self.tool("umount")
            let recursive = mount.recursive ? ["-R"] : []
            let r = Command.run(umount, recursive + [mount.path], timeout: 60)
            if r.status != 0 {
                let lazy = Command.run(umount, recursive + ["-l", mount.path], timeout: 60)
                warnings.append(
                    lazy.status == 0
                        ? "\(mount.path) was busy (\(r.lastLine)); detached lazily"
                        : "cannot unmount \(mount.path): \(lazy.lastLine); unmount it by hand (umount -R -l \(mount.path))")
            }
            if mount.devDisk { Self.releaseHostDevDisk() }
        }
        return warnings
    }

    /// Sends SIGTERM, then SIGKILL, to every process whose root is inside the chroot (a daemon a package script
    /// started keeps the mounts busy).
    private static func stopProcesses(in realRoot: String) -> [String] {
        func inside() -> [Int32] {
            let me = getpid()
            return ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { name in
                guard let pid = Int32(name), pid != me,
                    let processRoot = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(name)/root"),
                    processRoot == realRoot || processRoot.hasPrefix(realRoot + "/")
                else { return nil }
                return pid
            }
        }
        var pids = inside()
        guard !pids.isEmpty else { return [] }
        let warning = "stopped process(es) \(pids.map(String.init).joined(separator: ", ")) left running in the chroot of \(realRoot)"
        for signal in [SIGTERM, SIGKILL] {
            for pid in pids { kill(pid, signal) }
            for _ in 0..<100 {
                pids = inside()
                if pids.isEmpty { return [warning] }
                usleep(20_000)
            }
        }
        return [warning]
    }

    // MARK: helpers

    static func tool(_ name: String) -> String {
        for directory in ["/usr/bin", "/bin", "/usr/sbin", "/sbin"] where FileManager.default.isExecutableFile(atPath: "\(directory)/\(name)") {
            return "\(directory)/\(name)"
        }
        return "/usr/bin/\(name)"
    }

    /// argv as an operator would type it.
    static func shellWords(_ argv: [String]) -> String {
        argv.map { word in
            word.isEmpty || word.contains(where: { " \t\n'\"\\$`;&|<>()*?[]{}!#~".contains($0) })
                ? "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'" : word
        }.joined(separator: " ")
    }

    static func duration(_ seconds: Double) -> String {
        seconds >= 60 && seconds.truncatingRemainder(dividingBy: 60) == 0 ? "\(Int(seconds / 60)) min" : "\(seconds) s"
    }
}
