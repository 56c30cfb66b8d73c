/// A fault injected into a simulated deployment; nodes are numbered 1…nodeCount in chain order (0 is the golden).
public enum NetworkFault: Sendable, Hashable {
    /// The node dies once it has received `fraction` (0…1) of the stream's bytes.
    case killAtFraction(node: Int, fraction: Double)
    /// The node dies at `time` seconds after the start.
    case killAtTime(node: Int, time: Double)
    /// The node's disk stops writing at `time` for `duration` seconds; the node still answers its peers.
    case stall(node: Int, time: Double, duration: Double)
    /// The node's disk writes at `bytesPerSecond` for the whole run instead of the scenario's disk rate.
    case slowDisk(node: Int, bytesPerSecond: Double)
    /// The node joins `time` seconds after the start (multicast: it gets what it missed in catch-up passes;
    /// chain: it is appended at the tail).
    case lateJoin(node: Int, time: Double)

    /// The node dies once it has received `fraction` (0…1) of the stream.
    public static func kill(_ node: Int, atFraction fraction: Double) -> NetworkFault {
        .killAtFraction(node: node, fraction: fraction)
    }

    /// The node dies at `time` seconds.
    public static func kill(_ node: Int, atTime time: Double) -> NetworkFault {
        .killAtTime(node: node, time: time)
    }

    /// The node's disk stops writing at `time` for `duration` seconds (`.infinity` for a hung disk).
    public static func stall(_ node: Int, atTime time: Double, for duration: Double) -> NetworkFault {
        .stall(node: node, time: time, duration: duration)
    }

    /// The node's disk writes at `rate` bytes per second.
    public static func slowDisk(_ node: Int, rate: Double) -> NetworkFault {
        .slowDisk(node: node, bytesPerSecond: rate)
    }

    /// The node joins at `time` seconds.
    public static func lateJoin(_ node: Int, atTime time: Double) -> NetworkFault {
        .lateJoin(node: node, time: time)
    }

    /// The node the fault applies to.
    public var node: Int {
        switch self {
        case .killAtFraction(let n, _), .killAtTime(let n, _), .stall(let n, _, _), .slowDisk(let n, _),
            .lateJoin(let n, _):
            n
        }
    }
}
