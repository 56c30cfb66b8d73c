import Foundation
import KaplanEngine
import KaplanGraph
import KaplanModel

/// The server's view of one agent: its links, where it stands, and how it ended.
final class AgentSession: @unchecked Sendable {
    /// Where the agent is in the session.
    enum Phase: Equatable {
        case joined, probed, started, streaming, finished, lost, evicted, rejected
    }

    let name: String
    let control: FramedLink
    let data: Endpoint
    /// The server's address as this agent reaches it (the golden's data endpoint host for this agent).
    let serverHost: String
    var phase: Phase = .joined
    var target: Target?
    var changes: NodeChanges?
    var outcome: NodeOutcome?
    var lastHeard = monotonicSeconds()
    var status: RelayStatus?
    var lastStep: StepAddress?
    var completed: [StepAddress] = []
    var bytes: UInt64 = 0
    var started = monotonicSeconds()
    /// The upstream it was last told to receive from.
    var upstream: String?
    /// A lost link waiting for the server's decision, and how often it was re-linked to the same upstream.
    var pendingLoss: (LinkLost, at: Double)?
    /// Data links the server has given it (bounded by ChainServer.maximumLinks).
    var relinks = 0
    var failedRelinksToSame = 0
    /// Multicast: the sender counts it as a receiver.
    var inStream = false
    /// Multicast: it was told the stream's length.
    var toldTotal = false
    /// Multicast: its last receipt's counters.
    var received: MulticastReceiver.Statistics?

    init(name: String, control: FramedLink, data: Endpoint, serverHost: String) {
        self.name = name
        self.control = control
        self.data = data
        self.serverHost = serverHost
    }

    /// True while the agent is connected and part of the deployment.
    var isAlive: Bool { ![.lost, .evicted, .rejected].contains(phase) }

    /// Sends a control message; a failure means the agent is gone (the reader notices).
    func send(_ message: ControlMessage) {
        try? control.send(control: message.encoded())
    }
}
