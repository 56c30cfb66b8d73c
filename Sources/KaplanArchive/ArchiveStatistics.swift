/// Counts of what went through one archive stream.
public struct ArchiveStatistics: Sendable, Hashable, Codable {
    /// Archive entries, the trailer not included.
    public var entries: Int = 0
    /// Regular files with their own content (hard links not counted).
    public var regularFiles: Int = 0
    /// Logical bytes of regular file content, holes of sparse files included.
    public var fileBytes: Int64 = 0
    /// Bytes of the uncompressed pax stream.
    public var archiveBytes: Int64 = 0
    /// Bytes of the compressed stream (handed to the sink, or taken from the source).
    public var compressedBytes: Int64 = 0

    /// Creates empty statistics.
    public init() {}
}
