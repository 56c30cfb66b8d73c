import Foundation
import KaplanModel
import Testing

@testable import KaplanLoading

@Suite struct PlanLoaderTests {
    func load(_ text: String) -> PlanLoader.Output { PlanLoader().load(bytes: Array(text.utf8), file: "t.yaml") }

    func codes(_ text: String) -> [String] { load(text).diagnostics.filter { $0.severity == .error }.map(\.code) }

    static let base = """
        version: 1
        name: lab
        golden: { image: lab/golden.img }
        table: dos
        partitions:
          - { id: root, type: linux, size: 1GiB, filesystem: ext4, mount: / }
          - { id: swap, type: swap, size: 128MiB }
        nodes:
          list:
            - { name: "node[01-03]", address: "10.213.0.[11-13]", image: lab/n.img }
        security: { key-file: lab/session.key }

        """

    @Test func decodesAFullPlanWithDefaults() throws {
        let text = Self.base.replacingOccurrences(of: "lab/n.img", with: "/dev/sdb")
            .replacingOccurrences(of: "image: /dev/sdb", with: "disk: /dev/sdb")
        let output = load(text)
        #expect(output.diagnostics.isEmpty, "\(output.diagnostics)")
        let plan = try #require(output.validPlan)
        #expect(plan.nodes.map(\.name) == ["node01", "node02", "node03"])
        #expect(plan.nodes.map(\.address) == ["10.213.0.11", "10.213.0.12", "10.213.0.13"])
        #expect(plan.partitions[1].filesystem == .swap)
        #expect(plan.transport.kind == .chain)
        #expect(plan.transport.port == 30764)
        #expect(plan.transport.congestionControl == "cubic")
        #expect(plan.bootloader.kind == .none)
        #expect(plan.fixups.fstab == .uuid)
        #expect(plan.golden.source == .image(path: "lab/golden.img"))
    }

    @Test func chainCongestionControl() throws {
        let valid = Self.base.replacingOccurrences(of: "image: lab/n.img", with: "disk: /dev/sdb")
        func transport(_ line: String) -> PlanLoader.Output { load(valid + "transport: { kind: chain, \(line) }\n") }
        #expect(try #require(transport("congestion-control: bbr").validPlan).transport.congestionControl == "bbr")
        #expect(try #require(transport("congestion-control: system").validPlan).transport.congestionControl == nil)
        for bad in ["Cubic", "\"cubic \"", "a_name_of_16_chr", "\"\""] {
            let output = transport("congestion-control: \(bad)")
            #expect(output.validPlan == nil, "\(bad)")
            #expect(output.diagnostics.map(\.code) == ["invalid-value"], "\(bad): \(output.diagnostics)")
        }
        #expect(codes(valid + "transport: { kind: chain, congestion-control: 3 }\n") == ["wrong-type"])
        // Multicast has no TCP data links.
        #expect(codes(valid + "transport: { kind: multicast, group: 239.1.1.1, congestion-control: cubic }\n")
            == ["key-for-other-transport"])
    }

    @Test func reportsEveryProblemAtOnce() {
        let text = """
            version: 1
            name: lab
            golden: { disk: /dev/sda }
            table: gpt
            partitions:
              - { id: root, type: linux, size: fill, filesytem: ext4, mount: / }
              - { id: ext, type: extended, size: 10MiB }
            nodes: { count: "3" }
            transport: { kind: multicast, group: 10.1.2.3, order: name }

            """
        let found = Set(codes(text))
        #expect(found.isSuperset(of: ["unknown-key", "wrong-type", "key-for-other-transport"]))
    }

    @Test func didYouMeanForMisspeltKeys() throws {
        let output = load(Self.base.replacingOccurrences(of: "security:", with: "securty:"))
        let d = try #require(output.diagnostics.first { $0.code == "unknown-key" })
        #expect(d.hint == "did you mean 'security'?")
        #expect(d.range.start.line == 11 && d.range.start.column == 1)
    }

    @Test func semanticChecksRunOnADecodedPlan() {
        let text = """
            version: 1
            name: lab
            golden: { disk: /dev/sda }
            table: dos
            partitions:
              - { id: root, type: linux, size: fill, filesystem: ext4, mount: / }
              - { id: a, type: linux, size: 1GiB }
              - { id: b, type: linux, size: 1GiB }
              - { id: c, type: linux, size: 1GiB }
              - { id: d, type: linux, size: 1GiB, logical: true }
              - { id: a, type: swap, size: 1GiB, mount: /home }
            exclude: { disks: [sda] }
            nodes: { count: 2 }
            bootloader: { kind: grub-efi }

            """
        let found = Set(codes(text))
        for code in [
            "fill-not-last", "too-many-primaries", "logical-without-extended", "duplicate-id", "mount-without-filesystem",
            "excluded-golden", "excluded-target", "grub-efi-without-esp",
        ] {
            #expect(found.contains(code), "missing \(code) in \(found.sorted())")
        }
    }

    @Test func layoutMustFitADeclaredDiskSize() throws {
        let text = Self.base.replacingOccurrences(of: "image: lab/n.img", with: "image: lab/n.img, disk-size: 1100MiB")
        let d = try #require(load(text).diagnostics.first { $0.code == "layout-too-large" })
        #expect(d.message.contains("'swap'"))
        #expect(d.range.start.line == 7)
    }

    @Test func strictScalarTyping() {
        #expect(Scalar.classifyPlain("3") == .integer("3"))
        #expect(Scalar.classifyPlain("0x83") == .string("0x83"))
        #expect(Scalar.classifyPlain("yes") == .string("yes"))
        #expect(Scalar.classifyPlain("1.5") == .number(1.5))
        #expect(Scalar.classifyPlain("~") == .null)
        #expect(Scalar.classifyPlain("1.2.3") == .string("1.2.3"))
        #expect(codes(Self.base.replacingOccurrences(of: "version: 1", with: "version: \"1\"")) == ["wrong-type"])
    }

    @Test func mergeKeysApplyWithLowerPrecedence() throws {
        let text = """
            version: 1
            name: lab
            golden: { image: g.img }
            table: dos
            partitions:
              - &p { id: root, type: linux, size: 1GiB, filesystem: ext4, mount: / }
              - { <<: *p, id: data, mount: /data }
            nodes: { list: [{ name: n1, image: n1.img }] }

            """
        let plan = try #require(load(text).validPlan)
        #expect(plan.partitions[1].id == "data")
        #expect(plan.partitions[1].mount == "/data")
        #expect(plan.partitions[1].filesystem == .ext4)
    }

    @Test func nameRanges() throws {
        #expect(try NameRange.expand("node[01-03]", limit: 10).get() == ["node01", "node02", "node03"])
        #expect(try NameRange.expand("rack1-n[8-10]", limit: 10).get() == ["rack1-n8", "rack1-n9", "rack1-n10"])
        #expect(throws: NameRange.Problem.self) { try NameRange.expand("node[05-01]", limit: 10).get() }
        #expect(throws: NameRange.Problem.self) { try NameRange.expand("node[1-100]", limit: 10).get() }
        #expect(throws: NameRange.Problem.self) { try NameRange.expand("bad_name", limit: 10).get() }
        #expect(try NameRange.expandAddress("10.0.0.[254-255]").get() == ["10.0.0.254", "10.0.0.255"])
        #expect(throws: NameRange.Problem.self) { try NameRange.expandAddress("10.0.0.[250-256]").get() }
        #expect(NameRange.normaliseMAC("52-54-00-AB-CD-EF") == "52:54:00:ab:cd:ef")
        #expect(NameRange.isIPv6("fe80::1") && !NameRange.isIPv6("fe80:::1"))
    }

    @Test func suggestions() {
        #expect(Suggestions.closest(to: "filesytem", in: PlanKeys.partition) == "filesystem")
        #expect(Suggestions.closest(to: "mount_options", in: PlanKeys.partition) == "mount-options")
        #expect(Suggestions.closest(to: "zzzzzz", in: PlanKeys.partition) == nil)
    }

    @Test func diagnosticsAreDeterministic() {
        let text = Self.base + "bogus: 1\nalso: 2\n"
        #expect(load(text).diagnostics == load(text).diagnostics)
    }
}
