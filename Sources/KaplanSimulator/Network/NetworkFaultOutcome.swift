/// What one injected fault did, as a sentence for the operator.
public struct NetworkFaultOutcome: Sendable, Hashable {
    /// The fault as injected.
    public var fault: NetworkFault
    /// When it took effect, in seconds; nil when it never did (the node was gone first, or never got that far).
    public var time: Double?
    /// One sentence: what happened and how the transport coped.
    public var sentence: String

    /// Creates a fault outcome.
    public init(fault: NetworkFault, time: Double?, sentence: String) {
        self.fault = fault
        self.time = time
        self.sentence = sentence
    }
}
