/// The archive's last entry: how many entries came before it and the digest of their manifest.
///
/// tar has no checksum over file data and libarchive writes zstd frames without one, and a tar stream cut at an
/// entry boundary reads as a complete archive. The trailer lets the extractor tell a whole, intact stream from a
/// truncated or corrupted one. It is never written to disk.
struct StreamTrailer: Equatable {
    /// The reserved name of the trailer entry at the root of the archive.
    static let name = ".kaplan-archive-trailer"
    /// The largest trailer body an extractor reads.
    static let maxSize = 4096
    private static let magic = "kaplan-archive-trailer 1"

    /// Entries before the trailer.
    var entries: Int
    /// ``TreeManifest/digest`` of those entries.
    var manifestDigest: String

    /// The body of the trailer entry.
    var encoded: [UInt8] {
        Array("\(Self.magic)\nentries \(entries)\nmanifest-sha256 \(manifestDigest)\n".utf8)
    }

    /// Parses a trailer body, or nil if it is not one.
    init?(decoding body: [UInt8]) {
        let lines = String(decoding: body, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count == 4, lines[0] == Self.magic, lines[3].isEmpty,
            lines[1].hasPrefix("entries "), let count = Int(lines[1].dropFirst("entries ".count)),
            lines[2].hasPrefix("manifest-sha256 ")
        else { return nil }
        let digest = String(lines[2].dropFirst("manifest-sha256 ".count))
        guard digest.count == 64, digest.allSatisfy({ $0.isHexDigit && !$0.isUppercase }) else { return nil }
        self.init(entries: count, manifestDigest: digest)
    }

    /// Creates a trailer.
    init(entries: Int, manifestDigest: String) {
        self.entries = entries
        self.manifestDigest = manifestDigest
    }
}
