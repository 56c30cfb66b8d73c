import KaplanModel
import KaplanYAML

/// Reads one YAML mapping against the keys it may hold: reports unknown keys (with a did-you-mean),
/// duplicate keys and non-string keys, resolves `<<` merge keys, and reports missing required keys.
package struct MappingReader {
    /// The mapping node.
    package let node: YAMLNode
    /// What the mapping is, for messages ("partition 'root'", "transport").
    package let what: String
    private let context: LoadContext
    private var values: [String: YAMLNode] = [:]
    private var keyNodes: [String: YAMLNode] = [:]

    /// Reads `node` as a mapping with the `allowed` keys; nil (with a diagnostic) when it is not a mapping.
    package init?(_ node: YAMLNode, _ what: String, allowed: [String], context: LoadContext) {
        guard case .mapping(let pairs) = node.content else {
            var hint: String? = nil
            if case .sequence = node.content { hint = "remove the leading '-': \(what) is a mapping, not a list" }
            context.error(
                "wrong-type", "\(what) must be a mapping of keys to values, not \(node.kindDescription)", at: node,
                hint: hint)
            return nil
        }
        self.node = node
        self.what = what
        self.context = context
        var merged: [(key: String, keyNode: YAMLNode, value: YAMLNode)] = []
        for pair in pairs {
            guard case .string(let key)? = Scalar(pair.key) else {
                context.error("wrong-type", "keys of \(what) must be strings, not \(pair.key.kindDescription)", at: pair.key)
                continue
            }
            if key == "<<" {
                merged.append(contentsOf: Self.mergeSources(pair.value, what: what, context: context))
                continue
            }
            if let first = keyNodes[key] {
                context.error(
                    "duplicate-key", "duplicate key '\(key)' in \(what)", at: pair.key,
                    hint: "the first '\(key)' is on line \(first.start.line); keep one")
                continue
            }
            guard allowed.contains(key) else {
                let suggestion = Suggestions.closest(to: key, in: allowed)
                context.error(
                    "unknown-key", "unknown key '\(key)' in \(what)", at: pair.key,
                    hint: suggestion.map { "did you mean '\($0)'?" }
                        ?? "allowed keys: \(allowed.joined(separator: ", "))")
                continue
            }
            keyNodes[key] = pair.key
            values[key] = pair.value
        }
        // Merged keys never override keys written in the mapping itself.
        for entry in merged where values[entry.key] == nil {
            guard allowed.contains(entry.key) else {
                let suggestion = Suggestions.closest(to: entry.key, in: allowed)
                context.error(
                    "unknown-key", "unknown key '\(entry.key)' merged into \(what)", at: entry.keyNode,
                    hint: suggestion.map { "did you mean '\($0)'?" })
                continue
            }
            keyNodes[entry.key] = entry.keyNode
            values[entry.key] = entry.value
        }
    }

    private static func mergeSources(_ value: YAMLNode, what: String, context: LoadContext) -> [(
        key: String, keyNode: YAMLNode, value: YAMLNode
    )] {
        let sources: [YAMLNode]
        switch value.content {
        case .mapping: sources = [value]
        case .sequence(let items): sources = items
        case .scalar:
            context.error("wrong-type", "a '<<' merge in \(what) must name a mapping (an alias like *defaults)", at: value)
            return []
        }
        var result: [(key: String, keyNode: YAMLNode, value: YAMLNode)] = []
        var seen = Set<String>()
        for source in sources {
            guard case .mapping(let pairs) = source.content else {
                context.error("wrong-type", "a '<<' merge in \(what) must name mappings, not \(source.kindDescription)", at: source)
                continue
            }
            for pair in pairs {
                guard case .string(let key)? = Scalar(pair.key), key != "<<" else { continue }
                // Earlier sources win, as YAML's merge key specifies.
                if seen.insert(key).inserted { result.append((key, pair.key, pair.value)) }
            }
        }
        return result
    }

    /// The value of an optional key.
    package func optional(_ key: String) -> YAMLNode? {
        guard let value = values[key] else { return nil }
        // `key:` with nothing after it is the same as leaving the key out.
        if case .null? = Scalar(value) { return nil }
        return value
    }

    /// The value of a required key; reports `missing-key` at the mapping when absent.
    package func required(_ key: String, hint: String? = nil) -> YAMLNode? {
        if let value = optional(key) { return value }
        if let keyNode = keyNodes[key] {
            context.error("missing-key", "'\(key)' in \(what) has no value", at: keyNode, hint: hint)
        } else {
            context.error("missing-key", "\(what) is missing the required key '\(key)'", at: node, hint: hint)
        }
        return nil
    }

    /// The node of a key as written (for diagnostics on the key rather than the value).
    package func keyNode(_ key: String) -> YAMLNode? { keyNodes[key] }

    /// True when the key is present with a value.
    package func has(_ key: String) -> Bool { optional(key) != nil }
}
