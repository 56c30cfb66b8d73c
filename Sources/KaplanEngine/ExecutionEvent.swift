import KaplanGraph
import KaplanModel

/// What the executor reports as it runs, for live progress lines and JSON-lines output.
public enum ExecutionEvent: Sendable, Hashable {
    /// A step started (attempt counts from 1).
    case stepStarted(StepAddress, attempt: Int)
    /// A step finished successfully after so many seconds.
    case stepSucceeded(StepAddress, seconds: Double)
    /// A step failed; it may be retried.
    case stepFailed(StepError, willRetry: Bool)
    /// A step was skipped because a step it needs failed, or it was already done (journal).
    case stepSkipped(StepAddress, reason: String)
    /// What the executor did with a node's journal: resumed from it, ignored it (and why), or could not write it.
    case journal(node: String, message: String)
    /// Bytes received so far by a node's stream.
    case progress(node: String, bytes: UInt64)
    /// A node ended.
    case nodeFinished(NodeOutcome)
}

/// Receives execution events; implementations must be cheap and thread-safe.
public protocol ExecutionObserver: Sendable {
    /// Handles one event.
    func handle(_ event: ExecutionEvent)
}

/// How one node ended.
public struct NodeOutcome: Sendable, Hashable, Codable {
    /// The node.
    public var node: String
    /// OK or KO.
    public var ok: Bool
    /// The failure that made it KO.
    public var failure: StepError?
    /// Steps that completed, in completion order.
    public var completed: [StepAddress]
    /// Bytes the stream delivered.
    public var bytes: UInt64
    /// Wall time from the node's first step to its end.
    public var seconds: Double

    /// Creates an outcome.
    public init(node: String, ok: Bool, failure: StepError?, completed: [StepAddress], bytes: UInt64, seconds: Double) {
        self.node = node
        self.ok = ok
        self.failure = failure
        self.completed = completed
        self.bytes = bytes
        self.seconds = seconds
    }
}
