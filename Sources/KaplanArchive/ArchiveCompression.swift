/// How the pax stream is compressed.
public enum ArchiveCompression: Sendable, Hashable, Codable {
    /// No compression: the raw pax stream.
    case none
    /// zstd at `level` (1…22; 3 is zstd's default), with `workers` compression threads (0: on the archiving thread).
    case zstd(level: Int, workers: Int = 0)
}
