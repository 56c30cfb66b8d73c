import CIsal

/// A systematic erasure code over GF(2^8) for one block of `dataCount` equal-length fragments (ISA-L).
///
/// Fragment indices: `0..<dataCount` are the data fragments themselves (systematic: sent unchanged), and parity
/// fragment `p` (`0..<maxParity`) has index `dataCount + p`. Parity `p` is a GF(2^8) combination (polynomial 0x11D)
/// of the data, with one of two generators, chosen by the block's shape:
///
/// - **Cauchy** (`dataCount + maxParity ≤ 255`): ISA-L's `gf_gen_cauchy1_matrix`, coefficient `1 / ((k + p) ⊕ j)`
///   for parity `p` and data fragment `j`. Every square submatrix of a Cauchy matrix is invertible, so **any
///   `dataCount` distinct fragments of a block rebuild all of its data** (Reed–Solomon, MDS).
/// - **Random** (wider blocks, up to 65,536 fragments: GF(2^8) has no Cauchy matrix that large): coefficient
///   `randomCoefficient(parity: p, column: j)`, a fixed pseudo-random non-zero byte (SplitMix64 of `p`, `j`). Any
///   `dataCount` fragments rebuild the block with probability ≥ 99.6 %; each fragment beyond that lowers the chance
///   of failure 256-fold, and a failure says how many more fragments to ask for (`fec-dependent`). One wide block
///   per chunk needs fewer repairs than several small ones: the worst receiver's loss weighs less in a larger block.
///
/// Parity `p` depends only on the generator, `dataCount`, `p` and the data, never otherwise on `maxParity`, so a
/// sender and a receiver that agree on (`dataCount`, `maxParity`) agree on every parity fragment. Cost: encoding and
/// decoding run ISA-L's SIMD dot products over the fragments in place (no per-byte work in Swift); decoding `e` lost
/// fragments inverts only an `e × e` block, never the whole `dataCount²` matrix. A value keeps the coefficients and
/// expanded tables of its first parity rows (all of them for Cauchy, `32 × dataCount × maxParity` bytes ≤ ~520 KB;
/// the first 16 for random); it is immutable and safe to share between threads.
public struct ErasureCode: Sendable {
    /// Most fragments (data + parity) a Cauchy block can have: GF(2^8) gives 255 distinct usable Cauchy points.
    public static let maxFragments = 255
    /// Most fragments (data + parity) any block can have (a datagram's 16-bit fragment index).
    public static let maxWideFragments = 65536
    /// Parity rows whose tables a random-generator code keeps (requests from parity 0 up to this need no setup).
    static let cachedRandomRows = 16

    /// How parity coefficients are made.
    public enum Generator: String, Sendable {
        /// Cauchy matrix: any `dataCount` fragments rebuild the block (blocks of at most 255 fragments).
        case cauchy
        /// Pseudo-random non-zero coefficients: any `dataCount` fragments rebuild the block with probability ≥ 99.6 %.
        case random
    }

    /// Data fragments per block (k): the number of fragments any recovery needs.
    public let dataCount: Int
    /// Parity fragments this code can make per block: indices `0..<maxParity`.
    public let maxParity: Int
    /// The generator, from the shape: Cauchy when `dataCount + maxParity ≤ 255`, random otherwise.
    public let generator: Generator

    /// Coefficients of the cached parity rows 0..<`cachedRows`, row-major (`cachedRows × dataCount`).
    private let rows: [UInt8]
    private let cachedRows: Int
    /// `ec_init_tables` of the cached parity rows at once. Its prefix for rows 0..<r is exactly the table for those
    /// r rows whatever ISA-L's internal table layout, so ranges starting at parity 0 encode without any setup.
    private let parityTables: [UInt8]

    /// A code for blocks of `k` data fragments with up to `maxParity` parity fragments each; `bad-fec` outside the limits.
    public init(dataCount k: Int, maxParity: Int) throws(ErasureError) {
        guard k >= 1, maxParity >= 0, k <= Self.maxWideFragments - maxParity else {
            throw ErasureError(
                "bad-fec",
                "an erasure code with \(k) data and \(maxParity) parity fragments per block is not possible: it needs at "
                    + "least 1 data fragment, 0 or more parity fragments, and at most \(Self.maxWideFragments) fragments "
                    + "in all (a datagram's 16-bit fragment index); use smaller blocks or a lower parity limit")
        }
        dataCount = k
        self.maxParity = maxParity
        if k <= Self.maxFragments - maxParity {
            generator = .cauchy
            cachedRows = maxParity
            var matrix = [UInt8](repeating: 0, count: (k + maxParity) * k)
            gf_gen_cauchy1_matrix(&matrix, Int32(k + maxParity), Int32(k))
            rows = Array(matrix[(k * k)...])
        } else {
            generator = .random
            cachedRows = min(maxParity, Self.cachedRandomRows)
            var coefficients = [UInt8](repeating: 0, count: cachedRows * k)
            for p in 0..<cachedRows {
                for j in 0..<k { coefficients[p * k + j] = Self.randomCoefficient(parity: p, column: j) }
            }
            rows = coefficients
        }
        var tables = [UInt8](repeating: 0, count: 32 * k * cachedRows)
        if cachedRows > 0 {
            var r = rows
            ec_init_tables(Int32(k), Int32(cachedRows), &r, &tables)
        }
        parityTables = tables
    }

    /// The random generator's coefficient of data fragment `column` in parity `parity`: a non-zero byte, fixed by
    /// the wire format (SplitMix64's output function of `parity << 32 | column`, reduced to 1…255).
    public static func randomCoefficient(parity: Int, column: Int) -> UInt8 {
        var z = (UInt64(truncatingIfNeeded: parity) << 32 | UInt64(truncatingIfNeeded: column) & 0xFFFF_FFFF)
            &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return UInt8(z % 255) + 1
    }

    /// Parity row `p`'s coefficient for data fragment `j`.
    @inline(__always)
    private func coefficient(_ p: Int, _ j: Int) -> UInt8 {
        p < cachedRows ? rows[p * dataCount + j] : Self.randomCoefficient(parity: p, column: j)
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
        let count = indices.count
        return Self.makeFragments(count: count, length: length) { outputs in
            var outputs = outputs
            if indices.lowerBound == 0 && indices.upperBound <= cachedRows {
                parityTables.withUnsafeBufferPointer { t in
                    ec_encode_data(
                        Int32(length), Int32(k), Int32(count), UnsafeMutablePointer(mutating: t.baseAddress!), &sources,
                        &outputs)
                }
            } else {
                var coefficients = [UInt8](repeating: 0, count: count * k)
                for (r, p) in indices.enumerated() {
                    for j in 0..<k { coefficients[r * k + j] = coefficient(p, j) }
                }
                var tables = [UInt8](repeating: 0, count: 32 * k * count)
                ec_init_tables(Int32(k), Int32(count), &coefficients, &tables)
                ec_encode_data(Int32(length), Int32(k), Int32(count), &tables, &sources, &outputs)
            }
        }
    }

    /// Rebuilds the block's missing data fragments from any `dataCount` of its fragments; returns them by index.
    ///
    /// `present` maps fragment indices (`0..<dataCount` data, `dataCount + p` parity `p`) to their bytes, each
    /// exactly `length` bytes (a programming error otherwise: it traps). The result holds exactly the data indices
    /// in `0..<dataCount` absent from `present`, rebuilt; it is empty when no data fragment is missing. Every present
    /// data fragment is used, and the lowest-numbered parity fragments that make the system solvable.
    /// Throws `fec-short` with fewer than `dataCount` fragments, `fec-dependent` when a random-generator block's
    /// parity fragments happen not to determine the lost data (ask for `moreFragments` more), and `bad-fec` for an
    /// index outside the code. Rebuilt bytes are only as good as the input: authenticate fragments first.
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
                    + "arrived and any \(k) are needed; ask the sender for \(k - present.count) more repair fragment(s)",
                moreFragments: k - present.count)
        }
        let e = missing.count
        let kept = (0..<k).filter { present[$0] != nil }  // k − e data fragments
        let candidates = present.keys.filter { $0 >= k }.sorted().map { $0 - k }  // parity numbers, ≥ e of them

        // parity_r = C[r, missing] × lost + C[r, kept] × kept, so lost = C[P, missing]⁻¹ × (parity + C[P, kept] × kept)
        // in GF(2^8), for e parity rows P whose e × e block C[P, missing] is invertible. Only that block is inverted.
        let (chosen, inverse) = try solvableRows(candidates, missing: missing)

        if length == 0 { return Dictionary(uniqueKeysWithValues: missing.map { ($0, [UInt8]()) }) }
        // Pass 1: s_r = C[r, kept] × kept ⊕ parity_r = C[r, missing] × lost, one ISA-L dot product per chosen row
        // over the kept data and that row's own parity fragment (coefficient 1).
        let width = kept.count + e
        var first = [UInt8](repeating: 0, count: e * width)
        for (r, p) in chosen.enumerated() {
            for (c, j) in kept.enumerated() { first[r * width + c] = coefficient(p, j) }
            first[r * width + kept.count + r] = 1
        }
        var sources = Self.pointers(kept.map { present[$0]! } + chosen.map { present[k + $0]! }, length: length)
        var firstTables = [UInt8](repeating: 0, count: 32 * width * e)
        ec_init_tables(Int32(width), Int32(e), &first, &firstTables)
        let sums = Self.makeFragments(count: e, length: length) { outputs in
            var outputs = outputs
            ec_encode_data(Int32(length), Int32(width), Int32(e), &firstTables, &sources, &outputs)
        }
        // Pass 2: lost = C[P, missing]⁻¹ × s.
        var inverseRows = inverse
        var secondTables = [UInt8](repeating: 0, count: 32 * e * e)
        ec_init_tables(Int32(e), Int32(e), &inverseRows, &secondTables)
        let rebuilt = Self.withRawBuffers(sums) { raw in
            var sumSources = Self.pointers(raw, length: length)
            return Self.makeFragments(count: e, length: length) { outputs in
                var outputs = outputs
                ec_encode_data(Int32(length), Int32(e), Int32(e), &secondTables, &sumSources, &outputs)
            }
        }
        return Dictionary(uniqueKeysWithValues: zip(missing, rebuilt))
    }

    /// `e` of the `candidates` parity rows (lowest first) whose block over the `missing` columns is invertible, and
    /// that block's inverse (row-major `e × e`). Cauchy: the first `e` always are. Random: the first `e` almost always
    /// are; otherwise rows are taken greedily (Gaussian elimination) while they add rank, and a rank still short
    /// throws `fec-dependent` with how many more fragments to ask for.
    private func solvableRows(_ candidates: [Int], missing: [Int]) throws(ErasureError) -> ([Int], [UInt8]) {
        let e = missing.count
        func block(_ rows: [Int]) -> [UInt8] {
            var square = [UInt8](repeating: 0, count: e * e)
            for (r, p) in rows.enumerated() {
                for (c, j) in missing.enumerated() { square[r * e + c] = coefficient(p, j) }
            }
            return square
        }
        func invert(_ rows: [Int]) -> [UInt8]? {
            var square = block(rows)
            var inverse = [UInt8](repeating: 0, count: e * e)
            return gf_invert_matrix(&square, &inverse, Int32(e)) == 0 ? inverse : nil
        }
        let firstRows = Array(candidates.prefix(e))
        if let inverse = invert(firstRows) { return (firstRows, inverse) }
        guard generator == .random else {
            throw ErasureError(
                "fec-singular",
                "the erasure code's matrix for parity rows \(firstRows) of a \(dataCount)+\(maxParity) Cauchy code is "
                    + "not invertible; this is a bug in kaplan or ISA-L (libisal), please report it with these numbers",
                cause: "gf_invert_matrix returned non-zero for a \(e) × \(e) block")
        }
        // Greedy: keep a row when, reduced by the rows kept so far, something is left (it adds rank).
        var basis: [[UInt8]] = []  // reduced rows, each with a leading 1 at `pivots[i]`
        var pivots: [Int] = []
        var chosen: [Int] = []
        for p in candidates where chosen.count < e {
            var v = missing.map { coefficient(p, $0) }
            for (b, pivot) in zip(basis, pivots) where v[pivot] != 0 {
                let f = v[pivot]
                for c in 0..<e where b[c] != 0 { v[c] ^= gf_mul(f, b[c]) }
            }
            guard let lead = v.firstIndex(where: { $0 != 0 }) else { continue }
            let scale = gf_inv(v[lead])
            for c in 0..<e { v[c] = gf_mul(scale, v[c]) }
            basis.append(v)
            pivots.append(lead)
            chosen.append(p)
        }
        if chosen.count == e, let inverse = invert(chosen) { return (chosen, inverse) }
        let short = e - chosen.count
        throw ErasureError(
            "fec-dependent",
            "cannot rebuild \(e) lost data fragment(s) of a block yet: its \(candidates.count) parity fragments determine "
                + "only \(chosen.count) of them (a random code's rare dependence); ask the sender for \(max(1, short)) more "
                + "repair fragment(s)",
            moreFragments: max(1, short))
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

    /// Makes `count` arrays of `length` (> 0) bytes that `fill` writes all at once, through pointers into one
    /// uninitialized buffer (no zero fill), then cut into arrays (a copy of the outputs only, never of the sources;
    /// no recursion, so thousands of outputs need no deep stack).
    private static func makeFragments(
        count: Int, length: Int, _ fill: ([UnsafeMutablePointer<UInt8>?]) -> Void
    ) -> [[UInt8]] {
        let all = [UInt8](unsafeUninitializedCapacity: count * length) { buffer, initialized in
            let base = buffer.baseAddress!
            fill((0..<count).map { base + $0 * length })
            initialized = count * length
        }
        return (0..<count).map { Array(all[($0 * length)..<(($0 + 1) * length)]) }
    }

    /// Calls `body` with raw views of all `arrays` at once, copied into one buffer (the array convenience API only;
    /// the transport passes pointers into its own buffers).
    private static func withRawBuffers<R>(_ arrays: [[UInt8]], _ body: ([UnsafeRawBufferPointer]) -> R) -> R {
        var offsets = [0]
        for a in arrays { offsets.append(offsets.last! + a.count) }
        var all = [UInt8]()
        all.reserveCapacity(offsets.last!)
        for a in arrays { all.append(contentsOf: a) }
        return all.withUnsafeBytes { raw in
            body((0..<arrays.count).map { UnsafeRawBufferPointer(rebasing: raw[offsets[$0]..<offsets[$0 + 1]]) })
        }
    }
}
