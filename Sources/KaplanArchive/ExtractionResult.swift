/// What an extraction wrote: counts, and the manifest computed from the bytes as they were written.
public struct ExtractionResult: Sendable, Hashable, Codable {
    /// Counts of entries and bytes.
    public var statistics: ArchiveStatistics
    /// Every extracted entry with the digest of the content written, in stream order.
    public var manifest: TreeManifest

    /// Creates a result.
    public init(statistics: ArchiveStatistics, manifest: TreeManifest) {
        self.statistics = statistics
        self.manifest = manifest
    }
}
