import Foundation

/// A receiver's window of partly received chunks: fragments are placed as they arrive (in any order, duplicates
/// ignored), complete chunks leave in sequence, and what is still missing is listed for the golden to repair.
/// Only chunks in [next, next + window) are held, so memory stays bounded whatever the golden sends; the golden
/// never sends new chunks beyond the window of its slowest receiver, and a receiver that is behind (a late joiner)
/// gets what it misses by repair.
struct FragmentAssembler {
    /// A fragment range one receiver misses: fragments first..<end of `chunk` (end 65535: the whole chunk).
    struct Missing: Codable, Equatable, Sendable {
        var chunk: UInt32
        var first: UInt16
        var end: UInt16
    }

    /// What became of one fragment.
    enum Placement: Equatable {
        case stored
        case duplicate
        /// Before the window: already delivered.
        case old
        /// Beyond the window: dropped (it will be repaired once the window moves).
        case ahead
        /// Its fragment count or length disagrees with the chunk's other fragments (or is impossible).
        case inconsistent
    }

    private struct Slot {
        var count: Int
        var have: [Bool]
        var received = 0
        var buffer: [UInt8]
        var lastLength = 0
        var highestFragment = -1
    }

    /// The whole chunk in a `Missing` range.
    static let wholeChunk: UInt16 = .max

    let window: Int
    let fragmentSize: Int
    /// The next chunk to deliver (every chunk before it was delivered).
    private(set) var next: UInt32 = 0
    /// The highest chunk any fragment was seen of (nil before the first).
    private(set) var highest: UInt32?
    /// Chunks in the stream, once the golden said so.
    var total: UInt32?
    private var slots: [UInt32: Slot] = [:]

    /// An assembler holding up to `window` chunks of fragments of `fragmentSize` payload bytes.
    init(window: Int, fragmentSize: Int) {
        self.window = max(1, window)
        self.fragmentSize = fragmentSize
    }

    /// Places one fragment's payload.
    mutating func place(_ header: DatagramHeader, payload: UnsafeRawBufferPointer) -> Placement {
        let chunk = header.chunk
        if chunk < next { return .old }
        if let total, chunk >= total { return .inconsistent }
        if highest.map({ chunk > $0 }) ?? true { highest = chunk }
        if UInt64(chunk) >= UInt64(next) + UInt64(window) { return .ahead }
        let count = Int(header.count)
        let index = Int(header.fragment)
        guard index < count, payload.count > 0, payload.count <= fragmentSize,
            index == count - 1 || payload.count == fragmentSize
        else { return .inconsistent }
        var slot = slots[chunk] ?? Slot(count: count, have: [Bool](repeating: false, count: count), buffer: [UInt8](repeating: 0, count: count * fragmentSize))
        guard slot.count == count else { return .inconsistent }
        if slot.have[index] { return .duplicate }
        slot.buffer.withUnsafeMutableBytes { b in
            (b.baseAddress! + index * fragmentSize).copyMemory(from: payload.baseAddress!, byteCount: payload.count)
        }
        if index == count - 1 { slot.lastLength = payload.count }
        slot.have[index] = true
        slot.received += 1
        slot.highestFragment = max(slot.highestFragment, index)
        slots[chunk] = slot
        return .stored
    }

    /// True when the fragment was delivered or is held already.
    func holds(_ header: DatagramHeader) -> Bool {
        if header.chunk < next { return true }
        guard let slot = slots[header.chunk], Int(header.fragment) < slot.count else { return false }
        return slot.have[Int(header.fragment)]
    }

    /// The next chunk's sealed bytes once all its fragments are in (it leaves the window).
    mutating func takeNext() -> [UInt8]? {
        guard let slot = slots[next], slot.received == slot.count else { return nil }
        slots[next] = nil
        next += 1
        var bytes = slot.buffer
        bytes.removeLast(fragmentSize - slot.lastLength)
        return bytes
    }

    /// Throws away the next chunk's fragments (it failed authentication as a whole): it is asked for again.
    mutating func discardNext() { slots[next] = nil }

    /// True once every chunk of the stream was delivered.
    var isComplete: Bool { total.map { next >= $0 } ?? false }

    /// What is missing in the window, oldest first, at most `limit` ranges: fragments below the newest one seen
    /// (the golden sends in order, so a gap behind it is a loss) and whole chunks never seen. The tail, up to the
    /// stream's end, only once the link has been `quiet` (nothing arrived for a while): until then it may still be
    /// on its way.
    func missing(limit: Int, quiet: Bool) -> [Missing] {
        var out: [Missing] = []
        let windowEnd = UInt64(next) + UInt64(window)
        let tail = quiet && total != nil
        let horizon: UInt64
        if tail {
            horizon = min(UInt64(total!), windowEnd)
        } else if let highest {
            horizon = min(UInt64(highest) + 1, windowEnd)
        } else {
            horizon = UInt64(next)
        }
        var c = UInt64(next)
        while c < horizon && out.count < limit {
            let chunk = UInt32(c)
            if let slot = slots[chunk] {
                let end = !tail && chunk == highest ? slot.highestFragment : slot.count
                var i = 0
                while i < end && out.count < limit {
                    if slot.have[i] { i += 1; continue }
                    var j = i
                    while j < end && !slot.have[j] { j += 1 }
                    out.append(Missing(chunk: chunk, first: UInt16(i), end: UInt16(j)))
                    i = j
                }
            } else {
                out.append(Missing(chunk: chunk, first: 0, end: Self.wholeChunk))
            }
            c += 1
        }
        return out
    }
}
