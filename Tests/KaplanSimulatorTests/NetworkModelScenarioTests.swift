import KaplanModel
import KaplanSimulator
import Testing

/// Scenario validation, mapping from a plan's transport, determinism and the text rendering.
@Suite struct NetworkModelScenarioTests {
    @Test func invalidScenariosListEveryProblem() throws {
        let s = NetworkScenario(
            transport: .chain, nodeCount: 0, streamSize: ByteSize(0), lossRate: 1.5, diskRate: 0,
            faults: [.kill(3, atFraction: 0.5)])
        #expect(throws: NetworkScenarioError.self) { try NetworkSimulator.simulate(s) }
        let problems = s.problems()
        #expect(problems.count == 5)
        #expect(problems.contains("node count must be at least 1, not 0"))
        #expect(problems.contains { $0.contains("nodes are numbered 1…0") })

        let bad = NetworkScenario(
            transport: .multicast, nodeCount: 4, faults: [.kill(2, atFraction: 2), .lateJoin(1, atTime: -1)])
        #expect(
            bad.problems() == [
                "kill of node02 at fraction 2.0: the fraction must be in 0…1",
                "late join of node01 at t=-1.0: the time must be finite and ≥ 0",
            ])
    }

    @Test func aPlanTransportFillsTheProtocolParameters() {
        var transport = Transport.defaults(kind: .multicast, range: .file("p.yaml"))
        transport.chunkSize = ByteSize(4 << 20)
        transport.receiverTimeout = KaplanModel.Duration.seconds(7)
        transport.maxRate = BitRate(bitsPerSecond: 500_000_000)
        let s = NetworkScenario(
            transport: transport, nodeCount: 12, streamSize: ByteSize(1 << 30),
            linkRate: BitRate(bitsPerSecond: 1_000_000_000))
        #expect(s.transport == Transport.Kind.multicast)
        #expect(s.chunkSize == ByteSize(4 << 20))
        #expect(s.receiverTimeout == 7)
        #expect(s.stallTimeout == 10)
        #expect(s.bufferSize == ByteSize(64 << 20))
        #expect(s.maxRate == BitRate(bitsPerSecond: 500_000_000))
        #expect(s.problems().isEmpty)
    }

    @Test func namesFollowTheNodeCount() {
        #expect(NetworkScenario(transport: .chain, nodeCount: 8).name(ofNode: 7) == "node07")
        #expect(NetworkScenario(transport: .chain, nodeCount: 10_000).name(ofNode: 7) == "node00007")
        #expect(NetworkScenario(transport: .chain, nodeCount: 2, nodeNames: ["a", "b"]).name(ofNode: 2) == "b")
        #expect(NetworkScenario(transport: .chain, nodeCount: 2).name(ofNode: 0) == "golden")
    }

    @Test(arguments: Transport.Kind.allCases)
    func sameSeedSameOutcome(kind: Transport.Kind) throws {
        func scenario(seed: UInt64) -> NetworkScenario {
            NetworkScenario(
                transport: kind, nodeCount: 16, streamSize: ByteSize(32 << 20), lossRate: 0.02, seed: seed,
                faults: [.kill(3, atFraction: 0.4), .stall(5, atTime: 0.1, for: 12), .lateJoin(9, atTime: 0.05)])
        }
        let first = try NetworkSimulator.simulate(scenario(seed: 42))
        let again = try NetworkSimulator.simulate(scenario(seed: 42))
        #expect(first == again)
        #expect(first.rendered() == again.rendered())
        if kind == .multicast {
            let other = try NetworkSimulator.simulate(scenario(seed: 43))
            #expect(other.nodes.map(\.bytesResent) != first.nodes.map(\.bytesResent))
        }
    }

    @Test func renderingIsAStableTimeline() throws {
        let s = NetworkScenario(
            transport: .chain, nodeCount: 4, streamSize: ByteSize(64 << 20), diskRate: 1e12, cpuSecondsPerGiB: 0,
            faults: [.kill(2, atFraction: 0.5)])
        let text = try NetworkSimulator.simulate(s).rendered()
        // node02 dies holding 32 chunks while sending chunk 30 to node03: node03 resumes at 30 from node01's
        // ring, which sends chunks 30 and 31 a second time.
        let expected = """
            chain: 4 nodes, 64MiB stream in 1MiB chunks, link 1Gbit, latency 100us, loss 0%
              hop rate 119.2MiB/s (link 119.2MiB/s, TCP goodput 119.2MiB/s, CPU unlimited)
              relay ring / replay window 64 chunks; 4 sweeps, 1 rolled back

            node    status      start  finish  received  resent  upstream
            node01  ok         0.000s  0.537s     64MiB      0B    golden
            node02  ko killed  0.008s  0.277s     32MiB      0B    node01
            node03  ok         0.017s  1.562s     64MiB    2MiB    node01
            node04  ok         0.025s  1.571s     64MiB      0B    node03

            makespan 1.571s; 3 ok, 1 ko; golden sent 64MiB; resent 2MiB; 1 re-link
            finish times (ok nodes): p50 1.562s, p90 1.571s, p99 1.571s, max 1.571s
            re-links:
              t=1.277s node01 → node03 (death, cut out node02, resume at chunk 30)
            faults:
              node02 killed at 50% (t=0.277s): node01 re-linked to node03 after 1.0 s; node03 resumed at chunk 30 from node01's replay window

            """
        #expect(text == expected)
    }

    @Test func largeRunsAreSummarised() throws {
        let s = NetworkScenario(
            transport: .multicast, nodeCount: 200, streamSize: ByteSize(16 << 20), faults: [.kill(150, atTime: 0.05)])
        let text = try NetworkSimulator.simulate(s).rendered()
        let rows = text.split(separator: "\n").filter { $0.hasPrefix("node") }
        #expect(rows.count == 1 + 10 + 2)
        #expect(text.contains("  … 139 more"))
        #expect(text.contains("node150  ko dropped-timeout"))
        #expect(text.contains("finish times (ok nodes): p50 "))
    }
}
