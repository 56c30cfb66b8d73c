/// What happened to one node in a simulated deployment.
public struct NetworkNodeOutcome: Sendable, Hashable {
    /// The node's number (1…nodeCount, chain order).
    public var number: Int
    /// The node's name.
    public var name: String
    /// Whether it ended with the whole stream.
    public var status: NetworkNodeStatus
    /// When its first byte started to arrive, in seconds (nil: nothing ever reached it).
    public var start: Double?
    /// OK: when its last byte was on disk; KO: when it was killed, evicted or dropped (seconds).
    public var finish: Double?
    /// Stream bytes it received (the whole stream for an OK node).
    public var bytesReceived: UInt64
    /// Bytes sent to it a second time: TCP retransmissions, replays after a re-link, multicast repairs.
    public var bytesResent: UInt64
    /// Chain: its upstream at the end (0 is the golden; for a KO node, when it left); nil for multicast.
    public var upstream: Int?

    /// Creates a node outcome.
    public init(
        number: Int, name: String, status: NetworkNodeStatus, start: Double?, finish: Double?,
        bytesReceived: UInt64, bytesResent: UInt64, upstream: Int?
    ) {
        self.number = number
        self.name = name
        self.status = status
        self.start = start
        self.finish = finish
        self.bytesReceived = bytesReceived
        self.bytesResent = bytesResent
        self.upstream = upstream
    }
}
