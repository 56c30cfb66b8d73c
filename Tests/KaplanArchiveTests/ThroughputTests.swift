import Foundation
import KaplanArchive
import Testing

/// Prints archive+extract throughput next to `tar | tar` on the same data; asserts nothing about speed.
@Suite struct ThroughputTests {
    @Test func archiveAndExtractVersusTar() throws {
        try withScratchDirectories(5) { directories in
            let source = directories[0]
            var total = 0
            // ~200 MiB: 96 files of 2 MiB, half random and half repetitive text, plus 2000 small files.
            let text = Array(String(repeating: "kaplan clones a golden node; ", count: 40_000).utf8)
            for index in 0..<96 {
                let directory = source + "/big/\(index % 8)"
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                let bytes = pseudoRandomBytes(1 << 20, seed: UInt64(index + 1)) + text.prefix(1 << 20)
                try writeFile(directory + "/file\(index)", bytes)
                total += bytes.count
            }
            for index in 0..<2000 {
                let directory = source + "/small/\(index % 50)"
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                let bytes = pseudoRandomBytes(2048, seed: UInt64(index + 1000)) + text.prefix(2048)
                try writeFile(directory + "/f\(index)", bytes)
                total += bytes.count
            }
            try shell("sync")
            let mebibytes = Double(total) / Double(1 << 20)
            // Unoptimised code (and SHA-256 in it) is several times slower: a debug build measures only the pipeline.
            #if DEBUG
                let build = "debug build; run `swift test -c release` for meaningful figures"
                let pipelined: [ArchiveCompression] = [.zstd(level: 3)]
                let separately: [ArchiveCompression] = []
            #else
                let build = "release build"
                let pipelined: [ArchiveCompression] = [.zstd(level: 3), .zstd(level: 1), .none]
                let separately: [ArchiveCompression] = [.zstd(level: 3), .none]
            #endif

            func rate(_ seconds: Double) -> String {
                String(format: "%.0f MiB/s (%.2f s)", mebibytes / seconds, seconds)
            }
            func timed(_ body: () throws -> Void) rethrows -> Double {
                let start = ContinuousClock.now
                try body()
                return (ContinuousClock.now - start) / .seconds(1)
            }

            var lines: [String] = []
            for (index, compression) in pipelined.enumerated() {
                let destination = directories[1 + index]
                var compressed: Int64 = 0
                let seconds = try timed {
                    let (archived, extracted) = try streamTree(
                        TreeArchiver(root: source, compression: compression), into: destination, chunk: 64 * 1024,
                        bufferLimit: 8 << 20)
                    #expect(archived.manifest == extracted.manifest)
                    compressed = archived.statistics.compressedBytes
                }
                lines.append("kaplan \(compression): \(rate(seconds)), stream \(compressed >> 20) MiB")
            }
            // Each side alone: what the golden can send, and what one node can take in.
            for compression in separately {
                var stream: [UInt8] = []
                stream.reserveCapacity(total + total / 8)
                let archiveSeconds = try timed {
                    _ = try TreeArchiver(root: source, compression: compression).archive {
                        stream.append(contentsOf: $0)
                    }
                }
                let destination = directories[4] + "/\(stream.count)"
                try FileManager.default.createDirectory(atPath: destination, withIntermediateDirectories: true)
                let extractSeconds = try timed { _ = try extract(stream, into: destination, chunk: 64 * 1024) }
                lines.append(
                    "  \(compression) archive only: \(rate(archiveSeconds)); extract only: \(rate(extractSeconds))")
                try FileManager.default.removeItem(atPath: destination)
            }
            let tarSeconds = try timed {
                try shell("tar -cf - -C \(quoted(source)) . | tar -xf - -C \(quoted(directories[4]))")
            }
            lines.append("tar -cf - | tar -xf -: \(rate(tarSeconds))")
            print(
                "throughput on \(String(format: "%.0f", mebibytes)) MiB, \(build):\n  "
                    + lines.joined(separator: "\n  "))
        }
    }
}
