import Foundation
import KaplanEngine
import KaplanModel
import Synchronization

/// FAT filesystems (the UEFI ESP) on a kernel that cannot mount them (no vfat built in or loadable, common in
/// containers and VMs): read and written with mtools, through a private tmpfs standing where the FAT would be mounted.
///
/// - Golden: the FAT's tree is copied with `mcopy` from its read-only loop device into a tmpfs at the mountpoint,
///   which is then made read-only; `closeGolden` unmounts it like any other golden filesystem.
/// - Target: an empty tmpfs is mounted at the mountpoint; the stream, the fix-ups and grub-install write into it;
///   the unmount step copies its tree into the FAT with `mcopy`, then unmounts it, so the parent filesystem keeps
///   only the empty mountpoint directory, as after a real mount.
///
/// The tmpfs is mounted with the FAT's device as its source: grub-install finds the device of `--efi-directory`
/// in /proc/self/mountinfo and refuses anything its probe does not read as FAT ("doesn't look like an EFI
/// partition"); so it reads the real, freshly made FAT and then writes its files into the tmpfs.
///
/// mtools runs with TZ=UTC both ways: FAT stores local times, and one fixed zone keeps every time field of the
/// golden's FAT unchanged in the clone's, whatever the zone of the machine running kaplan.
enum StagedFAT {
    /// blkid's and the plan's names for FAT filesystems.
    static let types: Set<String> = ["vfat", "fat", "msdos"]

    static let mcopy = "/usr/bin/mcopy"

    /// Whether the kernel can mount FAT; decided once (see `decide`), or set when a mount said it cannot.
    private static let kernelMounts = Mutex<Bool?>(nil)

    /// True when a filesystem of this type must be staged rather than mounted.
    static func mustStage(_ type: String) -> Bool {
        guard types.contains(type) else { return false }
        return !kernelMountsFAT
    }

    /// Whether this kernel can mount FAT: `KAPLAN_FAT=mtools` or `=kernel` decides; otherwise vfat in
    /// /proc/filesystems, or a vfat module the kernel can load.
    static var kernelMountsFAT: Bool {
        kernelMounts.withLock { decided in
            if let decided { return decided }
            let answer = decide()
            decided = answer
            return answer
        }
    }

    /// Why FAT is staged, for the notes.
    static var reason: String {
        ProcessInfo.processInfo.environment["KAPLAN_FAT"] == "mtools" ? "KAPLAN_FAT=mtools" : "this kernel cannot mount vfat"
    }

    private static func decide() -> Bool {
        switch ProcessInfo.processInfo.environment["KAPLAN_FAT"] {
        case "mtools": return false
        case "kernel": return true
        default: break
        }
        let filesystems = ProcFile.read("/proc/filesystems") ?? ""
        if filesystems.split(separator: "\n").contains(where: { $0.split(separator: "\t").last == "vfat" }) { return true }
        var name = utsname()
        uname(&name)
        let release = withUnsafeBytes(of: &name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let modules = "/lib/modules/\(release)/kernel/fs/fat"
        let files = (try? FileManager.default.contentsOfDirectory(atPath: modules)) ?? []
        return files.contains { $0.hasPrefix("vfat.ko") }
    }

    /// Mounts a FAT with the kernel, or stages it when the kernel says it does not know the type (the module
    /// could not be loaded after all): returns true when it staged. `stage` does the staging.
    static func mountOrStage(device: String, at directory: String, type: String, options: [String], stage: () throws -> Void) throws -> Bool {
        if mustStage(type) {
            try stage()
            return true
        }
        do {
            try Mounts.mount(device, at: directory, type: type, options: options)
            return false
        } catch let error as HostError where types.contains(type) && (error.cause ?? "").contains("unknown filesystem type") {
            kernelMounts.withLock { $0 = false }
            try stage()
            return true
        }
    }

    /// Copies the golden's FAT on `device` (read-only) into a new tmpfs at `directory`, then makes it read-only.
    static func stageGolden(device: String, at directory: String, what: String) throws {
        try requireMtools(what)
        try mountTmpfs(source: device, at: directory, what: what)
        do {
            let r = run(["-s", "-p", "-m", "-n", "-i", device, "::", directory + "/"])
            guard r.status == 0 else {
                throw HostError(
                    "fat-read-failed", "\(what): reading the FAT on \(device) with mcopy failed (exit \(r.status))",
                    cause: "\(problem(r)); check it with: fsck.vfat -n \(device)")
            }
            // The root of a FAT has no times; a kernel mount shows 1970-01-01 for it. mcopy left a made-up one.
            var times = [timespec(tv_sec: 0, tv_nsec: 0), timespec(tv_sec: 0, tv_nsec: 0)]
            _ = utimensat(AT_FDCWD, directory, &times, 0)
            let ro = Command.run("/bin/mount", ["-o", "remount,ro", directory], timeout: 60)
            guard ro.status == 0 else {
                throw HostError("mount-failed", "\(what): cannot make the staged copy at \(directory) read-only", cause: ro.lastLine)
            }
        } catch {
            try? Mounts.unmount(directory)
            throw error
        }
        let (files, bytes) = tally(directory)
        note("\(what): \(reason); read the FAT on \(device) with mtools into a read-only tmpfs at \(directory) (\(count(files)), \(ByteSize(bytes)))")
    }

    /// Mounts an empty tmpfs at `directory` (in the node's mounted parent), standing for the FAT on `device`.
    static func stageTarget(device: String, at directory: String, what: String) throws {
        try requireMtools(what)
        try mountTmpfs(source: device, at: directory, what: what)
        note("\(what): \(reason); \(directory) is a tmpfs staging the FAT on \(device), written into it with mtools at unmount")
    }

    /// Copies the staged tree at `directory` into the FAT on `device`. The caller unmounts the tmpfs afterwards.
    static func commit(_ directory: String, to device: String, what: String) throws {
        let entries: [String]
        do {
            entries = try FileManager.default.contentsOfDirectory(atPath: directory).sorted().map { directory + "/" + $0 }
        } catch {
            throw HostError("fat-write-failed", "\(what): cannot read the staged directory \(directory)", cause: "\(error)")
        }
        let (files, bytes) = tally(directory)
        if !entries.isEmpty {
            // -o: overwrite what the FAT already has (a resumed run); -Q: stop at the first file that fails.
            let r = run(["-s", "-p", "-m", "-o", "-Q", "-i", device] + entries + ["::/"])
            guard r.status == 0 else {
                throw HostError(
                    "fat-write-failed", "\(what): writing \(count(files)) (\(ByteSize(bytes))) into the FAT on \(device) with mcopy failed (exit \(r.status))",
                    cause: "\(problem(r)); the partition may be too small for these files: give it a larger size in the plan")
            }
        }
        // What mcopy wrote is in the device's page cache: flush it now, not at some later detach.
        let fd = open(device, O_RDONLY)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
        note("\(what): wrote \(count(files)) (\(ByteSize(bytes))) into the FAT on \(device) with mtools")
    }

    // MARK: helpers

    static func requireMtools(_ what: String) throws {
        guard FileManager.default.isExecutableFile(atPath: mcopy) else {
            throw HostError(
                "no-fat-support", "\(what): this kernel cannot mount vfat and mtools is not installed",
                cause: "install mtools (apt-get install mtools), or run kaplan on a kernel with vfat")
        }
    }

    /// A tmpfs at `directory` whose source is the FAT's device, mode 0755 like a kernel FAT mount's root.
    static func mountTmpfs(source device: String, at directory: String, what: String) throws {
        // Room for the whole FAT twice over: tmpfs rounds every file up to a page, FAT to a (smaller) cluster.
        let bytes = max(deviceBytes(device) * 2, 16 << 20)
        do {
            try Mounts.mount(device, at: directory, type: "tmpfs", options: ["mode=0755", "size=\(bytes)"])
        } catch let error as HostError {
            throw HostError("mount-failed", "\(what): cannot mount the tmpfs staging the FAT on \(device) at \(directory)", cause: error.cause)
        }
    }

    /// The size of a block device, from sysfs (0 when unknown).
    static func deviceBytes(_ device: String) -> UInt64 {
        let name = URL(fileURLWithPath: device).resolvingSymlinksInPath().lastPathComponent
        let sectors = ProcFile.read("/sys/class/block/\(name)/size").flatMap { UInt64($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        return (sectors ?? 0) * 512
    }

    /// Runs mcopy with a fixed environment: no user configuration, no geometry checks, UTC, UTF-8 names.
    static func run(_ arguments: [String]) -> Command.Result {
        Command.run(
            mcopy, arguments, timeout: 1800,
            environment: [
                "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/nonexistent", "MTOOLS_SKIP_CHECK": "1", "TZ": "UTC", "LC_ALL": "C.UTF-8",
            ])
    }

    /// What mcopy said went wrong, without the warning it prints (with no newline) for every loop device.
    static func problem(_ r: Command.Result) -> String {
        let noise = "Could not get geometry of device (Inappropriate ioctl for device)"
        let text = (r.stderr + "\n" + r.stdout).replacingOccurrences(of: noise, with: "\n")
        let lines = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        return lines.last ?? "exit \(r.status), no message"
    }

    static func count(_ files: Int) -> String { files == 1 ? "1 file" : "\(files) files" }

    /// Regular files and their bytes below `directory`.
    static func tally(_ directory: String) -> (files: Int, bytes: UInt64) {
        var files = 0
        var bytes: UInt64 = 0
        let walker = FileManager.default.enumerator(at: URL(fileURLWithPath: directory), includingPropertiesForKeys: [.isRegularFileKey, .fileSizeKey])
        while let url = walker?.nextObject() as? URL {
            guard let values = try? url.resourceValues(forKeys: [.isRegularFileKey, .fileSizeKey]), values.isRegularFile == true else { continue }
            files += 1
            bytes += UInt64(values.fileSize ?? 0)
        }
        return (files, bytes)
    }

    /// One line on stderr for the operator (and the agent's log): what was done instead of a kernel mount.
    static func note(_ line: String) {
        FileHandle.standardError.write(Data("kaplan: \(line)\n".utf8))
    }
}
