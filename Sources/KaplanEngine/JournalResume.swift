import KaplanGraph
import KaplanModel

/// Decides whether a node's journal may be resumed from, and which of its completed steps count as done.
///
/// A record is used only when it was written for the same plan digest, target, golden and layout, and the
/// target still holds what the record says (the table's geometry, every kept filesystem's UUID). Only durable
/// steps are kept (partition, format, stream, fix-ups, initrd, bootloader, record); mounts, unmounts and verify
/// always run again. Until the stream completed, the filesystems hold a half-extracted tree: then only the
/// partition step is kept, and the filesystems are made again.
public enum JournalResume {
    /// The step kinds whose effect stays on the target after the run ends.
    public static let durableKinds: Set<StepKind> = [.partition, .format, .stream, .fixup, .initrd, .bootloader, .record]

    /// What to do with a record.
    public enum Decision: Sendable, Hashable {
        /// Resume: skip the kept steps, start from these facts.
        case resume(Resumption)
        /// Do not use the record (the reason, for the operator); every step runs.
        case ignore(String)
    }

    /// A resume: the steps treated as done and the facts the remaining steps start from.
    public struct Resumption: Sendable, Hashable {
        /// The steps done in the earlier run that are skipped now, in the record's completion order.
        public var kept: [StepAddress]
        /// The last kept step (what "resuming after" names).
        public var after: StepAddress
        /// The facts to restore: the plan's, with the UUIDs of kept formats and the kept stream's digest.
        public var facts: CloneFacts
        /// When the record was written.
        public var written: String

        /// `resuming after node01.stream (journal of 2026-11-23 14:02:11)`.
        public var summary: String { "resuming after \(after) (journal of \(written))" }
    }

    /// Decides for `record`, given the node's steps, the facts this run starts with and a fresh probe.
    public static func decide(
        record: JournalRecord, node: Node, steps: [Step], facts current: CloneFacts, observed: DeviceState
    ) -> Decision {
        guard record.format == JournalRecord.currentFormat else {
            return .ignore("it has format \(record.format); this kaplan writes format \(JournalRecord.currentFormat)")
        }
        guard record.node == node.name else { return .ignore("it was written for node \(record.node)") }
        guard record.target == node.target.path else {
            return .ignore("it was written for target \(record.target), the node's target is now \(node.target.path)")
        }
        guard record.planDigest == current.planDigest else {
            return .ignore(
                "it was written for another version of the plan (digest \(record.planDigest.prefix(12)), now \(current.planDigest.prefix(12)))")
        }
        guard record.facts.goldenIdentity == current.goldenIdentity else {
            return .ignore("the golden changed since (\(record.facts.goldenIdentity) then, \(current.goldenIdentity) now)")
        }
        guard record.facts.layout == current.layout else {
            return .ignore("the layout resolved for \(node.target.path) differs from the recorded one (did the disk's size change?)")
        }
        let own = Dictionary(uniqueKeysWithValues: steps.map { ($0.address, $0) })
        // The durable steps each step needs first, directly or through others (a stream needs every format
        // through the mounts).
        var ancestors: [StepAddress: Set<StepAddress>] = [:]
        func durableAncestors(_ a: StepAddress, _ depth: Int = 0) -> Set<StepAddress> {
            if let known = ancestors[a] { return known }
            var result = Set<StepAddress>()
            if depth < own.count {
                for d in own[a]?.dependencies ?? [] where own[d] != nil {
                    if durableKinds.contains(d.kind) { result.insert(d) }
                    result.formUnion(durableAncestors(d, depth + 1))
                }
            }
            ancestors[a] = result
            return result
        }
        var kept = Set(record.completed.filter { own[$0] != nil && durableKinds.contains($0.kind) })
        kept = kept.filter { durableAncestors($0).isSubset(of: kept) }
        let streams = steps.filter { $0.address.kind == .stream }.map(\.address)
        if !streams.allSatisfy(kept.contains) {
            // A half-extracted tree is never resumed into: make the filesystems again and stream again.
            kept = kept.filter { $0.kind == .partition }
        }
        let ordered = record.completed.filter(kept.contains)
        guard let after = ordered.last else {
            return .ignore("it holds no completed step that can be kept (\(record.completed.last.map { "last: \($0)" } ?? "none completed"))")
        }
        let layout = current.layout
        if kept.contains(where: { $0.kind == .partition }) {
            let geometryMatches =
                observed.table == layout.table && observed.partitions.count == layout.entries.count
                && layout.entries.allSatisfy { e in
                    observed.partitions.contains { $0.number == e.number && $0.start == e.start && $0.sectors == e.sectors }
                }
            guard geometryMatches else {
                return .ignore("\(node.target.path) changed since: its partition table is not the one that run wrote")
            }
        }
        var facts = current
        facts.uuids = [:]
        for a in ordered where a.kind == .format {
            guard let id = a.argument, let uuid = record.facts.uuids[id] else {
                return .ignore("it records \(a) as done but no UUID for it")
            }
            guard let entry = layout.entries.first(where: { $0.id == id }) else {
                return .ignore("it records \(a) but partition '\(id)' is not in the layout")
            }
            let found = observed.partitions.first { $0.number == entry.number }?.filesystem
            guard found?.uuid == uuid else {
                let now = found.map { "\($0.type) \($0.uuid ?? "without a UUID")" } ?? "no filesystem"
                return .ignore("\(node.target.path) changed since: partition #\(entry.number) holds \(now), the journal recorded \(uuid)")
            }
            facts.uuids[id] = uuid
        }
        facts.streamDigest = streams.allSatisfy(kept.contains) && !streams.isEmpty ? record.facts.streamDigest : nil
        return .resume(Resumption(kept: ordered, after: after, facts: facts, written: record.written))
    }

    /// What a rerun will do with each node's journal, before it starts (for `apply` to show): the nodes' changes
    /// with the steps a resume keeps marked `keep` ("done in an earlier run"), and one line per node that has a
    /// record: `node01: resuming after node01.stream (journal of 2026-11-23 14:02:11)`, or why it is ignored.
    /// Uses the probes the planner made; the executor decides again with its own probe when it starts the node.
    public static func preview(
        _ journal: any JournalStore, plan: Plan, changes: [NodeChanges], goldenIdentity: String
    ) async -> (changes: [NodeChanges], lines: [String]) {
        let graph = GraphBuilder().build(plan)
        var lines: [String] = []
        var result = changes
        for (index, c) in changes.enumerated() {
            guard let node = plan.nodes.first(where: { $0.name == c.node }), let layout = c.layout else { continue }
            let record: JournalRecord?
            do { record = try await journal.load(node: node.name) } catch {
                lines.append("\(node.name): its journal cannot be read (\(error)); it is ignored and every step runs")
                continue
            }
            guard let record else { continue }
            let facts = Executor.initialFacts(plan: plan, node: node, layout: layout, goldenIdentity: goldenIdentity)
            switch decide(record: record, node: node, steps: graph.steps(of: node.name), facts: facts, observed: c.observed) {
            case .resume(let r):
                lines.append("\(node.name): \(r.summary)")
                let kept = Set(r.kept)
                result[index].changes = c.changes.map { change in
                    guard let step = change.step, kept.contains(step), change.action != .keep else { return change }
                    return Change(change.subject, .keep, "done in an earlier run (journal of \(r.written))", step: step)
                }
            case .ignore(let reason): lines.append("\(node.name): ignoring the journal of \(record.written): \(reason); every step runs")
            }
        }
        return (result, lines)
    }
}
