import KaplanModel

/// Rewrites the text of an fstab for a clone, without touching any byte of a line it has no reason to change.
///
/// - A line whose mountpoint the plan mounts gets the new source (`UUID=…`/`LABEL=…`); when the plan's
///   filesystem type differs from the line's (and the line does not say `auto`), the type is replaced too, the
///   options become the plan's (or `defaults`: `errors=remount-ro` is fatal on xfs) and the pass is recomputed.
///   When the plan gives mount options, they replace the line's. On btrfs, the golden's `subvol=`/`subvolid=`
///   options are dropped: the clone's filesystem is new and has no subvolumes.
/// - Swap lines on a device get the plan's swap partitions, in order; swap files (`/swapfile`) and zram are kept.
/// - Lines on a disk (`UUID=`, `LABEL=`, `PARTUUID=`, `PARTLABEL=`, `/dev/…`) for mountpoints the plan does not
///   have are commented out (`# kaplan: <reason>: <line>`): the clone has no such filesystem, and a missing
///   device at boot means a 90-second wait and an emergency shell. Optical and floppy drives, zram, network,
///   virtual and bind mounts are kept as they are.
/// - A non-disk line (tmpfs, nfs, bind) at a mountpoint the plan mounts a partition at is commented out: two
///   entries for one mountpoint make systemd ignore one of them.
/// - Planned mountpoints the file lacks are appended, parents first, then missing swap lines.
struct FstabEditor {
    /// A planned filesystem with a mountpoint.
    struct Mount {
        /// The partition id, for messages.
        var id: String
        /// The normalised mountpoint.
        var mountpoint: String
        /// `UUID=…` or `LABEL=…`.
        var source: String
        /// The filesystem.
        var filesystem: Filesystem
        /// The plan's mount options (empty: keep the line's, or the default for a new line).
        var options: [String]
    }

    /// A planned swap partition.
    struct Swap {
        /// The partition id.
        var id: String
        /// `UUID=…` or `LABEL=…`.
        var source: String
        /// The plan's options (empty: `sw`).
        var options: [String]
    }

    /// The planned filesystems.
    var mounts: [Mount]
    /// The planned swap partitions, in plan order.
    var swaps: [Swap]

    /// The rewritten text and one phrase per change (empty when the file was already right).
    func rewrite(_ text: TextLines) -> (text: TextLines, changes: [String]) {
        var out = text
        var changes: [String] = []
        var claimed = Set<String>()
        var nextSwap = 0
        let planned = Dictionary(mounts.map { ($0.mountpoint, $0) }, uniquingKeysWith: { a, _ in a })

        for index in out.lines.indices {
            let line = out.lines[index]
            let fields = line.fields
            guard fields.count >= 2 else { continue }  // comment, blank, or too short to mean anything: kept
            let words = line.words
            let source = Self.unescape(words[0])
            let mountpoint = Self.normalise(Self.unescape(words[1]))
            let type = words.count > 2 ? words[2] : ""
            let onDisk = Self.isDisk(source)

            if type == "swap" {
                guard onDisk else { continue }
                if nextSwap < swaps.count {
                    let swap = swaps[nextSwap]
                    nextSwap += 1
                    if words[0] != swap.source {
                        out.lines[index] = line.replacing(fields[0], with: swap.source)
                        changes.append("swap → \(swap.source)")
                    }
                } else {
                    out.lines[index] = Self.disable(line, "not on this clone (the plan has no swap partition left for it)")
                    changes.append("disabled swap \(source) (not on this clone)")
                }
                continue
            }

            if let mount = planned[mountpoint] {
                if claimed.contains(mountpoint) {
                    out.lines[index] = Self.disable(
                        line, "duplicate entry for \(mountpoint) (partition '\(mount.id)' is mounted by a line above)")
                    changes.append("disabled a duplicate \(mountpoint)")
                } else if !onDisk {
                    out.lines[index] = Self.disable(line, "the plan mounts partition '\(mount.id)' at \(mountpoint) instead")
                    changes.append("disabled \(type.isEmpty ? source : type) at \(mountpoint) (the plan mounts '\(mount.id)' there)")
                } else {
                    claimed.insert(mountpoint)
                    let (rewritten, change) = Self.rewrite(line, fields: fields, words: words, for: mount)
                    out.lines[index] = rewritten
                    if let change { changes.append(change) }
                }
                continue
            }

            if onDisk {
                out.lines[index] = Self.disable(line, "not on this clone (the plan mounts nothing at \(mountpoint))")
                changes.append("disabled \(mountpoint) (not on this clone)")
            }
        }

        let missing = mounts.filter { !claimed.contains($0.mountpoint) }
            .enumerated()
            .sorted { ($0.element.depth, $0.offset) < ($1.element.depth, $1.offset) }
            .map(\.element)
        if !missing.isEmpty || nextSwap < swaps.count {
            out.append("# kaplan: added for the plan's partitions")
        }
        for mount in missing {
            let options = mount.options.isEmpty ? Self.defaultOptions(mount.filesystem) : mount.options.joined(separator: ",")
            out.append(
                [mount.source, Self.escape(mount.mountpoint), mount.filesystem.rawValue, options, "0",
                 String(Self.pass(mount.filesystem, mountpoint: mount.mountpoint))].joined(separator: "\t"))
            changes.append("added \(mount.mountpoint) (\(mount.source))")
        }
        for swap in swaps[nextSwap...] {
            let options = swap.options.isEmpty ? "sw" : swap.options.joined(separator: ",")
            out.append([swap.source, "none", "swap", options, "0", "0"].joined(separator: "\t"))
            changes.append("added swap (\(swap.source))")
        }
        return (out, changes)
    }

    /// The line for `mount`: new source; type, options and pass when the plan changes the type or gives options.
    private static func rewrite(
        _ line: TextLines.Line, fields: [Range<Int>], words: [String], for mount: Mount
    ) -> (TextLines.Line, String?) {
        let oldType = words.count > 2 ? words[2] : nil
        let typeChanged = oldType.map { $0 != "auto" && $0 != mount.filesystem.rawValue } ?? false
        var notes: [String] = []
        // Edit from the last field to the first so that earlier ranges stay valid.
        var edits: [(Int, String)] = [(0, mount.source)]
        if typeChanged, let oldType {
            edits.append((2, mount.filesystem.rawValue))
            notes.append("\(mount.filesystem.rawValue), was \(oldType)")
        }
        var options: String? =
            !mount.options.isEmpty ? mount.options.joined(separator: ",")
            : typeChanged ? defaultOptions(mount.filesystem) : nil
        if options == nil, mount.filesystem == .btrfs, fields.count > 3 {
            // The clone's btrfs is new and flat: the golden's subvolumes (`subvol=@`) do not exist on it.
            let all = words[3].split(separator: ",")
            let kept = all.filter { !$0.hasPrefix("subvol=") && !$0.hasPrefix("subvolid=") }
            if kept.count != all.count { options = kept.isEmpty ? "defaults" : kept.joined(separator: ",") }
        }
        var appended: [String] = []
        if let options {
            if fields.count > 3 {
                if words[3] != options {
                    edits.append((3, options))
                    notes.append("options \(options)")
                }
            } else if fields.count == 3 {
                appended.append(options)
                notes.append("options \(options)")
            }
        }
        if typeChanged, fields.count > 5 {
            let pass = String(pass(mount.filesystem, mountpoint: mount.mountpoint))
            if words[5] != pass { edits.append((5, pass)) }
        }
        var result = line
        for (field, text) in edits.sorted(by: { $0.0 > $1.0 }) where words[field] != text {
            result = result.replacing(fields[field], with: text)
        }
        if !appended.isEmpty, let last = fields.last {
            result = result.replacing(last.upperBound..<last.upperBound, with: "\t" + appended.joined(separator: "\t"))
        }
        guard result.bytes != line.bytes else { return (line, nil) }
        let note = notes.isEmpty ? "" : " (\(notes.joined(separator: "; ")))"
        return (result, "\(mount.mountpoint) → \(mount.source)\(note)")
    }

    /// `line` commented out with the reason.
    private static func disable(_ line: TextLines.Line, _ reason: String) -> TextLines.Line {
        TextLines.Line(bytes: Array("# kaplan: \(reason): ".utf8) + line.bytes)
    }

    /// True when `source` names a filesystem on a disk partition the clone would need to have.
    static func isDisk(_ source: String) -> Bool {
        for tag in ["UUID=", "LABEL=", "PARTUUID=", "PARTLABEL=", "ID="] where source.uppercased().hasPrefix(tag) {
            return true
        }
        guard source.hasPrefix("/dev/") else { return false }
        let name = source.dropFirst("/dev/".count)
        // Drives, not filesystems: a CD/DVD or floppy line names hardware; zram is made at boot.
        for removable in ["sr", "scd", "cdrom", "dvd", "cdrw", "dvdrw", "zram"] where name.hasPrefix(removable) {
            return false
        }
        if name.hasPrefix("fd"), name.dropFirst(2).allSatisfy(\.isNumber) { return false }
        return true
    }

    /// The fstab options for a new line.
    static func defaultOptions(_ filesystem: Filesystem) -> String {
        filesystem == .vfat ? "umask=0077" : "defaults"
    }

    /// The fsck pass: 1 for `/`, 2 for other checkable filesystems, 0 for xfs and btrfs (their fsck is a no-op)
    /// and swap.
    static func pass(_ filesystem: Filesystem, mountpoint: String) -> Int {
        switch filesystem {
        case .xfs, .btrfs, .swap, .none: 0
        default: mountpoint == "/" ? 1 : 2
        }
    }

    /// `/home/` → `/home`; `/` stays.
    static func normalise(_ path: String) -> String {
        var p = path
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        return p
    }

    /// Decodes fstab's octal escapes (`\040` for a space).
    static func unescape(_ field: String) -> String {
        guard field.contains("\\") else { return field }
        var bytes: [UInt8] = []
        let input = Array(field.utf8)
        var i = 0
        while i < input.count {
            if input[i] == 92, i + 4 <= input.count {
                let digits = input[(i + 1)..<(i + 4)]
                if digits.allSatisfy({ $0 >= 48 && $0 <= 55 }) {
                    let value = digits.reduce(0) { $0 * 8 + Int($1 - 48) }
                    if value < 256 {
                        bytes.append(UInt8(value))
                        i += 4
                        continue
                    }
                }
            }
            bytes.append(input[i])
            i += 1
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Encodes a space, tab, newline or backslash the way fstab needs.
    static func escape(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case " ": out += "\\040"
            case "\t": out += "\\011"
            case "\n": out += "\\012"
            case "\\": out += "\\134"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}

extension FstabEditor.Mount {
    /// Path components, for ordering parents before children.
    var depth: Int { mountpoint == "/" ? 0 : mountpoint.split(separator: "/").count }
}
