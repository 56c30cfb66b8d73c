/// Who connects: an agent's control connection, or a chain data link (a downstream node → its upstream).
public enum LinkRole: UInt8, Sendable, Codable {
    /// An agent's control connection to the golden node.
    case control = 1
    /// A chain data link from a downstream node to its upstream.
    case data = 2
}
