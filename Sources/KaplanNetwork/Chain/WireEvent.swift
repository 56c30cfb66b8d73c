import KaplanEngine
import KaplanGraph

/// An ``ExecutionEvent`` as it travels from an agent to the server.
enum WireEvent: Codable, Sendable {
    case stepStarted(StepAddress, attempt: Int)
    case stepSucceeded(StepAddress, seconds: Double)
    case stepFailed(StepError, willRetry: Bool)
    case stepSkipped(StepAddress, reason: String)
    case progress(node: String, bytes: UInt64)
    case nodeFinished(NodeOutcome)
    case journal(node: String, message: String)

    init(_ event: ExecutionEvent) {
        switch event {
        case .stepStarted(let a, let n): self = .stepStarted(a, attempt: n)
        case .stepSucceeded(let a, let s): self = .stepSucceeded(a, seconds: s)
        case .stepFailed(let e, let r): self = .stepFailed(e, willRetry: r)
        case .stepSkipped(let a, let r): self = .stepSkipped(a, reason: r)
        case .progress(let n, let b): self = .progress(node: n, bytes: b)
        case .nodeFinished(let o): self = .nodeFinished(o)
        case .journal(let n, let m): self = .journal(node: n, message: m)
        }
    }

    /// The event to hand to the server's observer.
    var event: ExecutionEvent {
        switch self {
        case .stepStarted(let a, let n): .stepStarted(a, attempt: n)
        case .stepSucceeded(let a, let s): .stepSucceeded(a, seconds: s)
        case .stepFailed(let e, let r): .stepFailed(e, willRetry: r)
        case .stepSkipped(let a, let r): .stepSkipped(a, reason: r)
        case .progress(let n, let b): .progress(node: n, bytes: b)
        case .nodeFinished(let o): .nodeFinished(o)
        case .journal(let n, let m): .journal(node: n, message: m)
        }
    }
}
