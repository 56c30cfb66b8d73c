import Foundation
import KaplanArchive
import KaplanEngine

extension LinuxHost: SegmentedStreamHost {
    public func goldenSegments() -> [String] {
        state.withLock { $0.goldenFilesystems }.sorted()
    }

    public func archiveSegment(_ filesystem: String, excluded: [String], compressed: Bool, sink: ([UInt8]) throws -> Void) throws -> String {
        let root = state.withLock { $0.goldenRoot }
        let source = root == "/" ? filesystem : (filesystem == "/" ? root : root + filesystem)
        let relative = excluded.compactMap { e -> String? in
            if filesystem == "/" { return String(e.dropFirst()) }
            return e.hasPrefix(filesystem + "/") ? String(e.dropFirst(filesystem.count + 1)) : nil
        }
        do {
            let result = try TreeArchiver(root: source, excluding: relative, compression: compressed ? .zstd(level: 3) : .none)
                .archive { buffer in try sink(Array(buffer)) }
            return result.manifest.digest
        } catch {
            throw HostError("stream-failed", "golden.serve: archiving \(source) failed", cause: "\(error)")
        }
    }

    public func openSegment(node: String, filesystem: String) throws -> any SegmentWriter {
        let destination = filesystem == "/" ? nodeRoot(node) : nodeRoot(node) + filesystem
        do {
            return ExtractingSegmentWriter(session: try TreeExtractor(destination: destination).start(), destination: destination, node: node)
        } catch {
            throw HostError("stream-failed", "\(node).stream: cannot start writing into \(destination)", cause: "\(error)")
        }
    }
}

/// A segment written by libarchive as it arrives; `finish` checks the stream's trailer (entry count, manifest digest).
final class ExtractingSegmentWriter: SegmentWriter {
    let session: ExtractionSession
    let destination: String
    let node: String

    init(session: ExtractionSession, destination: String, node: String) {
        self.session = session
        self.destination = destination
        self.node = node
    }

    func write(_ bytes: [UInt8]) throws {
        do { try session.feed(bytes) } catch {
            throw HostError("stream-failed", "\(node).stream: writing into \(destination) failed", cause: "\(error)")
        }
    }

    func finish() throws -> String {
        do { return try session.finish().manifest.digest } catch {
            throw HostError("verify-failed", "\(node).stream: what was written to \(destination) is not what the golden sent", cause: "\(error)")
        }
    }

    func cancel() { session.cancel() }
}

extension LinuxHost {
    /// Removes this session's directory under /run/kaplan once nothing is mounted below it (call after the last
    /// node's cleanup and `closeGolden`); leaves it, and says nothing, when something still is.
    public func removeRunDirectory() {
        guard Mounts.below(runRoot).isEmpty else { return }
        // Only directories kaplan made: remove empty ones bottom-up, never a file or anything still in use.
        let fm = FileManager.default
        guard let walker = fm.enumerator(atPath: runRoot) else { return }
        let directories = walker.compactMap { $0 as? String }.map { runRoot + "/" + $0 }.sorted { $0.count > $1.count }
        for d in directories { rmdir(d) }
        rmdir(runRoot)
    }
}
