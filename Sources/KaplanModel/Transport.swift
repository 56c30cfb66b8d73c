/// How the stream reaches the nodes. The `kind` picks a transport; its parameters follow.
public struct Transport: Sendable, Hashable, Codable {
    /// The transports kaplan knows.
    public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
        /// A pipelined, self-repairing, authenticated TCP chain (the KA method's chain).
        case chain
        /// Reliable UDP multicast with NAK-driven repair (udpcast's niche).
        case multicast
    }

    /// Order of the nodes in a chain.
    public enum ChainOrder: String, Sendable, Hashable, Codable, CaseIterable {
        /// By IP address (the KA method's order).
        case address
        /// By node name.
        case name
        /// As listed in the plan.
        case listed
    }

    /// Forward error correction blocks: `data` source datagrams protected by `parity` repair datagrams.
    public struct FEC: Sendable, Hashable, Codable {
        /// Source datagrams per block.
        public var data: Int
        /// Repair datagrams per block.
        public var parity: Int

        /// Creates an FEC setting.
        public init(data: Int, parity: Int) {
            self.data = data
            self.parity = parity
        }
    }

    /// Which transport.
    public var kind: Kind
    /// The TCP port agents join on (control and, for the chain, data).
    public var port: Int
    /// Size of the stream's framed chunks.
    public var chunkSize: ByteSize
    /// Stream compression.
    public var compression: Compression
    /// How long the server waits for every node to join.
    public var joinTimeout: Duration

    /// Chain: how nodes are ordered.
    public var order: ChainOrder
    /// Chain: the per-hop replay window (how much a node keeps for a downstream neighbour to resume from).
    public var buffer: ByteSize
    /// Chain: how long a node may hold the chain back before it is evicted.
    public var stallTimeout: Duration
    /// Chain: the TCP congestion control of the data links (`TCP_CONGESTION` on each sending socket, e.g.
    /// "cubic"); nil keeps the kernel's default. The default is cubic: a chain's links each carry one forwarded
    /// stream and the next flow's acknowledgements, and BBR (v1, the kernel's) overflows those shallow queues.
    public var congestionControl: String?

    /// Multicast: the group address (IPv4 224.0.0.0/4).
    public var group: String?
    /// Multicast: the UDP data port.
    public var dataPort: Int
    /// Multicast: the interface to send and receive on (default: the route's).
    public var interface: String?
    /// Multicast: the sender's maximum rate.
    public var maxRate: BitRate?
    /// Multicast: the IP TTL of data datagrams.
    public var ttl: Int
    /// Multicast: forward error correction, if any.
    public var fec: FEC?
    /// Multicast: a receiver silent this long is dropped and reported KO.
    public var receiverTimeout: Duration
    /// Where the transport was declared.
    public var range: SourceRange

    /// Stream compression choices.
    public enum Compression: String, Sendable, Hashable, Codable, CaseIterable {
        /// zstd (fast, default level 3).
        case zstd
        /// No compression (already-compressed data, or CPU-starved nodes).
        case none
    }

    /// The chain's data links' congestion control unless the plan says otherwise.
    public static let defaultCongestionControl = "cubic"

    /// The default for each parameter, by kind.
    public static func defaults(kind: Kind, range: SourceRange) -> Transport {
        Transport(
            kind: kind, port: 30764, chunkSize: ByteSize(1 << 20), compression: .zstd,
            joinTimeout: .seconds(300), order: .address, buffer: ByteSize(64 << 20), stallTimeout: .seconds(10),
            congestionControl: kind == .chain ? Transport.defaultCongestionControl : nil, group: nil, dataPort: 30766, interface: nil, maxRate: nil, ttl: 1, fec: nil,
            receiverTimeout: .seconds(3), range: range)
    }
}
