import KaplanModel

/// Canonical, stable renderings of a step graph: text (golden tests hold it), Graphviz DOT, Mermaid, JSON.
public enum GraphRenderer {
    /// One step a paragraph: `address  <- dependencies`, then its summary indented.
    public static func text(_ graph: StepGraph, title: String) throws(GraphError) -> String {
        let steps = try graph.ordered()
        let nodes = graph.owners.filter { $0 != "golden" }.count
        var out = "# \(title): \(steps.count) steps, golden + \(nodes) node\(nodes == 1 ? "" : "s")\n"
        for step in steps {
            out += step.address.description
            if !step.dependencies.isEmpty { out += "  <- " + step.dependencies.map(\.description).joined(separator: ", ") }
            out += "\n    " + step.summary + "\n"
        }
        return out
    }

    /// Graphviz DOT, one cluster per owner.
    public static func dot(_ graph: StepGraph, title: String) throws(GraphError) -> String {
        let steps = try graph.ordered()
        var out = "digraph \"\(escape(title))\" {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n"
        for (i, owner) in graph.owners.enumerated() {
            out += "  subgraph \"cluster_\(i)\" {\n    label=\"\(escape(owner))\";\n"
            for step in steps where step.address.owner == owner {
                out += "    \"\(escape(step.address.description))\";\n"
            }
            out += "  }\n"
        }
        for step in steps {
            for dep in step.dependencies {
                out += "  \"\(escape(dep.description))\" -> \"\(escape(step.address.description))\";\n"
            }
        }
        return out + "}\n"
    }

    /// A Mermaid flowchart.
    public static func mermaid(_ graph: StepGraph) throws(GraphError) -> String {
        let steps = try graph.ordered()
        var ids: [StepAddress: String] = [:]
        for (i, step) in steps.enumerated() { ids[step.address] = "s\(i)" }
        var out = "flowchart LR\n"
        for step in steps {
            out += "  \(ids[step.address]!)[\"\(step.address.description.replacingAllQuotes())\"]\n"
        }
        for step in steps {
            for dep in step.dependencies { out += "  \(ids[dep]!) --> \(ids[step.address]!)\n" }
        }
        return out
    }

    /// A JSON document: `{"steps": [{"address", "owner", "kind", "argument", "after", "summary"}]}`.
    public static func json(_ graph: StepGraph) throws(GraphError) -> String {
        let steps = try graph.ordered()
        let items = steps.map { step in
            var fields = [
                "\"address\":\(quote(step.address.description))", "\"owner\":\(quote(step.address.owner))",
                "\"kind\":\(quote(step.address.kind.rawValue))",
            ]
            if let a = step.address.argument { fields.append("\"argument\":\(quote(a))") }
            fields.append("\"after\":[\(step.dependencies.map { quote($0.description) }.joined(separator: ","))]")
            fields.append("\"summary\":\(quote(step.summary))")
            return "{" + fields.joined(separator: ",") + "}"
        }
        return "{\"steps\":[\n" + items.joined(separator: ",\n") + "\n]}\n"
    }

    static func escape(_ s: String) -> String {
        var out = ""
        for c in s {
            if c == "\"" || c == "\\" { out.append("\\") }
            out.append(c)
        }
        return out
    }

    static func quote(_ s: String) -> String { JSONText.quote(s) }
}

extension String {
    fileprivate func replacingAllQuotes() -> String { String(map { $0 == "\"" ? "'" : $0 }) }
}
