import Foundation

/// Where a data link's server side reads the sealed chunks it sends: the golden's spool or a relay's ring.
protocol ChunkSource: AnyObject, Sendable {
    /// Registers a reader that needs chunks from `sequence` on; what it still needs is kept. `name` says who it is
    /// in the source's accounting (the node's own disk, or the downstream neighbour's name).
    func register(from sequence: UInt64, name: String) -> Int
    /// Forgets a reader.
    func unregister(_ reader: Int)
    /// The sealed chunk `sequence` for `reader`, waiting up to `timeout` for it to arrive.
    func sealed(_ sequence: UInt64, reader: Int, timeout: Duration) -> ChunkFetch
}

/// The answer to a chunk request.
enum ChunkFetch {
    /// The chunk's sealed bytes.
    case chunk([UInt8])
    /// The chunk is no longer held (the oldest held is given): serve it from the golden.
    case gap(oldest: UInt64)
    /// The stream ended before this sequence number.
    case end
    /// Not there yet.
    case timeout
    /// The source was closed.
    case closed
}

extension Swift.Duration {
    /// The duration in seconds, as a Double.
    var inSeconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

extension NSCondition {
    /// Waits until `deadline` (a `Date`); false when it passed.
    func wait(untilSeconds deadline: Double) -> Bool {
        wait(until: Date(timeIntervalSinceReferenceDate: deadline))
    }
}

/// Seconds on a monotonic clock (for deadlines and stall timers).
func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
