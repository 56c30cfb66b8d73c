/// How a node ended: with a complete copy of the stream, or without one and why.
public enum NetworkNodeStatus: Sendable, Hashable, CustomStringConvertible {
    /// The node received and wrote the whole stream.
    case ok
    /// The node does not have the whole stream.
    case ko(Reason)

    /// Why a node ended without the whole stream.
    public enum Reason: String, Sendable, Hashable {
        /// It died (a `kill` fault) before it had written everything; chain: its upstream re-linked around it.
        case killed
        /// Its disk held the transfer back longer than the stall timeout, so it was evicted.
        case evictedStall = "evicted-stall"
        /// Multicast: it stayed silent for the receiver timeout, so the sender dropped it.
        case droppedTimeout = "dropped-timeout"
        /// The model found no way to deliver the rest to it (should not happen; reported rather than hidden).
        case stranded
    }

    /// True for `.ok`.
    public var isOK: Bool { self == .ok }

    /// `ok` or `ko <reason>`.
    public var description: String {
        switch self {
        case .ok: "ok"
        case .ko(let reason): "ko " + reason.rawValue
        }
    }
}
