import ArgumentParser
import Foundation
import KaplanEngine
import KaplanSimulator
import KaplanGraph
import KaplanLinux
import KaplanModel

/// `kaplan diff PLAN`: read every target (read-only) and show exactly what apply would do.
struct DiffCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Preview what apply would do to each node's disk (read-only).",
        discussion: """
            Exit codes: 0 success (with --detailed-exitcode: no changes), 1 error, 2 changes (with --detailed-exitcode), 64 usage.
            Nothing is written: tables are read through a read-only libfdisk context, filesystems through libblkid (O_RDONLY),
            the deployment stamp through debugfs (read-only).
            """
    )

    @Argument(help: "The plan file.")
    var plan: String

    @OptionGroup var targetOptions: TargetOptions

    @Option(name: .shortAndLong, help: "Save the plan (with digests of the plan file and of every target) for 'kaplan apply FILE'.")
    var out: String?

    @Flag(name: .long, help: "Exit 0 when nothing would change, 2 when something would.")
    var detailedExitcode = false

    @Option(name: .long, help: "Output format: text or json.")
    var format: OutputFormat = .text

    @Flag(name: .long, help: "Also run the deployment against a simulated host and print the operation trace.")
    var simulate = false

    func run() async throws {
        let loaded = try PlanFiles.loadValid(plan)
        let nodes = try targetOptions.resolve(loaded, planPath: plan)
        var resolvedPlan = loaded
        resolvedPlan.nodes = nodes
        let base = TargetOptions.planDirectory(plan)
        let golden = GoldenIdentity.of(loaded.golden.source, base: base)
        var all: [NodeChanges] = []
        var probeFailures = 0
        for node in nodes {
            do {
                let observed = try DiskProbe.probe(path: node.target.path)
                all.append(Planner().changes(plan: resolvedPlan, node: node, observed: observed, goldenIdentity: golden))
            } catch {
                probeFailures += 1
                all.append(
                    NodeChanges(
                        node: node.name, target: node.target, observed: .blank(0), layout: nil, changes: [],
                        problem: "cannot probe the target: \(error)"))
            }
        }
        switch format {
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            print(String(decoding: try encoder.encode(all), as: UTF8.self))
        default:
            for n in all { print(ChangeRenderer.text(n)) }
            print(ChangeRenderer.summary(all))
        }
        if simulate {
            try await simulateRun(resolvedPlan, changes: all)
        }
        if let out {
            guard case .success(let bytes) = PlanFiles.read(plan) else { throw ExitCode(1) }
            let saved = SavedPlan(planFile: plan, planFileBytes: bytes, goldenIdentity: golden, changes: all)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            try encoder.encode(saved).write(to: URL(fileURLWithPath: out))
            if format == .text { print("Saved to \(out); apply it with: kaplan apply \(out)") }
        }
        if all.contains(where: { $0.problem != nil }) { throw ExitCode(1) }
        if detailedExitcode, all.contains(where: \.hasChanges) { throw ExitCode(2) }
    }

    private func simulateRun(_ plan: Plan, changes: [NodeChanges]) async throws {
        let host = SimulatedHost(goldenBytes: 1 << 30)
        for c in changes { await host.addDisk(node: c.node, c.target.path, size: c.observed.sizeBytes, state: c.observed) }
        let result = await Executor(host: host, observer: NullObserver()).run(
            plan: plan, graph: GraphBuilder().build(plan), changes: changes)
        print("\nSimulated apply (in memory; nothing was written):")
        for entry in await host.trace { print("  \(entry)") }
        for o in result.outcomes {
            print("  \(o.node): \(o.ok ? "OK" : "KO at \(o.failure!.step): \(o.failure!.message)")")
        }
        print("  exit code apply would give: \(result.exitCode)")
    }
}

/// Ignores events.
struct NullObserver: ExecutionObserver {
    func handle(_ event: ExecutionEvent) {}
}
