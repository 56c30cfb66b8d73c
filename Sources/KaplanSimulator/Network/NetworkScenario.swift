import KaplanModel

/// Every input of the data-plane model, explicit: the transport, the cluster, the links, the disks and the faults.
///
/// Times are in seconds, disk rates in bytes per second, link rates in bits per second (as payload rates:
/// pass 93 Mbit for a 100 Mbit Ethernet to match iperf3's TCP goodput). Defaults are listed in
/// Sources/KaplanSimulator/README.md.
public struct NetworkScenario: Sendable, Hashable {
    /// Chain (self-repairing TCP chain) or multicast (reliable UDP multicast with NAK repair).
    public var transport: Transport.Kind
    /// How many nodes receive the stream (the golden comes on top): 1 or more.
    public var nodeCount: Int
    /// The nodes' names in chain order; nil names them node01, node02, … (width grows with the count).
    public var nodeNames: [String]?
    /// The size of the whole deployment stream.
    public var streamSize: ByteSize
    /// The size of one framed chunk: the chain forwards whole chunks, multicast repairs chunk by chunk.
    public var chunkSize: ByteSize
    /// The payload rate of every link, full duplex, the golden's included.
    public var linkRate: BitRate
    /// One-way latency of one hop (node to node through the switch), in seconds.
    public var latency: Double
    /// Loss probability: per receiver per datagram for multicast; per TCP segment on each chain hop.
    public var lossRate: Double
    /// TCP segment payload (MSS) used by the chain's loss formula.
    public var segmentSize: ByteSize
    /// Chain: each node's relay ring, which is also its replay window; multicast: each receiver's buffer.
    public var bufferSize: ByteSize
    /// The disk write rate of every node in bytes per second (a `slowDisk` fault overrides one node's).
    public var diskRate: Double
    /// CPU seconds each process (the golden's sender, each node's agent) spends per GiB it moves; 0: never a limit.
    public var cpuSecondsPerGiB: Double
    /// When set, the golden and every node share this many cores (the lab machine: 2); nil: one CPU per node.
    public var sharedCores: Int?
    /// Chain: how long a node takes to notice that its downstream neighbour died, in seconds.
    public var detectionDelay: Double
    /// Evict a node whose own disk holds the transfer back longer than this, in seconds (`.infinity`: never).
    public var stallTimeout: Double
    /// Multicast: drop a receiver that stays silent this long, in seconds.
    public var receiverTimeout: Double
    /// Multicast: the sender's rate cap; nil paces at the link rate.
    public var maxRate: BitRate?
    /// Multicast: payload bytes per datagram, the unit that is lost and resent.
    public var datagramSize: ByteSize
    /// Multicast: forward error correction (data datagrams protected by parity datagrams per block), if any.
    public var fec: Transport.FEC?
    /// Seed of the deterministic random generator (multicast losses): same seed, same outcome.
    public var seed: UInt64
    /// Faults to inject, in any order; several may hit the same run.
    public var faults: [NetworkFault]

    /// Creates a scenario; every parameter not given takes the default documented in the README.
    public init(
        transport: Transport.Kind,
        nodeCount: Int,
        nodeNames: [String]? = nil,
        streamSize: ByteSize = ByteSize(1 << 30),
        chunkSize: ByteSize = ByteSize(1 << 20),
        linkRate: BitRate = BitRate(bitsPerSecond: 1_000_000_000),
        latency: Double = 100e-6,
        lossRate: Double = 0,
        segmentSize: ByteSize = ByteSize(1448),
        bufferSize: ByteSize = ByteSize(64 << 20),
        diskRate: Double = 500 * 1_048_576,
        cpuSecondsPerGiB: Double = 1.5,
        sharedCores: Int? = nil,
        detectionDelay: Double = 1,
        stallTimeout: Double = 10,
        receiverTimeout: Double = 3,
        maxRate: BitRate? = nil,
        datagramSize: ByteSize = ByteSize(1456),
        fec: Transport.FEC? = nil,
        seed: UInt64 = 1,
        faults: [NetworkFault] = []
    ) {
        self.transport = transport
        self.nodeCount = nodeCount
        self.nodeNames = nodeNames
        self.streamSize = streamSize
        self.chunkSize = chunkSize
        self.linkRate = linkRate
        self.latency = latency
        self.lossRate = lossRate
        self.segmentSize = segmentSize
        self.bufferSize = bufferSize
        self.diskRate = diskRate
        self.cpuSecondsPerGiB = cpuSecondsPerGiB
        self.sharedCores = sharedCores
        self.detectionDelay = detectionDelay
        self.stallTimeout = stallTimeout
        self.receiverTimeout = receiverTimeout
        self.maxRate = maxRate
        self.datagramSize = datagramSize
        self.fec = fec
        self.seed = seed
        self.faults = faults
    }

    /// A scenario for a plan's transport: chunk size, buffer, stall timeout, max rate, FEC and receiver
    /// timeout come from `transport`; the rest takes the defaults.
    public init(transport: Transport, nodeCount: Int, streamSize: ByteSize, linkRate: BitRate) {
        self.init(
            transport: transport.kind, nodeCount: nodeCount, streamSize: streamSize,
            chunkSize: transport.chunkSize, linkRate: linkRate, bufferSize: transport.buffer,
            stallTimeout: Double(transport.stallTimeout.milliseconds) / 1000,
            receiverTimeout: Double(transport.receiverTimeout.milliseconds) / 1000,
            maxRate: transport.maxRate, fec: transport.fec)
    }

    /// The name of node `number` (0 is the golden).
    public func name(ofNode number: Int) -> String {
        if number == 0 { return "golden" }
        if let names = nodeNames, number - 1 < names.count { return names[number - 1] }
        let width = max(2, String(nodeCount).count)
        let digits = String(number)
        return "node" + String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    /// Every problem that makes the scenario impossible to run, worded for the operator; empty when it is valid.
    public func problems() -> [String] {
        var out: [String] = []
        func finite(_ value: Double, _ what: String, allowInfinity: Bool = false) {
            if value.isNaN || value < 0 || (!allowInfinity && value.isInfinite) {
                out.append("\(what) must be a finite number ≥ 0, not \(value)")
            }
        }
        if nodeCount < 1 { out.append("node count must be at least 1, not \(nodeCount)") }
        if let names = nodeNames, names.count != nodeCount {
            out.append("\(names.count) node names given for \(nodeCount) nodes; give one name per node or none")
        }
        if streamSize.bytes == 0 { out.append("stream size must be more than 0 bytes") }
        if chunkSize.bytes == 0 { out.append("chunk size must be more than 0 bytes") }
        if linkRate.bitsPerSecond == 0 { out.append("link rate must be more than 0 bit/s") }
        if let rate = maxRate, rate.bitsPerSecond == 0 { out.append("max rate must be more than 0 bit/s") }
        finite(latency, "latency")
        if !(lossRate >= 0 && lossRate < 1) { out.append("loss rate must be in 0 ≤ p < 1, not \(lossRate)") }
        if segmentSize.bytes == 0 { out.append("TCP segment size must be more than 0 bytes") }
        if datagramSize.bytes == 0 { out.append("datagram size must be more than 0 bytes") }
        if !(diskRate > 0 && diskRate.isFinite) { out.append("disk rate must be a finite rate > 0, not \(diskRate)") }
        finite(cpuSecondsPerGiB, "CPU seconds per GiB")
        if let cores = sharedCores, cores < 1 { out.append("shared cores must be at least 1, not \(cores)") }
        finite(detectionDelay, "detection delay")
        finite(stallTimeout, "stall timeout", allowInfinity: true)
        finite(receiverTimeout, "receiver timeout")
        if let fec, fec.data < 1 || fec.parity < 0 {
            out.append("FEC needs at least 1 data datagram and 0 or more parity datagrams per block")
        }
        for fault in faults {
            let node = fault.node
            guard node >= 1 && node <= nodeCount else {
                out.append("fault \(fault) names node \(node); nodes are numbered 1…\(nodeCount) (0 is the golden)")
                continue
            }
            switch fault {
            case .killAtFraction(_, let f) where !(f >= 0 && f <= 1):
                out.append("kill of \(name(ofNode: node)) at fraction \(f): the fraction must be in 0…1")
            case .killAtTime(_, let t) where !(t >= 0 && t.isFinite):
                out.append("kill of \(name(ofNode: node)) at t=\(t): the time must be finite and ≥ 0")
            case .stall(_, let t, let d) where !(t >= 0 && t.isFinite && d >= 0):
                out.append("stall of \(name(ofNode: node)): the start must be finite and ≥ 0, the duration ≥ 0")
            case .slowDisk(_, let r) where !(r > 0 && r.isFinite):
                out.append("slow disk on \(name(ofNode: node)): the rate must be finite and > 0, not \(r)")
            case .lateJoin(_, let t) where !(t >= 0 && t.isFinite):
                out.append("late join of \(name(ofNode: node)) at t=\(t): the time must be finite and ≥ 0")
            default: break
            }
        }
        let joins = faults.filter { if case .lateJoin = $0 { true } else { false } }.map(\.node)
        if Set(joins).count != joins.count { out.append("a node may join late only once") }
        return out
    }
}
