/// A number of bytes, parsed from and printed in the plan's units (B, KiB, MiB, GiB, TiB, kB, MB, GB, TB).
public struct ByteSize: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// The size in bytes.
    public var bytes: UInt64

    /// Creates a size.
    public init(_ bytes: UInt64) { self.bytes = bytes }

    /// Units accepted in plans, with their multipliers.
    public static let units: [(suffix: String, factor: UInt64)] = [
        ("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10),
        ("TB", 1_000_000_000_000), ("GB", 1_000_000_000), ("MB", 1_000_000), ("kB", 1_000), ("KB", 1_000),
        ("B", 1),
    ]

    /// Why a size text was refused.
    public enum ParseError: Error, Sendable, Equatable {
        /// No unit, or an unknown one.
        case unit
        /// The number part is missing, negative or malformed.
        case number
        /// More than 2^64 bytes.
        case overflow
    }

    /// Parses `512MiB`, `1.5GiB`, `4096B`, `20GB`. A unit is required: a bare number is ambiguous.
    public static func parse(_ text: String) -> Result<ByteSize, ParseError> {
        let trimmed = text.trimmingCharacters(in: " ")
        guard let unit = units.first(where: { trimmed.hasSuffix($0.suffix) }) else { return .failure(.unit) }
        let number = String(trimmed.dropLast(unit.suffix.count)).trimmingCharacters(in: " ")
        guard !number.isEmpty, number.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }),
            number.filter({ $0 == "." }).count <= 1, number.first != ".", number.last != "."
        else { return .failure(.number) }
        if let whole = UInt64(number) {
            let (product, overflow) = whole.multipliedReportingOverflow(by: unit.factor)
            return overflow ? .failure(.overflow) : .success(ByteSize(product))
        }
        guard let value = Double(number), value.isFinite else { return .failure(.number) }
        let bytes = value * Double(unit.factor)
        guard bytes < 18_446_744_073_709_551_615.0 else { return .failure(.overflow) }
        return .success(ByteSize(UInt64(bytes.rounded())))
    }

    /// Orders by byte count.
    public static func < (a: ByteSize, b: ByteSize) -> Bool { a.bytes < b.bytes }

    /// The largest binary unit that divides the size exactly, else one decimal place (`5000MiB`, `1.5GiB`).
    public var description: String {
        let binary: [(String, UInt64)] = [("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)]
        for (suffix, factor) in binary where bytes >= factor && bytes % factor == 0 {
            return "\(bytes / factor)\(suffix)"
        }
        for (suffix, factor) in binary where bytes >= factor {
            let tenths = (bytes * 10 + factor / 2) / factor
            return "\(tenths / 10).\(tenths % 10)\(suffix)"
        }
        return "\(bytes)B"
    }
}

extension String {
    func trimmingCharacters(in set: Character) -> String {
        var s = Substring(self)
        while s.first == set { s = s.dropFirst() }
        while s.last == set { s = s.dropLast() }
        return String(s)
    }
}
