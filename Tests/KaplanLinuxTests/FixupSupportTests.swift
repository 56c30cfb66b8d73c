import Foundation
import KaplanEngine
import KaplanLinux
import KaplanModel

// Support for the fix-up tests (no tests of its own; named Fixup*Tests.swift like the files it serves).

/// A fake clone root in a temporary directory, removed when released — but never while anything is mounted
/// below it: a recursive delete through a bind mount of /dev would delete the host's device nodes.
final class FixupRoot {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("kaplan-fixup-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit {
        for point in Self.mounts(below: path) {
            _ = Command.run("/usr/bin/umount", ["-R", "-l", point], timeout: 30)
        }
        guard Self.mounts(below: path).isEmpty else { return }  // leak the directory rather than the host's /dev
        _ = Command.run("/usr/bin/rm", ["-rf", "--one-file-system", path], timeout: 60)
    }

    /// Every mountpoint at or below `directory`, from /proc/self/mountinfo.
    static func mounts(below directory: String) -> [String] {
        guard let text = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count > 4 else { return nil }
            let point = fields[4].replacingOccurrences(of: "\\040", with: " ")
            return point == directory || point.hasPrefix(directory + "/") ? point : nil
        }
    }

    /// The host path of the clone's `p`.
    func host(_ p: String) -> String { path + p }

    /// Writes a file (parents created).
    func write(_ p: String, _ text: String, mode: Int = 0o644) throws {
        try FileManager.default.createDirectory(
            atPath: (host(p) as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: host(p)))
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: host(p))
    }

    /// Makes a directory (parents created).
    func mkdir(_ p: String) throws {
        try FileManager.default.createDirectory(atPath: host(p), withIntermediateDirectories: true)
    }

    /// Makes a symlink at `p` whose target is `target`, verbatim.
    func symlink(_ p: String, to target: String) throws {
        try FileManager.default.createDirectory(
            atPath: (host(p) as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: host(p), withDestinationPath: target)
    }

    /// A file's text, or nil.
    func read(_ p: String) -> String? {
        FileManager.default.contents(atPath: host(p)).map { String(decoding: $0, as: UTF8.self) }
    }

    /// True when `p` exists (the last component not followed).
    func exists(_ p: String) -> Bool {
        var st = stat()
        return lstat(host(p), &st) == 0
    }

    /// lstat of `p`.
    func status(_ p: String) -> stat {
        var st = stat()
        _ = lstat(host(p), &st)
        return st
    }

    /// The names in directory `p`, sorted.
    func list(_ p: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: host(p))) ?? []).sorted()
    }

    /// Copies host programs and the libraries ldd lists into the root (a chroot in which they run).
    func install(programs: [String]) throws {
        var files = Set(programs)
        for program in programs {
            let r = Command.run("/usr/bin/ldd", [program], timeout: 30)
            for line in r.stdout.split(separator: "\n") {
                for word in line.split(whereSeparator: { $0 == " " || $0 == "\t" }) where word.hasPrefix("/") {
                    files.insert(String(word))
                }
            }
        }
        for file in files.sorted() {
            try FileManager.default.createDirectory(
                atPath: (host(file) as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            let r = Command.run("/usr/bin/cp", ["-L", file, host(file)], timeout: 30)
            guard r.status == 0 else { throw FixupTestFailure(description: "cp \(file): \(r.lastLine)") }
        }
    }
}

struct FixupTestFailure: Error, CustomStringConvertible { var description: String }

/// Clone facts for a plan with these partitions on a 20 GiB GPT disk.
func fixupFacts(
    _ partitions: [Partition], uuids: [String: String], fstab: Fixups.FstabMode = .uuid, node: String = "node03"
) throws -> CloneFacts {
    let layout = try Layout.resolve(table: .gpt, partitions: partitions, diskBytes: 20 << 30).get()
    return CloneFacts(
        node: node, table: .gpt, layout: layout, partitions: partitions, uuids: uuids, fstab: fstab, kernelOptions: [],
        planDigest: "sha256:plan", goldenIdentity: "image:/srv/golden.img")
}

/// A planned partition.
func fixupPartition(
    _ id: String, _ filesystem: Filesystem, _ mount: String? = nil, label: String? = nil, options: [String] = [],
    size: UInt64 = 1 << 30
) -> Partition {
    Partition(
        id: id, type: filesystem == .swap ? .swap : filesystem == .vfat ? .efi : .linux, size: .fixed(ByteSize(size)),
        filesystem: filesystem, mount: mount, label: label, mountOptions: options, range: .file("plan.yaml"))
}
