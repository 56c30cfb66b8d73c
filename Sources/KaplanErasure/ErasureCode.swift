import CIsal

/// A systematic Reed–Solomon erasure code over GF(2^8) for one block of `dataCount` equal-length fragments (ISA-L).
///
/// Fragment indices: `0..<dataCount` are the data fragments themselves (systematic: sent unchanged), and parity
/// fragment `p` (`0..<maxParity`) has index `dataCount + p`. The generator matrix is ISA-L's Cauchy matrix
/// (`gf_gen_cauchy1_matrix`): identity on top, `1 / (i ⊕ j)` in GF(2^8) (polynomial 0x11D) for parity row `i`
/// (`dataCount…`) and column `j` below it. Every square submatrix of a Cauchy matrix is invertible, so
/// **any `dataCount` distinct fragments of a block — data, parity or a mix — rebuild all of its data**, whatever
/// was lost. Parity `p` depends only on (`dataCount`, `p`) and the data, never on `maxParity`, so a sender and a
/// receiver that agree on `dataCount` agree on every parity fragment.
///
/// Limits: `1 ≤ dataCount`, `0 ≤ maxParity`, `dataCount + maxParity ≤ 255`. Cost: encoding and decoding run
/// ISA-L's SIMD dot products over the fragments in place (no per-byte allocation; one output array per fragment);
/// decoding `e` lost fragments inverts only an `e × e` Cauchy block, never the whole `dataCount²` matrix.
/// A value keeps the generator matrix and the expanded tables of all its parity rows
/// (`32 × dataCount × maxParity` bytes, at most ~520 KB); it is immutable and safe to share between threads.
public struct ErasureCode: Sendable {
    /// Most fragments (data + parity) one block can have: GF(2^8) gives 255 distinct usable Cauchy points.
    public static let maxFragments = 255

    /// Data fragments per block (k): the number of fragments any recovery needs.
    public let dataCount: Int
    /// Parity fragments this code can make per block: indices `0..<maxParity`.
    public let maxParity: Int

    /// The (k + maxParity) × k generator matrix, row-major; rows 0..<k are the identity.
    private let matrix: [UInt8]
    /// `ec_init_tables` of all parity rows at once. Its prefix for rows 0..<r is exactly the table for those r rows
    /// whatever ISA-L's internal table layout, so ranges starting at parity 0 encode without any setup.
    private let parityTables: [UInt8]

    /// A code for blocks of `k` data fragments with up to `maxParity` parity fragments each; `bad-fec` outside the limits.
    public init(dataCount k: Int, maxParity: Int) throws(ErasureError) {
        guard k >= 1, maxParity >= 0, k <= Self.maxFragments - maxParity else {
            throw ErasureError(
                "bad-fec",
                "an erasure code with \(k) data and \(maxParity) parity fragments per block is not possible: it needs at "
                    + "least 1 data fragment, 0 or more parity fragments, and at most \(Self.maxFragments) fragments in "
                    + "all (a GF(2^8) Reed–Solomon limit); use smaller blocks or a lower parity limit")
        }
        dataCount = k
        self.maxParity = maxParity
        let rows = k + maxParity
        var matrix = [UInt8](repeating: 0, count: rows * k)
        gf_gen_cauchy1_matrix(&matrix, Int32(rows), Int32(k))
        var tables = [UInt8](repeating: 0, count: 32 * k * maxParity)
        if maxParity > 0 {
            matrix.withUnsafeMutableBufferPointer { m in
                ec_init_tables(Int32(k), Int32(maxParity), m.baseAddress! + k * k, &tables)
            }
        }
        self.matrix = matrix
        parityTables = tables
    }

    /// Parity fragment `index` (`0..<maxParity`) of the block whose `dataCount` data fragments, each exactly `length` bytes, are `data`.
    public func parity(_ index: Int, data: [UnsafeRawBufferPointer], length: Int) -> [UInt8] {
        parity(index..<(index + 1), data: data, length: length)[0]
    }

    /// Parity fragments `indices` (within `0..<maxParity`) of one block, in order, computed in one pass over `data`.
    ///
    /// `data` holds the block's `dataCount` fragments in index order, each exactly `length` bytes (the caller
    /// zero-pads the short last fragment of a chunk); anything else is a programming error and traps.
    public func parity(_ indices: Range<Int>, data: [UnsafeRawBufferPointer], length: Int) -> [[UInt8]] {
        precondition(
            indices.lowerBound >= 0 && indices.upperBound <= maxParity,
            "ErasureCode: parity \(indices) is outside 0..<\(maxParity)")
        precondition(data.count == dataCount, "ErasureCode: \(data.count) data fragments given, the code has \(dataCount)")
        precondition(length >= 0 && length <= Int(Int32.max), "ErasureCode: fragment length \(length) out of range")
        if indices.isEmpty { return [] }
        var sources = Self.pointers(data, length: length)
        if length == 0 { return Array(repeating: [], count: indices.count) }
        let k = dataCount
        let rows = indices.count
        return Self.makeFragments(count: rows, length: length) { outputs in
            var outputs = outputs
            if indices.lowerBound == 0 {
                parityTables.withUnsafeBufferPointer { t in
                    ec_encode_data(
                        Int32(length), Int32(k), Int32(rows), UnsafeMutablePointer(mutating: t.baseAddress!), &sources,
                        &outputs)
                }
            } else {
                var tables = [UInt8](repeating: 0, count: 32 * k * rows)
                matrix.withUnsafeBufferPointer { m in
                    let firstRow = UnsafeMutablePointer(mutating: m.baseAddress! + (k + indices.lowerBound) * k)
                    ec_init_tables(Int32(k), Int32(rows), firstRow, &tables)
                }
                ec_encode_data(Int32(length), Int32(k), Int32(rows), &tables, &sources, &outputs)
            }
        }
    }

    /// Rebuilds the block's missing data fragments from any `dataCount` of its fragments; returns them by index.
    ///
    /// `present` maps fragment indices (`0..<dataCount` data, `dataCount + p` parity `p`) to their bytes, each
    /// exactly `length` bytes (a programming error otherwise: it traps). The result holds exactly the data indices
    /// in `0..<dataCount` absent from `present`, rebuilt; it is empty when no data fragment is missing. When more
    /// than `dataCount` fragments are present the lowest indices are used (data first, which is the cheapest).
    /// Throws `fec-short` with fewer than `dataCount` fragments and `bad-fec` for an index outside the code.
    /// Rebuilt bytes are only as good as the input: fragments must be authenticated before they get here.
    public func recover(present: [Int: UnsafeRawBufferPointer], length: Int) throws(ErasureError) -> [Int: [UInt8]] {
        let k = dataCount
        let total = k + maxParity
        precondition(length >= 0 && length <= Int(Int32.max), "ErasureCode: fragment length \(length) out of range")
        for index in present.keys where index < 0 || index >= total {
            throw ErasureError(
                "bad-fec",
                "fragment index \(index) is outside this block's 0..<\(total) (\(k) data + \(maxParity) parity); "
                    + "the sender and this receiver disagree on the block layout (check both run the same kaplan version)")
        }
        let missing = (0..<k).filter { present[$0] == nil }
        if missing.isEmpty { return [:] }
        guard present.count >= k else {
            throw ErasureError(
                "fec-short",
                "cannot rebuild \(missing.count) lost data fragment(s) of a block: \(present.count) of its fragments "
                    + "arrived and any \(k) are needed; ask the sender for \(k - present.count) more repair fragment(s)")
        }
        // The k lowest indices present: every present data fragment, then as many parity fragments as data are lost.
        let used = Array(present.keys.sorted().prefix(k))
        let kept = used.prefix(k - missing.count)  // data fragments: their generator rows are identity rows
        let parity = used.suffix(missing.count)  // parity fragments, one per lost data fragment

        // parity = C[P, M] × lost + C[P, kept] × kept, so lost = C[P, M]⁻¹ × (parity + C[P, kept] × kept) in GF(2^8).
        // Only the e × e block C[P, M] (e = lost fragments) is inverted, not the k × k matrix of `used`: the result
        // is the same, and inverting 4 × 4 instead of 32 × 32 (64 × 64) saves ~0.13 ms (~1 ms) per block.
        let e = missing.count
        var square = [UInt8](repeating: 0, count: e * e)
        for (r, row) in parity.enumerated() {
            for (c, column) in missing.enumerated() { square[r * e + c] = matrix[row * k + column] }
        }
        var inverse = [UInt8](repeating: 0, count: e * e)
        guard gf_invert_matrix(&square, &inverse, Int32(e)) == 0 else {
            throw ErasureError(
                "fec-singular",
                "the erasure code's matrix for fragments \(used) of a \(k)+\(maxParity) code is not invertible; "
                    + "this is a bug in kaplan or ISA-L (libisal), please report it with these numbers",
                cause: "gf_invert_matrix returned non-zero for a \(e) × \(e) block")
        }
        // One decode row per lost fragment, over the sources in `used` order (kept data, then parity).
        var decode = [UInt8](repeating: 0, count: e * k)
        for i in 0..<e {
            for (j, column) in kept.enumerated() {
                var sum: UInt8 = 0
                for (r, row) in parity.enumerated() { sum ^= gf_mul(inverse[i * e + r], matrix[row * k + column]) }
                decode[i * k + j] = sum
            }
            for r in 0..<e { decode[i * k + kept.count + r] = inverse[i * e + r] }
        }

        var sources = Self.pointers(used.map { present[$0]! }, length: length)
        if length == 0 { return Dictionary(uniqueKeysWithValues: missing.map { ($0, [UInt8]()) }) }
        var tables = [UInt8](repeating: 0, count: 32 * k * missing.count)
        ec_init_tables(Int32(k), Int32(missing.count), &decode, &tables)
        let rebuilt = Self.makeFragments(count: missing.count, length: length) { outputs in
            var outputs = outputs
            ec_encode_data(Int32(length), Int32(k), Int32(missing.count), &tables, &sources, &outputs)
        }
        return Dictionary(uniqueKeysWithValues: zip(missing, rebuilt))
    }

    /// `recover(present:length:)` for fragments held in arrays.
    public func recover(present: [Int: [UInt8]], length: Int) throws(ErasureError) -> [Int: [UInt8]] {
        let entries = Array(present)
        let result = Self.withRawBuffers(entries.map(\.value)) { buffers in
            Result { () throws(ErasureError) in
                try recover(present: Dictionary(uniqueKeysWithValues: zip(entries.map(\.key), buffers)), length: length)
            }
        }
        return try result.get()
    }

    /// `parity(_:data:length:)` for data fragments held in arrays.
    public func parity(_ indices: Range<Int>, data: [[UInt8]], length: Int) -> [[UInt8]] {
        Self.withRawBuffers(data) { parity(indices, data: $0, length: length) }
    }

    /// C pointers to fragments that must each be exactly `length` bytes (ISA-L only reads through them).
    private static func pointers(_ buffers: [UnsafeRawBufferPointer], length: Int) -> [UnsafeMutablePointer<UInt8>?] {
        buffers.map { buffer in
            precondition(buffer.count == length, "ErasureCode: a fragment of \(buffer.count) bytes, expected \(length)")
            return UnsafeMutablePointer(mutating: buffer.baseAddress?.assumingMemoryBound(to: UInt8.self))
        }
    }

    /// Makes `count` arrays of `length` (> 0) bytes and lets `fill` write all of them at once through their
    /// storage (nested uninitialized-capacity initializers: no zero fill, no copy afterwards).
    private static func makeFragments(
        count: Int, length: Int, _ fill: ([UnsafeMutablePointer<UInt8>?]) -> Void
    ) -> [[UInt8]] {
        var pointers = [UnsafeMutablePointer<UInt8>?](repeating: nil, count: count)
        var out = [[UInt8]](repeating: [], count: count)
        func build(_ i: Int) {
            if i == count {
                fill(pointers)
                return
            }
            let fragment = [UInt8](unsafeUninitializedCapacity: length) { buffer, initialized in
                pointers[i] = buffer.baseAddress
                build(i + 1)
                initialized = length
            }
            out[i] = fragment
        }
        build(0)
        return out
    }

    /// Calls `body` with raw views of all `arrays` at once (nested `withUnsafeBytes`).
    private static func withRawBuffers<R>(_ arrays: [[UInt8]], _ body: ([UnsafeRawBufferPointer]) -> R) -> R {
        var buffers = [UnsafeRawBufferPointer]()
        buffers.reserveCapacity(arrays.count)
        func nest(_ i: Int) -> R {
            if i == arrays.count { return body(buffers) }
            return arrays[i].withUnsafeBytes { raw in
                buffers.append(raw)
                return nest(i + 1)
            }
        }
        return nest(0)
    }
}
