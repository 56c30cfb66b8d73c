import Testing

@testable import KaplanYAML

@Suite struct YAMLParserTests {
    func parse(_ text: String, _ parser: YAMLParser = YAMLParser()) throws(YAMLError) -> YAMLNode? {
        try parser.parse(Array(text.utf8))
    }

    @Test func marksAreOneBased() throws {
        let root = try #require(try parse("a: 1\nlist:\n  - x\n  - 'y'\n"))
        guard case .mapping(let pairs) = root.content else { Issue.record("not a mapping"); return }
        #expect(pairs.count == 2)
        #expect(pairs[0].key.start == YAMLMark(line: 1, column: 1, offset: 0))
        #expect(pairs[0].value.start.line == 1 && pairs[0].value.start.column == 4)
        guard case .sequence(let items) = pairs[1].value.content else { Issue.record("not a list"); return }
        #expect(items[1].start.line == 4 && items[1].start.column == 5)
        guard case .scalar("y", let plain) = items[1].content else { Issue.record("not y"); return }
        #expect(!plain)
    }

    @Test func emptyStreamHasNoDocument() throws {
        #expect(try parse("") == nil)
        #expect(try parse("# only a comment\n") == nil)
    }

    @Test func syntaxErrorsCarryPosition() {
        #expect {
            try parse("a: [1, 2\nb: 3\n")
        } throws: { error in
            guard let e = error as? YAMLError else { return false }
            return e.kind == .syntax && e.mark.line >= 1 && e.function == "yaml_parser_parse"
        }
    }

    @Test func tabIndentationIsAnError() {
        #expect(throws: YAMLError.self) { try parse("a:\n\tb: 1\n") }
    }

    @Test func byteOrderMarkIsAccepted() throws {
        let root = try #require(try YAMLParser().parse([0xEF, 0xBB, 0xBF] + Array("a: 1\n".utf8)))
        guard case .mapping(let pairs) = root.content else { Issue.record("not a mapping"); return }
        #expect(pairs[0].key.scalar == "a")
    }

    @Test func invalidUTF8IsAnError() {
        #expect(throws: YAMLError.self) { try YAMLParser().parse([0x61, 0x3A, 0x20, 0xFF, 0xFE, 0x0A]) }
    }

    @Test func secondDocumentIsRefused() {
        #expect {
            try parse("a: 1\n---\nb: 2\n")
        } throws: { ($0 as? YAMLError)?.kind == .multipleDocuments }
    }

    @Test func deepNestingIsRefusedWithoutRecursion() {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect {
            try parse(deep)
        } throws: { ($0 as? YAMLError)?.kind == .tooDeep }
    }

    @Test func aliasesShareNodesAndCountExpansion() throws {
        let root = try #require(try parse("a: &x [1, 2, 3]\nb: *x\nc: *x\n"))
        guard case .mapping(let pairs) = root.content else { Issue.record("not a mapping"); return }
        #expect(pairs[1].value === pairs[0].value)
        #expect(root.expandedSize == 1 + 3 + 3 * 4)
    }

    @Test func billionLaughsIsRejectedQuickly() {
        var text = "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
        let names = ["b", "c", "d", "e", "f", "g", "h", "i"]
        var previous = "a"
        for name in names {
            text += "\(name): &\(name) [" + Array(repeating: "*\(previous)", count: 9).joined(separator: ",") + "]\n"
            previous = name
        }
        #expect {
            try parse(text)
        } throws: { ($0 as? YAMLError)?.kind == .aliasExpansion }
    }

    @Test func undefinedAliasIsAnError() {
        #expect(throws: YAMLError.self) { try parse("a: *nowhere\n") }
    }

    @Test func oversizedInputIsRefusedBeforeParsing() {
        let parser = YAMLParser(maxBytes: 1024)
        #expect {
            try parser.parse([UInt8](repeating: 0x61, count: 2048))
        } throws: { ($0 as? YAMLError)?.kind == .tooLarge }
    }

    @Test func duplicateKeysAreKeptForTheLoader() throws {
        let root = try #require(try parse("a: 1\na: 2\n"))
        guard case .mapping(let pairs) = root.content else { Issue.record("not a mapping"); return }
        #expect(pairs.count == 2)
    }
}
