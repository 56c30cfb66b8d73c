import Foundation
import Testing

@testable import KaplanNetwork

/// A relay's window on its own: the replay window, backpressure from the slowest reader, and the accounting the
/// agent's closing line reports (who held the upstream back, how far behind each reader fell).
@Suite struct ChunkRingTests {
    static let session = SessionID(bytes: Array(0..<16))!

    static func entry(_ sequence: UInt64, last: Bool = false) -> ChunkRing.Entry {
        let header = ChunkHeader(session: session, stream: 1, sequence: sequence, segment: 0, flags: last ? .endOfStream : [], length: 4)
        return ChunkRing.Entry(sealed: [UInt8](repeating: UInt8(truncatingIfNeeded: sequence), count: 8), plaintext: [1, 2, 3, 4], header: header)
    }

    static func isChunk(_ fetch: ChunkFetch) -> Bool {
        if case .chunk = fetch { return true }
        return false
    }

    @Test func theDiskTakesThePlaintextAndTheSealedBytesStayForTheReplayWindow() throws {
        let ring = ChunkRing(capacity: 4)
        let disk = ring.register(from: 0, name: "disk")
        for s in UInt64(0)..<3 { #expect(ring.append(Self.entry(s), isCurrent: { true }) == .stored) }
        // The disk takes chunks 0 and 1: they come with their plaintext, which the ring then lets go.
        for s in UInt64(0)..<2 {
            let taken = try #require(ring.take(s, reader: disk, timeout: .milliseconds(10)).entry)
            #expect(taken.plaintext == [1, 2, 3, 4])
            #expect(taken.header.sequence == s)
        }
        // A second take of chunk 1 (never done by the stream step, which reads once) finds no plaintext left.
        #expect(try #require(ring.take(1, reader: disk, timeout: .milliseconds(10)).entry).plaintext == nil)
        // A downstream neighbour re-linking from chunk 0 still gets every sealed chunk, taken or not.
        let late = ring.register(from: 0, name: "node5")
        for s in UInt64(0)..<3 {
            guard case .chunk(let sealed) = ring.sealed(s, reader: late, timeout: .milliseconds(10)) else {
                Issue.record("chunk \(s) should still be in the replay window")
                continue
            }
            #expect(sealed == [UInt8](repeating: UInt8(s), count: 8))
        }
        // Serving sealed bytes leaves chunk 2's plaintext for the disk.
        #expect(try #require(ring.take(2, reader: disk, timeout: .milliseconds(10)).entry).plaintext == [1, 2, 3, 4])
        ring.close()
    }

    @Test func aReaderBehindByTheWholeWindowHoldsTheUpstreamBackAndIsNamed() throws {
        let ring = ChunkRing(capacity: 2)
        let disk = ring.register(from: 0, name: "disk")
        let downstream = ring.register(from: 0, name: "node4")
        // The downstream takes each chunk as it comes and asks for the next; the disk stays at chunk 0.
        for s in UInt64(0)..<2 {
            #expect(ring.append(Self.entry(s), isCurrent: { true }) == .stored)
            #expect(Self.isChunk(ring.sealed(s, reader: downstream, timeout: .milliseconds(10))))
            #expect(!Self.isChunk(ring.sealed(s + 1, reader: downstream, timeout: .milliseconds(1))))
        }
        // The window is full and the disk still needs chunk 0: the third append waits until the disk moves on.
        let released = Date().addingTimeInterval(0.4)
        let mover = Thread {
            Thread.sleep(until: released)
            _ = ring.take(1, reader: disk, timeout: .milliseconds(10))
        }
        mover.start()
        let start = Date()
        #expect(ring.append(Self.entry(2), isCurrent: { true }) == .stored)
        let waited = Date().timeIntervalSince(start)
        #expect(waited >= 0.3)
        let a = ring.accounting
        let held = try #require(a.heldBack["disk"])
        #expect(held >= 0.3 && held <= waited + 0.05)
        #expect(a.heldBack["node4"] == nil)
        #expect(a.maxLag["disk"] == 2)
        #expect(a.maxLag["node4"] == 1)
        // Chunk 0 left the window: a reader that re-links from it is told the oldest held.
        let late = ring.register(from: 0, name: "node5")
        if case .gap(let oldest) = ring.sealed(0, reader: late, timeout: .milliseconds(1)) { #expect(oldest == 1) } else {
            Issue.record("chunk 0 should have left the window")
        }
        ring.close()
    }

    @Test func aRingThatNeverFillsReportsNoHoldBack() {
        let ring = ChunkRing(capacity: 8)
        let disk = ring.register(from: 0, name: "disk")
        for s in UInt64(0)..<4 {
            #expect(ring.append(Self.entry(s, last: s == 3), isCurrent: { true }) == .stored)
            #expect(ring.take(s, reader: disk, timeout: .milliseconds(10)).entry != nil)
        }
        #expect(ring.isComplete)
        if case .end = ring.take(4, reader: disk, timeout: .milliseconds(1)).fetch {} else { Issue.record("the stream should have ended") }
        #expect(ring.accounting.heldBack.isEmpty)
        let line = ChainAgent.describe(received: (4, 32, 2), accounting: ring.accounting)
        #expect(line == "received 4 chunk(s), 0.0 MiB in 2.0 s from the first to the last (0.0 Mbit/s); the window never held the upstream back; most chunks behind: disk 2")
        let held = ChainAgent.describe(received: (4, 4 << 20, 1), accounting: .init(heldBack: ["disk": 1.26, "node4": 0.01], maxLag: ["disk": 64]))
        #expect(held == "received 4 chunk(s), 4.0 MiB in 1.0 s from the first to the last (33.6 Mbit/s); the window held the upstream back 1.3 s for disk; most chunks behind: disk 64")
    }
}
