import Crypto
import Foundation

/// One multicast datagram's clear header: which session, stream, chunk and fragment it carries.
struct DatagramHeader: Equatable, Sendable {
    /// Bytes of the header on the wire.
    static let size = 16
    /// First byte of every kaplan multicast datagram.
    static let magic: UInt8 = 0x4B  // "K"
    /// Datagram type: a fragment of a sealed chunk with an 8-byte tag (version 2; version 1 had a 12-byte tag).
    /// A kaplan of the other version counts these datagrams as malformed, not as forged.
    static let fragmentType: UInt8 = 0x02

    /// The session id's first 4 bytes (the whole id keys the MAC).
    var sessionTag: UInt32
    /// The stream id's low 16 bits (the whole id keys the MAC).
    var streamTag: UInt16
    /// The chunk's sequence number.
    var chunk: UInt32
    /// The fragment's index: 0..<count data fragments; count and up are parity fragments (forward error correction).
    var fragment: UInt16
    /// How many data fragments the chunk has.
    var count: UInt16
}

/// Builds and checks multicast datagrams: a 16-byte header, a payload, and an 8-byte tag, the first 8 bytes of
/// HMAC-SHA256(key, header ‖ payload) with key = HKDF-SHA256(psk, salt: session id, info: "kaplan multicast v1" ‖
/// stream id). A datagram of another session, another stream, or one altered in any bit fails the tag; the receiver
/// drops and counts it, nothing of it is ever written. The payload is a piece of a sealed chunk, already encrypted
/// and authenticated as a whole by `ChunkSealer`: the tag only keeps forged datagrams out of the reassembly.
// Crypto.SymmetricKey is immutable once made but not marked Sendable in swift-crypto 3.
struct DatagramCodec: @unchecked Sendable {
    /// Bytes of the tag. 64 bits: a forger on the LAN sending a million datagrams a second would need ~290,000
    /// years on average to get one through, and that one would still fail its chunk's AES-GCM open (128-bit tag)
    /// before anything is written. With the 16-byte header a datagram then carries what a TCP segment with
    /// timestamps carries in the same frame (1448 bytes at MTU 1500).
    static let tagSize = 8
    /// Bytes a datagram adds to its payload.
    static let overhead = DatagramHeader.size + tagSize
    /// IPv4 and UDP headers.
    static let ipUDPHeaders = 28

    let sessionTag: UInt32
    let streamTag: UInt16
    private let key: SymmetricKey
    /// SHA-256 after the key's inner (key ⊕ 0x36…) and outer (key ⊕ 0x5C…) pads: HMAC-SHA256 of one datagram is
    /// then a copy of each state and two `finalize`s (RFC 2104), without setting the key up per datagram, and
    /// through the concrete SHA256 type, not the generic HMAC (its key setup and Swift's generic-metadata lookups
    /// were ~3 % of all CPU samples in a `perf record -a` of the lab's 8-node 1 % loss run). The tag is byte for byte
    /// HMAC-SHA256's (tested).
    private let inner: SHA256
    private let outer: SHA256

    /// The codec for one session's stream.
    init(key: SessionKey, session: SessionID, stream: UInt64) {
        var info = Array("kaplan multicast v1".utf8)
        Bytes.append(stream, to: &info)
        self.key = HKDF<SHA256>.deriveKey(inputKeyMaterial: key.symmetric, salt: session.bytes, info: info, outputByteCount: 32)
        // The 32-byte key is shorter than SHA-256's 64-byte block: zero-padded, never hashed first.
        var block = self.key.withUnsafeBytes { Array($0) } + [UInt8](repeating: 0, count: 32)
        var i = SHA256(), o = SHA256()
        for n in block.indices { block[n] ^= 0x36 }
        i.update(data: block)
        for n in block.indices { block[n] ^= 0x36 ^ 0x5C }
        o.update(data: block)
        inner = i
        outer = o
        sessionTag = session.bytes.withUnsafeBytes { Bytes.uint32($0, at: 0) }
        streamTag = UInt16(truncatingIfNeeded: stream)
    }

    /// The payload bytes that fit one datagram on a link with this MTU.
    static func payloadSize(mtu: Int) -> Int { mtu - ipUDPHeaders - overhead }

    /// Writes header ‖ payload ‖ tag into `out` (which must hold `overhead + payload.count` bytes); returns the length.
    func build(chunk: UInt32, fragment: UInt16, count: UInt16, payload: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) -> Int {
        let length = Self.overhead + payload.count
        precondition(out.count >= length)
        let o = out.baseAddress!.assumingMemoryBound(to: UInt8.self)
        o[0] = DatagramHeader.magic
        o[1] = DatagramHeader.fragmentType
        for i in 0..<4 { o[2 + i] = UInt8(truncatingIfNeeded: sessionTag >> (24 - 8 * UInt32(i))) }
        o[6] = UInt8(streamTag >> 8)
        o[7] = UInt8(streamTag & 0xFF)
        for i in 0..<4 { o[8 + i] = UInt8(truncatingIfNeeded: chunk >> (24 - 8 * UInt32(i))) }
        o[12] = UInt8(fragment >> 8)
        o[13] = UInt8(fragment & 0xFF)
        o[14] = UInt8(count >> 8)
        o[15] = UInt8(count & 0xFF)
        if payload.count > 0 {
            (out.baseAddress! + DatagramHeader.size).copyMemory(from: payload.baseAddress!, byteCount: payload.count)
        }
        let body = UnsafeRawBufferPointer(start: out.baseAddress!, count: DatagramHeader.size + payload.count)
        let mac = tag(body)
        mac.withUnsafeBytes { m in
            (out.baseAddress! + DatagramHeader.size + payload.count).copyMemory(from: m.baseAddress!, byteCount: Self.tagSize)
        }
        return length
    }

    /// HMAC-SHA256(key, body), all 32 bytes (the datagram carries the first `tagSize`).
    func tag(_ body: UnsafeRawBufferPointer) -> SHA256.Digest {
        var i = inner
        i.update(bufferPointer: body)
        var o = outer
        i.finalize().withUnsafeBytes { o.update(bufferPointer: $0) }
        return o.finalize()
    }

    /// A datagram as a new array.
    func build(chunk: UInt32, fragment: UInt16, count: UInt16, payload: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Self.overhead + payload.count)
        _ = payload.withUnsafeBytes { p in out.withUnsafeMutableBytes { build(chunk: chunk, fragment: fragment, count: count, payload: p, into: $0) } }
        return out
    }

    /// Why a datagram was dropped.
    enum Rejection: Error, Equatable {
        /// Too short, wrong magic or type.
        case malformed
        /// Another session's or another stream's datagram.
        case foreign
        /// The tag does not match: altered, or sealed with another key.
        case forged
    }

    /// Parses and authenticates a datagram; the payload is `datagram[DatagramHeader.size ..< count - tagSize]`.
    func open(_ datagram: UnsafeRawBufferPointer) -> Result<DatagramHeader, Rejection> {
        guard datagram.count >= Self.overhead, datagram[0] == DatagramHeader.magic, datagram[1] == DatagramHeader.fragmentType else {
            return .failure(.malformed)
        }
        let header = DatagramHeader(
            sessionTag: Bytes.uint32(datagram, at: 2),
            streamTag: UInt16(datagram[6]) << 8 | UInt16(datagram[7]),
            chunk: Bytes.uint32(datagram, at: 8),
            fragment: UInt16(datagram[12]) << 8 | UInt16(datagram[13]),
            count: UInt16(datagram[14]) << 8 | UInt16(datagram[15]))
        guard header.sessionTag == sessionTag, header.streamTag == streamTag else { return .failure(.foreign) }
        let bodyCount = datagram.count - Self.tagSize
        let mac = tag(UnsafeRawBufferPointer(rebasing: datagram[0..<bodyCount]))
        let good = mac.withUnsafeBytes { m -> Bool in
            var diff: UInt8 = 0
            for i in 0..<Self.tagSize { diff |= m[i] ^ datagram[bodyCount + i] }
            return diff == 0
        }
        guard good, header.count > 0 else { return .failure(.forged) }
        return .success(header)
    }
}
