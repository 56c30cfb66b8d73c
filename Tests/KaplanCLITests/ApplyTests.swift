import Foundation
import Testing

/// `kaplan apply` for real (root): a golden image with every kind of file, applied to image targets in dos and
/// gpt, then checked byte for byte, attribute for attribute; failures leave no mount and no loop behind.
@Suite(.serialized, .enabled(if: Lab.enabled)) struct ApplyTests {
    static let dosPlan = """
        version: 1
        name: apply-dos
        golden: { image: golden.img }
        table: dos
        partitions:
          - { id: root, type: linux, size: 30%, filesystem: ext4, mount: /, bootable: true, label: root }
          - { id: swap, type: swap, size: 64MiB }
          - { id: home, type: linux, size: fill, filesystem: xfs, mount: /home }
        exclude: { paths: [/scratch] }
        nodes: { list: [{ name: node01, image: n1.img }] }
        fixups: { ssh-host-keys: keep }     # the lab golden has host keys but no ssh-keygen

        """

    static let gptPlan = """
        version: 1
        name: apply-gpt
        golden: { image: golden.img }
        table: gpt
        partitions:
          - { id: root, type: linux, size: 500MiB, filesystem: ext4, mount: /, name: root }
          - { id: home, type: linux, size: 400MiB, filesystem: xfs, mount: /home, name: home }
          - { id: swap, type: swap, size: fill, name: swap }
        exclude: { paths: [/scratch] }
        nodes: { list: [{ name: node02, image: n2.img }] }
        fixups: { ssh-host-keys: keep }

        """

    /// Files the fix-ups rewrite, and what the deployment adds: compared separately.
    static let changed = [
        "etc/fstab", "etc/hostname", "etc/hosts", "etc/machine-id", "etc/initramfs-tools", "etc/udev/rules.d/70-persistent-net.rules",
        "var/lib/dhcp", "var/lib/kaplan", "scratch", "lost+found", "home/lost+found",
    ]

    func blkid(_ lab: LabDirectory, _ image: String, _ number: Int) -> String {
        // The UUID of a partition's filesystem, read from the image.
        let json = Lab.sh("/sbin/sfdisk", ["-J", lab.path(image)]).output
        let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        let parts = (object?["partitiontable"] as? [String: Any])?["partitions"] as? [[String: Any]] ?? []
        guard let p = parts.first(where: { ($0["node"] as? String)?.hasSuffix(String(number)) == true }),
            let start = p["start"] as? Int, let size = p["size"] as? Int
        else { return "?" }
        let loop = Lab.sh("/sbin/losetup", ["-r", "-f", "--show", "-o", String(start * 512), "--sizelimit", String(size * 512), lab.path(image)])
            .output.trimmingCharacters(in: .whitespacesAndNewlines)
        defer { Lab.sh("/sbin/losetup", ["-d", loop]) }
        return Lab.sh("/sbin/blkid", ["-s", "UUID", "-o", "value", loop]).output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func applyAndVerify(plan: String, image: String, mib: Int, node: String, root: Int, home: Int, swap: Int) throws {
        guard Lab.ready() else { return }
        let lab = try LabDirectory()
        try lab.makeGolden()
        try lab.makeImage(image, mib: mib)
        try plan.write(toFile: lab.path("plan.yaml"), atomically: true, encoding: .utf8)
        let goldenBefore = Lab.sh("/usr/bin/sha256sum", [lab.path("golden.img")]).output
        let run = try KaplanBinary.run(["apply", "plan.yaml", "--local", "--auto-approve"], in: lab.url, timeout: 600)
        print(run.stdout.split(separator: "\n").suffix(6).joined(separator: "\n"))
        #expect(run.status == 0, "apply failed:\n\(run.stdout)\n\(run.stderr)")
        #expect(run.stdout.contains("\(node)  OK"))
        #expect(Lab.loops(of: lab.path(image)).isEmpty && Lab.loops(of: lab.path("golden.img")).isEmpty, "loops left attached")
        #expect(Lab.mounts(under: "/run/kaplan/apply-").isEmpty, "mounts left under /run/kaplan")
        #expect(Lab.sh("/usr/bin/sha256sum", [lab.path("golden.img")]).output == goldenBefore, "the golden image was modified")

        // Trees identical, but for what the fix-ups change on purpose.
        try lab.mountPartition("golden.img", 1, at: lab.path("g"), type: "ext4")
        try lab.mountPartition("golden.img", 3, at: lab.path("g/home"), type: "xfs")
        try lab.mountPartition(image, root, at: lab.path("c"), type: "ext4")
        try lab.mountPartition(image, home, at: lab.path("c/home"), type: "xfs")
        let cmp = Lab.sh("/usr/bin/python3", [KaplanBinary.packageRoot.appendingPathComponent("Tests/lab/treecmp.py").path, lab.path("g"), lab.path("c"), "--changed"] + Self.changed)
        print(cmp.output)
        #expect(cmp.status == 0, "the clone differs from the golden:\n\(cmp.output)")
        // The excluded directory: present, empty, with the golden's mode and owner.
        let scratch = try FileManager.default.attributesOfItem(atPath: lab.path("c/scratch"))
        #expect((scratch[.posixPermissions] as? Int) == 0o1770)
        #expect((scratch[.ownerAccountID] as? Int) == 1234 && (scratch[.groupOwnerAccountID] as? Int) == 5678)
        #expect(try FileManager.default.contentsOfDirectory(atPath: lab.path("c/scratch")).isEmpty)
        // Fix-ups: fstab names the new filesystems, the node has its own name and an empty machine-id.
        let fstab = try String(contentsOfFile: lab.path("c/etc/fstab"), encoding: .utf8)
        let rootUUID = blkid(lab, image, root), homeUUID = blkid(lab, image, home), swapUUID = blkid(lab, image, swap)
        #expect(fstab.contains("UUID=\(rootUUID)") && fstab.contains("UUID=\(homeUUID)") && fstab.contains("UUID=\(swapUUID)"), "fstab:\n\(fstab)")
        #expect(try String(contentsOfFile: lab.path("c/etc/hostname"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) == node)
        #expect(try String(contentsOfFile: lab.path("c/etc/hosts"), encoding: .utf8).contains(node))
        #expect(try String(contentsOfFile: lab.path("c/etc/machine-id"), encoding: .utf8).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: lab.path("c/etc/udev/rules.d/70-persistent-net.rules")))
        lab.unmountAll()
        // The node now matches: a second diff has nothing to do.
        let again = try KaplanBinary.run(["diff", "plan.yaml", "--detailed-exitcode"], in: lab.url)
        #expect(again.status == 0, "second diff:\n\(again.stdout)")
        #expect(again.stdout.contains("No changes."))
    }

    @Test func dosTargetLargerThanTheGoldenWithPercentAndFill() throws {
        try applyAndVerify(plan: Self.dosPlan, image: "n1.img", mib: 2048, node: "node01", root: 1, home: 3, swap: 2)
    }

    @Test func gptTarget() throws {
        try applyAndVerify(plan: Self.gptPlan, image: "n2.img", mib: 1100, node: "node02", root: 1, home: 2, swap: 3)
    }

    @Test func targetTooSmallIsRefusedBeforeAnyWrite() throws {
        guard Lab.ready() else { return }
        let lab = try LabDirectory()
        try lab.makeGolden()
        try lab.makeImage("n1.img", mib: 500)
        try Self.dosPlan.write(toFile: lab.path("plan.yaml"), atomically: true, encoding: .utf8)
        let before = Lab.sh("/usr/bin/sha256sum", [lab.path("n1.img")]).output
        let run = try KaplanBinary.run(["apply", "plan.yaml", "--local", "--auto-approve"], in: lab.url, timeout: 300)
        #expect(run.status == 1)
        #expect(run.stderr.contains("node01.format[home]") && run.stderr.contains("mkfs.xfs needs at least 300MiB"), "\(run.stdout)\(run.stderr)")
        #expect(run.stderr.contains("nothing was written"))
        #expect(Lab.sh("/usr/bin/sha256sum", [lab.path("n1.img")]).output == before)
        #expect(Lab.loops(of: lab.path("n1.img")).isEmpty && Lab.mounts(under: "/run/kaplan/apply-").isEmpty)
    }

    @Test func failureMidRunNamesNodeAndStepAndCleansUp() throws {
        guard Lab.ready() else { return }
        let lab = try LabDirectory()
        try lab.makeGolden()
        try lab.makeImage("n1.img", mib: 2048)
        let plan = Self.dosPlan.replacingOccurrences(
            of: "filesystem: xfs, mount: /home }", with: "filesystem: xfs, mount: /home, mkfs-options: [--no-such-option] }")
        try plan.write(toFile: lab.path("plan.yaml"), atomically: true, encoding: .utf8)
        let run = try KaplanBinary.run(["apply", "plan.yaml", "--local", "--auto-approve"], in: lab.url, timeout: 300)
        #expect(run.status == 1, "\(run.stdout)\(run.stderr)")
        #expect(run.stdout.contains("node01.format[home] FAILED: mkfs.xfs failed (exit 1)"), "\(run.stdout)")
        #expect(run.stdout.contains("node01  KO"))
        #expect(Lab.loops(of: lab.path("n1.img")).isEmpty, "loops left: \(Lab.loops(of: lab.path("n1.img")))")
        #expect(Lab.loops(of: lab.path("golden.img")).isEmpty)
        #expect(Lab.mounts(under: "/run/kaplan/apply-").isEmpty)
        // The same failure as JSON lines: every line matches schemas/events.schema.json.
        let json = try KaplanBinary.run(["apply", "plan.yaml", "--local", "--auto-approve", "--format", "json"], in: lab.url, timeout: 300)
        #expect(json.status == 1)
        try json.stdout.write(toFile: lab.path("events.jsonl"), atomically: true, encoding: .utf8)
        let schema = KaplanBinary.packageRoot.appendingPathComponent("schemas/events.schema.json").path
        let check = Lab.sh("/usr/bin/env", [
            "python3", "-c",
            "import json,sys,jsonschema; s=json.load(open(sys.argv[1])); n=0\nfor line in open(sys.argv[2]):\n  jsonschema.validate(json.loads(line), s); n+=1\nprint(n, 'events valid')",
            schema, lab.path("events.jsonl"),
        ])
        #expect(check.status == 0, "\(check.output)")
        #expect(json.stdout.contains("\"event\":\"step-failed\",\"step\":\"node01.format[home]\",\"code\":\"mkfs-failed\""))
        #expect(json.stdout.contains("\"event\":\"report\",\"exitCode\":1"))
    }

    /// Ctrl-C during a deployment stops the steps, and every mount and loop device is still released.
    @Test func interruptLeavesNothingBehind() throws {
        guard Lab.ready() else { return }
        let lab = try LabDirectory()
        try lab.makeGolden()
        try lab.makeImage("n1.img", mib: 2048)
        try Self.dosPlan.write(toFile: lab.path("plan.yaml"), atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = KaplanBinary.url
        p.arguments = ["apply", "plan.yaml", "--local", "--auto-approve"]
        p.currentDirectoryURL = lab.url
        p.environment = ProcessInfo.processInfo.environment.merging(["KAPLAN_JOURNAL_DIR": lab.path("journal")]) { $1 }
        let out = FileHandle(forWritingAtPath: "/dev/null")
        let err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        // Let it get past the golden and into the node's steps (a whole run takes a few seconds), then interrupt.
        usleep(900_000)
        kill(p.processIdentifier, SIGINT)
        let deadline = Date().addingTimeInterval(120)
        while p.isRunning && Date() < deadline { usleep(50_000) }
        if p.isRunning {
            kill(p.processIdentifier, SIGKILL)
            Issue.record("kaplan apply did not stop within 120 s of SIGINT")
        }
        p.waitUntilExit()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        print("interrupted apply: exit \(p.terminationStatus); \(stderr.split(separator: "\n").first ?? "")")
        #expect(p.terminationReason == .exit, "killed by a signal instead of stopping cleanly")
        if p.terminationStatus != 0 { #expect(stderr.contains("interrupted"), "\(stderr)") }
        #expect(Lab.loops(of: lab.path("n1.img")).isEmpty && Lab.loops(of: lab.path("golden.img")).isEmpty, "loops left attached")
        #expect(Lab.mounts(under: "/run/kaplan/apply-").isEmpty, "mounts left under /run/kaplan")
    }

    @Test func refusesTheGoldenAndBusyTargets() throws {
        guard Lab.ready() else { return }
        let lab = try LabDirectory()
        try lab.makeGolden()
        try lab.makeImage("n1.img", mib: 2048)
        try Self.dosPlan.write(toFile: lab.path("plan.yaml"), atomically: true, encoding: .utf8)
        let golden = try KaplanBinary.run(["apply", "plan.yaml", "--local", "--auto-approve", "--target", "node01=golden.img"], in: lab.url)
        #expect(golden.status == 1)
        #expect(golden.stderr.contains("it is the golden"), "\(golden.stderr)")
        let loop = Lab.sh("/sbin/losetup", ["-f", "--show", lab.path("n1.img")]).output.trimmingCharacters(in: .whitespacesAndNewlines)
        defer { Lab.sh("/sbin/losetup", ["-d", loop]) }
        let busy = try KaplanBinary.run(["apply", "plan.yaml", "--local", "--auto-approve"], in: lab.url)
        #expect(busy.status == 1)
        #expect(busy.stderr.contains("loop device \(loop) is attached"), "\(busy.stderr)")
        let noConfirm = try KaplanBinary.run(["apply", "plan.yaml", "--local", "--target", "node01=n1.img"], in: lab.url)
        #expect(noConfirm.status == 1)
    }
}
