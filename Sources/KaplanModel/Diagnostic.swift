/// One problem found in a plan, with where it is and what to do about it.
public struct Diagnostic: Sendable, Hashable, Codable {
    /// How serious the problem is.
    public enum Severity: String, Sendable, Hashable, Codable, Comparable {
        /// The plan is invalid; `check` exits 1 and nothing runs.
        case error
        /// The plan runs, but probably not as the operator meant.
        case warning
        /// Extra context attached to another diagnostic.
        case note

        private var rank: Int {
            switch self {
            case .error: 0
            case .warning: 1
            case .note: 2
            }
        }

        /// Errors first.
        public static func < (a: Severity, b: Severity) -> Bool { a.rank < b.rank }
    }

    /// How serious it is.
    public var severity: Severity
    /// A stable identifier for the kind of problem (`unknown-key`, `fill-not-last`, …), for tools and tests.
    public var code: String
    /// What is wrong, in one sentence.
    public var message: String
    /// Where it is.
    public var range: SourceRange
    /// What to do about it, if there is something specific to say.
    public var hint: String?

    /// Creates a diagnostic.
    public init(_ severity: Severity, _ code: String, _ message: String, at range: SourceRange, hint: String? = nil) {
        self.severity = severity
        self.code = code
        self.message = message
        self.range = range
        self.hint = hint
    }

    /// The deterministic order diagnostics are reported in: file, line, column, severity, message.
    public static func reportOrder(_ a: Diagnostic, _ b: Diagnostic) -> Bool {
        if a.range.file != b.range.file { return a.range.file < b.range.file }
        if a.range.start != b.range.start { return a.range.start < b.range.start }
        if a.severity != b.severity { return a.severity < b.severity }
        if a.code != b.code { return a.code < b.code }
        return a.message < b.message
    }
}

extension Array where Element == Diagnostic {
    /// True when any diagnostic is an error.
    public var hasErrors: Bool { contains { $0.severity == .error } }
}
