import Foundation
import Testing

/// Whether this machine can run the staged FAT tests (root, loop devices, dosfstools, mtools, the built kaplan).
enum FATLabTools {
    static let required = ProcessInfo.processInfo.environment["KAPLAN_REQUIRE_LAB"] == "1"

    /// Why this machine cannot run these tests, or nil.
    static let unavailableReason: String? = {
        if getuid() != 0 { return "not root" }
        if !FileManager.default.fileExists(atPath: "/dev/loop-control") { return "no /dev/loop-control (no loop devices)" }
        for tool in ["/sbin/losetup", "/sbin/sfdisk", "/sbin/mkfs.ext4", "/sbin/mkfs.vfat", "/sbin/fsck.vfat", "/sbin/blkid", "/usr/bin/mcopy", "/usr/bin/mmd", "/usr/bin/mattrib"]
        where !FileManager.default.isExecutableFile(atPath: tool) {
            return "\(tool) is missing (scripts/setup installs it: dosfstools, mtools)"
        }
        if kaplan == nil { return "no built kaplan binary next to the test bundle (swift build --build-tests builds it)" }
        return nil
    }()

    static var enabled: Bool {
        if let reason = unavailableReason, !required {
            print("SKIP staged FAT lab test: \(reason) (set KAPLAN_REQUIRE_LAB=1 to make this a failure)")
            return false
        }
        return true
    }

    static func ready() -> Bool {
        if let reason = unavailableReason {
            Issue.record("the staged FAT lab test is required here (KAPLAN_REQUIRE_LAB=1) but cannot run: \(reason)")
            return false
        }
        return true
    }

    /// The `kaplan` binary of the same build (next to the test bundle).
    static let kaplan: String? = {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("kaplan").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return nil
    }()
}

/// A FAT ESP cloned without the kernel's vfat (root, loop devices, mtools): a GPT golden image with an ESP holding
/// files in subdirectories (a hidden one, a long name, an empty directory) and an ext4 root is applied with
/// `kaplan apply --local` and `KAPLAN_FAT=mtools` (staged even where the kernel has vfat); the clone's ESP, read
/// back with mcopy, must hold the golden's files byte for byte with their times, the golden image must be unchanged,
/// and the clone's root must keep only an empty /boot/efi. An empty golden ESP must clone too.
@Suite(.serialized, .enabled(if: FATLabTools.enabled)) struct StagedFATTests {
    static let plan = """
        version: 1
        name: staged-fat
        golden: { image: golden.img }
        table: gpt
        partitions:
          - { id: esp, type: efi, size: 40MiB, filesystem: vfat, mount: /boot/efi, name: ESP, label: NODEESP }
          - { id: root, type: linux, size: fill, filesystem: ext4, mount: /, name: root }
        nodes: { list: [{ name: node07, image: node07.img }] }
        fixups: { ssh-host-keys: keep }

        """

    @Test func espWithFilesIsClonedByteForByteWithoutTheKernelsVFAT() throws {
        guard FATLabTools.ready() else { return }
        let lab = try FATLab()
        defer { lab.release() }
        try lab.makeGolden { esp in
            try lab.mtools("mmd", ["-i", esp, "::/EFI", "::/EFI/BOOT", "::/EFI/debian", "::/EFI/debian/fonts", "::/Empty Dir"])
            try lab.file("bootx64", bytes: 700_000)
            try lab.file("grubx64", bytes: 1_200_000)
            try lab.file("font", bytes: 2_345)
            try "search --fs-uuid --set=root 1234\nconfigfile ($root)/boot/grub/grub.cfg\n".write(toFile: lab.path("grub.cfg"), atomically: true, encoding: .utf8)
            try "hidden\n".write(toFile: lab.path("hidden"), atomically: true, encoding: .utf8)
            try lab.mtools("mcopy", ["-m", "-i", esp, lab.path("bootx64"), "::/EFI/BOOT/BOOTX64.EFI"])
            try lab.mtools("mcopy", ["-m", "-i", esp, lab.path("grubx64"), "::/EFI/debian/grubx64.efi"])
            try lab.mtools("mcopy", ["-m", "-i", esp, lab.path("grub.cfg"), "::/EFI/debian/grub.cfg"])
            try lab.mtools("mcopy", ["-m", "-i", esp, lab.path("font"), "::/EFI/debian/fonts/A Long Font Name.pf2"])
            try lab.mtools("mcopy", ["-m", "-i", esp, lab.path("hidden"), "::/hidden.txt"])
            try lab.mtools("mattrib", ["-i", esp, "+h", "::/hidden.txt"])
        }
        let run = try lab.applyAndCheck()
        #expect(run.stderr.contains("KAPLAN_FAT=mtools; read the FAT on") && run.stderr.contains("with mtools"), "no note that the golden's FAT was read with mtools:\n\(run.stderr)")
        #expect(run.stderr.contains("wrote 5 files"), "no note that 5 files were written into the clone's FAT:\n\(run.stderr)")

        let golden = try lab.readESP("golden.img", into: "esp-golden")
        let clone = try lab.readESP("node07.img", into: "esp-clone")
        #expect(golden.count == 10, "the golden ESP as read back: \(golden.keys.sorted())")
        #expect(golden.keys.contains("hidden.txt") && golden.keys.contains("Empty Dir") && golden.keys.contains("EFI/debian/fonts/A Long Font Name.pf2"))
        #expect(clone == golden, "the clone's ESP differs from the golden's:\n\(FATLab.differences(golden, clone).joined(separator: "\n"))")
    }

    /// An ESP too small for the golden's files: the unmount step fails, names itself and the FAT, and nothing of the
    /// staging (tmpfs, loop devices) is left behind.
    @Test func espTooSmallFailsAtUnmountAndLeavesNothing() throws {
        guard FATLabTools.ready() else { return }
        let lab = try FATLab()
        defer { lab.release() }
        try lab.makeGolden { esp in
            try lab.file("big", bytes: 3 << 20)
            try lab.mtools("mcopy", ["-i", esp, lab.path("big"), "::/big.bin"])
        }
        try lab.makeImage("node07.img", bytes: 200 << 20)
        try Self.plan.replacingOccurrences(of: "size: 40MiB", with: "size: 2MiB").write(toFile: lab.path("plan.yaml"), atomically: true, encoding: .utf8)
        let r = try lab.run(
            FATLabTools.kaplan!, ["apply", "plan.yaml", "--local", "--auto-approve"],
            environment: ["KAPLAN_FAT": "mtools", "KAPLAN_JOURNAL_DIR": lab.path("journal")], timeout: 600, check: false)
        print(r.stdout.split(separator: "\n").filter { $0.contains("FAILED") }.joined(separator: "\n"))
        #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("node07.unmount[/boot/efi] FAILED") && r.stdout.contains("into the FAT on /dev/loop"), "\(r.stdout)")
        #expect(r.stdout.contains("node07  KO"), "\(r.stdout)")
        #expect(try lab.run("/sbin/losetup", ["--associated", lab.path("node07.img"), "--noheadings"]).stdout.isEmpty, "loop devices left")
        let mountinfo = String(decoding: FileHandle(forReadingAtPath: "/proc/self/mountinfo").flatMap { try? $0.readToEnd() } ?? Data(), as: UTF8.self)
        #expect(!mountinfo.contains(" /run/kaplan/staged-fat-"), "mounts left under /run/kaplan")
    }

    @Test func emptyESPIsClonedToo() throws {
        guard FATLabTools.ready() else { return }
        let lab = try FATLab()
        defer { lab.release() }
        try lab.makeGolden { _ in }
        let run = try lab.applyAndCheck()
        #expect(run.stderr.contains("wrote 0 files"), "\(run.stderr)")
        #expect(try lab.readESP("golden.img", into: "esp-golden").isEmpty)
        #expect(try lab.readESP("node07.img", into: "esp-clone").isEmpty)
    }
}

/// One test's directory: images, loop devices and mounts it made, all released by `release()`.
final class FATLab {
    let url: URL
    private var loops: [String] = []
    private var mounts: [String] = []

    init() throws {
        url = URL(fileURLWithPath: "/tmp").appendingPathComponent("kaplan-fat-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    struct Failure: Error, CustomStringConvertible { var description: String }

    /// Runs a program with a hard time limit (killed by PID); throws when `check` and it fails.
    @discardableResult
    func run(_ program: String, _ args: [String], environment: [String: String] = [:], timeout: Double = 120, check: Bool = true) throws -> Run {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: program)
        p.arguments = args
        p.currentDirectoryURL = url
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe()
        let err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        try p.run()
        nonisolated(unsafe) var outData = Data()
        nonisolated(unsafe) var errData = Data()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            outData = out.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        group.enter()
        DispatchQueue.global().async {
            errData = err.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { usleep(20_000) }
        if p.isRunning {
            kill(p.processIdentifier, SIGTERM)
            let grace = Date().addingTimeInterval(30)
            while p.isRunning && Date() < grace { usleep(20_000) }
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        }
        p.waitUntilExit()
        group.wait()
        let r = Run(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self), stderr: String(decoding: errData, as: UTF8.self))
        if check && r.status != 0 {
            throw Failure(description: "\(program) \(args.joined(separator: " ")) failed (exit \(r.status)): \(r.stdout)\(r.stderr)")
        }
        return r
    }

    /// mtools with the same fixed zone kaplan uses, so FAT times read back the same in every direction.
    func mtools(_ tool: String, _ args: [String]) throws {
        try run("/usr/bin/\(tool)", args, environment: ["MTOOLS_SKIP_CHECK": "1", "TZ": "UTC"])
    }

    func file(_ name: String, bytes: Int) throws {
        var generator = SystemRandomNumberGenerator()
        let data = Data((0..<bytes).map { _ in UInt8.random(in: 0...255, using: &generator) })
        try data.write(to: URL(fileURLWithPath: path(name)))
    }

    /// Start and size in bytes of partition `number` of an image.
    func partition(_ image: String, _ number: Int) throws -> (start: Int, size: Int) {
        let json = try run("/sbin/sfdisk", ["-J", path(image)]).stdout
        guard let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
            let parts = (object["partitiontable"] as? [String: Any])?["partitions"] as? [[String: Any]],
            let p = parts.first(where: { ($0["node"] as? String)?.hasSuffix(String(number)) == true }),
            let start = p["start"] as? Int, let size = p["size"] as? Int
        else { throw Failure(description: "cannot read partition \(number) of \(image): \(json)") }
        return (start * 512, size * 512)
    }

    func attach(_ image: String, _ number: Int, readOnly: Bool) throws -> String {
        let p = try partition(image, number)
        let loop = try run(
            "/sbin/losetup", (readOnly ? ["-r"] : []) + ["-f", "--show", "-o", String(p.start), "--sizelimit", String(p.size), path(image)]
        ).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        loops.append(loop)
        return loop
    }

    func detach(_ loop: String) {
        _ = try? run("/sbin/losetup", ["-d", loop], check: false)
        loops.removeAll { $0 == loop }
    }

    /// golden.img (gpt): #1 ESP (FAT, filled by `fill` with the ESP's loop device), #2 ext4 / with an fstab naming both.
    func makeGolden(fill: (String) throws -> Void) throws {
        try makeImage("golden.img", bytes: 160 << 20)
        let table = "label: gpt\nstart=2048, size=64MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=\"EFI system\"\ntype=0FC63DAF-8483-4772-8E79-3D69C47D8E4F, name=root\n"
        try table.write(toFile: path("table.sfdisk"), atomically: true, encoding: .utf8)
        try run("/bin/sh", ["-c", "/sbin/sfdisk -q golden.img < table.sfdisk"])
        let esp = try attach("golden.img", 1, readOnly: false)
        let root = try attach("golden.img", 2, readOnly: false)
        try run("/sbin/mkfs.vfat", ["-n", "GOLDESP", esp])
        try run("/sbin/mkfs.ext4", ["-q", "-F", "-L", "goldroot", root])
        try fill(esp)
        let espUUID = try run("/sbin/blkid", ["-p", "-s", "UUID", "-o", "value", esp]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let rootUUID = try run("/sbin/blkid", ["-p", "-s", "UUID", "-o", "value", root]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let mnt = path("golden-root")
        try FileManager.default.createDirectory(atPath: mnt, withIntermediateDirectories: true)
        try run("/bin/mount", [root, mnt])
        mounts.append(mnt)
        for d in ["etc", "boot/efi", "var/lib", "usr/bin", "tmp"] { try FileManager.default.createDirectory(atPath: mnt + "/" + d, withIntermediateDirectories: true) }
        try "UUID=\(rootUUID)\t/\text4\terrors=remount-ro\t0\t1\nUUID=\(espUUID)\t/boot/efi\tvfat\tumask=0077\t0\t1\n"
            .write(toFile: mnt + "/etc/fstab", atomically: true, encoding: .utf8)
        try "golden\n".write(toFile: mnt + "/etc/hostname", atomically: true, encoding: .utf8)
        try "127.0.0.1\tlocalhost\n127.0.1.1\tgolden\n".write(toFile: mnt + "/etc/hosts", atomically: true, encoding: .utf8)
        try "0123456789abcdef0123456789abcdef\n".write(toFile: mnt + "/etc/machine-id", atomically: true, encoding: .utf8)
        try "root data\n".write(toFile: mnt + "/usr/bin/tool", atomically: true, encoding: .utf8)
        try run("/bin/umount", [mnt])
        mounts.removeAll { $0 == mnt }
        detach(esp)
        detach(root)
        let check = try attach("golden.img", 1, readOnly: true)
        defer { detach(check) }
        try run("/sbin/fsck.vfat", ["-n", check])
    }

    func makeImage(_ name: String, bytes: UInt64) throws {
        FileManager.default.createFile(atPath: path(name), contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path(name)))
        try handle.truncate(atOffset: bytes)
        try handle.close()
    }

    /// Applies the plan to node07.img with the FAT staged; checks what every apply must leave; returns the run.
    func applyAndCheck() throws -> Run {
        try makeImage("node07.img", bytes: 200 << 20)
        try StagedFATTests.plan.write(toFile: path("plan.yaml"), atomically: true, encoding: .utf8)
        let goldenBefore = try run("/usr/bin/sha256sum", [path("golden.img")]).stdout
        let started = Date()
        let r = try run(
            FATLabTools.kaplan!, ["apply", "plan.yaml", "--local", "--auto-approve"],
            environment: ["KAPLAN_FAT": "mtools", "KAPLAN_JOURNAL_DIR": path("journal")], timeout: 600, check: false)
        print("staged FAT: kaplan apply took \(String(format: "%.1f", Date().timeIntervalSince(started))) s (exit \(r.status))")
        print(r.stdout.split(separator: "\n").suffix(4).joined(separator: "\n"))
        print(r.stderr.split(separator: "\n").filter { $0.hasPrefix("kaplan: ") }.joined(separator: "\n"))
        #expect(r.status == 0, "apply failed:\n\(r.stdout)\n\(r.stderr)")
        #expect(r.stdout.contains("node07  OK"), "\(r.stdout)")
        #expect(try run("/usr/bin/sha256sum", [path("golden.img")]).stdout == goldenBefore, "the golden image was modified")
        for image in ["golden.img", "node07.img"] {
            #expect(try run("/sbin/losetup", ["--associated", path(image), "--noheadings"]).stdout.isEmpty, "loop devices left on \(image)")
        }
        let mountinfo = String(decoding: FileHandle(forReadingAtPath: "/proc/self/mountinfo").flatMap { try? $0.readToEnd() } ?? Data(), as: UTF8.self)
        #expect(!mountinfo.contains(" /run/kaplan/staged-fat-"), "mounts left under /run/kaplan (this suite's sessions; other suites run at the same time)")
        // The clone's FAT is sound, has its own serial, and fstab names it.
        let esp = try attach("node07.img", 1, readOnly: true)
        defer { detach(esp) }
        try run("/sbin/fsck.vfat", ["-n", esp])
        let espUUID = try run("/sbin/blkid", ["-p", "-s", "UUID", "-o", "value", esp]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        // The parent keeps only the empty mountpoint: the staged files went into the FAT, not onto the root.
        let root = try attach("node07.img", 2, readOnly: true)
        defer { detach(root) }
        let mnt = path("clone-root")
        try FileManager.default.createDirectory(atPath: mnt, withIntermediateDirectories: true)
        try run("/bin/mount", ["-o", "ro,noload", root, mnt])
        mounts.append(mnt)
        defer {
            _ = try? run("/bin/umount", [mnt], check: false)
            mounts.removeAll { $0 == mnt }
        }
        #expect((try? FileManager.default.contentsOfDirectory(atPath: mnt + "/boot/efi")) == [], "the clone's root keeps files under /boot/efi")
        let fstab = (try? String(contentsOfFile: mnt + "/etc/fstab", encoding: .utf8)) ?? ""
        #expect(fstab.contains("UUID=\(espUUID)"), "fstab does not name the new ESP \(espUUID):\n\(fstab)")
        #expect(FileManager.default.fileExists(atPath: mnt + "/usr/bin/tool"))
        return r
    }

    /// Every entry of an image's ESP, read with mcopy: relative path → "dir" or the file's SHA-256 and mtime.
    func readESP(_ image: String, into name: String) throws -> [String: String] {
        let loop = try attach(image, 1, readOnly: true)
        defer { detach(loop) }
        let dir = path(name)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try mtools("mcopy", ["-s", "-p", "-m", "-n", "-i", loop, "::", dir + "/"])
        var tree: [String: String] = [:]
        let walker = FileManager.default.enumerator(atPath: dir)
        while let relative = walker?.nextObject() as? String {
            let full = dir + "/" + relative
            let attributes = try FileManager.default.attributesOfItem(atPath: full)
            if attributes[.type] as? FileAttributeType == .typeDirectory {
                tree[relative] = "dir"
            } else {
                let sum = try run("/usr/bin/sha256sum", [full]).stdout.split(separator: " ").first.map(String.init) ?? ""
                let mtime = Int((attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0)
                tree[relative] = "\(sum) mtime=\(mtime)"
            }
        }
        return tree
    }

    static func differences(_ a: [String: String], _ b: [String: String]) -> [String] {
        Set(a.keys).union(b.keys).sorted().compactMap { k in a[k] == b[k] ? nil : "\(k): golden \(a[k] ?? "absent"), clone \(b[k] ?? "absent")" }
    }

    /// Unmounts and detaches whatever this lab still holds, then removes its directory.
    func release() {
        for m in mounts.reversed() { _ = try? run("/bin/umount", [m], check: false) }
        mounts = []
        for l in loops { _ = try? run("/sbin/losetup", ["-d", l], check: false) }
        loops = []
        for image in ["golden.img", "node07.img"] {
            let left = (try? run("/sbin/losetup", ["--associated", path(image), "--noheadings", "--output", "NAME"], check: false).stdout) ?? ""
            for l in left.split(separator: "\n") where !l.isEmpty { _ = try? run("/sbin/losetup", ["-d", String(l)], check: false) }
        }
        try? FileManager.default.removeItem(at: url)
    }
}
