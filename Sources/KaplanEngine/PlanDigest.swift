import KaplanModel
import KaplanDigest

/// Digests that identify what a plan asks of a node, and what a probe saw, for stamps and stale saved plans.
public enum PlanDigest {
    /// A digest of everything in `plan` that shapes `node`'s disk and files (not comments, not source positions).
    public static func of(_ plan: Plan, node: Node) -> String {
        var text = "kaplan-plan-v1|\(plan.name)|\(plan.table.rawValue)|node=\(node.name)|target=\(node.target)\n"
        for p in plan.partitions {
            text += "part|\(p.id)|\(p.type)|\(p.size)|\(p.filesystem.rawValue)|\(p.mount ?? "-")|\(p.logical)|\(p.bootable)"
            text += "|\(p.name ?? "-")|\(p.label ?? "-")|\(p.mkfsOptions.joined(separator: "\u{1f}"))|\(p.mountOptions.joined(separator: "\u{1f}"))\n"
        }
        text += "exclude|\(plan.exclude.paths.joined(separator: "\u{1f}"))\n"
        let f = plan.fixups
        text += "fixups|\(f.fstab.rawValue)|\(f.hostname)|\(f.machineIDReset)|\(f.sshHostKeysRegenerate)|\(f.networkClean)|\(f.resumeUpdate)"
        text += "|\(f.commands.map { $0.joined(separator: "\u{1f}") }.joined(separator: "\u{1e}"))\n"
        let b = plan.bootloader
        text += "boot|\(b.kind.rawValue)|\(b.removable)|\(b.kernelOptions.joined(separator: "\u{1f}"))|\(b.initrdRebuild)"
        text += "|\(b.initrdModules.joined(separator: "\u{1f}"))|\(b.initrdTool.rawValue)\n"
        return SHA256.hex(text)
    }

    /// A digest of an observed device state (a saved plan is stale when the target no longer matches it).
    public static func of(_ state: DeviceState) -> String {
        var text = "kaplan-observed-v1|\(state.sizeBytes)|\(state.table?.rawValue ?? "none")\n"
        for p in state.partitions {
            text += "\(p.number)|\(p.start)|\(p.sectors)|\(p.type)|\(p.filesystem?.type ?? "-")|\(p.filesystem?.uuid ?? "-")|\(p.filesystem?.label ?? "-")\n"
        }
        if let w = state.wholeDiskFilesystem { text += "whole|\(w.type)|\(w.uuid ?? "-")\n" }
        if let s = state.stamp { text += "stamp|\(s.planDigest)|\(s.streamDigest)\n" }
        return SHA256.hex(text)
    }
}
