import ArgumentParser
import KaplanGraph
import KaplanModel

/// `kaplan graph PLAN`: the exact steps the plan compiles to, per node.
struct GraphCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "graph",
        abstract: "Print the step graph a plan compiles to.",
        discussion: "Exit codes: 0 printed, 1 the plan is invalid, 64 usage error."
    )

    /// Graph output formats.
    enum Format: String, ExpressibleByArgument, CaseIterable { case text, dot, mermaid, json }

    @Argument(help: "The plan file.")
    var plan: String

    @Option(name: .long, help: "Only the golden's steps and this node's.")
    var node: String?

    @Option(name: .long, help: "Output format: text, dot, mermaid or json.")
    var format: Format = .text

    func run() throws {
        let loaded = try PlanFiles.loadValid(plan)
        var graph = GraphBuilder().build(loaded)
        if let node {
            guard loaded.nodes.contains(where: { $0.name == node }) else {
                printError("\(plan): no node named '\(node)'; the plan has \(loaded.nodes.prefix(5).map(\.name).joined(separator: ", "))\(loaded.nodes.count > 5 ? ", …" : "")")
                throw ExitCode(1)
            }
            graph = graph.restricted(to: node)
        }
        do throws(GraphError) {
            switch format {
            case .text: print(try GraphRenderer.text(graph, title: loaded.name), terminator: "")
            case .dot: print(try GraphRenderer.dot(graph, title: loaded.name), terminator: "")
            case .mermaid: print(try GraphRenderer.mermaid(graph), terminator: "")
            case .json: print(try GraphRenderer.json(graph), terminator: "")
            }
        } catch {
            printError("\(plan): internal error: \(error)")
            throw ExitCode(1)
        }
    }
}
