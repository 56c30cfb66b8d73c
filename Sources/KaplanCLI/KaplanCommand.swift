import ArgumentParser

/// The `kaplan` command: clone a golden Linux node onto many nodes over the network.
public struct KaplanCommand: AsyncParsableCommand {
    /// The command's description and subcommands.
    public static let configuration = CommandConfiguration(
        commandName: "kaplan",
        abstract: "Clone a golden Linux node onto many cluster nodes over the network.",
        discussion: """
            Plans are YAML files (see docs/plan-format.md). Exit codes: check 0 valid, 1 invalid, 64 usage.
            """,
        version: "0.1.0",
        subcommands: [CheckCommand.self, GraphCommand.self, DiffCommand.self, ApplyCommand.self, AgentCommand.self, SimulateCommand.self, DevCommand.self]
    )

    /// Creates the command (ArgumentParser).
    public init() {}
}
