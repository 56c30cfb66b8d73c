import Foundation
import Crypto
import KaplanErasure
import Testing

@testable import KaplanNetwork

/// The multicast transport's pieces without root: the datagram format, the receiver's reassembly window, and a
/// whole sender → receiver stream over loopback UDP (unicast to 127.0.0.1; the lab tests multicast for real).
@Suite struct MulticastWireTests {
    static let key = try! SessionKey(bytes: Array(repeating: 7, count: 32))
    static let session = SessionID(bytes: Array(0..<16))!

    @Test func datagramRoundTripAndEveryAlterationIsRejected() throws {
        let codec = DatagramCodec(key: Self.key, session: Self.session, stream: 42)
        let payload = (0..<1000).map { UInt8($0 & 0xFF) }
        let d = codec.build(chunk: 9, fragment: 3, count: 12, payload: payload)
        #expect(d.count == payload.count + DatagramCodec.overhead)
        let header = try d.withUnsafeBytes { try codec.open($0).get() }
        #expect(header.chunk == 9 && header.fragment == 3 && header.count == 12)
        #expect(Array(d[DatagramHeader.size..<(d.count - DatagramCodec.tagSize)]) == payload)
        // Any single bit flipped after the magic and type: foreign (session/stream tags) or forged (the rest).
        for byte in stride(from: 2, to: d.count, by: 37) {
            var bad = d
            bad[byte] ^= 0x40
            let r = bad.withUnsafeBytes { codec.open($0) }
            let expected: DatagramCodec.Rejection = byte < 8 ? .foreign : .forged
            #expect(r == .failure(expected), "byte \(byte)")
        }
        // Another session's or stream's datagram; another key; truncated; wrong magic.
        let otherSession = DatagramCodec(key: Self.key, session: SessionID(bytes: Array(repeating: 1, count: 16))!, stream: 42)
        #expect(otherSession.build(chunk: 9, fragment: 3, count: 12, payload: payload).withUnsafeBytes { codec.open($0) } == .failure(.foreign))
        let otherStream = DatagramCodec(key: Self.key, session: Self.session, stream: 43)
        #expect(otherStream.build(chunk: 9, fragment: 3, count: 12, payload: payload).withUnsafeBytes { codec.open($0) } == .failure(.foreign))
        let otherKey = DatagramCodec(key: try SessionKey(bytes: Array(repeating: 8, count: 32)), session: Self.session, stream: 42)
        #expect(otherKey.build(chunk: 9, fragment: 3, count: 12, payload: payload).withUnsafeBytes { codec.open($0) } == .failure(.forged))
        #expect(Array(d.prefix(20)).withUnsafeBytes { codec.open($0) } == .failure(.malformed))
        var magic = d
        magic[0] = 0x00
        #expect(magic.withUnsafeBytes { codec.open($0) } == .failure(.malformed))
        #expect(DatagramCodec.payloadSize(mtu: 1500) == 1448)
    }

    /// The codec's own HMAC (precomputed pads) is swift-crypto's HMAC-SHA256 under the derived key, byte for byte,
    /// for bodies around SHA-256's block edges: kaplans of either implementation accept each other's datagrams.
    @Test func theDatagramTagIsHMACSHA256UnderTheDerivedKey() throws {
        let codec = DatagramCodec(key: Self.key, session: Self.session, stream: 42)
        var info = Array("kaplan multicast v1".utf8)
        Bytes.append(UInt64(42), to: &info)
        let derived = HKDF<SHA256>.deriveKey(inputKeyMaterial: Self.key.symmetric, salt: Self.session.bytes, info: info, outputByteCount: 32)
        for length in [0, 1, 55, 56, 63, 64, 65, 119, 1464] {
            let body = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ length) }
            let ours = body.withUnsafeBytes { Array(codec.tag($0)) }
            let reference = Array(HMAC<SHA256>.authenticationCode(for: body, using: derived))
            #expect(ours == reference, "body of \(length) bytes")
        }
        // And a built datagram carries the first 8 bytes of it.
        let payload = [UInt8](repeating: 9, count: 100)
        let d = codec.build(chunk: 1, fragment: 2, count: 3, payload: payload)
        let reference = Array(HMAC<SHA256>.authenticationCode(for: d[0..<(d.count - DatagramCodec.tagSize)], using: derived))
        #expect(Array(d.suffix(DatagramCodec.tagSize)) == Array(reference.prefix(DatagramCodec.tagSize)))
    }

    /// A real sealed chunk of `plaintext` bytes cut into `size`-byte fragments.
    static func fragments(chunk: UInt32, plaintext: Int, size: Int) -> (sealed: [UInt8], fragments: [[UInt8]]) {
        let sealer = ChunkSealer(key: key, session: session, stream: 5)
        let sealed = sealer.seal(sequence: UInt64(chunk), segment: 0, flags: [], plaintext: (0..<plaintext).map { UInt8(truncatingIfNeeded: $0 * 13 + Int(chunk)) })
        return (sealed, stride(from: 0, to: sealed.count, by: size).map { Array(sealed[$0..<min(sealed.count, $0 + size)]) })
    }

    /// Parity fragment `p` of block `b` as the golden computes it (data zero-padded to `size`).
    static func parity(_ fragments: [[UInt8]], layout: BlockLayout, block b: Int, p: Int, size: Int) throws -> [UInt8] {
        let range = layout.range(b, count: fragments.count)
        let code = try ErasureCode(dataCount: range.count, maxParity: layout.parityStride)
        let data = range.map { fragments[$0] + [UInt8](repeating: 0, count: size - fragments[$0].count) }
        return code.parity(p..<(p + 1), data: data, length: size)[0]
    }

    static func place(_ a: inout FragmentAssembler, chunk: UInt32, index: Int, count: Int, _ bytes: [UInt8]) -> FragmentAssembler.Placement {
        bytes.withUnsafeBytes {
            a.place(DatagramHeader(sessionTag: 0, streamTag: 0, chunk: chunk, fragment: UInt16(index), count: UInt16(count)), payload: $0)
        }
    }

    @Test func aChunkIsCutIntoEqualBlocksThatCoverEveryFragmentOnce() throws {
        // A 1 MiB chunk sealed (1,048,636 bytes) in 1448-byte fragments: 725 data fragments.
        let layout = BlockLayout(blockSize: 200)
        #expect(layout.blocks(725) == 4 && layout.size(725) == 182)
        #expect((0..<4).map { layout.range($0, count: 725).count } == [182, 182, 182, 179])
        // The old fixed cut would have left a tail block of 125. No block is ever larger than blockSize, and every
        // count from 1 to 1,500 is covered once, in order, by blocks that differ by less than their number.
        var bad: [String] = []
        for size in [1, 2, 7, 128, 200, 254, 255, 725, 1024] {
            let l = BlockLayout(blockSize: size)
            for count in 1...1500 {
                var next = 0
                let ranges = (0..<l.blocks(count)).map { l.range($0, count: count) }
                for (b, r) in ranges.enumerated() {
                    if r.lowerBound != next || r.isEmpty || r.count > size { bad.append("size \(size) count \(count) block \(b): \(r)") }
                    for i in [r.lowerBound, r.upperBound - 1] where l.block(of: i, count: count) != b { bad.append("size \(size) count \(count): fragment \(i) not in block \(b)") }
                    next = r.upperBound
                }
                if next != count { bad.append("size \(size) count \(count): covered \(next)") }
                if ranges.map(\.count).max()! - ranges.map(\.count).min()! >= ranges.count { bad.append("size \(size) count \(count): uneven \(ranges.map(\.count))") }
            }
        }
        #expect(bad.isEmpty, "\(bad.prefix(5))")
        #expect(layout.parityIndex(block: 3, parity: layout.parityStride - 1, count: 725) < 65536)
        // fec.data 1024: a 1 MiB chunk is one block of a random code, its parity numbers 0..<1024.
        #expect(ChainServer.defaultBlockSize == 1024)
        let wide = BlockLayout(blockSize: 1024)
        #expect(wide.blocks(725) == 1 && wide.size(725) == 725 && wide.parityStride == 1024)
        #expect(try ErasureCode(dataCount: 725, maxParity: wide.parityStride).generator == .random)
        #expect(try ErasureCode(dataCount: 182, maxParity: layout.parityStride).generator == .cauchy)
        // Every layout's last parity index fits the datagram header's 16 bits for a 4 MiB chunk (2,897 fragments).
        for size in [1, 200, 254, 255, 1024, BlockLayout.maxBlockSize] {
            let l = BlockLayout(blockSize: size)
            let last = l.parityIndex(block: l.blocks(2897) - 1, parity: l.parityStride - 1, count: 2897)
            #expect(size == 1 || last < 65536, "size \(size): last parity index \(last)")
            #expect(l.parity(at: last, count: 2897).map { [$0.block, $0.parity] } == [l.blocks(2897) - 1, l.parityStride - 1])
        }
    }

    /// A wide block whose first parity rows happen to be dependent: the assembler does not rebuild, asks for one
    /// more fragment although data + parity reach the block size, and rebuilds the chunk once it arrives.
    @Test func aWideBlockWithDependentParityAsksForOneMore() throws {
        let layout = BlockLayout(blockSize: 1024)
        let (sealed, f) = Self.fragments(chunk: 0, plaintext: 440, size: 16)
        let k = f.count  // 32 fragments: one block of a random code
        #expect(layout.blocks(k) == 1)
        let (p, q, a, b) = try #require(Self.dependentPair(k: k))
        var asm = FragmentAssembler(window: 2, fragmentSize: 16, layout: layout)
        asm.total = 1
        for i in 0..<k where i != a && i != b { #expect(Self.place(&asm, chunk: 0, index: i, count: k, f[i]) == .stored) }
        for r in [p, q] {
            let parity = try Self.parity(f, layout: layout, block: 0, p: r, size: 16)
            #expect(Self.place(&asm, chunk: 0, index: layout.parityIndex(block: 0, parity: r, count: k), count: k, parity) == .stored)
        }
        #expect(asm.takeNext() == nil && asm.rebuilt == 0)
        #expect(asm.missing(limit: 10, quiet: true) == [.init(chunk: 0, block: 0, need: 1)])
        let r = (0..<60).first { $0 != p && $0 != q }!
        let extra = try Self.parity(f, layout: layout, block: 0, p: r, size: 16)
        #expect(Self.place(&asm, chunk: 0, index: layout.parityIndex(block: 0, parity: r, count: k), count: k, extra) == .stored)
        #expect(asm.rebuilt == 2)
        #expect(asm.missing(limit: 10, quiet: true).isEmpty)
        #expect(asm.takeNext() == sealed)
    }

    /// The receiver's assembler queues rebuilds for another thread: placing never decodes, a queued block is not
    /// asked for again, fragments keep arriving while it is decoded (a late data fragment wins, a block is queued
    /// once), and a dependent wide block that got more parity while it was decoded is queued again at once.
    @Test func deferredRebuildsDecodeOffTheReceivingThread() throws {
        let layout = BlockLayout(blockSize: 2)
        let (sealed0, f0) = Self.fragments(chunk: 0, plaintext: 440, size: 100)
        let p0 = try Self.parity(f0, layout: layout, block: 0, p: 0, size: 100)
        let p1 = try Self.parity(f0, layout: layout, block: 0, p: 1, size: 100)
        // Fragment 1 lost; one parity fragment of block 0 makes it rebuildable: queued, not decoded.
        var a = FragmentAssembler(window: 2, fragmentSize: 100, layout: layout, deferRebuilds: true)
        a.total = 1
        for i in [0, 2, 3, 4] { #expect(Self.place(&a, chunk: 0, index: i, count: 5, f0[i]) == .stored) }
        #expect(Self.place(&a, chunk: 0, index: layout.parityIndex(block: 0, parity: 0, count: 5), count: 5, p0) == .stored)
        let notYet = a.takeNext()
        #expect(a.queuedRebuilds == 1 && a.hasPendingRebuilds && a.rebuilt == 0 && notYet == nil)
        #expect(a.missing(limit: 10, quiet: true).isEmpty)
        let taken = a.takeRebuild()
        let job = try #require(taken)
        #expect(!a.hasPendingRebuilds && job.chunk == 0 && job.block == 0 && job.held == 2)
        // While it is decoded: a second parity fragment does not queue the block again.
        #expect(Self.place(&a, chunk: 0, index: layout.parityIndex(block: 0, parity: 1, count: 5), count: 5, p1) == .stored)
        let none = a.takeRebuild()
        #expect(a.queuedRebuilds == 1 && none == nil)
        a.finish(job, job.decode())
        let rebuiltChunk = a.takeNext()
        #expect(a.rebuilt == 1 && rebuiltChunk == sealed0)
        // The lost fragment itself arrives while the block is decoded: it is kept, the rebuild adds nothing.
        a = FragmentAssembler(window: 2, fragmentSize: 100, layout: layout, deferRebuilds: true)
        for i in [0, 2, 3, 4] { #expect(Self.place(&a, chunk: 0, index: i, count: 5, f0[i]) == .stored) }
        #expect(Self.place(&a, chunk: 0, index: layout.parityIndex(block: 0, parity: 0, count: 5), count: 5, p0) == .stored)
        let takenLate = a.takeRebuild()
        let late = try #require(takenLate)
        #expect(Self.place(&a, chunk: 0, index: 1, count: 5, f0[1]) == .stored)
        let outcome = late.decode()
        a.finish(late, outcome)
        let kept = a.takeNext()
        #expect(a.rebuilt == 0 && kept == sealed0)
        // Finished after its chunk left the window: ignored.
        a.finish(late, outcome)
        let gone = a.takeNext()
        #expect(a.rebuilt == 0 && gone == nil)
        // A block that became whole before its turn is skipped.
        a = FragmentAssembler(window: 2, fragmentSize: 100, layout: layout, deferRebuilds: true)
        for i in [0, 2, 3, 4] { #expect(Self.place(&a, chunk: 0, index: i, count: 5, f0[i]) == .stored) }
        #expect(Self.place(&a, chunk: 0, index: layout.parityIndex(block: 0, parity: 0, count: 5), count: 5, p0) == .stored)
        #expect(Self.place(&a, chunk: 0, index: 1, count: 5, f0[1]) == .stored)
        let skipped = a.takeRebuild()
        let whole = a.takeNext()
        #expect(skipped == nil && whole == sealed0)

        // A wide block (random code) whose first two parity rows are dependent over the two lost columns.
        let wide = BlockLayout(blockSize: 1024)
        let (sealed, f) = Self.fragments(chunk: 0, plaintext: 440, size: 16)
        let k = f.count
        let (p, q, x, y) = try #require(Self.dependentPair(k: k))
        var w = FragmentAssembler(window: 2, fragmentSize: 16, layout: wide, deferRebuilds: true)
        w.total = 1
        for i in 0..<k where i != x && i != y { #expect(Self.place(&w, chunk: 0, index: i, count: k, f[i]) == .stored) }
        for r in [p, q] {
            let parity = try Self.parity(f, layout: wide, block: 0, p: r, size: 16)
            #expect(Self.place(&w, chunk: 0, index: wide.parityIndex(block: 0, parity: r, count: k), count: k, parity) == .stored)
        }
        let takenDependent = w.takeRebuild()
        let dependent = try #require(takenDependent)
        // One more parity fragment arrives while the dependent pair is decoded: queued again when it fails.
        let r = (0..<60).first { $0 != p && $0 != q }!
        let extra = try Self.parity(f, layout: wide, block: 0, p: r, size: 16)
        #expect(Self.place(&w, chunk: 0, index: wide.parityIndex(block: 0, parity: r, count: k), count: k, extra) == .stored)
        let failed = dependent.decode()
        #expect(throws: ErasureError.self) { try failed.get() }
        w.finish(dependent, failed)
        #expect(w.rebuilt == 0 && w.hasPendingRebuilds)
        let takenAgain = w.takeRebuild()
        let again = try #require(takenAgain)
        #expect(again.held == dependent.held + 1)
        w.finish(again, again.decode())
        let rebuiltWide = w.takeNext()
        #expect(w.rebuilt == 2 && w.missing(limit: 10, quiet: true).isEmpty && rebuiltWide == sealed)
    }

    /// Two parity numbers p < q and two data columns a < b of a `k`-wide random-code block whose 2 × 2 system over
    /// those columns is singular (the block cannot be rebuilt from p and q when a and b are lost).
    static func dependentPair(k: Int) -> (Int, Int, Int, Int)? {
        let c = { ErasureCode.randomCoefficient(parity: $0, column: $1) }
        func mul(_ a: UInt8, _ b: UInt8) -> UInt8 {
            var a = UInt16(a), b = b, r: UInt16 = 0
            while b != 0 { if b & 1 != 0 { r ^= a }; a <<= 1; if a & 0x100 != 0 { a ^= 0x11D }; b >>= 1 }
            return UInt8(r)
        }
        for p in 0..<60 {
            for q in (p + 1)..<60 {
                for a in 0..<k {
                    for b in (a + 1)..<k where mul(c(p, a), c(q, b)) == mul(c(p, b), c(q, a)) { return (p, q, a, b) }
                }
            }
        }
        return nil
    }

    /// What the golden tells a node is input like any other: impossible multicast parameters are refused with
    /// every reason, and no datagram makes the assembler reserve more than the largest chunk.
    @Test func impossibleMulticastParametersAndOversizedChunksAreRefused() throws {
        let maxChunk = (1 << 20) + ChunkSealer.overhead
        let good = MulticastParameters(group: "239.255.0.1", port: 30765, interface: nil, fragmentSize: 1448, window: 64, blockSize: 1024)
        #expect(good.problem(maxChunk: maxChunk) == nil && good.fragments(maxChunk: maxChunk) == 725)
        var bad = good
        bad.port = 0
        bad.fragmentSize = 0
        bad.window = 0
        bad.blockSize = 0
        let all = try #require(bad.problem(maxChunk: maxChunk))
        for phrase in ["port 0", "datagram payload 0 bytes", "window of 0 chunks", "repair block of 0 datagrams"] {
            #expect(all.contains(phrase), "\(all)")
        }
        bad = good
        bad.window = Int.max
        bad.blockSize = BlockLayout.maxBlockSize + 1
        bad.fragmentSize = 64
        let huge = try #require(bad.problem(maxChunk: 64 << 20))
        #expect(huge.contains("needs 1048576 datagrams") && huge.contains("window of") && huge.contains("repair block of 4097"), "\(huge)")
        // A fragment claiming more fragments than the largest chunk has is inconsistent, not a 4 GiB reservation.
        var a = FragmentAssembler(window: 2, fragmentSize: 100, layout: BlockLayout(blockSize: 200), maxFragments: 5)
        let (_, f) = Self.fragments(chunk: 0, plaintext: 440, size: 100)
        #expect(Self.place(&a, chunk: 0, index: 0, count: 65_535, f[0]) == .inconsistent)
        #expect(Self.place(&a, chunk: 0, index: 0, count: 6, f[0]) == .inconsistent)
        #expect(Self.place(&a, chunk: 0, index: 0, count: 5, f[0]) == .stored)
    }

    @Test func aLossInTheLastBlockIsAskedForOnceTheChunksLastFragmentArrived() throws {
        // 5 fragments in blocks [0 1 2] [3 4]; fragment 3 lost. Once fragment 4 (the chunk's last) arrived, block 1
        // is a loss at once, without waiting for the link to go quiet (the stream's last chunk has nothing after it).
        var a = FragmentAssembler(window: 2, fragmentSize: 100, layout: BlockLayout(blockSize: 3))
        a.total = 1
        let (_, f) = Self.fragments(chunk: 0, plaintext: 440, size: 100)
        #expect(f.count == 5)
        for i in [0, 1, 2] { #expect(Self.place(&a, chunk: 0, index: i, count: 5, f[i]) == .stored) }
        #expect(a.missing(limit: 10, quiet: false).isEmpty)
        #expect(Self.place(&a, chunk: 0, index: 4, count: 5, f[4]) == .stored)
        #expect(a.missing(limit: 10, quiet: false) == [FragmentAssembler.Missing(chunk: 0, block: 1, need: 1)])
    }

    @Test func assemblerRebuildsFromParityReordersAndBoundsItsWindow() throws {
        let layout = BlockLayout(blockSize: 2)
        var a = FragmentAssembler(window: 2, fragmentSize: 100, layout: layout)
        // Chunk 0: 440 plaintext bytes → 500 sealed → 5 fragments in blocks [0 1] [2 3] [4]; fragment 1 is lost.
        let (sealed0, f0) = Self.fragments(chunk: 0, plaintext: 440, size: 100)
        #expect(f0.count == 5)
        for i in [2, 0, 3, 4] { #expect(Self.place(&a, chunk: 0, index: i, count: 5, f0[i]) == .stored) }
        #expect(Self.place(&a, chunk: 0, index: 0, count: 5, f0[0]) == .duplicate)
        #expect(a.takeNext() == nil)
        // Chunk 1's first fragment: chunk 0 block 0 is a loss; chunk 1's blocks may still be on their way.
        let (sealed1, f1) = Self.fragments(chunk: 1, plaintext: 440, size: 100)
        #expect(Self.place(&a, chunk: 1, index: 0, count: 5, f1[0]) == .stored)
        #expect(a.missing(limit: 10, quiet: false) == [.init(chunk: 0, block: 0, need: 1)])
        // One parity fragment of block 0 rebuilds fragment 1: the chunk leaves, byte for byte.
        let p = try Self.parity(f0, layout: layout, block: 0, p: 0, size: 100)
        #expect(Self.place(&a, chunk: 0, index: layout.parityIndex(block: 0, parity: 0, count: 5), count: 5, p) == .stored)
        #expect(a.rebuilt == 1)
        #expect(a.takeNext() == sealed0)
        #expect(Self.place(&a, chunk: 0, index: 1, count: 5, f0[1]) == .old)
        // Window of 2 chunks from chunk 1: chunk 3 is dropped; disagreeing fragments are refused.
        #expect(Self.place(&a, chunk: 3, index: 0, count: 5, f1[0]) == .ahead)
        #expect(Self.place(&a, chunk: 1, index: 1, count: 6, f1[1]) == .inconsistent)
        #expect(Self.place(&a, chunk: 1, index: 1, count: 5, Array(f1[1].prefix(50))) == .inconsistent)
        #expect(Self.place(&a, chunk: 1, index: 60_000, count: 5, f1[1]) == .inconsistent)
        // The tail: once the total is known and nothing arrives for a while, every block up to the end is asked for.
        a = FragmentAssembler(window: 4, fragmentSize: 100, layout: layout)
        #expect(Self.place(&a, chunk: 0, index: 0, count: 5, f0[0]) == .stored)
        a.total = 2
        #expect(a.missing(limit: 10, quiet: false) == [])
        #expect(a.missing(limit: 10, quiet: true) == [
            .init(chunk: 0, block: 0, need: 1), .init(chunk: 0, block: 1, need: 2), .init(chunk: 0, block: 2, need: 1),
            .init(chunk: 1, block: FragmentAssembler.wholeChunk, need: 0),
        ])
        // The chunk's last (short) fragment rebuilt from parity: the length comes from the chunk's own header.
        for i in 0..<4 { #expect(Self.place(&a, chunk: 0, index: i, count: 5, f0[i]) == (i == 0 ? .duplicate : .stored)) }
        let last = try Self.parity(f0, layout: layout, block: 2, p: 3, size: 100)
        #expect(Self.place(&a, chunk: 0, index: layout.parityIndex(block: 2, parity: 3, count: 5), count: 5, last) == .stored)
        #expect(a.takeNext() == sealed0)
        #expect(sealed1.count == 500)
    }

    /// Batching: datagrams queued on a segmenting sender (UDP GSO) arrive as the same datagrams, in order, with
    /// their own lengths (a shorter one ends a batch); the receiver gets some as coalesced reads (UDP GRO) and
    /// hands them out one by one, cutting nothing.
    @Test func batchedDatagramsArriveOneByOneAndIntact() throws {
        let rx = try UDPSocket.receiver(group: "127.0.0.1", port: 0, interface: nil, receiveBuffer: 8 << 20)
        defer { rx.close() }
        let port = SocketSupport.endpoint(of: rx.fd, peer: false).port
        let tx = try UDPSocket.sender(interface: nil, ttl: 1, sendBuffer: 1 << 20)
        defer { tx.close() }
        let size = 1200
        try #require(tx.segment(size: size), "this kernel has UDP_SEGMENT (Linux ≥ 4.18)")
        let destination = UDPSocket.address("127.0.0.1", port: port)!
        // 3 full batches and a bit, a short datagram in the middle of a run, and a short one at the end.
        var sent: [[UInt8]] = []
        for i in 0..<(UDPSocket.batchLimit * 3 + 7) {
            let length = i == 50 ? 333 : (i == UDPSocket.batchLimit * 3 + 6 ? 17 : size)
            sent.append((0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ i) })
        }
        for d in sent { #expect(try d.withUnsafeBytes { try tx.queue($0, to: destination) }) }
        #expect(try tx.flush())
        var got: [[UInt8]] = []
        var buffer = [UInt8](repeating: 0, count: 2048)
        while got.count < sent.count {
            guard let n = try buffer.withUnsafeMutableBytes({ try rx.receive(into: $0, timeout: .seconds(2)) }) else { break }
            got.append(Array(buffer[0..<n]))
        }
        #expect(got.count == sent.count)
        #expect(got == sent)
        #expect(rx.coalescedReads > 0, "the receiver should have read batches whole (UDP_GRO)")
    }

    /// A member that never reports holds the sender at the end of its window: the sender stops before the end of
    /// the stream and counts the time it is held back (the golden's summary line reports it).
    @Test func aSilentMemberHoldsTheSenderBackAndTheTimeIsCounted() throws {
        let stream: UInt64 = 78
        let sealer = ChunkSealer(key: Self.key, session: Self.session, stream: stream)
        let spool = try ChunkSpool(directory: NSTemporaryDirectory(), session: SessionID.random())
        defer { spool.close() }
        for i in 0..<3 {
            try spool.append(sealer.seal(sequence: UInt64(i), segment: 0, flags: i == 2 ? [.endOfSegment, .endOfStream] : [],
                                         plaintext: [UInt8](repeating: UInt8(i), count: 5000)), last: i == 2)
        }
        // A bound socket nobody reads: the datagrams have somewhere to go and are never answered.
        let sink = try UDPSocket.receiver(group: "127.0.0.1", port: 0, interface: nil, receiveBuffer: 1 << 20)
        defer { sink.close() }
        let port = SocketSupport.endpoint(of: sink.fd, peer: false).port
        let sendSocket = try UDPSocket.sender(interface: nil, ttl: 1, sendBuffer: 1 << 20)
        let sender = MulticastSender(
            socket: sendSocket, destination: UDPSocket.address("127.0.0.1", port: port)!,
            codec: DatagramCodec(key: Self.key, session: Self.session, stream: stream), spool: spool,
            fragmentSize: 1000, window: 1, maxRate: nil, layout: BlockLayout(blockSize: 8), onTotal: { _ in })
        sender.add("n1")
        sender.start()
        Thread.sleep(forTimeInterval: 0.5)
        sender.stop()
        sendSocket.close()
        let s = sender.statistics
        // Each sealed chunk is 6 datagrams of ≤ 1000 bytes; the silent member's window never lets the third out.
        #expect(s.datagrams > 0 && s.datagrams < 18, "the window should have stopped the sender before the end: \(s)")
        #expect(s.heldBack > 0.3 && s.heldBack < 1, "held back for most of the 0.5 s: \(s)")
    }

    /// A send the kernel refuses (here a datagram larger than any path allows) stops the sender and keeps the
    /// reason, so the server can stop the session saying why instead of evicting nodes for a "stall".
    @Test func aRefusedSendStopsTheSenderWithItsReason() throws {
        let stream: UInt64 = 79
        let sealer = ChunkSealer(key: Self.key, session: Self.session, stream: stream)
        let spool = try ChunkSpool(directory: NSTemporaryDirectory(), session: SessionID.random())
        defer { spool.close() }
        try spool.append(sealer.seal(sequence: 0, segment: 0, flags: [.endOfSegment, .endOfStream],
                                     plaintext: [UInt8](repeating: 7, count: 200_000)), last: true)
        let sink = try UDPSocket.receiver(group: "127.0.0.1", port: 0, interface: nil, receiveBuffer: 1 << 20)
        defer { sink.close() }
        let port = SocketSupport.endpoint(of: sink.fd, peer: false).port
        let sendSocket = try UDPSocket.sender(interface: nil, ttl: 1, sendBuffer: 1 << 20)
        let sender = MulticastSender(
            socket: sendSocket, destination: UDPSocket.address("127.0.0.1", port: port)!,
            codec: DatagramCodec(key: Self.key, session: Self.session, stream: stream), spool: spool,
            fragmentSize: 70_000, window: 4, maxRate: nil, layout: BlockLayout(blockSize: 8), onTotal: { _ in })
        sender.add("n1")
        #expect(sender.failed == nil)
        sender.start()
        let deadline = Date().addingTimeInterval(5)
        while sender.failed == nil && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        sender.stop()
        sendSocket.close()
        let failure = try #require(sender.failed, "the sender should have kept why it stopped")
        #expect(failure.code == "io")
        #expect(failure.message.contains("larger than the path MTU") && failure.message.contains("transport.interface"), "\(failure)")
        #expect(sender.statistics.datagrams == 0)
    }

    /// The whole data path over loopback: the producer's sealed chunks in a spool, the sender, a receiver that
    /// drops every 50th datagram it is given the first time (loss) and reports to the sender directly; every chunk
    /// arrives intact and in order, rebuilt from parity repairs.
    /// What a loopback stream delivered and counted.
    struct LoopbackRun {
        var delivered: [[UInt8]]
        var sent: MulticastSender.Statistics
        var received: MulticastReceiver.Statistics
        var reports: Int
        var seconds: Double
    }

    /// Streams `plaintexts` (one chunk each) from a sender to a receiver over loopback UDP (unicast to 127.0.0.1),
    /// 1000-byte fragments in blocks of 8, the receiver's reports fed to the sender as the control link would.
    static func loopbackStream(_ plaintexts: [[UInt8]], stream: UInt64, maxRate: Double, dropEvery: UInt64 = 0) throws -> LoopbackRun {
        let sealer = ChunkSealer(key: Self.key, session: Self.session, stream: stream)
        let spool = try ChunkSpool(directory: NSTemporaryDirectory(), session: SessionID.random())
        defer { spool.close() }
        let last = plaintexts.count - 1
        for (i, p) in plaintexts.enumerated() {
            try spool.append(sealer.seal(sequence: UInt64(i), segment: 0, flags: i == last ? [.endOfSegment, .endOfStream] : [], plaintext: p), last: i == last)
        }
        let receiveSocket = try UDPSocket.receiver(group: "127.0.0.1", port: 0, interface: nil, receiveBuffer: 8 << 20)
        let port = SocketSupport.endpoint(of: receiveSocket.fd, peer: false).port
        let codec = DatagramCodec(key: Self.key, session: Self.session, stream: stream)
        let sendSocket = try UDPSocket.sender(interface: nil, ttl: 1, sendBuffer: 1 << 20)
        let totalBox = Box<UInt32?>(nil)
        let sender = MulticastSender(
            socket: sendSocket, destination: UDPSocket.address("127.0.0.1", port: port)!, codec: codec, spool: spool,
            fragmentSize: 1000, window: 4, maxRate: maxRate, layout: BlockLayout(blockSize: 8), onTotal: { totalBox.value = $0 })
        let ring = ChunkRing(capacity: 4)
        let senderBox = Box<MulticastSender?>(sender)
        let reports = Box(0)
        let receiver = MulticastReceiver(
            socket: receiveSocket, codec: codec, sealer: sealer, ring: ring, window: 4, fragmentSize: 1000,
            layout: BlockLayout(blockSize: 8), report: { next, complete, missing, _ in
                reports.value += 1
                senderBox.value?.receipt(from: "n1", next: next, complete: complete, missing: missing)
            }, dropEvery: dropEvery)
        sender.add("n1")
        let started = Date()
        receiver.start()
        sender.start()
        let reader = ring.register(from: 0, name: "disk")
        var got: [[UInt8]] = []
        let deadline = Date().addingTimeInterval(30)
        while got.count < plaintexts.count && Date() < deadline {
            if let t = totalBox.value { receiver.setTotal(t) }
            let (entry, _) = ring.take(UInt64(got.count), reader: reader, timeout: .milliseconds(200))
            if let plaintext = entry?.plaintext { got.append(plaintext) }
        }
        let seconds = Date().timeIntervalSince(started)
        sender.stop()
        receiver.stop()
        sendSocket.close()
        return LoopbackRun(delivered: got, sent: sender.statistics, received: receiver.statistics, reports: reports.value, seconds: seconds)
    }

    @Test func loopbackStreamWithLossIsRepaired() throws {
        let plaintexts = (0..<12).map { i in (0..<(100_000 + i * 1000)).map { _ in UInt8.random(in: 0...255) } }
        let run = try Self.loopbackStream(plaintexts, stream: 77, maxRate: 400e6, dropEvery: 50)
        #expect(run.delivered == plaintexts)
        let (s, r) = (run.sent, run.received)
        #expect(r.forged == 0 && r.foreign == 0 && r.malformed == 0)
        #expect(s.repairs > 0 && r.rebuilt > 0 && r.testDropped > 0, "sent \(s), received \(r)")
        print("loopback: \(s.datagrams) datagrams sent, \(s.repairs) repairs for \(r.testDropped) dropped, \(r.rebuilt) rebuilt; \(r.duplicates) duplicates")
    }

    /// A receiver reports every `reportInterval` (50 ms), not on every datagram: the report loop shares its
    /// condition with the delivering thread, and a report per wake-up once sent hundreds a second per node.
    @Test func aReceiverReportsOnItsIntervalNotPerDatagram() throws {
        // ~1,000 datagrams a second for about a second.
        let plaintexts = (0..<10).map { [UInt8](repeating: UInt8($0), count: 100_000) }
        let run = try Self.loopbackStream(plaintexts, stream: 78, maxRate: 8.5e6)
        #expect(run.delivered == plaintexts)
        // One report per interval (and the final one), with slack for a loaded machine; never one per datagram.
        #expect(run.seconds > 0.5, "the stream took \(run.seconds) s: too fast to count reports")
        #expect(run.reports <= Int(run.seconds / MulticastReceiver.reportInterval) + 3,
                "\(run.reports) reports in \(run.seconds) s for \(run.received.datagrams) datagrams")
        print("reports: \(run.reports) in \(String(format: "%.2f", run.seconds)) s for \(run.received.datagrams) datagrams")
    }
}

/// A mutable value shared with a closure.
final class Box<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T
    init(_ value: T) { stored = value }
    var value: T {
        get { lock.lock(); defer { lock.unlock() }; return stored }
        set { lock.lock(); stored = newValue; lock.unlock() }
    }
}
