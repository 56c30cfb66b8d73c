import Crypto
import Foundation
import Testing

@testable import KaplanNetwork

@Suite("Wire chunks: AES-256-GCM sealing", .timeLimit(.minutes(1)))
struct WireChunkTests {
    let key = WireHarness.key()
    let session = SessionID.random()

    @Test func layoutConstants() {
        #expect(ChunkHeader.size == 44)
        #expect(ChunkSealer.overhead == 60)
    }

    @Test(arguments: [0, 1, 15, 16, 17, 4096, 65_537, 1 << 20])
    func roundTrip(size: Int) throws {
        let sealer = ChunkSealer(key: key, session: session, stream: 7)
        let plaintext = Bytes.random(size)
        let sealed = sealer.seal(sequence: 12_345_678_901, segment: 42, flags: [.endOfSegment], plaintext: plaintext)
        #expect(sealed.count == size + ChunkSealer.overhead)
        if size >= 16 {
            #expect(Array(sealed[ChunkHeader.size..<(ChunkHeader.size + 16)]) != Array(plaintext.prefix(16)), "the body is not encrypted")
        }
        let opened = try sealer.open(sealed)
        #expect(opened.plaintext == plaintext)
        #expect(opened.header == ChunkHeader(session: session, stream: 7, sequence: 12_345_678_901, segment: 42, flags: [.endOfSegment], length: UInt32(size)))
    }

    /// The stream key computed independently of ChunkSealer: HKDF-SHA256(psk, salt: session, info: label ‖ stream).
    func streamKey(_ stream: UInt64) -> SymmetricKey {
        var info = Array("kaplan data v1".utf8)
        Bytes.append(stream, to: &info)
        return HKDF<SHA256>.deriveKey(inputKeyMaterial: key.symmetric, salt: session.bytes, info: info, outputByteCount: 32)
    }

    /// ChunkSealer calls BoringSSL's AEAD functions itself (KaplanCipher); swift-crypto's Swift API must agree byte
    /// for byte in both directions, empty, around the 16-byte block, and up to a full 1 MiB chunk.
    @Test(arguments: [0, 1, 15, 16, 17, 255, 4096, 65_537, 1 << 20])
    func chunkSealerAndSwiftCryptoAgree(size: Int) throws {
        let sealer = ChunkSealer(key: key, session: session, stream: 9)
        let plaintext = Bytes.random(size)
        let sequence: UInt64 = 0x0102_0304_0506_0708
        let sealed = sealer.seal(sequence: sequence, segment: 3, flags: [], plaintext: plaintext)
        let header = Array(sealed[0..<ChunkHeader.size])
        let nonce = try AES.GCM.Nonce(data: [0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8])

        // Sealed here, opened by swift-crypto.
        let box = try AES.GCM.SealedBox(nonce: nonce, ciphertext: sealed[ChunkHeader.size..<(sealed.count - 16)], tag: sealed[(sealed.count - 16)...])
        #expect(Array(try AES.GCM.open(box, using: streamKey(9), authenticating: header)) == plaintext)

        // Sealed by swift-crypto, opened here.
        let theirs = try AES.GCM.seal(plaintext, using: streamKey(9), nonce: nonce, authenticating: header)
        let framed = header + Array(theirs.ciphertext) + Array(theirs.tag)
        #expect(framed == sealed, "the same key, nonce and data give the same bytes")
        #expect(try sealer.open(framed).plaintext == plaintext)

        // A tag made under another stream's key is refused.
        let foreign = try AES.GCM.seal(plaintext, using: streamKey(10), nonce: nonce, authenticating: header)
        #expect {
            try sealer.open(header + Array(foreign.ciphertext) + Array(foreign.tag))
        } throws: { ($0 as? NetworkError)?.code == "chunk-forged" }
    }

    @Test func sealingIsDeterministicPerSequence() {
        // Relays and multicast carry the very same bytes; distinct sequences give distinct ciphertexts.
        let a = ChunkSealer(key: key, session: session, stream: 1)
        let b = ChunkSealer(key: key, session: session, stream: 1)
        let plaintext = Bytes.random(100)
        #expect(a.seal(sequence: 5, segment: 0, flags: [], plaintext: plaintext) == b.seal(sequence: 5, segment: 0, flags: [], plaintext: plaintext))
        let other = a.seal(sequence: 6, segment: 0, flags: [], plaintext: plaintext)
        #expect(Array(other[ChunkHeader.size...]) != Array(a.seal(sequence: 5, segment: 0, flags: [], plaintext: plaintext)[ChunkHeader.size...]))
    }

    @Test func everySingleBitFlipFailsToOpen() {
        let sealer = ChunkSealer(key: key, session: session, stream: 2)
        let sealed = sealer.seal(sequence: 3, segment: 1, flags: [.endOfStream], plaintext: Array("sixteen bytes!!!".utf8))
        #expect(sealed.count == 76)
        var codes: [String: Int] = [:]
        for bit in 0..<(sealed.count * 8) {
            var altered = sealed
            altered[bit / 8] ^= UInt8(1 << (bit % 8))
            do {
                _ = try sealer.open(altered)
                Issue.record("flipping bit \(bit) (byte \(bit / 8)) was not detected")
            } catch {
                codes[error.code, default: 0] += 1
            }
        }
        #expect(codes.values.reduce(0, +) == 608)
        #expect(Set(codes.keys).isSubset(of: ["bad-chunk", "wrong-session", "wrong-stream", "chunk-forged"]))
        #expect(codes["chunk-forged", default: 0] >= 16 * 8 * 2, "body and tag flips: \(codes)")
    }

    @Test func wrongKeysFail() throws {
        let sealed = ChunkSealer(key: key, session: session, stream: 1).seal(sequence: 0, segment: 0, flags: [], plaintext: [1, 2, 3])
        func code(_ sealer: ChunkSealer) -> String {
            do {
                _ = try sealer.open(sealed)
                return "ok"
            } catch {
                return error.code
            }
        }
        #expect(code(ChunkSealer(key: key, session: session, stream: 1)) == "ok")
        #expect(code(ChunkSealer(key: key, session: .random(), stream: 1)) == "wrong-session")
        #expect(code(ChunkSealer(key: key, session: session, stream: 2)) == "wrong-stream")
        #expect(code(ChunkSealer(key: WireHarness.key(), session: session, stream: 1)) == "chunk-forged")

        // A chunk relabelled as another stream (header rewritten) fails under that stream's key too.
        var relabelled = sealed
        relabelled[27] ^= 0x03  // stream 1 → 2
        #expect(throws: NetworkError.self) { try ChunkSealer(key: key, session: session, stream: 2).open(relabelled) }
        // A truncated chunk is malformed before any crypto.
        #expect {
            try ChunkSealer(key: key, session: session, stream: 1).open(Array(sealed.dropLast()))
        } throws: { ($0 as? NetworkError)?.code == "bad-chunk" }
    }

    @Test func peekHeaderNeedsNoKey() throws {
        let sealed = ChunkSealer(key: key, session: session, stream: 0xDEAD_BEEF_0001).seal(
            sequence: 77, segment: 9, flags: [.endOfSegment, .endOfStream], plaintext: [UInt8](repeating: 0, count: 500))
        let header = try sealed.typedBytes { (b) throws(NetworkError) in try ChunkSealer.peekHeader(b) }
        #expect(header.session == session)
        #expect(header.stream == 0xDEAD_BEEF_0001)
        #expect(header.sequence == 77)
        #expect(header.segment == 9)
        #expect(header.flags == [.endOfSegment, .endOfStream])
        #expect(header.length == 500)
        #expect(Array(sealed[0..<ChunkHeader.size]) == header.encoded)

        var unknownFlag = sealed
        unknownFlag[3] |= 0x80
        var badMagic = sealed
        badMagic[0] = UInt8(ascii: "X")
        var longer = sealed
        longer.append(0)
        for (what, bytes) in [("flags", unknownFlag), ("magic", badMagic), ("length", longer), ("short", Array(sealed.prefix(50)))] {
            #expect(throws: NetworkError.self, "\(what)") { try bytes.typedBytes { (b) throws(NetworkError) in try ChunkSealer.peekHeader(b) } }
        }
    }
}
