// kaplan-fuzz: the plan loader under libFuzzer, or a replayer of saved inputs.
//
// Built with `-DFUZZING -sanitize=fuzzer[,address] -parse-as-library` (see scripts/fuzz), this file exports
// `LLVMFuzzerTestOneInput` and its `@main` hands the command line to libFuzzer's driver (SwiftPM aliases
// `main` to `kaplan_fuzz_main`, so libFuzzer's own `main` cannot be linked). Built normally, it is a plain program:
// `kaplan-fuzz FILE|DIR…` runs every input once through the very same checks and prints `replayed N inputs`,
// so a crash libFuzzer saved can be reproduced in a debug build and every corpus file is exercised in CI.
//
// Only the loader's public surface is used (PlanLoader, YAMLParser, YAMLJSON), as the CLI uses it.

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif
import KaplanLoading
import KaplanModel
import KaplanYAML

/// The name every input is loaded under; diagnostics must carry it back unchanged.
let fuzzFileName = "fuzz.yaml"

/// The invariants one input must keep. Each violation is a bug in the loader (or the YAML wrapper).
enum FuzzCheck {
    /// Runs `bytes` through the loader twice and through the JSON renderer; returns the violated invariants.
    static func violations(_ bytes: [UInt8]) -> [String] {
        var problems: [String] = []
        let loader = PlanLoader()
        let first = loader.load(bytes: bytes, file: fuzzFileName)

        for d in first.diagnostics {
            if d.range.start.line < 1 || d.range.start.column < 1 {
                problems.append("diagnostic at line \(d.range.start.line), column \(d.range.start.column) (must be ≥ 1): \(describe(d))")
            }
            if d.range.end.line < 1 || d.range.end.column < 1 {
                problems.append("diagnostic ends at line \(d.range.end.line), column \(d.range.end.column) (must be ≥ 1): \(describe(d))")
            }
            if d.range.file != fuzzFileName {
                problems.append("diagnostic names file '\(d.range.file)', not '\(fuzzFileName)': \(describe(d))")
            }
            if d.message.isEmpty || d.code.isEmpty {
                problems.append("diagnostic without a message or code: \(describe(d))")
            }
        }
        // Reported in the documented deterministic order (file, line, column, severity, code, message).
        for (a, b) in zip(first.diagnostics, first.diagnostics.dropFirst()) where Diagnostic.reportOrder(b, a) {
            problems.append("diagnostics out of report order: \(describe(a)) before \(describe(b))")
        }
        // A plan that did not decode must say why.
        if first.plan == nil, !first.diagnostics.hasErrors {
            problems.append("no plan and no error diagnostic (\(first.diagnostics.count) diagnostics)")
        }

        // Deterministic: the same bytes give the same diagnostics, in the same order, and the same plan shape.
        let second = loader.load(bytes: bytes, file: fuzzFileName)
        if second.diagnostics != first.diagnostics {
            problems.append(
                "second load differs: \(first.diagnostics.count) vs \(second.diagnostics.count) diagnostics; "
                    + "first difference: \(firstDifference(first.diagnostics, second.diagnostics))")
        }
        if (first.plan == nil) != (second.plan == nil) || first.plan?.nodes.count != second.plan?.nodes.count
            || first.plan?.partitions.count != second.plan?.partitions.count
        {
            problems.append("second load decoded a different plan")
        }

        // The JSON view (what the schema sees) renders whenever the YAML parses, and renders the same twice.
        // A parse error here must agree with the loader having reported a yaml-* diagnostic.
        do throws(YAMLError) {
            if let node = try loader.parser.parse(bytes) {
                let json = YAMLJSON.render(node)
                if json.isEmpty { problems.append("YAMLJSON.render returned nothing") }
                if YAMLJSON.render(node) != json { problems.append("YAMLJSON.render is not deterministic") }
                if strictJSON, let error = JSONSyntax.firstError(in: json) {
                    problems.append("YAMLJSON.render produced invalid JSON: \(error)")
                }
            }
        } catch {
            if !first.diagnostics.contains(where: { $0.code.hasPrefix("yaml-") }) {
                problems.append("YAMLParser threw \(error.kind) but the loader reported no yaml-* diagnostic")
            }
        }
        return problems
    }

    /// Also require YAMLJSON's output to be RFC 8259 JSON: on (finding 4 of Tests/Fuzz/README.md is fixed);
    /// KAPLAN_FUZZ_STRICT_JSON=0 switches it off.
    nonisolated(unsafe) static var strictJSON = false

    static func describe(_ d: Diagnostic) -> String {
        "\(d.range.file):\(d.range.start.line):\(d.range.start.column): \(d.severity.rawValue): \(d.message) [\(d.code)]"
    }

    static func firstDifference(_ a: [Diagnostic], _ b: [Diagnostic]) -> String {
        for (x, y) in zip(a, b) where x != y { return "\(describe(x)) vs \(describe(y))" }
        return a.count > b.count ? "extra \(describe(a[b.count]))" : b.count > a.count ? "extra \(describe(b[a.count]))" : "none"
    }

    /// Runs one input; on a violation prints every problem and aborts, so libFuzzer saves the input.
    static func runOrAbort(_ bytes: [UInt8]) {
        let problems = violations(bytes)
        guard !problems.isEmpty else { return }
        var message = "kaplan-fuzz: invariant violated on a \(bytes.count)-byte input:\n"
        for p in problems { message += "  - \(p)\n" }
        writeStderr(message)
        abort()
    }
}

/// A strict JSON syntax checker (RFC 8259), iterative so that deep documents cannot overflow the stack.
enum JSONSyntax {
    /// A description of the first syntax error, or nil for valid JSON.
    static func firstError(in text: String) -> String? {
        let s = Array(text.utf8)
        var i = 0
        var stack: [UInt8] = []  // '[' or '{'
        func ws() { while i < s.count, s[i] == 0x20 || s[i] == 0x0A || s[i] == 0x0D || s[i] == 0x09 { i += 1 } }
        func fail(_ what: String) -> String {
            let lo = max(0, i - 20), hi = min(s.count, i + 20)
            return "\(what) at byte \(i): …\(String(decoding: s[lo..<hi], as: UTF8.self))…"
        }
        func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
        func string() -> String? {
            i += 1
            while i < s.count {
                let c = s[i]
                if c == 0x22 { i += 1; return nil }
                if c < 0x20 { return fail("control character in string") }
                if c == 0x5C {
                    i += 1
                    guard i < s.count else { return fail("unterminated escape") }
                    switch s[i] {
                    case 0x22, 0x5C, 0x2F, 0x62, 0x66, 0x6E, 0x72, 0x74: i += 1
                    case 0x75:
                        guard i + 4 < s.count, s[(i + 1)...(i + 4)].allSatisfy({ isDigit($0) || (0x61...0x66).contains($0 | 0x20) })
                        else { return fail("bad \\u escape") }
                        i += 5
                    default: return fail("bad escape")
                    }
                } else {
                    i += 1
                }
            }
            return fail("unterminated string")
        }
        func number() -> String? {
            if s[i] == 0x2D { i += 1 }
            guard i < s.count, isDigit(s[i]) else { return fail("number without digits") }
            if s[i] == 0x30 {
                i += 1
                if i < s.count, isDigit(s[i]) { return fail("number with a leading zero") }
            } else {
                while i < s.count, isDigit(s[i]) { i += 1 }
            }
            if i < s.count, s[i] == 0x2E {
                i += 1
                guard i < s.count, isDigit(s[i]) else { return fail("no digits after '.'") }
                while i < s.count, isDigit(s[i]) { i += 1 }
            }
            if i < s.count, s[i] == 0x65 || s[i] == 0x45 {
                i += 1
                if i < s.count, s[i] == 0x2B || s[i] == 0x2D { i += 1 }
                guard i < s.count, isDigit(s[i]) else { return fail("no digits in exponent") }
                while i < s.count, isDigit(s[i]) { i += 1 }
            }
            return nil
        }
        func literal(_ word: String) -> String? {
            let w = Array(word.utf8)
            guard i + w.count <= s.count, Array(s[i..<(i + w.count)]) == w else { return fail("unexpected text") }
            i += w.count
            return nil
        }
        // Parses a value, or opens a container; after a scalar or a closing bracket, consumes ',' or the close.
        var expectValue = true
        while true {
            ws()
            if expectValue {
                guard i < s.count else { return fail("value expected") }
                let c = s[i]
                let error: String?
                switch c {
                case 0x5B, 0x7B:
                    stack.append(c)
                    i += 1
                    ws()
                    if i < s.count, s[i] == (c == 0x5B ? 0x5D : 0x7D) {
                        i += 1
                        stack.removeLast()
                        expectValue = false
                        continue
                    }
                    if c == 0x7B {
                        guard i < s.count, s[i] == 0x22 else { return fail("object key expected") }
                        if let e = string() { return e }
                        ws()
                        guard i < s.count, s[i] == 0x3A else { return fail("':' expected") }
                        i += 1
                    }
                    continue
                case 0x22: error = string()
                case 0x74: error = literal("true")
                case 0x66: error = literal("false")
                case 0x6E: error = literal("null")
                default: error = c == 0x2D || isDigit(c) ? number() : fail("value expected")
                }
                if let error { return error }
                expectValue = false
            } else {
                guard let top = stack.last else {
                    return i == s.count ? nil : fail("text after the document")
                }
                guard i < s.count else { return fail("unterminated container") }
                if s[i] == 0x2C {
                    i += 1
                    if top == 0x7B {
                        ws()
                        guard i < s.count, s[i] == 0x22 else { return fail("object key expected") }
                        if let e = string() { return e }
                        ws()
                        guard i < s.count, s[i] == 0x3A else { return fail("':' expected") }
                        i += 1
                    }
                    expectValue = true
                } else if s[i] == (top == 0x5B ? 0x5D : 0x7D) {
                    i += 1
                    stack.removeLast()
                } else {
                    return fail("',' or close expected")
                }
            }
        }
    }
}

/// Writes `text` to standard error, unbuffered (it must get out before an abort).
func writeStderr(_ text: String) {
    let bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
        let n = bytes[offset...].withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        if n <= 0 { break }
        offset += n
    }
}

#if FUZZING

    /// libFuzzer's entry point: one input per call; returns 0 (the input may be added to the corpus).
    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
        let bytes = size > 0 && data != nil ? Array(UnsafeBufferPointer(start: data, count: size)) : []
        FuzzCheck.runOrAbort(bytes)
        return 0
    }

    /// libFuzzer's driver (compiler-rt, LLVM ≥ 11): parses libFuzzer's flags and runs the fuzzing loop.
    @_silgen_name("LLVMFuzzerRunDriver")
    func LLVMFuzzerRunDriver(
        _ argc: UnsafeMutablePointer<CInt>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
    ) -> CInt

    /// The program's entry. SwiftPM links every executable with `main` aliased to `<module>_main` (so tests can
    /// link the module), which leaves no room for libFuzzer's own `main`; this `@main` starts libFuzzer's
    /// driver instead, with the command line unchanged.
    @main
    enum FuzzEntry {
        static func main() {
            FuzzCheck.strictJSON = getenv("KAPLAN_FUZZ_STRICT_JSON").map { String(cString: $0) != "0" } ?? true
            var argc = CommandLine.argc
            var argv = CommandLine.unsafeArgv
            exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzTestOneInput))
        }
    }

#else

    /// Replays files (or every file under directories) once each through ``FuzzCheck``.
    @main
    enum FuzzEntry {
        static func main() {
            let arguments = Array(CommandLine.arguments.dropFirst())
            if arguments.isEmpty || arguments.contains("-h") || arguments.contains("--help") {
                writeStderr(
                    "usage: kaplan-fuzz FILE|DIR…\n"
                        + "  runs every input once through the loader's fuzz invariants and prints 'replayed N inputs'\n"
                        + "  (KAPLAN_FUZZ_STRICT_JSON=1 also requires YAMLJSON to produce RFC 8259 JSON)\n")
                exit(arguments.isEmpty ? 64 : 0)
            }
            FuzzCheck.strictJSON = getenv("KAPLAN_FUZZ_STRICT_JSON").map { String(cString: $0) != "0" } ?? true
            var files: [String] = []
            for argument in arguments { collect(argument, into: &files) }
            var failed = 0
            var replayed = 0
            for file in files {
                guard let bytes = readFile(file) else {
                    writeStderr("kaplan-fuzz: \(file): cannot read\n")
                    failed += 1
                    continue
                }
                CrashNote.set(file)
                let problems = FuzzCheck.violations(bytes)
                replayed += 1
                if !problems.isEmpty {
                    failed += 1
                    var message = "\(file): invariant violated:\n"
                    for p in problems { message += "  - \(p)\n" }
                    writeStderr(message)
                }
            }
            CrashNote.set(nil)
            print("replayed \(replayed) inputs")
            if failed > 0 {
                writeStderr("kaplan-fuzz: \(failed) of \(files.count) inputs failed\n")
                exit(1)
            }
        }

        /// Adds `path`, or every regular file below it when it is a directory (sorted, dot files skipped).
        static func collect(_ path: String, into files: inout [String]) {
            var st = stat()
            guard stat(path, &st) == 0 else {
                files.append(path)  // reported as unreadable
                return
            }
            guard (st.st_mode & S_IFMT) == S_IFDIR else {
                files.append(path)
                return
            }
            guard let dir = opendir(path) else {
                files.append(path)
                return
            }
            var names: [String] = []
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
                }
                if !name.hasPrefix(".") { names.append(name) }
            }
            closedir(dir)
            for name in names.sorted() { collect(path + "/" + name, into: &files) }
        }

        static func readFile(_ path: String) -> [UInt8]? {
            guard let f = fopen(path, "rb") else { return nil }
            defer { fclose(f) }
            var bytes: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let n = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, f) }
                if n > 0 { bytes += chunk[0..<n] }
                if n < chunk.count { break }
            }
            return ferror(f) == 0 ? bytes : nil
        }
    }

    /// Names the input being replayed when the process dies of a signal (a trap in the loader), so a crash in
    /// a corpus replay says which file did it.
    enum CrashNote {
        nonisolated(unsafe) static var buffer = [CChar](repeating: 0, count: 4096)
        nonisolated(unsafe) static var length = 0
        nonisolated(unsafe) static var installed = false

        static func set(_ file: String?) {
            if !installed {
                installed = true
                for sig in [SIGILL, SIGTRAP, SIGSEGV, SIGBUS, SIGABRT, SIGFPE] {
                    signal(sig, onSignal)
                }
            }
            guard let file else {
                length = 0
                return
            }
            let text = Array("kaplan-fuzz: crashed while replaying \(file)\n".utf8.prefix(buffer.count))
            for (k, b) in text.enumerated() { buffer[k] = CChar(bitPattern: b) }
            length = text.count
        }
    }

    private func onSignal(_ sig: CInt) {
        if CrashNote.length > 0 {
            CrashNote.buffer.withUnsafeBytes { _ = write(2, $0.baseAddress, CrashNote.length) }
        }
        signal(sig, SIG_DFL)
        raise(sig)
    }

#endif
