import Foundation
import KaplanErasure

/// How a chunk's datagrams are grouped for forward error correction: the chunk's `count` data fragments form
/// blocks of `blockSize` (the last block may be shorter); a block's parity fragment p (0 ≤ p < `parityStride`) has
/// fragment index `count + block · parityStride + p`. Any `blockSize` of a block's data and parity fragments rebuild
/// it (`ErasureCode`: Cauchy Reed–Solomon for blocks up to 254 data fragments, a random GF(2^8) code for wider
/// ones, which almost always does the same), so one repair datagram replaces a different lost datagram at every
/// receiver that lost one of that block.
struct BlockLayout: Sendable, Equatable {
    /// Most data fragments per block (transport.fec.data, 1024 by default). A chunk is cut into as few blocks as
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
        /// Blocks queued for (or being) rebuilt on another thread (`deferRebuilds`).
        var rebuilding: Set<Int> = []
        var highestData = -1
    }

    /// A block's rebuild, taken out of the window so that it can be decoded without holding the receiver's lock
    /// (`takeRebuild`, `Rebuild.decode`, `finish`): the fragments it needs, copied, and the code to decode them.
    struct Rebuild: Sendable {
        let chunk: UInt32
        let count: Int
        let block: Int
        /// Data fragments + parity fragments held when it was taken.
        let held: Int
        let code: ErasureCode
        let fragmentSize: Int
        /// Code indices (block-relative data index, or block size + parity number), one per `fragmentSize` bytes of
        /// `bytes`.
        let indices: [Int]
        let bytes: [UInt8]

        /// The block's lost data fragments (block-relative index → bytes), or what is wrong.
        func decode() -> Result<[Int: [UInt8]], ErasureError> {
            let size = fragmentSize
            return bytes.withUnsafeBytes { raw in
                var present: [Int: UnsafeRawBufferPointer] = [:]
                present.reserveCapacity(indices.count)
                for (n, i) in indices.enumerated() {
                    present[i] = UnsafeRawBufferPointer(rebasing: raw[(n * size)..<((n + 1) * size)])
                }
                return Result { () throws(ErasureError) in try code.recover(present: present, length: size) }
            }
        }
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
    /// Most data fragments a chunk may have.
    let maxFragments: Int
    /// Rebuilds are left to the caller (`takeRebuild`/`finish`) instead of being decoded inside `place`.
    let deferRebuilds: Bool
    /// Blocks waiting for `takeRebuild`, oldest first.
    private var pending: [(chunk: UInt32, block: Int)] = []
    /// Rebuilds queued so far (a caller compares it to see whether `place` queued one).
    private(set) var queuedRebuilds: UInt64 = 0

    /// An assembler holding up to `window` chunks of fragments of `fragmentSize` payload bytes. With
    /// `deferRebuilds`, a block that can be rebuilt is queued, not decoded: the receiving thread only places
    /// fragments, and another thread decodes (a wide block with hundreds of lost fragments takes long enough to
    /// overflow the socket's buffer and silence the receiver's reports while the receiving thread holds the lock).
    /// `maxFragments` bounds a chunk's fragment count (the largest chunk's): a fragment claiming more is
    /// inconsistent, so no datagram makes the assembler reserve more than a chunk's bytes.
    init(window: Int, fragmentSize: Int, layout: BlockLayout, maxFragments: Int = Int(UInt16.max), deferRebuilds: Bool = false) {
        self.maxFragments = maxFragments
        self.window = max(1, window)
        self.fragmentSize = fragmentSize
        self.layout = layout
        self.deferRebuilds = deferRebuilds
    }

    /// True when a queued rebuild waits for `takeRebuild`.
    var hasPendingRebuilds: Bool { !pending.isEmpty }

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
        guard payload.count > 0, payload.count <= fragmentSize, count <= maxFragments else { return .inconsistent }
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
        rebuildIfPossible(&slot, chunk: chunk, block: block)
        return .stored
    }

    /// Rebuilds a block's lost data fragments once it holds enough fragments (with `deferRebuilds`: queues it).
    private mutating func rebuildIfPossible(_ slot: inout Slot, chunk: UInt32, block b: Int) {
        let range = layout.range(b, count: slot.count)
        guard slot.dataPerBlock[b] < range.count else {
            slot.parity[b] = nil
            slot.shortBy[b] = nil
            return
        }
        guard slot.dataPerBlock[b] + (slot.parity[b]?.count ?? 0) >= range.count, !slot.rebuilding.contains(b) else { return }
        if deferRebuilds {
            slot.rebuilding.insert(b)
            pending.append((chunk, b))
            queuedRebuilds += 1
            return
        }
        guard let job = rebuild(slot, chunk: chunk, block: b) else { return }
        apply(job, job.decode(), to: &slot)
    }

    /// The block's rebuild: the data and parity fragments it holds, copied (nil when the code cannot be made).
    private mutating func rebuild(_ slot: Slot, chunk: UInt32, block b: Int) -> Rebuild? {
        let range = layout.range(b, count: slot.count)
        guard let code = code(range.count) else { return nil }
        let parity = slot.parity[b] ?? [:]
        let parityNumbers = parity.keys.sorted()
        let dataHeld = range.filter { slot.have[$0] }
        let size = fragmentSize
        var indices: [Int] = []
        indices.reserveCapacity(dataHeld.count + parityNumbers.count)
        let bytes = [UInt8](unsafeUninitializedCapacity: (dataHeld.count + parityNumbers.count) * size) { out, initialized in
            var n = 0
            slot.buffer.withUnsafeBytes { buffer in
                for i in dataHeld {
                    (out.baseAddress! + n * size).initialize(from: buffer.baseAddress!.assumingMemoryBound(to: UInt8.self) + i * size, count: size)
                    indices.append(i - range.lowerBound)
                    n += 1
                }
            }
            for p in parityNumbers {
                parity[p]!.withUnsafeBufferPointer { (out.baseAddress! + n * size).initialize(from: $0.baseAddress!, count: size) }
                indices.append(range.count + p)
                n += 1
            }
            initialized = n * size
        }
        return Rebuild(
            chunk: chunk, count: slot.count, block: b, held: indices.count, code: code, fragmentSize: size, indices: indices, bytes: bytes)
    }

    /// Writes a decoded block's lost data fragments into the chunk (the ones that did not arrive meanwhile).
    private mutating func apply(_ job: Rebuild, _ outcome: Result<[Int: [UInt8]], ErasureError>, to slot: inout Slot) {
        let b = job.block
        let range = layout.range(b, count: slot.count)
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

    /// The oldest queued rebuild, its fragments copied (`deferRebuilds`); nil when none is waiting. Blocks that
    /// became whole meanwhile, or left the window, are skipped. The block stays marked until `finish`.
    mutating func takeRebuild() -> Rebuild? {
        while !pending.isEmpty {
            let (chunk, b) = pending.removeFirst()
            guard var slot = slots.removeValue(forKey: chunk) else { continue }
            defer { slots[chunk] = slot }
            if slot.dataPerBlock[b] >= layout.range(b, count: slot.count).count {
                slot.rebuilding.remove(b)
                slot.parity[b] = nil
                continue
            }
            guard let job = rebuild(slot, chunk: chunk, block: b) else {
                slot.rebuilding.remove(b)
                continue
            }
            return job
        }
        return nil
    }

    /// Puts a decoded rebuild (`takeRebuild`, `Rebuild.decode`) back into its chunk. When the fragments did not
    /// determine the lost data (a random code's dependent parity) and more arrived while it was decoded, it is
    /// queued again at once; otherwise the next fragment of the block queues it.
    mutating func finish(_ job: Rebuild, _ outcome: Result<[Int: [UInt8]], ErasureError>) {
        guard var slot = slots.removeValue(forKey: job.chunk) else { return }
        defer { slots[job.chunk] = slot }
        guard slot.count == job.count else { return }
        slot.rebuilding.remove(job.block)
        let held = slot.dataPerBlock[job.block] + (slot.parity[job.block]?.count ?? 0)
        apply(job, outcome, to: &slot)
        if case .failure = outcome, held > job.held { rebuildIfPossible(&slot, chunk: job.chunk, block: job.block) }
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
