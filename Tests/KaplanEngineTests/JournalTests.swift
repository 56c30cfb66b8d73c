import Foundation
import KaplanGraph
import KaplanModel
import KaplanSimulator
import Testing

@testable import KaplanEngine

/// The apply journal on the simulated host: a failed run leaves a record per KO node, a rerun skips the durable
/// steps it lists (and only those), a record that no longer fits is ignored with a message, success clears it.
@Suite struct JournalTests {
    let plan: Plan
    let graph: StepGraph
    init() throws {
        plan = try loadPlan(labPlan)
        graph = GraphBuilder().build(plan)
    }

    static let golden = "image:golden.img:\(256 << 20)"

    func makeHost() async -> SimulatedHost {
        let host = SimulatedHost(goldenBytes: 256 << 20)
        for node in plan.nodes { await host.addDisk(node: node.name, node.target.path, size: 2 << 30) }
        return host
    }

    /// Probes every target and plans, then runs the executor with the journal; returns the result, the events and
    /// the trace entries this run added.
    func run(_ host: SimulatedHost, _ journal: SimulatedJournal?) async throws -> (Executor.Result, [ExecutionEvent], [TraceEntry]) {
        var changes: [NodeChanges] = []
        for node in plan.nodes {
            let observed = try await host.probe(node: node.name, target: node.target)
            changes.append(Planner().changes(plan: plan, node: node, observed: observed, goldenIdentity: Self.golden))
        }
        let before = await host.trace.count
        let recorder = Recorder()
        let result = await Executor(host: host, observer: recorder, journal: journal).run(plan: plan, graph: graph, changes: changes)
        return (result, recorder.events, Array(await host.trace.dropFirst(before)))
    }

    /// The step addresses of `node` that the trace shows were carried out (in order, repeats kept).
    func operations(_ trace: [TraceEntry], node: String) -> [String] {
        let steps = Set(graph.steps(of: node).map(\.address.description))
        return trace.map(\.address).filter { steps.contains($0) }
    }

    func allSteps(_ node: String) -> Set<String> { Set(graph.steps(of: node).map(\.address.description)) }

    func skipped(_ events: [ExecutionEvent], node: String) -> [(String, String)] {
        events.compactMap { e in
            if case .stepSkipped(let a, let reason) = e, a.owner == node { (a.description, reason) } else { nil }
        }
    }

    func journalMessages(_ events: [ExecutionEvent], node: String) -> [String] {
        events.compactMap { e in if case .journal(let n, let m) = e, n == node { m } else { nil } }
    }

    func uuids(_ host: SimulatedHost, _ node: String) async throws -> [String] {
        let n = plan.nodes.first { $0.name == node }!
        return try await host.probe(node: node, target: n.target).partitions.compactMap(\.filesystem?.uuid)
    }

    @Test func failedFixupThenRerunSkipsPartitionFormatAndStreamAndRemountsAndCompletes() async throws {
        let host = await makeHost()
        let journal = SimulatedJournal()
        await host.inject(.init(address: "n1.fixup[hostname]"))
        let (first, _, _) = try await run(host, journal)
        #expect(first.outcomes.first { $0.node == "n1" }?.failure?.step.description == "n1.fixup[hostname]")
        // Only the KO node keeps a record; it lists what completed, the failed fix-up not among them.
        let records = await journal.records
        #expect(records.keys.sorted() == ["n1"])
        let record = try #require(records["n1"])
        #expect(!record.completed.contains { $0.description == "n1.fixup[hostname]" })
        #expect(record.facts.streamDigest != nil && record.facts.uuids.count == 3)
        let uuidsBefore = try await uuids(host, "n1")

        await host.inject(.init(address: "n1.fixup[hostname]", times: 0))  // the cause is mended
        let (second, events, trace) = try await run(host, journal)
        #expect(second.exitCode == 0, "\(second.outcomes.compactMap(\.failure))")

        // Exactly the kept steps are skipped, each with the journal's time, and every other step ran once.
        let durable = record.completed.filter { JournalResume.durableKinds.contains($0.kind) }.map(\.description)
        for must in ["n1.partition[n1.img]", "n1.format[root]", "n1.format[swap]", "n1.format[home]", "n1.stream"] {
            #expect(durable.contains(must))
        }
        let skips = skipped(events, node: "n1")
        #expect(Set(skips.map(\.0)) == Set(durable))
        #expect(skips.allSatisfy { $0.1 == "done in an earlier run (journal of \(record.written))" }, "\(skips)")
        let ran = operations(trace, node: "n1")
        #expect(Set(ran) == allSteps("n1").subtracting(durable), "ran: \(ran)")
        #expect(ran.count == Set(ran).count, "a step ran twice: \(ran)")
        #expect(ran.contains("n1.mount[/]") && ran.contains("n1.mount[/home]") && ran.contains("n1.fixup[hostname]"))
        #expect(!trace.contains { $0.address.hasPrefix("n1.") && ($0.detail.hasPrefix("mkfs") || $0.detail.hasPrefix("write dos table")) })
        // The restored facts carried the first run's UUIDs into the fix-ups and the verify.
        #expect(try await uuids(host, "n1") == uuidsBefore)
        let stamp = try #require(try await host.probe(node: "n1", target: plan.nodes[0].target).stamp)
        #expect(Set(stamp.uuids.values) == Set(uuidsBefore) && stamp.streamDigest == record.facts.streamDigest)
        #expect(journalMessages(events, node: "n1").first?.hasPrefix("resuming after n1.") == true)
        // The other nodes had no record: they ran everything again. Every record is gone now.
        #expect(Set(operations(trace, node: "n2")) == allSteps("n2"))
        #expect(await journal.records.isEmpty)
        // Planned from the state the resumed run left, the disk is deployed.
        let observed = try await host.probe(node: "n1", target: plan.nodes[0].target)
        #expect(!Planner().changes(plan: plan, node: plan.nodes[0], observed: observed, goldenIdentity: Self.golden).hasChanges)
    }

    @Test func failedStreamThenRerunFormatsAgain() async throws {
        let host = await makeHost()
        let journal = SimulatedJournal()
        await host.inject(.init(address: "n1.stream"))
        let (first, _, _) = try await run(host, journal)
        #expect(first.outcomes.first { $0.node == "n1" }?.failure?.step.description == "n1.stream")
        let record = try #require(await journal.records["n1"])
        #expect(record.completed.contains { $0.kind == .format } && !record.completed.contains { $0.kind == .stream })
        let uuidsBefore = try await uuids(host, "n1")

        await host.inject(.init(address: "n1.stream", times: 0))
        let (second, events, trace) = try await run(host, journal)
        #expect(second.exitCode == 0)
        // Only the table is kept: the half-filled filesystems are made again and the stream runs again.
        #expect(skipped(events, node: "n1").map(\.0) == ["n1.partition[n1.img]"])
        let ran = operations(trace, node: "n1")
        #expect(Set(ran) == allSteps("n1").subtracting(["n1.partition[n1.img]"]), "ran: \(ran)")
        #expect(ran.filter { $0.hasPrefix("n1.format[") }.count == 3)
        #expect(Set(try await uuids(host, "n1")).isDisjoint(with: uuidsBefore), "the filesystems were not made again")
        #expect(await journal.records.isEmpty)
    }

    /// Runs once failing n1 at a fix-up (leaving its record), lets `spoil` change the record or the disk, mends
    /// the fault and runs again: the record must be ignored with a message naming why, and every step run.
    func expectIgnored(because reason: String, _ spoil: (SimulatedHost, SimulatedJournal, JournalRecord) async -> Void) async throws {
        let host = await makeHost()
        let journal = SimulatedJournal()
        await host.inject(.init(address: "n1.fixup[network]"))
        _ = try await run(host, journal)
        let record = try #require(await journal.records["n1"])
        await spoil(host, journal, record)
        await host.inject(.init(address: "n1.fixup[network]", times: 0))
        let (second, events, trace) = try await run(host, journal)
        #expect(second.exitCode == 0)
        let messages = journalMessages(events, node: "n1")
        #expect(messages.count == 1 && messages[0].contains(reason) && messages[0].hasSuffix("every step runs"), "\(messages)")
        #expect(skipped(events, node: "n1").isEmpty)
        let ran = operations(trace, node: "n1")
        #expect(Set(ran) == allSteps("n1") && ran.count == allSteps("n1").count, "ran: \(ran)")
        #expect(await journal.records.isEmpty)
    }

    @Test func recordOfAnotherPlanIsIgnored() async throws {
        try await expectIgnored(because: "another version of the plan") { _, journal, record in
            var r = record
            r.planDigest = String(repeating: "0", count: 64)
            await journal.put(r)
        }
    }

    @Test func recordOfAnotherTargetIsIgnored() async throws {
        try await expectIgnored(because: "written for target /lab/other.img, the node's target is now n1.img") { _, journal, record in
            var r = record
            r.target = "/lab/other.img"
            await journal.put(r)
        }
    }

    @Test func recordOfAnotherGoldenIsIgnored() async throws {
        try await expectIgnored(because: "the golden changed since") { _, journal, record in
            var r = record
            r.facts.goldenIdentity = "image:golden.img:1"
            await journal.put(r)
        }
    }

    @Test func diskWhoseFilesystemChangedIsNotResumedInto() async throws {
        try await expectIgnored(because: "n1.img changed since: partition #3 holds xfs 00000000-") { host, _, _ in
            // Someone made a new filesystem on /home since: same table, another UUID.
            var state = try! await host.probe(node: "n1", target: .image("n1.img"))
            state.partitions[2].filesystem = .init(type: "xfs", uuid: "00000000-0000-4000-a000-000000000000")
            await host.addDisk(node: "n1", "n1.img", size: state.sizeBytes, state: state)
        }
    }

    @Test func diskRepartitionedSinceIsNotResumedInto() async throws {
        try await expectIgnored(because: "its partition table is not the one that run wrote") { host, _, _ in
            await host.addDisk(node: "n1", "n1.img", size: 2 << 30, state: DeviceState(sizeBytes: 2 << 30, table: .gpt))
        }
    }

    @Test func successSavesAfterEveryStepAndClearsEveryRecord() async throws {
        let host = await makeHost()
        let journal = SimulatedJournal()
        let (result, events, _) = try await run(host, journal)
        #expect(result.exitCode == 0)
        #expect(await journal.records.isEmpty)
        let saves = await journal.saves
        for node in plan.nodes {
            #expect(saves.filter { $0.hasPrefix("\(node.name): ") }.count == allSteps(node.name).count)
        }
        #expect(journalMessages(events, node: "n1").isEmpty)
    }

    @Test func unreadableRecordIsReportedAndEveryStepRuns() async throws {
        let host = await makeHost()
        let journal = SimulatedJournal()
        await journal.corrupt(node: "n2")
        let (result, events, trace) = try await run(host, journal)
        #expect(result.exitCode == 0)
        #expect(journalMessages(events, node: "n2").first?.contains("cannot be read") == true)
        #expect(Set(operations(trace, node: "n2")) == allSteps("n2"))
    }

    @Test func unwritableJournalIsReportedOnceAndTheDeploymentGoesOn() async throws {
        let host = await makeHost()
        let journal = SimulatedJournal()
        await journal.failWrites(true)
        let (result, events, _) = try await run(host, journal)
        #expect(result.exitCode == 0)
        for node in plan.nodes {
            let messages = journalMessages(events, node: node.name)
            #expect(messages.count == 1 && messages[0].contains("could not be written"), "\(node.name): \(messages)")
        }
    }

    @Test func previewNamesTheStepARerunResumesAfter() async throws {
        let host = await makeHost()
        let journal = SimulatedJournal()
        await host.inject(.init(address: "n3.bootloader"))
        _ = try await run(host, journal)
        let record = try #require(await journal.records["n3"])
        var changes: [NodeChanges] = []
        for node in plan.nodes {
            let observed = try await host.probe(node: node.name, target: node.target)
            changes.append(Planner().changes(plan: plan, node: node, observed: observed, goldenIdentity: Self.golden))
        }
        let preview = await JournalResume.preview(journal, plan: plan, changes: changes, goldenIdentity: Self.golden)
        let last = record.completed.last { JournalResume.durableKinds.contains($0.kind) }!
        #expect(preview.lines == ["n3: resuming after \(last) (journal of \(record.written))"])
        #expect(last.kind == .fixup || last.kind == .initrd)
        // The planner saw a half-made disk (filesystems to replace); the preview shows what the rerun keeps.
        let planned = try #require(changes.first { $0.node == "n3" })
        #expect(planned.destroysData)
        let shown = try #require(preview.changes.first { $0.node == "n3" })
        #expect(!shown.destroysData, "\(shown.changes)")
        for subject in ["filesystem root", "filesystem swap", "filesystem home", "stream"] {
            let change = try #require(shown.changes.first { $0.subject == subject })
            #expect(change.action == .keep && change.detail == "done in an earlier run (journal of \(record.written))", "\(change)")
        }
        #expect(shown.changes.first { $0.subject == "bootloader" }?.action == .run)
        #expect(shown.hasChanges)
        #expect(preview.changes.filter { $0.node != "n3" } == changes.filter { $0.node != "n3" })
    }

    @Test func keptStepsNeedTheirDurableDependencies() throws {
        // A record claiming a fix-up and the stream but missing a format keeps neither (nor the stream).
        let node = plan.nodes[0]
        let layout = try #require(
            Planner().changes(plan: plan, node: node, observed: .blank(2 << 30), goldenIdentity: Self.golden).layout)
        var facts = Executor.initialFacts(plan: plan, node: node, layout: layout, goldenIdentity: Self.golden)
        let current = facts
        facts.uuids = ["root": "r", "swap": "s"]
        let steps = graph.steps(of: "n1")
        let completed = ["n1.partition[n1.img]", "n1.format[root]", "n1.format[swap]", "n1.mount[/]", "n1.stream", "n1.fixup[fstab]"]
        let record = JournalRecord(
            planDigest: facts.planDigest, node: "n1", target: "n1.img", facts: facts,
            completed: completed.map { a in steps.first { $0.address.description == a }!.address }, written: "t")
        var observed = DeviceState(sizeBytes: 2 << 30, table: .dos)
        observed.partitions = layout.entries.map { .init(number: $0.number, start: $0.start, sectors: $0.sectors, type: "0x83") }
        observed.partitions[0].filesystem = .init(type: "ext4", uuid: "r")
        observed.partitions[1].filesystem = .init(type: "swap", uuid: "s")
        guard case .resume(let r) = JournalResume.decide(record: record, node: node, steps: steps, facts: current, observed: observed) else {
            Issue.record("expected a resume")
            return
        }
        // The stream depends on format[home], which is not recorded: formats and stream are not kept.
        #expect(r.kept.map(\.description) == ["n1.partition[n1.img]"])
        #expect(r.facts.uuids.isEmpty && r.facts.streamDigest == nil)
    }
}
