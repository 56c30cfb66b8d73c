/// A text file as lines of bytes, so that every line a fix-up does not change is written back byte for byte
/// (tabs, odd spacing, comments in any encoding, a missing final newline).
struct TextLines {
    /// One line, without its `\n`.
    struct Line {
        /// The line's bytes (a trailing `\r` stays part of the line).
        var bytes: [UInt8]

        /// The byte ranges of the whitespace-separated fields before any `#` comment (a `#` inside a field
        /// starts no comment, as in fstab and hosts), a trailing `\r` excluded.
        var fields: [Range<Int>] {
            var result: [Range<Int>] = []
            var i = 0
            var end = bytes.count
            if end > 0 && bytes[end - 1] == 13 { end -= 1 }
            while i < end {
                while i < end && (bytes[i] == 32 || bytes[i] == 9) { i += 1 }
                guard i < end else { break }
                if bytes[i] == 35 { break }  // '#' at the start of a field: a comment to the end of the line
                let start = i
                while i < end && bytes[i] != 32 && bytes[i] != 9 { i += 1 }
                result.append(start..<i)
            }
            return result
        }

        /// The field texts (see `fields`).
        var words: [String] { fields.map { String(decoding: bytes[$0], as: UTF8.self) } }

        /// True for a comment line or a blank one.
        var isCommentOrBlank: Bool { fields.isEmpty }

        /// The line with field `range` replaced by `text`, every other byte kept.
        func replacing(_ range: Range<Int>, with text: String) -> Line {
            Line(bytes: Array(bytes[..<range.lowerBound]) + Array(text.utf8) + Array(bytes[range.upperBound...]))
        }

        /// The line as text (invalid UTF-8 replaced), for messages.
        var text: String { String(decoding: bytes, as: UTF8.self) }
    }

    /// The lines.
    var lines: [Line]
    /// True when the original ended with a newline (an empty file counts as ending with one).
    var endsWithNewline: Bool

    /// Splits `bytes` at `\n`.
    init(_ bytes: [UInt8]) {
        var lines: [Line] = []
        var start = 0
        for (i, byte) in bytes.enumerated() where byte == 10 {
            lines.append(Line(bytes: Array(bytes[start..<i])))
            start = i + 1
        }
        if start < bytes.count { lines.append(Line(bytes: Array(bytes[start...]))) }
        self.lines = lines
        self.endsWithNewline = bytes.isEmpty || bytes.last == 10
    }

    /// Appends a line of text.
    mutating func append(_ text: String) {
        endsWithNewline = true
        lines.append(Line(bytes: Array(text.utf8)))
    }

    /// The bytes: lines joined by `\n`, the final newline as it was (always one after appended lines).
    var bytes: [UInt8] {
        var out: [UInt8] = []
        for (i, line) in lines.enumerated() {
            out += line.bytes
            if i < lines.count - 1 || endsWithNewline { out.append(10) }
        }
        return out
    }
}
