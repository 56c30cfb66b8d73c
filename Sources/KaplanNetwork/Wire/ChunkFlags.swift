/// Chunk header flags.
public struct ChunkFlags: OptionSet, Sendable, Hashable {
    /// The raw bits (one byte on the wire).
    public var rawValue: UInt8

    /// Wraps raw bits.
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// The last chunk of a segment.
    public static let endOfSegment = ChunkFlags(rawValue: 1)
    /// The last chunk of the stream.
    public static let endOfStream = ChunkFlags(rawValue: 2)

    /// Every bit this version defines; any other bit makes a chunk malformed.
    public static let known: ChunkFlags = [.endOfSegment, .endOfStream]
}
