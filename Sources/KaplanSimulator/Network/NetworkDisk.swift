/// A node's disk as the model sees it: a FIFO writer at a fixed rate, paused during stall windows.
struct NetworkDisk: Sendable {
    /// Bytes per second while writing.
    var rate: Double
    /// Stall windows, sorted, disjoint: the disk writes nothing inside them.
    var stalls: [(start: Double, end: Double)]

    /// Creates a disk; overlapping stall windows are merged.
    init(rate: Double, stalls: [(start: Double, end: Double)] = []) {
        self.rate = rate
        var merged: [(start: Double, end: Double)] = []
        for window in stalls.sorted(by: { $0.start < $1.start }) where window.end > window.start {
            if let last = merged.last, window.start <= last.end {
                merged[merged.count - 1].end = max(last.end, window.end)
            } else {
                merged.append(window)
            }
        }
        self.stalls = merged
    }

    /// When a write of `bytes` that can begin at `start` is on disk, skipping the stall windows.
    @inline(__always)
    func finish(start: Double, bytes: Double) -> Double {
        var work = bytes / rate
        if stalls.isEmpty { return start + work }
        var t = start
        for window in stalls where window.end > t {
            if window.start >= t + work { break }
            if window.start > t { work -= window.start - t }
            t = window.end
        }
        return t + work
    }
}
