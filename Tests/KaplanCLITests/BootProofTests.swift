import Foundation
import Testing

/// The boot proof (root, loop devices, QEMU with TCG): a real Debian golden (Tests/lab/make-debian-golden.sh) is
/// deployed with `kaplan apply` onto node images, and every clone must then boot by itself in QEMU
/// (Tests/lab/boot-clone.sh) with its own hostname, its own new root UUID, `running` with no failed unit, / read-write
/// and its own swap. BIOS: two nodes, one the golden's size and one larger. UEFI: one GPT node, booted with OVMF.
///
/// `deploy` is the one place that says how the golden reaches the nodes: over the chain transport, the golden and
/// each node in its own network namespace (Tests/lab/chain-deploy.sh).
@Suite(.serialized, .enabled(if: Lab.bootProofEnabled)) struct BootProofTests {
    /// The kernel can mount vfat (the UEFI plan's ESP) itself: vfat built in, or a mount.vfat helper.
    static var kernelHasVFAT: Bool {
        let text = FileHandle(forReadingAtPath: "/proc/filesystems").flatMap { try? $0.readToEnd() }.map { String(decoding: $0, as: UTF8.self) } ?? ""
        return text.split(separator: "\n").contains { $0.split(separator: "\t").last == "vfat" }
            || FileManager.default.isExecutableFile(atPath: "/sbin/mount.vfat")
    }

    /// mtools is installed: kaplan then reads and writes the ESP without the kernel's vfat (KaplanLinux/StagedFAT.swift).
    static var hasMtools: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/mcopy") }

    // MARK: the proof

    @Test func biosGoldenClonedToTwoNodesBootsBoth() throws {
        guard Lab.bootProofReady() else { return }
        let lab = try Workspace(plan: "boot-bios.yaml")
        defer { lab.release() }
        try lab.buildGolden(firmware: "bios", into: "lab/debian-golden-bios.img")
        let goldenRoot = try lab.filesystemUUID(image: "lab/debian-golden-bios.img", partition: 1)
        try lab.makeImage("lab/boot-node1.img", bytes: lab.size(of: "lab/debian-golden-bios.img"))  // the golden's size
        try lab.makeImage("lab/boot-node2.img", bytes: 3 << 30)  // larger

        let applied = try Self.deploy(lab: lab)
        #expect(applied.status == 0, "apply failed (exit \(applied.status)):\n\(applied.output)")
        #expect(applied.output.contains("node1  OK") && applied.output.contains("node2  OK"), "\(applied.output)")
        #expect(Lab.mounts(under: "/run/kaplan/boot-").isEmpty, "mounts left under /run/kaplan")
        for image in ["lab/boot-node1.img", "lab/boot-node2.img", "lab/debian-golden-bios.img"] {
            #expect(Lab.loops(of: lab.path(image)).isEmpty, "loop devices left on \(image)")
        }
        guard applied.status == 0 else { return }

        for (node, image) in [("node1", "lab/boot-node1.img"), ("node2", "lab/boot-node2.img")] {
            let rootUUID = try lab.filesystemUUID(image: image, partition: 1)
            #expect(rootUUID != goldenRoot, "\(node) kept the golden's root UUID")
            let stamp = try lab.stamp(image: image, rootPartition: 1)
            #expect(stamp.contains(rootUUID), "\(node)'s /var/lib/kaplan/stamp.json does not name its root \(rootUUID):\n\(stamp)")
            let boot = try lab.boot(image: image, firmware: "bios", hostname: node, rootUUID: rootUUID)
            #expect(boot.status == 0, "\(node) did not boot as itself:\n\(boot.output)")
        }
    }

    @Test func uefiGoldenClonedToAGPTNodeBootsWithOVMF() throws {
        guard Lab.bootProofReady() else { return }
        let lab = try Workspace(plan: "boot-uefi.yaml")
        defer { lab.release() }
        try lab.buildGolden(firmware: "uefi", into: "lab/debian-golden-uefi.img")
        // The golden itself boots with OVMF: the firmware, the ESP's GRUB and the marker work before any clone.
        let goldenRoot = try lab.filesystemUUID(image: "lab/debian-golden-uefi.img", partition: 2)
        let golden = try lab.boot(image: "lab/debian-golden-uefi.img", firmware: "uefi", hostname: "golden", rootUUID: goldenRoot)
        #expect(golden.status == 0, "the UEFI golden did not boot:\n\(golden.output)")
        guard Self.kernelHasVFAT || Self.hasMtools else {
            // Without vfat in the kernel, kaplan reads and writes the ESP with mtools; without either it cannot.
            print("SKIP UEFI clone: this kernel cannot mount vfat and mtools is not installed (scripts/setup installs it); the UEFI golden booted")
            return
        }
        if !Self.kernelHasVFAT { print("boot proof: this kernel cannot mount vfat; kaplan stages the ESP with mtools") }
        try lab.makeImage("lab/boot-node3.img", bytes: 2 << 30)
        let applied = try Self.deploy(lab: lab)
        #expect(applied.status == 0, "apply failed (exit \(applied.status)):\n\(applied.output)")
        #expect(Lab.mounts(under: "/run/kaplan/boot-").isEmpty, "mounts left under /run/kaplan")
        guard applied.status == 0 else { return }
        let rootUUID = try lab.filesystemUUID(image: "lab/boot-node3.img", partition: 2)
        #expect(rootUUID != goldenRoot)
        let boot = try lab.boot(image: "lab/boot-node3.img", firmware: "uefi", hostname: "node3", rootUUID: rootUUID)
        #expect(boot.status == 0, "node3 did not boot as itself with OVMF:\n\(boot.output)")
    }

    // MARK: deployment

    /// Deploys the lab's plan to its nodes over the chain transport: the golden's `kaplan apply` in a network
    /// namespace, one `kaplan agent` per node in its own namespace writing that node's image
    /// (Tests/lab/chain-deploy.sh; the lab is torn down whatever happens).
    static func deploy(lab: Workspace) throws -> Workspace.Run {
        let key = lab.path("plans/lab/session.key")
        if !FileManager.default.fileExists(atPath: key) {
            let bytes = (0..<32).map { _ in UInt8.random(in: 0...255) }
            FileManager.default.createFile(atPath: key, contents: Data(bytes), attributes: [.posixPermissions: 0o600])
        }
        let nodes = lab.plan == "boot-bios.yaml"
            ? ["node1=\(lab.path("plans/lab/boot-node1.img"))", "node2=\(lab.path("plans/lab/boot-node2.img"))"]
            : ["node3=\(lab.path("plans/lab/boot-node3.img"))"]
        let started = Date()
        let run = try lab.run(
            "/bin/bash",
            [Workspace.script("chain-deploy.sh"), "--kaplan", KaplanBinary.url.path, "--logs", lab.path("agent-logs"), "plans/\(lab.plan)"]
                + nodes,
            timeout: 1800, environment: ["KAPLAN_JOURNAL_DIR": lab.path("journal")])
        print("boot proof: kaplan apply plans/\(lab.plan) over the chain took \(Int(Date().timeIntervalSince(started))) s (exit \(run.status))")
        print(run.output.split(separator: "\n").suffix(8).joined(separator: "\n"))
        if run.status != 0 {
            for file in (try? FileManager.default.contentsOfDirectory(atPath: lab.path("agent-logs"))) ?? [] {
                print("== \(file)\n" + ((try? String(contentsOfFile: lab.path("agent-logs/\(file)"), encoding: .utf8)) ?? "").suffix(3000))
            }
        }
        return run
    }
}

extension BootProofTests {
    /// A temporary directory laid out like the repository (`plans/PLAN` beside `plans/lab/`), so that the shipped plan
    /// runs unchanged with its plan-relative image paths; it releases every loop device it or kaplan left on its files.
    final class Workspace: Sendable {
        /// What a program run produced.
        struct Run {
            var status: Int32
            var output: String
        }

        let url: URL
        let plan: String

        init(plan: String) throws {
            self.plan = plan
            url = URL(fileURLWithPath: "/tmp").appendingPathComponent("kaplan-boot-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: url.appendingPathComponent("plans/lab"), withIntermediateDirectories: true)
            try FileManager.default.copyItem(
                at: KaplanBinary.packageRoot.appendingPathComponent("plans/\(plan)"), to: url.appendingPathComponent("plans/\(plan)"))
        }

        func path(_ relative: String) -> String {
            relative.hasPrefix("lab/") ? url.appendingPathComponent("plans/" + relative).path : url.appendingPathComponent(relative).path
        }

        static func script(_ name: String) -> String { KaplanBinary.packageRoot.appendingPathComponent("Tests/lab/\(name)").path }

        /// Builds the golden (or copies it from the script's cache, /var/cache/kaplan-lab).
        func buildGolden(firmware: String, into image: String) throws {
            let started = Date()
            let r = try run("/bin/bash", [Self.script("make-debian-golden.sh"), "--firmware", firmware, path(image)], timeout: 1500)
            print("boot proof: golden (\(firmware)) ready in \(Int(Date().timeIntervalSince(started))) s: \(r.output.split(separator: "\n").last ?? "")")
            guard r.status == 0 else { throw Failure(description: "make-debian-golden.sh --firmware \(firmware) failed:\n\(r.output)") }
        }

        /// Boots an image with boot-clone.sh and returns its verdict.
        func boot(image: String, firmware: String, hostname: String, rootUUID: String) throws -> Run {
            let log = path("\(hostname)-\(firmware).serial.log")
            let r = try run(
                "/bin/bash",
                [Self.script("boot-clone.sh"), path(image), "--firmware", firmware, "--hostname", hostname, "--root-uuid", rootUUID, "--timeout", "420", "--log", log],
                timeout: 480)
            print(r.output.split(separator: "\n").first.map(String.init) ?? "boot-clone.sh printed nothing")
            return r
        }

        func makeImage(_ image: String, bytes: UInt64) throws {
            FileManager.default.createFile(atPath: path(image), contents: nil)
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path(image)))
            try handle.truncate(atOffset: bytes)
            try handle.close()
        }

        func size(of image: String) throws -> UInt64 {
            (try FileManager.default.attributesOfItem(atPath: path(image))[.size] as? NSNumber)?.uint64Value ?? 0
        }

        /// Start and size in bytes of partition `number` of an image, from its table.
        func partition(_ image: String, _ number: Int) throws -> (start: Int, size: Int) {
            let json = try run("/sbin/sfdisk", ["-J", path(image)], timeout: 30).output
            guard let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
                let parts = (object["partitiontable"] as? [String: Any])?["partitions"] as? [[String: Any]],
                let p = parts.first(where: { ($0["node"] as? String)?.hasSuffix(String(number)) == true }),
                let start = p["start"] as? Int, let size = p["size"] as? Int
            else { throw Failure(description: "cannot read partition \(number) of \(image): \(json)") }
            return (start * 512, size * 512)
        }

        /// Runs `body` with partition `number` of `image` on a read-only loop device, always detached afterwards.
        func withLoop<T>(_ image: String, _ number: Int, _ body: (String) throws -> T) throws -> T {
            let p = try partition(image, number)
            let loop = try run("/sbin/losetup", ["-r", "-f", "--show", "-o", String(p.start), "--sizelimit", String(p.size), path(image)], timeout: 30)
                .output.trimmingCharacters(in: .whitespacesAndNewlines)
            guard loop.hasPrefix("/dev/loop") else { throw Failure(description: "losetup failed on \(image)#\(number): \(loop)") }
            defer { _ = try? run("/sbin/losetup", ["-d", loop], timeout: 30) }
            return try body(loop)
        }

        /// The filesystem UUID of a partition, read from the image.
        func filesystemUUID(image: String, partition number: Int) throws -> String {
            let uuid = try withLoop(image, number) { loop in
                try run("/sbin/blkid", ["-p", "-s", "UUID", "-o", "value", loop], timeout: 30).output.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            guard !uuid.isEmpty else { throw Failure(description: "no filesystem UUID on \(image)#\(number)") }
            return uuid
        }

        /// The clone's /var/lib/kaplan/stamp.json, read from its root (mounted read-only, no journal replay).
        func stamp(image: String, rootPartition: Int) throws -> String {
            try withLoop(image, rootPartition) { loop in
                let dir = path("mnt-\(UUID().uuidString.prefix(6))")
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                defer { try? FileManager.default.removeItem(atPath: dir) }
                let m = try run("/bin/mount", ["-t", "ext4", "-o", "ro,noload", loop, dir], timeout: 60)
                guard m.status == 0 else { throw Failure(description: "cannot mount \(image)#\(rootPartition): \(m.output)") }
                defer { _ = try? run("/bin/umount", [dir], timeout: 60) }
                return (try? String(contentsOfFile: dir + "/var/lib/kaplan/stamp.json", encoding: .utf8)) ?? "(no /var/lib/kaplan/stamp.json)"
            }
        }

        /// Runs a program with a hard time limit (killed by PID), in the lab directory, output and errors together.
        func run(_ program: String, _ arguments: [String], timeout: Double, environment: [String: String] = [:]) throws -> Run {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: program)
            process.arguments = arguments
            process.currentDirectoryURL = url
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = pipe
            process.standardInput = FileHandle.nullDevice
            try process.run()
            nonisolated(unsafe) var data = Data()
            let group = DispatchGroup()
            group.enter()
            DispatchQueue.global().async {
                data = pipe.fileHandleForReading.readDataToEndOfFile()
                group.leave()
            }
            let deadline = Date().addingTimeInterval(timeout)
            while process.isRunning && Date() < deadline { usleep(50_000) }
            if process.isRunning {
                // TERM first: both lab scripts and kaplan clean up their loops, mounts and QEMU on it.
                kill(process.processIdentifier, SIGTERM)
                let grace = Date().addingTimeInterval(30)
                while process.isRunning && Date() < grace { usleep(50_000) }
                if process.isRunning { kill(process.processIdentifier, SIGKILL) }
                process.waitUntilExit()
                group.wait()
                throw Failure(description: "\(program) \(arguments.joined(separator: " ")) did not finish within \(Int(timeout)) s and was killed:\n"
                    + String(decoding: data, as: UTF8.self).split(separator: "\n").suffix(30).joined(separator: "\n"))
            }
            process.waitUntilExit()
            group.wait()
            return Run(status: process.terminationStatus, output: String(decoding: data, as: UTF8.self))
        }

        /// Detaches whatever is still attached to the lab's files and removes the directory.
        func release() {
            for m in Lab.mounts(under: url.path).sorted(by: { $0.count > $1.count }) { Lab.sh("/bin/umount", ["-l", m]) }
            for dir in [url.appendingPathComponent("plans/lab").path, url.path] {
                for file in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] {
                    for l in Lab.loops(of: dir + "/" + file) { Lab.sh("/sbin/losetup", ["-d", l]) }
                }
            }
            try? FileManager.default.removeItem(at: url)
        }

        struct Failure: Error, CustomStringConvertible { var description: String }
    }
}

/// What the boot proof needs beyond the disk lab: QEMU and debootstrap.
extension Lab {
    /// Why this machine cannot run the boot proof, or nil when it can.
    static let bootProofUnavailableReason: String? = {
        if let reason = unavailableReason { return reason }
        for tool in ["/usr/bin/qemu-system-x86_64", "/usr/sbin/debootstrap", "/sbin/blkid", "/sbin/ip"] where !FileManager.default.isExecutableFile(atPath: tool) {
            return "\(tool) is missing (scripts/setup installs qemu-system-x86, debootstrap, iproute2)"
        }
        // The deployment goes over the chain between network namespaces.
        if Lab.sh("/sbin/ip", ["netns", "list"]).status != 0 { return "network namespaces are not available (ip netns list fails)" }
        return nil
    }()

    /// Run the boot proof when it can run, or when it is required (then it fails with the reason).
    static var bootProofEnabled: Bool {
        if let reason = bootProofUnavailableReason, !required {
            print("SKIP boot proof: \(reason) (set KAPLAN_REQUIRE_LAB=1 to make this a failure)")
            return false
        }
        return true
    }

    /// Records a failure when the boot proof is required but cannot run; true when the test may go on.
    static func bootProofReady() -> Bool {
        if let reason = bootProofUnavailableReason {
            Issue.record("the boot proof is required here (KAPLAN_REQUIRE_LAB=1) but cannot run: \(reason)")
            return false
        }
        return true
    }
}
