import KaplanArchive
import KaplanEngine

/// Copies one filesystem's tree through the deployment's stream format: a pax+zstd archive produced by
/// libarchive and extracted as it arrives, with every file's digest compared on the way out.
public enum TreeStream {
    /// What one copy did.
    public struct Result: Sendable {
        /// The golden side's manifest digest.
        public var digest: String
        /// Bytes of stream produced (after compression).
        public var streamBytes: UInt64
        /// Bytes of file data copied.
        public var fileBytes: UInt64
    }

    /// Archives `source` (one filesystem; `excluding` relative paths are recreated empty) and extracts it into
    /// `destination`, calling `progress` with the stream bytes so far; throws when the manifests differ.
    public static func copy(
        source: String, destination: String, excluding: [String], compression: ArchiveCompression,
        what: String, progress: (UInt64) -> Void = { _ in }
    ) throws -> Result {
        let session: ExtractionSession
        do {
            session = try TreeExtractor(destination: destination).start()
        } catch {
            throw HostError("stream-failed", "\(what): cannot start writing into \(destination)", cause: "\(error)")
        }
        var total: UInt64 = 0
        let sent: ArchiveResult
        do {
            sent = try TreeArchiver(root: source, excluding: excluding, compression: compression).archive { bytes in
                try session.feed(bytes)
                total += UInt64(bytes.count)
                progress(total)
            }
        } catch {
            session.cancel()
            throw HostError("stream-failed", "\(what): streaming \(source) failed", cause: "\(error)")
        }
        let received: ExtractionResult
        do {
            received = try session.finish()
        } catch {
            throw HostError("stream-failed", "\(what): writing into \(destination) failed", cause: "\(error)")
        }
        let differences = sent.manifest.differences(from: received.manifest)
        guard differences.isEmpty else {
            throw HostError(
                "verify-failed", "\(what): what was written to \(destination) differs from the golden",
                cause: differences.prefix(5).joined(separator: "; "))
        }
        return Result(digest: sent.manifest.digest, streamBytes: total, fileBytes: UInt64(max(0, sent.statistics.fileBytes)))
    }
}
