import KaplanModel

/// Adds `NODE.fixup[NAME]` for each fix-up the plan keeps on; plan commands run last, in order.
public struct FixupSteps: GraphTransformer {
    /// Creates the transformer.
    public init() {}

    /// Adds the fix-up steps.
    public func apply(to graph: inout StepGraph, plan: Plan) {
        let f = plan.fixups
        for node in plan.nodes {
            let stream = StepAddress(node.name, .stream)
            var builtins: [(String, Step.Fixup)] = []
            if f.fstab != .keep {
                builtins.append(("rewrite /etc/fstab to name filesystems by \(f.fstab.rawValue)", .fstab(f.fstab)))
            }
            if f.hostname { builtins.append(("set /etc/hostname and /etc/hosts to \(node.name)", .hostname(node.name))) }
            if f.machineIDReset { builtins.append(("empty /etc/machine-id (regenerated at first boot)", .machineID)) }
            if f.sshHostKeysRegenerate { builtins.append(("regenerate SSH host keys", .sshHostKeys)) }
            if f.networkClean { builtins.append(("remove persistent-net rules and DHCP leases", .network)) }
            if f.resumeUpdate, plan.partitions.contains(where: { $0.filesystem == .swap }) {
                builtins.append(("point resume= at the clone's swap UUID", .resume))
            }
            var previous: [StepAddress] = []
            for (summary, fixup) in builtins {
                let address = StepAddress(node.name, .fixup, fixup.name)
                graph.add(Step(address: address, dependencies: [stream], summary: summary, detail: .fixup(fixup)))
                previous.append(address)
            }
            var last: StepAddress? = nil
            for (i, argv) in f.commands.enumerated() {
                let fixup = Step.Fixup.command(index: i + 1, argv: argv)
                let address = StepAddress(node.name, .fixup, fixup.name)
                let deps = (last.map { [$0] } ?? previous + [stream]).sorted()
                graph.add(
                    Step(
                        address: address, dependencies: deps, summary: "run in chroot: \(argv.joined(separator: " "))",
                        detail: .fixup(fixup)))
                last = address
            }
        }
    }
}
