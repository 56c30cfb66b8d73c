/// Why a YAML input could not be turned into nodes.
public struct YAMLError: Error, Sendable, Equatable {
    /// The kind of failure.
    public enum Kind: Sendable, Equatable {
        /// libyaml rejected the text (scanner or parser error).
        case syntax
        /// The input is larger than the parser accepts.
        case tooLarge
        /// Collections nest deeper than the parser accepts.
        case tooDeep
        /// Aliases expand to more nodes than the parser accepts (an alias bomb).
        case aliasExpansion
        /// An alias names an anchor that was not defined before it.
        case undefinedAlias
        /// The stream holds more than one document.
        case multipleDocuments
        /// libyaml could not be initialised.
        case internalFailure
    }

    /// The kind of failure.
    public let kind: Kind
    /// What went wrong, in words for an operator.
    public let message: String
    /// Where it went wrong.
    public let mark: YAMLMark
    /// The C function that reported it, when it came from libyaml.
    public let function: String?

    /// Creates an error.
    public init(kind: Kind, message: String, mark: YAMLMark, function: String? = nil) {
        self.kind = kind
        self.message = message
        self.mark = mark
        self.function = function
    }
}
