import Foundation
import KaplanEngine

/// The golden side of the stream: archives each golden filesystem in turn (one segment each), cuts the bytes into
/// chunks, seals them and appends them to the spool; ends with the summary chunk.
enum StreamProducer {
    /// Produces the whole stream; returns its summary. On failure the spool is marked failed (nodes see it end).
    static func run(
        host: any SegmentedStreamHost, segments: [String], excluded: [String], compressed: Bool, chunkSize: Int,
        sealer: ChunkSealer, spool: ChunkSpool
    ) throws -> StreamSummary {
        var sequence: UInt64 = 0
        var bytes: UInt64 = 0
        var digests: [String] = []
        var buffer: [UInt8] = []
        buffer.reserveCapacity(chunkSize)
        func emit(segment: UInt32, flags: ChunkFlags, _ payload: [UInt8]) throws {
            let sealed = payload.withUnsafeBytes { sealer.seal(sequence: sequence, segment: segment, flags: flags, plaintext: $0) }
            try spool.append(sealed, last: flags.contains(.endOfStream))
            sequence += 1
        }
        do {
            for (index, fs) in segments.enumerated() {
                let segment = UInt32(index)
                let digest = try host.archiveSegment(fs, excluded: excluded, compressed: compressed) { piece in
                    var rest = piece[...]
                    while !rest.isEmpty {
                        let take = min(chunkSize - buffer.count, rest.count)
                        buffer.append(contentsOf: rest.prefix(take))
                        rest = rest.dropFirst(take)
                        if buffer.count == chunkSize {
                            try emit(segment: segment, flags: [], buffer)
                            bytes += UInt64(buffer.count)
                            buffer.removeAll(keepingCapacity: true)
                        }
                    }
                }
                try emit(segment: segment, flags: .endOfSegment, buffer)
                bytes += UInt64(buffer.count)
                buffer.removeAll(keepingCapacity: true)
                digests.append(digest)
            }
            let summary = StreamSummary(segments: segments, digests: digests, chunks: sequence, bytes: bytes)
            try emit(segment: StreamSummary.segment, flags: [.endOfSegment, .endOfStream], Array(try JSONEncoder().encode(summary)))
            return summary
        } catch {
            spool.fail("\(error)")
            throw error
        }
    }
}
