import KaplanModel
import KaplanYAML

/// Reads a plan file: YAML through libyaml, decoding, semantic checks; every problem becomes a diagnostic.
public struct PlanLoader: Sendable {
    /// What loading produced.
    public struct Output: Sendable {
        /// The plan, when it decoded (it may still carry errors from the semantic checks).
        public var plan: Plan?
        /// Every diagnostic, in report order.
        public var diagnostics: [Diagnostic]
        /// The plan when it has no errors at all.
        public var validPlan: Plan? { diagnostics.hasErrors ? nil : plan }

        /// Creates an output.
        public init(plan: Plan?, diagnostics: [Diagnostic]) {
            self.plan = plan
            self.diagnostics = diagnostics
        }
    }

    /// The YAML limits in force.
    public var parser = YAMLParser()

    /// Creates a loader with the default limits.
    public init() {}

    /// Loads `bytes` read from `file` (named as the operator wrote it).
    public func load(bytes: [UInt8], file: String) -> Output {
        let context = LoadContext(file: file)
        let root: YAMLNode?
        do {
            root = try parser.parse(bytes)
        } catch {
            let code: String =
                switch error.kind {
                case .syntax, .internalFailure, .undefinedAlias: "yaml-syntax"
                case .tooLarge: "yaml-too-large"
                case .tooDeep: "yaml-too-deep"
                case .aliasExpansion: "yaml-alias-bomb"
                case .multipleDocuments: "yaml-multiple-documents"
                }
            var hint: String? = nil
            if error.message.contains("cannot start any token"), Self.character(at: error.mark.offset, in: bytes) == "\t" {
                hint = "YAML indents with spaces; replace the tab"
            }
            let loc = SourceLocation(line: error.mark.line, column: error.mark.column)
            context.report(
                Diagnostic(
                    .error, code, error.message,
                    at: SourceRange(file: file, start: loc, end: SourceLocation(line: loc.line, column: loc.column + 1)),
                    hint: hint))
            return Output(plan: nil, diagnostics: context.diagnostics)
        }
        guard let root else {
            context.report(
                Diagnostic(.error, "empty-plan", "the plan is empty", at: .file(file), hint: "start with 'version: 1'"))
            return Output(plan: nil, diagnostics: context.diagnostics)
        }
        let plan = PlanDecoder(context: context).decode(root)
        if let plan { PlanChecker(plan: plan, context: context).run() }
        return Output(plan: plan, diagnostics: context.diagnostics.sorted(by: Diagnostic.reportOrder))
    }

    private static func character(at offset: Int, in bytes: [UInt8]) -> Character? {
        // Offsets count Unicode scalars; plans are mostly ASCII, so walk the decoded scalars.
        var i = 0
        for scalar in String(decoding: bytes, as: UTF8.self).unicodeScalars {
            if i == offset { return Character(scalar) }
            i += 1
            if i > offset { break }
        }
        return nil
    }
}
