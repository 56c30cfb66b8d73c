import KaplanModel
import KaplanSimulator
import Testing

/// 10,000 nodes: the fast engines must return (wall time is printed, not asserted). A release build
/// (`swift test -c release --filter NetworkModelScale`) runs the full 1 GiB stream in 1 MiB chunks and the
/// runs with faults; a debug build, 40 times slower, runs 64 MiB without faults.
@Suite struct NetworkModelScaleTests {
    #if DEBUG
        static let release = false
        static let size = ByteSize(64 << 20)
    #else
        static let release = true
        static let size = ByteSize(1 << 30)
    #endif

    private func timed(_ scenario: NetworkScenario) throws -> (NetworkOutcome, Double) {
        let clock = ContinuousClock()
        var outcome: NetworkOutcome?
        let elapsed = try clock.measure { outcome = try NetworkSimulator.simulate(scenario) }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        return (outcome!, seconds)
    }

    @Test func tenThousandNodeChain() throws {
        let scenario = NetworkScenario(transport: .chain, nodeCount: 10_000, streamSize: Self.size)
        let (outcome, wall) = try timed(scenario)
        print("chain, 10,000 nodes, \(Self.size)/1MiB, no faults: wall \(wall) s, makespan \(outcome.makespan) s")
        #expect(outcome.okCount == 10_000)
    }

    @Test(.enabled(if: release, "full-size run: release builds only (swift test -c release --filter NetworkModelScale); the debug suite runs the 64 MiB variants")) func tenThousandNodeChainWithFaults() throws {
        let scenario = NetworkScenario(
            transport: .chain, nodeCount: 10_000,
            faults: [
                .kill(1, atFraction: 0.3), .kill(5_000, atFraction: 0.5), .kill(5_001, atFraction: 0.5),
                .stall(7_000, atTime: 40, for: 60), .slowDisk(9_000, rate: 80 * 1_048_576), .kill(10_000, atTime: 90),
            ])
        let (outcome, wall) = try timed(scenario)
        print("chain, 10,000 nodes, 1GiB/1MiB, 6 faults: wall \(wall) s, makespan \(outcome.makespan) s")
        print(outcome.rendered())
        #expect(outcome.okCount == 10_000 - 5)
    }

    @Test func tenThousandNodeMulticast() throws {
        let scenario = NetworkScenario(transport: .multicast, nodeCount: 10_000, streamSize: Self.size)
        let (outcome, wall) = try timed(scenario)
        print("multicast, 10,000 nodes, \(Self.size)/1MiB, no loss: wall \(wall) s, makespan \(outcome.makespan) s")
        #expect(outcome.okCount == 10_000)
    }

    @Test(.enabled(if: release, "full-size run: release builds only (swift test -c release --filter NetworkModelScale); the debug suite runs the 64 MiB variants")) func tenThousandNodeMulticastWithLossAndFaults() throws {
        let scenario = NetworkScenario(
            transport: .multicast, nodeCount: 10_000, lossRate: 0.01,
            faults: [.kill(17, atFraction: 0.5), .lateJoin(99, atTime: 3), .stall(500, atTime: 2, for: 1)])
        let (outcome, wall) = try timed(scenario)
        print("multicast, 10,000 nodes, 1GiB/1MiB, 1% loss, 3 faults: wall \(wall) s, makespan \(outcome.makespan) s")
        print(outcome.rendered())
        #expect(outcome.okCount == 10_000 - 1)
    }
}
