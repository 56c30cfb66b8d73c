import KaplanArchive
import Testing

@Suite struct ArchivePathTests {
    private func normalized(_ text: String) -> String? {
        ArchivePath.normalized(Array(text.utf8)).map { String(decoding: $0, as: UTF8.self) }
    }

    @Test func normalizesHarmlessSpellings() {
        #expect(normalized("etc/passwd") == "etc/passwd")
        #expect(normalized("./etc//passwd/") == "etc/passwd")
        #expect(normalized("./") == ".")
        #expect(normalized(".") == ".")
        #expect(normalized("a/./b") == "a/b")
        #expect(normalized("..foo/bar..") == "..foo/bar..")
    }

    @Test func refusesEscapes() {
        #expect(normalized("") == nil)
        #expect(normalized("/etc/passwd") == nil)
        #expect(normalized("..") == nil)
        #expect(normalized("../x") == nil)
        #expect(normalized("a/../b") == nil)
        #expect(normalized("a/..") == nil)
    }

    @Test func displaysInvalidUTF8Unambiguously() {
        #expect(ArchivePath.display(Array("résumé".utf8)) == "résumé")
        #expect(ArchivePath.display([0x61, 0xff, 0x25]) == "a%FF%25")
    }
}
