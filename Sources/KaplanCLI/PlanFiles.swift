import ArgumentParser
import Foundation
import KaplanLoading
import KaplanModel

/// Reads plan files from disk for the subcommands, bounded in size.
enum PlanFiles {
    /// Reads at most `limit + 1` bytes so that an oversized file is refused without reading all of it.
    static func read(_ path: String, limit: Int = 16 << 20) -> Result<[UInt8], FileProblem> {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            return .failure(FileProblem(.error, "file-unreadable", "no such file", at: .file(path)))
        }
        if isDirectory.boolValue {
            return .failure(FileProblem(.error, "file-unreadable", "is a directory, not a plan file", at: .file(path)))
        }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            return .failure(FileProblem(.error, "file-unreadable", "cannot open the file (permissions?)", at: .file(path)))
        }
        defer { try? handle.close() }
        do {
            let data = try handle.read(upToCount: limit + 1) ?? Data()
            return .success([UInt8](data))
        } catch {
            return .failure(FileProblem(.error, "file-unreadable", "cannot read the file: \(error.localizedDescription)", at: .file(path)))
        }
    }

    /// Loads and checks one plan file.
    static func load(_ path: String) -> PlanLoader.Output {
        switch read(path) {
        case .failure(let problem): return PlanLoader.Output(plan: nil, diagnostics: [problem.diagnostic])
        case .success(let bytes): return PlanLoader().load(bytes: bytes, file: path)
        }
    }

    /// Loads a plan that must be valid; prints its diagnostics and exits 1 when it is not.
    static func loadValid(_ path: String) throws -> Plan {
        let output = load(path)
        var renderer = DiagnosticRenderer()
        renderer.sources[path] = lines(path)
        guard let plan = output.validPlan else {
            for d in output.diagnostics { printError(renderer.text(d)) }
            printError("\(path): invalid plan; run 'kaplan check \(path)' for details")
            throw ExitCode(1)
        }
        return plan
    }

    /// The lines of a file's text, for rendering source excerpts (empty when unreadable).
    static func lines(_ path: String) -> [Substring] {
        guard case .success(let bytes) = read(path) else { return [] }
        let text = String(decoding: bytes, as: UTF8.self)
        return text.split(separator: "\n", omittingEmptySubsequences: false).map {
            $0.hasSuffix("\r") ? $0.dropLast() : $0
        }
    }
}

/// A plan file that could not be read, as a diagnostic.
struct FileProblem: Error {
    var diagnostic: Diagnostic
    var message: String { diagnostic.message }

    init(_ severity: Diagnostic.Severity, _ code: String, _ message: String, at range: SourceRange) {
        diagnostic = Diagnostic(severity, code, message, at: range)
    }
}
