import KaplanModel

/// Adds `NODE.initrd` (after the fix-ups it must see) and `NODE.bootloader` (after the initrd).
public struct BootSteps: GraphTransformer {
    /// Creates the transformer.
    public init() {}

    /// Adds the boot steps.
    public func apply(to graph: inout StepGraph, plan: Plan) {
        let b = plan.bootloader
        for node in plan.nodes {
            let fixups = graph.steps(of: node.name).filter { $0.address.kind == .fixup }.map(\.address)
            let before = (fixups.isEmpty ? [StepAddress(node.name, .stream)] : fixups).sorted()
            var bootDeps = before
            if b.initrdRebuild {
                let modules = b.initrdModules.isEmpty ? "" : " with modules \(b.initrdModules.joined(separator: " "))"
                let address = StepAddress(node.name, .initrd)
                graph.add(
                    Step(
                        address: address, dependencies: before,
                        summary: "rebuild the initrd (\(b.initrdTool.rawValue))\(modules)",
                        detail: .initrd(tool: b.initrdTool, modules: b.initrdModules)))
                bootDeps = [address]
            }
            guard b.kind != .none else { continue }
            let what: String =
                switch b.kind {
                case .grubBIOS: "grub-install --target=i386-pc \(node.target.path), then update-grub"
                case .grubEFI: "grub-install --target=x86_64-efi\(b.removable ? " --removable" : ""), then update-grub"
                case .extlinux: "extlinux --install /boot, then write its configuration"
                case .lilo: "lilo (only when the clone has it)"
                case .none: ""
                }
            graph.add(
                Step(
                    address: StepAddress(node.name, .bootloader), dependencies: bootDeps,
                    summary: what, detail: .bootloader(b, target: node.target)))
        }
    }
}
