import Foundation
import KaplanEngine
import KaplanGraph
import KaplanModel

/// `kaplan apply PLAN` over the chain: the golden serves the session. It waits for the plan's nodes to join,
/// shows what will change on each disk and asks, orders the chain, streams the golden's filesystems as sealed
/// chunks, watches every node (a dead node is cut out and its downstream re-linked; a node that holds the chain
/// back too long is evicted), collects every event, and ends with one outcome per plan node.
public final class ChainServer: @unchecked Sendable {
    /// What the operator is asked before anything is written; false stops the session.
    public typealias Confirm = @Sendable (_ changes: [NodeChanges]) -> Bool

    let plan: Plan
    let key: SessionKey
    let host: any SegmentedStreamHost
    let configuration: ServeConfiguration
    let observer: any ExecutionObserver
    let say: @Sendable (String) -> Void
    let confirm: Confirm
    let session = SessionID.random()
    let stream = UInt64.random(in: 1...UInt64.max)

    private let lock = NSLock()
    private var agents: [String: AgentSession] = [:]
    private var chain: [String] = []
    private var linked = false
    private var accepting = true
    private var goldenIdentity = ""
    private var segments: [String] = []
    private var lastEviction = 0.0
    /// Multicast: the sender's own failure was handled (the session stopped with its reason).
    private var senderFailureHandled = false
    private var closing = false
    /// The operator approved and the participants were started (late multicast joiners start when probed).
    private var started = false
    /// Every node that was started, late joiners appended.
    private var tracked: [String] = []
    private var sender: MulticastSender?
    private var isMulticast: Bool { plan.transport.kind == .multicast }
    /// What the stream hold-up is called in messages.
    private var streamNoun: String { isMulticast ? "the multicast stream" : "the chain" }

    /// Runs `body` with the session lock held.
    private func locked<T>(_ body: () -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body()
    }

    /// Creates a server for `plan` (its nodes, transport, policy).
    public init(plan: Plan, key: SessionKey, host: any SegmentedStreamHost, configuration: ServeConfiguration,
                observer: any ExecutionObserver, say: @escaping @Sendable (String) -> Void, confirm: @escaping Confirm) {
        self.plan = plan
        self.key = key
        self.host = host
        self.configuration = configuration
        self.observer = observer
        self.say = say
        self.confirm = confirm
    }

    /// The session's result.
    public struct Result: Sendable {
        /// One outcome per plan node, in plan order.
        public var outcomes: [NodeOutcome]
        /// 0 every node OK, 3 partial success, 1 failure.
        public var exitCode: Int32
    }

    private var stallSeconds: Double { Double(plan.transport.stallTimeout.milliseconds) / 1000 }
    private var chunkSize: Int { Int(plan.transport.chunkSize.bytes) }

    /// Runs the whole session.
    public func run() async -> Result {
        let start = monotonicSeconds()
        let goldenStep = StepAddress("golden", .snapshot)
        observer.handle(.stepStarted(goldenStep, attempt: 1))
        let golden: GoldenHandle
        do {
            golden = try await host.openGolden(plan.golden.source, mounts: plan.partitions.compactMap(\.mount))
        } catch {
            await Task.detached { [host] in await host.closeGolden(GoldenHandle(root: "", identity: "")) }.value
            return failAll(StepError(code: (error as? HostError)?.code ?? "golden-failed",
                                     message: "the golden could not be opened; no node was touched", cause: "\(error)", step: goldenStep))
        }
        let result = await serve(golden: golden, start: start)
        // Unmount and detach the golden, whatever happened (not cancellable: it must finish).
        await Task.detached { [host] in await host.closeGolden(golden) }.value
        return result
    }

    /// The session once the golden is open.
    private func serve(golden: GoldenHandle, start: Double) async -> Result {
        let goldenStep = StepAddress("golden", .snapshot)
        observer.handle(.stepSucceeded(goldenStep, seconds: monotonicSeconds() - start))
        goldenIdentity = golden.identity
        segments = host.goldenSegments()

        // Listeners: control (agents join) and, for the chain, data (the chain's head); for multicast the sender.
        let controlListener: TCPListener
        var dataListener: TCPListener? = nil
        let spool: ChunkSpool
        var multicast: (sender: MulticastSender, socket: UDPSocket, parameters: MulticastParameters)? = nil
        do {
            controlListener = try TCPListener(on: configuration.listen)
            spool = try ChunkSpool(directory: configuration.spoolDirectory, session: session)
            if isMulticast {
                multicast = try makeSender(spool: spool)
            } else {
                let dataPort = configuration.listen.port == 0 ? 0 : configuration.listen.port + 1
                dataListener = try TCPListener(on: Endpoint(host: configuration.listen.host, port: dataPort))
            }
        } catch {
            return failAll(StepError(code: "listen-failed", message: "cannot serve the session: \(error)", step: StepAddress("golden", .serve)))
        }
        multicastParameters = multicast?.parameters
        let data = dataListener.map {
            DownstreamServer(
                listener: $0, key: key, session: session, source: spool,
                maxChunk: chunkSize + ChunkSealer.overhead, congestionControl: plan.transport.congestionControl,
                log: { [say] in say("golden: \($0)") })
        }
        data?.start()
        let acceptor = Worker("kaplan-control-accept") { [self] in acceptLoop(controlListener) }
        if let m = multicast?.parameters {
            say("session \(session): listening on \(controlListener.local); multicast to \(m.group):\(m.port)\(m.interface.map { " on \($0)" } ?? "") (\(m.fragmentSize)-byte fragments\(plan.transport.maxRate.map { ", at most \($0)" } ?? "")); waiting for \(plan.nodes.count) node(s) to join")
        } else {
            say("session \(session): listening on \(controlListener.local) (data \(dataListener!.local), \(plan.transport.congestionControl.map { "links over TCP \($0)" } ?? "links with each kernel's default TCP congestion control")); waiting for \(plan.nodes.count) node(s) to join")
        }
        defer {
            let all = locked { () -> [AgentSession] in
                accepting = false
                closing = true
                return Array(agents.values)
            }
            multicast?.sender.stop()
            multicast?.socket.close()
            for a in all { a.send(.bye); a.control.socket.shutdown() }
            controlListener.close()
            acceptor.join(timeout: 10)
            data?.stop()
            spool.close()
        }

        // 1. Joins.
        let participants = await waitForJoins()
        guard !participants.isEmpty else {
            return finish(start: start)
        }
        // 2. What will change, and the operator's go.
        let changes = locked { participants.compactMap { agents[$0]?.changes } }
        guard confirm(changes) else {
            locked {
                for n in participants { agents[n]?.phase = .rejected; agents[n]?.send(.rejected(reason: "the operator did not approve")) }
            }
            say("not applied")
            return finish(start: start)
        }
        locked {
            tracked = startAll(participants)
            started = true
            sender = multicast?.sender
        }


        // 3. The stream, spooled as it is produced.
        let sealer = ChunkSealer(key: key, session: session, stream: stream)
        let compressed = plan.transport.compression == .zstd
        let producer = Worker("kaplan-producer") { [self, segments, chunkSize] in
            do {
                let summary = try StreamProducer.run(
                    host: host, segments: segments, excluded: plan.exclude.paths, compressed: compressed, chunkSize: chunkSize,
                    sealer: sealer, spool: spool)
                say("golden: stream ready: \(summary.chunks) chunks, \(summary.bytes) bytes, \(segments.count) filesystem(s)")
                configuration.streamSize(summary.bytes)
            } catch {
                say("golden: producing the stream failed: \(error)")
            }
        }

        // 4. Link the chain (or start multicasting) when every started node is ready for the stream, then watch it
        // to the end.
        await monitor(data: data, dataPort: dataListener?.local.port ?? 0)
        producer.join(timeout: 60)
        if let m = multicast {
            m.sender.stop()
            let s = m.sender.statistics
            let fresh = s.datagrams - s.repairs
            var pace = s.slowdowns == 0 ? "" : String(format: "; slowed down %llu time(s) for receivers that could not keep up, last rate %.0f Mbit/s", s.slowdowns, (s.rate ?? 0) / 1e6)
            if s.heldBack >= 0.05 { pace += String(format: "; held back %.1f s (the slowest node's window, or chunks not produced yet)", s.heldBack) }
            say(String(format: "golden: multicast sent %llu datagrams (%llu MiB): %llu once, %llu repairs (%.1f %%)", s.datagrams, s.bytes >> 20, fresh, s.repairs, fresh > 0 ? Double(s.repairs) * 100 / Double(fresh) : 0) + pace)
        }
        return finish(start: start)
    }

    /// Sends start to every participant whose layout fits (lock held); returns them.
    private func startAll(_ participants: [String]) -> [String] {
        var startedNodes: [String] = []
        for n in participants {
            guard let a = agents[n], a.isAlive else { continue }
            if let problem = a.changes?.problem {
                a.phase = .rejected
                a.outcome = NodeOutcome(node: n, ok: false, failure: StepError(code: "layout-does-not-fit", message: problem, step: StepAddress(n, .partition)), completed: [], bytes: 0, seconds: 0)
                a.send(.rejected(reason: problem))
                continue
            }
            a.phase = .started
            a.started = monotonicSeconds()
            a.send(.start)
            startedNodes.append(n)
        }
        return startedNodes
    }

    // MARK: joining

    private func acceptLoop(_ listener: TCPListener) {
        var workers: [Worker] = []
        while true {
            lock.lock()
            let open = accepting
            lock.unlock()
            guard open else { break }
            guard let socket = try? listener.accept(timeout: .milliseconds(300)) else { continue }
            workers.removeAll { $0.join(timeout: 0) }
            if workers.count > 64 {
                socket.close()
                continue
            }
            workers.append(Worker("kaplan-control") { [self] in handle(socket) })
        }
        for w in workers { w.join(timeout: 5) }
    }

    private func handle(_ socket: TCPSocket) {
        let peer = socket.remote
        let agent: AgentSession
        do {
            let (name, role, keys) = try Handshake.server(socket, key: key, session: session, timeout: .seconds(5))
            guard role == .control else { throw NetworkError("bad-frame", "a data link arrived on the control port") }
            socket.setNoDelay(true)
            socket.setTimeouts(receive: .seconds(10), send: .seconds(10))
            let link = FramedLink(socket: socket, keys: keys, isClient: false, maxChunk: 0)
            guard case .join(let join) = try ControlMessage.decode(try link.receive().controlPayload()) else {
                throw NetworkError("bad-frame", "\(name) did not start with a join")
            }
            guard join.node == name else { throw NetworkError("bad-frame", "\(name) joined under another name (\(join.node))") }
            agent = AgentSession(name: name, control: link, data: join.data, serverHost: socket.local.host)
            lock.lock()
            let reason: String? =
                !accepting || (linked && !isMulticast) ? "the session has already started"
                : !plan.nodes.contains(where: { $0.name == name }) ? "the plan has no node named '\(name)' (start the agent with --name)"
                : agents[name].map { $0.isAlive ? "a node named '\(name)' already joined" : nil } ?? nil
            if reason == nil { agents[name] = agent }
            lock.unlock()
            if let reason {
                say("refused \(name) from \(peer): \(reason)")
                agent.send(.rejected(reason: reason))
                socket.close()
                return
            }
            let assignment = Assignment(
                plan: plan, node: name, goldenIdentity: goldenIdentity, stream: stream, segments: segments,
                buffer: Int(plan.transport.buffer.bytes), stallSeconds: stallSeconds, multicast: multicastParameters)
            agent.send(.assign(assignment))
            say("\(name) joined from \(peer)")
        } catch {
            say("refused a connection from \(peer): \(error)")
            socket.close()
            return
        }
        socket.setTimeouts(receive: nil, send: .seconds(10))
        readLoop(agent)
    }

    private func readLoop(_ agent: AgentSession) {
        while true {
            let message: ControlMessage
            do { message = try ControlMessage.decode(try agent.control.receive().controlPayload()) } catch {
                lock.lock()
                if !closing && (agent.isAlive && agent.phase != .finished || (agent.phase == .finished && linked)) {
                    markLost(agent, reason: "its connection closed (\(describe(error)))")
                }
                lock.unlock()
                return
            }
            lock.lock()
            agent.lastHeard = monotonicSeconds()
            receive(message, from: agent)
            lock.unlock()
        }
    }

    private func describe(_ error: any Error) -> String {
        (error as? NetworkError)?.message ?? "\(error)"
    }

    /// Handles one message (lock held).
    private func receive(_ message: ControlMessage, from agent: AgentSession) {
        switch message {
        case .probed(let probed):
            guard let node = plan.nodes.first(where: { $0.name == agent.name }) else { return }
            var n = node
            n.target = probed.target
            agent.target = probed.target
            agent.changes = Planner().changes(plan: plan, node: n, observed: probed.state, goldenIdentity: goldenIdentity)
            if agent.phase == .joined { agent.phase = .probed }
            if started && agent.phase == .probed {
                // A late multicast joiner: deployed like the others, its changes printed instead of asked.
                let changes = agent.changes!
                say("\(agent.name) joined after the start (\(changes.changes.filter { $0.action != .keep }.count) change(s) to \(changes.target)\(changes.destroysData ? ", destroying data" : "")); it gets what it missed by repair")
                tracked += startAll([agent.name])
            }
        case .event(let wire):
            let event = wire.event
            // An agent reports its own node's steps only (its executor also sees the golden's placeholders).
            switch event {
            case .stepStarted(let a, _), .stepSucceeded(let a, _), .stepSkipped(let a, _):
                guard a.owner == agent.name else { return }
            case .stepFailed(let e, _):
                guard e.step.owner == agent.name else { return }
            default: break
            }
            switch event {
            case .stepStarted(let a, _): agent.lastStep = a
            case .stepSucceeded(let a, _): agent.completed.append(a)
            case .progress(_, let b): agent.bytes = b
            default: break
            }
            if case .nodeFinished = event { return }  // the server reports the node itself
            observer.handle(event)
        case .status(let s):
            agent.status = s
        case .streamReady:
            if agent.phase == .started { agent.phase = .streaming }
        case .linkLost(let lost):
            agent.pendingLoss = (lost, monotonicSeconds())
        case .finished(let outcome):
            agent.outcome = outcome
            agent.bytes = max(agent.bytes, outcome.bytes)
            if agent.isAlive { agent.phase = .finished }
            observer.handle(.nodeFinished(outcome))
        case .receipt(let r):
            agent.received = r.statistics
            if agent.inStream {
                sender?.receipt(from: agent.name, next: r.next, complete: r.complete, missing: r.missing, overflow: r.statistics.overflow)
            }
        case .join, .rejected, .assign, .start, .link, .evict, .bye, .dropDownstream, .streamTotal:
            break
        }
    }

    private func waitForJoins() async -> [String] {
        let deadline = monotonicSeconds() + Double(plan.transport.joinTimeout.milliseconds) / 1000
        let wanted = plan.nodes.count
        let minimum = configuration.minNodes
        var lastSaid = 0.0
        while true {
            let (ready, pending) = locked {
                (agents.values.filter { $0.isAlive && $0.phase == .probed }.map(\.name),
                 agents.values.filter { $0.isAlive && $0.phase == .joined }.count)
            }
            let now = monotonicSeconds()
            if ready.count == wanted { break }
            if let minimum, ready.count >= minimum, pending == 0 { break }
            if configuration.startNow(), !ready.isEmpty, pending == 0 {
                say("starting now with \(ready.count) node(s) (signal)")
                break
            }
            if Task.isCancelled {
                say("interrupted while waiting for nodes to join")
                locked { stopAll(reason: "the operator interrupted the deployment") }
                return []
            }
            if now >= deadline {
                say("join timeout (\(plan.transport.joinTimeout)): \(ready.count) of \(wanted) node(s) joined")
                break
            }
            if now - lastSaid >= 10 {
                say("waiting: \(ready.count) of \(wanted) node(s) ready")
                lastSaid = now
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return locked {
            accepting = isMulticast && configuration.acceptLateJoins
            return plan.nodes.map(\.name).filter { agents[$0]?.phase == .probed }
        }
    }

    // MARK: the chain

    /// Orders the chain (transport.order).
    private func ordered(_ names: [String]) -> [String] {
        switch plan.transport.order {
        case .listed: return names
        case .name: return names.sorted()
        case .address: return names.sorted { (agents[$0]?.data ?? Endpoint(host: "", port: 0)) < (agents[$1]?.data ?? Endpoint(host: "", port: 0)) }
        }
    }

    /// The nearest member before `name` that still relays, or nil for the golden (lock held).
    private func upstream(of name: String) -> AgentSession? {
        guard let i = chain.firstIndex(of: name) else { return nil }
        return chain[..<i].reversed().lazy.compactMap { self.agents[$0] }.first { $0.isAlive }
    }

    /// The nearest member after `name` that still relays (lock held).
    private func downstream(of name: String) -> AgentSession? {
        guard let i = chain.firstIndex(of: name) else { return nil }
        return chain[(i + 1)...].lazy.compactMap { self.agents[$0] }.first { $0.isAlive }
    }

    private var dataPort = 0
    private var data: DownstreamServer?
    private var multicastParameters: MulticastParameters?

    /// Data fragments per forward-error-correction block when the plan sets no transport.fec: a 1 MiB chunk's 725
    /// datagrams are one random-code block, whose repairs cost less than smaller Cauchy blocks' (1.6 % instead of
    /// 2.2 % of the data with 8 nodes at 1 % loss, `fec.data: 200`: 4 blocks of 182) but whose decoding costs more
    /// per lost fragment. Receivers decode on a thread of their own (`FragmentAssembler.deferRebuilds`): decoding
    /// hundreds of a wide block's lost datagrams on the receiving thread (a receive buffer overflow on an unshaped
    /// link) once kept two lab nodes silent long enough to be dropped.
    static let defaultBlockSize = 1024

    /// Re-links one node may take before it is given up (every loop bounded: a link that keeps breaking ends KO).
    static let maximumLinks = 100

    /// Tells `agent` to receive from its upstream (or from the golden) (lock held).
    private func link(_ agent: AgentSession, toGolden: Bool = false) {
        guard agent.relinks < Self.maximumLinks else {
            agent.send(.evict(reason: "its data link broke \(Self.maximumLinks) times"))
            markLost(agent, reason: "its data link broke \(Self.maximumLinks) times; check its network and the upstream nodes")
            return
        }
        let up = toGolden ? nil : upstream(of: agent.name)
        let endpoint = up?.data ?? Endpoint(host: agent.serverHost, port: dataPort)
        let upName = up?.name ?? "golden"
        agent.upstream = upName
        agent.relinks += 1
        agent.send(.link(Link(upstream: endpoint, name: upName)))
    }

    /// Tells whoever serves `agent` (its upstream relay, and the golden) to stop and release its ring (lock held).
    private func release(_ agent: AgentSession) {
        if let up = agent.upstream, up != "golden", let u = agents[up], u.isAlive { u.send(.dropDownstream(name: agent.name)) }
        data?.drop(agent.name)
        sender?.remove(agent.name)
    }

    /// Marks a node lost and re-links its downstream (lock held).
    private func markLost(_ agent: AgentSession, reason: String) {
        release(agent)
        let wasRelaying = linked && chain.contains(agent.name)
        let down = downstream(of: agent.name)
        let finished = agent.phase == .finished
        agent.phase = .lost
        if !finished {
            agent.outcome = NodeOutcome(
                node: agent.name, ok: false,
                failure: StepError(
                    code: "node-lost",
                    message: "the agent was lost: \(reason)" + (wasRelaying ? "; the chain was re-linked around it" : ""),
                    step: agent.lastStep ?? StepAddress(agent.name, .partition)),
                completed: agent.completed, bytes: agent.bytes, seconds: monotonicSeconds() - agent.started)
            observer.handle(.nodeFinished(agent.outcome!))
        }
        agent.control.socket.shutdown()
        if isMulticast && !finished && linked { say("\(agent.name) lost (\(reason)); the stream goes on without it") }
        if wasRelaying, let down, down.status?.complete != true {
            say("\(agent.name) lost (\(reason)); re-linking \(down.name) to \(upstream(of: down.name)?.name ?? "golden")")
            link(down)
        }
    }

    /// Evicts a node that holds the chain back (lock held).
    private func evict(_ agent: AgentSession, blockedFor: Double, data: DownstreamServer?) {
        release(agent)
        let down = downstream(of: agent.name)
        agent.send(.evict(reason: String(format: "held %@ back for %.1f s (transport.stall-timeout %@)", streamNoun, blockedFor, "\(plan.transport.stallTimeout)")))
        agent.phase = .evicted
        agent.outcome = NodeOutcome(
            node: agent.name, ok: false,
            failure: StepError(
                code: "evicted",
                message: String(format: "held %@ back for %.1f s (transport.stall-timeout is %@); evicted so the other nodes could go on", streamNoun, blockedFor, "\(plan.transport.stallTimeout)")
                    + (isMulticast && (agent.received?.datagrams ?? 0) == 0
                        ? "; it received no multicast datagram at all: check its multicast route (ip route add 224.0.0.0/4 dev IFACE), transport.interface / agent --interface, and the switch's IGMP snooping"
                        : ""),
                step: agent.lastStep ?? StepAddress(agent.name, .stream)),
            completed: agent.completed, bytes: agent.bytes, seconds: monotonicSeconds() - agent.started)
        observer.handle(.nodeFinished(agent.outcome!))
        agent.control.socket.shutdown()
        data?.drop(agent.name)
        sender?.remove(agent.name)
        lastEviction = monotonicSeconds()
        if let down {
            say("\(agent.name) evicted; re-linking \(down.name) to \(upstream(of: down.name)?.name ?? "golden")")
            link(down)
        }
    }

    private func monitor(data: DownstreamServer?, dataPort: Int) async {
        self.dataPort = dataPort
        locked { self.data = data }
        let readyDeadline = monotonicSeconds() + max(60, Double(plan.policy.stepTimeout.milliseconds) / 1000)
        let silence = isMulticast ? max(0.5, Double(plan.transport.receiverTimeout.milliseconds) / 1000) : max(3, stallSeconds)
        while true {
            try? await Task.sleep(for: .milliseconds(100))
            if Task.isCancelled {
                locked { stopAll(reason: "the operator interrupted the deployment") }
                break
            }
            if locked({ monitorTick(data: data, readyDeadline: readyDeadline, silence: silence) }) { break }
        }
    }

    /// One look at the session (lock held); true when every started node is done.
    private func monitorTick(data: DownstreamServer?, readyDeadline: Double, silence: Double) -> Bool {
        do {
            let now = monotonicSeconds()
            let live = tracked.compactMap { agents[$0] }
            // Silence: no heartbeat for too long (frozen, unplugged).
            for a in live where a.isAlive && now - a.lastHeard > silence {
                markLost(a, reason: String(format: "silent for %.1f s", now - a.lastHeard))
            }
            if !linked {
                let waiting = live.filter { $0.phase == .started }
                if (waiting.isEmpty || now > readyDeadline) && isMulticast {
                    linked = true
                    let ready = live.filter { $0.phase == .streaming }
                    say("multicast: streaming to \(ready.count) node(s)")
                    sender?.start()
                    joinStream(ready)
                } else if waiting.isEmpty || now > readyDeadline {
                    linked = true
                    chain = ordered(live.filter { $0.phase == .streaming }.map(\.name))
                    if !chain.isEmpty {
                        say("chain: golden → " + chain.joined(separator: " → "))
                        for n in chain { if let a = agents[n] { link(a) } }
                    }
                }
            } else if isMulticast {
                joinStream(live.filter { $0.phase == .streaming && !$0.inStream })
                if let total = sender?.streamTotal {
                    for a in live where a.inStream && a.isAlive && !a.toldTotal {
                        a.toldTotal = true
                        a.send(.streamTotal(chunks: total))
                    }
                }
                for a in live where a.inStream && a.phase == .finished { sender?.remove(a.name) }
                if let f = sender?.failed, !senderFailureHandled {
                    // Nothing more can reach any node: stop every one with the golden's own reason, not a stall.
                    senderFailureHandled = true
                    let reason = "the golden could not send the multicast stream: \(f.message)" + (f.cause.map { " (\($0))" } ?? "")
                    say("golden: " + reason)
                    stopAll(reason: reason)
                }
                detectMulticastStall(now: now, data: data)
            } else {
                // Nodes that became ready after the chain was linked are served by the golden directly.
                for a in live where a.phase == .streaming && !chain.contains(a.name) {
                    chain.append(a.name)
                    link(a, toGolden: true)
                }
                handleLosses(now: now)
                detectStalls(now: now, data: data)
            }
            return live.allSatisfy { !$0.isAlive || $0.phase == .finished }
        }
    }

    /// Multicast: the sender counts these nodes as receivers from now on (lock held).
    private func joinStream(_ nodes: [AgentSession]) {
        for a in nodes where a.isAlive && !a.inStream {
            a.inStream = true
            sender?.add(a.name)
        }
    }

    /// Multicast: evicts the slowest member when it held the window back for the stall timeout (lock held).
    private func detectMulticastStall(now: Double, data: DownstreamServer?) {
        guard now - lastEviction > 1, let sender else { return }
        let (seconds, slowest) = sender.blocked()
        guard seconds >= stallSeconds, let slowest, let a = agents[slowest], a.isAlive else { return }
        evict(a, blockedFor: seconds, data: data)
    }

    /// The multicast sender and what nodes need to receive from it.
    private func makeSender(spool: ChunkSpool) throws -> (sender: MulticastSender, socket: UDPSocket, parameters: MulticastParameters) {
        let t = plan.transport
        guard let group = t.group else {
            throw NetworkError("bad-group", "transport.group is not set: a multicast plan names its group (e.g. 239.255.0.1)")
        }
        guard let destination = UDPSocket.address(group, port: t.dataPort) else {
            throw NetworkError("bad-group", "transport.group '\(group)' is not an IPv4 address")
        }
        let fragmentSize = DatagramCodec.payloadSize(mtu: UDPSocket.mtu(t.interface))
        let sealedChunk = chunkSize + ChunkSealer.overhead
        guard (sealedChunk + fragmentSize - 1) / fragmentSize <= Int(UInt16.max) - 1 else {
            throw NetworkError("bad-chunk", "transport.chunk-size \(t.chunkSize) needs more than 65534 datagrams per chunk; use a smaller chunk size for multicast")
        }
        // A small send buffer: a full one blocks the sender before the interface queue overflows and drops (the link
        // paces the sender); a large one hides the link's speed and loses datagrams at the golden itself.
        let socket = try UDPSocket.sender(interface: t.interface, ttl: t.ttl, sendBuffer: 64 << 10)
        let window = max(4, Int(t.buffer.bytes) / max(1, chunkSize))
        let layout = BlockLayout(blockSize: t.fec?.data ?? Self.defaultBlockSize)
        guard layout.blockSize >= 1, layout.blockSize <= BlockLayout.maxBlockSize, layout.parityStride >= 1,
            (t.fec?.parity ?? 0) <= layout.parityStride
        else {
            throw NetworkError(
                "bad-fec", "transport.fec: data must be 1–\(BlockLayout.maxBlockSize), and data + parity at most 255 when data is at most 254 (Cauchy Reed–Solomon over GF(2^8))")
        }
        let sender = MulticastSender(
            socket: socket, destination: destination, codec: DatagramCodec(key: key, session: session, stream: stream), spool: spool,
            fragmentSize: fragmentSize, window: window, maxRate: t.maxRate.map { Double($0.bitsPerSecond) }, layout: layout,
            proactiveParity: t.fec?.parity ?? 0, onTotal: { _ in })
        return (sender, socket, MulticastParameters(
            group: group, port: t.dataPort, interface: t.interface, fragmentSize: fragmentSize, window: window, blockSize: layout.blockSize))
    }

    /// Decides what a node that lost its upstream link receives from next (lock held).
    private func handleLosses(now: Double) {
        for a in agents.values where a.isAlive {
            guard let (lost, at) = a.pendingLoss else { continue }
            if lost.gap {
                a.pendingLoss = nil
                say("\(a.name): \(lost.upstream) no longer holds chunk \(lost.next); the golden serves it")
                link(a, toGolden: true)
                continue
            }
            let up = agents[lost.upstream]
            if lost.upstream != a.upstream {
                a.pendingLoss = nil  // already re-linked elsewhere
                continue
            }
            if up == nil || up?.isAlive == false {
                a.pendingLoss = nil
                link(a)
                continue
            }
            // The upstream looks alive: give the server a moment to notice a death, then link again.
            guard now - at >= 0.5 else { continue }
            a.pendingLoss = nil
            a.failedRelinksToSame += 1
            if a.failedRelinksToSame > 3, let up {
                say("\(a.name): \(up.name) keeps failing to serve it; the golden serves it instead")
                link(a, toGolden: true)
                a.failedRelinksToSame = 0
            } else {
                say("\(a.name): \(lost.reason); linking again")
                link(a)
            }
        }
    }

    /// Evicts the node furthest down the chain that keeps a send blocked longer than the stall timeout (lock held).
    private func detectStalls(now: Double, data: DownstreamServer?) {
        guard now - lastEviction > 1 else { return }
        var worst: (AgentSession, Double)? = nil
        func consider(_ name: String, _ seconds: Double) {
            guard seconds >= stallSeconds, let a = agents[name], a.isAlive else { return }
            let index = chain.firstIndex(of: name) ?? -1
            if let (w, _) = worst, (chain.firstIndex(of: w.name) ?? -1) >= index { return }
            worst = (a, seconds)
        }
        for (name, seconds) in data?.blocked() ?? [:] { consider(name, seconds) }
        for a in agents.values where a.isAlive {
            for (name, seconds) in a.status?.blocked ?? [:] { consider(name, seconds) }
        }
        if let (a, seconds) = worst { evict(a, blockedFor: seconds, data: data) }
    }

    // MARK: the end

    /// Stops every node still working (lock held): each gets `evict` with the reason and ends KO.
    private func stopAll(reason: String) {
        for a in agents.values where a.isAlive && a.phase != .finished {
            a.send(.evict(reason: reason))
            a.phase = .evicted
            a.outcome = NodeOutcome(
                node: a.name, ok: false, failure: StepError(code: "interrupted", message: reason, step: a.lastStep ?? StepAddress(a.name, .partition)),
                completed: a.completed, bytes: a.bytes, seconds: monotonicSeconds() - a.started)
            observer.handle(.nodeFinished(a.outcome!))
        }
    }

    private func failAll(_ failure: StepError) -> Result {
        observer.handle(.stepFailed(failure, willRetry: false))
        let outcomes = plan.nodes.map { NodeOutcome(node: $0.name, ok: false, failure: failure, completed: [], bytes: 0, seconds: 0) }
        for o in outcomes { observer.handle(.nodeFinished(o)) }
        return Result(outcomes: outcomes, exitCode: 1)
    }

    private func finish(start: Double) -> Result {
        lock.lock()
        let outcomes = plan.nodes.map { node -> NodeOutcome in
            if let a = agents[node.name], let o = a.outcome { return o }
            let failure: StepError
            if let a = agents[node.name] {
                failure = StepError(
                    code: a.phase == .rejected ? "not-deployed" : "no-outcome",
                    message: a.phase == .rejected ? "not deployed: \(a.changes?.problem ?? "the operator did not approve")" : "the agent ended without a report",
                    step: a.lastStep ?? StepAddress(node.name, .partition))
            } else {
                failure = StepError(
                    code: "did-not-join",
                    message: "no agent joined as \(node.name) within \(plan.transport.joinTimeout) (run 'kaplan agent --server … --name \(node.name)' on it)",
                    step: StepAddress(node.name, .partition))
            }
            let o = NodeOutcome(node: node.name, ok: false, failure: failure, completed: [], bytes: 0, seconds: 0)
            if agents[node.name]?.outcome == nil { observer.handle(.nodeFinished(o)) }
            return o
        }
        lock.unlock()
        let ok = outcomes.filter(\.ok).count
        return Result(outcomes: outcomes, exitCode: DeploymentExit.code(ok: ok, of: outcomes.count, policy: plan.policy))
    }
}
