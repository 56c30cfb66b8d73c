import Foundation
import KaplanEngine
import KaplanGraph
import KaplanModel

/// A message on the control connection between the golden (server) and one agent, carried as JSON in an
/// authenticated control frame. Nothing in it is ever executed: an agent only runs the steps of the plan it is
/// assigned, and the server only records what agents report.
enum ControlMessage: Codable, Sendable {
    // agent → server
    /// The agent's node and its data listener.
    case join(Join)
    /// The agent's disk, as a read-only probe found it (after the assignment told it the plan).
    case probed(Probed)
    /// A step event of the node's executor.
    case event(WireEvent)
    /// Relay state, sent every heartbeat.
    case status(RelayStatus)
    /// The node's stream step started: it is ready to receive.
    case streamReady
    /// The node lost its upstream link (death, damage, a gap beyond the upstream's window).
    case linkLost(LinkLost)
    /// The node's executor ended.
    case finished(NodeOutcome)
    /// Multicast: where the node stands in the stream and what it misses (every 100 ms while receiving).
    case receipt(Receipt)
    // server → agent
    /// The server will not deploy this agent (unknown node, duplicate, layout does not fit).
    case rejected(reason: String)
    /// The plan, the node and the stream parameters: run the steps.
    case assign(Assignment)
    /// The operator approved: run the steps now.
    case start
    /// Receive the stream from this upstream, from this chunk on.
    case link(Link)
    /// Stop serving this downstream node (it was dropped from the chain): release what it pinned in the ring.
    case dropDownstream(name: String)
    /// The node is out of the chain (it held it back or is being dropped): stop and report KO.
    case evict(reason: String)
    /// The session is over: stop relaying and exit.
    case bye
    /// Multicast: the stream has this many chunks (sent once the golden produced them all).
    case streamTotal(chunks: UInt32)

    /// Encodes for a control frame.
    func encoded() -> [UInt8] {
        // Plain Codable values: encoding cannot fail.
        Array((try? JSONEncoder().encode(self)) ?? Data())
    }

    /// Decodes a control frame's payload.
    static func decode(_ bytes: [UInt8]) throws -> ControlMessage {
        do { return try JSONDecoder().decode(ControlMessage.self, from: Data(bytes)) } catch {
            throw NetworkError("bad-frame", "a control message could not be read", cause: "\(error)")
        }
    }
}

/// What an agent says when it joins.
struct Join: Codable, Sendable {
    /// The node name (a plan node).
    var node: String
    /// Where its downstream neighbour connects for the stream.
    var data: Endpoint
}

/// An agent's disk before anything is written.
struct Probed: Codable, Sendable {
    /// The target the agent will write (the plan's, or the one given with --disk).
    var target: Target
    /// What a read-only probe found.
    var state: DeviceState
}

/// What the server gives an agent to run.
struct Assignment: Codable, Sendable {
    /// The plan (already validated by the server; the agent checks its own node again).
    var plan: Plan
    /// The node.
    var node: String
    /// The golden's identity (recorded in each clone's stamp).
    var goldenIdentity: String
    /// The stream id of this session's stream.
    var stream: UInt64
    /// The stream's filesystems, in order (segment n is `segments[n]`).
    var segments: [String]
    /// Bytes of the relay's ring (its replay window).
    var buffer: Int
    /// Seconds a node may hold the chain back before it is evicted.
    var stallSeconds: Double
    /// Multicast: how to receive the stream (nil for the chain).
    var multicast: MulticastParameters? = nil
}

/// How a node receives a multicast stream.
struct MulticastParameters: Codable, Sendable {
    /// The group address.
    var group: String
    /// The UDP port.
    var port: Int
    /// The plan's interface (the agent's --interface overrides it).
    var interface: String?
    /// Payload bytes of every datagram but a chunk's last.
    var fragmentSize: Int
    /// Chunks a receiver holds while it waits for missing fragments.
    var window: Int
    /// Data fragments per forward-error-correction block.
    var blockSize: Int

    /// Data fragments of the largest chunk (`maxChunk` sealed bytes).
    func fragments(maxChunk: Int) -> Int { fragmentSize > 0 ? (maxChunk + fragmentSize - 1) / fragmentSize : 0 }

    /// Why a node cannot receive with these parameters (they come from the golden, which an agent checks like
    /// any other input: a block size of 0 or a window of billions must not crash or exhaust it), or nil.
    func problem(maxChunk: Int) -> String? {
        var out: [String] = []
        if !(1...65535).contains(port) { out.append("port \(port) is not 1–65535") }
        if !(Self.minFragment...Self.maxFragment).contains(fragmentSize) {
            out.append("datagram payload \(fragmentSize) bytes is not \(Self.minFragment)–\(Self.maxFragment)")
        } else if fragments(maxChunk: maxChunk) > Int(UInt16.max) - 1 {
            out.append("a \(maxChunk)-byte chunk needs \(fragments(maxChunk: maxChunk)) datagrams of \(fragmentSize) bytes (at most 65534)")
        }
        if !(1...Self.maxWindow).contains(window) { out.append("window of \(window) chunks is not 1–\(Self.maxWindow)") }
        if !(1...BlockLayout.maxBlockSize).contains(blockSize) { out.append("repair block of \(blockSize) datagrams is not 1–\(BlockLayout.maxBlockSize)") }
        return out.isEmpty ? nil : out.joined(separator: "; ")
    }

    /// Smallest datagram payload a receiver accepts (a chunk's header must fit its first datagram).
    static let minFragment = 64
    /// Largest UDP payload over IPv4.
    static let maxFragment = 65_507
    /// Most chunks a receiver holds (transport.buffer / transport.chunk-size is far below it).
    static let maxWindow = 65_536
}

/// A multicast receiver's report.
struct Receipt: Codable, Sendable {
    /// Every chunk before this one was received and handed to the disk.
    var next: UInt32
    /// True once the whole stream arrived.
    var complete: Bool
    /// What it misses (oldest first, bounded).
    var missing: [FragmentAssembler.Missing]
    /// Its datagram counters (drops of forged and foreign datagrams included).
    var statistics: MulticastReceiver.Statistics
}

/// Where to receive the stream from.
struct Link: Codable, Sendable {
    /// The upstream's data endpoint.
    var upstream: Endpoint
    /// The upstream's name (the golden is "golden").
    var name: String
}

/// Why a node's upstream link ended.
struct LinkLost: Codable, Sendable {
    /// The upstream that was lost.
    var upstream: String
    /// What happened.
    var reason: String
    /// The next chunk the node needs.
    var next: UInt64
    /// True when the upstream no longer holds that chunk (serve it from the golden).
    var gap: Bool
}

/// A relay's state, for the server's stall and death detection.
struct RelayStatus: Codable, Sendable {
    /// Chunks received (the next sequence number expected).
    var received: UInt64
    /// Seconds each downstream has kept a send blocked, by name (0 when not blocked).
    var blocked: [String: Double]
    /// True once the end of the stream arrived.
    var complete: Bool
}
