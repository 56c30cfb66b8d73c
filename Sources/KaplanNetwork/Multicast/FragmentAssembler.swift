import Foundation
import KaplanErasure

/// How a chunk's datagrams are grouped for forward error correction: the chunk's `count` data fragments form
/// blocks of `blockSize` (the last block may be shorter); a block's parity fragment p (0 ≤ p < `parityStride`) has
/// fragment index `count + block · parityStride + p`. Any `blockSize` of a block's data and parity fragments rebuild
/// it (`ErasureCode`: Cauchy Reed–Solomon for blocks up to 254 data fragments, a random GF(2^8) code for wider
/// ones, which almost always does the same), so one repair datagram replaces a different lost datagram at every
/// receiver that lost one of that block.
struct BlockLayout: Sendable, Equatable {
    /// Most data fragments per block (transport.fec.data, 200 by default). A chunk is cut into as few blocks as
    /// that allows, all of one size (the last may be shorter by less than the block count): no small tail block,
    /// whose repair would cost more than the others' (the worst node's loss weighs more in a small block).
    let blockSize: Int
    /// Parity fragments a block can have: 255 − blockSize for Cauchy blocks (the code's limit), 1024 for wider ones.
    var parityStride: Int { blockSize < ErasureCode.maxFragments ? ErasureCode.maxFragments - blockSize : Self.wideParityStride }
    /// Parity numbers of a block wider than 254 data fragments (a random code has no limit of its own; this one
    /// keeps parity indices of a 1 MiB chunk's single block far inside the 16-bit fragment index).
    static let wideParityStride = 1024
    /// Most data fragments per block a plan may ask for (4 MiB chunks in one block).
    static let maxBlockSize = 4096

    /// Blocks of a chunk with `count` data fragments.
    func blocks(_ count: Int) -> Int { (count + blockSize - 1) / blockSize }
    /// Data fragments of each block of a chunk with `count` data fragments (at most `blockSize`).
    func size(_ count: Int) -> Int {
        let b = blocks(count)
        return b == 0 ? blockSize : (count + b - 1) / b
    }
    /// The block that data fragment `index` belongs to.
    func block(of index: Int, count: Int) -> Int { index / size(count) }
    /// The data fragments of block `b`.
    func range(_ b: Int, count: Int) -> Range<Int> {
        let s = size(count)
        return (b * s)..<min(count, (b + 1) * s)
    }
    /// The fragment index of block `b`'s parity fragment `p`.
    func parityIndex(block b: Int, parity p: Int, count: Int) -> Int { count + b * parityStride + p }
    /// Block and parity number of a parity fragment index, or nil when out of range.
    func parity(at index: Int, count: Int) -> (block: Int, parity: Int)? {
        guard index >= count else { return nil }
        let b = (index - count) / parityStride
        guard b < blocks(count) else { return nil }
        return (b, (index - count) % parityStride)
    }
}

/// A receiver's window of partly received chunks: data and parity fragments are placed as they arrive (in any
/// order, duplicates ignored), a block short of at most as many data fragments as it has parity fragments is
/// rebuilt, complete chunks leave in sequence, and what is still missing is listed per block (how many more
/// fragments it needs) for the golden to repair. Only chunks in [next, next + window) are held, so memory stays
/// bounded whatever the golden sends; the golden never sends new chunks beyond the window of its slowest member,
/// and a receiver that is behind (a late joiner) gets what it misses by repair.
struct FragmentAssembler {
    /// What one receiver misses: `need` more fragments of `block` of `chunk` (block `wholeChunk`: the chunk was
    /// never seen; the golden sends all of it).
    struct Missing: Codable, Equatable, Sendable {
        var chunk: UInt32
        var block: UInt16
        var need: UInt16
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
        var missingData: Int
        var buffer: [UInt8]
        /// Parity fragments held, by block and parity number (dropped once the block is whole).
        var parity: [Int: [Int: [UInt8]]] = [:]
        /// Data fragments held per block.
        var dataPerBlock: [Int]
        /// Blocks whose fragments did not determine their lost data (a random code's rare dependence), by block:
        /// how many more fragments they need although data + parity held reach the block size.
        var shortBy: [Int: Int] = [:]
        var highestData = -1
    }

    /// The whole chunk in a `Missing` entry.
    static let wholeChunk: UInt16 = .max

    let window: Int
    let fragmentSize: Int
    let layout: BlockLayout
    /// The next chunk to deliver (every chunk before it was delivered).
    private(set) var next: UInt32 = 0
    /// The highest chunk any fragment was seen of (nil before the first).
    private(set) var highest: UInt32?
    /// Chunks in the stream, once the golden said so.
    var total: UInt32?
    /// Data fragments rebuilt from parity so far.
    private(set) var rebuilt: UInt64 = 0
    private var slots: [UInt32: Slot] = [:]
    private var codes: [Int: ErasureCode] = [:]

    /// An assembler holding up to `window` chunks of fragments of `fragmentSize` payload bytes.
    init(window: Int, fragmentSize: Int, layout: BlockLayout) {
        self.window = max(1, window)
        self.fragmentSize = fragmentSize
        self.layout = layout
    }

    private mutating func code(_ k: Int) -> ErasureCode? {
        if let c = codes[k] { return c }
        guard let c = try? ErasureCode(dataCount: k, maxParity: layout.parityStride) else { return nil }
        codes[k] = c
        return c
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
        guard payload.count > 0, payload.count <= fragmentSize else { return .inconsistent }
        let blocks = layout.blocks(count)
        // Taken out of the dictionary while it is changed: a copy left in it would make every write copy the
        // whole chunk buffer (copy on write).
        var slot = slots.removeValue(forKey: chunk) ?? Slot(
            count: count, have: [Bool](repeating: false, count: count), missingData: count,
            buffer: [UInt8](repeating: 0, count: count * fragmentSize), dataPerBlock: [Int](repeating: 0, count: blocks))
        defer { slots[chunk] = slot }
        guard slot.count == count else { return .inconsistent }
        let block: Int
        if index < count {
            // Every data fragment but the chunk's last is full.
            guard index == count - 1 || payload.count == fragmentSize else { return .inconsistent }
            if slot.have[index] { return .duplicate }
            slot.buffer.withUnsafeMutableBytes { b in
                (b.baseAddress! + index * fragmentSize).copyMemory(from: payload.baseAddress!, byteCount: payload.count)
            }
            slot.have[index] = true
            slot.missingData -= 1
            block = layout.block(of: index, count: count)
            slot.dataPerBlock[block] += 1
            slot.highestData = max(slot.highestData, index)
        } else {
            guard let (b, p) = layout.parity(at: index, count: count), payload.count == fragmentSize else { return .inconsistent }
            let range = layout.range(b, count: count)
            if slot.dataPerBlock[b] == range.count { return .duplicate }
            if slot.parity[b]?[p] != nil { return .duplicate }
            slot.parity[b, default: [:]][p] = Array(payload)
            block = b
        }
        rebuildIfPossible(&slot, block: block)
        return .stored
    }

    /// Rebuilds a block's lost data fragments once it holds enough fragments.
    private mutating func rebuildIfPossible(_ slot: inout Slot, block b: Int) {
        let range = layout.range(b, count: slot.count)
        let data = slot.dataPerBlock[b]
        guard data < range.count else {
            slot.parity[b] = nil
            slot.shortBy[b] = nil
            return
        }
        let parity = slot.parity[b] ?? [:]
        guard data + parity.count >= range.count, let code = code(range.count) else { return }
        // The block's data fragments are used in place in the chunk buffer; the parity fragments held, in one
        // buffer of their own (no copy of the block's data).
        let parityNumbers = parity.keys.sorted()
        var parityBytes = [UInt8](repeating: 0, count: parityNumbers.count * fragmentSize)
        for (n, p) in parityNumbers.enumerated() {
            parityBytes.withUnsafeMutableBytes { out in
                parity[p]!.withUnsafeBytes { (out.baseAddress! + n * fragmentSize).copyMemory(from: $0.baseAddress!, byteCount: fragmentSize) }
            }
        }
        let size = fragmentSize
        let outcome = slot.buffer.withUnsafeBytes { buffer in
            parityBytes.withUnsafeBytes { held in
                var present: [Int: UnsafeRawBufferPointer] = [:]
                for i in range where slot.have[i] {
                    present[i - range.lowerBound] = UnsafeRawBufferPointer(rebasing: buffer[(i * size)..<((i + 1) * size)])
                }
                for (n, p) in parityNumbers.enumerated() {
                    present[range.count + p] = UnsafeRawBufferPointer(rebasing: held[(n * size)..<((n + 1) * size)])
                }
                return Result { () throws(ErasureError) in try code.recover(present: present, length: size) }
            }
        }
        let recovered: [Int: [UInt8]]
        switch outcome {
        case .success(let r): recovered = r
        case .failure(let error):
            // Dependent parity (random code): ask for more; anything else is a programming error the tests catch.
            if let more = error.moreFragments { slot.shortBy[b] = more }
            return
        }
        for (j, bytes) in recovered {
            let i = range.lowerBound + j
            guard j < range.count, !slot.have[i], bytes.count == fragmentSize else { continue }
            slot.buffer.withUnsafeMutableBytes { b in
                bytes.withUnsafeBytes { (b.baseAddress! + i * fragmentSize).copyMemory(from: $0.baseAddress!, byteCount: fragmentSize) }
            }
            slot.have[i] = true
            slot.missingData -= 1
            slot.dataPerBlock[b] += 1
            rebuilt += 1
        }
        slot.parity[b] = nil
        slot.shortBy[b] = nil
    }

    /// True when the fragment was delivered or is held already (or its block is whole).
    func holds(_ header: DatagramHeader) -> Bool {
        if header.chunk < next { return true }
        guard let slot = slots[header.chunk], slot.count == Int(header.count) else { return false }
        let index = Int(header.fragment)
        if index < slot.count { return slot.have[index] }
        guard let (b, p) = layout.parity(at: index, count: slot.count) else { return false }
        return slot.dataPerBlock[b] == layout.range(b, count: slot.count).count || slot.parity[b]?[p] != nil
    }

    /// The next chunk's sealed bytes once all its data fragments are in (it leaves the window). Its length comes
    /// from the sealed chunk's own header (the last fragment may have been rebuilt, zero-padded); nil also when
    /// that length is impossible (then the chunk is dropped and asked for again).
    mutating func takeNext() -> [UInt8]? {
        guard slots[next]?.missingData == 0, var slot = slots.removeValue(forKey: next) else { return nil }
        let sealedLength = slot.buffer.withUnsafeBytes { b -> Int? in
            guard b.count >= ChunkHeader.size else { return nil }
            return Int(Bytes.uint32(b, at: 40)) + ChunkSealer.overhead
        }
        guard let length = sealedLength, length > (slot.count - 1) * fragmentSize, length <= slot.count * fragmentSize else {
            return []
        }
        next += 1
        var bytes = slot.buffer
        slot.buffer = []
        bytes.removeLast(bytes.count - length)
        return bytes
    }

    /// True when the next chunk in sequence is whole (`takeNext` would return it).
    var nextIsReady: Bool { slots[next]?.missingData == 0 }

    /// True once every chunk of the stream was delivered.
    var isComplete: Bool { total.map { next >= $0 } ?? false }

    /// What is missing in the window, oldest first, at most `limit` entries: blocks behind the newest data fragment
    /// seen (the golden sends in order, so a gap behind it is a loss) and whole chunks never seen. The tail, up to
    /// the stream's end, only once the link has been `quiet` (nothing arrived for a while): until then it may
    /// still be on its way.
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
                // In the newest chunk, a block counts once a data fragment of a later block arrived, or the chunk's
                // last one (a shorter last block, the stream's last chunk: nothing later will come to show it).
                let passedBlocks = !tail && chunk == highest && slot.highestData < slot.count - 1
                    ? (slot.highestData + 1) / layout.size(slot.count) : layout.blocks(slot.count)
                for b in 0..<min(passedBlocks, layout.blocks(slot.count)) where out.count < limit {
                    let need = max(
                        layout.range(b, count: slot.count).count - slot.dataPerBlock[b] - (slot.parity[b]?.count ?? 0),
                        slot.shortBy[b] ?? 0)
                    if need > 0 { out.append(Missing(chunk: chunk, block: UInt16(b), need: UInt16(need))) }
                }
            } else {
                out.append(Missing(chunk: chunk, block: Self.wholeChunk, need: 0))
            }
            c += 1
        }
        return out
    }
}
