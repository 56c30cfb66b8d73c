import KaplanYAML

/// The type a scalar has under kaplan's strict typing rule (the JSON Schema's view of YAML).
///
/// A plain (unquoted) scalar is an integer when it matches `^[-+]?[0-9]+$`, a number when it matches a
/// decimal with a point or exponent, a boolean when it is exactly `true` or `false`, null when it is empty,
/// `~` or `null`; anything else, and every quoted scalar, is a string. YAML 1.1's `yes`/`no`/`on`/`off`
/// are strings, so `removable: yes` is refused instead of silently meaning true.
package enum Scalar: Equatable {
    case null
    case bool(Bool)
    /// An integer's text (it may be too large for `Int`; the reader says so).
    case integer(String)
    case number(Double)
    case string(String)

    /// Classifies a node; nil for a collection.
    package init?(_ node: YAMLNode) {
        guard case .scalar(let text, let plain) = node.content else { return nil }
        if node.tag == "tag:yaml.org,2002:str" || !plain {
            self = .string(text)
            return
        }
        self = Scalar.classifyPlain(text)
    }

    /// Classifies the text of a plain scalar.
    package static func classifyPlain(_ text: String) -> Scalar {
        if text.isEmpty || text == "~" || text == "null" { return .null }
        if text == "true" { return .bool(true) }
        if text == "false" { return .bool(false) }
        if isInteger(text) { return .integer(text) }
        if isNumber(text), let value = Double(text) { return .number(value) }
        return .string(text)
    }

    private static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }

    private static func isInteger(_ text: String) -> Bool {
        var bytes = Substring(text).utf8[...]
        if let first = bytes.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") { bytes = bytes.dropFirst() }
        return !bytes.isEmpty && bytes.allSatisfy(isDigit)
    }

    private static func isNumber(_ text: String) -> Bool {
        var bytes = Array(text.utf8)[...]
        if let first = bytes.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") { bytes = bytes.dropFirst() }
        var mantissa = bytes
        var exponent: ArraySlice<UInt8>? = nil
        if let e = bytes.firstIndex(where: { $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }) {
            mantissa = bytes[bytes.startIndex..<e]
            var exp = bytes[(e + 1)...]
            if let first = exp.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") { exp = exp.dropFirst() }
            exponent = exp
        }
        let dots = mantissa.filter { $0 == UInt8(ascii: ".") }.count
        guard dots == 1, mantissa.count > 1, mantissa.allSatisfy({ isDigit($0) || $0 == UInt8(ascii: ".") }) else {
            return false
        }
        if let exponent, exponent.isEmpty || !exponent.allSatisfy(isDigit) { return false }
        return true
    }

    /// A word for the scalar's type, for messages.
    package var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .integer: "an integer"
        case .number: "a number"
        case .string: "a string"
        }
    }
}
