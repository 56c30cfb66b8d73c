import Foundation

/// The golden's side of the multicast transport: sends every sealed chunk of the spool to the group as
/// datagrams, repairs first (what receivers report missing, merged: one retransmission serves every receiver that
/// lost the same datagram), new chunks only within the window of the slowest member, paced at `transport.max-rate`
/// when set (otherwise the link's own queue paces it: a full socket buffer blocks the sender).
final class MulticastSender: @unchecked Sendable {
    /// Counters for the session's report.
    struct Statistics: Sendable {
        var datagrams: UInt64 = 0
        var repairs: UInt64 = 0
        var bytes: UInt64 = 0
        var ignoredRequests: UInt64 = 0
    }

    private struct Receiver {
        var next: UInt32 = 0
        var complete = false
        /// Counts in the window minimum (a late joiner does once it caught up to within a window).
        var member: Bool
    }

    let socket: UDPSocket
    let destination: sockaddr_in
    let codec: DatagramCodec
    let spool: ChunkSpool
    let fragmentSize: Int
    let window: Int
    let maxRate: Double?
    /// Called once, when the stream's length is known.
    let onTotal: @Sendable (UInt32) -> Void
    private let condition = NSCondition()
    private var receivers: [String: Receiver] = [:]
    private var frontier: UInt32 = 0
    private var total: UInt32?
    private var repairs: [UInt32: [Bool]] = [:]
    private var repairCount = 0
    private var lastRepaired: [UInt64: Double] = [:]
    private var stopped = false
    private var blockedSince: Double?
    private var stats = Statistics()
    private var cache: [UInt32: [UInt8]] = [:]
    private var cacheOrder: [UInt32] = []
    private var worker: Worker?
    /// A repair asked again within this time of the last retransmission is ignored (it is still on its way).
    let holdoff: Double

    init(socket: UDPSocket, destination: sockaddr_in, codec: DatagramCodec, spool: ChunkSpool, fragmentSize: Int, window: Int,
         maxRate: Double?, holdoff: Double = 0.25, onTotal: @escaping @Sendable (UInt32) -> Void) {
        self.onTotal = onTotal
        self.socket = socket
        self.destination = destination
        self.codec = codec
        self.spool = spool
        self.fragmentSize = fragmentSize
        self.window = max(2, window)
        self.maxRate = maxRate
        self.holdoff = holdoff
    }

    /// Starts the sending thread.
    func start() {
        worker = Worker("kaplan-multicast-send") { [self] in run() }
    }

    /// Stops sending and waits for the thread.
    func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
        worker?.join(timeout: 10)
    }

    /// A receiver that is ready for the stream; it limits the window once it is within one window of the frontier.
    func add(_ name: String) {
        condition.lock()
        receivers[name] = Receiver(next: 0, member: frontier < UInt32(window))
        condition.broadcast()
        condition.unlock()
    }

    /// Forgets a receiver (lost, evicted, done): it no longer holds the window back.
    func remove(_ name: String) {
        condition.lock()
        receivers[name] = nil
        condition.broadcast()
        condition.unlock()
    }

    /// The stream's length in chunks, once the producer finished.
    var streamTotal: UInt32? { condition.lock(); defer { condition.unlock() }; return total }

    /// A receiver's report: where it stands and what it misses.
    func receipt(from name: String, next: UInt32, complete: Bool, missing: [FragmentAssembler.Missing]) {
        condition.lock()
        defer { condition.unlock() }
        guard var r = receivers[name] else { return }
        r.next = max(r.next, next)
        r.complete = complete
        if !r.member && UInt64(r.next) + UInt64(window) > UInt64(frontier) { r.member = true }
        receivers[name] = r
        let now = monotonicSeconds()
        for m in missing.prefix(4096) {
            // Only what was sent already: a receiver cannot ask for chunks the golden has not reached.
            guard m.chunk < frontier else { continue }
            guard let count = chunkFragmentCount(m.chunk) else { continue }
            let end = min(Int(m.end), count)
            guard Int(m.first) < end else { continue }
            var bits = repairs[m.chunk] ?? [Bool](repeating: false, count: count)
            for f in Int(m.first)..<end where !bits[f] {
                let key = UInt64(m.chunk) << 16 | UInt64(f)
                if let t = lastRepaired[key], now - t < holdoff {
                    stats.ignoredRequests += 1
                    continue
                }
                bits[f] = true
                repairCount += 1
            }
            repairs[m.chunk] = bits
        }
        condition.broadcast()
    }

    /// Seconds the sender has wanted to send new data but the slowest member's window held it back (0 if not).
    func blocked() -> (seconds: Double, slowest: String?) {
        condition.lock()
        defer { condition.unlock() }
        guard let since = blockedSince else { return (0, nil) }
        let slowest = receivers.filter { $0.value.member && !$0.value.complete }.min { $0.value.next < $1.value.next }?.key
        return (monotonicSeconds() - since, slowest)
    }

    /// What was sent so far.
    var statistics: Statistics { condition.lock(); defer { condition.unlock() }; return stats }

    // MARK: sending

    /// The fragment count of a chunk already in the spool (lock held), from its sealed length.
    private var fragmentCounts: [UInt32: Int] = [:]
    private func chunkFragmentCount(_ chunk: UInt32) -> Int? { fragmentCounts[chunk] }

    private func sealed(_ chunk: UInt32, wait: Duration) -> [UInt8]? {
        if let c = cache[chunk] { return c }
        guard case .chunk(let bytes) = spool.sealed(UInt64(chunk), reader: 0, timeout: wait) else { return nil }
        cache[chunk] = bytes
        cacheOrder.append(chunk)
        if cacheOrder.count > 16 { cache[cacheOrder.removeFirst()] = nil }
        return bytes
    }

    private enum Work {
        case repair(chunk: UInt32, fragments: [Int])
        case fresh(chunk: UInt32)
        case wait
        case done
    }

    /// What to send next (lock held).
    private func nextWork() -> Work {
        if stopped { return .done }
        if repairCount > 0, let chunk = repairs.keys.min() {
            let bits = repairs.removeValue(forKey: chunk)!
            let fragments = bits.indices.filter { bits[$0] }
            repairCount -= fragments.count
            return .repair(chunk: chunk, fragments: fragments)
        }
        if let total, frontier >= total { blockedSince = nil; return .wait }
        let members = receivers.values.filter { $0.member && !$0.complete }
        let limit = members.map { UInt64($0.next) + UInt64(window) }.min() ?? UInt64(frontier) + UInt64(window)
        if UInt64(frontier) < limit {
            blockedSince = nil
            return .fresh(chunk: frontier)
        }
        if blockedSince == nil { blockedSince = monotonicSeconds() }
        return .wait
    }

    private func run() {
        var datagram = [UInt8](repeating: 0, count: fragmentSize + DatagramCodec.overhead)
        var tokens = 0.0
        var lastRefill = monotonicSeconds()
        func pace(_ bytes: Int) {
            guard let maxRate else { return }
            // Bits on the wire: payload + UDP/IP + Ethernet framing (38 bytes with preamble and gap).
            let cost = Double(bytes + DatagramCodec.ipUDPHeaders + 38) * 8
            while true {
                let now = monotonicSeconds()
                tokens = min(tokens + (now - lastRefill) * maxRate, 64 * 1024 * 8)
                lastRefill = now
                if tokens >= cost { tokens -= cost; return }
                let wait = (cost - tokens) / maxRate
                usleep(UInt32(max(50, min(10_000, wait * 1e6))))
            }
        }
        func send(_ sealed: [UInt8], chunk: UInt32, fragments: some Sequence<Int>, repair: Bool) -> Bool {
            let count = (sealed.count + fragmentSize - 1) / fragmentSize
            var sent = 0
            var bytes = 0
            for f in fragments where f < count {
                let lower = f * fragmentSize
                let upper = min(sealed.count, lower + fragmentSize)
                let length = sealed.withUnsafeBytes { s in
                    datagram.withUnsafeMutableBytes { out in
                        codec.build(chunk: chunk, fragment: UInt16(f), count: UInt16(count), payload: UnsafeRawBufferPointer(rebasing: s[lower..<upper]), into: out)
                    }
                }
                pace(length)
                let ok = (try? datagram.withUnsafeBytes { try socket.send(UnsafeRawBufferPointer(rebasing: $0[0..<length]), to: destination) }) ?? false
                if !ok { return false }
                sent += 1
                bytes += length
            }
            condition.lock()
            stats.datagrams += UInt64(sent)
            stats.bytes += UInt64(bytes)
            if repair {
                stats.repairs += UInt64(sent)
                let now = monotonicSeconds()
                for f in fragments { lastRepaired[UInt64(chunk) << 16 | UInt64(f)] = now }
                if lastRepaired.count > 200_000 { lastRepaired = lastRepaired.filter { now - $0.value < holdoff } }
            }
            condition.unlock()
            return true
        }
        while true {
            condition.lock()
            let work = nextWork()
            if case .wait = work { _ = condition.wait(until: Date(timeIntervalSinceNow: 0.01)) }
            condition.unlock()
            switch work {
            case .done: return
            case .wait: continue
            case .repair(let chunk, let fragments):
                guard let bytes = sealed(chunk, wait: .milliseconds(100)) else { continue }
                if !send(bytes, chunk: chunk, fragments: fragments, repair: true) { return }
            case .fresh(let chunk):
                let bytes: [UInt8]
                switch spool.sealed(UInt64(chunk), reader: 0, timeout: .milliseconds(20)) {
                case .chunk(let b): bytes = b
                case .timeout, .gap: continue
                case .closed: return
                case .end:
                    // The producer finished (or failed: then the nodes see the stream end without its summary).
                    condition.lock()
                    total = chunk
                    condition.unlock()
                    onTotal(chunk)
                    continue
                }
                let count = (bytes.count + fragmentSize - 1) / fragmentSize
                condition.lock()
                fragmentCounts[chunk] = count
                condition.unlock()
                if !send(bytes, chunk: chunk, fragments: 0..<count, repair: false) { return }
                condition.lock()
                frontier = chunk + 1
                condition.broadcast()
                condition.unlock()
            }
        }
    }
}
