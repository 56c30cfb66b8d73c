/// How the pax stream is compressed.
public enum ArchiveCompression: Sendable, Hashable, Codable {
    /// No compression: the raw pax stream.
    case none
    /// zstd at `level` (1…19), with `workers` extra compression threads (0: compress on the calling thread).
    case zstd(level: Int, workers: Int = 0)
}
