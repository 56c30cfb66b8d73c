import Foundation
import KaplanGraph
import KaplanLoading
import KaplanModel
import KaplanSimulator
import Testing

@testable import KaplanEngine

/// Collects events for assertions.
final class Recorder: ExecutionObserver, @unchecked Sendable {
    private let lock = NSLock()
    private var items: [ExecutionEvent] = []
    var events: [ExecutionEvent] { lock.withLock { items } }
    func handle(_ event: ExecutionEvent) { lock.withLock { items.append(event) } }
}

func loadPlan(_ text: String) throws -> Plan {
    let output = PlanLoader().load(bytes: Array(text.utf8), file: "t.yaml")
    return try #require(output.validPlan, "\(output.diagnostics)")
}

let labPlan = """
    version: 1
    name: lab
    golden: { image: golden.img }
    table: dos
    partitions:
      - { id: root, type: linux, size: 600MiB, filesystem: ext4, mount: / }
      - { id: swap, type: swap, size: 64MiB }
      - { id: home, type: linux, size: fill, filesystem: xfs, mount: /home }
    nodes:
      list:
        - { name: n1, image: n1.img }
        - { name: n2, image: n2.img }
        - { name: n3, image: n3.img }
    bootloader: { kind: grub-bios }
    policy: { retries: 1, min-success: 2 }

    """

@Suite struct PlannerTests {
    let plan: Plan
    init() throws { plan = try loadPlan(labPlan) }

    @Test func blankDiskIsCreatedWithoutDataLoss() {
        let c = Planner().changes(plan: plan, node: plan.nodes[0], observed: .blank(2 << 30), goldenIdentity: "g")
        #expect(c.problem == nil)
        #expect(c.changes.first { $0.subject == "table" }?.action == .create)
        #expect(c.changes.filter { $0.subject.hasPrefix("partition") }.allSatisfy { $0.action == .create })
        #expect(!c.destroysData)
        #expect(c.hasChanges)
    }

    @Test func differentTableIsReplacedAndMarkedDestructive() {
        let old = DeviceState(
            sizeBytes: 2 << 30, table: .gpt,
            partitions: [
                .init(number: 1, start: 2048, sectors: 1_000_000, type: "0FC63DAF-8483-4772-8E79-3D69D8477DE4", filesystem: .init(type: "ext4", uuid: "u1"))
            ])
        let c = Planner().changes(plan: plan, node: plan.nodes[0], observed: old, goldenIdentity: "g")
        #expect(c.changes.first { $0.subject == "table" }?.action == .replace)
        #expect(c.destroysData)
        #expect(c.changes.first { $0.subject == "filesystem root" }?.action == .replace)
    }

    @Test func tooSmallTargetIsAProblemNamingThePartition() {
        let c = Planner().changes(plan: plan, node: plan.nodes[1], observed: .blank(600 << 20), goldenIdentity: "g")
        #expect(c.problem?.contains("'root'") == true || c.problem?.contains("'swap'") == true)
        #expect(c.layout == nil)
    }
}

@Suite struct ExecutorTests {
    func setUp(_ plan: Plan, size: UInt64 = 2 << 30) async -> (SimulatedHost, [NodeChanges]) {
        let host = SimulatedHost(goldenBytes: 256 << 20)
        for node in plan.nodes { await host.addDisk(node: node.name, node.target.path, size: size) }
        var changes: [NodeChanges] = []
        for node in plan.nodes {
            let observed = try! await host.probe(node: node.name, target: node.target)
            changes.append(Planner().changes(plan: plan, node: node, observed: observed, goldenIdentity: "image:golden.img:\(256 << 20)"))
        }
        return (host, changes)
    }

    @Test func allNodesOKAndTraceFollowsTheGraph() async throws {
        let plan = try loadPlan(labPlan)
        let (host, changes) = await setUp(plan)
        let graph = GraphBuilder().build(plan)
        let result = await Executor(host: host, observer: Recorder()).run(plan: plan, graph: graph, changes: changes)
        #expect(result.exitCode == 0)
        #expect(result.outcomes.allSatisfy { $0.ok })
        let trace = await host.trace
        for node in plan.nodes {
            let expected = Set(graph.steps(of: node.name).map(\.address.description))
            let done = trace.map(\.address).filter { expected.contains($0) }
            #expect(Set(done) == expected, "\(node.name): trace differs from graph")
            #expect(done.count == expected.count, "\(node.name): a step ran twice")
        }
    }

    @Test func failedStepMakesTheNodeKOSkipsDependantsAndCleansUp() async throws {
        let plan = try loadPlan(labPlan)
        let (host, changes) = await setUp(plan)
        await host.inject(.init(address: "n2.format[home]"))
        let recorder = Recorder()
        let result = await Executor(host: host, observer: recorder).run(plan: plan, graph: GraphBuilder().build(plan), changes: changes)
        #expect(result.exitCode == 3)
        let n2 = try #require(result.outcomes.first { $0.node == "n2" })
        #expect(!n2.ok)
        #expect(n2.failure?.step.description == "n2.format[home]")
        #expect(n2.failure?.code == "injected-fault")
        #expect(!n2.completed.contains { $0.kind == .stream })
        let skipped = recorder.events.compactMap { if case .stepSkipped(let a, _) = $0 { a.description } else { nil } }
        #expect(skipped.contains("n2.bootloader"))
        let trace = await host.trace
        #expect(trace.contains { $0.address == "n2.cleanup" })
        // The failed format was attempted twice (retries: 1).
        #expect(trace.filter { $0.address == "n2.format[home]" }.count == 2)
    }

    @Test func transientFaultIsRetried() async throws {
        let plan = try loadPlan(labPlan)
        let (host, changes) = await setUp(plan)
        await host.inject(.init(address: "n1.bootloader", times: 1))
        let result = await Executor(host: host, observer: Recorder()).run(plan: plan, graph: GraphBuilder().build(plan), changes: changes)
        #expect(result.exitCode == 0)
    }

    @Test func belowMinimumSuccessIsAFailure() async throws {
        let plan = try loadPlan(labPlan)
        let (host, changes) = await setUp(plan)
        await host.inject(.init(address: "n1.stream"))
        await host.inject(.init(address: "n3.mount[/]"))
        let result = await Executor(host: host, observer: Recorder()).run(plan: plan, graph: GraphBuilder().build(plan), changes: changes)
        #expect(result.exitCode == 1)
        #expect(result.outcomes.filter(\.ok).map(\.node) == ["n2"])
    }

    @Test func stepTimeoutStopsAStalledStep() async throws {
        let plan = try loadPlan(labPlan.replacingOccurrences(of: "retries: 1", with: "retries: 0, step-timeout: 1s"))
        let (host, changes) = await setUp(plan)
        // A 10-minute stall: only the 1 s step timeout can end it before the stall would (the bound is the stall
        // itself: on a loaded 2-core machine the lab suites' blocking waits can starve the cooperative pool for
        // minutes, so a tighter wall-clock bound measures the machine, not the executor).
        await host.inject(.init(address: "n3.initrd", stallSeconds: 600))
        let start = Date()
        let result = await Executor(host: host, observer: Recorder()).run(plan: plan, graph: GraphBuilder().build(plan), changes: changes)
        #expect(Date().timeIntervalSince(start) < 590)
        #expect(result.outcomes.first { $0.node == "n3" }?.failure?.code == "timeout")
        #expect(result.exitCode == 3)
    }

    @Test func targetThatIsTooSmallIsKOWithoutTouchingIt() async throws {
        let plan = try loadPlan(labPlan)
        let (host, changes) = await setUp(plan, size: 500 << 20)
        let result = await Executor(host: host, observer: Recorder()).run(plan: plan, graph: GraphBuilder().build(plan), changes: changes)
        #expect(result.exitCode == 1)
        #expect(result.outcomes.allSatisfy { $0.failure?.code == "layout-does-not-fit" })
        let trace = await host.trace
        #expect(!trace.contains { $0.address.contains(".partition[") })
    }

    @Test func secondDiffAfterApplySaysNoChanges() async throws {
        let plan = try loadPlan(labPlan)
        let (host, changes) = await setUp(plan)
        _ = await Executor(host: host, observer: Recorder()).run(plan: plan, graph: GraphBuilder().build(plan), changes: changes)
        for node in plan.nodes {
            let observed = try await host.probe(node: node.name, target: node.target)
            let again = Planner().changes(plan: plan, node: node, observed: observed, goldenIdentity: "image:golden.img:\(256 << 20)")
            #expect(!again.hasChanges, "\(node.name): \(again.changes)")
            let otherGolden = Planner().changes(plan: plan, node: node, observed: observed, goldenIdentity: "image:golden.img:1")
            #expect(otherGolden.hasChanges)
        }
    }
}

@Suite struct SavedPlanTests {
    @Test func staleWhenThePlanTheGoldenOrATargetChanges() throws {
        let plan = try loadPlan(labPlan)
        let blank = DeviceState.blank(2 << 30)
        let changes = plan.nodes.map { Planner().changes(plan: plan, node: $0, observed: blank, goldenIdentity: "g") }
        let bytes = Array(labPlan.utf8)
        let saved = SavedPlan(planFile: "lab.yaml", planFileBytes: bytes, goldenIdentity: "g", changes: changes)
        let observed = Dictionary(uniqueKeysWithValues: plan.nodes.map { ($0.name, blank) })
        #expect(saved.staleness(planFileBytes: bytes, goldenIdentity: "g", observed: observed).isEmpty)
        #expect(saved.staleness(planFileBytes: bytes + [10], goldenIdentity: "g", observed: observed).count == 1)
        #expect(saved.staleness(planFileBytes: bytes, goldenIdentity: "h", observed: observed).count == 1)
        var moved = observed
        moved["n2"] = DeviceState(sizeBytes: 2 << 30, table: .dos)
        #expect(saved.staleness(planFileBytes: bytes, goldenIdentity: "g", observed: moved) == ["n2: n2.img changed since the plan was saved"])
        // Round trip through JSON keeps it applicable.
        let data = try JSONEncoder().encode(saved)
        let back = try JSONDecoder().decode(SavedPlan.self, from: data)
        #expect(back == saved)
    }
}
