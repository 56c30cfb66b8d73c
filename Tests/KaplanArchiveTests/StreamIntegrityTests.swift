import Foundation
import KaplanArchive
import Testing

/// A damaged stream must end in an ArchiveError: never a crash, a hang, or a silently different tree.
@Suite struct StreamIntegrityTests {
    /// A small tree (no root needed) whose stream is mostly incompressible file data.
    private func makeStream(_ compression: ArchiveCompression) throws -> (ArchiveResult, [UInt8]) {
        try withScratchDirectories(1) { directories in
            let root = directories[0]
            try FileManager.default.createDirectory(atPath: root + "/etc/sub", withIntermediateDirectories: true)
            try writeFile(root + "/etc/config", Array(String(repeating: "key = value\n", count: 2000).utf8))
            for index in 0..<6 {
                try writeFile(
                    root + "/etc/sub/blob\(index)", pseudoRandomBytes(150_000 + index * 1000, seed: UInt64(index + 40)))
            }
            try writeFile(root + "/last", Array("the end\n".utf8))
            return try archiveToMemory(TreeArchiver(root: root, compression: compression))
        }
    }

    /// Extracts `stream` through both APIs into fresh directories; returns the errors (nil where it succeeded).
    private func extractBothWays(_ stream: [UInt8]) throws -> [ArchiveError?] {
        var errors: [ArchiveError?] = []
        try withScratchDirectories(2) { directories in
            do {
                _ = try extract(stream, into: directories[0])
                errors.append(nil)
            } catch {
                errors.append(archiveError(error))
            }
            let session = try TreeExtractor(destination: directories[1]).start(bufferLimit: 64 * 1024)
            do {
                var offset = 0
                while offset < stream.count {
                    let end = min(offset + 7 * 1024, stream.count)
                    try session.feed(Array(stream[offset..<end]))
                    offset = end
                }
                _ = try session.finish()
                errors.append(nil)
            } catch {
                errors.append(archiveError(error))
            }
        }
        return errors
    }

    private func archiveError(_ error: any Error) -> ArchiveError {
        if let error = error as? ArchiveError { return error }
        Issue.record("expected an ArchiveError, got \(error)")
        return ArchiveError(kind: .library, function: "test", message: "\(error)")
    }

    @Test func intactStreamsExtract() throws {
        for compression in [ArchiveCompression.zstd(level: 3), .zstd(level: 19), .zstd(level: 1, workers: 2), .none] {
            let (_, stream) = try makeStream(compression)
            let errors = try extractBothWays(stream)
            #expect(errors.allSatisfy { $0 == nil }, "\(compression): \(errors)")
        }
    }

    /// One flipped byte anywhere in the compressed stream (even inside an incompressible, stored zstd block).
    @Test(arguments: [0.1, 0.25, 0.5, 0.75, 0.9])
    func corruptedZstdStreamThrows(at fraction: Double) throws {
        let (_, intact) = try makeStream(.zstd(level: 3))
        var stream = intact
        let index = Int(Double(stream.count) * fraction)
        stream[index] ^= 0x5a
        for error in try extractBothWays(stream) {
            #expect(error != nil, "byte \(index) of \(stream.count) flipped, yet extraction succeeded")
            if let error { print("corrupt at \(index)/\(stream.count): \(error.kind): \(error)") }
        }
    }

    /// tar has no checksum over file data: only the trailer's manifest digest catches this.
    @Test func corruptedFileDataInUncompressedStreamThrows() throws {
        let (_, intact) = try makeStream(.none)
        var stream = intact
        stream[stream.count / 2] ^= 0x01
        for error in try extractBothWays(stream) {
            #expect(error?.kind == .integrity)
        }
    }

    @Test(arguments: [0.0, 0.01, 0.3, 0.5, 0.99])
    func truncatedZstdStreamThrows(keeping fraction: Double) throws {
        let (_, intact) = try makeStream(.zstd(level: 3))
        let stream = Array(intact.prefix(Int(Double(intact.count) * fraction)))
        for error in try extractBothWays(stream) {
            #expect(error != nil, "\(stream.count) of \(intact.count) bytes extracted without error")
        }
    }

    /// Cut exactly between two entries, a tar stream looks complete; the missing trailer gives it away.
    @Test func uncompressedStreamCutAtAnEntryBoundaryThrows() throws {
        let (_, intact) = try makeStream(.none)
        let name = Array(".kaplan-archive-trailer".utf8)
        guard
            let at = (0...(intact.count - name.count)).first(where: {
                intact[$0..<($0 + name.count)].elementsEqual(name)
            })
        else {
            Issue.record("no trailer in the stream")
            return
        }
        let cut = at - at % 512
        for error in try extractBothWays(Array(intact.prefix(cut))) {
            #expect(error?.kind == .truncated)
        }
        // Mid-entry cuts are caught by libarchive itself.
        for error in try extractBothWays(Array(intact.prefix(intact.count / 2 + 3))) {
            #expect(error != nil)
        }
    }

    @Test func rejectsBadLevels() throws {
        for compression in [ArchiveCompression.zstd(level: 0), .zstd(level: 23), .zstd(level: 3, workers: -1)] {
            #expect {
                _ = try makeStream(compression)
            } throws: { ($0 as? ArchiveError)?.kind == .invalidArgument }
        }
    }

    @Test func garbageIsRejected() throws {
        for error in try extractBothWays(pseudoRandomBytes(100_000, seed: 99)) {
            #expect(error?.kind == .library)
        }
        for error in try extractBothWays([]) {
            #expect(error != nil)
        }
    }
}
