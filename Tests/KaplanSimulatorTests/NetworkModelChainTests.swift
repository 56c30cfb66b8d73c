import KaplanModel
import KaplanSimulator
import Testing

/// The chain model against formulas and the behaviours in the KA reference (kill, stall, slow disk, loss).
@Suite struct NetworkModelChainTests {
    static let mib = 1_048_576.0
    static let gbit = BitRate(bitsPerSecond: 1_000_000_000)
    static let linkBytes = 125_000_000.0

    /// A chain whose disks and CPUs never limit: only the link, the latency and the faults matter.
    static func chain(
        _ n: Int, size: UInt64 = 256 << 20, chunk: UInt64 = 1 << 20, faults: [NetworkFault] = [],
        configure: (inout NetworkScenario) -> Void = { _ in }
    ) -> NetworkScenario {
        var s = NetworkScenario(
            transport: .chain, nodeCount: n, streamSize: ByteSize(size), chunkSize: ByteSize(chunk), linkRate: gbit,
            latency: 100e-6, diskRate: 1e12, cpuSecondsPerGiB: 0, faults: faults)
        configure(&s)
        return s
    }

    static func run(_ s: NetworkScenario) throws -> NetworkOutcome { try NetworkSimulator.simulate(s) }

    @Test func oneNodeTakesSizeOverLinkPlusLatency() throws {
        let s = Self.chain(1)
        let o = try Self.run(s)
        let expected = 256 * Self.mib / Self.linkBytes + 100e-6
        #expect(o.node(1).status == .ok)
        #expect(abs(o.makespan - expected) / expected < 1e-6)
        #expect(o.goldenBytesSent == 256 << 20)
        #expect(o.bytesResent == 0)
        #expect(o.node(1).upstream == 0)
    }

    @Test(arguments: [2, 8, 100])
    func losslessChainAddsOneChunkPerHop(n: Int) throws {
        let o = try Self.run(Self.chain(n))
        let chunkTime = Self.mib / Self.linkBytes
        let expected = 256 * Self.mib / Self.linkBytes + Double(n - 1) * chunkTime + Double(n) * 100e-6
        #expect(abs(o.makespan - expected) / expected < 1e-6)
        #expect(o.okCount == n)
        for v in 2...n {
            #expect(o.node(v).upstream == v - 1)
            let shift = o.node(v).finish! - o.node(v - 1).finish!
            #expect(abs(shift - (chunkTime + 100e-6)) < 1e-9)
        }
    }

    @Test func diskSlowerThanLinkSetsTheThroughput() throws {
        let disk = 40 * Self.mib
        let o = try Self.run(Self.chain(4) { $0.diskRate = disk })
        let throughput = 256 * Self.mib / o.makespan
        #expect(abs(throughput - disk) / disk < 0.02)
        #expect(o.okCount == 4)
    }

    @Test func oneSlowDiskPacesTheWholeChain() throws {
        // Backpressure: node03's ring (64 MiB) fills, then it accepts data at its disk rate, and so does
        // everybody else. Cut-through forwarding means the others get the tail when node03 *receives* it (a
        // ring ahead of what it wrote), and each node upstream runs one more ring ahead.
        let slow = 30 * Self.mib
        let size = 1024 * Self.mib
        let ring = 64 * Self.mib
        let o = try Self.run(Self.chain(6, size: 1 << 30, faults: [.slowDisk(3, rate: slow)]))
        #expect(o.okCount == 6)
        #expect(abs(o.node(3).finish! - size / slow) / (size / slow) < 0.01)
        for v in [1, 2, 4, 5, 6] {
            let ahead = v < 3 ? Double(4 - v) * ring : ring
            let expected = (size - ahead) / slow
            #expect(abs(o.node(v).finish! - expected) / expected < 0.01, "node \(v)")
        }
        #expect(o.faults[0].sentence.contains("paced the chain"))
    }

    @Test(arguments: [1, 4, 8])
    func aKilledNodeIsCutOutAndTheOthersFinish(killed: Int) throws {
        let o = try Self.run(Self.chain(8, faults: [.kill(killed, atFraction: 0.4)]))
        #expect(o.node(killed).status == .ko(.killed))
        let had = Double(o.node(killed).bytesReceived) / Double(256 << 20)
        #expect(had >= 0.4 && had < 0.41)
        for v in 1...8 where v != killed { #expect(o.node(v).status == .ok) }
        #expect(o.relinks.count == 1)
        let relink = try #require(o.relinks.first)
        #expect(relink.from == killed - 1)
        #expect(relink.to == (killed == 8 ? nil : killed + 1))
        #expect(relink.removed == [killed])
        #expect(relink.cause == .death)
        let death = try #require(o.faults[0].time)
        #expect(abs(relink.time - death - 1.0) < 1e-9)
        if killed < 8 { #expect(o.node(killed + 1).upstream == killed - 1) }
        #expect(o.faults[0].sentence.contains("killed at 40%"))
    }

    @Test func middleKillSentenceNamesTheRepair() throws {
        let o = try Self.run(Self.chain(8, faults: [.kill(7, atFraction: 0.4)]))
        let sentence = o.faults[0].sentence
        #expect(sentence.hasPrefix("node07 killed at 40% (t="))
        #expect(sentence.contains("node06 re-linked to node08 after 1.0 s; node08 resumed at chunk "))
        #expect(sentence.contains("from node06's replay window"))
    }

    @Test func twoDeathsInARow() throws {
        let same = try Self.run(Self.chain(8, faults: [.kill(4, atTime: 1.0), .kill(5, atTime: 1.0)]))
        #expect(same.node(4).status == .ko(.killed) && same.node(5).status == .ko(.killed))
        #expect(same.okCount == 6)
        #expect(same.relinks.count == 1)
        #expect(same.relinks[0].from == 3 && same.relinks[0].to == 6 && same.relinks[0].removed == [4, 5])

        let staggered = try Self.run(Self.chain(8, faults: [.kill(4, atFraction: 0.3), .kill(5, atFraction: 0.5)]))
        #expect(staggered.okCount == 6)
        #expect(staggered.relinks.map(\.to) == [5, 6])
        #expect(staggered.relinks.allSatisfy { $0.from == 3 })

        let duringDetection = try Self.run(Self.chain(8, faults: [.kill(5, atTime: 1.0), .kill(4, atTime: 1.5)]))
        #expect(duringDetection.okCount == 6)
        #expect(duringDetection.relinks.count == 1)
        #expect(duringDetection.relinks[0].from == 3 && duringDetection.relinks[0].to == 6)
    }

    @Test func aStallLongerThanTheTimeoutIsEvicted() throws {
        let baseline = try Self.run(Self.chain(6))
        let o = try Self.run(Self.chain(6, faults: [.stall(3, atTime: 0.5, for: 60)]))
        #expect(o.node(3).status == .ko(.evictedStall))
        for v in [1, 2, 4, 5, 6] { #expect(o.node(v).status == .ok) }
        let relink = try #require(o.relinks.first)
        #expect(relink.cause == .eviction && relink.from == 2 && relink.to == 4)
        let delay = o.makespan - baseline.makespan
        #expect(delay > 9.5 && delay < 10.5, "extra delay \(delay)")
        #expect(o.faults[0].sentence.contains("evicted at t="))
    }

    @Test func aShortStallOnlyDelays() throws {
        let baseline = try Self.run(Self.chain(6))
        let o = try Self.run(Self.chain(6, faults: [.stall(3, atTime: 0.5, for: 4)]))
        #expect(o.okCount == 6)
        #expect(o.relinks.isEmpty)
        let delay = o.makespan - baseline.makespan
        #expect(delay > 3 && delay < 4, "extra delay \(delay)")
        #expect(o.faults[0].sentence.contains("within the stall timeout"))
    }

    @Test func aHungDiskWithoutTimeoutHoldsTheChainForever() throws {
        let o = try Self.run(
            Self.chain(4, faults: [.stall(2, atTime: 0.5, for: .infinity)]) { $0.stallTimeout = .infinity })
        #expect(o.okCount == 0)
        #expect(o.nodes.allSatisfy { $0.status == .ko(.stranded) })
    }

    @Test func tcpLossLowersGoodputAndCountsRetransmissions() throws {
        let p = 0.01
        let o = try Self.run(Self.chain(4) { $0.lossRate = p })
        #expect(o.okCount == 4)
        let mss = 1448.0
        let rtt = 2 * 100e-6 + mss / Self.linkBytes
        let goodput = min(Self.linkBytes * (1 - p), mss * (1.5).squareRoot() / (rtt * p.squareRoot()))
        let expected = 256 * Self.mib / goodput
        #expect(abs(o.node(1).finish! - expected) / expected < 0.01)
        let perNode = Double(o.node(2).bytesResent) / (256 * Self.mib)
        #expect(abs(perNode - p / (1 - p)) < 1e-4)
    }

    @Test func chunksThatLeftTheReplayWindowComeFromTheGolden() throws {
        // node05's slow disk lets node04 and node03 run a full ring ahead of it; when node04 dies, node05's
        // next chunk has left node03's ring, so the golden serves the gap.
        let o = try Self.run(
            Self.chain(6, size: 128 << 20, faults: [.slowDisk(5, rate: 20 * Self.mib), .kill(4, atTime: 2)]) {
                $0.bufferSize = ByteSize(8 << 20)
            })
        #expect(o.okCount == 5)
        let relink = try #require(o.relinks.first)
        #expect(relink.from == 3 && relink.to == 5)
        #expect(relink.chunksFromGolden > 0)
        #expect(o.goldenBytesSent > 128 << 20)
        #expect(o.faults[1].sentence.contains("straight from the golden"))
    }

    @Test func aLateJoinerIsAppendedAtTheTail() throws {
        let o = try Self.run(Self.chain(5, faults: [.lateJoin(2, atTime: 1)]))
        #expect(o.okCount == 5)
        let relink = try #require(o.relinks.first)
        #expect(relink.cause == .join && relink.from == 5 && relink.to == 2)
        #expect(relink.chunksFromGolden > 0)
        #expect(o.node(3).upstream == 1)
        #expect(o.faults[0].sentence.hasPrefix("node02 joined at t=1.0s and was appended after node05"))
    }

    @Test func sharedCoresMakeTheChainCPUBound() throws {
        // The lab: 2 cores for the golden and every node, relay cost 1.5 CPU-s/GiB, unshaped links.
        func rate(_ n: Int) throws -> Double {
            let o = try Self.run(
                Self.chain(n, size: 1 << 30) {
                    $0.linkRate = BitRate(bitsPerSecond: 20_000_000_000)
                    $0.cpuSecondsPerGiB = 1.5
                    $0.sharedCores = 2
                })
            return Double(1 << 30) / o.makespan / Self.mib
        }
        let one = try rate(1)
        let two = try rate(2)
        let four = try rate(4)
        #expect(one > two && two > four)
        #expect(abs(two / four - 5.0 / 3.0) < 0.1)
    }

    @Test func killAfterFinishingLeavesTheNodeOK() throws {
        let o = try Self.run(Self.chain(3, faults: [.kill(1, atTime: 30)]))
        #expect(o.okCount == 3)
        #expect(o.faults[0].sentence.contains("after it had finished"))
        #expect(o.faults[0].sentence.contains("node02 already had the whole stream"))
    }
}
