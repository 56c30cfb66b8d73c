import KaplanModel
import KaplanYAML

/// Decodes the YAML root of a plan into a ``Plan``, reporting every structural problem it meets.
/// Semantic checks (layout, uniqueness, compatibility) run afterwards in ``PlanChecker``.
package struct PlanDecoder {
    private let context: LoadContext

    /// Creates a decoder reporting into `context`.
    package init(context: LoadContext) { self.context = context }

    /// Decodes the document; nil when a required part could not be read (diagnostics say why).
    package func decode(_ root: YAMLNode) -> Plan? {
        guard let map = MappingReader(root, "the plan", allowed: PlanKeys.root, context: context) else { return nil }
        var ok = true

        var version: Int? = nil
        if let v = map.required("version", hint: "start the plan with 'version: 1'") {
            if case .integer(let text)? = Scalar(v), text != "1" {
                context.error(
                    "unsupported-version", "plan format version \(text) is not supported; this kaplan reads version 1",
                    at: v)
            } else {
                version = context.integer(v, "version", in: 1...1)
            }
        }
        var name: String? = nil
        if let n = map.required("name") {
            name = context.string(n, "name")
            if let s = name, !Self.isPlanName(s) {
                context.error(
                    "invalid-value", "name '\(s)' must be 1–63 letters, digits, '.', '_' or '-', starting with a letter or digit",
                    at: n)
                name = nil
            }
        }
        let description = map.optional("description").flatMap { context.string($0, "description") }
        let golden = map.required("golden").flatMap(decodeGolden)
        let table = map.required("table", hint: "write 'table: dos' or 'table: gpt'").flatMap {
            context.choice($0, "table", PartitionTable.self)
        }
        let partitions = map.required("partitions").flatMap(decodePartitions)
        let exclude = map.optional("exclude").map(decodeExclude) ?? Exclusions()
        let nodes = map.required("nodes").flatMap(decodeNodes)
        let transport: Transport?
        if let t = map.optional("transport") {
            transport = decodeTransport(t)
        } else {
            transport = Transport.defaults(kind: .chain, range: context.range(root))
        }
        let bootloader: Bootloader?
        if let b = map.optional("bootloader") {
            bootloader = decodeBootloader(b)
        } else {
            bootloader = Bootloader(kind: .none, initrdRebuild: false, range: context.range(root))
        }
        let fixups = map.optional("fixups").map(decodeFixups) ?? Fixups(range: context.range(root))
        let security = map.optional("security").map(decodeSecurity) ?? Security()
        let policy = map.optional("policy").map(decodePolicy) ?? Policy()
        if let g = map.optional("golden") { context.record("golden", g) }
        if let t = map.keyNode("table") { context.record("table.key", t) }
        if let t = map.optional("table") { context.record("table", t) }
        if let p = map.optional("partitions") { context.record("partitions", p) }

        ok = ok && version != nil && name != nil
        guard ok, let version, let name, let golden, let table, let partitions, let nodes, let transport,
            let bootloader
        else { return nil }
        return Plan(
            version: version, name: name, description: description, golden: golden, table: table,
            partitions: partitions, exclude: exclude, nodes: nodes, transport: transport, bootloader: bootloader,
            fixups: fixups, security: security, policy: policy, sourceFile: context.file)
    }

    static func isPlanName(_ s: String) -> Bool {
        guard let first = s.utf8.first, s.utf8.count <= 63 else { return false }
        func alnum(_ c: UInt8) -> Bool { (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) }
        return alnum(first) && s.utf8.allSatisfy { alnum($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }
    }

    // MARK: golden

    private func decodeGolden(_ node: YAMLNode) -> Golden? {
        guard let map = MappingReader(node, "golden", allowed: PlanKeys.golden, context: context) else { return nil }
        let disk = map.optional("disk").flatMap { devicePath($0, "golden.disk") }
        let image = map.optional("image").flatMap { context.nonEmptyString($0, "golden.image") }
        let root = map.optional("root").flatMap { absolutePath($0, "golden.root") }
        if map.has("disk"), map.has("image") {
            context.error(
                "conflicting-keys", "golden has both 'disk' and 'image'; give one source for the golden's files",
                at: map.keyNode("image")!)
            return nil
        }
        if map.has("root"), !map.has("disk") {
            context.error(
                "conflicting-keys", "golden.root applies to a live golden disk ('disk'), not to an image", at: map.keyNode("root")!)
            return nil
        }
        if let disk {
            context.record("golden.disk", map.optional("disk")!)
            return Golden(source: .disk(device: disk, root: root ?? "/"), range: context.range(node))
        }
        if let image {
            return Golden(source: .image(path: image), range: context.range(node))
        }
        if !map.has("disk"), !map.has("image") {
            context.error(
                "missing-key", "golden needs 'disk' (a live golden node) or 'image' (a golden disk image file)", at: node)
        }
        return nil
    }

    // MARK: partitions

    private func decodePartitions(_ node: YAMLNode) -> [Partition]? {
        guard case .sequence(let items) = node.content else {
            context.error("wrong-type", "partitions must be a list of partitions, not \(node.kindDescription)", at: node)
            return nil
        }
        if items.isEmpty {
            context.error("invalid-value", "partitions is empty; a plan needs at least one partition", at: node)
            return nil
        }
        if items.count > 256 {
            context.error(
                "invalid-value", "partitions holds \(items.count) entries; a table holds at most 256 (gpt: 128)", at: node)
            return nil
        }
        var result: [Partition] = []
        var ok = true
        for (index, item) in items.enumerated() {
            if let p = decodePartition(item, index: index) { result.append(p) } else { ok = false }
        }
        return ok ? result : nil
    }

    private func decodePartition(_ node: YAMLNode, index: Int) -> Partition? {
        let what = "partitions[\(index + 1)]"
        guard let map = MappingReader(node, "partition \(index + 1)", allowed: PlanKeys.partition, context: context)
        else { return nil }
        let path = "partitions[\(index)]"
        let id = map.required("id").flatMap { n -> String? in
            guard let s = context.string(n, "\(what).id") else { return nil }
            guard Self.isIdentifier(s) else {
                context.error(
                    "invalid-value", "partition id '\(s)' must start with a lower-case letter and hold only a-z, 0-9, '_' or '-' (at most 32)",
                    at: n)
                return nil
            }
            context.record("\(path).id", n)
            return s
        }
        let label = id.map { "partition '\($0)'" } ?? what
        let type = map.required("type").flatMap { partitionType($0, "\(label) type") }
        if let t = map.optional("type") { context.record("\(path).type", t) }
        let size = map.required("size").flatMap { sizeSpec($0, "\(label) size") }
        if let s = map.optional("size") { context.record("\(path).size", s) }
        var filesystem: Filesystem? = nil
        if let f = map.optional("filesystem") {
            filesystem = context.choice(f, "\(label) filesystem", Filesystem.self)
            context.record("\(path).filesystem", f)
        } else if let type {
            filesystem = switch type {
            case .swap: .swap
            case .efi: .vfat
            default: Filesystem.none
            }
        }
        let mount = map.optional("mount").flatMap { n -> String? in
            context.record("\(path).mount", n)
            return absolutePath(n, "\(label) mount")
        }
        let logical = map.optional("logical").flatMap { context.bool($0, "\(label) logical") } ?? false
        if let n = map.optional("logical") { context.record("\(path).logical", n) }
        let bootable = map.optional("bootable").flatMap { context.bool($0, "\(label) bootable") } ?? false
        if let n = map.optional("bootable") { context.record("\(path).bootable", n) }
        let name = map.optional("name").flatMap { n -> String? in
            context.record("\(path).name", n)
            guard let s = context.string(n, "\(label) name") else { return nil }
            if s.unicodeScalars.count > 36 {
                context.error("invalid-value", "GPT partition name '\(s)' is longer than 36 characters", at: n)
                return nil
            }
            return s
        }
        let fsLabel = map.optional("label").flatMap { n -> String? in
            context.record("\(path).label", n)
            return context.nonEmptyString(n, "\(label) label")
        }
        let mkfs = map.optional("mkfs-options").flatMap { context.argvList($0, "\(label) mkfs-options") } ?? []
        let mountOptions = map.optional("mount-options").flatMap { n -> [String]? in
            guard let list = context.argvList(n, "\(label) mount-options") else { return nil }
            for option in list where option.isEmpty || option.contains(",") || option.contains(where: \.isWhitespace) {
                context.error(
                    "invalid-value", "mount option '\(option)' of \(label) must be one option without commas or spaces",
                    at: n, hint: "write each option as its own list entry: [noatime, errors=remount-ro]")
                return nil
            }
            return list
        } ?? []
        guard let id, let type, let size, let filesystem else { return nil }
        if map.has("mount"), mount == nil { return nil }
        return Partition(
            id: id, type: type, size: size, filesystem: filesystem, mount: mount, logical: logical, bootable: bootable,
            name: name, label: fsLabel, mkfsOptions: mkfs, mountOptions: mountOptions, range: context.range(node))
    }

    static func isIdentifier(_ s: String) -> Bool {
        guard let first = s.utf8.first, first >= 97, first <= 122, s.utf8.count <= 32 else { return false }
        return s.utf8.allSatisfy {
            ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-")
        }
    }

    private func partitionType(_ node: YAMLNode, _ what: String) -> PartitionType? {
        if case .integer(let text)? = Scalar(node) {
            context.error(
                "wrong-type", "\(what) \(text) is a decimal number; write MBR types in hex", at: node,
                hint: "write 0x\(text) if you meant the MBR type byte \(text) in hex")
            return nil
        }
        guard let s = context.string(node, what) else { return nil }
        if let named = PartitionType.names[s] { return named }
        let hexDigits = s.hasPrefix("0x") || s.hasPrefix("0X") ? String(s.dropFirst(2)) : s
        if (1...2).contains(hexDigits.count), let code = UInt8(hexDigits, radix: 16) {
            if code == 0 {
                context.error("invalid-value", "\(what) 0x00 marks an empty slot, not a partition", at: node)
                return nil
            }
            return .mbr(code)
        }
        if Self.isGUID(s) { return .gpt(s.uppercased()) }
        let suggestion = Suggestions.closest(to: s, in: Array(PartitionType.names.keys).sorted())
        context.error(
            "invalid-value", "\(what) '\(s)' is not a partition type", at: node,
            hint: suggestion.map { "did you mean '\($0)'?" }
                ?? "use linux, swap, extended, efi, bios-boot, lvm, raid, an MBR byte like 0x83 or a GPT type GUID")
        return nil
    }

    static func isGUID(_ s: String) -> Bool {
        let groups = s.split(separator: "-", omittingEmptySubsequences: false)
        guard groups.map(\.count) == [8, 4, 4, 4, 12] else { return false }
        return groups.allSatisfy { $0.allSatisfy(\.isHexDigit) }
    }

    private func sizeSpec(_ node: YAMLNode, _ what: String) -> SizeSpec? {
        if case .string(let s)? = Scalar(node) {
            if s == "fill" { return .fill }
            if s.hasSuffix("%") {
                let number = s.dropLast()
                let parts = number.split(separator: ".", omittingEmptySubsequences: false)
                guard (1...2).contains(parts.count), parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isASCII && $0.isNumber } }),
                    let value = Double(number), value > 0, value <= 100
                else {
                    context.error("invalid-value", "\(what) '\(s)' must be a percentage above 0% and at most 100%", at: node)
                    return nil
                }
                return .percent(value)
            }
            if s.hasPrefix("-") {
                context.error("invalid-value", "\(what) '\(s)' is negative", at: node)
                return nil
            }
        }
        if case .integer(let text)? = Scalar(node), text.hasPrefix("-") {
            context.error("invalid-value", "\(what) \(text) is negative", at: node)
            return nil
        }
        return context.size(node, what, min: 1 << 20, max: 1 << 50).map { .fixed($0) }
    }

    // MARK: exclude

    private func decodeExclude(_ node: YAMLNode) -> Exclusions {
        guard let map = MappingReader(node, "exclude", allowed: PlanKeys.exclude, context: context) else {
            return Exclusions()
        }
        var disks: [String] = []
        if let d = map.optional("disks"), let list = context.stringList(d, "exclude.disks") {
            if case .sequence(let items) = d.content {
                for (i, item) in items.enumerated() { context.record("exclude.disks[\(i)]", item) }
            }
            for name in list where name.isEmpty || name.contains("|") || name.contains(" ") {
                context.error(
                    "invalid-value", "exclude.disks entry '\(name)' must be one disk name or path", at: d,
                    hint: "write a list: [sdb, sdc], not 'sdb|sdc'")
            }
            disks = list
        }
        var paths: [String] = []
        if let p = map.optional("paths"), case .sequence(let items) = p.content {
            for (i, item) in items.enumerated() {
                if let path = absolutePath(item, "exclude.paths entry") {
                    context.record("exclude.paths[\(i)]", item)
                    paths.append(path)
                }
            }
        } else if let p = map.optional("paths") {
            context.error("wrong-type", "exclude.paths must be a list of absolute paths, not \(p.kindDescription)", at: p)
        }
        return Exclusions(disks: disks, paths: paths)
    }

    // MARK: nodes

    private func decodeNodes(_ node: YAMLNode) -> [Node]? {
        guard let map = MappingReader(node, "nodes", allowed: PlanKeys.nodes, context: context) else { return nil }
        let count = map.optional("count").flatMap { context.integer($0, "nodes.count", in: 1...65536) }
        if let c = map.optional("count") { context.record("nodes.count", c) }
        let prefix = map.optional("prefix").flatMap { n -> String? in
            guard let s = context.string(n, "nodes.prefix") else { return nil }
            guard NameRange.isHostnameLabel(s + "1") else {
                context.error("invalid-value", "nodes.prefix '\(s)' cannot start a host name", at: n)
                return nil
            }
            return s
        } ?? "node"
        let defaultDisk = map.optional("disk").flatMap { devicePath($0, "nodes.disk") } ?? "/dev/sda"
        if let d = map.optional("disk") { context.record("nodes.disk", d) }
        let defaultSize = map.optional("disk-size").flatMap { context.size($0, "nodes.disk-size", min: 1 << 20) }
        if let d = map.optional("disk-size") { context.record("nodes.disk-size", d) }
        let nodeRange = context.range(node)

        if !map.has("count"), !map.has("list") {
            context.error("missing-key", "nodes needs 'count' or 'list'", at: node)
            return nil
        }
        if map.has("count"), count == nil { return nil }
        if let list = map.optional("list") {
            guard let nodes = decodeNodeList(list, defaultDisk: defaultDisk, defaultSize: defaultSize) else { return nil }
            if let count, count != nodes.count {
                context.error(
                    "node-count-mismatch",
                    "nodes.count is \(count) but nodes.list names \(nodes.count) node\(nodes.count == 1 ? "" : "s")",
                    at: map.optional("count")!, hint: "drop 'count' or make it \(nodes.count)")
            }
            return nodes
        }
        guard let count else { return nil }
        let width = max(2, String(count).count)
        return (1...count).map { i in
            let digits = String(i)
            let name = prefix + String(repeating: "0", count: width - digits.count) + digits
            return Node(name: name, target: .device(defaultDisk), diskSize: defaultSize, range: nodeRange)
        }
    }

    private func decodeNodeList(_ node: YAMLNode, defaultDisk: String, defaultSize: ByteSize?) -> [Node]? {
        guard case .sequence(let items) = node.content else {
            context.error("wrong-type", "nodes.list must be a list of nodes, not \(node.kindDescription)", at: node)
            return nil
        }
        if items.isEmpty {
            context.error("invalid-value", "nodes.list is empty", at: node)
            return nil
        }
        var result: [Node] = []
        var ok = true
        for (index, item) in items.enumerated() {
            guard let map = MappingReader(item, "node \(index + 1)", allowed: PlanKeys.node, context: context) else {
                ok = false
                continue
            }
            guard let nameNode = map.required("name"), let nameText = context.string(nameNode, "node name") else {
                ok = false
                continue
            }
            let names: [String]
            // The limit applies to the whole list, before anything is expanded.
            switch NameRange.expand(nameText, limit: max(1, 65536 - result.count)) {
            case .success(let expanded): names = expanded
            case .failure(let problem):
                context.error("invalid-value", "node name '\(nameText)': \(problem.message)", at: nameNode, hint: problem.hint)
                ok = false
                continue
            }
            var addresses: [String?] = Array(repeating: nil, count: names.count)
            if let a = map.optional("address"), let text = context.string(a, "node address") {
                switch NameRange.expandAddress(text) {
                case .success(let list):
                    if list.count == names.count {
                        addresses = list
                    } else if list.count == 1 && names.count > 1 {
                        context.error(
                            "range-mismatch", "node name '\(nameText)' names \(names.count) nodes but address '\(text)' is one address",
                            at: a, hint: "give an address range of the same length, like 10.0.0.[11-\(10 + names.count)]")
                        ok = false
                    } else {
                        context.error(
                            "range-mismatch",
                            "node name '\(nameText)' names \(names.count) nodes but address '\(text)' names \(list.count)",
                            at: a)
                        ok = false
                    }
                case .failure(let problem):
                    context.error("invalid-value", "node address '\(text)': \(problem.message)", at: a, hint: problem.hint)
                    ok = false
                }
            }
            var mac: String? = nil
            if let m = map.optional("mac"), let text = context.string(m, "node mac") {
                if names.count > 1 {
                    context.error(
                        "mac-on-range", "node name '\(nameText)' names \(names.count) nodes; one MAC cannot belong to all of them",
                        at: m, hint: "list these nodes one by one to give each its MAC")
                    ok = false
                } else if let normal = NameRange.normaliseMAC(text) {
                    mac = normal
                } else {
                    context.error("invalid-value", "node mac '\(text)' is not a MAC address like 52:54:00:12:34:56", at: m)
                    ok = false
                }
            }
            var target = Target.device(defaultDisk)
            if map.has("disk"), map.has("image") {
                context.error(
                    "conflicting-keys", "node '\(nameText)' has both 'disk' and 'image'; a node has one target", at: map.keyNode("image")!)
                ok = false
            } else if let d = map.optional("disk") {
                if let path = devicePath(d, "node disk") { target = .device(path) } else { ok = false }
            } else if let i = map.optional("image") {
                if let path = context.nonEmptyString(i, "node image") { target = .image(path) } else { ok = false }
            }
            var size = defaultSize
            if let s = map.optional("disk-size") {
                if let v = context.size(s, "node disk-size", min: 1 << 20) { size = v } else { ok = false }
            }
            for (k, name) in names.enumerated() {
                let n = result.count
                context.record("nodes[\(n)].name", nameNode)
                if let a = map.optional("address") { context.record("nodes[\(n)].address", a) }
                if let m = map.optional("mac") { context.record("nodes[\(n)].mac", m) }
                if let d = map.optional("disk") ?? map.optional("image") { context.record("nodes[\(n)].target", d) }
                if let s = map.optional("disk-size") { context.record("nodes[\(n)].disk-size", s) }
                result.append(
                    Node(name: name, address: addresses[k], mac: mac, target: target, diskSize: size, range: context.range(item)))
            }
        }
        if result.count > 65536 {
            context.error("invalid-value", "nodes.list names \(result.count) nodes; at most 65536 are supported", at: node)
            return nil
        }
        return ok ? result : nil
    }

    // MARK: transport

    private func decodeTransport(_ node: YAMLNode) -> Transport? {
        let all = PlanKeys.transportCommon + PlanKeys.transportChain + PlanKeys.transportMulticast
        guard let map = MappingReader(node, "transport", allowed: all, context: context) else { return nil }
        guard let kindNode = map.required("kind", hint: "write 'kind: chain' or 'kind: multicast'") else { return nil }
        guard let kindText = context.string(kindNode, "transport kind") else { return nil }
        guard let kind = Transport.Kind(rawValue: kindText) else {
            let suggestion = Suggestions.closest(to: kindText, in: Transport.Kind.allCases.map(\.rawValue))
            context.error(
                "unknown-transport", "unknown transport kind '\(kindText)'; kaplan has: chain, multicast", at: kindNode,
                hint: suggestion.map { "did you mean '\($0)'?" })
            return nil
        }
        context.record("transport.kind", kindNode)
        let foreign = kind == .chain ? PlanKeys.transportMulticast : PlanKeys.transportChain
        var ok = true
        for key in foreign where map.keyNode(key) != nil {
            let other = kind == .chain ? "multicast" : "chain"
            context.error(
                "key-for-other-transport", "'\(key)' applies to the \(other) transport, not to \(kind.rawValue)",
                at: map.keyNode(key)!, hint: "remove it, or set 'kind: \(other)'")
            ok = false
        }
        var t = Transport.defaults(kind: kind, range: context.range(node))
        func set<T>(_ key: String, _ read: (YAMLNode) -> T?, _ apply: (T) -> Void) {
            guard let n = map.optional(key) else { return }
            context.record("transport.\(key)", n)
            if let v = read(n) { apply(v) } else { ok = false }
        }
        set("port", { context.integer($0, "transport.port", in: 1...65535) }) { t.port = $0 }
        set("chunk-size", { context.size($0, "transport.chunk-size", min: 64 << 10, max: 64 << 20) }) { t.chunkSize = $0 }
        set("compression", { context.choice($0, "transport.compression", Transport.Compression.self) }) { t.compression = $0 }
        set("join-timeout", { context.duration($0, "transport.join-timeout", in: 1000...86_400_000) }) { t.joinTimeout = $0 }
        set("buffer", { context.size($0, "transport.buffer", min: 1 << 20, max: 4 << 30) }) { t.buffer = $0 }
        set("stall-timeout", { context.duration($0, "transport.stall-timeout", in: 1000...86_400_000) }) { t.stallTimeout = $0 }
        if kind == .chain {
            set("order", { context.choice($0, "transport.order", Transport.ChainOrder.self) }) { t.order = $0 }
            set("congestion-control", { n -> String? in
                guard let s = context.nonEmptyString(n, "transport.congestion-control") else { return nil }
                // The kernel's names (TCP_CA_NAME_MAX: 15 characters): cubic, bbr, reno, dctcp, htcp, …
                guard s.utf8.count <= 15, s.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") }) else {
                    context.error(
                        "invalid-value", "transport.congestion-control '\(s)' is not a TCP congestion control name", at: n,
                        hint: "a name the nodes' kernels have (cubic, bbr, reno, …; see net.ipv4.tcp_available_congestion_control), or 'system' for each kernel's default")
                    return nil
                }
                return s
            }) { t.congestionControl = $0 == "system" ? nil : $0 }
        } else {
            if let g = map.required("group", hint: "a multicast group such as 232.168.1.201") {
                context.record("transport.group", g)
                if let s = context.string(g, "transport.group") {
                    if NameRange.parseIPv4(s) == nil {
                        context.error("invalid-value", "transport.group '\(s)' is not an IPv4 address", at: g)
                        ok = false
                    } else {
                        t.group = s
                    }
                } else {
                    ok = false
                }
            } else {
                ok = false
            }
            set("data-port", { context.integer($0, "transport.data-port", in: 1...65535) }) { t.dataPort = $0 }
            set("interface", { n -> String? in
                guard let s = context.nonEmptyString(n, "transport.interface") else { return nil }
                guard s.utf8.count < 16, !s.contains("/"), !s.contains(where: \.isWhitespace) else {
                    context.error("invalid-value", "transport.interface '\(s)' is not a network interface name", at: n)
                    return nil
                }
                return s
            }) { t.interface = $0 }
            set("max-rate", { context.rate($0, "transport.max-rate") }) { t.maxRate = $0 }
            set("ttl", { context.integer($0, "transport.ttl", in: 1...255) }) { t.ttl = $0 }
            set("receiver-timeout", { context.duration($0, "transport.receiver-timeout", in: 100...3_600_000) }) {
                t.receiverTimeout = $0
            }
            set("fec", { n -> Transport.FEC? in
                guard let fec = MappingReader(n, "transport.fec", allowed: PlanKeys.fec, context: context) else { return nil }
                let data = fec.required("data").flatMap { context.integer($0, "transport.fec.data", in: 1...4096) }
                let parity = fec.required("parity").flatMap { context.integer($0, "transport.fec.parity", in: 0...128) }
                guard let data, let parity else { return nil }
                return Transport.FEC(data: data, parity: parity)
            }) { t.fec = $0 }
        }
        return ok ? t : nil
    }

    // MARK: bootloader, fixups, security, policy

    private func decodeBootloader(_ node: YAMLNode) -> Bootloader? {
        guard let map = MappingReader(node, "bootloader", allowed: PlanKeys.bootloader, context: context) else { return nil }
        guard let kindNode = map.required("kind"),
            let kind = context.choice(kindNode, "bootloader kind", Bootloader.Kind.self)
        else { return nil }
        context.record("bootloader.kind", kindNode)
        var b = Bootloader(kind: kind, range: context.range(node))
        var ok = true
        if let r = map.optional("removable") {
            if kind != .grubEFI {
                context.error("conflicting-keys", "bootloader.removable applies to grub-efi only", at: map.keyNode("removable")!)
                ok = false
            } else if let v = context.bool(r, "bootloader.removable") {
                b.removable = v
            } else {
                ok = false
            }
        }
        if let k = map.optional("kernel-options") {
            if let v = context.argvList(k, "bootloader.kernel-options") { b.kernelOptions = v } else { ok = false }
        }
        if let i = map.optional("initrd") {
            if let initrd = MappingReader(i, "bootloader.initrd", allowed: PlanKeys.initrd, context: context) {
                if let r = initrd.optional("rebuild") {
                    if let v = context.bool(r, "bootloader.initrd.rebuild") { b.initrdRebuild = v } else { ok = false }
                }
                if let m = initrd.optional("modules") {
                    if let v = context.stringList(m, "bootloader.initrd.modules") {
                        for module in v where module.isEmpty || module.contains(where: { $0.isWhitespace || $0 == "/" }) {
                            context.error("invalid-value", "initrd module '\(module)' is not a kernel module name", at: m)
                            ok = false
                        }
                        b.initrdModules = v
                    } else {
                        ok = false
                    }
                }
                if let t = initrd.optional("tool") {
                    if let v = context.choice(t, "bootloader.initrd.tool", Bootloader.InitrdTool.self) { b.initrdTool = v } else { ok = false }
                }
            } else {
                ok = false
            }
        }
        return ok ? b : nil
    }

    private func decodeFixups(_ node: YAMLNode) -> Fixups {
        var f = Fixups(range: context.range(node))
        guard let map = MappingReader(node, "fixups", allowed: PlanKeys.fixups, context: context) else { return f }
        if let n = map.optional("fstab") {
            context.record("fixups.fstab", n)
            f.fstab = context.choice(n, "fixups.fstab", Fixups.FstabMode.self) ?? f.fstab
        }
        func flag(_ key: String, _ on: String) -> Bool? {
            guard let n = map.optional(key) else { return nil }
            return context.choice(n, "fixups.\(key)", [(on, true), ("keep", false)])
        }
        f.hostname = flag("hostname", "from-node") ?? f.hostname
        f.machineIDReset = flag("machine-id", "reset") ?? f.machineIDReset
        f.sshHostKeysRegenerate = flag("ssh-host-keys", "regenerate") ?? f.sshHostKeysRegenerate
        f.networkClean = flag("network", "clean") ?? f.networkClean
        f.resumeUpdate = flag("resume", "update") ?? f.resumeUpdate
        if let c = map.optional("commands") {
            if case .sequence(let items) = c.content {
                for item in items {
                    if case .sequence = item.content, let argv = context.argvList(item, "a fix-up command") {
                        if argv.isEmpty || argv[0].isEmpty {
                            context.error("invalid-value", "a fix-up command needs at least a program name", at: item)
                        } else {
                            f.commands.append(argv)
                        }
                    } else if case .sequence = item.content {
                    } else {
                        context.error(
                            "wrong-type", "each fix-up command must be an argv list like [systemctl, enable, foo], not \(item.kindDescription)",
                            at: item, hint: "commands never go through a shell: split the words into a list")
                    }
                }
            } else {
                context.error(
                    "wrong-type", "fixups.commands must be a list of argv lists, not \(c.kindDescription)", at: c,
                    hint: "write commands: [[systemctl, enable, foo]]")
            }
        }
        return f
    }

    private func decodeSecurity(_ node: YAMLNode) -> Security {
        guard let map = MappingReader(node, "security", allowed: PlanKeys.security, context: context) else { return Security() }
        return Security(keyFile: map.optional("key-file").flatMap { context.nonEmptyString($0, "security.key-file") })
    }

    private func decodePolicy(_ node: YAMLNode) -> Policy {
        var p = Policy()
        guard let map = MappingReader(node, "policy", allowed: PlanKeys.policy, context: context) else { return p }
        if let n = map.optional("retries") { p.retries = context.integer(n, "policy.retries", in: 0...10) ?? p.retries }
        if let n = map.optional("step-timeout") {
            p.stepTimeout = context.duration(n, "policy.step-timeout", in: 1000...604_800_000) ?? p.stepTimeout
        }
        if let n = map.optional("parallel") { p.parallel = context.integer(n, "policy.parallel", in: 1...256) ?? p.parallel }
        if let n = map.optional("min-success") {
            context.record("policy.min-success", n)
            switch Scalar(n) {
            case .integer?:
                if let v = context.integer(n, "policy.min-success", in: 1...65536) { p.minSuccess = .count(v) }
            case .string(let s)? where s.hasSuffix("%"):
                if let v = Double(s.dropLast()), v > 0, v <= 100, s.dropLast().allSatisfy({ $0.isNumber || $0 == "." }) {
                    p.minSuccess = .percent(v)
                } else {
                    context.error("invalid-value", "policy.min-success '\(s)' must be a percentage above 0% and at most 100%", at: n)
                }
            default:
                context.error("wrong-type", "policy.min-success must be a node count like 3 or a share like 90%", at: n)
            }
        }
        return p
    }

    // MARK: paths

    private func devicePath(_ node: YAMLNode, _ what: String) -> String? {
        guard let s = context.string(node, what) else { return nil }
        guard s.hasPrefix("/dev/"), s.count > 5, !s.contains(where: \.isWhitespace) else {
            context.error(
                "invalid-value", "\(what) '\(s)' must be a device path under /dev/", at: node,
                hint: s.hasPrefix("/") || s.contains("/") ? "for a disk image file use 'image:'" : "write /dev/\(s)")
            return nil
        }
        return s
    }

    private func absolutePath(_ node: YAMLNode, _ what: String) -> String? {
        guard let s = context.string(node, what) else { return nil }
        guard s.hasPrefix("/") else {
            context.error("invalid-value", "\(what) '\(s)' must be an absolute path", at: node, hint: "write /\(s)")
            return nil
        }
        return s
    }
}
