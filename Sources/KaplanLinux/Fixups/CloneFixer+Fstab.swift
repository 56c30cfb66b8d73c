import KaplanEngine
import KaplanModel

extension CloneFixer {
    /// Rewrites the clone's `/etc/fstab` for its new filesystems (see `FstabEditor` for the rules): planned
    /// mountpoints and swap get `UUID=<new uuid>` (`LABEL=<label>` in label mode), lines for disks the clone does
    /// not have are commented out with `# kaplan: <reason>: `, network and virtual filesystems are kept, missing
    /// planned mountpoints are appended; every other byte is kept. A missing fstab is created; `fstab: keep`
    /// leaves it as copied.
    @discardableResult
    public func rewriteFstab(facts: CloneFacts) throws -> String {
        if facts.fstab == .keep { return "fstab: kept as copied (the plan says fstab: keep)" }
        let tree = try tree()
        var editor = FstabEditor(mounts: [], swaps: [])
        for partition in facts.partitions {
            if partition.filesystem == .swap {
                editor.swaps.append(
                    FstabEditor.Swap(id: partition.id, source: try source(partition, facts, tree), options: partition.mountOptions))
                continue
            }
            guard let mountpoint = partition.mount, partition.filesystem.holdsFiles else { continue }
            editor.mounts.append(
                FstabEditor.Mount(
                    id: partition.id, mountpoint: FstabEditor.normalise(mountpoint), source: try source(partition, facts, tree),
                    filesystem: partition.filesystem, options: partition.mountOptions))
        }
        let old = try tree.read("/etc/fstab")
        var text = TextLines(old ?? [])
        if old == nil {
            text.append("# /etc/fstab: static file system information, written by kaplan for \(facts.node).")
            text.append("# <file system>\t<mount point>\t<type>\t<options>\t<dump>\t<pass>")
        }
        let (rewritten, changes) = editor.rewrite(text)
        let bytes = rewritten.bytes
        guard bytes != old else { return "fstab: already up to date" }
        try tree.write("/etc/fstab", bytes, mode: 0o644)
        return "fstab: " + (old == nil ? "created; " : "") + changes.joined(separator: "; ")
    }

    /// `UUID=<uuid>`, or `LABEL=<label>` in label mode.
    private func source(_ partition: Partition, _ facts: CloneFacts, _ tree: CloneTree) throws -> String {
        let what = partition.filesystem == .swap ? "swap partition '\(partition.id)'" : "partition '\(partition.id)' (\(partition.mount ?? "-"))"
        if facts.fstab == .label {
            if let label = partition.label, !label.isEmpty { return "LABEL=" + FstabEditor.escape(label) }
            if partition.filesystem != .swap {
                throw HostError(
                    "fstab-no-label",
                    "cannot rewrite \(tree.describe("/etc/fstab")) by label: \(what) has no label",
                    cause: "give it a `label:` in the plan, or use `fstab: uuid`")
            }
        }
        guard let uuid = facts.uuids[partition.id], !uuid.isEmpty else {
            throw HostError(
                "fstab-no-uuid",
                "cannot rewrite \(tree.describe("/etc/fstab")): no filesystem UUID is known for \(what)",
                cause: "its format step reported none; without it the clone would boot looking for the golden's filesystems")
        }
        return "UUID=\(uuid)"
    }
}
