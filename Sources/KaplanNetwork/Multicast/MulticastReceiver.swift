import Foundation

/// A node's side of the multicast transport: receives the group's datagrams, drops (and counts) every one that is
/// malformed, of another session or stream, or fails its tag, places the rest in the `FragmentAssembler`, opens
/// each complete chunk with the stream's `ChunkSealer` and hands it to the node's ring in sequence. Every 100 ms it
/// reports to the golden (over the authenticated control link) where it stands and what it misses.
final class MulticastReceiver: @unchecked Sendable {
    /// Counters for the node's log and the golden's report.
    struct Statistics: Codable, Sendable, Equatable {
        var datagrams: UInt64 = 0
        var duplicates: UInt64 = 0
        var malformed: UInt64 = 0
        var foreign: UInt64 = 0
        var forged: UInt64 = 0
        var ahead: UInt64 = 0
        /// Data fragments rebuilt from parity fragments.
        var rebuilt: UInt64 = 0
        /// Datagrams the kernel dropped because the receive buffer was full (the node could not keep up).
        var overflow: UInt64 = 0
        /// Datagrams thrown away on purpose (`dropEvery`, tests only).
        var testDropped: UInt64 = 0
    }

    let socket: UDPSocket
    let codec: DatagramCodec
    let sealer: ChunkSealer
    let ring: ChunkRing
    let report: @Sendable (_ next: UInt32, _ complete: Bool, _ missing: [FragmentAssembler.Missing], _ stats: Statistics) -> Void
    private let condition = NSCondition()
    private var assembler: FragmentAssembler
    private var stats = Statistics()
    private var stopped = false
    private var delivered = false
    private var lastArrival = monotonicSeconds()
    private var reports = 0
    private var lastOverflow: UInt64 = 0
    /// Nothing arrived for this long: the tail of the stream is asked for (it is not on its way any more).
    static let quietSeconds = 0.1
    /// Seconds between two reports to the golden (where the receiver stands, what it misses). A lost datagram
    /// costs its chunk about a report interval and a round trip before its repair arrives: at 100 Mbit with 1 %
    /// loss, 50 ms instead of 100 ms (with the golden's hold-off and the quiet time above halved too) brought the
    /// nodes' delivery lag from ~0.4 s to ~0.17 s (bench/RESULTS.md). 20 small receipts a second per node.
    static let reportInterval = 0.05
    private var workers: [Worker] = []
    /// Tests: every `dropEvery`-th authenticated datagram that would be new is thrown away (0: none).
    let dropEvery: UInt64

    init(socket: UDPSocket, codec: DatagramCodec, sealer: ChunkSealer, ring: ChunkRing, window: Int, fragmentSize: Int,
         layout: BlockLayout, maxFragments: Int = Int(UInt16.max),
         report: @escaping @Sendable (UInt32, Bool, [FragmentAssembler.Missing], Statistics) -> Void, dropEvery: UInt64 = 0) {
        self.dropEvery = dropEvery
        self.socket = socket
        self.codec = codec
        self.sealer = sealer
        self.ring = ring
        self.report = report
        assembler = FragmentAssembler(
            window: window, fragmentSize: fragmentSize, layout: layout, maxFragments: maxFragments, deferRebuilds: true)
    }

    /// Starts receiving, delivering and reporting.
    func start() {
        workers = [
            Worker("kaplan-multicast-receive", priority: .dataPath) { [self] in receiveLoop() },
            Worker("kaplan-multicast-deliver") { [self] in deliverLoop() },
            Worker("kaplan-multicast-decode") { [self] in decodeLoop() },
            Worker("kaplan-multicast-report") { [self] in reportLoop() },
        ]
    }

    /// The golden said how many chunks the stream has.
    func setTotal(_ chunks: UInt32) {
        condition.lock()
        assembler.total = chunks
        condition.broadcast()
        condition.unlock()
    }

    /// Stops every thread and closes the socket.
    func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
        for w in workers { w.join(timeout: 10) }
        socket.close()
    }

    /// What was received so far.
    var statistics: Statistics {
        condition.lock()
        defer { condition.unlock() }
        var s = stats
        s.rebuilt = assembler.rebuilt
        s.overflow = socket.drops() ?? 0
        return s
    }

    private var isStopped: Bool { condition.lock(); defer { condition.unlock() }; return stopped || delivered }

    private func receiveLoop() {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while !isStopped {
            let got: Int?
            do { got = try buffer.withUnsafeMutableBytes { try socket.receive(into: $0, timeout: .milliseconds(200)) } } catch {
                return
            }
            guard let n = got else { continue }
            buffer.withUnsafeBytes { raw in
                let datagram = UnsafeRawBufferPointer(rebasing: raw[0..<n])
                let result = codec.open(datagram)
                condition.lock()
                defer { condition.unlock() }
                switch result {
                case .failure(.malformed): stats.malformed += 1
                case .failure(.foreign): stats.foreign += 1
                case .failure(.forged): stats.forged += 1
                case .success(let header):
                    stats.datagrams += 1
                    if dropEvery > 0, stats.datagrams % dropEvery == 0, !assembler.holds(header) {
                        stats.testDropped += 1
                        return
                    }
                    let payload = UnsafeRawBufferPointer(rebasing: datagram[DatagramHeader.size..<(n - DatagramCodec.tagSize)])
                    let queued = assembler.queuedRebuilds
                    switch assembler.place(header, payload: payload) {
                    case .stored:
                        lastArrival = monotonicSeconds()
                        // Wake the delivering thread only for a whole chunk, and the decoding one for a block to
                        // rebuild: a wake-up per datagram cost a context switch each, and woke the report loop too.
                        if (header.chunk == assembler.next && assembler.nextIsReady) || assembler.queuedRebuilds != queued {
                            condition.broadcast()
                        }
                    case .duplicate, .old: stats.duplicates += 1
                    case .ahead: stats.ahead += 1
                    case .inconsistent: stats.malformed += 1
                    }
                }
            }
        }
    }

    private func deliverLoop() {
        while true {
            condition.lock()
            var sealed: [UInt8]? = nil
            while !stopped {
                if let s = assembler.takeNext() {
                    // Empty: the chunk's own header gave an impossible length; it was dropped and is asked again.
                    if s.isEmpty { stats.malformed += 1; continue }
                    sealed = s
                    break
                }
                _ = condition.wait(until: Date(timeIntervalSinceNow: 0.2))
            }
            condition.unlock()
            guard let bytes = sealed else { return }
            let opened: (header: ChunkHeader, plaintext: [UInt8])
            do { opened = try bytes.withUnsafeBytes { try sealer.open($0) } } catch {
                // Every datagram passed its tag, so this is a golden-side fault or a forged chunk under a leaked
                // datagram key; the chunk is never written, and the stream step fails on the gap.
                condition.lock()
                stats.forged += 1
                stopped = true
                condition.unlock()
                ring.close()
                return
            }
            switch ring.append(.init(sealed: [], plaintext: opened.plaintext, header: opened.header), isCurrent: { !self.stoppedFlag }) {
            case .stored:
                if opened.header.flags.contains(.endOfStream) {
                    condition.lock()
                    delivered = true
                    condition.broadcast()
                    condition.unlock()
                    sendReport()
                    return
                }
            case .outOfOrder, .closed:
                return
            }
        }
    }

    /// Rebuilds blocks from parity away from the receiving thread and without the lock: only taking a block's
    /// fragments (a copy) and putting the rebuilt ones back hold it.
    private func decodeLoop() {
        while true {
            condition.lock()
            var job: FragmentAssembler.Rebuild? = nil
            while !stopped && !delivered {
                if let j = assembler.takeRebuild() { job = j; break }
                _ = condition.wait(until: Date(timeIntervalSinceNow: 0.2))
            }
            condition.unlock()
            guard let job else { return }
            let outcome = job.decode()
            condition.lock()
            assembler.finish(job, outcome)
            if assembler.nextIsReady { condition.broadcast() }
            condition.unlock()
        }
    }

    private var stoppedFlag: Bool { condition.lock(); defer { condition.unlock() }; return stopped }

    private func sendReport() {
        condition.lock()
        let next = assembler.next
        let complete = delivered
        let missing = complete ? [] : assembler.missing(limit: 512, quiet: monotonicSeconds() - lastArrival > Self.quietSeconds)
        var s = stats
        s.rebuilt = assembler.rebuilt
        reports += 1
        // /proc/net/udp lists every UDP socket of the namespace: read it every fifth report (0.5 s), not more.
        let readDrops = reports % 5 == 1 || complete
        condition.unlock()
        let drops = readDrops ? socket.drops() : nil
        condition.lock()
        if let drops { lastOverflow = drops }
        s.overflow = lastOverflow
        condition.unlock()
        report(next, complete, missing, s)
    }

    private func reportLoop() {
        while true {
            condition.lock()
            if stopped || delivered { condition.unlock(); return }
            // Every reportInterval, whatever else wakes the condition: a report on every wake-up (it is shared with the
            // delivering thread) sent hundreds of receipts a second per node, each one decoded by the golden under
            // its sender's lock and answered with a TCP ACK on the golden's own link.
            let deadline = Date(timeIntervalSinceNow: Self.reportInterval)
            while !stopped && !delivered && Date() < deadline { _ = condition.wait(until: deadline) }
            let over = stopped || delivered
            condition.unlock()
            if over { return }
            sendReport()
        }
    }
}
