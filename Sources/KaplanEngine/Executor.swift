import KaplanGraph
import KaplanModel
import Synchronization

/// Runs a deployment's step graph against a host: the same code for `apply` (Linux host) and for the dry
/// run and tests (simulated host). Nodes run in parallel up to the policy's bound; within a node, steps whose
/// dependencies are done run concurrently up to `stepsPerNode`. A failed step (after its retries) makes the
/// node KO and skips everything that depends on it; the host's cleanup runs for every node, always.
/// With a ``journal``, every completed step is recorded, and a rerun of the same plan on the same target
/// skips the durable steps an earlier run finished (``JournalResume`` decides what counts).
public struct Executor: Sendable {
    /// The host every side effect goes through.
    public var host: any Host
    /// Receives progress events.
    public var observer: any ExecutionObserver
    /// Runners by step kind.
    public var runners: [StepKind: any StepRunner] = StepRunners.standard
    /// Steps of one node that may run at once.
    public var stepsPerNode = 2
    /// Where each node's completed steps are recorded for a later rerun; nil: no journal, every run starts afresh.
    public var journal: (any JournalStore)? = nil

    /// Creates an executor (with a journal: records every node's completed steps and resumes from them).
    public init(host: any Host, observer: any ExecutionObserver, journal: (any JournalStore)? = nil) {
        self.host = host
        self.observer = observer
        self.journal = journal
    }

    /// The whole deployment's result.
    public struct Result: Sendable {
        /// Every node's outcome, in plan order.
        public var outcomes: [NodeOutcome]
        /// The process exit code the plan's policy gives: 0 all OK, 3 partial success, 1 failure.
        public var exitCode: Int32
    }

    /// Runs `graph` for the nodes whose changes were computed (`changes`, from ``Planner``).
    public func run(plan: Plan, graph: StepGraph, changes: [NodeChanges]) async -> Result {
        let start = ContinuousClock.now
        let goldenSnapshot = StepAddress("golden", .snapshot)
        observer.handle(.stepStarted(goldenSnapshot, attempt: 1))
        let golden: GoldenHandle
        do {
            golden = try await host.openGolden(plan.golden.source, mounts: plan.partitions.compactMap(\.mount))
            observer.handle(.stepSucceeded(goldenSnapshot, seconds: seconds(since: start)))
        } catch {
            let failure = StepError(
                code: (error as? HostError)?.code ?? "golden-failed",
                message: "the golden could not be opened; no node was touched", cause: "\(error)", step: goldenSnapshot)
            observer.handle(.stepFailed(failure, willRetry: false))
            // Whatever the host set up before the failure (loops, read-only mounts) is released too.
            let host = self.host
            await Task.detached { await host.closeGolden(GoldenHandle(root: "", identity: "")) }.value
            let outcomes = plan.nodes.map { NodeOutcome(node: $0.name, ok: false, failure: failure, completed: [], bytes: 0, seconds: 0) }
            for o in outcomes { observer.handle(.nodeFinished(o)) }
            return Result(outcomes: outcomes, exitCode: 1)
        }
        observer.handle(.stepSucceeded(StepAddress("golden", .serve), seconds: 0))

        let byName = Dictionary(uniqueKeysWithValues: changes.map { ($0.node, $0) })
        var outcomes: [String: NodeOutcome] = [:]
        await withTaskGroup(of: NodeOutcome.self) { group in
            var pending = plan.nodes[...]
            var running = 0
            func launch(_ node: Node) {
                group.addTask { await runNode(node, plan: plan, graph: graph, changes: byName[node.name], golden: golden) }
            }
            while running < max(1, plan.policy.parallel), let node = pending.popFirst() {
                launch(node)
                running += 1
            }
            for await outcome in group {
                outcomes[outcome.node] = outcome
                observer.handle(.nodeFinished(outcome))
                if let node = pending.popFirst() { launch(node) }
            }
        }
        await host.closeGolden(golden)
        let ordered = plan.nodes.map { outcomes[$0.name]! }
        let ok = ordered.filter(\.ok).count
        let exit: Int32 =
            ok == ordered.count ? 0 : (ok >= plan.policy.minSuccess.required(of: ordered.count) && ok > 0 ? 3 : 1)
        return Result(outcomes: ordered, exitCode: exit)
    }

    private func seconds(since start: ContinuousClock.Instant) -> Double {
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    /// Runs one node's steps; never throws: failures become the outcome.
    func runNode(_ node: Node, plan: Plan, graph: StepGraph, changes: NodeChanges?, golden: GoldenHandle) async -> NodeOutcome {
        let start = ContinuousClock.now
        let steps = graph.steps(of: node.name)
        guard let changes, let layout = changes.layout else {
            let address = StepAddress(node.name, .partition, steps.first { $0.address.kind == .partition }?.address.argument)
            let failure = StepError(
                code: "layout-does-not-fit", message: changes?.problem ?? "the target was not probed", step: address)
            observer.handle(.stepFailed(failure, willRetry: false))
            return NodeOutcome(node: node.name, ok: false, failure: failure, completed: [], bytes: 0, seconds: 0)
        }
        let facts = FactsStore(Self.initialFacts(plan: plan, node: node, layout: layout, goldenIdentity: golden.identity))
        let bytes = ByteCounter()
        let observer = self.observer
        let context = StepContext(
            host: host, node: node, facts: facts, golden: golden,
            progress: { value in
                bytes.set(value)
                observer.handle(.progress(node: node.name, bytes: value))
            }, planName: plan.name)
        var kept: [StepAddress] = []
        var record: JournalRecord? = nil
        if let journal {
            kept = await resume(node: node, steps: steps, facts: facts, layout: layout, plan: plan, journal: journal)
            record = JournalRecord(
                planDigest: await facts.facts.planDigest, node: node.name, target: node.target.path, facts: await facts.facts,
                completed: kept)
        }
        let result = await schedule(steps: steps, context: context, policy: plan.policy, kept: kept, record: record)
        // Unmount and detach whatever is left, on success and on failure alike, even when cancelled.
        let host = self.host
        await Task.detached { await host.cleanup(node: node.name) }.value
        if let journal, result.failure == nil {
            do { try await journal.clear(node: node.name) } catch {
                observer.handle(
                    .journal(
                        node: node.name,
                        message: "the node is OK but its journal could not be removed (\(error)); remove it by hand, or the next run of this plan re-runs only its mounts and checks"))
            }
        }
        return NodeOutcome(
            node: node.name, ok: result.failure == nil, failure: result.failure, completed: result.completed,
            bytes: bytes.value, seconds: seconds(since: start))
    }

    /// The facts a node's steps start from, before any step ran.
    static func initialFacts(plan: Plan, node: Node, layout: Layout, goldenIdentity: String) -> CloneFacts {
        CloneFacts(
            node: node.name, table: plan.table, layout: layout, partitions: plan.partitions, fstab: plan.fixups.fstab,
            kernelOptions: plan.bootloader.kernelOptions, planDigest: PlanDigest.of(plan, node: node), goldenIdentity: goldenIdentity)
    }

    /// Reads the node's journal and, when ``JournalResume`` accepts it (against a fresh probe) and the host can take
    /// over the recorded table, restores the facts and reports the kept steps as skipped; returns them.
    private func resume(
        node: Node, steps: [Step], facts: FactsStore, layout: Layout, plan: Plan, journal: any JournalStore
    ) async -> [StepAddress] {
        let record: JournalRecord?
        do { record = try await journal.load(node: node.name) } catch {
            observer.handle(.journal(node: node.name, message: "its journal cannot be read (\(error)); it is ignored and every step runs"))
            return []
        }
        guard let record else { return [] }
        func ignore(_ reason: String) -> [StepAddress] {
            observer.handle(.journal(node: node.name, message: "ignoring the journal of \(record.written): \(reason); every step runs"))
            return []
        }
        let observed: DeviceState
        do { observed = try await host.probe(node: node.name, target: node.target) } catch {
            return ignore("\(node.target.path) could not be probed (\(error))")
        }
        let resumption: JournalResume.Resumption
        switch JournalResume.decide(record: record, node: node, steps: steps, facts: await facts.facts, observed: observed) {
        case .ignore(let reason): return ignore(reason)
        case .resume(let r): resumption = r
        }
        if resumption.kept.contains(where: { $0.kind == .partition }) {
            guard let resumable = host as? any JournalResumableHost else {
                return ignore("this host cannot take over a partition table an earlier run wrote")
            }
            do {
                try await resumable.attachExisting(node: node.name, target: node.target, layout: layout, partitions: plan.partitions)
            } catch {
                return ignore("the partitions on \(node.target.path) could not be attached again (\(error))")
            }
        }
        await facts.restore(resumption.facts)
        observer.handle(
            .journal(
                node: node.name,
                message: "\(resumption.summary): \(resumption.kept.count) step\(resumption.kept.count == 1 ? "" : "s") done in that run are skipped"))
        for address in resumption.kept {
            observer.handle(.stepSkipped(address, reason: "done in an earlier run (journal of \(resumption.written))"))
        }
        return resumption.kept
    }

    /// Runs steps as their dependencies complete (golden steps count as done), up to `stepsPerNode` at once.
    /// `kept` steps (journal) count as done; with a `record`, the journal is saved after every completed step.
    private func schedule(
        steps: [Step], context: StepContext, policy: Policy, kept: [StepAddress], record: JournalRecord?
    ) async -> (completed: [StepAddress], failure: StepError?) {
        let own = Dictionary(uniqueKeysWithValues: steps.map { ($0.address, $0) })
        // A kept step counts as done once the steps it depends on are done again (the stream is "there" only after
        // its filesystems are mounted again), so whatever needs it still waits for those.
        let keptSet = Set(kept)
        var done = Set<StepAddress>()
        var completed: [StepAddress] = kept
        var started = Set<StepAddress>()
        var failure: StepError? = nil
        var journalFailed = false
        func ready() -> [Step] {
            steps.filter { s in
                !started.contains(s.address) && s.dependencies.allSatisfy { own[$0] == nil || done.contains($0) }
            }.sorted { $0.address < $1.address }
        }
        await withTaskGroup(of: (StepAddress, StepError?).self) { group in
            var running = 0
            func fill() {
                guard failure == nil else { return }
                var reached = ready().filter { keptSet.contains($0.address) }
                while !reached.isEmpty {
                    for step in reached {
                        started.insert(step.address)
                        done.insert(step.address)
                    }
                    reached = ready().filter { keptSet.contains($0.address) }
                }
                for step in ready() where running < max(1, stepsPerNode) {
                    started.insert(step.address)
                    running += 1
                    group.addTask { (step.address, await self.attempt(step, context: context, policy: policy)) }
                }
            }
            fill()
            for await (address, error) in group {
                running -= 1
                if let error {
                    if failure == nil { failure = error }
                } else {
                    done.insert(address)
                    completed.append(address)
                    if let journal, var record {
                        record.completed = completed
                        record.facts = await context.facts.facts
                        do { try await journal.save(record) } catch {
                            if !journalFailed {
                                journalFailed = true
                                observer.handle(
                                    .journal(
                                        node: context.node.name,
                                        message: "its journal could not be written after \(address) (\(error)); the steps go on, but a rerun would start this node from the beginning"))
                            }
                        }
                    }
                }
                fill()
            }
        }
        if let failure {
            for step in steps.sorted(by: { $0.address < $1.address }) where !started.contains(step.address) && !keptSet.contains(step.address) {
                observer.handle(.stepSkipped(step.address, reason: "\(failure.step) failed"))
            }
        }
        return (completed, failure)
    }

    /// Runs one step with its timeout, retrying per policy; nil on success.
    private func attempt(_ step: Step, context: StepContext, policy: Policy) async -> StepError? {
        guard let runner = runners[step.address.kind] else {
            return StepError(code: "no-runner", message: "no runner for \(step.address.kind.rawValue) steps", step: step.address)
        }
        let attempts = 1 + max(0, policy.retries)
        var last: StepError? = nil
        for n in 1...attempts {
            if Task.isCancelled {
                return StepError(code: "cancelled", message: "the deployment was interrupted", step: step.address)
            }
            observer.handle(.stepStarted(step.address, attempt: n))
            let start = ContinuousClock.now
            do {
                try await withTimeout(policy.stepTimeout, step: step.address) { try await runner.run(step, context) }
                observer.handle(.stepSucceeded(step.address, seconds: seconds(since: start)))
                return nil
            } catch let error as StepError {
                last = error
            } catch let error as HostError {
                last = StepError(code: error.code, message: error.message, cause: error.cause, step: step.address)
            } catch is CancellationError {
                last = StepError(code: "cancelled", message: "the deployment was interrupted", step: step.address)
                observer.handle(.stepFailed(last!, willRetry: false))
                return last
            } catch {
                last = StepError(code: "failed", message: "\(error)", step: step.address)
            }
            // Only steps that can safely run again are retried; a half-received stream is not resumed here.
            let retry = n < attempts && step.address.kind != .stream
            observer.handle(.stepFailed(last!, willRetry: retry))
            if !retry { break }
        }
        return last
    }

    private func withTimeout(_ limit: Duration, step: StepAddress, _ body: @escaping @Sendable () async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: .milliseconds(Int64(clamping: limit.milliseconds)))
                throw StepError(
                    code: "timeout", message: "did not finish within \(limit) (policy.step-timeout); it was stopped", step: step)
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }
}

/// A byte count shared between a progress callback and the node's outcome.
final class ByteCounter: Sendable {
    private let bytes = Atomic<UInt64>(0)

    var value: UInt64 { bytes.load(ordering: .relaxed) }

    func set(_ v: UInt64) { bytes.store(v, ordering: .relaxed) }
}
