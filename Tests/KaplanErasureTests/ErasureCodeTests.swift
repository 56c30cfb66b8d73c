import Foundation
import Testing

@testable import KaplanErasure

/// The multicast erasure code: any k of a block's data + parity fragments rebuild its data, for every shape the
/// transport may use; parity matches an independent GF(2^8) Cauchy computation; errors carry stable codes.
@Suite("ErasureCode", .timeLimit(.minutes(5)))
struct ErasureCodeTests {
    /// SplitMix64: reproducible "random" data and loss patterns (a failure names its seed).
    struct Seeded: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static func fragments(_ count: Int, length: Int, _ rng: inout Seeded) -> [[UInt8]] {
        (0..<count).map { _ in (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) } }
    }

    /// Drops `lost` from the block's data + parity, recovers, and checks the rebuilt data is exactly what was lost.
    static func expectRecovers(
        _ code: ErasureCode, data: [[UInt8]], parity: [[UInt8]], lost: Set<Int>, length: Int,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let k = code.dataCount
        var present: [Int: [UInt8]] = [:]
        for (i, d) in data.enumerated() where !lost.contains(i) { present[i] = d }
        for (p, f) in parity.enumerated() where !lost.contains(k + p) { present[k + p] = f }
        do {
            let rebuilt = try code.recover(present: present, length: length)
            let lostData = Set(lost.filter { $0 < k })
            #expect(Set(rebuilt.keys) == lostData, "k=\(k) lost \(lost.sorted())", sourceLocation: sourceLocation)
            for (i, bytes) in rebuilt {
                let wrong = Self.difference(bytes, data[i])
                #expect(wrong == nil, "k=\(k) lost \(lost.sorted()): fragment \(i) \(wrong ?? "")", sourceLocation: sourceLocation)
            }
        } catch {
            Issue.record("k=\(k) lost \(lost.sorted()): \(error)", sourceLocation: sourceLocation)
        }
    }

    /// Where two byte strings first differ, or nil when they are equal (keeps failure messages short).
    static func difference(_ a: [UInt8], _ b: [UInt8]) -> String? {
        if a == b { return nil }
        if a.count != b.count { return "has \(a.count) bytes, expected \(b.count)" }
        let at = a.indices.first { a[$0] != b[$0] } ?? 0
        return "differs first at byte \(at) of \(a.count)"
    }

    // MARK: round trips

    static let shapes: [(k: Int, parity: Int)] = [(1, 0), (1, 4), (4, 3), (16, 4), (32, 223), (64, 191), (200, 55)]

    @Test(arguments: shapes)
    func randomRoundTrips(k: Int, maxParity: Int) throws {
        let code = try ErasureCode(dataCount: k, maxParity: maxParity)
        #expect(code.dataCount == k && code.maxParity == maxParity)
        var rng = Seeded(state: UInt64(k * 1000 + maxParity))
        for length in [1440, 1, 63, 65] {
            let data = Self.fragments(k, length: length, &rng)
            let parity = code.parity(0..<maxParity, data: data, length: length)
            #expect(parity.count == maxParity)
            #expect(parity.allSatisfy { $0.count == length })
            let n = k + maxParity
            // Nothing lost, then exactly maxParity lost (the worst the code survives), then random smaller losses.
            Self.expectRecovers(code, data: data, parity: parity, lost: [], length: length)
            var patterns: [Set<Int>] = [Set((0..<n).shuffled(using: &rng).prefix(maxParity))]
            patterns.append(Set(0..<min(k, maxParity)))  // as many data fragments as possible
            for _ in 0..<12 {
                let size = Int.random(in: 0...maxParity, using: &rng)
                patterns.append(Set((0..<n).shuffled(using: &rng).prefix(size)))
            }
            for lost in patterns { Self.expectRecovers(code, data: data, parity: parity, lost: lost, length: length) }
            // One more loss than parity can cover fails with fec-short, never a wrong answer.
            if maxParity < n {
                let lost = Set((0..<n).shuffled(using: &rng).prefix(maxParity + 1)).union([0])
                var present: [Int: [UInt8]] = [:]
                for i in 0..<n where !lost.contains(i) { present[i] = i < k ? data[i] : parity[i - k] }
                #expect {
                    try code.recover(present: present, length: length)
                } throws: { ($0 as? ErasureError)?.code == "fec-short" }
            }
        }
    }

    @Test func everyErasurePatternOfASmallCode() throws {
        let k = 4, p = 3, n = k + p
        let code = try ErasureCode(dataCount: k, maxParity: p)
        var rng = Seeded(state: 47)
        var recovered = 0, short = 0
        for length in [1, 16, 31, 64, 65, 1440] {
            let data = Self.fragments(k, length: length, &rng)
            let parity = code.parity(0..<p, data: data, length: length)
            for mask in 0..<(1 << n) {
                let lost = Set((0..<n).filter { mask & (1 << $0) != 0 })
                if lost.count <= p {
                    Self.expectRecovers(code, data: data, parity: parity, lost: lost, length: length)
                    recovered += 1
                } else {
                    var present: [Int: [UInt8]] = [:]
                    for i in 0..<n where !lost.contains(i) { present[i] = i < k ? data[i] : parity[i - k] }
                    #expect {
                        try code.recover(present: present, length: length)
                    } throws: { ($0 as? ErasureError)?.code == "fec-short" }
                    short += 1
                }
            }
        }
        #expect(recovered == 6 * 64 && short == 6 * 64)  // C(7,0…3) = 64 patterns each way, per length
    }

    @Test func parityOnlyRecovery() throws {
        var rng = Seeded(state: 9)
        for (k, p, first) in [(16, 20, 3), (32, 223, 191), (64, 191, 0), (1, 4, 3)] {
            let code = try ErasureCode(dataCount: k, maxParity: p)
            let length = 1440
            let data = Self.fragments(k, length: length, &rng)
            // Only the k parity fragments first..<first+k arrive, asked for as the protocol does: in two batches.
            let middle = first + k / 2
            let parity = code.parity(first..<middle, data: data, length: length)
                + code.parity(middle..<(first + k), data: data, length: length)
            var present: [Int: [UInt8]] = [:]
            for (offset, fragment) in parity.enumerated() { present[k + first + offset] = fragment }
            let rebuilt = try code.recover(present: present, length: length)
            #expect(rebuilt.count == k)
            for i in 0..<k {
                let wrong = Self.difference(rebuilt[i] ?? [], data[i])
                #expect(wrong == nil, "k=\(k) parity \(first)..<\(first + k): fragment \(i) \(wrong ?? "")")
            }
        }
    }

    @Test func batchesAgreeWithSingleParityAndWithOtherParityLimits() throws {
        var rng = Seeded(state: 5)
        let length = 1000
        let code = try ErasureCode(dataCount: 16, maxParity: 40)
        let wider = try ErasureCode(dataCount: 16, maxParity: 200)
        let data = Self.fragments(16, length: length, &rng)
        let all = code.parity(0..<40, data: data, length: length)
        for (range, label) in [(0..<7, "prefix"), (5..<12, "middle"), (33..<40, "end"), (17..<18, "one")] {
            let batch = code.parity(range, data: data, length: length)
            #expect(batch.count == range.count && zip(batch, all[range]).allSatisfy { Self.difference($0, $1) == nil }, "\(label) \(range)")
        }
        for index in [0, 1, 13, 39] {
            let single = data.withRawBuffers { code.parity(index, data: $0, length: length) }
            #expect(Self.difference(single, all[index]) == nil, "parity \(index) alone")
            let fromWider = wider.parity(index..<(index + 1), data: data, length: length)[0]
            #expect(Self.difference(fromWider, all[index]) == nil, "parity \(index) of a 16+200 code")
        }
        #expect(code.parity(3..<3, data: data, length: length).isEmpty)
    }

    // MARK: an independent GF(2^8) computation (polynomial 0x11D, as ISA-L), so a change of matrix is caught

    static func gfMul(_ a: UInt8, _ b: UInt8) -> UInt8 {
        var a = UInt16(a), b = b, product: UInt16 = 0
        while b != 0 {
            if b & 1 != 0 { product ^= a }
            a <<= 1
            if a & 0x100 != 0 { a ^= 0x11D }
            b >>= 1
        }
        return UInt8(product)
    }

    static func gfInverse(_ a: UInt8) -> UInt8 {
        var result: UInt8 = 1
        for _ in 0..<254 { result = gfMul(result, a) }  // a^254 = a^-1 in GF(2^8)
        return result
    }

    @Test(arguments: [(5, 4), (32, 7), (3, 252)])
    func parityIsTheCauchyCombinationOfTheData(k: Int, maxParity: Int) throws {
        let code = try ErasureCode(dataCount: k, maxParity: maxParity)
        var rng = Seeded(state: UInt64(k))
        let length = 37
        let data = Self.fragments(k, length: length, &rng)
        let parity = code.parity(0..<maxParity, data: data, length: length)
        for p in 0..<maxParity {
            var expected = [UInt8](repeating: 0, count: length)
            for j in 0..<k {
                let coefficient = Self.gfInverse(UInt8(k + p) ^ UInt8(j))
                for b in 0..<length { expected[b] ^= Self.gfMul(coefficient, data[j][b]) }
            }
            let wrong = Self.difference(parity[p], expected)
            #expect(wrong == nil, "k=\(k) parity \(p): \(wrong ?? "")")
        }
    }

    // MARK: the random generator (blocks wider than 255 fragments)

    /// The wire format's coefficient, computed independently here: SplitMix64's output function of
    /// `parity << 32 | column` plus its increment, reduced to 1…255. A change of it would change every parity datagram.
    static func expectedRandomCoefficient(_ p: Int, _ j: Int) -> UInt8 {
        var rng = Seeded(state: UInt64(p) << 32 | UInt64(j))
        return UInt8(rng.next() % 255) + 1
    }

    @Test func randomParityIsTheStatedCombinationOfTheData() throws {
        let k = 300, maxParity = 40, length = 21
        let code = try ErasureCode(dataCount: k, maxParity: maxParity)
        #expect(code.generator == .random)
        var rng = Seeded(state: 300)
        let data = Self.fragments(k, length: length, &rng)
        // Cached rows (0..<16), rows built per call, and a range across both.
        for range in [0..<3, 14..<19, 37..<40] {
            let parity = code.parity(range, data: data, length: length)
            for (r, p) in range.enumerated() {
                var expected = [UInt8](repeating: 0, count: length)
                for j in 0..<k {
                    let c = Self.expectedRandomCoefficient(p, j)
                    #expect(c != 0 && c == ErasureCode.randomCoefficient(parity: p, column: j))
                    for b in 0..<length { expected[b] ^= Self.gfMul(c, data[j][b]) }
                }
                #expect(Self.difference(parity[r], expected) == nil, "parity \(p)")
            }
        }
        #expect([ErasureCode.randomCoefficient(parity: 0, column: 0), ErasureCode.randomCoefficient(parity: 1, column: 724),
                 ErasureCode.randomCoefficient(parity: 1023, column: 4095)] == [Self.expectedRandomCoefficient(0, 0),
                 Self.expectedRandomCoefficient(1, 724), Self.expectedRandomCoefficient(1023, 4095)])
    }

    /// A 1 MiB chunk as one block (725 datagrams, the transport's default): losses of 1 to 60 fragments rebuilt
    /// from that many parity fragments, from parity 0 or from later numbers (a second repair round), byte for byte.
    @Test(arguments: [1, 2, 7, 16, 60])
    func aWideBlockRebuildsItsLossesFromAsManyParityFragments(lost e: Int) throws {
        let k = 725, length = 1448
        let code = try ErasureCode(dataCount: k, maxParity: 1024)
        var rng = Seeded(state: UInt64(e))
        let data = Self.fragments(k, length: length, &rng)
        var dependent = 0
        for first in [0, 9, 1024 - e] {
            let lost = Set((0..<k).shuffled(using: &rng).prefix(e))
            let parity = code.parity(first..<(first + e), data: data, length: length)
            var present: [Int: [UInt8]] = [:]
            for i in 0..<k where !lost.contains(i) { present[i] = data[i] }
            for (offset, f) in parity.enumerated() { present[k + first + offset] = f }
            do {
                let rebuilt = try code.recover(present: present, length: length)
                #expect(Set(rebuilt.keys) == lost)
                for (i, bytes) in rebuilt { #expect(Self.difference(bytes, data[i]) == nil, "lost \(e) from \(first): \(i)") }
            } catch {
                // Possible (< 0.4 % per pattern), never silent: it must say how many more to ask for.
                #expect(error.code == "fec-dependent" && (error.moreFragments ?? 0) >= 1, "\(error)")
                dependent += 1
            }
        }
        #expect(dependent <= 1, "\(dependent) of 3 patterns dependent")
    }

    /// Over many small loss patterns, e random parity rows determine e lost fragments almost always (theory: 1 in
    /// ~255 fails, whatever e); a dependent set says how many more it needs, and one or two more rows then rebuild.
    @Test func randomParityIsAlmostAlwaysIndependentAndSaysWhenNot() throws {
        let k = 725, length = 1
        let code = try ErasureCode(dataCount: k, maxParity: 1024)
        var rng = Seeded(state: 255)
        let data = Self.fragments(k, length: length, &rng)
        var dependent = 0, trials = 0
        for _ in 0..<1500 {
            let e = Int.random(in: 1...12, using: &rng)
            let first = Int.random(in: 0...(1024 - e - 2), using: &rng)
            let lost = Set((0..<k).shuffled(using: &rng).prefix(e))
            let parity = code.parity(first..<(first + e + 2), data: data, length: length)
            var present: [Int: [UInt8]] = [:]
            for i in 0..<k where !lost.contains(i) { present[i] = data[i] }
            for (offset, f) in parity.prefix(e).enumerated() { present[k + first + offset] = f }
            trials += 1
            do {
                let rebuilt = try code.recover(present: present, length: length)
                #expect(rebuilt.allSatisfy { data[$0.key] == $0.value } && Set(rebuilt.keys) == lost)
            } catch {
                #expect(error.code == "fec-dependent" && error.moreFragments == 1, "\(error)")
                dependent += 1
                // The greedy path: with the two spare rows the block is rebuilt (or, rarer still, says so again).
                for (offset, f) in parity.suffix(2).enumerated() { present[k + first + e + offset] = f }
                let rebuilt = try code.recover(present: present, length: length)
                #expect(rebuilt.allSatisfy { data[$0.key] == $0.value } && Set(rebuilt.keys) == lost)
            }
        }
        // Expected ~6 of 1500 (1/255 each); a broken generator (repeated or zero coefficients) fails far more often.
        print("random parity: \(dependent) of \(trials) loss patterns dependent on their first e rows")
        #expect(dependent <= 20, "\(dependent) of \(trials) dependent")
    }

    /// Two parity rows that happen to be dependent on two lost columns: `fec-dependent`, one more fragment
    /// needed; with a third row the greedy selection skips the dependent one and rebuilds.
    @Test func aDependentPairOfParityRowsAsksForOneMore() throws {
        let k = 400, length = 5
        let code = try ErasureCode(dataCount: k, maxParity: 1024)
        // Search for rows p < q and columns a < b with c(p,a)·c(q,b) = c(p,b)·c(q,a) (a singular 2 × 2 block).
        var found: (Int, Int, Int, Int)?
        search: for p in 0..<40 {
            for q in (p + 1)..<40 {
                for a in 0..<60 {
                    for b in (a + 1)..<60 {
                        let c = { ErasureCode.randomCoefficient(parity: $0, column: $1) }
                        if Self.gfMul(c(p, a), c(q, b)) == Self.gfMul(c(p, b), c(q, a)) { found = (p, q, a, b); break search }
                    }
                }
            }
        }
        let (p, q, a, b) = try #require(found)
        var rng = Seeded(state: 2)
        let data = Self.fragments(k, length: length, &rng)
        var present: [Int: [UInt8]] = [:]
        for i in 0..<k where i != a && i != b { present[i] = data[i] }
        present[k + p] = code.parity(p..<(p + 1), data: data, length: length)[0]
        present[k + q] = code.parity(q..<(q + 1), data: data, length: length)[0]
        do {
            _ = try code.recover(present: present, length: length)
            Issue.record("a singular pair of parity rows recovered")
        } catch {
            #expect(error.code == "fec-dependent" && error.moreFragments == 1, "\(error)")
            #expect(error.message.contains("ask the sender for 1 more"), "\(error)")
        }
        let r = (0..<1024).first { $0 != p && $0 != q }!
        present[k + r] = code.parity(r..<(r + 1), data: data, length: length)[0]
        let rebuilt = try code.recover(present: present, length: length)
        #expect(rebuilt == [a: data[a], b: data[b]])
    }

    // MARK: a chunk as the transport cuts it

    @Test func aChunkCutIntoBlocksSurvivesLossesInEveryBlock() throws {
        var rng = Seeded(state: 1_048_576)
        let chunkSize = 1 << 20, length = 1440, k = 32, repair = 4
        let chunk = (0..<chunkSize).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let fragmentCount = (chunkSize + length - 1) / length  // 729: the last one is zero-padded
        var padded = chunk
        padded.append(contentsOf: repeatElement(0, count: fragmentCount * length - chunkSize))
        var rebuiltChunk = [UInt8]()
        try padded.withUnsafeBytes { all throws in
            var codes: [Int: ErasureCode] = [:]
            for blockStart in stride(from: 0, to: fragmentCount, by: k) {
                let kHere = min(k, fragmentCount - blockStart)  // the last block is short: its own code
                if codes[kHere] == nil { codes[kHere] = try ErasureCode(dataCount: kHere, maxParity: 64) }
                let code = codes[kHere]!
                let data = (0..<kHere).map { UnsafeRawBufferPointer(rebasing: all[((blockStart + $0) * length)..<((blockStart + $0 + 1) * length)]) }
                let lost = Set((0..<kHere).shuffled(using: &rng).prefix(min(repair, kHere)))
                // The receiver asks for as many repairs as it lost; the sender answers with fresh parity (here 10…).
                let parity = code.parity(10..<(10 + lost.count), data: data, length: length)
                var present: [Int: UnsafeRawBufferPointer] = [:]
                for i in 0..<kHere where !lost.contains(i) { present[i] = data[i] }
                let rebuilt = try parity.withRawBuffers { raw throws(ErasureError) in
                    for (p, fragment) in raw.enumerated() { present[kHere + 10 + p] = fragment }
                    return try code.recover(present: present, length: length)
                }
                #expect(Set(rebuilt.keys) == lost)
                for i in 0..<kHere { rebuiltChunk.append(contentsOf: rebuilt[i] ?? Array(data[i])) }
            }
        }
        #expect(rebuiltChunk.count == fragmentCount * length)
        let wrong = Self.difference(Array(rebuiltChunk.prefix(chunkSize)), chunk)
        #expect(wrong == nil, "rebuilt chunk: \(wrong ?? "")")
    }

    // MARK: errors

    @Test func tooFewFragmentsIsFecShort() throws {
        let code = try ErasureCode(dataCount: 8, maxParity: 4)
        var rng = Seeded(state: 3)
        let data = Self.fragments(8, length: 100, &rng)
        let parity = code.parity(0..<4, data: data, length: 100)
        var present: [Int: [UInt8]] = [:]
        for i in 3..<8 { present[i] = data[i] }
        present[8] = parity[0]
        present[11] = parity[3]  // 7 of the 8 needed
        do {
            _ = try code.recover(present: present, length: 100)
            Issue.record("7 of 8 fragments recovered a block")
        } catch {
            #expect(error.code == "fec-short")
            #expect(error.message.contains("7 of its fragments arrived"), "\(error)")
            #expect(error.message.contains("1 more repair"), "\(error)")
            #expect(error.description.hasPrefix("fec-short: ") && error.cause == nil, "\(error)")
        }
        #expect {
            try ErasureCode(dataCount: 1, maxParity: 0).recover(present: [Int: [UInt8]](), length: 100)
        } throws: { ($0 as? ErasureError)?.code == "fec-short" }
    }

    @Test(arguments: [(0, 4), (-1, 0), (1, -1), (65536, 1), (65537, 0), (1, 65536), (Int.max, 1), (1, Int.max)])
    func badParametersAreBadFec(k: Int, maxParity: Int) {
        do {
            _ = try ErasureCode(dataCount: k, maxParity: maxParity)
            Issue.record("accepted k=\(k) parity=\(maxParity)")
        } catch {
            #expect(error.code == "bad-fec")
            #expect(error.message.contains("at most 65536 fragments"), "\(error)")
        }
    }

    /// The generator follows the shape: Cauchy exactly up to 255 fragments in all, random beyond.
    @Test(arguments: [(255, 0, "cauchy"), (1, 254, "cauchy"), (128, 127, "cauchy"), (200, 56, "random"), (255, 1, "random"),
                      (256, 0, "random"), (1, 255, "random"), (725, 1024, "random")])
    func theGeneratorFollowsTheShape(k: Int, maxParity: Int, generator: String) throws {
        #expect(try ErasureCode(dataCount: k, maxParity: maxParity).generator.rawValue == generator)
    }

    @Test(arguments: [(255, 0), (1, 254), (128, 127), (65535, 1), (1, 65535)])
    func theLimitsThemselvesAreAccepted(k: Int, maxParity: Int) throws {
        let code = try ErasureCode(dataCount: k, maxParity: maxParity)
        var rng = Seeded(state: 255)
        let data = Self.fragments(k, length: 8, &rng)
        let parity = code.parity(0..<maxParity, data: data, length: 8)
        let lost = Set((0..<(k + maxParity)).shuffled(using: &rng).prefix(maxParity))
        Self.expectRecovers(code, data: data, parity: parity, lost: lost, length: 8)
    }

    @Test func anIndexOutsideTheCodeIsBadFec() throws {
        let code = try ErasureCode(dataCount: 2, maxParity: 1)
        for index in [-1, 3, 300] {
            #expect {
                try code.recover(present: [0: [1, 2], index: [3, 4]], length: 2)
            } throws: { ($0 as? ErasureError)?.code == "bad-fec" }
        }
    }

    @Test func emptyFragments() throws {
        let code = try ErasureCode(dataCount: 3, maxParity: 2)
        let data: [[UInt8]] = [[], [], []]
        #expect(code.parity(0..<2, data: data, length: 0) == [[], []])
        let rebuilt = try code.recover(present: [1: [], 3: [], 4: []], length: 0)
        #expect(rebuilt == [0: [], 2: []])
    }

    // MARK: throughput (KAPLAN_BENCH=1)

    @Test func throughput() throws {
        guard ProcessInfo.processInfo.environment["KAPLAN_BENCH"] == "1" else {
            print("SKIP erasure-code bench: set KAPLAN_BENCH=1 to measure")
            return
        }
        let clock = ContinuousClock()
        func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
        let length = 1440
        var rng = Seeded(state: 77)
        for (k, repair) in [(32, 4), (32, 16), (64, 8)] {
            let code = try ErasureCode(dataCount: k, maxParity: 128)
            let data = Self.fragments(k, length: length, &rng)
            let blockBytes = k * length
            let rounds = max(200, 200_000_000 / (blockBytes * repair))  // about 200 MB of parity work per figure
            var sink = 0
            let cached = clock.measure {
                for _ in 0..<rounds { sink &+= code.parity(0..<repair, data: data, length: length)[0][0] == 1 ? 1 : 0 }
            }
            let fresh = clock.measure {
                for _ in 0..<rounds { sink &+= code.parity(repair..<(2 * repair), data: data, length: length)[0][0] == 1 ? 1 : 0 }
            }
            // Decode: the first `repair` data fragments lost, that many parity fragments in their place.
            let parity = code.parity(0..<repair, data: data, length: length)
            var present: [Int: [UInt8]] = [:]
            for i in repair..<k { present[i] = data[i] }
            for p in 0..<repair { present[k + p] = parity[p] }
            var decodeRounds = 0
            let decode = try clock.measure {
                for _ in 0..<rounds {
                    sink &+= try code.recover(present: present, length: length).count
                    decodeRounds += 1
                }
            }
            let setup = try clock.measure {  // the same recovery on 1-byte fragments: matrix inversion + tables only
                var tiny: [Int: [UInt8]] = [:]
                for (i, f) in present { tiny[i] = [f[0]] }
                for _ in 0..<rounds { sink &+= try code.recover(present: tiny, length: 1).count }
            }
            #expect(sink >= rounds)
            let mb = Double(rounds * blockBytes) / 1e6
            print(
                String(
                    format: "erasure k=%d, %d B fragments, %d parity/lost per block: encode %.0f MB/s of data (tables cached), "
                        + "%.0f MB/s (tables built per call); decode %.0f MB/s of block data (%.1f µs per block, of which "
                        + "%.1f µs inversion + tables)",
                    k, length, repair, mb / seconds(cached), mb / seconds(fresh), mb / seconds(decode),
                    seconds(decode) / Double(decodeRounds) * 1e6, seconds(setup) / Double(rounds) * 1e6))
        }
    }
}

extension Array where Element == [UInt8] {
    /// Calls `body` with raw views of every array at once.
    fileprivate func withRawBuffers<R, E: Error>(_ body: ([UnsafeRawBufferPointer]) throws(E) -> R) throws(E) -> R {
        var buffers: [UnsafeRawBufferPointer] = []
        func nest(_ i: Int) -> Result<R, E> {
            if i == count { return Result { () throws(E) in try body(buffers) } }
            return self[i].withUnsafeBytes { raw in
                buffers.append(raw)
                return nest(i + 1)
            }
        }
        return try nest(0).get()
    }
}
