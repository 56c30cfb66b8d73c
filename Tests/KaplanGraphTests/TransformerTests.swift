import KaplanLoading
import KaplanModel
import Testing

@testable import KaplanGraph

/// Each transformer, on its own, against a small plan.
@Suite struct TransformerTests {
    static let planText = """
        version: 1
        name: t
        golden: { image: g.img }
        table: dos
        partitions:
          - { id: root, type: linux, size: 2GiB, filesystem: ext4, mount: / }
          - { id: swap, type: swap, size: 256MiB }
          - { id: var, type: linux, size: 1GiB, filesystem: xfs, mount: /var }
          - { id: log, type: linux, size: fill, filesystem: ext4, mount: /var/log }
        nodes: { list: [{ name: n1, image: n1.img }, { name: n2, image: n2.img }] }
        bootloader: { kind: grub-bios }
        fixups: { ssh-host-keys: keep, commands: [[systemctl, enable, ssh], [true]] }

        """

    let plan: Plan

    init() throws {
        plan = try #require(PlanLoader().load(bytes: Array(Self.planText.utf8), file: "t.yaml").validPlan)
    }

    func run(_ transformers: [any GraphTransformer]) -> StepGraph {
        var g = StepGraph()
        for t in transformers { t.apply(to: &g, plan: plan) }
        return g
    }

    func deps(_ g: StepGraph, _ address: String) -> [String] {
        g.steps.values.first { $0.address.description == address }?.dependencies.map(\.description) ?? ["<missing>"]
    }

    @Test func goldenSnapshotThenServe() {
        let g = run([GoldenSteps()])
        #expect(g.steps.count == 2)
        #expect(deps(g, "golden.serve") == ["golden.snapshot"])
    }

    @Test func onePartitionStepPerNodeNamedAfterTheDisk() {
        let g = run([PartitionSteps()])
        #expect(Set(g.steps.keys.map(\.description)) == ["n1.partition[n1.img]", "n2.partition[n2.img]"])
    }

    @Test func formatsFollowTheTable() {
        let g = run([PartitionSteps(), FormatSteps()])
        #expect(g.steps(of: "n1").filter { $0.address.kind == .format }.count == 4)
        #expect(deps(g, "n1.format[swap]") == ["n1.partition[n1.img]"])
    }

    @Test func mountsParentsBeforeChildren() {
        let g = run([PartitionSteps(), FormatSteps(), MountSteps()])
        #expect(deps(g, "n1.mount[/]") == ["n1.format[root]"])
        #expect(deps(g, "n1.mount[/var]") == ["n1.format[var]", "n1.mount[/]"])
        #expect(deps(g, "n1.mount[/var/log]") == ["n1.format[log]", "n1.mount[/var]"])
    }

    @Test func streamAfterEveryMountSwapAndTheGolden() {
        let g = run([GoldenSteps(), PartitionSteps(), FormatSteps(), MountSteps(), StreamSteps()])
        #expect(deps(g, "n2.stream") == ["golden.serve", "n2.format[swap]", "n2.mount[/]", "n2.mount[/var/log]", "n2.mount[/var]"])
    }

    @Test func fixupsSkipWhatThePlanKeepsAndCommandsRunInOrder() {
        let g = run([StreamSteps(), FixupSteps()])
        let names = Set(g.steps(of: "n1").filter { $0.address.kind == .fixup }.compactMap(\.address.argument))
        #expect(names == ["fstab", "hostname", "machine-id", "network", "resume", "command-1", "command-2"])
        #expect(deps(g, "n1.fixup[command-2]") == ["n1.fixup[command-1]"])
        #expect(deps(g, "n1.fixup[command-1]").contains("n1.fixup[fstab]"))
    }

    @Test func initrdBeforeBootloader() {
        let g = run([StreamSteps(), FixupSteps(), BootSteps()])
        #expect(deps(g, "n1.bootloader") == ["n1.initrd"])
        #expect(deps(g, "n1.initrd").contains("n1.fixup[command-2]"))
    }

    @Test func recordAfterTheLastWriterThenUnmountChildrenFirstThenVerify() {
        let g = GraphBuilder().build(plan)
        #expect(deps(g, "n1.record") == ["n1.bootloader"])
        #expect(deps(g, "n1.unmount[/var/log]") == ["n1.record"])
        #expect(deps(g, "n1.unmount[/var]") == ["n1.record", "n1.unmount[/var/log]"])
        #expect(deps(g, "n1.unmount[/]") == ["n1.record", "n1.unmount[/var]"])
        #expect(deps(g, "n1.verify") == ["n1.unmount[/]"])
    }

    @Test func orderIsTopologicalAndDeterministic() throws {
        let g = GraphBuilder().build(plan)
        let order = try g.ordered()
        var seen = Set<StepAddress>()
        for step in order {
            for dep in step.dependencies { #expect(seen.contains(dep), "\(step.address) before \(dep)") }
            seen.insert(step.address)
        }
        #expect(try GraphRenderer.text(g, title: "t") == GraphRenderer.text(GraphBuilder().build(plan), title: "t"))
    }

    @Test func cyclesAndMissingStepsAreReported() {
        var g = StepGraph()
        let a = StepAddress("n", .stream), b = StepAddress("n", .verify)
        g.add(Step(address: a, dependencies: [b], summary: "", detail: .verify(target: .image("x"))))
        g.add(Step(address: b, dependencies: [a], summary: "", detail: .verify(target: .image("x"))))
        #expect(throws: GraphError.self) { try g.ordered() }
        var h = StepGraph()
        h.add(Step(address: a, dependencies: [StepAddress("n", .mount, "/")], summary: "", detail: .verify(target: .image("x"))))
        #expect(throws: GraphError.missingDependency(StepAddress("n", .mount, "/"))) { try h.ordered() }
    }
}
