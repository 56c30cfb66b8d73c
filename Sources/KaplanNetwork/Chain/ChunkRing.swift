import Foundation

/// The chunks a relay holds: sealed bytes to forward downstream and the opened plaintext for its own disk, in a
/// bounded window. The plaintext stays only until the disk takes it (the disk reads each chunk once, and a stream
/// step is never retried), so on a link slower than the disk the window holds one copy of each chunk, not two
/// (a relay's first-fill page faults at 100 Mbit: 33,392 → 17,161, bench/RESULTS.md). A chunk leaves the window
/// only when every reader has taken it and the window is full; so the newest `capacity` chunks stay available for
/// a downstream neighbour that re-links (the replay window), and a reader that falls behind by a whole window holds
/// the upstream back (backpressure).
final class ChunkRing: ChunkSource, @unchecked Sendable {
    /// One chunk.
    struct Entry {
        var sealed: [UInt8]
        /// The opened chunk for the node's own disk; nil once the disk has taken it.
        var plaintext: [UInt8]?
        var header: ChunkHeader
    }

    /// Why an append did not store the chunk.
    enum AppendResult: Equatable {
        case stored
        /// Not the next sequence number (a stale link's chunk): ignored.
        case outOfOrder(expected: UInt64)
        case closed
    }

    let capacity: Int
    private let condition = NSCondition()
    private var entries: [UInt64: Entry] = [:]
    private var base: UInt64 = 0
    private var nextSequence: UInt64 = 0
    private var complete = false
    private var closed = false
    private var readers: [Int: UInt64] = [:]
    private var readerNames: [Int: String] = [:]
    private var nextReader = 0
    private var held: [String: Double] = [:]
    private var lagged: [String: UInt64] = [:]

    /// Where the window's backpressure came from, for the node's closing log line.
    struct Accounting: Equatable {
        /// Seconds the upstream link waited for a full window, by the reader that still needed the oldest chunk.
        var heldBack: [String: Double]
        /// The most chunks each reader was behind the newest one.
        var maxLag: [String: UInt64]
    }

    /// What held the upstream back so far.
    var accounting: Accounting {
        condition.lock()
        defer { condition.unlock() }
        return Accounting(heldBack: held, maxLag: lagged)
    }

    /// A ring holding up to `capacity` chunks.
    init(capacity: Int) { self.capacity = max(2, capacity) }

    /// The next sequence number expected from upstream.
    var next: UInt64 { condition.lock(); defer { condition.unlock() }; return nextSequence }
    /// True once the last chunk arrived.
    var isComplete: Bool { condition.lock(); defer { condition.unlock() }; return complete }

    /// Stores the next chunk, waiting while the window is full and a reader still needs its oldest chunk.
    func append(_ entry: Entry, isCurrent: () -> Bool) -> AppendResult {
        condition.lock()
        defer { condition.unlock() }
        while true {
            if closed { return .closed }
            guard isCurrent() else { return .closed }
            guard entry.header.sequence == nextSequence else { return .outOfOrder(expected: nextSequence) }
            if entries.count < capacity { break }
            // Full: drop the oldest only when no reader still needs it.
            let holding = readers.filter { $0.value <= base }.keys
            if holding.isEmpty {
                entries[base] = nil
                base += 1
                break
            }
            let since = monotonicSeconds()
            _ = condition.wait(until: Date(timeIntervalSinceNow: 0.2))
            let waited = monotonicSeconds() - since
            for r in holding { held[readerNames[r] ?? "?", default: 0] += waited }
        }
        entries[nextSequence] = entry
        nextSequence += 1
        for (r, at) in readers where nextSequence > at {
            let name = readerNames[r] ?? "?"
            lagged[name] = max(lagged[name] ?? 0, nextSequence - at)
        }
        if entry.header.flags.contains(.endOfStream) { complete = true }
        condition.broadcast()
        return .stored
    }

    func register(from sequence: UInt64, name: String) -> Int {
        condition.lock()
        defer { condition.unlock() }
        nextReader += 1
        readers[nextReader] = sequence
        readerNames[nextReader] = name
        return nextReader
    }

    func unregister(_ reader: Int) {
        condition.lock()
        readers[reader] = nil
        readerNames[reader] = nil
        condition.broadcast()
        condition.unlock()
    }

    /// The entry `sequence` for the node's own disk, `reader` (its position moves to `sequence`: older chunks are
    /// released): its plaintext leaves the ring with it, so taking a chunk twice gives an entry without plaintext.
    func take(_ sequence: UInt64, reader: Int, timeout: Duration) -> (entry: Entry?, fetch: ChunkFetch) {
        lookup(sequence, reader: reader, timeout: timeout, take: true)
    }

    private func lookup(_ sequence: UInt64, reader: Int, timeout: Duration, take: Bool) -> (entry: Entry?, fetch: ChunkFetch) {
        let deadline = Date(timeIntervalSinceNow: timeout.inSeconds)
        condition.lock()
        defer { condition.unlock() }
        if readers[reader] != nil, readers[reader]! < sequence {
            readers[reader] = sequence
            condition.broadcast()
        }
        while true {
            if closed { return (nil, .closed) }
            if sequence < base { return (nil, .gap(oldest: base)) }
            if let e = entries[sequence] {
                if take, e.plaintext != nil { entries[sequence]!.plaintext = nil }
                return (e, .chunk(e.sealed))
            }
            if complete && sequence >= nextSequence { return (nil, .end) }
            if !condition.wait(until: deadline) { return (nil, .timeout) }
        }
    }

    func sealed(_ sequence: UInt64, reader: Int, timeout: Duration) -> ChunkFetch {
        lookup(sequence, reader: reader, timeout: timeout, take: false).fetch
    }

    /// Wakes every waiter; appends and reads end.
    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }
}
