import KaplanLoading
import KaplanModel

/// Renders diagnostics for people (GCC style with a caret), for tools (JSON) and for GitHub Actions.
struct DiagnosticRenderer {
    /// Source lines by file, for excerpts.
    var sources: [String: [Substring]] = [:]

    /// `file:line:col: error: message [code]`, the source line, a caret under the range, and the hint.
    /// Text from a plan made safe for a terminal: control characters (escape sequences, NULs) shown as `\u{…}`.
    static func printable(_ s: some StringProtocol) -> String {
        var out = ""
        for scalar in s.unicodeScalars {
            if (scalar.value < 0x20 && scalar != "\t") || (0x7F...0x9F).contains(scalar.value) {
                out += "\\u{" + String(scalar.value, radix: 16) + "}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    func text(_ d: Diagnostic) -> String {
        let message = Self.printable(d.message)
        var out = "\(Self.printable(d.range.file)):\(d.range.start.line):\(d.range.start.column): \(d.severity.rawValue): \(message) [\(d.code)]\n"
        if let lines = sources[d.range.file], d.range.start.line >= 1, d.range.start.line <= lines.count {
            let raw = lines[d.range.start.line - 1]
            // Tabs count as one column in libyaml; print them as one space so the caret lines up.
            // Tabs as one space (libyaml counts them as one column); other control characters as '?', so that
            // the caret stays under the right column and nothing reaches the terminal raw.
            let line = String(
                raw.unicodeScalars.map { s -> Character in
                    s == "\t" ? " " : (s.value < 0x20 || (0x7F...0x9F).contains(s.value) ? "?" : Character(s))
                }.prefix(200))
            let number = String(d.range.start.line)
            let gutter = String(repeating: " ", count: number.count)
            out += " \(number) | \(line)\n"
            let column = max(1, d.range.start.column)
            let width = max(1, min(d.range.end.column - column, line.count - column + 1, 80))
            out += " \(gutter) | " + String(repeating: " ", count: column - 1) + "^"
                + String(repeating: "~", count: max(0, width - 1)) + "\n"
        }
        if let hint = d.hint { out += "   = hint: \(Self.printable(hint))\n" }
        return out
    }

    /// A GitHub Actions workflow command.
    func github(_ d: Diagnostic) -> String {
        let level = d.severity == .note ? "notice" : d.severity.rawValue
        var message = d.message
        if let hint = d.hint { message += "\nhint: " + hint }
        func escapeData(_ s: String) -> String {
            s.replacingAll("%", "%25").replacingAll("\r", "%0D").replacingAll("\n", "%0A")
        }
        func escapeProperty(_ s: String) -> String {
            escapeData(s).replacingAll(":", "%3A").replacingAll(",", "%2C")
        }
        return "::\(level) file=\(escapeProperty(d.range.file)),line=\(d.range.start.line),col=\(d.range.start.column),"
            + "endLine=\(d.range.end.line),endColumn=\(d.range.end.column),title=\(escapeProperty("kaplan " + d.code))::\(escapeData(message))"
    }

    /// One diagnostic as a JSON object.
    func json(_ d: Diagnostic) -> String {
        var out = "{\"severity\":\"\(d.severity.rawValue)\",\"code\":"
        YAMLJSON.quote(d.code, into: &out)
        out += ",\"message\":"
        YAMLJSON.quote(d.message, into: &out)
        out += ",\"file\":"
        YAMLJSON.quote(d.range.file, into: &out)
        out += ",\"line\":\(d.range.start.line),\"column\":\(d.range.start.column)"
        out += ",\"endLine\":\(d.range.end.line),\"endColumn\":\(d.range.end.column)"
        if let hint = d.hint {
            out += ",\"hint\":"
            YAMLJSON.quote(hint, into: &out)
        }
        return out + "}"
    }
}

extension String {
    func replacingAll(_ target: String, _ replacement: String) -> String {
        var result = ""
        var rest = Substring(self)
        while let r = rest.firstRange(of: target) {
            result += rest[..<r.lowerBound] + replacement
            rest = rest[r.upperBound...]
        }
        return result + rest
    }
}
