import KaplanModel
import KaplanYAML

/// Renders a YAML node as JSON under kaplan's typing rule (see ``Scalar``), merge keys applied —
/// exactly the data the JSON Schema is checked against.
public enum YAMLJSON {
    /// The JSON text of `node`.
    public static func render(_ node: YAMLNode) -> String {
        var out = ""
        write(node, into: &out)
        return out
    }

    private static func write(_ node: YAMLNode, into out: inout String) {
        switch node.content {
        case .scalar:
            switch Scalar(node)! {
            case .null: out += "null"
            case .bool(let b): out += b ? "true" : "false"
            case .integer(let text):
                // JSON has no '+' sign and no leading zeros: 0600 is the number 600.
                var digits = Substring(text)
                let negative = digits.first == "-"
                if digits.first == "-" || digits.first == "+" { digits = digits.dropFirst() }
                while digits.count > 1, digits.first == "0" { digits = digits.dropFirst() }
                out += (negative && digits != "0" ? "-" : "") + digits
            case .number(let d): out += d.isFinite ? "\(d)" : "null"
            case .string(let s): quote(s, into: &out)
            }
        case .sequence(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                write(item, into: &out)
            }
            out += "]"
        case .mapping(let pairs):
            var keys: [String] = []
            var values: [String: YAMLNode] = [:]
            var merged: [(String, YAMLNode)] = []
            for pair in pairs {
                let key = pair.key.scalar ?? render(pair.key)
                if key == "<<" {
                    let sources: [YAMLNode]
                    if case .sequence(let items) = pair.value.content { sources = items } else { sources = [pair.value] }
                    for source in sources {
                        if case .mapping(let inner) = source.content {
                            for p in inner { merged.append((p.key.scalar ?? "", p.value)) }
                        }
                    }
                    continue
                }
                // The first of duplicate keys counts, as in the decoder (which reports the others).
                if values[key] == nil {
                    keys.append(key)
                    values[key] = pair.value
                }
            }
            for (key, value) in merged where values[key] == nil {
                keys.append(key)
                values[key] = value
            }
            out += "{"
            for (i, key) in keys.enumerated() {
                if i > 0 { out += "," }
                quote(key, into: &out)
                out += ":"
                write(values[key]!, into: &out)
            }
            out += "}"
        }
    }

    /// Appends `s` as a JSON string literal.
    public static func quote(_ s: String, into out: inout String) { JSONText.quote(s, into: &out) }
}
