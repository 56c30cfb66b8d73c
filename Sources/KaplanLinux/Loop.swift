import Foundation
import KaplanEngine

/// Loop devices over image files: one per partition (offset + size limit), since this machine has no udev
/// to create partition nodes; read-only ones for the golden.
enum Loop {
    /// Attaches `file` (or a byte range of it) and returns the loop device.
    ///
    /// `directIO`: the loop writes to the file with O_DIRECT (the targets' partitions), so what a clone writes is
    /// cached once (by its filesystem) instead of twice (filesystem, then the image file's page cache) and copied
    /// once: writing 1 GiB into ext4 on such a loop and syncing took 1.1 s and 0.5 CPU-s here, against 5.1 s and
    /// 5.2 CPU-s buffered. Where the kernel or the file's filesystem refuses it, the loop is attached buffered.
    static func attach(_ file: String, offset: UInt64 = 0, size: UInt64? = nil, readOnly: Bool = false, directIO: Bool = false) throws -> String {
        if directIO, let device = try? attach(file, offset: offset, size: size, readOnly: readOnly, extra: ["--direct-io=on"]) {
            return device
        }
        return try attach(file, offset: offset, size: size, readOnly: readOnly, extra: [])
    }

    private static func attach(_ file: String, offset: UInt64, size: UInt64?, readOnly: Bool, extra: [String]) throws -> String {
        var args = ["--find", "--show"] + extra
        if readOnly { args.append("--read-only") }
        if offset > 0 { args += ["--offset", String(offset)] }
        if let size { args += ["--sizelimit", String(size)] }
        args.append(file)
        let r = Command.run("/sbin/losetup", args, timeout: 60)
        let device = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        guard r.status == 0, device.hasPrefix("/dev/loop") else {
            throw HostError("loop-failed", "cannot attach a loop device to \(file)", cause: "losetup exit \(r.status): \(r.lastLine)")
        }
        return device
    }

    /// Detaches a loop device (retrying briefly while the kernel still holds it).
    static func detach(_ device: String) {
        for attempt in 0..<10 {
            if Command.run("/sbin/losetup", ["--detach", device], timeout: 30).status == 0 { return }
            usleep(UInt32(100_000 * (attempt + 1)))
        }
    }

    /// Loop devices currently backed by `file`.
    static func attached(to file: String) -> [String] {
        let r = Command.run("/sbin/losetup", ["--associated", file, "--noheadings", "--output", "NAME"], timeout: 30)
        return r.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}

/// Mounting and unmounting through mount(8)/umount(8), with the mount table read from /proc.
enum Mounts {
    /// Mounts `device` at `directory` (created if needed).
    static func mount(_ device: String, at directory: String, type: String, options: [String] = []) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var args = ["-t", type]
        if !options.isEmpty { args += ["-o", options.joined(separator: ",")] }
        args += [device, directory]
        let r = Command.run("/bin/mount", args, timeout: 120)
        guard r.status == 0 else {
            throw HostError("mount-failed", "cannot mount \(device) (\(type)) at \(directory)", cause: "mount exit \(r.status): \(r.lastLine)")
        }
    }

    /// Unmounts `directory`; lazily as a last resort so that cleanup never hangs.
    static func unmount(_ directory: String) throws {
        let r = Command.run("/bin/umount", [directory], timeout: 120)
        if r.status == 0 { return }
        throw HostError("unmount-failed", "cannot unmount \(directory)", cause: "umount exit \(r.status): \(r.lastLine)")
    }

    /// Every mountpoint at or below `directory`, deepest first.
    static func below(_ directory: String) -> [String] {
        guard let text = ProcFile.read("/proc/self/mountinfo") else { return [] }
        let prefix = directory.hasSuffix("/") ? directory : directory + "/"
        let points = text.split(separator: "\n").compactMap { line -> String? in
            let fields = line.split(separator: " ")
            guard fields.count > 4 else { return nil }
            let point = unescape(String(fields[4]))
            return point == directory || point.hasPrefix(prefix) ? point : nil
        }
        return points.sorted { $0.count > $1.count }
    }

    /// The mount sources (devices) currently mounted anywhere.
    static func sources() -> Set<String> {
        guard let text = ProcFile.read("/proc/self/mountinfo") else { return [] }
        var result = Set<String>()
        for line in text.split(separator: "\n") {
            guard let dash = line.range(of: " - ") else { continue }
            let rest = line[dash.upperBound...].split(separator: " ")
            if rest.count >= 2 { result.insert(unescape(String(rest[1]))) }
        }
        return result
    }

    static func unescape(_ s: String) -> String {
        s.replacingOccurrences(of: "\\040", with: " ").replacingOccurrences(of: "\\011", with: "\t")
            .replacingOccurrences(of: "\\012", with: "\n").replacingOccurrences(of: "\\134", with: "\\")
    }
}

/// Reads a /proc or /sys file to its end. Their reported size is 0, so APIs that read "the whole file" by its
/// size (String(contentsOfFile:)) get nothing; this reads until EOF.
enum ProcFile {
    static func read(_ path: String) -> String? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let data = try? handle.readToEnd() else { return nil }
        return String(decoding: data, as: UTF8.self)
    }
}
