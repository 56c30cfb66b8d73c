import KaplanModel
import KaplanSimulator
import Testing

/// The fast engines against the reference engines (an event queue chunk by chunk for the chain; datagram by
/// datagram for multicast) on small cases: N ≤ 8, 64 chunks.
@Suite struct NetworkModelReferenceTests {
    static let mib = 1_048_576.0

    /// A named small chain case: 64 chunks of 64 KiB, an 8-chunk ring, a 1 Gbit link, 500 MiB/s disks.
    struct ChainCase: CustomTestStringConvertible, Sendable {
        var name: String
        var nodes: Int
        var faults: [NetworkFault]
        var loss = 0.0
        var cores: Int? = nil
        var stallTimeout = 0.05
        var testDescription: String { name }

        var scenario: NetworkScenario {
            NetworkScenario(
                transport: .chain, nodeCount: nodes, streamSize: ByteSize(4 << 20), chunkSize: ByteSize(64 << 10),
                lossRate: loss, bufferSize: ByteSize(512 << 10), diskRate: 500 * 1_048_576, cpuSecondsPerGiB: 1.5,
                sharedCores: cores, detectionDelay: 0.01, stallTimeout: stallTimeout, faults: faults)
        }
    }

    static let chainCases: [ChainCase] = [
        ChainCase(name: "no faults, 1 node", nodes: 1, faults: []),
        ChainCase(name: "no faults, 8 nodes", nodes: 8, faults: []),
        ChainCase(name: "kill first", nodes: 8, faults: [.kill(1, atFraction: 0.4)]),
        ChainCase(name: "kill middle", nodes: 8, faults: [.kill(4, atFraction: 0.4)]),
        ChainCase(name: "kill last", nodes: 8, faults: [.kill(8, atFraction: 0.4)]),
        ChainCase(name: "kill at a time", nodes: 6, faults: [.kill(3, atTime: 0.013)]),
        ChainCase(
            name: "two deaths in a row", nodes: 8, faults: [.kill(4, atFraction: 0.3), .kill(5, atFraction: 0.3)]),
        ChainCase(name: "two deaths at once", nodes: 8, faults: [.kill(4, atTime: 0.01), .kill(5, atTime: 0.01)]),
        ChainCase(name: "death during detection", nodes: 8, faults: [.kill(5, atTime: 0.01), .kill(4, atTime: 0.015)]),
        ChainCase(name: "stall evicted", nodes: 6, faults: [.stall(3, atTime: 0.01, for: 1)]),
        ChainCase(name: "short stall", nodes: 6, faults: [.stall(3, atTime: 0.01, for: 0.03)]),
        ChainCase(name: "slow disk", nodes: 6, faults: [.slowDisk(2, rate: 20 * 1_048_576)]),
        ChainCase(
            name: "gap served by the golden", nodes: 6,
            faults: [.slowDisk(5, rate: 20 * 1_048_576), .kill(4, atTime: 0.05)], stallTimeout: 10),
        ChainCase(name: "late joiner", nodes: 5, faults: [.lateJoin(2, atTime: 0.01)]),
        ChainCase(
            name: "late joiner killed", nodes: 5, faults: [.lateJoin(2, atTime: 0.01), .kill(2, atFraction: 0.5)]),
        ChainCase(name: "TCP loss", nodes: 4, faults: [], loss: 0.02),
        ChainCase(name: "shared cores and a death", nodes: 6, faults: [.kill(2, atFraction: 0.5)], cores: 2),
        ChainCase(
            name: "everything at once", nodes: 8,
            faults: [
                .kill(1, atFraction: 0.2), .stall(6, atTime: 0.02, for: 1), .slowDisk(3, rate: 40 * 1_048_576),
                .lateJoin(8, atTime: 0.005), .kill(4, atTime: 0.03),
            ]),
    ]

    @Test(arguments: chainCases)
    func chainFastMatchesTheEventQueue(_ c: ChainCase) throws {
        let fast = try NetworkSimulator.simulate(c.scenario, engine: .fast)
        let reference = try NetworkSimulator.simulate(c.scenario, engine: .reference)
        func close(_ a: Double?, _ b: Double?) -> Bool {
            guard let a, let b else { return a == nil && b == nil }
            return abs(a - b) <= 1e-9 * max(1, abs(b))
        }
        #expect(close(fast.makespan, reference.makespan), "makespan \(fast.makespan) vs \(reference.makespan)")
        for (f, r) in zip(fast.nodes, reference.nodes) {
            #expect(f.status == r.status, "\(f.name)")
            #expect(
                close(f.start, r.start),
                "\(f.name) start \(String(describing: f.start)) vs \(String(describing: r.start))")
            #expect(
                close(f.finish, r.finish),
                "\(f.name) finish \(String(describing: f.finish)) vs \(String(describing: r.finish))")
            #expect(f.bytesReceived == r.bytesReceived, "\(f.name)")
            #expect(f.bytesResent == r.bytesResent, "\(f.name)")
            #expect(f.upstream == r.upstream, "\(f.name)")
        }
        #expect(fast.relinks.count == reference.relinks.count)
        for (f, r) in zip(fast.relinks, reference.relinks) {
            #expect(close(f.time, r.time))
            #expect(f.from == r.from && f.to == r.to && f.removed == r.removed && f.cause == r.cause)
            #expect(f.resumeChunk == r.resumeChunk && f.chunksFromGolden == r.chunksFromGolden)
        }
        #expect(fast.goldenBytesSent == reference.goldenBytesSent)
        #expect(fast.bytesResent == reference.bytesResent)
        #expect(fast.faults.map(\.sentence) == reference.faults.map(\.sentence))
    }

    /// Multicast: binomial draws and the expected union against explicit datagram sets, averaged over seeds.
    @Test(arguments: [(4, 0.01), (8, 0.01), (8, 0.05), (3, 0.2)])
    func multicastAggregatesMatchDatagramByDatagram(nodes: Int, loss: Double) throws {
        var fastMakespan = 0.0
        var referenceMakespan = 0.0
        var fastResent = 0.0
        var referenceResent = 0.0
        let seeds: [UInt64] = Array(1...12)
        for seed in seeds {
            let s = NetworkScenario(
                transport: .multicast, nodeCount: nodes, streamSize: ByteSize(64 << 20),
                linkRate: BitRate(bitsPerSecond: 100_000_000), lossRate: loss, seed: seed,
                faults: [.kill(2, atFraction: 0.5), .lateJoin(3, atTime: 1)])
            let fast = try NetworkSimulator.simulate(s, engine: .fast)
            let reference = try NetworkSimulator.simulate(s, engine: .reference)
            #expect(fast.nodes.map(\.status) == reference.nodes.map(\.status))
            fastMakespan += fast.makespan
            referenceMakespan += reference.makespan
            fastResent += Double(fast.bytesResent)
            referenceResent += Double(reference.bytesResent)
        }
        #expect(abs(fastMakespan - referenceMakespan) / referenceMakespan < 0.01)
        #expect(abs(fastResent - referenceResent) / referenceResent < 0.05)
    }
}
