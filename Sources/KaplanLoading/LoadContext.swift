import KaplanModel
import KaplanYAML

/// Collects diagnostics while a plan is read, and turns YAML nodes into typed values with their ranges.
package final class LoadContext {
    /// The file being read, as the operator named it.
    package let file: String
    /// Every problem found so far, in discovery order.
    package private(set) var diagnostics: [Diagnostic] = []
    /// Ranges of decoded values by path (`partitions[2].size`), for checks that run after decoding.
    package private(set) var ranges: [String: SourceRange] = [:]

    /// Creates a context for `file`.
    package init(file: String) { self.file = file }

    /// The source range a node covers; multi-line nodes are narrowed to their first line for the caret.
    package func range(_ node: YAMLNode) -> SourceRange {
        let start = SourceLocation(line: node.start.line, column: node.start.column)
        var end = SourceLocation(line: node.end.line, column: node.end.column)
        if end.line != start.line || end.column <= start.column {
            end = SourceLocation(line: start.line, column: start.column + 1)
        }
        return SourceRange(file: file, start: start, end: end)
    }

    /// Records where a decoded value came from.
    package func record(_ path: String, _ node: YAMLNode) { ranges[path] = range(node) }

    /// Records where a decoded value came from.
    package func record(_ path: String, _ range: SourceRange) { ranges[path] = range }

    /// Reports an error.
    package func error(_ code: String, _ message: String, at node: YAMLNode, hint: String? = nil) {
        diagnostics.append(Diagnostic(.error, code, message, at: range(node), hint: hint))
    }

    /// Reports a diagnostic at an explicit range.
    package func report(_ diagnostic: Diagnostic) { diagnostics.append(diagnostic) }

    // MARK: typed scalars

    private func wrongType(_ node: YAMLNode, _ what: String, expected: String) {
        let got: String
        if let scalar = Scalar(node) {
            switch scalar {
            case .string(let s): got = "the string \"\(s.prefix(40))\""
            case .integer(let s): got = "the integer \(s)"
            case .number(let d): got = "the number \(d)"
            case .bool(let b): got = "\(b)"
            case .null: got = "nothing (null)"
            }
        } else {
            got = node.kindDescription
        }
        var hint: String? = nil
        if expected == "an integer", case .string(let s)? = Scalar(node), Int(s) != nil {
            hint = "remove the quotes: write \(s)"
        } else if expected == "true or false", case .string(let s)? = Scalar(node),
            ["yes", "no", "on", "off", "y", "n", "True", "False", "TRUE", "FALSE"].contains(s)
        {
            hint = "write true or false; YAML 1.1 spellings like '\(s)' are not booleans here"
        }
        error("wrong-type", "\(what) must be \(expected), not \(got)", at: node, hint: hint)
    }

    /// A string scalar (quoted, or plain text that is not a number, boolean or null).
    package func string(_ node: YAMLNode, _ what: String) -> String? {
        guard case .string(let s)? = Scalar(node) else {
            wrongType(node, what, expected: "a string")
            return nil
        }
        return s
    }

    /// A non-empty string.
    package func nonEmptyString(_ node: YAMLNode, _ what: String) -> String? {
        guard let s = string(node, what) else { return nil }
        if s.isEmpty {
            error("invalid-value", "\(what) must not be empty", at: node)
            return nil
        }
        return s
    }

    /// An integer within `bounds`.
    package func integer(_ node: YAMLNode, _ what: String, in bounds: ClosedRange<Int>) -> Int? {
        guard case .integer(let text)? = Scalar(node) else {
            wrongType(node, what, expected: "an integer")
            return nil
        }
        guard let value = Int(text), bounds.contains(value) else {
            error(
                "invalid-value", "\(what) is \(text); it must be between \(bounds.lowerBound) and \(bounds.upperBound)",
                at: node)
            return nil
        }
        return value
    }

    /// A boolean (`true` or `false` only).
    package func bool(_ node: YAMLNode, _ what: String) -> Bool? {
        guard case .bool(let b)? = Scalar(node) else {
            wrongType(node, what, expected: "true or false")
            return nil
        }
        return b
    }

    /// One of a fixed set of words.
    package func choice<T>(_ node: YAMLNode, _ what: String, _ options: [(String, T)]) -> T? {
        guard let s = string(node, what) else { return nil }
        if let match = options.first(where: { $0.0 == s }) { return match.1 }
        let names = options.map(\.0)
        let suggestion = Suggestions.closest(to: s, in: names)
        error(
            "invalid-value", "\(what) '\(s)' is not one of: \(names.joined(separator: ", "))", at: node,
            hint: suggestion.map { "did you mean '\($0)'?" })
        return nil
    }

    /// One of an enum's raw values.
    package func choice<T: RawRepresentable & CaseIterable>(_ node: YAMLNode, _ what: String, _ type: T.Type) -> T?
    where T.RawValue == String {
        choice(node, what, T.allCases.map { ($0.rawValue, $0) })
    }

    /// A list of strings.
    package func stringList(_ node: YAMLNode, _ what: String) -> [String]? {
        guard case .sequence(let items) = node.content else {
            wrongType(node, what, expected: "a list of strings")
            return nil
        }
        var result: [String] = []
        var ok = true
        for item in items {
            if let s = string(item, "each entry of \(what)") { result.append(s) } else { ok = false }
        }
        return ok ? result : nil
    }

    /// An argv-style list: every scalar is taken verbatim as one argument (`[chmod, 0600, /etc/x]` keeps
    /// `0600` as written); null, empty and nested entries are refused.
    package func argvList(_ node: YAMLNode, _ what: String) -> [String]? {
        guard case .sequence(let items) = node.content else {
            wrongType(node, what, expected: "a list of arguments")
            return nil
        }
        var result: [String] = []
        var ok = true
        for item in items {
            guard case .scalar(let text, let plain) = item.content else {
                error("wrong-type", "each entry of \(what) must be one argument, not \(item.kindDescription)", at: item)
                ok = false
                continue
            }
            if plain, case .null = Scalar.classifyPlain(text) {
                error("invalid-value", "an entry of \(what) is empty", at: item, hint: "quote it if you mean the text '\(text)'")
                ok = false
                continue
            }
            result.append(text)
        }
        return ok ? result : nil
    }

    /// A byte size with a unit, within `bounds`.
    package func size(_ node: YAMLNode, _ what: String, min: UInt64 = 1, max: UInt64 = 1 << 50) -> ByteSize? {
        let text: String
        switch Scalar(node) {
        case .string(let s)?: text = s
        case .integer(let shown)?:
            error(
                "invalid-value", "\(what) \(shown) has no unit", at: node,
                hint: "write \(shown)MiB, \(shown)GiB or \(shown)B: a bare number is ambiguous")
            return nil
        case .number?:
            let shown = node.scalar ?? ""
            error("invalid-value", "\(what) \(shown) has no unit", at: node, hint: "write \(shown)GiB or \(shown)MiB")
            return nil
        default:
            wrongType(node, what, expected: "a size like 512MiB")
            return nil
        }
        switch ByteSize.parse(text) {
        case .success(let size):
            if size.bytes < min || size.bytes > max {
                let lo = ByteSize(min), hi = ByteSize(max)
                error("invalid-value", "\(what) \(text) is out of range; it must be between \(lo) and \(hi)", at: node)
                return nil
            }
            return size
        case .failure(.unit):
            error(
                "invalid-value", "\(what) '\(text)' has no known unit", at: node,
                hint: "use B, KiB, MiB, GiB, TiB, kB, MB, GB or TB, as in 512MiB")
        case .failure(.number):
            error("invalid-value", "\(what) '\(text)' is not a non-negative number with a unit, as in 512MiB", at: node)
        case .failure(.overflow):
            error("invalid-value", "\(what) '\(text)' is too large", at: node)
        }
        return nil
    }

    /// A duration (`500ms`, `10s`, `5m`, `2h`) within `bounds`.
    package func duration(_ node: YAMLNode, _ what: String, in bounds: ClosedRange<UInt64>) -> Duration? {
        guard case .string(let text)? = Scalar(node) else {
            if case .integer(let i)? = Scalar(node) {
                error("invalid-value", "\(what) \(i) has no unit", at: node, hint: "write \(i)s, \(i)ms, \(i)m or \(i)h")
            } else {
                wrongType(node, what, expected: "a duration like 10s")
            }
            return nil
        }
        guard let d = Duration.parse(text) else {
            error("invalid-value", "\(what) '\(text)' is not a duration", at: node, hint: "write it as 500ms, 10s, 5m or 2h")
            return nil
        }
        guard bounds.contains(d.milliseconds) else {
            let lo = Duration(milliseconds: bounds.lowerBound), hi = Duration(milliseconds: bounds.upperBound)
            error("invalid-value", "\(what) \(text) is out of range; it must be between \(lo) and \(hi)", at: node)
            return nil
        }
        return d
    }

    /// A bit rate (`100Mbit`, `1Gbit`).
    package func rate(_ node: YAMLNode, _ what: String) -> BitRate? {
        guard case .string(let text)? = Scalar(node) else {
            wrongType(node, what, expected: "a rate like 100Mbit")
            return nil
        }
        guard let r = BitRate.parse(text) else {
            error(
                "invalid-value", "\(what) '\(text)' is not a rate", at: node,
                hint: "write it in bits per second with a unit: 800kbit, 100Mbit, 1Gbit")
            return nil
        }
        guard r.bitsPerSecond >= 64_000, r.bitsPerSecond <= 400_000_000_000 else {
            error("invalid-value", "\(what) \(text) is out of range; it must be between 64kbit and 400Gbit", at: node)
            return nil
        }
        return r
    }
}
