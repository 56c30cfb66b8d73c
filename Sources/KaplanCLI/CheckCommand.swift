import ArgumentParser
import KaplanLoading
import KaplanModel

/// `kaplan check PLAN…`: validate plans and report every problem with its place in the file.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate plans: every problem at once, as file:line:col.",
        discussion: "Exit codes: 0 every plan is valid, 1 a plan is invalid or unreadable, 64 usage error."
    )

    @Argument(help: "Plan files to check.")
    var plans: [String]

    @Option(name: .long, help: "Output format: text, json or github.")
    var format: OutputFormat = .text

    @Flag(name: .long, help: "Treat warnings as errors.")
    var strict = false

    func validate() throws {
        if plans.isEmpty { throw ValidationError("name at least one plan file, as in: kaplan check plans/lab-chain.yaml") }
    }

    func run() throws {
        var renderer = DiagnosticRenderer()
        var failed = 0
        var totalErrors = 0
        var totalWarnings = 0
        var jsonFiles: [String] = []
        for path in plans {
            let output = PlanFiles.load(path)
            let errors = output.diagnostics.filter { $0.severity == .error }.count
            let warnings = output.diagnostics.filter { $0.severity == .warning }.count
            totalErrors += errors
            totalWarnings += warnings
            let invalid = errors > 0 || (strict && warnings > 0)
            if invalid { failed += 1 }
            switch format {
            case .text:
                renderer.sources[path] = PlanFiles.lines(path)
                for d in output.diagnostics { print(renderer.text(d)) }
                if invalid {
                    print("\(path): invalid: \(count(errors, "error")), \(count(warnings, "warning"))")
                } else if let plan = output.plan {
                    let extra = warnings > 0 ? ", \(count(warnings, "warning"))" : ""
                    print(
                        "\(path): ok: \(count(plan.nodes.count, "node")), \(count(plan.partitions.count, "partition")) (\(plan.table.rawValue)), "
                            + "\(plan.transport.kind.rawValue) transport, bootloader \(plan.bootloader.kind.rawValue)\(extra)")
                }
            case .github:
                for d in output.diagnostics { print(renderer.github(d)) }
            case .json:
                let items = output.diagnostics.map(renderer.json).joined(separator: ",")
                var name = ""
                YAMLJSON.quote(path, into: &name)
                jsonFiles.append("{\"file\":\(name),\"valid\":\(!invalid),\"diagnostics\":[\(items)]}")
            }
        }
        switch format {
        case .json:
            print("{\"valid\":\(failed == 0),\"errors\":\(totalErrors),\"warnings\":\(totalWarnings),\"files\":[\(jsonFiles.joined(separator: ","))]}")
        case .text where plans.count > 1:
            print("checked \(count(plans.count, "plan")): \(plans.count - failed) valid, \(failed) invalid")
        default:
            break
        }
        if failed > 0 { throw ExitCode(1) }
    }

    private func count(_ n: Int, _ word: String) -> String { "\(n) \(word)\(n == 1 ? "" : "s")" }
}
