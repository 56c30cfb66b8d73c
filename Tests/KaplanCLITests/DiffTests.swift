import Foundation
import Testing

/// `kaplan diff` through the built binary, on sparse image files this test makes; it must never write.
@Suite struct DiffTests {
    let dir: URL

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("kaplan-diff-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let plan = """
            version: 1
            name: diff-lab
            golden: { image: golden.img }
            table: dos
            partitions:
              - { id: root, type: linux, size: 200MiB, filesystem: ext4, mount: / }
              - { id: swap, type: swap, size: 32MiB }
            nodes:
              list:
                - { name: n1, image: blank.img }
                - { name: n2, image: used.img }

            """
        try plan.write(to: dir.appendingPathComponent("plan.yaml"), atomically: true, encoding: .utf8)
        for name in ["blank.img", "used.img", "golden.img", "small.img"] {
            FileManager.default.createFile(atPath: dir.appendingPathComponent(name).path, contents: nil)
            let h = try FileHandle(forWritingTo: dir.appendingPathComponent(name))
            try h.truncate(atOffset: name == "small.img" ? 100 << 20 : 512 << 20)
            try h.close()
        }
        try tool("/sbin/sfdisk", ["-q", "used.img"], input: "label: dos\n,300M,83\n")
        try tool("/sbin/mkfs.ext4", ["-q", "-F", "-L", "precious", "-E", "offset=1048576", "used.img", "300M"])
    }

    func cleanup() { try? FileManager.default.removeItem(at: dir) }

    @discardableResult
    func tool(_ program: String, _ args: [String], input: String) throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: program)
        p.arguments = args
        p.currentDirectoryURL = dir
        let pipe = Pipe()
        p.standardInput = pipe
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        pipe.fileHandleForWriting.write(Data(input.utf8))
        try pipe.fileHandleForWriting.close()
        p.waitUntilExit()
        return p.terminationStatus
    }

    @discardableResult
    func tool(_ program: String, _ args: [String]) throws -> Int32 { try tool(program, args, input: "") }

    func fingerprints() throws -> [String: String] {
        var result: [String: String] = [:]
        for name in ["blank.img", "used.img", "small.img"] {
            let url = dir.appendingPathComponent(name)
            let data = try Data(contentsOf: url)
            let mtime = (try FileManager.default.attributesOfItem(atPath: url.path)[.modificationDate] as? Date)?.timeIntervalSince1970
            result[name] = "\(data.hashValue) \(mtime ?? 0)"
        }
        return result
    }

    @Test func showsChangesMarksDataLossAndWritesNothing() throws {
        defer { cleanup() }
        let before = try fingerprints()
        let run = try KaplanBinary.run(["diff", "plan.yaml", "--detailed-exitcode"], in: dir)
        #expect(run.status == 2, "\(run.stdout)\(run.stderr)")
        #expect(run.stdout.contains("n1  image \(dir.path)/blank.img (512MiB): "))
        #expect(run.stdout.contains("+ table"))
        #expect(run.stdout.contains("~ table") && run.stdout.contains("DESTROYS DATA"))
        #expect(run.stdout.contains("ext4 ") && run.stdout.contains("<-- destroys data"))
        #expect(run.stdout.contains("Plan: 2 nodes to change (1 destroying data), 0 unchanged."))
        #expect(try fingerprints() == before, "diff wrote to an image")
    }

    @Test func targetTooSmallIsAnErrorNamingNodeAndPartition() throws {
        defer { cleanup() }
        let run = try KaplanBinary.run(["diff", "plan.yaml", "--target", "n1=small.img"], in: dir)
        #expect(run.status == 1)
        #expect(run.stdout.contains("n1  image") && run.stdout.contains("error: the layout does not fit"))
        #expect(run.stdout.contains("'root'") || run.stdout.contains("'swap'"))
    }

    @Test func savedPlanRecordsDigests() throws {
        defer { cleanup() }
        let run = try KaplanBinary.run(["diff", "plan.yaml", "-o", "saved.json"], in: dir)
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        let saved = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("saved.json"))) as? [String: Any]
        #expect((saved?["planFileDigest"] as? String)?.count == 64)
        #expect((saved?["nodes"] as? [Any])?.count == 2)
    }

    @Test func sameTargetTwiceIsRefused() throws {
        defer { cleanup() }
        let run = try KaplanBinary.run(["diff", "plan.yaml", "--target", "n1=used.img"], in: dir)
        #expect(run.status == 64)
        #expect(run.stderr.contains("both target"))
    }
}
