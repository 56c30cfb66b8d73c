/// Why a scenario could not be simulated: every problem found, worded for the operator.
public struct NetworkScenarioError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The problems, in the order the scenario's fields are declared.
    public var problems: [String]

    /// Creates an error from its problems.
    public init(problems: [String]) { self.problems = problems }

    /// One problem per line.
    public var description: String {
        "the network scenario cannot be simulated:\n" + problems.map { "  - " + $0 }.joined(separator: "\n")
    }
}
