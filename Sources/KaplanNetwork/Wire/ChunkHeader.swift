/// The clear header of a sealed chunk; its 44 bytes are the AEAD's additional data (see README.md, "Wire format").
public struct ChunkHeader: Sendable, Hashable {
    /// The encoded size in bytes.
    public static let size = 44
    /// The header's leading bytes, "KC".
    static let magic: (UInt8, UInt8) = (0x4B, 0x43)
    /// The chunk format version.
    static let version: UInt8 = 1

    /// The deployment session.
    public var session: SessionID
    /// The stream within the session.
    public var stream: UInt64
    /// The chunk's number in the stream, from 0; it also makes the AEAD nonce.
    public var sequence: UInt64
    /// The segment (a file or part of the stream) the chunk belongs to.
    public var segment: UInt32
    /// End-of-segment and end-of-stream marks.
    public var flags: ChunkFlags
    /// The plaintext length in bytes.
    public var length: UInt32

    /// Creates a header.
    public init(session: SessionID, stream: UInt64, sequence: UInt64, segment: UInt32, flags: ChunkFlags, length: UInt32) {
        self.session = session
        self.stream = stream
        self.sequence = sequence
        self.segment = segment
        self.flags = flags
        self.length = length
    }

    /// The 44 header bytes.
    public var encoded: [UInt8] {
        var out: [UInt8] = [Self.magic.0, Self.magic.1, Self.version, flags.rawValue]
        out.reserveCapacity(Self.size)
        out += session.bytes
        Bytes.append(stream, to: &out)
        Bytes.append(sequence, to: &out)
        Bytes.append(segment, to: &out)
        Bytes.append(length, to: &out)
        return out
    }

    /// Parses the first 44 bytes; `bad-chunk` when they are not a chunk header of this version.
    public init(decoding bytes: UnsafeRawBufferPointer) throws(NetworkError) {
        guard bytes.count >= Self.size else {
            throw NetworkError("bad-chunk", "a sealed chunk of \(bytes.count) bytes is shorter than its \(Self.size)-byte header")
        }
        guard bytes[0] == Self.magic.0, bytes[1] == Self.magic.1 else {
            throw NetworkError("bad-chunk", "the data is not a kaplan chunk: it starts with \(Bytes.preview(bytes.prefix(4)))")
        }
        guard bytes[2] == Self.version else {
            throw NetworkError("bad-chunk", "the chunk has format version \(bytes[2]) and this node reads version \(Self.version); run the same kaplan release on every node")
        }
        let flags = ChunkFlags(rawValue: bytes[3])
        guard ChunkFlags.known.isSuperset(of: flags) else {
            throw NetworkError("bad-chunk", "the chunk has unknown flag bits \(String(bytes[3], radix: 2)); run the same kaplan release on every node")
        }
        self.flags = flags
        session = SessionID(uncheckedBytes: Array(bytes[4..<20]))
        stream = Bytes.uint64(bytes, at: 20)
        sequence = Bytes.uint64(bytes, at: 28)
        segment = Bytes.uint32(bytes, at: 36)
        length = Bytes.uint32(bytes, at: 40)
    }
}
