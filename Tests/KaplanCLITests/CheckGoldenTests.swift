import Foundation
import Testing

/// Every plan the project ships is valid through the built binary, and every invalid fixture gets exactly
/// its expected diagnostics (golden text files beside it). Set KAPLAN_UPDATE_GOLDEN=1 to rewrite them.
@Suite struct CheckGoldenTests {
    static let shipped = KaplanBinary.yamlFiles(under: "plans") + KaplanBinary.yamlFiles(under: "examples")
        + KaplanBinary.yamlFiles(under: "Tests/Fixtures/valid")
    static let invalid = KaplanBinary.yamlFiles(under: "Tests/Fixtures/invalid")

    @Test func thereIsSomethingToCheck() {
        #expect(Self.shipped.count >= 10, "plans/, examples/ and Tests/Fixtures/valid hold \(Self.shipped.count) plans")
        #expect(Self.invalid.count >= 40, "Tests/Fixtures/invalid holds \(Self.invalid.count) plans; the corpus needs ≥ 40")
    }

    @Test(arguments: shipped)
    func shippedPlanIsValid(path: String) throws {
        let run = try KaplanBinary.run(["check", path])
        #expect(run.status == 0, "\(path):\n\(run.stdout)\(run.stderr)")
        #expect(run.stdout.contains("\(path): ok"))
    }

    @Test(arguments: invalid)
    func invalidPlanGetsItsExpectedDiagnostics(path: String) throws {
        let run = try KaplanBinary.run(["check", path])
        #expect(run.exitedNormally && run.status == 1, "\(path) exited \(run.status)")
        let source = try String(contentsOf: KaplanBinary.packageRoot.appendingPathComponent(path), encoding: .utf8)
        if let first = source.split(separator: "\n").first, first.hasPrefix("# expect: ") {
            let code = first.dropFirst("# expect: ".count).trimmingCharacters(in: .whitespaces)
            #expect(run.stdout.contains("error: ") && run.stdout.contains("[\(code)]"), "\(path) should report [\(code)]:\n\(run.stdout)")
        } else {
            Issue.record("\(path) must start with '# expect: CODE'")
        }
        let golden = KaplanBinary.packageRoot.appendingPathComponent(String(path.dropLast(5)) + ".expected")
        if ProcessInfo.processInfo.environment["KAPLAN_UPDATE_GOLDEN"] == "1" {
            try run.stdout.write(to: golden, atomically: true, encoding: .utf8)
            return
        }
        let expected = try? String(contentsOf: golden, encoding: .utf8)
        #expect(expected != nil, "missing golden file \(golden.path); run with KAPLAN_UPDATE_GOLDEN=1 and review it")
        if let expected { #expect(run.stdout == expected, "\(path) output differs from its .expected file") }
    }

    @Test func jsonAndGithubFormatsCarryTheSamePlaces() throws {
        guard let path = Self.invalid.first else { return }
        let json = try KaplanBinary.run(["check", "--format", "json", path])
        #expect(json.status == 1)
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect(object?["valid"] as? Bool == false)
        let github = try KaplanBinary.run(["check", "--format", "github", path])
        #expect(github.status == 1)
        #expect(github.stdout.hasPrefix("::error file=\(path),line="))
    }

    @Test func usageErrorsExit64() throws {
        #expect(try KaplanBinary.run(["check"]).status == 64)
        #expect(try KaplanBinary.run(["check", "--format", "xml", "plans/x.yaml"]).status == 64)
    }
}
