import Foundation
import KaplanEngine
import KaplanGraph
import KaplanModel

/// A node's host during a chain deployment: every step goes to the real host, except that the golden is remote
/// and the stream step writes the chunks arriving in the relay's ring, segment by segment, then checks them
/// against the stream's authenticated summary.
final class ChainNodeHost: KaplanEngine.Host, @unchecked Sendable {
    let base: any SegmentedStreamHost
    let ring: ChunkRing
    let segments: [String]
    let goldenIdentity: String
    let streamReady: @Sendable () -> Void

    init(base: any SegmentedStreamHost, ring: ChunkRing, segments: [String], goldenIdentity: String,
         streamReady: @escaping @Sendable () -> Void) {
        self.base = base
        self.ring = ring
        self.segments = segments
        self.goldenIdentity = goldenIdentity
        self.streamReady = streamReady
    }

    func probe(node: String, target: Target) async throws -> DeviceState { try await base.probe(node: node, target: target) }
    func openGolden(_ source: Golden.Source, mounts: [String]) async throws -> GoldenHandle {
        GoldenHandle(root: "", identity: goldenIdentity)
    }
    func closeGolden(_ golden: GoldenHandle) async {}
    func writeTable(node: String, target: Target, layout: Layout, partitions: [Partition]) async throws {
        try await base.writeTable(node: node, target: target, layout: layout, partitions: partitions)
    }
    func makeFilesystem(node: String, target: Target, entry: Layout.Entry, partition: Partition) async throws -> String {
        try await base.makeFilesystem(node: node, target: target, entry: entry, partition: partition)
    }
    func mount(node: String, target: Target, entry: Layout.Entry, partition: Partition) async throws {
        try await base.mount(node: node, target: target, entry: entry, partition: partition)
    }
    func fixup(node: String, fixup: Step.Fixup, facts: CloneFacts) async throws {
        try await base.fixup(node: node, fixup: fixup, facts: facts)
    }
    func rebuildInitrd(node: String, tool: Bootloader.InitrdTool, modules: [String], facts: CloneFacts) async throws {
        try await base.rebuildInitrd(node: node, tool: tool, modules: modules, facts: facts)
    }
    func installBootloader(node: String, bootloader: Bootloader, target: Target, facts: CloneFacts) async throws {
        try await base.installBootloader(node: node, bootloader: bootloader, target: target, facts: facts)
    }
    func writeStamp(node: String, stamp: DeploymentStamp) async throws { try await base.writeStamp(node: node, stamp: stamp) }
    func unmount(node: String, mountpoint: String) async throws { try await base.unmount(node: node, mountpoint: mountpoint) }
    func verify(node: String, target: Target, facts: CloneFacts) async throws { try await base.verify(node: node, target: target, facts: facts) }
    func cleanup(node: String) async { await base.cleanup(node: node) }

    func receiveStream(
        node: String, golden: GoldenHandle, mounts: [String], excluded: [String], progress: @escaping @Sendable (UInt64) -> Void
    ) async throws -> String {
        streamReady()
        let ring = self.ring
        let segments = self.segments
        let base = self.base
        let progressBox = ProgressSink(progress)
        let cancelled = CancelFlag()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<String, any Error>) in
                _ = Worker("kaplan-stream-write") {
                    continuation.resume(with: Result {
                        try Self.write(node: node, ring: ring, segments: segments, base: base, progress: progressBox, cancelled: cancelled)
                    })
                }
            }
        } onCancel: {
            cancelled.set()
        }
    }

    /// Pulls chunks from the ring and writes them, segment by segment; checks the summary at the end.
    private static func write(
        node: String, ring: ChunkRing, segments: [String], base: any SegmentedStreamHost, progress: ProgressSink, cancelled: CancelFlag
    ) throws -> String {
        let reader = ring.register(from: 0, name: "disk")
        defer { ring.unregister(reader) }
        var writer: (any SegmentWriter)? = nil
        var current: UInt32? = nil
        var digests: [String] = []
        var bytes: UInt64 = 0
        var sequence: UInt64 = 0
        defer { writer?.cancel() }
        while true {
            if cancelled.isSet { throw HostError("cancelled", "\(node).stream: stopped") }
            let (entry, fetch) = ring.take(sequence, reader: reader, timeout: .milliseconds(500))
            switch fetch {
            case .timeout: continue
            case .closed: throw HostError("stream-failed", "\(node).stream: the stream was stopped (the node left the chain)")
            case .end: throw HostError("stream-failed", "\(node).stream: the stream ended without its summary chunk")
            case .gap: throw HostError("internal", "\(node).stream: chunk \(sequence) left the ring before it was written")
            case .chunk: break
            }
            guard let entry else { continue }
            guard let plaintext = entry.plaintext else {
                throw HostError("internal", "\(node).stream: chunk \(sequence) was taken from the relay's ring twice, so its data is gone; this is a kaplan bug: re-run the deployment and report it")
            }
            sequence += 1
            let header = entry.header
            if header.segment == StreamSummary.segment {
                let summary: StreamSummary
                do { summary = try JSONDecoder().decode(StreamSummary.self, from: Data(plaintext)) } catch {
                    throw HostError("verify-failed", "\(node).stream: the stream's summary is unreadable", cause: "\(error)")
                }
                guard summary.segments == segments, summary.chunks == header.sequence, summary.bytes == bytes,
                    summary.digests == digests
                else {
                    throw HostError(
                        "verify-failed",
                        "\(node).stream: what was received differs from what the golden sent (\(digests.count) of \(summary.segments.count) segments, \(bytes) of \(summary.bytes) bytes)")
                }
                return summary.streamDigest
            }
            guard Int(header.segment) < segments.count else {
                throw HostError("verify-failed", "\(node).stream: chunk \(header.sequence) names segment \(header.segment), the stream has \(segments.count)")
            }
            if current != header.segment {
                guard writer == nil, Int(header.segment) == digests.count else {
                    throw HostError("verify-failed", "\(node).stream: segment \(header.segment) began before segment \(current.map(String.init) ?? "-") ended")
                }
                writer = try base.openSegment(node: node, filesystem: segments[Int(header.segment)])
                current = header.segment
            }
            if !plaintext.isEmpty { try writer!.write(plaintext) }
            if slowDiskMicroseconds > 0 { usleep(slowDiskMicroseconds) }
            bytes += UInt64(plaintext.count)
            progress.report(bytes)
            if header.flags.contains(.endOfSegment) {
                let w = writer!
                writer = nil
                digests.append(try w.finish())
            }
        }
    }
}

/// Test hook: KAPLAN_TEST_SLOW_DISK_MS=N makes the stream step wait N ms after each chunk it writes (a slow disk
/// for the eviction lab test).
let slowDiskMicroseconds: UInt32 = ProcessInfo.processInfo.environment["KAPLAN_TEST_SLOW_DISK_MS"].flatMap { UInt32($0) }.map { $0 * 1000 } ?? 0

/// A progress callback shared with a worker thread.
final class ProgressSink: Sendable {
    let report: @Sendable (UInt64) -> Void
    init(_ report: @escaping @Sendable (UInt64) -> Void) { self.report = report }
    func report(_ bytes: UInt64) { report(bytes) }
}

/// A flag set from a cancellation handler.
final class CancelFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.lock(); value = true; lock.unlock() }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
}
