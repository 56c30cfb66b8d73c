import Crypto
import Foundation
import Testing

@testable import KaplanNetwork

/// Throughput figures for the wire layer's crypto and a loopback link, printed for the benchmark notes.
/// Skipped unless KAPLAN_BENCH=1 (run it from a release build: `swift test -c release --filter WireBenchTests`).
@Suite("Wire bench (KAPLAN_BENCH=1)", .timeLimit(.minutes(2)))
struct WireBenchTests {
    static let enabled = ProcessInfo.processInfo.environment["KAPLAN_BENCH"] == "1"

    /// MB/s (10^6 bytes per second) of `bytes` in `elapsed`.
    static func rate(_ bytes: Int, _ elapsed: Duration) -> String {
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return String(format: "%.0f MB/s", Double(bytes) / seconds / 1e6)
    }

    @Test func cryptoAndLoopbackThroughput() throws {
        guard Self.enabled else {
            print("SKIP wire bench: set KAPLAN_BENCH=1 to measure (best from a release build)")
            return
        }
        let chunk = 1 << 20
        let rounds = 256  // 256 MiB per figure
        let key = WireHarness.key()
        let session = SessionID.random()
        let sealer = ChunkSealer(key: key, session: session, stream: 1)
        let plaintext = Bytes.random(chunk)
        let clock = ContinuousClock()

        // Steady state: a small working set of chunks, reused, as a streaming sender and receiver would have.
        var sealed: [[UInt8]] = []
        let sealTime = clock.measure {
            for i in 0..<rounds {
                let s = sealer.seal(sequence: UInt64(i), segment: 0, flags: [], plaintext: plaintext)
                if sealed.count < 16 { sealed.append(s) }
            }
        }
        var opened = 0
        let openTime = try clock.measure {
            for i in 0..<rounds { opened += try sealer.open(sealed[i % sealed.count]).plaintext.count }
        }
        #expect(opened == rounds * chunk)

        // The same function through swift-crypto's Swift API (a sealed box built by copying, a new plaintext):
        // what ChunkSealer would pay without KaplanCipher's direct calls.
        let boxKey = SymmetricKey(size: .bits256)
        let nonce = try AES.GCM.Nonce(data: [UInt8](repeating: 0, count: 12))
        let box = try AES.GCM.seal(plaintext, using: boxKey, nonce: nonce)
        var boxed = 0
        let boxedOpenTime = try clock.measure {
            for _ in 0..<rounds {
                let copy = try AES.GCM.SealedBox(nonce: nonce, ciphertext: box.ciphertext, tag: box.tag)
                boxed += try AES.GCM.open(copy, using: boxKey).withUnsafeBytes { Array($0) }.count
            }
        }
        #expect(boxed == rounds * chunk)

        let macKey = SymmetricKey(size: .bits256)
        var macs = 0
        let macTime = clock.measure {
            for _ in 0..<rounds { macs += HMAC<SHA256>.authenticationCode(for: plaintext, using: macKey).byteCount }
        }
        #expect(macs == rounds * 32)

        // Sealed 1 MiB chunks through a real link on loopback: send on one thread, receive and open on this one.
        let (client, server) = try WireHarness.linkPair(key: key, session: session, maxChunk: chunk)
        defer { client.close(); server.close() }
        let frozen = sealed
        let linkStart = clock.now
        let sender = WireThread("bench-sender") { () -> Result<Void, NetworkError> in
            Result { () throws(NetworkError) in for i in 0..<rounds { try client.send(chunk: frozen[i % frozen.count]) } }
        }
        var received = 0
        for _ in 0..<rounds {
            guard case .chunk(let s) = try server.receive() else { break }
            received += try sealer.open(s).plaintext.count
        }
        let linkTime = clock.now - linkStart
        #expect(WireHarness.code(sender.join()) == "ok")
        #expect(received == rounds * chunk)

        let total = rounds * chunk
        print("wire bench (1 MiB chunks, \(rounds) MiB each):")
        print("  AES-256-GCM seal        \(Self.rate(total, sealTime))")
        print("  AES-256-GCM open        \(Self.rate(total, openTime))")
        print("  seal+open (one core)    \(Self.rate(total, sealTime + openTime))")
        print("  swift-crypto open (box + array copies)  \(Self.rate(total, boxedOpenTime))")
        print("  HMAC-SHA256             \(Self.rate(total, macTime))")
        print("  loopback link, receive+open  \(Self.rate(total, linkTime))")
    }
}
