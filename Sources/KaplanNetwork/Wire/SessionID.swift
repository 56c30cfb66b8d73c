/// 16 random bytes naming one deployment session; written as 32 hex digits.
public struct SessionID: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The 16 bytes.
    public var bytes: [UInt8]

    /// The number of bytes in a session id.
    public static let byteCount = 16

    /// A fresh session id from the system's secure random generator.
    public static func random() -> SessionID { SessionID(uncheckedBytes: Bytes.random(byteCount)) }

    /// Parses 32 hex digits; nil for anything else.
    public init?(hex: String) {
        guard let bytes = Bytes.fromHex(hex), bytes.count == Self.byteCount else { return nil }
        self.bytes = bytes
    }

    /// Wraps exactly 16 bytes; nil for any other count.
    public init?(bytes: [UInt8]) {
        guard bytes.count == Self.byteCount else { return nil }
        self.bytes = bytes
    }

    /// Wraps bytes already known to be 16 long.
    init(uncheckedBytes: [UInt8]) { self.bytes = uncheckedBytes }

    /// The id in lower-case hex.
    public var description: String { Bytes.hex(bytes) }

    /// Decodes the hex form.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let id = SessionID(hex: text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "a session id is 32 hex digits, got \"\(text.prefix(40))\"")
        }
        self = id
    }

    /// Encodes the hex form.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
