import Foundation

/// How the golden serves a network session.
public struct ServeConfiguration: Sendable {
    /// The control endpoint agents join on (the data port is the next one, or any free one when this is 0).
    public var listen: Endpoint
    /// Start as soon as this many nodes joined (default: wait for every plan node until the join timeout).
    public var minNodes: Int?
    /// Where the golden keeps its copy of the sealed stream (the chain's head and gap repairs read it).
    public var spoolDirectory: String
    /// Polled while waiting for joins: true starts with the nodes that joined so far (SIGUSR1).
    public var startNow: @Sendable () -> Bool
    /// Multicast: nodes that join after the start are deployed too (their changes are printed, not asked).
    public var acceptLateJoins: Bool
    /// Told the stream's size (the bytes every node's stream step counts) once the golden has produced all of it:
    /// the live lines show an ETA from then on.
    public var streamSize: @Sendable (UInt64) -> Void = { _ in }

    /// Creates a configuration.
    public init(listen: Endpoint, minNodes: Int?, spoolDirectory: String, acceptLateJoins: Bool = false,
                startNow: @escaping @Sendable () -> Bool) {
        self.acceptLateJoins = acceptLateJoins
        self.listen = listen
        self.minNodes = minNodes
        self.spoolDirectory = spoolDirectory
        self.startNow = startNow
    }
}
