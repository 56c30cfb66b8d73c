/// A scenario resolved for the engines: chunk geometry, per-node disks and faults, and the derived rates.
///
/// Arrays indexed by node number have `nodeCount + 1` entries; entry 0 (the golden) is unused.
struct NetworkPlan: Sendable {
    /// The scenario as given.
    let scenario: NetworkScenario
    /// Number of nodes.
    let n: Int
    /// Number of chunks in the stream.
    let chunkCount: Int
    /// Bytes in every chunk but the last.
    let chunkBytes: Double
    /// Bytes in the last chunk.
    let lastChunkBytes: Double
    /// Chain relay ring / multicast buffer, in chunks (at least 2).
    let window: Int
    /// Link payload rate in bytes per second.
    let linkBytesPerSecond: Double
    /// One-way hop latency.
    let latency: Double
    /// Each node's disk.
    let disks: [NetworkDisk]
    /// The chunk count at which a `kill(atFraction:)` fires, per node.
    let killAfterChunks: [Int?]
    /// The time of a `kill(atTime:)`, per node (`.infinity` when none).
    let killTime: [Double]
    /// When each node joins (0 unless a `lateJoin` fault says otherwise).
    let joinTime: [Double]
    /// The stream size in bytes.
    var streamBytes: Double { Double(scenario.streamSize.bytes) }

    /// Resolves a valid scenario.
    init(_ scenario: NetworkScenario) {
        self.scenario = scenario
        n = scenario.nodeCount
        let size = scenario.streamSize.bytes
        let chunk = min(scenario.chunkSize.bytes, size)
        let count = Int((size + chunk - 1) / chunk)
        chunkCount = count
        chunkBytes = Double(chunk)
        lastChunkBytes = Double(size - UInt64(count - 1) * chunk)
        window = max(2, min(count, Int(scenario.bufferSize.bytes / chunk)))
        linkBytesPerSecond = Double(scenario.linkRate.bitsPerSecond) / 8
        latency = scenario.latency

        var rates = Array(repeating: scenario.diskRate, count: n + 1)
        var stalls = Array(repeating: [(start: Double, end: Double)](), count: n + 1)
        var killChunks = [Int?](repeating: nil, count: n + 1)
        var killTimes = Array(repeating: Double.infinity, count: n + 1)
        var joins = Array(repeating: 0.0, count: n + 1)
        for fault in scenario.faults {
            switch fault {
            case .killAtFraction(let node, let fraction):
                let needed = (fraction * Double(size) / Double(chunk)).rounded(.up)
                let chunks = min(count, max(0, Int(needed)))
                killChunks[node] = min(killChunks[node] ?? chunks, chunks)
            case .killAtTime(let node, let time):
                killTimes[node] = min(killTimes[node], time)
            case .stall(let node, let time, let duration):
                stalls[node].append((time, time + duration))
            case .slowDisk(let node, let rate):
                rates[node] = min(rates[node], rate)
            case .lateJoin(let node, let time):
                joins[node] = time
            }
        }
        disks = (0...n).map { NetworkDisk(rate: rates[$0], stalls: stalls[$0]) }
        killAfterChunks = killChunks
        killTime = killTimes
        joinTime = joins
    }

    /// Bytes in chunk `k`.
    @inline(__always)
    func bytes(ofChunk k: Int) -> Double { k == chunkCount - 1 ? lastChunkBytes : chunkBytes }

    /// Bytes in the first `chunks` chunks.
    func bytes(inFirst chunks: Int) -> UInt64 {
        if chunks <= 0 { return 0 }
        if chunks >= chunkCount { return scenario.streamSize.bytes }
        return UInt64(chunks) * UInt64(chunkBytes)
    }

    /// The fastest any process can move the stream when `processes` of them are running (bytes per second).
    func cpuLimit(processes: Int) -> Double {
        let cost = scenario.cpuSecondsPerGiB
        guard cost > 0 else { return .infinity }
        let perCore = Double(1 << 30) / cost
        guard let cores = scenario.sharedCores, processes > cores else { return perCore }
        return perCore * Double(cores) / Double(processes)
    }

    /// The goodput of one TCP hop under loss p: min(L·(1−p), MSS·√(3/2) / (RTT·√p)), RTT = 2·latency + MSS/L.
    var tcpGoodput: Double {
        let p = scenario.lossRate
        let link = linkBytesPerSecond
        guard p > 0 else { return link }
        let mss = Double(scenario.segmentSize.bytes)
        let rtt = 2 * latency + mss / link
        let mathis = mss * (1.5).squareRoot() / (rtt * p.squareRoot())
        return min(link * (1 - p), mathis)
    }

    /// Extra bytes TCP retransmits per payload byte under loss p: p / (1 − p).
    var tcpRetransmitFactor: Double {
        let p = scenario.lossRate
        return p > 0 ? p / (1 - p) : 0
    }

    /// Chain hop rate with `processes` processes running: the TCP goodput capped by the CPU.
    func chainRate(processes: Int) -> Double { min(tcpGoodput, cpuLimit(processes: processes)) }

    /// Multicast sender rate with `processes` processes running: min(max rate, link, CPU).
    func multicastRate(processes: Int) -> Double {
        var rate = min(linkBytesPerSecond, cpuLimit(processes: processes))
        if let cap = scenario.maxRate { rate = min(rate, Double(cap.bitsPerSecond) / 8) }
        return rate
    }

    /// The node's name.
    func name(_ node: Int) -> String { scenario.name(ofNode: node) }
}
