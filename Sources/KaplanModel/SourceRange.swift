/// A 1-based position in a named source file.
public struct SourceLocation: Sendable, Hashable, Comparable, Codable {
    /// 1-based line.
    public var line: Int
    /// 1-based column, in Unicode scalars.
    public var column: Int

    /// Creates a location.
    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    /// Orders by line, then column.
    public static func < (a: SourceLocation, b: SourceLocation) -> Bool {
        (a.line, a.column) < (b.line, b.column)
    }
}

/// A span of text in a source file, for diagnostics: where a value was written.
public struct SourceRange: Sendable, Hashable, Codable {
    /// The file as the operator named it (relative paths stay relative).
    public var file: String
    /// First character of the span.
    public var start: SourceLocation
    /// One past the last character of the span (same line as `start` for carets on one line).
    public var end: SourceLocation

    /// Creates a range.
    public init(file: String, start: SourceLocation, end: SourceLocation) {
        self.file = file
        self.start = start
        self.end = end
    }

    /// A range for a whole file, used when the problem has no better place.
    public static func file(_ file: String) -> SourceRange {
        SourceRange(file: file, start: SourceLocation(line: 1, column: 1), end: SourceLocation(line: 1, column: 1))
    }
}
