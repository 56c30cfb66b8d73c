import Crypto
import Foundation
import KaplanCipher

/// Seals and opens one stream's chunks with AES-256-GCM (BoringSSL, straight into the result: `AESGCM`). The key is HKDF-SHA256(psk, salt: session id,
/// info: "kaplan data v1" ‖ stream id), the nonce is 4 zero bytes ‖ the sequence number, and the clear header is
/// the additional data. Relays forward sealed chunks unchanged; multicast datagrams carry the same bytes.
/// Never seal two different plaintexts under one sequence number of one stream: that would reuse a nonce.
public struct ChunkSealer: Sendable {
    /// The session whose chunks this sealer handles.
    public let session: SessionID
    /// The stream whose chunks this sealer handles.
    public let stream: UInt64
    /// The stream's key, expanded once; shared by every copy of this sealer and every thread.
    private let key: AESGCM.Key

    /// The AES-GCM tag size in bytes.
    public static let tagSize = 16
    /// Bytes a sealed chunk adds to its plaintext: header and tag.
    public static let overhead = ChunkHeader.size + tagSize

    /// Derives the stream's key from the session key.
    public init(key: SessionKey, session: SessionID, stream: UInt64) {
        var info = Array("kaplan data v1".utf8)
        Bytes.append(stream, to: &info)
        let bytes = HKDF<SHA256>.deriveKey(inputKeyMaterial: key.symmetric, salt: session.bytes, info: info, outputByteCount: AESGCM.keySize)
            .withUnsafeBytes { Array($0) }
        // BoringSSL fails to make a context only when it cannot allocate one; nothing sensible can continue.
        guard let expanded = AESGCM.Key(bytes) else { fatalError("AES-256-GCM key setup failed inside BoringSSL") }
        self.key = expanded
        self.session = session
        self.stream = stream
    }

    static func nonce(_ sequence: UInt64) -> [UInt8] {
        var bytes: [UInt8] = [0, 0, 0, 0]
        Bytes.append(sequence, to: &bytes)
        return bytes
    }

    /// Seals a plaintext (at most 4 GiB - 1) into header ‖ ciphertext ‖ tag, encrypting straight into the result.
    public func seal(sequence: UInt64, segment: UInt32, flags: ChunkFlags, plaintext: UnsafeRawBufferPointer) -> [UInt8] {
        precondition(plaintext.count <= Int(UInt32.max), "a chunk holds at most 4 GiB - 1 bytes")
        let header = ChunkHeader(session: session, stream: stream, sequence: sequence, segment: segment, flags: flags, length: UInt32(plaintext.count)).encoded
        let nonce = Self.nonce(sequence)
        let total = header.count + plaintext.count + Self.tagSize
        return [UInt8](unsafeUninitializedCapacity: total) { buffer, count in
            let out = UnsafeMutableRawBufferPointer(buffer)
            header.withUnsafeBytes { out.copyMemory(from: $0) }
            let sealed = nonce.withUnsafeBytes { nonce in
                header.withUnsafeBytes { aad in
                    key.seal(nonce: nonce, aad: aad, plaintext: plaintext,
                             ciphertext: UnsafeMutableRawBufferPointer(rebasing: out[header.count..<(total - Self.tagSize)]),
                             tag: UnsafeMutableRawBufferPointer(rebasing: out[(total - Self.tagSize)...]))
                }
            }
            // Sealing fails only when BoringSSL itself fails (out of memory); nothing sensible can continue.
            guard sealed else { fatalError("AES-256-GCM sealing failed inside BoringSSL") }
            count = total
        }
    }

    /// Seals a byte array.
    public func seal(sequence: UInt64, segment: UInt32, flags: ChunkFlags, plaintext: [UInt8]) -> [UInt8] {
        plaintext.withUnsafeBytes { seal(sequence: sequence, segment: segment, flags: flags, plaintext: $0) }
    }

    /// Checks and decrypts a sealed chunk: `bad-chunk` when malformed, `wrong-session` / `wrong-stream` when it
    /// belongs elsewhere, `chunk-forged` when any bit of it was altered or it was sealed under another key.
    public func open(_ sealed: UnsafeRawBufferPointer) throws(NetworkError) -> (header: ChunkHeader, plaintext: [UInt8]) {
        let header = try Self.peekHeader(sealed)
        guard header.session == session else {
            throw NetworkError("wrong-session", "chunk \(header.sequence) belongs to deployment session \(header.session), not to this one (\(session)); a node of another deployment is sending on this link or group")
        }
        guard header.stream == stream else {
            throw NetworkError("wrong-stream", "chunk \(header.sequence) belongs to stream \(header.stream), not to stream \(stream) of this session")
        }
        let body = UnsafeRawBufferPointer(rebasing: sealed[ChunkHeader.size..<(sealed.count - Self.tagSize)])
        let nonce = Self.nonce(header.sequence)
        var authentic = false
        let plaintext = [UInt8](unsafeUninitializedCapacity: body.count) { buffer, count in
            authentic = nonce.withUnsafeBytes { nonce in
                key.open(nonce: nonce, aad: UnsafeRawBufferPointer(rebasing: sealed[0..<ChunkHeader.size]),
                         ciphertext: body, tag: UnsafeRawBufferPointer(rebasing: sealed[(sealed.count - Self.tagSize)...]),
                         plaintext: UnsafeMutableRawBufferPointer(buffer))
            }
            // Unauthenticated bytes never leave this function.
            count = authentic ? body.count : 0
        }
        guard authentic else {
            throw NetworkError(
                "chunk-forged",
                "chunk \(header.sequence) of stream \(header.stream) failed authentication: it was altered in transit or sealed with another session key; it is dropped")
        }
        return (header, plaintext)
    }

    /// Opens a byte array.
    public func open(_ sealed: [UInt8]) throws(NetworkError) -> (header: ChunkHeader, plaintext: [UInt8]) {
        try sealed.typedBytes { (buffer) throws(NetworkError) in try open(buffer) }
    }

    /// Parses a sealed chunk's header without the key (relays route by it) and checks the total length agrees.
    public static func peekHeader(_ sealed: UnsafeRawBufferPointer) throws(NetworkError) -> ChunkHeader {
        let header = try ChunkHeader(decoding: sealed)
        let expected = Int(header.length) + overhead
        guard sealed.count == expected else {
            throw NetworkError("bad-chunk", "chunk \(header.sequence) claims \(header.length) plaintext bytes, so \(expected) sealed bytes, but \(sealed.count) arrived")
        }
        return header
    }
}
