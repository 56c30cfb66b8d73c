/// Stable number formatting for the model's text (no locale, no Foundation): seconds, percentages, sizes.
enum NetworkText {
    /// `12.345s` with `decimals` places (half away from zero), `∞` when infinite.
    static func seconds(_ value: Double, decimals: Int = 3) -> String {
        fixed(value, decimals: decimals) + "s"
    }

    /// A time or duration for sentences: one decimal from 1 s up (`12.4`), three below (`0.013`).
    static func short(_ value: Double) -> String { fixed(value, decimals: abs(value) >= 1 || value == 0 ? 1 : 3) }

    /// `12.3` with `decimals` places.
    static func fixed(_ value: Double, decimals: Int) -> String {
        guard value.isFinite else { return value.isNaN ? "?" : (value < 0 ? "-∞" : "∞") }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = (abs(value) * scale).rounded()
        guard scaled < 9e15 else { return String(Int(value)) }
        let units = Int(scaled)
        let factor = Int(scale)
        let whole = units / factor
        var text = (value < 0 && units != 0 ? "-" : "") + String(whole)
        if decimals > 0 {
            let frac = String(units % factor)
            text += "." + String(repeating: "0", count: decimals - frac.count) + frac
        }
        return text
    }

    /// `40%`, `12.5%`: a fraction 0…1 as a percentage with at most one decimal.
    static func percent(_ fraction: Double) -> String {
        let tenths = (fraction * 1000).rounded()
        if tenths.truncatingRemainder(dividingBy: 10) == 0 { return fixed(tenths / 10, decimals: 0) + "%" }
        return fixed(tenths / 10, decimals: 1) + "%"
    }

    /// A byte count in binary units: exact when it divides (`1GiB`, `64MiB`), else one decimal (`10.4MiB`).
    static func bytes(_ value: UInt64) -> String {
        let units: [(String, UInt64)] = [("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)]
        for (suffix, factor) in units where value >= factor {
            if value % factor == 0 { return "\(value / factor)\(suffix)" }
            return fixed(Double(value) / Double(factor), decimals: 1) + suffix
        }
        return "\(value)B"
    }

    /// A rate in bytes per second as `117.2MiB/s`.
    static func rate(_ bytesPerSecond: Double) -> String {
        guard bytesPerSecond.isFinite else { return "unlimited" }
        let units: [(String, Double)] = [("GiB/s", 1_073_741_824), ("MiB/s", 1_048_576), ("KiB/s", 1024)]
        for (suffix, factor) in units where bytesPerSecond >= factor {
            return fixed(bytesPerSecond / factor, decimals: 1) + suffix
        }
        return fixed(bytesPerSecond, decimals: 0) + "B/s"
    }

    /// `chunks 3–7`, `chunk 3`.
    static func chunks(_ range: Range<Int>) -> String {
        range.count == 1 ? "chunk \(range.lowerBound)" : "chunks \(range.lowerBound)–\(range.upperBound - 1)"
    }
}
