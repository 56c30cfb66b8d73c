/// What ``TreeArchiver/archive(to:)`` produced: counts, the manifest, and what it left out.
public struct ArchiveResult: Sendable, Hashable, Codable {
    /// Counts of entries and bytes.
    public var statistics: ArchiveStatistics
    /// Every archived entry with its content digest, in stream order.
    public var manifest: TreeManifest
    /// Paths that no tar archive can hold (sockets), left out.
    public var skipped: [String]
    /// Exclusions that matched nothing in the tree (likely typos).
    public var unmatchedExclusions: [String]

    /// Creates a result.
    public init(statistics: ArchiveStatistics, manifest: TreeManifest, skipped: [String], unmatchedExclusions: [String])
    {
        self.statistics = statistics
        self.manifest = manifest
        self.skipped = skipped
        self.unmatchedExclusions = unmatchedExclusions
    }
}
