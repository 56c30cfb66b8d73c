import KaplanGraph
import KaplanModel

/// Computes, per node, what apply would change, from the plan and a read-only probe of the target.
/// Everything — including each final partition table — exists in memory before any device is touched.
public struct Planner: Sendable {
    /// Creates a planner.
    public init() {}

    /// The type string a probe reports for a planned partition (`0x83`, or a GPT GUID).
    public static func typeString(_ type: PartitionType, table: PartitionTable) -> String {
        switch table {
        case .dos:
            let code = type.mbrCode ?? 0x83
            return "0x" + (code < 16 ? "0" : "") + String(code, radix: 16)
        case .gpt:
            return type.gptGUID ?? PartitionType.linux.gptGUID!
        }
    }

    /// The changes apply would make to `node`, given what its target holds and the golden's identity.
    public func changes(plan: Plan, node: Node, observed: DeviceState, goldenIdentity: String) -> NodeChanges {
        var result = NodeChanges(node: node.name, target: node.target, observed: observed, layout: nil, changes: [], problem: nil)
        let layout: Layout
        switch Layout.resolve(table: plan.table, partitions: plan.partitions, diskBytes: observed.sizeBytes) {
        case .failure(let problem):
            result.problem = "the layout does not fit \(node.target.path) (\(ByteSize(observed.sizeBytes))): \(problem.message)"
            return result
        case .success(let l): layout = l
        }
        let byID = Dictionary(uniqueKeysWithValues: plan.partitions.map { ($0.id, $0) })
        for e in layout.entries {
            let p = byID[e.id]!
            if let minimum = p.filesystem.minimumBytes, e.bytes < minimum {
                let tool = p.filesystem == .swap ? "mkswap" : "mkfs.\(p.filesystem.rawValue)"
                result.problem = "\(node.name).format[\(p.id)]: partition '\(p.id)' (\(p.size)) would be \(ByteSize(e.bytes)) on \(node.target.path) (\(ByteSize(observed.sizeBytes))), but \(tool) needs at least \(ByteSize(minimum))"
                return result
            }
        }
        result.layout = layout
        let tableStep = StepAddress(node.name, .partition, node.target.name)

        func geometryMatches(_ o: DeviceState.ObservedPartition, _ e: Layout.Entry) -> Bool {
            o.number == e.number && o.start == e.start && o.sectors == e.sectors
                && o.type.uppercased() == Self.typeString(byID[e.id]!.type, table: plan.table).uppercased()
        }
        let tableMatches = observed.table == plan.table && observed.partitions.count == layout.entries.count
            && layout.entries.allSatisfy { e in observed.partitions.contains { geometryMatches($0, e) } }

        // Already deployed from this plan and this golden: nothing to do.
        if tableMatches, let stamp = observed.stamp, stamp.planDigest == PlanDigest.of(plan, node: node),
            stamp.goldenIdentity == goldenIdentity, stamp.node == node.name,
            plan.partitions.filter({ $0.filesystem != .none }).allSatisfy({ p in
                let n = layout.entries.first { $0.id == p.id }!.number
                return stamp.uuids[p.id] != nil && observed.partitions.first { $0.number == n }?.filesystem?.uuid == stamp.uuids[p.id]
            })
        {
            result.changes = [
                Change("disk", .keep, "deployed from this plan and golden (stream \(stamp.streamDigest.prefix(12)))")
            ]
            return result
        }

        let anyData = observed.partitions.contains { $0.filesystem != nil } || observed.wholeDiskFilesystem != nil
        var changes: [Change] = []
        if observed.table == nil {
            let what = observed.wholeDiskFilesystem.map { " over a whole-disk \($0.type) filesystem" } ?? ""
            changes.append(
                Change(
                    "table", observed.wholeDiskFilesystem == nil ? .create : .replace,
                    "\(plan.table.rawValue), \(layout.entries.count) partitions on \(ByteSize(observed.sizeBytes))\(what)",
                    destroysData: observed.wholeDiskFilesystem != nil, step: tableStep))
        } else if tableMatches {
            changes.append(Change("table", .keep, "\(plan.table.rawValue), \(layout.entries.count) partitions already as planned", step: tableStep))
        } else {
            let from = observed.table!.rawValue
            changes.append(
                Change(
                    "table", .replace, "\(from) with \(observed.partitions.count) partitions → \(plan.table.rawValue) with \(layout.entries.count)",
                    destroysData: anyData, step: tableStep))
        }
        for e in layout.entries {
            let p = byID[e.id]!
            let geometry = "#\(e.number) sectors \(e.start)+\(e.sectors) (\(ByteSize(e.bytes))) \(p.type)\(p.logical ? " logical" : "")"
            if let o = observed.partitions.first(where: { $0.number == e.number }) {
                if geometryMatches(o, e), observed.table == plan.table {
                    changes.append(Change("partition \(p.id)", .keep, geometry, step: tableStep))
                } else {
                    let old = "#\(o.number) sectors \(o.start)+\(o.sectors) type \(o.type)" + (o.filesystem.map { " holding \($0.type)" } ?? "")
                    changes.append(Change("partition \(p.id)", .replace, "\(old) → \(geometry)", destroysData: o.filesystem != nil, step: tableStep))
                }
            } else {
                changes.append(Change("partition \(p.id)", .create, geometry, step: tableStep))
            }
        }
        let planned = Set(layout.entries.map(\.number))
        for o in observed.partitions where !planned.contains(o.number) {
            let holding = o.filesystem.map { " holding \($0.type)\($0.label.map { " '\($0)'" } ?? "")" } ?? ""
            changes.append(
                Change("partition #\(o.number)", .delete, "sectors \(o.start)+\(o.sectors) type \(o.type)\(holding)", destroysData: o.filesystem != nil, step: tableStep))
        }
        for e in layout.entries {
            let p = byID[e.id]!
            guard p.filesystem != .none else { continue }
            let step = StepAddress(node.name, .format, p.id)
            let made = "\(p.filesystem.rawValue)\(p.label.map { " label \($0)" } ?? "") on #\(e.number)"
            if let existing = observed.partitions.first(where: { $0.number == e.number && $0.start == e.start })?.filesystem {
                let old = "\(existing.type)\(existing.uuid.map { " \($0)" } ?? "")"
                changes.append(Change("filesystem \(p.id)", .replace, "\(old) → new \(made)", destroysData: true, step: step))
            } else {
                changes.append(Change("filesystem \(p.id)", .create, made, step: step))
            }
        }
        let mounts = plan.partitions.compactMap(\.mount)
        changes.append(
            Change("stream", .run, "copy the golden's files into \(mounts.sorted().joined(separator: " ")) and verify every digest", step: StepAddress(node.name, .stream)))
        let graph = GraphBuilder().build(plan).restricted(to: node.name)
        let ordered = (try? graph.ordered()) ?? graph.steps(of: node.name).sorted { $0.address < $1.address }
        for step in ordered where step.address.owner == node.name && [.fixup, .initrd, .bootloader, .record].contains(step.address.kind) {
            let subject = step.address.argument.map { "\(step.address.kind.rawValue)[\($0)]" } ?? step.address.kind.rawValue
            changes.append(Change(subject, .run, step.summary, step: step.address))
        }
        result.changes = changes
        return result
    }
}
