import Foundation
import KaplanArchive
import Testing

@Suite struct ExtractionSessionTests {
    /// The archiver's sink buffers go straight into the session (it copies them), as a local relay would do.
    @Test func feedsRawSinkBuffers() throws {
        try withScratchDirectories(2) { directories in
            try writeFile(directories[0] + "/blob", pseudoRandomBytes(3 << 20, seed: 8))
            let session = try TreeExtractor(destination: directories[1]).start(bufferLimit: 256 * 1024)
            let archived = try TreeArchiver(root: directories[0]).archive { try session.feed($0) }
            let extracted = try session.finish()
            #expect(archived.manifest == extracted.manifest)
            #expect(extracted.statistics.compressedBytes == archived.statistics.compressedBytes)
        }
    }

    /// Feeding stops with the extraction's error instead of blocking on a full queue nobody reads.
    @Test func feedThrowsOnceTheExtractionHasFailed() throws {
        try withScratchDirectories(1) { directories in
            let session = try TreeExtractor(destination: directories[0]).start(bufferLimit: 16 * 1024)
            let garbage = pseudoRandomBytes(4096, seed: 5)
            var thrown: (any Error)? = nil
            for _ in 0..<10_000 {
                do {
                    try session.feed(garbage)
                } catch {
                    thrown = error
                    break
                }
            }
            #expect((thrown as? ArchiveError)?.kind == .library)
            #expect(throws: ArchiveError.self) { _ = try session.finish() }
        }
    }

    @Test func cancelStopsTheExtraction() throws {
        try withScratchDirectories(1) { directories in
            let session = try TreeExtractor(destination: directories[0]).start()
            try session.feed([UInt8](repeating: 0, count: 100))
            session.cancel()
            #expect {
                _ = try session.finish()
            } throws: { ($0 as? ArchiveError)?.kind == .cancelled }
            #expect(throws: ArchiveError.self) { try session.feed([1, 2, 3]) }
        }
    }

    /// Dropping a session without finishing it ends its thread (the test would hang otherwise).
    @Test func abandonedSessionsDoNotHang() throws {
        try withScratchDirectories(1) { directories in
            for _ in 0..<20 {
                let session = try TreeExtractor(destination: directories[0]).start()
                try session.feed([0x28, 0xb5, 0x2f, 0xfd])
            }
        }
    }

    @Test func sinkErrorsAreReportedWithTheirCause() throws {
        struct LinkDown: Error {}
        try withScratchDirectories(1) { directories in
            try writeFile(directories[0] + "/blob", pseudoRandomBytes(1 << 20, seed: 3))
            var delivered = 0
            #expect {
                _ = try TreeArchiver(root: directories[0], compression: .none).archive { bytes in
                    delivered += bytes.count
                    if delivered > 200_000 { throw LinkDown() }
                }
            } throws: { error in
                guard let error = error as? ArchiveError else { return false }
                return error.kind == .sinkFailed && error.cause is LinkDown
            }
        }
    }

    @Test func sourceErrorsAreReportedWithTheirCause() throws {
        struct LinkDown: Error {}
        try withScratchDirectories(2) { directories in
            try writeFile(directories[0] + "/blob", pseudoRandomBytes(1 << 20, seed: 3))
            let (_, stream) = try archiveToMemory(TreeArchiver(root: directories[0]))
            var offset = 0
            #expect {
                _ = try TreeExtractor(destination: directories[1]).extract {
                    guard offset < stream.count / 2 else { throw LinkDown() }
                    defer { offset += 1000 }
                    return Array(stream[offset..<(offset + 1000)])
                }
            } throws: { error in
                guard let error = error as? ArchiveError else { return false }
                return error.kind == .sourceFailed && error.cause is LinkDown
            }
        }
    }
}
