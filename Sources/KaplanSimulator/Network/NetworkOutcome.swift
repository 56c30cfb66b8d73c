/// The result of simulating one deployment: every node's fate, the totals, the re-links and each fault's effect.
public struct NetworkOutcome: Sendable, Hashable {
    /// The scenario that was simulated.
    public var scenario: NetworkScenario
    /// One entry per node, in node-number order.
    public var nodes: [NetworkNodeOutcome]
    /// When the last OK node had the whole stream on disk, in seconds (0 when no node is OK).
    public var makespan: Double
    /// Bytes the golden put on the wire (first copies, repairs, FEC parity and TCP retransmissions).
    public var goldenBytesSent: UInt64
    /// Bytes sent a second time anywhere: TCP retransmissions, replays after re-links, multicast repairs.
    public var bytesResent: UInt64
    /// Chain re-links in time order (empty for multicast).
    public var relinks: [NetworkRelink]
    /// One entry per injected fault, in the scenario's order.
    public var faults: [NetworkFaultOutcome]
    /// Facts about the run worth printing (effective rates, repair rounds, limits that applied).
    public var notes: [String]

    /// Creates an outcome.
    public init(
        scenario: NetworkScenario, nodes: [NetworkNodeOutcome], makespan: Double, goldenBytesSent: UInt64,
        bytesResent: UInt64, relinks: [NetworkRelink], faults: [NetworkFaultOutcome], notes: [String]
    ) {
        self.scenario = scenario
        self.nodes = nodes
        self.makespan = makespan
        self.goldenBytesSent = goldenBytesSent
        self.bytesResent = bytesResent
        self.relinks = relinks
        self.faults = faults
        self.notes = notes
    }

    /// The outcome of node `number` (1…nodeCount).
    public func node(_ number: Int) -> NetworkNodeOutcome { nodes[number - 1] }

    /// How many nodes ended with the whole stream.
    public var okCount: Int { nodes.reduce(0) { $0 + ($1.status.isOK ? 1 : 0) } }

    /// Finish times of the OK nodes, sorted ascending.
    public var okFinishTimes: [Double] { nodes.compactMap { $0.status.isOK ? $0.finish : nil }.sorted() }

    /// The finish time below which `percent` % of the OK nodes finished (nearest rank); nil with no OK node.
    public func finishPercentile(_ percent: Double) -> Double? {
        let times = okFinishTimes
        guard !times.isEmpty else { return nil }
        let rank = Int((percent / 100 * Double(times.count)).rounded(.up))
        return times[min(times.count - 1, max(0, rank - 1))]
    }
}
