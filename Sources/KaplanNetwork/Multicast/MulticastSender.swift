import Foundation
import KaplanErasure

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
        /// Times the rate was lowered because a receiver's buffer overflowed.
        var slowdowns: UInt64 = 0
        /// The pacing rate at the end (bits per second; nil: the link paced alone).
        var rate: Double?
        /// Seconds with nothing to send before the stream's end was sent: new chunks were outside the slowest
        /// member's window, or not produced yet.
        var heldBack: Double = 0
    }

    private struct Receiver {
        var next: UInt32 = 0
        var complete = false
        /// Counts in the window minimum (a late joiner does once it caught up to within a window).
        var member: Bool
        /// Its receive buffer's overflow count at the last receipt.
        var overflow: UInt64?
    }

    let socket: UDPSocket
    let destination: sockaddr_in
    let codec: DatagramCodec
    let spool: ChunkSpool
    let fragmentSize: Int
    let window: Int
    let maxRate: Double?
    let layout: BlockLayout
    /// Parity fragments sent with every block of new data (transport.fec.parity).
    let proactiveParity: Int
    /// Called once, when the stream's length is known.
    let onTotal: @Sendable (UInt32) -> Void
    private let condition = NSCondition()
    private var receivers: [String: Receiver] = [:]
    private var frontier: UInt32 = 0
    private var total: UInt32?
    /// Why the sending thread stopped on its own (a send the kernel refused), if it did.
    private var failure: NetworkError?
    /// Blocks to repair: (chunk << 16 | block) → how many more fragments the neediest receiver needs.
    private var repairs: [UInt64: Int] = [:]
    /// Chunks a receiver never saw at all (a late joiner): sent again whole.
    private var wholeChunks: Set<UInt32> = []
    /// When each block (or whole chunk, block 0xFFFF) was last repaired, and the next parity number of each block.
    private var lastRepaired: [UInt64: Double] = [:]
    private var nextParity: [UInt64: Int] = [:]
    private var stopped = false
    private var blockedSince: Double?
    private var stats = Statistics()
    private var cache: [UInt32: [UInt8]] = [:]
    private var cacheOrder: [UInt32] = []
    private var codes: [Int: ErasureCode] = [:]
    private var worker: Worker?
    /// A repair asked again within this time of the last retransmission is ignored (it is still on its way). 100 ms:
    /// two receipt intervals; on a LAN a repair arrives within the sender's ~10 ms of socket buffer.
    let holdoff: Double

    init(socket: UDPSocket, destination: sockaddr_in, codec: DatagramCodec, spool: ChunkSpool, fragmentSize: Int, window: Int,
         maxRate: Double?, layout: BlockLayout, proactiveParity: Int = 0, holdoff: Double = 0.1,
         onTotal: @escaping @Sendable (UInt32) -> Void) {
        self.onTotal = onTotal
        self.socket = socket
        self.destination = destination
        self.codec = codec
        self.spool = spool
        self.fragmentSize = fragmentSize
        self.window = max(2, window)
        self.maxRate = maxRate
        self.layout = layout
        self.proactiveParity = min(proactiveParity, layout.parityStride)
        self.rate = maxRate
        self.holdoff = holdoff
    }

    /// Starts the sending thread.
    func start() {
        worker = Worker("kaplan-multicast-send", priority: .dataPath) { [self] in run() }
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

    /// A receiver's report: where it stands and what it misses. Requests are merged per block: the neediest
    /// receiver's count is sent, as new parity fragments, and serves every other receiver of that block too.
    func receipt(from name: String, next: UInt32, complete: Bool, missing: [FragmentAssembler.Missing], overflow: UInt64 = 0) {
        condition.lock()
        defer { condition.unlock() }
        guard var r = receivers[name] else { return }
        if let before = r.overflow, overflow > before { slowDown() }
        r.overflow = overflow
        r.next = max(r.next, next)
        r.complete = complete
        if !r.member && UInt64(r.next) + UInt64(window) > UInt64(frontier) { r.member = true }
        receivers[name] = r
        let now = monotonicSeconds()
        for m in missing.prefix(4096) {
            // Only what was sent already: a receiver cannot ask for chunks the golden has not reached.
            guard m.chunk < frontier, let count = fragmentCounts[m.chunk] else { continue }
            let key = UInt64(m.chunk) << 16 | UInt64(m.block)
            if let t = lastRepaired[key], now - t < holdoff {
                stats.ignoredRequests += 1
                continue
            }
            if m.block == FragmentAssembler.wholeChunk {
                wholeChunks.insert(m.chunk)
                continue
            }
            let b = Int(m.block)
            guard b < layout.blocks(count) else { continue }
            let need = min(Int(m.need), layout.range(b, count: count).count)
            guard need > 0 else { continue }
            repairs[key] = max(repairs[key] ?? 0, need)
        }
        condition.broadcast()
    }

    // MARK: rate

    /// The pacing rate (bits per second on the wire): `maxRate`, lowered when a receiver cannot keep up; nil
    /// while the link alone paces the sender.
    private var rate: Double?
    private var lastSlowdown = 0.0
    private var lastRaise = 0.0
    /// Wire bits sent, for the measured rate.
    private var sentBits = 0.0
    private var measured: (at: Double, bits: Double, rate: Double?) = (0, 0, nil)

    /// A receiver's buffer overflowed: it cannot take datagrams this fast. Lower the rate by a fifth (at most every
    /// quarter second, never below 1 Mbit/s). Random link loss does not count: only the receivers' own overflows.
    private func slowDown() {
        let now = monotonicSeconds()
        guard now - lastSlowdown >= 0.25 else { return }
        lastSlowdown = now
        lastRaise = now
        let current = rate ?? measured.rate ?? maxRate ?? 1e9
        rate = max(1e6, current * 0.8)
        stats.slowdowns += 1
    }

    /// Measures the sent rate and, after a calm half second, raises the rate again by 5 % up to `maxRate` (lock held).
    private func updateRate() {
        let now = monotonicSeconds()
        if now - measured.at >= 0.1 {
            measured = (now, sentBits, measured.at > 0 ? (sentBits - measured.bits) / (now - measured.at) : nil)
        }
        guard let r = rate, now - lastSlowdown >= 0.5, now - lastRaise >= 0.1 else { return }
        lastRaise = now
        let raised = r * 1.05
        if let maxRate { rate = min(maxRate, raised) } else { rate = raised > 10e9 ? nil : raised }
    }

    /// Seconds the sender has wanted to send new data but the slowest member's window held it back (0 if not).
    func blocked() -> (seconds: Double, slowest: String?) {
        condition.lock()
        defer { condition.unlock() }
        guard let since = blockedSince else { return (0, nil) }
        let slowest = receivers.filter { $0.value.member && !$0.value.complete }.min { $0.value.next < $1.value.next }?.key
        return (monotonicSeconds() - since, slowest)
    }

    /// Why sending stopped before `stop()` (for example a datagram larger than the path MTU); nil while it runs.
    var failed: NetworkError? {
        condition.lock()
        defer { condition.unlock() }
        return failure
    }

    /// What was sent so far.
    var statistics: Statistics {
        condition.lock()
        defer { condition.unlock() }
        var s = stats
        s.rate = rate ?? maxRate
        return s
    }

    // MARK: sending

    /// The data fragment count of each chunk sent so far (lock held).
    private var fragmentCounts: [UInt32: Int] = [:]

    private func sealed(_ chunk: UInt32, wait: Duration) -> [UInt8]? {
        if let c = cache[chunk] { return c }
        guard case .chunk(let bytes) = spool.sealed(UInt64(chunk), reader: 0, timeout: wait) else { return nil }
        cache[chunk] = bytes
        cacheOrder.append(chunk)
        if cacheOrder.count > 16 { cache[cacheOrder.removeFirst()] = nil }
        return bytes
    }

    private enum Work {
        /// `parity` new parity fragments of a block, from parity number `first` (or its data, when the block's
        /// parity numbers are used up).
        case parity(chunk: UInt32, block: Int, first: Int, count: Int)
        case data(chunk: UInt32, fragments: Range<Int>)
        case fresh(chunk: UInt32)
        case wait
        case done
    }

    /// What to send next (lock held): repairs oldest first, then new data within the window.
    private func nextWork() -> Work {
        if stopped { return .done }
        updateRate()
        let oldestBlock = repairs.keys.min()
        let oldestWhole = wholeChunks.min()
        if oldestBlock != nil || oldestWhole != nil {
            let now = monotonicSeconds()
            if let chunk = oldestWhole, oldestBlock.map({ UInt32($0 >> 16) >= chunk }) ?? true {
                wholeChunks.remove(chunk)
                lastRepaired[UInt64(chunk) << 16 | UInt64(FragmentAssembler.wholeChunk)] = now
                // Whole-chunk requests also settle that chunk's block requests.
                for key in repairs.keys where UInt32(key >> 16) == chunk { repairs[key] = nil }
                return .data(chunk: chunk, fragments: 0..<(fragmentCounts[chunk] ?? 0))
            }
            let key = oldestBlock!
            let need = repairs.removeValue(forKey: key)!
            lastRepaired[key] = now
            let chunk = UInt32(key >> 16), block = Int(key & 0xFFFF)
            let first = nextParity[key] ?? 0
            if first + need > layout.parityStride {
                let count = fragmentCounts[chunk] ?? 0
                return .data(chunk: chunk, fragments: layout.range(block, count: count))
            }
            nextParity[key] = first + need
            return .parity(chunk: chunk, block: block, first: first, count: need)
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

    /// Drops repair bookkeeping of chunks every receiver has (lock held): memory stays bounded on long streams.
    private func forgetSettled() {
        guard let floor = receivers.values.map(\.next).min() else { return }
        lastRepaired = lastRepaired.filter { UInt32($0.key >> 16) >= floor }
        nextParity = nextParity.filter { UInt32($0.key >> 16) >= floor }
    }

    private func code(_ k: Int) -> ErasureCode? {
        if let c = codes[k] { return c }
        guard let c = try? ErasureCode(dataCount: k, maxParity: layout.parityStride) else { return nil }
        codes[k] = c
        return c
    }

    /// Parity fragments `first ..< first + count` of block `block` of a sealed chunk (its last fragment zero-padded).
    private func parity(_ sealed: [UInt8], block: Int, first: Int, count: Int) -> [[UInt8]] {
        let fragments = (sealed.count + fragmentSize - 1) / fragmentSize
        let range = layout.range(block, count: fragments)
        guard let code = code(range.count), count > 0 else { return [] }
        var padded = [UInt8](repeating: 0, count: range.count * fragmentSize)
        let lower = range.lowerBound * fragmentSize
        let upper = min(sealed.count, range.upperBound * fragmentSize)
        padded.withUnsafeMutableBytes { p in
            sealed.withUnsafeBytes { s in p.baseAddress!.copyMemory(from: s.baseAddress! + lower, byteCount: upper - lower) }
        }
        return padded.withUnsafeBytes { p in
            let data = (0..<range.count).map { UnsafeRawBufferPointer(rebasing: p[($0 * fragmentSize)..<(($0 + 1) * fragmentSize)]) }
            return code.parity(first..<(first + count), data: data, length: fragmentSize)
        }
    }

    private func run() {
        var datagram = [UInt8](repeating: 0, count: fragmentSize + DatagramCodec.overhead)
        // Full datagrams go out in kernel-segmented batches (UDP GSO); every work item below ends with a flush, and
        // so does every pause of the pacer, so nothing waits in a batch.
        socket.segment(size: fragmentSize + DatagramCodec.overhead)
        /// Keeps the first send error for the server (it stops the session and says why), unless stopping anyway.
        func record(_ error: any Error) {
            condition.lock()
            if failure == nil && !stopped {
                failure = (error as? NetworkError) ?? NetworkError("io", "sending a multicast datagram failed", cause: "\(error)")
            }
            condition.unlock()
        }
        func flush() -> Bool {
            do { return try socket.flush() } catch { record(error); return false }
        }
        var tokens = 0.0
        var lastRefill = monotonicSeconds()
        var pacing: Double? = maxRate
        var paced = 0
        func pace(_ bytes: Int) {
            // Bits on the wire: payload + UDP/IP + Ethernet framing (38 bytes with preamble and gap).
            let cost = Double(bytes + DatagramCodec.ipUDPHeaders + 38) * 8
            paced += 1
            if paced % 64 == 0 {
                condition.lock()
                pacing = rate ?? maxRate
                condition.unlock()
            }
            condition.lock()
            sentBits += cost
            condition.unlock()
            guard let pacing else { return }
            while true {
                let now = monotonicSeconds()
                tokens = min(tokens + (now - lastRefill) * pacing, 64 * 1024 * 8)
                lastRefill = now
                if tokens >= cost { tokens -= cost; return }
                _ = flush()
                let wait = (cost - tokens) / pacing
                usleep(UInt32(max(50, min(10_000, wait * 1e6))))
            }
        }
        /// Sends one datagram; false once the socket is gone.
        func emit(chunk: UInt32, fragment: Int, count: Int, payload: UnsafeRawBufferPointer) -> Bool {
            let length = datagram.withUnsafeMutableBytes {
                codec.build(chunk: chunk, fragment: UInt16(fragment), count: UInt16(count), payload: payload, into: $0)
            }
            pace(length)
            do {
                return try datagram.withUnsafeBytes { try socket.queue(UnsafeRawBufferPointer(rebasing: $0[0..<length]), to: destination) }
            } catch { record(error); return false }
        }
        func sendData(_ sealed: [UInt8], chunk: UInt32, fragments: Range<Int>) -> Int? {
            let count = (sealed.count + fragmentSize - 1) / fragmentSize
            var bytes = 0
            for f in fragments where f < count {
                let lower = f * fragmentSize
                let upper = min(sealed.count, lower + fragmentSize)
                let ok = sealed.withUnsafeBytes { emit(chunk: chunk, fragment: f, count: count, payload: UnsafeRawBufferPointer(rebasing: $0[lower..<upper])) }
                if !ok { return nil }
                bytes += upper - lower + DatagramCodec.overhead
            }
            return flush() ? bytes : nil
        }
        func sendParity(_ sealed: [UInt8], chunk: UInt32, block: Int, first: Int, count n: Int) -> Int? {
            let count = (sealed.count + fragmentSize - 1) / fragmentSize
            var bytes = 0
            for (i, p) in parity(sealed, block: block, first: first, count: n).enumerated() {
                let index = layout.parityIndex(block: block, parity: first + i, count: count)
                guard index <= Int(UInt16.max) else { break }
                if !(p.withUnsafeBytes { emit(chunk: chunk, fragment: index, count: count, payload: $0) }) { return nil }
                bytes += p.count + DatagramCodec.overhead
            }
            return flush() ? bytes : nil
        }
        func account(datagrams: Int, bytes: Int, repair: Bool) {
            condition.lock()
            stats.datagrams += UInt64(datagrams)
            stats.bytes += UInt64(bytes)
            if repair { stats.repairs += UInt64(datagrams) }
            condition.unlock()
        }
        while true {
            condition.lock()
            let work = nextWork()
            if case .wait = work {
                let before = monotonicSeconds()
                _ = condition.wait(until: Date(timeIntervalSinceNow: 0.01))
                if total == nil || frontier < total! { stats.heldBack += monotonicSeconds() - before }
            }
            condition.unlock()
            switch work {
            case .done: return
            case .wait: continue
            case .data(let chunk, let fragments):
                guard let bytes = sealed(chunk, wait: .milliseconds(100)) else { continue }
                guard let sent = sendData(bytes, chunk: chunk, fragments: fragments) else { return }
                account(datagrams: fragments.count, bytes: sent, repair: true)
            case .parity(let chunk, let block, let first, let n):
                guard let bytes = sealed(chunk, wait: .milliseconds(100)) else { continue }
                guard let sent = sendParity(bytes, chunk: chunk, block: block, first: first, count: n) else { return }
                account(datagrams: n, bytes: sent, repair: true)
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
                var datagrams = 0, sent = 0
                for b in 0..<layout.blocks(count) {
                    let range = layout.range(b, count: count)
                    guard let d = sendData(bytes, chunk: chunk, fragments: range) else { return }
                    datagrams += range.count
                    sent += d
                    if proactiveParity > 0 {
                        guard let p = sendParity(bytes, chunk: chunk, block: b, first: 0, count: proactiveParity) else { return }
                        datagrams += proactiveParity
                        sent += p
                    }
                }
                condition.lock()
                if chunk % 64 == 63 { forgetSettled() }
                if proactiveParity > 0 {
                    for b in 0..<layout.blocks(count) { nextParity[UInt64(chunk) << 16 | UInt64(b)] = proactiveParity }
                }
                frontier = chunk + 1
                condition.broadcast()
                condition.unlock()
                account(datagrams: datagrams, bytes: sent, repair: false)
            }
        }
    }
}
