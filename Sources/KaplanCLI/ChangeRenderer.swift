import KaplanEngine
import KaplanModel

/// Renders what apply would do, per node, for people and as JSON.
enum ChangeRenderer {
    static func mark(_ action: Change.Action) -> String {
        switch action {
        case .create: "+"
        case .replace: "~"
        case .keep: "="
        case .delete: "-"
        case .run: ">"
        }
    }

    /// The text of one node's changes.
    static func text(_ node: NodeChanges) -> String {
        var out = "\(node.node)  \(node.target) (\(ByteSize(node.observed.sizeBytes)))"
        if let problem = node.problem { return out + "\n  error: \(problem)\n" }
        if !node.hasChanges { return out + "\n  No changes. " + (node.changes.first?.detail ?? "") + "\n" }
        let count = node.changes.filter { $0.action != .keep }.count
        out += ": \(count) change\(count == 1 ? "" : "s")" + (node.destroysData ? ", DESTROYS DATA" : "") + "\n"
        let width = min(22, node.changes.map(\.subject.count).max() ?? 0)
        for c in node.changes {
            let subject = c.subject.padding(toLength: max(width, c.subject.count), withPad: " ", startingAt: 0)
            let action = c.action.rawValue.padding(toLength: 7, withPad: " ", startingAt: 0)
            out += "  \(mark(c.action)) \(subject)  \(action)  \(c.detail)" + (c.destroysData ? "   <-- destroys data" : "") + "\n"
        }
        return out
    }

    /// The closing summary line.
    static func summary(_ nodes: [NodeChanges]) -> String {
        let errors = nodes.filter { $0.problem != nil }.count
        let changing = nodes.filter { $0.problem == nil && $0.hasChanges }
        let destroying = changing.filter(\.destroysData).count
        let unchanged = nodes.count - errors - changing.count
        var parts = ["\(changing.count) node\(changing.count == 1 ? "" : "s") to change"]
        if destroying > 0 { parts[0] += " (\(destroying) destroying data)" }
        parts.append("\(unchanged) unchanged")
        if errors > 0 { parts.append("\(errors) cannot be deployed") }
        return "Plan: " + parts.joined(separator: ", ") + "."
    }
}
