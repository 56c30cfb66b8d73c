/// A position in a YAML source: 1-based line and column (columns count Unicode scalars, as libyaml does).
public struct YAMLMark: Sendable, Hashable, Comparable {
    /// 1-based line number.
    public let line: Int
    /// 1-based column number.
    public let column: Int
    /// 0-based offset in Unicode scalars from the start of the input.
    public let offset: Int

    /// Creates a mark.
    public init(line: Int, column: Int, offset: Int) {
        self.line = line
        self.column = column
        self.offset = offset
    }

    /// Orders marks by their offset.
    public static func < (lhs: YAMLMark, rhs: YAMLMark) -> Bool { lhs.offset < rhs.offset }
}

/// One node of a parsed YAML document. Aliases share the anchored node's instance; nothing is copied.
public final class YAMLNode: Sendable {
    /// What the node holds.
    public enum Content: Sendable {
        /// A scalar: its text and whether it was written plain (unquoted, so `3` or `true` may be typed).
        case scalar(String, plain: Bool)
        /// A sequence of nodes, in source order.
        case sequence([YAMLNode])
        /// A mapping, in source order; duplicate keys are kept so that the loader can report them.
        case mapping([(key: YAMLNode, value: YAMLNode)])
    }

    /// The node's content.
    public let content: Content
    /// Where the node starts.
    public let start: YAMLMark
    /// Where the node ends (exclusive).
    public let end: YAMLMark
    /// The explicit tag, if one was written (`!!str`, `!custom`).
    public let tag: String?
    /// How many nodes this subtree stands for once every alias is expanded (itself included).
    public let expandedSize: Int

    /// Creates a node.
    public init(content: Content, start: YAMLMark, end: YAMLMark, tag: String? = nil) {
        self.content = content
        self.start = start
        self.end = end
        self.tag = tag
        var size = 1
        switch content {
        case .scalar: break
        case .sequence(let items): for item in items { size = Self.add(size, item.expandedSize) }
        case .mapping(let pairs):
            for pair in pairs { size = Self.add(Self.add(size, pair.key.expandedSize), pair.value.expandedSize) }
        }
        self.expandedSize = size
    }

    private static func add(_ a: Int, _ b: Int) -> Int {
        let (sum, overflow) = a.addingReportingOverflow(b)
        return overflow ? Int.max : sum
    }

    /// The scalar's text, or nil for a collection.
    public var scalar: String? {
        if case .scalar(let text, _) = content { return text }
        return nil
    }

    /// A word for the node's kind, for messages: "a string", "a list", "a mapping".
    public var kindDescription: String {
        switch content {
        case .scalar(let text, let plain):
            if plain, text.isEmpty || text == "~" || text == "null" { return "null" }
            return "a scalar"
        case .sequence: return "a list"
        case .mapping: return "a mapping"
        }
    }
}
