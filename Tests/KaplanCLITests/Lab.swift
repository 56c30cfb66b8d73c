import Foundation
import Testing

/// What the root lab tests need, and whether they must run (CI sets KAPLAN_REQUIRE_LAB=1 where it is root).
enum Lab {
    /// Why this machine cannot run the lab tests, or nil when it can.
    static let unavailableReason: String? = {
        if getuid() != 0 { return "not root" }
        if !FileManager.default.fileExists(atPath: "/dev/loop-control") { return "no /dev/loop-control (no loop devices)" }
        for tool in ["/sbin/losetup", "/sbin/mkfs.ext4", "/sbin/mkfs.xfs", "/sbin/mkswap", "/sbin/sfdisk", "/usr/bin/setfattr", "/usr/bin/setfacl"]
        where !FileManager.default.isExecutableFile(atPath: tool) {
            return "\(tool) is missing (scripts/setup installs it)"
        }
        return nil
    }()

    /// True when the lab tests must not be skipped.
    static let required = ProcessInfo.processInfo.environment["KAPLAN_REQUIRE_LAB"] == "1"

    /// Run the test when the lab is available, or when it is required (then it fails with the reason).
    static var enabled: Bool {
        if let reason = unavailableReason, !required {
            print("SKIP lab test: \(reason) (set KAPLAN_REQUIRE_LAB=1 to make this a failure)")
            return false
        }
        return true
    }

    /// Records a failure when the lab is required but unavailable; true when the test may go on.
    static func ready() -> Bool {
        if let reason = unavailableReason {
            Issue.record("the lab tests are required here (KAPLAN_REQUIRE_LAB=1) but cannot run: \(reason)")
            return false
        }
        return true
    }

    /// Runs a program (argv) and returns its status and output.
    @discardableResult
    static func sh(_ program: String, _ args: [String], in dir: URL? = nil) -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: program)
        p.arguments = args
        if let dir { p.currentDirectoryURL = dir }
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        do { try p.run() } catch { return (127, "\(error)") }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Loop devices attached to `file`.
    static func loops(of file: String) -> [String] {
        sh("/sbin/losetup", ["--associated", file, "--noheadings", "--output", "NAME"]).output
            .split(separator: "\n").map(String.init).filter { !$0.isEmpty }
    }

    /// Mountpoints below `prefix`.
    static func mounts(under prefix: String) -> [String] {
        // /proc files report size 0: read them to EOF through a handle, not by their size.
        let data = FileHandle(forReadingAtPath: "/proc/self/mountinfo").flatMap { try? $0.readToEnd() } ?? Data()
        return String(decoding: data, as: UTF8.self).split(separator: "\n")
            .compactMap { line in line.split(separator: " ").dropFirst(4).first.map(String.init) }
            .filter { $0.hasPrefix(prefix) }
    }
}

/// A temporary lab directory with a golden image; everything attached or mounted below it is released at the end.
final class LabDirectory {
    let url: URL
    private var attached: [String] = []
    private var mounted: [String] = []

    init() throws {
        url = URL(fileURLWithPath: "/tmp").appendingPathComponent("kaplan-lab-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    func makeGolden(sizeMiB: Int = 1024) throws {
        let script = KaplanBinary.packageRoot.appendingPathComponent("Tests/lab/make-golden.sh").path
        let r = Lab.sh("/bin/bash", [script, path("golden.img"), String(sizeMiB)])
        guard r.status == 0 else { throw Failure(description: "make-golden.sh failed: \(r.output)") }
    }

    func makeImage(_ name: String, mib: Int) throws {
        FileManager.default.createFile(atPath: path(name), contents: nil)
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path(name)))
        try h.truncate(atOffset: UInt64(mib) << 20)
        try h.close()
    }

    /// Attaches partition `number` of an image read-only and mounts it (ro, no journal replay) at `dir`.
    func mountPartition(_ image: String, _ number: Int, at dir: String, type: String) throws {
        let json = Lab.sh("/sbin/sfdisk", ["-J", path(image)]).output
        guard let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
            let table = object["partitiontable"] as? [String: Any], let parts = table["partitions"] as? [[String: Any]],
            let p = parts.first(where: { ($0["node"] as? String)?.hasSuffix(String(number)) == true }),
            let start = p["start"] as? Int, let size = p["size"] as? Int
        else { throw Failure(description: "cannot read partition \(number) of \(image)") }
        let loop = Lab.sh("/sbin/losetup", ["-r", "-f", "--show", "-o", String(start * 512), "--sizelimit", String(size * 512), path(image)])
            .output.trimmingCharacters(in: .whitespacesAndNewlines)
        attached.append(loop)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let options = type == "xfs" ? "ro,norecovery" : "ro,noload"
        let r = Lab.sh("/bin/mount", ["-t", type, "-o", options, loop, dir])
        guard r.status == 0 else { throw Failure(description: "mount \(image)#\(number): \(r.output)") }
        mounted.append(dir)
    }

    func unmountAll() {
        for m in mounted.reversed() { Lab.sh("/bin/umount", [m]) }
        mounted = []
        for l in attached { Lab.sh("/sbin/losetup", ["-d", l]) }
        attached = []
    }

    deinit {
        unmountAll()
        for m in Lab.mounts(under: url.path).sorted(by: { $0.count > $1.count }) { Lab.sh("/bin/umount", ["-l", m]) }
        for file in (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? [] {
            for l in Lab.loops(of: path(file)) { Lab.sh("/sbin/losetup", ["-d", l]) }
        }
        try? FileManager.default.removeItem(at: url)
    }

    struct Failure: Error, CustomStringConvertible { var description: String }
}
