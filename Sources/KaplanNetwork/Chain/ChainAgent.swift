import Foundation
import KaplanEngine
import KaplanGraph
import KaplanModel

/// What an agent is told on its command line.
public struct AgentConfiguration: Sendable {
    /// The golden's control endpoint.
    public var server: Endpoint
    /// The session's pre-shared key.
    public var key: SessionKey
    /// This node's name in the plan.
    public var name: String
    /// The disk to write instead of the plan's target for this node (device or image file).
    public var disk: Target?
    /// Address the data listener binds (default: the address the control connection leaves from).
    public var listenHost: String?
    /// Port of the data listener (0: any free port).
    public var dataPort: Int
    /// The data endpoint announced to the server when it differs from the bound one (NAT, a proxy).
    public var advertise: Endpoint?
    /// How long to keep trying to reach the server.
    public var connectTimeout: Swift.Duration
    /// Multicast: the interface to receive on (default: the plan's transport.interface, else the route's).
    public var interface: String?

    /// Creates a configuration.
    public init(server: Endpoint, key: SessionKey, name: String, disk: Target?, listenHost: String?, dataPort: Int,
                advertise: Endpoint?, connectTimeout: Swift.Duration, interface: String? = nil) {
        self.interface = interface
        self.server = server
        self.key = key
        self.name = name
        self.disk = disk
        self.listenHost = listenHost
        self.dataPort = dataPort
        self.advertise = advertise
        self.connectTimeout = connectTimeout
    }
}

/// `kaplan agent`: joins the golden's session, runs its node's steps with the real host, relays the stream to
/// its downstream neighbour, reports every event, and exits 0 when its node is OK, 1 otherwise. It runs nothing
/// but the steps of the plan the authenticated server assigned.
public final class ChainAgent: @unchecked Sendable {
    /// Makes the real host for the assigned plan and node, after the safety checks, and probes the disk read-only.
    public typealias Prepare = @Sendable (_ plan: Plan, _ node: Node) throws -> (host: any SegmentedStreamHost, state: DeviceState)

    let configuration: AgentConfiguration
    let prepare: Prepare
    let observer: any ExecutionObserver
    let log: @Sendable (String) -> Void

    /// Creates an agent.
    public init(configuration: AgentConfiguration, prepare: @escaping Prepare, observer: any ExecutionObserver,
                log: @escaping @Sendable (String) -> Void) {
        self.configuration = configuration
        self.prepare = prepare
        self.observer = observer
        self.log = log
    }

    /// Runs the agent to the end of the session; returns its exit code.
    public func run() async -> Int32 {
        do { return try await session() } catch {
            log("agent \(configuration.name): \(error)")
            return 1
        }
    }

    private func connect() throws -> (TCPSocket, FramedLink, LinkKeys) {
        let deadline = monotonicSeconds() + configuration.connectTimeout.inSeconds
        var lastError: (any Error)? = nil
        var announced = false
        while monotonicSeconds() < deadline {
            do {
                let socket = try TCPSocket.connect(to: configuration.server, timeout: .seconds(5))
                let keys = try Handshake.client(
                    socket, key: configuration.key, name: configuration.name, role: .control, expecting: nil, timeout: .seconds(10))
                socket.setNoDelay(true)
                return (socket, FramedLink(socket: socket, keys: keys, isClient: true, maxChunk: 0), keys)
            } catch let error where ["auth-failed", "server-not-authenticated"].contains(error.code) {
                throw error
            } catch {
                lastError = error
                if !announced {
                    log("waiting for the server at \(configuration.server) (\(error))")
                    announced = true
                }
                Thread.sleep(forTimeInterval: 1)
            }
        }
        throw NetworkError(
            "connect-failed", "could not reach the server at \(configuration.server) within \(configuration.connectTimeout)",
            cause: lastError.map { "\($0)" })
    }

    private func session() async throws -> Int32 {
        let name = configuration.name
        let (socket, control, keys) = try connect()
        defer { control.close() }
        socket.setTimeouts(receive: nil, send: .seconds(30))
        let listener = try TCPListener(on: Endpoint(host: configuration.listenHost ?? socket.local.host, port: configuration.dataPort))
        let dataEndpoint = configuration.advertise ?? listener.local
        try control.send(control: ControlMessage.join(Join(node: name, data: dataEndpoint)).encoded())
        log("joined session \(keys.session) at \(configuration.server) as \(name); data link on \(dataEndpoint)")

        // The assignment.
        let assignment: Assignment
        switch try ControlMessage.decode(try receiveControl(control)) {
        case .assign(let a): assignment = a
        case .rejected(let reason):
            log("the server refused \(name): \(reason)")
            listener.close()
            return 1
        default: throw NetworkError("bad-frame", "the server sent something other than an assignment")
        }
        guard var node = assignment.plan.nodes.first(where: { $0.name == name }) else {
            throw NetworkError("bad-frame", "the assignment has no node named \(name)")
        }
        if let disk = configuration.disk { node.target = disk }
        var plan = assignment.plan
        plan.nodes = [node]
        let host: any SegmentedStreamHost
        let state: DeviceState
        do { (host, state) = try prepare(plan, node) } catch {
            let failure = StepError(code: (error as? HostError)?.code ?? "probe-failed", message: "\(error)", step: StepAddress(name, .partition))
            try? control.send(control: ControlMessage.finished(NodeOutcome(node: name, ok: false, failure: failure, completed: [], bytes: 0, seconds: 0)).encoded())
            log("\(name): \(error); nothing was written")
            listener.close()
            return 1
        }
        try control.send(control: ControlMessage.probed(Probed(target: node.target, state: state)).encoded())
        let changes = Planner().changes(plan: plan, node: node, observed: state, goldenIdentity: assignment.goldenIdentity)

        // Wait for the operator's go.
        switch try ControlMessage.decode(try receiveControl(control)) {
        case .start: break
        case .rejected(let reason):
            log("the server will not deploy \(name): \(reason)")
            listener.close()
            return 1
        default: throw NetworkError("bad-frame", "the server sent something other than start")
        }
        if let problem = changes.problem {
            log("\(name): \(problem); refusing to start")
            listener.close()
            return 1
        }

        // The data path: for the chain a ring, the upstream receiver and the downstream server; for multicast a
        // ring fed by the multicast receiver.
        let chunkSize = Int(plan.transport.chunkSize.bytes)
        let maxChunk = chunkSize + ChunkSealer.overhead
        let sealer = ChunkSealer(key: configuration.key, session: keys.session, stream: assignment.stream)
        let ring: ChunkRing
        var downstream: DownstreamServer? = nil
        var receiver: UpstreamReceiver? = nil
        var multicast: MulticastReceiver? = nil
        if let m = assignment.multicast {
            listener.close()
            ring = ChunkRing(capacity: 8)
            let interface = configuration.interface ?? m.interface
            let socket: UDPSocket
            do {
                if let problem = m.problem(maxChunk: maxChunk) {
                    throw NetworkError("bad-assignment", "the golden's multicast parameters are impossible: \(problem); run the same kaplan release on the golden and every node")
                }
                socket = try UDPSocket.receiver(group: m.group, port: m.port, interface: interface, receiveBuffer: 16 << 20)
            } catch {
                let failure = StepError(code: "multicast-failed", message: "\(error)", step: StepAddress(name, .stream))
                try? control.send(control: ControlMessage.finished(NodeOutcome(node: name, ok: false, failure: failure, completed: [], bytes: 0, seconds: 0)).encoded())
                log("\(name): \(error); nothing was written")
                return 1
            }
            let r = MulticastReceiver(
                socket: socket, codec: DatagramCodec(key: configuration.key, session: keys.session, stream: assignment.stream),
                sealer: sealer, ring: ring, window: m.window, fragmentSize: m.fragmentSize,
                layout: BlockLayout(blockSize: m.blockSize), maxFragments: m.fragments(maxChunk: maxChunk), report: { next, complete, missing, stats in
                    try? control.send(control: ControlMessage.receipt(Receipt(next: next, complete: complete, missing: missing, statistics: stats)).encoded())
                })
            r.start()
            multicast = r
            log("\(name): receiving multicast \(m.group):\(m.port)\(interface.map { " on \($0)" } ?? "")")
        } else {
            ring = ChunkRing(capacity: max(4, assignment.buffer / max(1, chunkSize)))
            let d = DownstreamServer(
                listener: listener, key: configuration.key, session: keys.session, source: ring, maxChunk: maxChunk,
                congestionControl: plan.transport.congestionControl, log: { [log] in log("\(name): \($0)") })
            d.start()
            downstream = d
            receiver = UpstreamReceiver(
                key: configuration.key, session: keys.session, sealer: sealer, ring: ring, name: name, maxChunk: maxChunk,
                onLost: { [log] lost in
                    log("\(name): \(lost.reason)")
                    try? control.send(control: ControlMessage.linkLost(lost).encoded())
                })
        }
        let (downstream_, receiver_, multicast_) = (downstream, receiver, multicast)
        let state_ = AgentState()
        let executorTask = Task<NodeOutcome, Never> {
            let nodeHost = ChainNodeHost(
                base: host, ring: ring, segments: assignment.segments, goldenIdentity: assignment.goldenIdentity,
                streamReady: { try? control.send(control: ControlMessage.streamReady.encoded()) })
            let forward = ForwardingObserver(local: observer, control: control)
            let executor = Executor(host: nodeHost, observer: forward)
            let result = await executor.run(plan: plan, graph: GraphBuilder().build(plan), changes: [changes])
            return result.outcomes.first
                ?? NodeOutcome(node: name, ok: false, failure: StepError(code: "internal", message: "no outcome", step: StepAddress(name, .partition)), completed: [], bytes: 0, seconds: 0)
        }
        // Control messages from the server.
        let reader = Worker("kaplan-agent-control") { [log] in
            while true {
                let message: ControlMessage
                do { message = try ControlMessage.decode(try control.receive().controlPayload()) } catch {
                    if !state_.isOver { log("\(name): the server's connection ended (\(error)); stopping") }
                    state_.end(evicted: !state_.isFinished)
                    executorTask.cancel()
                    ring.close()
                    return
                }
                switch message {
                case .link(let l):
                    log("\(name): receiving from \(l.name) at \(l.upstream)")
                    receiver_?.link(to: l.upstream, name: l.name)
                case .evict(let reason):
                    log("\(name): evicted by the server: \(reason)")
                    state_.end(evicted: true)
                    executorTask.cancel()
                    ring.close()
                    return
                case .dropDownstream(let dropped):
                    log("\(name): no longer serving \(dropped)")
                    downstream_?.drop(dropped)
                case .bye:
                    state_.end(evicted: false)
                    return
                case .streamTotal(let chunks):
                    multicast_?.setTotal(chunks)
                default:
                    log("\(name): ignoring an unexpected message from the server")
                }
            }
        }
        let heartbeat = Worker("kaplan-agent-heartbeat") {
            while !state_.isOver {
                let status = RelayStatus(received: ring.next, blocked: downstream_?.blocked() ?? [:], complete: ring.isComplete)
                try? control.send(control: ControlMessage.status(status).encoded())
                state_.sleep(0.5)
            }
        }
        let outcome = await executorTask.value
        state_.finish()
        if !state_.isOver {
            try? control.send(control: ControlMessage.finished(outcome).encoded())
        }
        // Keep relaying until the server says the session is over (downstream nodes may still need the stream).
        while !state_.isOver { try? await Task.sleep(for: .milliseconds(100)) }
        receiver_?.stop()
        if let r = receiver_ { log("\(name): \(Self.describe(received: r.received, accounting: ring.accounting))") }
        ring.close()
        downstream_?.stop()
        if let m = multicast_ {
            let s = m.statistics
            m.stop()
            log("\(name): multicast: \(s.datagrams) datagrams (\(m.socket.coalescedReads) reads of several at once), \(s.rebuilt) fragments rebuilt from parity, \(s.duplicates) duplicates, \(s.ahead) beyond the window, \(s.overflow) lost to a full receive buffer; dropped \(s.forged) forged, \(s.foreign) of another session or stream, \(s.malformed) malformed")
        }
        socket.shutdown()
        reader.join(timeout: 10)
        heartbeat.join(timeout: 5)
        let ok = outcome.ok && !state_.wasEvicted
        log("\(name): \(ok ? "OK" : "KO")\(outcome.failure.map { " — \($0.step): \($0.message)" } ?? "")")
        return ok ? 0 : 1
    }

    /// The node's closing line about its upstream link: the rate from its first to its last chunk, and whether a
    /// full window (its own disk or its downstream neighbour behind by the whole ring) held the upstream back.
    static func describe(received r: (chunks: UInt64, bytes: UInt64, seconds: Double), accounting a: ChunkRing.Accounting) -> String {
        var line = "received \(r.chunks) chunk(s), " + String(format: "%.1f MiB", Double(r.bytes) / 1048576)
        if r.seconds > 0 {
            line += String(format: " in %.1f s from the first to the last (%.1f Mbit/s)", r.seconds, Double(r.bytes) * 8 / r.seconds / 1e6)
        }
        let held = a.heldBack.filter { $0.value >= 0.05 }.sorted { $0.key < $1.key }
        line += held.isEmpty ? "; the window never held the upstream back"
            : "; the window held the upstream back " + held.map { String(format: "%.1f s for ", $0.value) + $0.key }.joined(separator: ", ")
        if !a.maxLag.isEmpty {
            line += "; most chunks behind: " + a.maxLag.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        }
        return line
    }

    private func receiveControl(_ link: FramedLink) throws -> [UInt8] {
        try link.receive().controlPayload()
    }
}

extension Frame {
    /// The payload of a control frame; a chunk where a control message belongs is an error.
    func controlPayload() throws(NetworkError) -> [UInt8] {
        guard case .control(let bytes) = self else { throw NetworkError("bad-frame", "a chunk arrived on the control link") }
        return bytes
    }
}

/// The agent's session state, shared by its threads.
final class AgentState: @unchecked Sendable {
    private let condition = NSCondition()
    private var over = false
    private var evicted = false
    private var finished = false

    var isOver: Bool { condition.lock(); defer { condition.unlock() }; return over }
    var wasEvicted: Bool { condition.lock(); defer { condition.unlock() }; return evicted }
    var isFinished: Bool { condition.lock(); defer { condition.unlock() }; return finished }

    func end(evicted e: Bool) {
        condition.lock()
        over = true
        evicted = evicted || e
        condition.broadcast()
        condition.unlock()
    }

    func finish() { condition.lock(); finished = true; condition.unlock() }

    func sleep(_ seconds: Double) {
        condition.lock()
        if !over { _ = condition.wait(until: Date(timeIntervalSinceNow: seconds)) }
        condition.unlock()
    }
}

/// Hands every event to the local observer and to the server.
final class ForwardingObserver: ExecutionObserver, @unchecked Sendable {
    let local: any ExecutionObserver
    let control: FramedLink
    private let lock = NSLock()
    private var lastProgress = 0.0

    init(local: any ExecutionObserver, control: FramedLink) {
        self.local = local
        self.control = control
    }

    func handle(_ event: ExecutionEvent) {
        local.handle(event)
        if case .progress = event {
            // At most four progress reports a second go to the server.
            lock.lock()
            let now = monotonicSeconds()
            let send = now - lastProgress >= 0.25
            if send { lastProgress = now }
            lock.unlock()
            if !send { return }
        }
        try? control.send(control: ControlMessage.event(WireEvent(event)).encoded())
    }
}
