import KaplanEngine
import KaplanModel

extension CloneFixer {
    /// Points resume-from-hibernation at the clone's swap (the first swap partition of the plan), so that the
    /// initramfs neither waits 30 s for the golden's swap nor picks the build host's:
    /// - initramfs-tools (`/etc/initramfs-tools` exists): `conf.d/resume` = `RESUME=UUID=<uuid>`, or
    ///   `RESUME=none` when the plan has no swap;
    /// - GRUB (`/etc/default/grub`, `/etc/default/grub.d/*.cfg`): an existing `resume=` in
    ///   `GRUB_CMDLINE_LINUX(_DEFAULT)` becomes `resume=UUID=<uuid>` (removed without swap), and any
    ///   `resume_offset=` (a swap file's) is removed; no `resume=` is added where there was none;
    /// - dracut (`/etc/dracut.conf.d` exists): `kaplan-resume.conf` adds `/dev/disk/by-uuid/<uuid>` to the image
    ///   (removed without swap).
    /// It only writes configuration: the initrd step that follows rebuilds the image.
    @discardableResult
    public func updateResume(facts: CloneFacts) throws -> String {
        let tree = try tree()
        var uuid: String? = nil
        if let swap = facts.partitions.first(where: { $0.filesystem == .swap }) {
            guard let known = facts.uuids[swap.id], !known.isEmpty else {
                throw HostError(
                    "resume-no-uuid", "cannot point resume at the clone's swap in \(tree.root): no UUID is known for swap partition '\(swap.id)'",
                    cause: "its format step (mkswap) reported none")
            }
            uuid = known
        }
        var summary: [String] = []

        if tree.isDirectory("/etc/initramfs-tools") {
            let path = "/etc/initramfs-tools/conf.d/resume"
            let content = Array("RESUME=\(uuid.map { "UUID=\($0)" } ?? "none")\n".utf8)
            if try tree.read(path) != content {
                try tree.write(path, content, mode: 0o644)
                summary.append("\(path): RESUME=\(uuid.map { "UUID=\($0)" } ?? "none")")
            }
        }

        let grubFiles = ["/etc/default/grub"] + tree.list("/etc/default/grub.d").filter { $0.hasSuffix(".cfg") }.map { "/etc/default/grub.d/\($0)" }
        for path in grubFiles {
            guard let old = try tree.read(path) else { continue }
            var text = TextLines(old)
            var changed = false
            for index in text.lines.indices {
                guard let line = String(validating: text.lines[index].bytes, as: UTF8.self),
                    let edited = Self.resumeEdited(line, uuid: uuid), edited != line
                else { continue }
                text.lines[index] = TextLines.Line(bytes: Array(edited.utf8))
                changed = true
            }
            if changed {
                try tree.write(path, text.bytes)
                summary.append("\(path): " + (uuid.map { "resume=UUID=\($0)" } ?? "resume= removed"))
            }
        }

        if tree.isDirectory("/etc/dracut.conf.d") {
            let path = "/etc/dracut.conf.d/kaplan-resume.conf"
            if let uuid {
                let content = Array(
                    "# Written by kaplan: the clone's swap, for resume from hibernation.\nadd_device+=\" /dev/disk/by-uuid/\(uuid) \"\n".utf8)
                if try tree.read(path) != content {
                    try tree.write(path, content, mode: 0o644)
                    summary.append("\(path): /dev/disk/by-uuid/\(uuid)")
                }
            } else if try tree.remove(path) {
                summary.append("removed \(path)")
            }
        }
        return summary.isEmpty ? "resume: nothing to change" : "resume: " + summary.joined(separator: "; ")
    }

    /// A `GRUB_CMDLINE_LINUX(_DEFAULT)=` line with its `resume=` pointed at `uuid` (removed when nil) and any
    /// `resume_offset=` removed; nil for every other line, and for one without `resume=`.
    static func resumeEdited(_ line: String, uuid: String?) -> String? {
        let trimmed = line.drop { $0 == " " || $0 == "\t" }
        guard trimmed.hasPrefix("GRUB_CMDLINE_LINUX=") || trimmed.hasPrefix("GRUB_CMDLINE_LINUX_DEFAULT="),
            let equals = line.firstIndex(of: "=")
        else { return nil }
        let head = line[...equals]
        var value = Array(line[line.index(after: equals)...])
        func isBoundary(_ c: Character) -> Bool { c == " " || c == "\t" || c == "\"" || c == "'" }
        // Token ranges in `value`: maximal runs of characters that are not boundaries.
        var tokens: [Range<Int>] = []
        var i = 0
        while i < value.count {
            if isBoundary(value[i]) { i += 1; continue }
            let start = i
            while i < value.count && !isBoundary(value[i]) { i += 1 }
            tokens.append(start..<i)
        }
        guard tokens.contains(where: { String(value[$0]).hasPrefix("resume=") }) else { return nil }
        for token in tokens.reversed() {
            let word = String(value[token])
            if word.hasPrefix("resume="), let uuid {
                value.replaceSubrange(token, with: Array("resume=UUID=\(uuid)"))
            } else if word.hasPrefix("resume=") || word.hasPrefix("resume_offset=") {
                // Remove the token and one separating space (the one before it, or else the one after it).
                var range = token
                if range.lowerBound > 0, value[range.lowerBound - 1] == " " || value[range.lowerBound - 1] == "\t" {
                    range = (range.lowerBound - 1)..<range.upperBound
                } else if range.upperBound < value.count, value[range.upperBound] == " " || value[range.upperBound] == "\t" {
                    range = range.lowerBound..<(range.upperBound + 1)
                }
                value.removeSubrange(range)
            }
        }
        return String(head) + String(value)
    }
}
