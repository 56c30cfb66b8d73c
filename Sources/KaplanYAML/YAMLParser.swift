import CYAML

/// Parses one YAML document with libyaml into ``YAMLNode``s, with bounds on size, depth and alias expansion.
public struct YAMLParser: Sendable {
    /// Largest input accepted, in bytes.
    public var maxBytes: Int
    /// Deepest nesting of collections accepted.
    public var maxDepth: Int
    /// Most nodes the document may stand for once aliases are expanded.
    public var maxExpandedNodes: Int

    /// Creates a parser with the given limits.
    public init(maxBytes: Int = 16 << 20, maxDepth: Int = 64, maxExpandedNodes: Int = 1_000_000) {
        self.maxBytes = maxBytes
        self.maxDepth = maxDepth
        self.maxExpandedNodes = maxExpandedNodes
    }

    /// Parses `bytes`; returns nil for an empty stream (no document at all).
    public func parse(_ bytes: [UInt8]) throws(YAMLError) -> YAMLNode? {
        if bytes.count > maxBytes {
            throw YAMLError(
                kind: .tooLarge,
                message: "input is \(bytes.count) bytes; at most \(maxBytes) bytes are accepted",
                mark: YAMLMark(line: 1, column: 1, offset: 0))
        }
        var builder = Builder(limits: self)
        let result: Result<YAMLNode?, YAMLError> = bytes.withUnsafeBufferPointer { buffer in
            var parser = yaml_parser_t()
            guard yaml_parser_initialize(&parser) == 1 else {
                return .failure(
                    YAMLError(
                        kind: .internalFailure, message: "libyaml could not allocate a parser",
                        mark: YAMLMark(line: 1, column: 1, offset: 0), function: "yaml_parser_initialize"))
            }
            defer { yaml_parser_delete(&parser) }
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            var event = yaml_event_t()
            // Every iteration consumes input or ends the stream; libyaml guarantees progress.
            while true {
                guard yaml_parser_parse(&parser, &event) == 1 else {
                    return .failure(Self.syntaxError(parser))
                }
                defer { yaml_event_delete(&event) }
                do throws(YAMLError) {
                    if try builder.consume(event) { return .success(builder.root) }
                } catch {
                    return .failure(error)
                }
            }
        }
        return try result.get()
    }

    private static func syntaxError(_ parser: yaml_parser_t) -> YAMLError {
        let problem = parser.problem.map { String(cString: $0) } ?? "unknown error"
        var message = problem
        if let context = parser.context.map({ String(cString: $0) }) {
            message = "\(problem) \(context)"
        }
        let mark = parser.problem_mark
        let function = parser.error == YAML_READER_ERROR ? "yaml_parser_parse (reader)" : "yaml_parser_parse"
        // Reader errors report only an offset; libyaml leaves line and column at zero for them.
        return YAMLError(
            kind: .syntax, message: message,
            mark: YAMLMark(line: Int(mark.line) + 1, column: Int(mark.column) + 1, offset: Int(mark.index)),
            function: function)
    }
}

/// Turns libyaml events into a node tree with an explicit stack (no recursion, so deep input cannot overflow).
/// Frames are structs mutated in place, so appending to a collection never copies it (linear in the input).
private struct Builder {
    struct Frame {
        var isMapping: Bool
        var start: YAMLMark
        var tag: String?
        var anchor: String?
        var items: [YAMLNode] = []
        var pairs: [(key: YAMLNode, value: YAMLNode)] = []
        var pendingKey: YAMLNode? = nil
    }

    let limits: YAMLParser
    var stack: [Frame] = []
    var anchors: [String: YAMLNode] = [:]
    var root: YAMLNode?
    var documents = 0

    init(limits: YAMLParser) { self.limits = limits }

    static func mark(_ m: yaml_mark_t) -> YAMLMark {
        YAMLMark(line: Int(m.line) + 1, column: Int(m.column) + 1, offset: Int(m.index))
    }

    static func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?, length: Int? = nil) -> String? {
        guard let pointer else { return nil }
        if let length {
            return String(decoding: UnsafeBufferPointer(start: pointer, count: length), as: UTF8.self)
        }
        return String(cString: pointer)
    }

    /// Returns true when the stream has ended.
    mutating func consume(_ event: yaml_event_t) throws(YAMLError) -> Bool {
        let start = Self.mark(event.start_mark)
        let end = Self.mark(event.end_mark)
        switch event.type {
        case YAML_STREAM_END_EVENT:
            return true
        case YAML_DOCUMENT_START_EVENT:
            documents += 1
            if documents > 1 {
                throw YAMLError(
                    kind: .multipleDocuments,
                    message: "a second YAML document starts here; a plan file holds exactly one document",
                    mark: start)
            }
        case YAML_SCALAR_EVENT:
            let scalar = event.data.scalar
            let text = Self.string(scalar.value, length: Int(scalar.length)) ?? ""
            let node = YAMLNode(
                content: .scalar(text, plain: scalar.style == YAML_PLAIN_SCALAR_STYLE),
                start: start, end: end, tag: Self.string(scalar.tag))
            try add(node, anchor: Self.string(scalar.anchor))
        case YAML_ALIAS_EVENT:
            let name = Self.string(event.data.alias.anchor) ?? ""
            guard let target = anchors[name] else {
                throw YAMLError(kind: .undefinedAlias, message: "alias '*\(name)' names no anchor defined before it", mark: start)
            }
            try add(target, anchor: nil)
        case YAML_SEQUENCE_START_EVENT:
            try push(start)
            let s = event.data.sequence_start
            stack.append(Frame(isMapping: false, start: start, tag: Self.string(s.tag), anchor: Self.string(s.anchor)))
        case YAML_MAPPING_START_EVENT:
            try push(start)
            let m = event.data.mapping_start
            stack.append(Frame(isMapping: true, start: start, tag: Self.string(m.tag), anchor: Self.string(m.anchor)))
        case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
            guard let frame = stack.popLast() else { return false }
            let content: YAMLNode.Content = frame.isMapping ? .mapping(frame.pairs) : .sequence(frame.items)
            try add(YAMLNode(content: content, start: frame.start, end: end, tag: frame.tag), anchor: frame.anchor)
        default:
            break
        }
        return false
    }

    mutating func push(_ mark: YAMLMark) throws(YAMLError) {
        if stack.count >= limits.maxDepth {
            throw YAMLError(
                kind: .tooDeep, message: "collections nest deeper than \(limits.maxDepth) levels", mark: mark)
        }
    }

    mutating func add(_ node: YAMLNode, anchor: String?) throws(YAMLError) {
        if let anchor { anchors[anchor] = node }
        // Count what the document stands for, aliases expanded, without expanding anything.
        if node.expandedSize > limits.maxExpandedNodes {
            throw YAMLError(
                kind: .aliasExpansion,
                message: "aliases expand this document beyond \(limits.maxExpandedNodes) nodes (an alias bomb?)",
                mark: node.start)
        }
        guard !stack.isEmpty else {
            root = node
            return
        }
        let top = stack.count - 1
        if !stack[top].isMapping {
            stack[top].items.append(node)
        } else if let key = stack[top].pendingKey {
            stack[top].pairs.append((key, node))
            stack[top].pendingKey = nil
        } else {
            stack[top].pendingKey = node
        }
    }
}
