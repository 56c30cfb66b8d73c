import Foundation

/// The downstream end of a node's data link: connects to the upstream the server names, asks for the next chunk
/// it needs, opens (authenticates) every chunk before it stores or forwards it, and reports a lost link to the
/// server instead of guessing a new upstream itself. A damaged chunk ends the link: the server re-links the node
/// and it asks again from that chunk, so damage never travels down the chain.
final class UpstreamReceiver: @unchecked Sendable {
    private let key: SessionKey
    private let session: SessionID
    private let sealer: ChunkSealer
    private let ring: ChunkRing
    private let name: String
    private let maxChunk: Int
    private let onLost: @Sendable (LinkLost) -> Void
    private let lock = NSLock()
    private var generation = 0
    private var socket: TCPSocket?
    private var workers: [Worker] = []
    private var stopped = false
    private var firstAt: Double? = nil
    private var lastAt = 0.0
    private var chunks: UInt64 = 0
    private var bytes: UInt64 = 0
    /// Test hook: flip one bit of the chunk with this sequence number once it arrives (KAPLAN_TEST_FLIP_CHUNK).
    private var flipChunk: UInt64? = ProcessInfo.processInfo.environment["KAPLAN_TEST_FLIP_CHUNK"].flatMap { UInt64($0) }

    init(key: SessionKey, session: SessionID, sealer: ChunkSealer, ring: ChunkRing, name: String, maxChunk: Int,
         onLost: @escaping @Sendable (LinkLost) -> Void) {
        self.key = key
        self.session = session
        self.sealer = sealer
        self.ring = ring
        self.name = name
        self.maxChunk = maxChunk
        self.onLost = onLost
    }

    /// What arrived: chunks and sealed bytes stored, and the seconds from the first to the last (over every link).
    var received: (chunks: UInt64, bytes: UInt64, seconds: Double) {
        lock.lock()
        defer { lock.unlock() }
        return (chunks, bytes, firstAt.map { lastAt - $0 } ?? 0)
    }

    /// (Re)links to `upstream`: the current link, if any, is dropped.
    func link(to upstream: Endpoint, name upstreamName: String) {
        lock.lock()
        guard !stopped else { lock.unlock(); return }
        generation += 1
        let mine = generation
        socket?.shutdown()
        socket = nil
        lock.unlock()
        let w = Worker("kaplan-upstream", priority: .dataPath) { [self] in receive(from: upstream, upstreamName: upstreamName, generation: mine) }
        lock.lock()
        workers.append(w)
        lock.unlock()
    }

    /// Ends the link for good and waits for the receiving threads.
    func stop() {
        lock.lock()
        stopped = true
        generation += 1
        socket?.shutdown()
        let ws = workers
        lock.unlock()
        for w in ws { w.join(timeout: 10) }
    }

    private func isCurrent(_ g: Int) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return g == generation && !stopped
    }

    private func receive(from upstream: Endpoint, upstreamName: String, generation g: Int) {
        var next = ring.next
        func lost(_ reason: String, gap: Bool = false) {
            if isCurrent(g) { onLost(LinkLost(upstream: upstreamName, reason: reason, next: next, gap: gap)) }
        }
        let socket: TCPSocket
        do {
            socket = try TCPSocket.connect(to: upstream, timeout: .seconds(5))
        } catch {
            lost("cannot connect to \(upstreamName) at \(upstream): \(error)")
            return
        }
        lock.lock()
        guard g == generation, !stopped else {
            lock.unlock()
            socket.close()
            return
        }
        self.socket = socket
        lock.unlock()
        defer { socket.close() }
        let link: FramedLink
        do {
            socket.setBuffers(send: nil, receive: 4 << 20)
            let keys = try Handshake.client(socket, key: key, name: name, role: .data, expecting: session, timeout: .seconds(5))
            link = FramedLink(socket: socket, keys: keys, isClient: true, maxChunk: maxChunk)
            try link.send(control: DataMessage.from(next).encoded())
        } catch {
            lost("data link to \(upstreamName) at \(upstream) failed: \(error)")
            return
        }
        while isCurrent(g) {
            let frame: Frame
            do { frame = try link.receive() } catch {
                lost("link from \(upstreamName) ended at chunk \(next): \(error)")
                return
            }
            switch frame {
            case .control(let bytes):
                if case .gap(let oldest)? = try? DataMessage.decode(bytes) {
                    lost("\(upstreamName) no longer holds chunk \(next) (oldest held: \(oldest))", gap: true)
                } else {
                    lost("\(upstreamName) sent an unexpected message")
                }
                return
            case .chunk(var sealed):
                if let flip = flipChunk, flip == next, sealed.count > ChunkHeader.size + 8 {
                    flipChunk = nil
                    sealed[ChunkHeader.size + 3] ^= 0x10
                }
                let opened: (header: ChunkHeader, plaintext: [UInt8])
                do { opened = try sealed.withUnsafeBytes { try sealer.open($0) } } catch {
                    lost("chunk \(next) from \(upstreamName) failed authentication (\((error as? NetworkError)?.code ?? "\(error)")); asking for it again")
                    return
                }
                guard opened.header.sequence == next else {
                    lost("\(upstreamName) sent chunk \(opened.header.sequence) where \(next) was expected")
                    return
                }
                switch ring.append(.init(sealed: sealed, plaintext: opened.plaintext, header: opened.header), isCurrent: { isCurrent(g) }) {
                case .stored:
                    next += 1
                    let now = monotonicSeconds()
                    lock.lock()
                    if firstAt == nil { firstAt = now }
                    lastAt = now
                    chunks += 1
                    bytes += UInt64(sealed.count)
                    lock.unlock()
                    if opened.header.flags.contains(.endOfStream) { return }
                case .outOfOrder(let expected):
                    next = expected
                    lost("out of order after a re-link; asking again from \(expected)")
                    return
                case .closed:
                    return
                }
            }
        }
    }
}
