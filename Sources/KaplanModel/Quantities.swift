/// How big a partition is: a fixed size, a share of the target disk, or the rest of it.
public enum SizeSpec: Sendable, Hashable, Codable, CustomStringConvertible {
    /// A fixed size.
    case fixed(ByteSize)
    /// A percentage of the whole target disk (0 < p ≤ 100).
    case percent(Double)
    /// Whatever is left in the table (or in the extended partition, for a logical one).
    case fill

    /// The text a plan would use for this size.
    public var description: String {
        switch self {
        case .fixed(let size): size.description
        case .percent(let p): p == p.rounded() ? "\(Int(p))%" : "\(p)%"
        case .fill: "fill"
        }
    }
}

/// A span of time, parsed from `500ms`, `10s`, `5m`, `2h`.
public struct Duration: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// The duration in milliseconds.
    public var milliseconds: UInt64

    /// Creates a duration.
    public init(milliseconds: UInt64) { self.milliseconds = milliseconds }

    /// Creates a duration of whole seconds.
    public static func seconds(_ s: UInt64) -> Duration { Duration(milliseconds: s * 1000) }

    /// Parses `500ms`, `10s`, `5m`, `2h`; nil when malformed.
    public static func parse(_ text: String) -> Duration? {
        let units: [(String, UInt64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)]
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            let number = text.dropLast(suffix.count)
            guard !number.isEmpty, number.allSatisfy({ $0.isASCII && $0.isNumber }), let value = UInt64(number)
            else { return nil }
            let (product, overflow) = value.multipliedReportingOverflow(by: factor)
            return overflow ? nil : Duration(milliseconds: product)
        }
        return nil
    }

    /// Orders by length.
    public static func < (a: Duration, b: Duration) -> Bool { a.milliseconds < b.milliseconds }

    /// The shortest exact text (`90s`, `1500ms`, `5m`).
    public var description: String {
        let ms = milliseconds
        if ms != 0, ms % 3_600_000 == 0 { return "\(ms / 3_600_000)h" }
        if ms != 0, ms % 60_000 == 0 { return "\(ms / 60_000)m" }
        if ms % 1000 == 0 { return "\(ms / 1000)s" }
        return "\(ms)ms"
    }
}

/// A data rate in bits per second, parsed from `100Mbit`, `1Gbit`, `800kbit` (per second is implied).
public struct BitRate: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// Bits per second.
    public var bitsPerSecond: UInt64

    /// Creates a rate.
    public init(bitsPerSecond: UInt64) { self.bitsPerSecond = bitsPerSecond }

    /// Parses `100Mbit`, `1Gbit`, `1.5Gbit`, `800kbit`, `9600bit`; nil when malformed.
    public static func parse(_ text: String) -> BitRate? {
        let units: [(String, Double)] = [("Gbit", 1e9), ("Mbit", 1e6), ("kbit", 1e3), ("bit", 1)]
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            let number = text.dropLast(suffix.count)
            guard !number.isEmpty, number.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }),
                let value = Double(number), value.isFinite, value * factor < 1e15
            else { return nil }
            return BitRate(bitsPerSecond: UInt64((value * factor).rounded()))
        }
        return nil
    }

    /// Orders by rate.
    public static func < (a: BitRate, b: BitRate) -> Bool { a.bitsPerSecond < b.bitsPerSecond }

    /// The largest unit that divides the rate exactly (`100Mbit`, `1Gbit`).
    public var description: String {
        let b = bitsPerSecond
        for (suffix, factor) in [("Gbit", UInt64(1_000_000_000)), ("Mbit", 1_000_000), ("kbit", 1_000)]
        where b >= factor && b % factor == 0 {
            return "\(b / factor)\(suffix)"
        }
        return "\(b)bit"
    }
}
