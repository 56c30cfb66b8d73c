import KaplanDigest
/// Every entry of an archive in stream order, with one digest over all of them, to compare golden and target.
public struct TreeManifest: Sendable, Hashable, Codable {
    /// The entries, in the order the archive holds them.
    public var entries: [ManifestEntry]
    /// SHA-256 over the canonical encoding of all entries, in order.
    public var digest: String

    /// Creates a manifest from entries, computing the digest.
    public init(entries: [ManifestEntry]) {
        var builder = Builder()
        for entry in entries { builder.append(entry) }
        self = builder.finish()
    }

    private init(entries: [ManifestEntry], digest: String) {
        self.entries = entries
        self.digest = digest
    }

    /// Human-readable differences between `self` (expected) and `other` (actual), at most `limit` of them.
    public func differences(from other: TreeManifest, limit: Int = 20) -> [String] {
        var found: [String] = []
        let theirs = Dictionary(other.entries.map { ($0.path, $0) }, uniquingKeysWith: { first, _ in first })
        let ours = Set(entries.map(\.path))
        for entry in entries where found.count < limit {
            guard let actual = theirs[entry.path] else {
                found.append("\(entry.path): missing")
                continue
            }
            if actual != entry {
                found.append("\(entry.path): expected \(entry), found \(actual)")
            }
        }
        for entry in other.entries where found.count < limit && !ours.contains(entry.path) {
            found.append("\(entry.path): unexpected")
        }
        if found.isEmpty && entries != other.entries {
            found.append("same entries in a different order")
        }
        return found
    }

    /// Accumulates entries and their digest as a stream goes by.
    struct Builder {
        private(set) var entries: [ManifestEntry] = []
        private var hasher = SHA256()
        private var encoder = CanonicalEncoder()

        /// Adds the next entry.
        mutating func append(_ entry: ManifestEntry) {
            encoder.reset()
            entry.encode(into: &encoder)
            encoder.bytes.withUnsafeBytes { hasher.update($0) }
            entries.append(entry)
        }

        /// The digest so far, without ending the builder.
        var currentDigest: String {
            var copy = hasher
            return copy.finalizeHex()
        }

        /// The finished manifest.
        func finish() -> TreeManifest {
            TreeManifest(entries: entries, digest: currentDigest)
        }
    }
}
