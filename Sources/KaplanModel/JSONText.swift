/// JSON text helpers shared by every renderer (diagnostics, graphs, events, YAML-to-JSON).
public enum JSONText {
    /// Appends `s` as a JSON string literal (RFC 8259 escapes; control characters as \u00XX).
    public static func quote(_ s: String, into out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }

    /// `s` as a JSON string literal.
    public static func quote(_ s: String) -> String {
        var out = ""
        quote(s, into: &out)
        return out
    }
}
