/// A frame read from a link.
public enum Frame: Sendable {
    /// A control message, already checked against the link's MAC and counter.
    case control([UInt8])
    /// A sealed chunk as it travelled (it authenticates itself: open it with a ChunkSealer).
    case chunk([UInt8])
}
