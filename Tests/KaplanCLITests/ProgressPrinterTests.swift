import Foundation
import Testing

@testable import KaplanCLI

/// The live stream line: bytes, rate and — once the golden has produced the whole stream — the size and an ETA.
@Suite struct ProgressPrinterTests {
    @Test func theStreamLineShowsAnETAOnceTheSizeIsKnown() {
        let MiB: UInt64 = 1 << 20
        // Before the size is known: bytes and rate only.
        #expect(ProgressPrinter.streamLine(node: "node03", bytes: 212 * MiB, rate: 11 * 1_048_576, expected: nil)
            == "node03.stream 212MiB, 11MiB/s")
        // 304 MiB left at 11 MiB/s: 27.6 s, rounded up.
        #expect(ProgressPrinter.streamLine(node: "node03", bytes: 212 * MiB, rate: 11 * 1_048_576, expected: 516 * MiB)
            == "node03.stream 212MiB of 516MiB, 11MiB/s, ETA 0:28")
        // Hours when it takes that long; no ETA without a rate (first line of a node) or when nothing moves.
        #expect(ProgressPrinter.streamLine(node: "n", bytes: 0, rate: 1_048_576, expected: 4000 * MiB)
            == "n.stream 0B of 4000MiB, 1MiB/s, ETA 1:06:40")
        #expect(ProgressPrinter.streamLine(node: "n", bytes: 5 * MiB, rate: nil, expected: 10 * MiB) == "n.stream 5MiB of 10MiB")
        #expect(ProgressPrinter.streamLine(node: "n", bytes: 5 * MiB, rate: 0, expected: 10 * MiB) == "n.stream 5MiB of 10MiB, 0B/s")
        // More than announced (never expected; the summary check fails such a node): no size, no ETA.
        #expect(ProgressPrinter.streamLine(node: "n", bytes: 11 * MiB, rate: 1_048_576, expected: 10 * MiB) == "n.stream 11MiB, 1MiB/s")
    }
}
