import ArgumentParser

/// How a reporting command prints.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    /// GCC-style diagnostics with source lines and carets, for people.
    case text
    /// One JSON document, for tools.
    case json
    /// GitHub Actions workflow commands (`::error file=…`), for CI annotations.
    case github
}
