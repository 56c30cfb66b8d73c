import Foundation

/// The upstream end of data links: accepts authenticated downstream neighbours and sends each the sealed chunks
/// it asks for, from the golden's spool or a relay's ring. It measures how long each downstream keeps a send
/// blocked — the server evicts a node that holds the chain back. A connection that fails the handshake gets
/// nothing and costs one short-lived thread; a flood of them is refused beyond a bound.
final class DownstreamServer: @unchecked Sendable {
    private let listener: TCPListener
    private let key: SessionKey
    private let session: SessionID
    private let source: any ChunkSource
    private let maxChunk: Int
    private let congestionControl: String?
    private let log: @Sendable (String) -> Void
    private let lock = NSLock()
    private var serving: [String: Serving] = [:]
    private var pendingHandshakes = 0
    private var saidCongestionControl = false
    private var stopped = false
    private var workers: [Worker] = []

    /// One downstream being served.
    final class Serving: @unchecked Sendable {
        let name: String
        let socket: TCPSocket
        let lock = NSLock()
        var blockedSince: Double? = nil

        init(name: String, socket: TCPSocket) {
            self.name = name
            self.socket = socket
        }

        var blockedFor: Double {
            lock.lock()
            defer { lock.unlock() }
            return blockedSince.map { monotonicSeconds() - $0 } ?? 0
        }
    }

    /// Where downstream neighbours connect.
    var endpoint: Endpoint { listener.local }

    /// `congestionControl`: the TCP congestion control each link's socket sends with (the plan's
    /// `transport.congestion-control`); nil keeps the kernel's default. A kernel without it keeps its default;
    /// the log says so once, when the first link opens, and each link's closing line names what it used.
    init(listener: TCPListener, key: SessionKey, session: SessionID, source: any ChunkSource, maxChunk: Int,
         congestionControl: String?, log: @escaping @Sendable (String) -> Void) {
        self.listener = listener
        self.key = key
        self.session = session
        self.source = source
        self.maxChunk = maxChunk
        self.congestionControl = congestionControl
        self.log = log
    }

    /// Starts accepting.
    func start() {
        let w = Worker("kaplan-data-accept") { [self] in acceptLoop() }
        lock.lock()
        workers.append(w)
        lock.unlock()
    }

    /// Seconds each downstream has kept a send blocked (0 when it is not blocked).
    func blocked() -> [String: Double] {
        lock.lock()
        let all = serving
        lock.unlock()
        return all.mapValues(\.blockedFor)
    }

    /// Stops serving `name` (it was evicted or is gone).
    func drop(_ name: String) {
        lock.lock()
        let s = serving.removeValue(forKey: name)
        lock.unlock()
        s?.socket.shutdown()
    }

    /// Stops accepting and serving; waits for the threads.
    func stop() {
        lock.lock()
        stopped = true
        let all = serving.values
        let ws = workers
        lock.unlock()
        listener.close()
        for s in all { s.socket.shutdown() }
        for w in ws { w.join(timeout: 10) }
    }

    private var isStopped: Bool { lock.lock(); defer { lock.unlock() }; return stopped }

    private func acceptLoop() {
        while !isStopped {
            let socket: TCPSocket?
            do { socket = try listener.accept(timeout: .milliseconds(500)) } catch {
                if isStopped { return }
                log("data listener: \(error)")
                Thread.sleep(forTimeInterval: 0.1)
                continue
            }
            guard let socket else { continue }
            lock.lock()
            let refuse = pendingHandshakes >= 16 || stopped
            if !refuse { pendingHandshakes += 1 }
            lock.unlock()
            if refuse {
                socket.close()
                continue
            }
            let w = Worker("kaplan-data-serve", priority: .dataPath) { [self] in serve(socket) }
            lock.lock()
            workers.removeAll { $0.join(timeout: 0) }
            workers.append(w)
            lock.unlock()
        }
    }

    private func serve(_ socket: TCPSocket) {
        let peer = socket.remote
        // Before the first byte: this socket carries the stream downstream, so its congestion control is the one
        // that shares the queues of the link with the next flow's acknowledgements.
        let unavailable = congestionControl.flatMap { socket.setCongestionControl($0) }
        if let unavailable, let wanted = congestionControl {
            lock.lock()
            let first = !saidCongestionControl
            saidCongestionControl = true
            lock.unlock()
            if first {
                log("data links: TCP congestion control \(wanted) could not be set (\(unavailable)); they send with this kernel's default, \(socket.congestionControl); to choose, set the plan's transport.congestion-control to one of this kernel's net.ipv4.tcp_available_congestion_control, or to system")
            }
        }
        let link: FramedLink
        let name: String
        let from: UInt64
        do {
            let (n, role, keys) = try Handshake.server(socket, key: key, session: session, timeout: .seconds(5))
            guard role == .data else { throw NetworkError("bad-frame", "\(n) opened a control link on the data port") }
            link = FramedLink(socket: socket, keys: keys, isClient: false, maxChunk: maxChunk)
            socket.setTimeouts(receive: .seconds(10), send: nil)
            guard case .control(let bytes) = try link.receive(), case .from(let f) = try DataMessage.decode(bytes) else {
                throw NetworkError("bad-frame", "\(n) did not ask for a sequence number")
            }
            name = n
            from = f
        } catch {
            lock.lock()
            pendingHandshakes -= 1
            lock.unlock()
            log("data link from \(peer) refused: \(error)")
            socket.close()
            return
        }
        let me = Serving(name: name, socket: socket)
        lock.lock()
        pendingHandshakes -= 1
        let previous = serving.updateValue(me, forKey: name)
        lock.unlock()
        previous?.socket.shutdown()
        socket.setTimeouts(receive: nil, send: nil)
        let reader = source.register(from: from, name: name)
        var sequence = from
        var sent: UInt64 = 0
        var sending = 0.0
        var waiting = 0.0
        let began = monotonicSeconds()
        var ended = began
        defer {
            // Where this link's time went: a relay that spent it waiting for chunks was fed late from upstream;
            // one that spent it sending had a busy link (or a slow downstream, then the server evicts it).
            if sequence > from {
                let over = unavailable.map { "TCP \(socket.congestionControl): \(congestionControl ?? "") could not be set, \($0)" }
                    ?? "TCP \(socket.congestionControl)"
                log("served \(name) chunks \(from)–\(sequence - 1) ("
                    + String(format: "%.1f MiB in %.1f s: %.1f s sending, %.1f s waiting for chunks", Double(sent) / 1048576, ended - began, sending, waiting)
                    + "; \(over))")
            }
            source.unregister(reader)
            lock.lock()
            if serving[name] === me { serving[name] = nil }
            lock.unlock()
            socket.close()
        }
        while !isStopped {
            let asked = monotonicSeconds()
            let fetched = source.sealed(sequence, reader: reader, timeout: .milliseconds(500))
            let got = monotonicSeconds()
            waiting += got - asked
            ended = got
            switch fetched {
            case .chunk(let bytes):
                me.lock.lock()
                me.blockedSince = got
                me.lock.unlock()
                do {
                    try bytes.withUnsafeBytes { try link.send(chunk: $0) }
                } catch {
                    return
                }
                let done = monotonicSeconds()
                sending += done - got
                ended = done
                me.lock.lock()
                me.blockedSince = nil
                me.lock.unlock()
                sent += UInt64(bytes.count)
                sequence += 1
            case .gap(let oldest):
                try? link.send(control: DataMessage.gap(oldest: oldest).encoded())
                return
            case .end, .closed:
                // Everything was sent: keep the link until the downstream closes it (it may still be reading).
                socket.setTimeouts(receive: .seconds(600), send: nil)
                _ = try? link.receive()
                return
            case .timeout:
                continue
            }
        }
    }
}
