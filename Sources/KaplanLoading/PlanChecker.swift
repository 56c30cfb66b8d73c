import KaplanModel

/// The semantic checks a decoded plan must pass: layout rules, uniqueness, compatibility, safety.
/// Each check reports at the most precise range the decoder recorded.
package struct PlanChecker {
    private let context: LoadContext
    private let plan: Plan

    /// Creates a checker for `plan`, reporting into `context`.
    package init(plan: Plan, context: LoadContext) {
        self.plan = plan
        self.context = context
    }

    private func at(_ path: String, or fallback: SourceRange) -> SourceRange { context.ranges[path] ?? fallback }

    private func error(_ code: String, _ message: String, _ range: SourceRange, hint: String? = nil) {
        context.report(Diagnostic(.error, code, message, at: range, hint: hint))
    }

    private func warning(_ code: String, _ message: String, _ range: SourceRange, hint: String? = nil) {
        context.report(Diagnostic(.warning, code, message, at: range, hint: hint))
    }

    /// Runs every check.
    package func run() {
        checkTable()
        checkFilesystems()
        checkMounts()
        checkFit()
        checkNodes()
        checkExclusions()
        checkTransport()
        checkBootloader()
        checkFixups()
    }

    // MARK: table rules

    private func checkTable() {
        let parts = plan.partitions
        var seen: [String: Int] = [:]
        for (i, p) in parts.enumerated() {
            if let first = seen[p.id] {
                error(
                    "duplicate-id", "partition id '\(p.id)' is used twice", at("partitions[\(i)].id", or: p.range),
                    hint: "the first '\(p.id)' is partition \(first + 1); ids must be unique")
            } else {
                seen[p.id] = i
            }
        }
        switch plan.table {
        case .gpt:
            for (i, p) in parts.enumerated() {
                if p.type == .extended {
                    error(
                        "extended-on-gpt", "partition '\(p.id)' is extended, but gpt has no extended partitions",
                        at("partitions[\(i)].type", or: p.range), hint: "on gpt every partition is primary: drop the extended one")
                }
                if p.logical {
                    error(
                        "logical-on-gpt", "partition '\(p.id)' is logical, but gpt has no logical partitions",
                        at("partitions[\(i)].logical", or: p.range), hint: "remove 'logical: true'")
                }
                if p.bootable {
                    error(
                        "bootable-on-gpt", "partition '\(p.id)' sets the dos bootable flag on a gpt table",
                        at("partitions[\(i)].bootable", or: p.range),
                        hint: "gpt boots through an efi or bios-boot partition; remove 'bootable'")
                }
                if case .mbr(let code) = p.type, p.type.gptGUID == nil {
                    error(
                        "invalid-value", "partition '\(p.id)' has MBR type \(PartitionType.mbr(code)), which has no gpt equivalent",
                        at("partitions[\(i)].type", or: p.range), hint: "use a named type or a GPT type GUID")
                }
            }
            if parts.count > 128 {
                error("invalid-value", "gpt holds at most 128 partitions; the plan has \(parts.count)", at("partitions", or: parts[0].range))
            }
        case .dos:
            var extendedIndex: Int? = nil
            var primaries = 0
            for (i, p) in parts.enumerated() {
                if p.name != nil {
                    error(
                        "name-on-dos", "partition '\(p.id)' has a GPT name, but the table is dos",
                        at("partitions[\(i)].name", or: p.range), hint: "use 'label' for a filesystem label")
                }
                if case .gpt = p.type {
                    error(
                        "invalid-value", "partition '\(p.id)' has a GPT type GUID, but the table is dos",
                        at("partitions[\(i)].type", or: p.range))
                }
                if p.type == .biosBoot {
                    error(
                        "invalid-value", "partition '\(p.id)' is bios-boot, which only exists on gpt",
                        at("partitions[\(i)].type", or: p.range), hint: "on dos, grub-bios installs into the gap before the first partition")
                }
                if p.type == .extended {
                    if p.logical {
                        error("invalid-value", "the extended partition '\(p.id)' cannot itself be logical", at("partitions[\(i)].logical", or: p.range))
                    }
                    if let first = extendedIndex {
                        error(
                            "multiple-extended", "partition '\(p.id)' is a second extended partition; dos allows one",
                            at("partitions[\(i)].type", or: p.range), hint: "the first is '\(parts[first].id)'")
                    } else {
                        extendedIndex = i
                    }
                }
                if p.logical {
                    if extendedIndex == nil {
                        if parts.contains(where: { $0.type == .extended }) {
                            error(
                                "logical-before-extended", "logical partition '\(p.id)' comes before the extended partition",
                                at("partitions[\(i)].logical", or: p.range), hint: "list logical partitions after the extended one")
                        } else {
                            error(
                                "logical-without-extended", "logical partition '\(p.id)' needs an extended partition to live in",
                                at("partitions[\(i)].logical", or: p.range),
                                hint: "add '{ id: ext, type: extended, size: fill }' before it")
                        }
                    }
                } else {
                    primaries += 1
                    if primaries == 5 {
                        error(
                            "too-many-primaries", "partition '\(p.id)' is a 5th primary partition; dos holds at most 4 (the extended one counts)",
                            at("partitions[\(i)].id", or: p.range), hint: "make it logical, inside an extended partition, or use gpt")
                    }
                }
            }
            if let e = extendedIndex, !parts[(e + 1)...].contains(where: \.logical) {
                warning(
                    "empty-extended", "extended partition '\(parts[e].id)' holds no logical partitions",
                    at("partitions[\(e)].id", or: parts[e].range))
            }
            if let e = extendedIndex {
                for (i, p) in parts.enumerated() where i > e && !p.logical && parts[(i + 1)...].contains(where: \.logical) {
                    error(
                        "logical-before-extended", "primary partition '\(p.id)' sits between logical partitions",
                        at("partitions[\(i)].id", or: p.range), hint: "list the logical partitions together, right after the extended one")
                }
            }
        }
        checkFillPlacement()
        let percent = parts.filter { !$0.logical }.reduce(0.0) { sum, p in
            if case .percent(let v) = p.size { return sum + v }
            return sum
        }
        if percent > 100 {
            let index = parts.lastIndex { if case .percent = $0.size { return true } else { return false } } ?? 0
            error(
                "percent-over-100", "percentage sizes add up to \(percent)% of the disk",
                at("partitions[\(index)].size", or: parts[index].range))
        }
    }

    private func checkFillPlacement() {
        let parts = plan.partitions
        for (i, p) in parts.enumerated() where p.size == .fill {
            // The primaries (and the extended) form one sequence; logicals another inside the extended.
            let rest = parts[(i + 1)...].filter { $0.logical == p.logical }
            if !rest.isEmpty {
                let scope = p.logical ? "the extended partition" : "the table"
                error(
                    "fill-not-last", "partition '\(p.id)' has size fill but is not the last partition of \(scope)",
                    at("partitions[\(i)].size", or: p.range),
                    hint: "'\(rest[0].id)' comes after it; move '\(p.id)' last or give it a size")
            }
        }
    }

    // MARK: filesystems and mounts

    private func checkFilesystems() {
        for (i, p) in plan.partitions.enumerated() {
            let fsRange = at("partitions[\(i)].filesystem", or: at("partitions[\(i)].type", or: p.range))
            switch p.type {
            case .swap where p.filesystem != .swap:
                error("filesystem-type-mismatch", "partition '\(p.id)' has type swap but filesystem \(p.filesystem.rawValue)", fsRange,
                      hint: "use 'filesystem: swap', or type linux for a data filesystem")
            case .linux where p.filesystem == .swap:
                error("filesystem-type-mismatch", "partition '\(p.id)' has filesystem swap but type linux", fsRange, hint: "use 'type: swap'")
            case .efi where p.filesystem != .vfat:
                error("filesystem-type-mismatch", "EFI system partition '\(p.id)' must be vfat, not \(p.filesystem.rawValue)", fsRange)
            case .extended where p.filesystem != .none, .biosBoot where p.filesystem != .none:
                error("filesystem-type-mismatch", "partition '\(p.id)' of type \(p.type) cannot carry a filesystem", fsRange, hint: "remove 'filesystem'")
            default: break
            }
            if let label = p.label {
                if let limit = p.filesystem.maxLabelBytes {
                    if label.utf8.count > limit {
                        error(
                            "label-too-long", "label '\(label)' of partition '\(p.id)' is \(label.utf8.count) bytes; \(p.filesystem.rawValue) allows \(limit)",
                            at("partitions[\(i)].label", or: p.range))
                    }
                } else {
                    error("invalid-value", "partition '\(p.id)' has a label but no filesystem to carry it", at("partitions[\(i)].label", or: p.range))
                }
            }
            if case .fixed(let size) = p.size, let minimum = p.filesystem.minimumBytes, size.bytes < minimum {
                error(
                    "filesystem-too-small", "partition '\(p.id)' is \(size) but mkfs.\(p.filesystem.rawValue) needs at least \(ByteSize(minimum))",
                    at("partitions[\(i)].size", or: p.range))
            }
        }
    }

    private func checkMounts() {
        var mounts: [String: Int] = [:]
        var root = false
        for (i, p) in plan.partitions.enumerated() {
            guard let mount = p.mount else { continue }
            let range = at("partitions[\(i)].mount", or: p.range)
            if !p.filesystem.holdsFiles {
                error(
                    "mount-without-filesystem", "partition '\(p.id)' is mounted at \(mount) but its filesystem is \(p.filesystem.rawValue)",
                    range, hint: p.filesystem == .swap ? "swap is activated, not mounted: remove 'mount'" : "give it a filesystem")
                continue
            }
            let normal = Self.normalise(mount)
            if normal != mount {
                error("mount-not-normalized", "mountpoint '\(mount)' is not in normal form", range, hint: "write \(normal)")
                continue
            }
            if let first = mounts[mount] {
                error(
                    "duplicate-mount", "mountpoint \(mount) is used by '\(plan.partitions[first].id)' and '\(p.id)'", range)
                continue
            }
            mounts[mount] = i
            if mount == "/" { root = true }
        }
        if !root {
            let anyMount = plan.partitions.contains { $0.mount != nil }
            error(
                "no-root", "no partition is mounted at /", at("partitions", or: SourceRange.file(plan.sourceFile)),
                hint: anyMount ? "add 'mount: /' to the root partition" : "give the root partition 'filesystem: ext4' and 'mount: /'")
        }
        for path in plan.exclude.paths where Self.normalise(path) != path {
            let i = plan.exclude.paths.firstIndex(of: path)!
            error("mount-not-normalized", "excluded path '\(path)' is not in normal form", at("exclude.paths[\(i)]", or: SourceRange.file(plan.sourceFile)),
                  hint: "write \(Self.normalise(path))")
        }
    }

    /// Removes `.`, empty and trailing components and resolves `..` (never above `/`).
    static func normalise(_ path: String) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." {
                _ = parts.popLast()
                continue
            }
            parts.append(part)
        }
        return "/" + parts.joined(separator: "/")
    }

    // MARK: fit

    private func checkFit() {
        var sizes: [(ByteSize, String)] = []
        for (n, node) in plan.nodes.enumerated() {
            if let size = node.diskSize, !sizes.contains(where: { $0.0 == size }) {
                sizes.append((size, "nodes[\(n)]"))
            }
        }
        for (size, path) in sizes {
            if case .failure(let problem) = Layout.resolve(table: plan.table, partitions: plan.partitions, diskBytes: size.bytes) {
                let p = plan.partitions[problem.index]
                error(
                    "layout-too-large", problem.message, at("partitions[\(problem.index)].size", or: p.range),
                    hint: "the disk size (\(size)) is declared on line \((context.ranges["\(path).disk-size"] ?? context.ranges["nodes.disk-size"])?.start.line ?? 0)")
            }
        }
    }

    // MARK: nodes

    private func checkNodes() {
        var names: [String: Int] = [:]
        var addresses: [String: Int] = [:]
        var macs: [String: Int] = [:]
        for (i, node) in plan.nodes.enumerated() {
            if let first = names[node.name.lowercased()] {
                error(
                    "duplicate-node", "node name '\(node.name)' is used twice", at("nodes[\(i)].name", or: node.range),
                    hint: "first declared at line \(context.ranges["nodes[\(first)].name"]?.start.line ?? 0)")
            } else {
                names[node.name.lowercased()] = i
            }
            if let a = node.address {
                if let first = addresses[a] {
                    error(
                        "duplicate-address", "address \(a) is given to '\(plan.nodes[first].name)' and '\(node.name)'",
                        at("nodes[\(i)].address", or: node.range))
                } else {
                    addresses[a] = i
                }
            }
            if let m = node.mac {
                if let first = macs[m] {
                    error(
                        "duplicate-mac", "MAC \(m) is given to '\(plan.nodes[first].name)' and '\(node.name)'",
                        at("nodes[\(i)].mac", or: node.range))
                } else {
                    macs[m] = i
                }
            }
        }
        var images: [String: Int] = [:]
        for (i, node) in plan.nodes.enumerated() {
            guard case .image(let path) = node.target else { continue }
            if let first = images[path] {
                error(
                    "duplicate-target", "nodes '\(plan.nodes[first].name)' and '\(node.name)' both write image \(path)",
                    at("nodes[\(i)].target", or: node.range))
            } else {
                images[path] = i
            }
        }
    }

    // MARK: exclusions and safety

    private static func diskName(_ s: String) -> String { s.hasPrefix("/dev/") ? String(s.dropFirst(5)) : s }

    private func isExcluded(_ device: String) -> String? {
        let name = Self.diskName(device)
        return plan.exclude.disks.first { Self.diskName($0) == name }
    }

    private func checkExclusions() {
        let goldenRange = at("golden.disk", or: plan.golden.range)
        if case .disk(let device, _) = plan.golden.source, let hit = isExcluded(device) {
            error(
                "excluded-golden", "the golden disk \(device) is excluded ('\(hit)' in exclude.disks)", goldenRange,
                hint: "an excluded disk is never read or written; remove it from exclude.disks or pick another golden disk")
        }
        var reported = Set<String>()
        for (i, node) in plan.nodes.enumerated() {
            guard case .device(let device) = node.target else { continue }
            let range = at("nodes[\(i)].target", or: at("nodes.disk", or: node.range))
            if let hit = isExcluded(device), reported.insert("x" + device + "\(range)").inserted {
                error(
                    "excluded-target", "node '\(node.name)' would write \(device), which exclude.disks names ('\(hit)')",
                    range, hint: "kaplan never writes an excluded disk; give the node another disk")
            }
            if case .image(let image) = plan.golden.source, image == device {
                error("target-is-golden", "node '\(node.name)' targets the golden image", range)
            }
        }
        for (i, node) in plan.nodes.enumerated() {
            if case .image(let path) = node.target, case .image(let golden) = plan.golden.source, path == golden {
                error(
                    "target-is-golden", "node '\(node.name)' would write the golden image \(golden)",
                    at("nodes[\(i)].target", or: node.range), hint: "the golden is only ever read")
            }
        }
        for (i, path) in plan.exclude.paths.enumerated() where Self.normalise(path) == "/" {
            error("exclude-root", "exclude.paths holds /, which would copy nothing", at("exclude.paths[\(i)]", or: plan.golden.range))
        }
    }

    // MARK: transport

    private func checkTransport() {
        let t = plan.transport
        if t.kind == .multicast, let group = t.group, let octets = NameRange.parseIPv4(group), !(224...239).contains(octets[0]) {
            error(
                "group-not-multicast", "transport.group \(group) is not a multicast address (224.0.0.0/4)",
                at("transport.group", or: t.range), hint: "use a group such as 232.168.1.201 (source-specific) or 239.x.y.z (site-local)")
        }
        if t.kind == .multicast, let fec = t.fec, fec.data <= 254, fec.data + fec.parity > 255 {
            error(
                "fec-too-large", "transport.fec: data (\(fec.data)) + parity (\(fec.parity)) is \(fec.data + fec.parity); a block of at most 254 data datagrams (Cauchy Reed–Solomon over GF(2^8)) holds at most 255 datagrams",
                at("transport.fec", or: t.range), hint: "use fewer parity datagrams, or data 255 or more (a wider block with a random code)")
        }
        if t.kind == .multicast, t.dataPort == t.port {
            error(
                "port-conflict", "transport.data-port and transport.port are both \(t.port)", at("transport.data-port", or: t.range),
                hint: "the control port and the data port must differ")
        }
    }

    // MARK: bootloader

    private func checkBootloader() {
        let b = plan.bootloader
        let range = at("bootloader.kind", or: b.range)
        switch b.kind {
        case .grubEFI:
            if !plan.partitions.contains(where: { $0.type == .efi }) {
                error(
                    "grub-efi-without-esp", "grub-efi needs an EFI system partition, and the plan has none", range,
                    hint: "add '{ id: esp, type: efi, size: 512MiB, filesystem: vfat, mount: /boot/efi }'")
            } else if !plan.partitions.contains(where: { $0.type == .efi && $0.mount != nil }) {
                error("grub-efi-without-esp", "the EFI system partition must be mounted (usually at /boot/efi) for grub-efi", range)
            }
        case .grubBIOS:
            if plan.table == .gpt, !plan.partitions.contains(where: { $0.type == .biosBoot }) {
                error(
                    "grub-bios-gpt-without-bios-boot", "grub-bios on a gpt disk needs a bios-boot partition", range,
                    hint: "add '{ id: bios, type: bios-boot, size: 1MiB }' as the first partition")
            }
        case .lilo:
            if plan.table == .gpt {
                error("lilo-on-gpt", "lilo cannot boot from a gpt disk", range, hint: "use grub-bios or grub-efi")
            }
        case .extlinux, .none:
            break
        }
    }

    // MARK: fix-ups

    private func checkFixups() {
        if plan.fixups.fstab == .label {
            for (i, p) in plan.partitions.enumerated() where (p.mount != nil || p.filesystem == .swap) && p.label == nil {
                error(
                    "label-required", "fixups.fstab is 'label' but partition '\(p.id)' has no label",
                    at("partitions[\(i)].id", or: p.range), hint: "add 'label: \(p.id)' or use 'fstab: uuid'")
            }
        }
    }
}
