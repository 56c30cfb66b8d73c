import KaplanEngine

extension CloneFixer {
    /// Writes `/etc/hostname` and makes `/etc/hosts` resolve the new name locally: the golden's name (and its
    /// `golden.domain` form) on loopback lines becomes `name` (`name.domain`); the Debian `127.0.1.1` line is
    /// added after `127.0.0.1` when no loopback line names the node. Lines for other addresses are kept (the golden
    /// is a real host other nodes may still reach by name).
    @discardableResult
    public func setHostname(_ name: String) throws -> String {
        let tree = try tree()
        try Self.checkHostname(name, tree)
        let oldBytes = try tree.read("/etc/hostname")
        let old = oldBytes.flatMap { bytes in
            TextLines(bytes).lines.first { !$0.isCommentOrBlank }?.words.first
        }
        var summary: [String] = []
        let hostname = Array("\(name)\n".utf8)
        if oldBytes != hostname {
            try tree.write("/etc/hostname", hostname, mode: 0o644)
            summary.append("hostname \(name)" + (old.map { " (was \($0))" } ?? ""))
        }

        let hostsBytes = try tree.read("/etc/hosts")
        var hosts = TextLines(hostsBytes ?? Array("127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n".utf8))
        var named = false
        var debianLine: Int? = nil
        var localhostLine: Int? = nil
        for index in hosts.lines.indices {
            let line = hosts.lines[index]
            let fields = line.fields
            let words = line.words
            guard fields.count >= 1 else { continue }
            let address = words[0]
            guard address.hasPrefix("127.") || address == "::1" else { continue }
            if address == "127.0.0.1" && localhostLine == nil { localhostLine = index }
            var edited = line
            // From the last name to the first, so the ranges stay valid.
            for i in stride(from: fields.count - 1, through: 1, by: -1) {
                if let renamed = Self.rename(words[i], from: old, to: name) {
                    edited = edited.replacing(fields[i], with: renamed)
                }
            }
            if address == "127.0.1.1" {
                debianLine = index
                let names = edited.words.dropFirst()
                if !names.contains(where: { Self.names($0, name) }) {
                    // The golden's name is not known (no /etc/hostname): this line is the golden's; it is now ours.
                    let editedFields = edited.fields
                    if editedFields.count > 1 {
                        edited = edited.replacing(editedFields[1].lowerBound..<editedFields.last!.upperBound, with: name)
                    } else {
                        edited = edited.replacing(editedFields[0].upperBound..<editedFields[0].upperBound, with: "\t" + name)
                    }
                }
            }
            if edited.words.dropFirst().contains(where: { Self.names($0, name) }) { named = true }
            if edited.bytes != line.bytes {
                hosts.lines[index] = edited
                summary.append("/etc/hosts: \(address) → \(edited.words.dropFirst().joined(separator: " "))")
            }
        }
        if !named && debianLine == nil {
            let line = TextLines.Line(bytes: Array("127.0.1.1\t\(name)".utf8))
            if let localhostLine {
                hosts.lines.insert(line, at: localhostLine + 1)
            } else {
                hosts.lines.insert(line, at: 0)
            }
            summary.append("/etc/hosts: added 127.0.1.1 \(name)")
        }
        let newHosts = hosts.bytes
        if newHosts != hostsBytes {
            try tree.write("/etc/hosts", newHosts, mode: 0o644)
            if hostsBytes == nil { summary.append("/etc/hosts created") }
        }
        return summary.isEmpty ? "hostname: already \(name)" : "hostname: " + summary.joined(separator: "; ")
    }

    /// The new spelling of a hosts entry that names the golden (`golden` → `node03`, `golden.lab` → `node03.lab`),
    /// or nil when it does not.
    static func rename(_ word: String, from old: String?, to name: String) -> String? {
        guard let old, !old.isEmpty, old != name else { return nil }
        let oldShort = String(old.prefix { $0 != "." })
        let nameShort = String(name.prefix { $0 != "." })
        guard oldShort != "localhost", !oldShort.isEmpty else { return nil }  // never rename localhost itself
        if word == old { return name }
        if word == oldShort { return nameShort }
        if word.hasPrefix(oldShort + ".") { return name.contains(".") ? name : nameShort + word.dropFirst(oldShort.count) }
        return nil
    }

    /// True when a hosts entry names the node (`node03`, or `node03.` followed by a domain).
    static func names(_ word: String, _ name: String) -> Bool {
        let short = String(name.prefix { $0 != "." })
        return word == name || word == short || word.hasPrefix(short + ".")
    }

    /// A hostname the kernel and resolvers accept: 1–64 bytes of letters, digits, `-` and `.`, not starting with
    /// `-` or `.`.
    static func checkHostname(_ name: String, _ tree: CloneTree) throws {
        let allowed = name.utf8.allSatisfy { b in
            (b >= 97 && b <= 122) || (b >= 65 && b <= 90) || (b >= 48 && b <= 57) || b == 45 || b == 46
        }
        guard !name.isEmpty, name.utf8.count <= 64, allowed, !name.hasPrefix("-"), !name.hasPrefix(".") else {
            throw HostError(
                "hostname-invalid", "cannot set the hostname of the clone at \(tree.root) to '\(name)'",
                cause: "a hostname is 1–64 letters, digits, '-' and '.'; rename the node in the plan or set `hostname:`")
        }
    }
}
