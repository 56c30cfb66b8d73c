import Foundation
import KaplanEngine
import KaplanLoading
import KaplanModel
import Testing

@testable import KaplanLinux

@Suite struct DiskProbeTests {
    static let plan = """
        version: 1
        name: probe-lab
        golden: { image: golden.img }
        table: dos
        partitions:
          - { id: root, type: linux, size: 64MiB, filesystem: ext4, mount: / }
          - { id: data, type: linux, size: fill, filesystem: ext4, mount: /data }
        nodes: { list: [{ name: n1, image: n1.img }] }

        """

    @Test func blankImageReadsAsBlank() throws {
        let dir = try ScratchDirectory()
        let img = try dir.image("blank.img", size: 256 << 20)
        let before = try dir.fingerprint(img)
        let state = try DiskProbe.probe(path: img)
        #expect(state.sizeBytes == 256 << 20)
        #expect(state.table == nil && state.partitions.isEmpty && state.wholeDiskFilesystem == nil)
        #expect(try dir.fingerprint(img) == before)
    }

    @Test func partitionsAndFilesystemsAreSeenAndNothingIsWritten() throws {
        let dir = try ScratchDirectory()
        let img = try dir.image("old.img", size: 256 << 20)
        try dir.sh("/sbin/sfdisk", ["-q", img], input: "label: gpt\n,100M,L\n,50M,S\n")
        try dir.sh("/sbin/mkfs.ext4", ["-q", "-F", "-L", "olddata", "-E", "offset=1048576", img, "100M"])
        let before = try dir.fingerprint(img)
        let state = try DiskProbe.probe(path: img)
        #expect(try dir.fingerprint(img) == before, "probing wrote to the image")
        #expect(state.table == .gpt)
        #expect(state.partitions.map(\.number) == [1, 2])
        #expect(state.partitions[0].start == 2048 && state.partitions[0].sectors == 204_800)
        #expect(state.partitions[0].type == "0FC63DAF-8483-4772-8E79-3D69D8477DE4")
        #expect(state.partitions[0].filesystem?.type == "ext4")
        #expect(state.partitions[0].filesystem?.label == "olddata")
        #expect(state.partitions[1].filesystem == nil)
    }

    /// A disk laid out exactly as planned, with the stamp a deployment leaves: the planner says "No changes."
    @Test func alreadyDeployedDiskHasNoChanges() throws {
        let dir = try ScratchDirectory()
        let plan = try #require(PlanLoader().load(bytes: Array(Self.plan.utf8), file: "p.yaml").validPlan)
        let img = try dir.image("n1.img", size: 256 << 20)
        let layout = try Layout.resolve(table: .dos, partitions: plan.partitions, diskBytes: 256 << 20).get()
        let script = "label: dos\n" + layout.entries.map { "start=\($0.start), size=\($0.sectors), type=83" }.joined(separator: "\n") + "\n"
        try dir.sh("/sbin/sfdisk", ["-q", img], input: script)
        var uuids: [String: String] = [:]
        for (entry, uuid) in zip(layout.entries, ["11111111-2222-4333-8444-555555555555", "66666666-7777-4888-9999-aaaaaaaaaaaa"]) {
            try dir.sh("/sbin/mkfs.ext4", ["-q", "-F", "-U", uuid, "-E", "offset=\(entry.start * 512)", img, "\(entry.sectors / 2)k"])
            uuids[entry.id] = uuid
        }
        let node = plan.nodes[0]
        let stamp = DeploymentStamp(
            planName: plan.name, planDigest: PlanDigest.of(plan, node: node), streamDigest: "abc", goldenIdentity: "golden-1",
            node: node.name, uuids: uuids)
        let json = dir.path("stamp.json")
        try JSONEncoder().encode(stamp).write(to: URL(fileURLWithPath: json))
        let root = "\(img)?offset=\(layout.entries[0].start * 512)"
        for command in ["mkdir /var", "mkdir /var/lib", "mkdir /var/lib/kaplan", "write \(json) /var/lib/kaplan/stamp.json"] {
            try dir.sh("/sbin/debugfs", ["-w", "-R", command, root])
        }
        let before = try dir.fingerprint(img)
        let state = try DiskProbe.probe(path: img)
        #expect(try dir.fingerprint(img) == before, "probing wrote to the image")
        #expect(state.stamp == stamp)
        let changes = Planner().changes(plan: plan, node: node, observed: state, goldenIdentity: "golden-1")
        #expect(!changes.hasChanges, "\(changes.changes)")
        // Another golden means the files must be streamed again.
        #expect(Planner().changes(plan: plan, node: node, observed: state, goldenIdentity: "golden-2").hasChanges)
    }
}
