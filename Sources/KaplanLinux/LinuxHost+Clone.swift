import Foundation
import KaplanEngine
import KaplanGraph
import KaplanModel

/// The steps that work inside the clone: fix-ups, initrd, bootloader. Each one that needs a chroot prepares
/// it (binds /dev, /proc, /sys, /run; makes /dev/disk/by-uuid links for the new filesystems) and tears it
/// down before it returns, so nothing stays mounted between steps.
extension LinuxHost {
    /// The new filesystems' UUIDs mapped to the devices that hold them, for the chroot's by-uuid links.
    func uuidDevices(node: String, facts: CloneFacts) -> [String: String] {
        let devices = state.withLock { $0.nodes[node]?.partitionDevices } ?? [:]
        var result: [String: String] = [:]
        for e in facts.layout.entries {
            if let uuid = facts.uuids[e.id], let device = devices[e.number] { result[uuid] = device }
        }
        return result
    }

    /// Runs `body` with a chroot of the node's clone (mounted on first use, by the runner) and always tears it
    /// down; steps of one node that work in its clone run one at a time.
    func withChroot<T>(node: String, facts: CloneFacts, _ body: (ChrootRunner) throws -> T) throws -> T {
        let lock = cloneLock(node)
        lock.lock()
        defer { lock.unlock() }
        let chroot = ChrootRunner(root: nodeRoot(node), devices: uuidDevices(node: node, facts: facts))
        defer { _ = chroot.teardown() }
        return try body(chroot)
    }

    public func fixup(node: String, fixup: Step.Fixup, facts: CloneFacts) async throws {
        let root = nodeRoot(node)
        do {
            _ = try await blocking {
                try self.withChroot(node: node, facts: facts) { chroot in
                    try CloneFixer(root: root).apply(fixup, facts: facts, chroot: chroot)
                }
            }
        } catch let e as HostError where !e.message.hasPrefix(node) {
            throw HostError(e.code, "\(node).fixup[\(fixup.name)]: \(e.message)", cause: e.cause)
        }
    }

    public func rebuildInitrd(node: String, tool: Bootloader.InitrdTool, modules: [String], facts: CloneFacts) async throws {
        let root = nodeRoot(node)
        try await blocking {
            try self.withChroot(node: node, facts: facts) { chroot in
                try Self.rebuildInitrd(root: root, node: node, tool: tool, modules: modules, chroot: chroot)
            }
        }
    }

    static func has(_ root: String, _ paths: [String]) -> String? {
        paths.first { FileManager.default.isExecutableFile(atPath: root + $0) }
    }

    static func rebuildInitrd(root: String, node: String, tool: Bootloader.InitrdTool, modules: [String], chroot: ChrootRunner) throws {
        let updateInitramfs = has(root, ["/usr/sbin/update-initramfs", "/sbin/update-initramfs"])
        let dracut = has(root, ["/usr/bin/dracut", "/usr/sbin/dracut", "/sbin/dracut"])
        let mkinitrd = has(root, ["/usr/sbin/mkinitrd", "/sbin/mkinitrd"])
        let chosen: Bootloader.InitrdTool
        switch tool {
        case .auto:
            if updateInitramfs != nil { chosen = .updateInitramfs } else if dracut != nil { chosen = .dracut } else if mkinitrd != nil {
                chosen = .mkinitrd
            } else {
                throw HostError(
                    "no-initrd-tool", "\(node).initrd: the clone has no update-initramfs, dracut or mkinitrd",
                    cause: "install one in the golden, or set bootloader.initrd.rebuild: false")
            }
        default: chosen = tool
        }
        let argv: [String]
        switch chosen {
        case .updateInitramfs:
            guard updateInitramfs != nil else { throw HostError("no-initrd-tool", "\(node).initrd: the clone has no update-initramfs") }
            if !modules.isEmpty {
                // Modules forced into the initramfs: one per line in /etc/initramfs-tools/modules.
                let path = root + "/etc/initramfs-tools/modules"
                let existing = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
                let present = Set(existing.split(separator: "\n").map { $0.split(separator: " ").first.map(String.init) ?? "" })
                let missing = modules.filter { !present.contains($0) }
                if !missing.isEmpty {
                    let text = existing + (existing.isEmpty || existing.hasSuffix("\n") ? "" : "\n")
                        + "# added by kaplan (bootloader.initrd.modules)\n" + missing.joined(separator: "\n") + "\n"
                    try text.write(toFile: path, atomically: true, encoding: .utf8)
                }
            }
            argv = ["update-initramfs", "-u", "-k", "all"]
        case .dracut:
            guard dracut != nil else { throw HostError("no-initrd-tool", "\(node).initrd: the clone has no dracut") }
            argv = ["dracut", "--force", "--regenerate-all"] + (modules.isEmpty ? [] : ["--add-drivers", modules.joined(separator: " ")])
        case .mkinitrd:
            guard mkinitrd != nil else { throw HostError("no-initrd-tool", "\(node).initrd: the clone has no mkinitrd") }
            argv = ["mkinitrd"] + modules.flatMap { ["--with=\($0)"] }
        case .auto:
            argv = []
        }
        do {
            let r = try chroot.run(argv, timeout: 1800)
            guard r.status == 0 else {
                throw HostError("initrd-failed", "\(node).initrd: \(argv[0]) failed (exit \(r.status))", cause: r.lastLine)
            }
        } catch let e as HostError where !e.message.hasPrefix(node) {
            throw HostError("initrd-failed", "\(node).initrd: \(argv[0]) failed", cause: e.description)
        }
    }

    public func installBootloader(node: String, bootloader: Bootloader, target: Target, facts: CloneFacts) async throws {
        let root = nodeRoot(node)
        try await blocking {
            // GRUB needs the whole disk: an image gets a read-write loop of its own for the install.
            var wholeDisk = target.path
            var loop: String? = nil
            if case .image(let file) = target {
                loop = try Loop.attach(file)
                wholeDisk = loop!
            }
            defer { if let loop { Loop.detach(loop) } }
            try self.withChroot(node: node, facts: facts) { chroot in
                try Self.install(bootloader, root: root, node: node, disk: wholeDisk, facts: facts, chroot: chroot)
            }
        }
    }

    static func install(_ b: Bootloader, root: String, node: String, disk: String, facts: CloneFacts, chroot: ChrootRunner) throws {
        func run(_ argv: [String], _ what: String) throws {
            do {
                let r = try chroot.run(argv, timeout: 1200)
                guard r.status == 0 else {
                    throw HostError("bootloader-failed", "\(node).bootloader: \(what) failed (exit \(r.status))", cause: r.lastLine)
                }
            } catch let e as HostError where !e.message.hasPrefix(node) {
                throw HostError("bootloader-failed", "\(node).bootloader: \(what) failed", cause: e.description)
            }
        }
        if !b.kernelOptions.isEmpty { try addKernelOptions(b.kernelOptions, root: root) }
        switch b.kind {
        case .grubBIOS, .grubEFI:
            guard has(root, ["/usr/sbin/grub-install", "/sbin/grub-install"]) != nil else {
                throw HostError(
                    "no-bootloader", "\(node).bootloader: the clone has no grub-install",
                    cause: "install \(b.kind == .grubBIOS ? "grub-pc" : "grub-efi-amd64") in the golden")
            }
            // Each partition of an image is a loop device of its own, so grub-install sees / on a whole disk without
            // a table and leaves the partition module out of the core image: the clone then stops at GRUB's
            // "no such device: <uuid>" and `grub rescue>`. Name the table's module.
            let tableModule = "--modules=" + (facts.table == .gpt ? "part_gpt" : "part_msdos")
            if b.kind == .grubBIOS {
                try run(["grub-install", "--target=i386-pc", "--recheck", tableModule, disk], "grub-install --target=i386-pc \(disk)")
            } else {
                guard let esp = facts.partitions.first(where: { $0.type == .efi })?.mount else {
                    throw HostError("no-esp", "\(node).bootloader: grub-efi needs a mounted EFI system partition")
                }
                try run(
                    ["grub-install", "--target=x86_64-efi", "--efi-directory=\(esp)", "--no-nvram", tableModule]
                        + (b.removable ? ["--removable"] : []),
                    "grub-install --target=x86_64-efi")
            }
            let mkconfig = has(root, ["/usr/sbin/update-grub", "/sbin/update-grub"]) != nil
                ? ["update-grub"] : ["grub-mkconfig", "-o", "/boot/grub/grub.cfg"]
            try withRootDevice(root: root, node: node, facts: facts) { try run(mkconfig, mkconfig[0]) }
            try checkGrubConfig(root: root, node: node, facts: facts)
        case .extlinux:
            guard has(root, ["/usr/bin/extlinux", "/usr/sbin/extlinux", "/sbin/extlinux"]) != nil else {
                throw HostError("no-bootloader", "\(node).bootloader: the clone has no extlinux", cause: "install extlinux in the golden")
            }
            try FileManager.default.createDirectory(atPath: root + "/boot/extlinux", withIntermediateDirectories: true)
            try run(["extlinux", "--install", "/boot/extlinux"], "extlinux --install")
            try rewriteRoot(in: root + "/boot/extlinux/extlinux.conf", facts: facts)
        case .lilo:
            guard has(root, ["/sbin/lilo", "/usr/sbin/lilo"]) != nil else {
                throw HostError("no-bootloader", "\(node).bootloader: lilo was asked for but the clone has no lilo", cause: "use grub-bios, or install lilo in the golden")
            }
            try rewriteRoot(in: root + "/etc/lilo.conf", facts: facts)
            try run(["lilo"], "lilo")
        case .none:
            break
        }
    }

    /// Runs `body` (grub-mkconfig) with `GRUB_DEVICE=/dev/disk/by-uuid/<root uuid>` and `GRUB_DEVICE_UUID` appended to the clone's
    /// /etc/default/grub, and puts the file back byte for byte afterwards, whatever happens. grub-mkconfig reads
    /// that file after probing the device of /, so the setting wins; without it, a root on /dev/loop0…9 (an image
    /// target's partition) makes 10_linux write no menu entry at all ("cannot cope with devices loop-mounted from
    /// files"). The chroot's by-uuid link makes the path resolve, and 10_linux then writes root=UUID=<uuid>.
    static func withRootDevice(root: String, node: String, facts: CloneFacts, _ body: () throws -> Void) throws {
        guard let rootID = facts.partitions.first(where: { $0.mount == "/" })?.id, let uuid = facts.uuids[rootID] else {
            return try body()
        }
        // Through CloneTree: a symlinked /etc/default/grub resolves inside the clone, and writes keep mode and owner.
        let tree = CloneTree(root: root)
        let path = "/etc/default/grub"
        let original = try tree.read(path)
        var text = original ?? []
        if !text.isEmpty && text.last != UInt8(ascii: "\n") { text.append(UInt8(ascii: "\n")) }
        text += Array("GRUB_DEVICE=/dev/disk/by-uuid/\(uuid)  # kaplan: for this grub-mkconfig run only; removed again\n".utf8)
        // grub-probe's own fs_uuid probe of a loop partition is not reliable (seen empty when two clones were
        // configured at once, giving root=/dev/disk/by-uuid/…): state the UUID too, so 10_linux writes root=UUID=.
        text += Array("GRUB_DEVICE_UUID=\(uuid)  # kaplan: for this grub-mkconfig run only; removed again\n".utf8)
        try tree.write(path, text)
        let outcome = Result { try body() }
        do {
            if let original { try tree.write(path, original) } else { try tree.remove(path) }
        } catch {
            throw HostError(
                "bootloader-failed", "\(node).bootloader: cannot restore \(tree.describe(path)) after grub-mkconfig",
                cause: "\(error); remove its GRUB_DEVICE=… line (marked kaplan) by hand")
        }
        try outcome.get()
    }

    /// GRUB must boot the clone's root by its new UUID (without udev, grub-mkconfig can fall back to a device path).
    static func checkGrubConfig(root: String, node: String, facts: CloneFacts) throws {
        guard let rootID = facts.partitions.first(where: { $0.mount == "/" })?.id, let uuid = facts.uuids[rootID] else { return }
        let cfg = (try? String(contentsOfFile: root + "/boot/grub/grub.cfg", encoding: .utf8)) ?? ""
        // root=UUID=… is what 10_linux writes when it sees the chroot's by-uuid link; root=/dev/disk/by-uuid/… (what it
        // writes when its own probe comes back empty) names the same filesystem, and the initramfs's udev resolves it.
        guard cfg.contains("root=UUID=\(uuid)") || cfg.contains("root=/dev/disk/by-uuid/\(uuid)") else {
            let found = cfg.split(separator: "\n").first { $0.contains("root=") }.map { String($0.trimmingCharacters(in: .whitespaces).prefix(120)) }
            throw HostError(
                "bootloader-failed", "\(node).bootloader: /boot/grub/grub.cfg does not boot root=UUID=\(uuid)",
                cause: found.map { "it has: \($0)" } ?? "no linux line was generated (is a kernel installed in the golden?)")
        }
    }

    /// Appends kernel options to GRUB_CMDLINE_LINUX in /etc/default/grub (once each).
    static func addKernelOptions(_ options: [String], root: String) throws {
        let path = root + "/etc/default/grub"
        guard var text = try? String(contentsOfFile: path, encoding: .utf8) else { return }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if let i = lines.firstIndex(where: { $0.hasPrefix("GRUB_CMDLINE_LINUX=") }) {
            var value = String(lines[i].dropFirst("GRUB_CMDLINE_LINUX=".count)).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            for o in options where !value.split(separator: " ").contains(Substring(o)) { value += (value.isEmpty ? "" : " ") + o }
            lines[i] = "GRUB_CMDLINE_LINUX=\"\(value)\""
        } else {
            lines.append("GRUB_CMDLINE_LINUX=\"\(options.joined(separator: " "))\"")
        }
        text = lines.joined(separator: "\n")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// Points `root=` in a boot configuration at the clone's root UUID.
    static func rewriteRoot(in path: String, facts: CloneFacts) throws {
        guard let rootID = facts.partitions.first(where: { $0.mount == "/" })?.id, let uuid = facts.uuids[rootID],
            let text = try? String(contentsOfFile: path, encoding: .utf8)
        else { return }
        let rewritten = text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            line.split(separator: " ", omittingEmptySubsequences: false).map { word in
                word.hasPrefix("root=") ? "root=UUID=\(uuid)" : String(word)
            }.joined(separator: " ")
        }.joined(separator: "\n")
        try rewritten.write(toFile: path, atomically: true, encoding: .utf8)
    }
}
