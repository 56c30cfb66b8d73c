import ArgumentParser
import Foundation
import KaplanArchive
import KaplanEngine
import KaplanGraph
import KaplanLinux
import KaplanModel

/// `kaplan apply PLAN|SAVED`: deploy the plan to its targets on this machine (local apply).
struct ApplyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Deploy a plan (or a plan saved by 'kaplan diff -o') to its targets.",
        discussion: """
            Exit codes: 0 every node OK, 3 partial success (some KO, at least policy.min-success OK), 1 failure or refusal, 64 usage.
            Shows the diff and asks before destroying anything unless --auto-approve or a saved plan is given; a saved plan
            is refused when the plan file, the golden or any target changed since it was saved.
            """
    )

    @Argument(help: "A plan file, or a saved plan from 'kaplan diff -o'.")
    var file: String

    @OptionGroup var targetOptions: TargetOptions

    @Flag(name: .long, help: "Do not ask for confirmation.")
    var autoApprove = false

    @Flag(name: .long, help: "Run every node's steps on this machine (targets are local devices or image files); no network.")
    var local = false

    @Option(name: .long, help: "Network apply: the address (and port) agents join on (default 0.0.0.0 and transport.port; data on the next port).")
    var listen: String?

    @Option(name: .long, help: "Network apply: start as soon as this many nodes have joined (SIGUSR1 starts at once with those that joined).")
    var minNodes: Int?

    @Option(name: .long, help: "Network apply: directory for the golden's copy of the sealed stream.")
    var spool: String = "/var/tmp"

    @Option(name: .long, help: "Output format: text, or json (JSON lines of events, then the report).")
    var format: OutputFormat = .text

    func run() async throws {
        let json = format == .json
        func say(_ line: String) { if !json { print(line) } }
        var saved: SavedPlan? = nil
        var planPath = file
        if case .success(let bytes) = PlanFiles.read(file), bytes.first == UInt8(ascii: "{"),
            let decoded = try? JSONDecoder().decode(SavedPlan.self, from: Data(bytes))
        {
            saved = decoded
            planPath = decoded.planFile
            guard targetOptions.targets.isEmpty else {
                throw ValidationError("a saved plan already names its targets; drop --target")
            }
        }
        let plan = try PlanFiles.loadValid(planPath)
        if !local && saved == nil {
            guard targetOptions.targets.isEmpty else {
                throw ValidationError("--target names a disk on this machine: add --local (a network apply writes the disks the agents name)")
            }
            try await NetworkApply(
                planPath: planPath, plan: plan, listen: listen, minNodes: minNodes, spool: spool, autoApprove: autoApprove,
                json: format == .json
            ).run()
            return
        }
        var resolved = plan
        if let saved {
            resolved.nodes = plan.nodes.map { n in
                var n = n
                if let s = saved.nodes.first(where: { $0.node == n.name }) { n.target = s.target }
                return n
            }
        } else {
            resolved.nodes = try targetOptions.resolve(plan, planPath: planPath)
        }
        let golden = GoldenIdentity.of(plan.golden.source, base: TargetOptions.planDirectory(planPath))
        var changes: [NodeChanges] = []
        var observed: [String: DeviceState] = [:]
        for node in resolved.nodes {
            do {
                let state = try DiskProbe.probe(path: node.target.path)
                observed[node.name] = state
                changes.append(Planner().changes(plan: resolved, node: node, observed: state, goldenIdentity: golden))
            } catch {
                printError("\(node.name): cannot probe \(node.target.path): \(error)")
                throw ExitCode(1)
            }
        }
        if let saved {
            guard case .success(let bytes) = PlanFiles.read(planPath) else { throw ExitCode(1) }
            let reasons = saved.staleness(planFileBytes: bytes, goldenIdentity: golden, observed: observed)
            if !reasons.isEmpty {
                printError("refusing the saved plan \(file): it is stale")
                for r in reasons { printError("  - \(r)") }
                printError("run 'kaplan diff \(planPath) -o \(file)' again and review it")
                throw ExitCode(1)
            }
        }
        // A node an interrupted or failed run left half made resumes from its journal: show what the rerun keeps.
        let journal = FileJournal(planName: plan.name)
        let resuming = await JournalResume.preview(journal, plan: resolved, changes: changes, goldenIdentity: golden)
        changes = resuming.changes
        for c in changes { say(ChangeRenderer.text(c)) }
        for line in resuming.lines { say(line) }
        say(ChangeRenderer.summary(changes))
        if let bad = changes.first(where: { $0.problem != nil }) {
            printError("\(bad.node): \(bad.problem!); nothing was written")
            throw ExitCode(1)
        }
        guard changes.contains(where: \.hasChanges) else {
            say("Nothing to do.")
            return
        }
        // Refuse before the first write: the golden, excluded disks, busy devices.
        let goldenPath: String? =
            switch plan.golden.source {
            case .disk(let d, _): d
            case .image(let p): TargetOptions.absolute(p, base: TargetOptions.planDirectory(planPath))
            }
        let gate = SafetyGate(golden: goldenPath, excludedDisks: plan.exclude.disks)
        for node in resolved.nodes {
            do { try gate.check(node: node.name, target: node.target) } catch {
                printError("refusing to start: \(error); nothing was written")
                throw ExitCode(1)
            }
        }
        if saved == nil, !autoApprove {
            try confirm(changes)
        }
        var localPlan = resolved
        if case .image(let p) = plan.golden.source {
            localPlan.golden.source = .image(path: TargetOptions.absolute(p, base: TargetOptions.planDirectory(planPath)))
        }
        // A local apply's stream never leaves this process: compressing it would only cost CPU (measured:
        // 0.94x tar uncompressed, 0.85x with zstd -3; bench/RESULTS.md). The plan's compression is for networks.
        let host = LinuxHost(session: "\(plan.name)-\(getpid())", gate: gate, compression: .none)
        let printer = ProgressPrinter(json: json)
        let executor = Executor(host: host, observer: printer, journal: journal)
        let graph = GraphBuilder().build(localPlan)
        let task = Task { await executor.run(plan: localPlan, graph: graph, changes: changes) }
        let interrupt = Interrupt { task.cancel() }
        let result = await task.value
        interrupt.stop()
        host.removeRunDirectory()
        try ProgressPrinter.finish(result.outcomes, exitCode: result.exitCode, json: json)
    }

    private func confirm(_ changes: [NodeChanges]) throws {
        let destroying = changes.filter(\.destroysData).map(\.node)
        guard isatty(0) != 0 else {
            printError("refusing to apply without confirmation: standard input is not a terminal; pass --auto-approve or a saved plan")
            throw ExitCode(1)
        }
        let warning = destroying.isEmpty ? "" : " This DESTROYS DATA on \(destroying.joined(separator: ", "))."
        print("Apply these changes?\(warning) Type 'yes' to continue: ", terminator: "")
        fflush(nil)
        guard readLine()?.trimmingCharacters(in: .whitespaces) == "yes" else {
            printError("not applied")
            throw ExitCode(1)
        }
    }
}

/// Turns SIGINT/SIGTERM into task cancellation (steps stop, every node is still cleaned up).
final class Interrupt: @unchecked Sendable {
    private var sources: [DispatchSourceSignal] = []

    init(_ handler: @escaping @Sendable () -> Void) {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                printError("interrupted: stopping the steps and cleaning up (unmounting, detaching)…")
                handler()
            }
            source.resume()
            sources.append(source)
        }
    }

    func stop() {
        for s in sources { s.cancel() }
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}
