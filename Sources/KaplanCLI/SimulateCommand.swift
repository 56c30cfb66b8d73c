import ArgumentParser
import Foundation
import KaplanModel
import KaplanSimulator

/// `kaplan simulate PLAN`: predict the deployment's data plane (per-node timeline, total time, bytes sent and
/// resent) with the discrete-event model, with injected faults; nothing touches a disk or the network.
struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Predict a deployment's timeline with the network model, with injected faults.",
        discussion: """
            The model's parameters and their defaults are in Sources/KaplanSimulator/README.md.
            Examples:
              kaplan simulate plans/ka-doc-example.yaml --nodes 10000 --link 1gbit
              kaplan simulate plans/lab-chain.yaml --kill node03@40% --stall node02@10s
              kaplan simulate plans/multicast.yaml --loss 1% --link 100mbit
            Exit codes: 0 every node finishes, 3 some nodes are KO in the prediction, 1 error, 64 usage.
            """
    )

    @Argument(help: "The plan file.")
    var plan: String

    @Option(help: "Simulate this many nodes instead of the plan's (named node01, node02, …).")
    var nodes: Int?

    @Option(help: "Transport to model (default: the plan's).")
    var transport: Transport.Kind?

    @Option(help: "Link payload rate, e.g. 100mbit, 1gbit (default 1gbit).")
    var link: String = "1gbit"

    @Option(help: "Loss rate, e.g. 1% (multicast: per datagram per receiver; chain: per TCP segment per hop).")
    var loss: String = "0%"

    @Option(help: "Per-node disk write rate, e.g. 200MB/s (default 500MiB/s).")
    var diskRate: String?

    @Option(help: "Size of the deployment stream (default 1GiB).")
    var streamSize: String = "1GiB"

    @Option(help: "One-way latency per hop, e.g. 100us, 1ms (default 100us).")
    var latency: String = "100us"

    @Option(help: "All processes share this many cores (the lab machine: 2); default: one CPU per node.")
    var cores: Int?

    @Option(help: "Kill a node: NODE@40% (of the stream) or NODE@12s. Repeatable.")
    var kill: [String] = []

    @Option(help: "Stall a node's disk: NODE@10s (for good) or NODE@10s+5s (for 5 s). Repeatable.")
    var stall: [String] = []

    @Option(help: "A node joins late (multicast): NODE@5s. Repeatable.")
    var lateJoin: [String] = []

    @Option(help: "Random seed (multicast losses).")
    var seed: UInt64 = 1

    @Option(help: "Output format: text or json.")
    var format: OutputFormat = .text

    func run() throws {
        let loaded = try PlanFiles.loadValid(plan)
        var names: [String]
        if let nodes {
            guard (1...1_000_000).contains(nodes) else { throw ValidationError("--nodes must be between 1 and 1000000") }
            let width = max(2, String(nodes).count)
            names = (1...nodes).map { i in "node" + String(repeating: "0", count: max(0, width - String(i).count)) + String(i) }
        } else {
            names = Self.chainOrder(loaded)
        }
        guard let rate = Self.rate(link) else { throw ValidationError("--link '\(link)' is not a rate like 100mbit or 1gbit") }
        guard let lossRate = Self.percent(loss) else { throw ValidationError("--loss '\(loss)' is not a percentage like 1%") }
        guard let size = try? ByteSize.parse(streamSize).get(), size.bytes > 0 else {
            throw ValidationError("--stream-size '\(streamSize)' is not a size like 1GiB")
        }
        guard let latencySeconds = Self.seconds(latency) else { throw ValidationError("--latency '\(latency)' is not a time like 100us or 1ms") }
        var scenario = NetworkScenario(
            transport: loaded.transport, nodeCount: names.count, streamSize: size, linkRate: rate)
        if let transport { scenario.transport = transport }
        scenario.nodeNames = names
        scenario.lossRate = lossRate
        scenario.latency = latencySeconds
        scenario.sharedCores = cores
        scenario.seed = seed
        if let diskRate {
            guard let r = Self.bytesPerSecond(diskRate) else { throw ValidationError("--disk-rate '\(diskRate)' is not a rate like 200MB/s") }
            scenario.diskRate = r
        }
        func node(_ spec: String, _ flag: String) throws -> (Int, String) {
            let parts = spec.split(separator: "@", maxSplits: 1).map(String.init)
            guard parts.count == 2, let index = names.firstIndex(of: parts[0]) else {
                throw ValidationError("\(flag) '\(spec)' must be NODE@WHEN with a node of the simulation (\(names.prefix(3).joined(separator: ", "))…)")
            }
            return (index + 1, parts[1])
        }
        for spec in kill {
            let (n, when) = try node(spec, "--kill")
            if when.hasSuffix("%"), let p = Self.percent(when) {
                scenario.faults.append(.kill(n, atFraction: p))
            } else if let t = Self.seconds(when) {
                scenario.faults.append(.kill(n, atTime: t))
            } else {
                throw ValidationError("--kill '\(spec)': the time must be a share of the stream (40%) or seconds (12s)")
            }
        }
        for spec in stall {
            let (n, when) = try node(spec, "--stall")
            let parts = when.split(separator: "+", maxSplits: 1).map(String.init)
            guard let start = Self.seconds(parts[0]), let length = parts.count == 2 ? Self.seconds(parts[1]) : 1e9 else {
                throw ValidationError("--stall '\(spec)' must be NODE@10s or NODE@10s+5s")
            }
            scenario.faults.append(.stall(n, atTime: start, for: length))
        }
        for spec in lateJoin {
            let (n, when) = try node(spec, "--late-join")
            guard let t = Self.seconds(when) else { throw ValidationError("--late-join '\(spec)' must be NODE@5s") }
            scenario.faults.append(.lateJoin(n, atTime: t))
        }
        let outcome: NetworkOutcome
        do {
            outcome = try NetworkSimulator.simulate(scenario).closingStalledNodes()
        } catch {
            throw ValidationError(error.problems.joined(separator: "; "))
        }
        switch format {
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(SimulationReport(outcome)), as: UTF8.self))
        default:
            print(outcome.rendered())
        }
        if outcome.nodes.contains(where: { !$0.status.isOK }) { throw ExitCode(3) }
    }

    /// The plan's nodes in chain order.
    static func chainOrder(_ plan: Plan) -> [String] {
        switch plan.transport.order {
        case .listed: return plan.nodes.map(\.name)
        case .name: return plan.nodes.map(\.name).sorted()
        case .address:
            func key(_ n: Node) -> [Int] { n.address.map { $0.split(separator: ".").compactMap { Int($0) } } ?? [Int.max] }
            return plan.nodes.sorted { key($0).lexicographicallyPrecedes(key($1)) }.map(\.name)
        }
    }

    static func rate(_ text: String) -> BitRate? {
        let lower = text.lowercased()
        for (suffix, canonical) in [("gbit", "Gbit"), ("mbit", "Mbit"), ("kbit", "kbit"), ("bit", "bit")] where lower.hasSuffix(suffix) {
            return BitRate.parse(String(lower.dropLast(suffix.count)) + canonical)
        }
        return nil
    }

    static func percent(_ text: String) -> Double? {
        guard text.hasSuffix("%"), let v = Double(text.dropLast()), v >= 0, v <= 100 else { return nil }
        return v / 100
    }

    static func seconds(_ text: String) -> Double? {
        for (suffix, factor) in [("us", 1e-6), ("ms", 1e-3), ("s", 1.0), ("m", 60.0)] where text.hasSuffix(suffix) {
            if let v = Double(text.dropLast(suffix.count)), v >= 0 { return v * factor }
        }
        return nil
    }

    static func bytesPerSecond(_ text: String) -> Double? {
        guard text.hasSuffix("/s"), let size = try? ByteSize.parse(String(text.dropLast(2))).get() else { return nil }
        return Double(size.bytes)
    }
}

extension Transport.Kind: ExpressibleByArgument {}

/// The JSON form of a simulation's outcome.
struct SimulationReport: Encodable {
    struct NodeLine: Encodable {
        var node: String
        var ok: Bool
        var reason: String?
        var finish: Double?
        var bytesReceived: UInt64
        var bytesResent: UInt64
    }

    var makespan: Double
    var bytesSentByGolden: UInt64
    var bytesResent: UInt64
    var faults: [String]
    var nodes: [NodeLine]

    init(_ o: NetworkOutcome) {
        makespan = o.makespan
        bytesSentByGolden = o.goldenBytesSent
        bytesResent = o.bytesResent
        faults = o.faults.map(\.sentence)
        nodes = o.nodes.map {
            NodeLine(
                node: $0.name, ok: $0.status.isOK, reason: $0.status.isOK ? nil : "\($0.status)", finish: $0.finish,
                bytesReceived: $0.bytesReceived, bytesResent: $0.bytesResent)
        }
    }
}
