/// A chain repair: at `time`, node `from` started feeding node `to` (or became the chain's tail).
public struct NetworkRelink: Sendable, Hashable {
    /// What made the chain re-link.
    public enum Cause: String, Sendable, Hashable {
        /// A node downstream of `from` died and its death was detected.
        case death
        /// A node downstream of `from` was evicted for stalling the chain.
        case eviction
        /// A late joiner was appended at the tail.
        case join
    }

    /// When the new link started, in seconds.
    public var time: Double
    /// The feeding node (0 is the golden).
    public var from: Int
    /// The fed node; nil when nothing is left downstream and `from` became the tail.
    public var to: Int?
    /// The nodes that were cut out of the chain between `from` and `to`.
    public var removed: [Int]
    /// The first chunk `to` still needed.
    public var resumeChunk: Int
    /// How many of those chunks the golden served directly because they had left `from`'s replay window.
    public var chunksFromGolden: Int
    /// Why the chain re-linked.
    public var cause: Cause

    /// Creates a re-link record.
    public init(
        time: Double, from: Int, to: Int?, removed: [Int], resumeChunk: Int, chunksFromGolden: Int, cause: Cause
    ) {
        self.time = time
        self.from = from
        self.to = to
        self.removed = removed
        self.resumeChunk = resumeChunk
        self.chunksFromGolden = chunksFromGolden
        self.cause = cause
    }
}
