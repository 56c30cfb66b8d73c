import Foundation
import KaplanDigest

/// The stream's last chunk: what a node must have received and written, authenticated like every chunk.
struct StreamSummary: Codable, Sendable, Equatable {
    /// The segment reserved for the summary chunk.
    static let segment = UInt32.max
    /// Filesystems, in segment order.
    var segments: [String]
    /// Manifest digest of each segment, as the golden archived it.
    var digests: [String]
    /// Data chunks before the summary.
    var chunks: UInt64
    /// Stream bytes (plaintext) before the summary.
    var bytes: UInt64

    /// The deployment's stream digest (the same formula as a local apply's), recorded in the clone's stamp.
    var streamDigest: String {
        var d = KaplanDigest.SHA256()
        for (fs, digest) in zip(segments, digests) { d.update("\(fs)=\(digest)\n") }
        return d.hex()
    }
}
