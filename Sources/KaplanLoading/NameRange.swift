/// Expands node name ranges (`node[01-40]`) and address ranges (`10.0.0.[11-50]`); validates names and MACs.
package enum NameRange {
    /// Why a name or address could not be expanded.
    package struct Problem: Error, Equatable {
        /// What is wrong.
        package var message: String
        /// What to write instead.
        package var hint: String?
    }

    /// True for a valid host name label (RFC 1123): 1–63 letters, digits and inner hyphens.
    package static func isHostnameLabel(_ s: String) -> Bool {
        let bytes = Array(s.utf8)
        guard !bytes.isEmpty, bytes.count <= 63, bytes.first != UInt8(ascii: "-"), bytes.last != UInt8(ascii: "-") else {
            return false
        }
        return bytes.allSatisfy {
            ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == UInt8(ascii: "-")
        }
    }

    /// Splits `prefix[a-b]suffix`; nil when the text holds no bracket.
    static func splitRange(_ text: String) -> Result<(prefix: String, from: String, to: String, suffix: String)?, Problem> {
        guard let open = text.firstIndex(of: "[") else {
            if text.contains("]") { return .failure(Problem(message: "has ']' without '['", hint: nil)) }
            return .success(nil)
        }
        guard let close = text[open...].firstIndex(of: "]") else {
            return .failure(Problem(message: "has '[' without ']'", hint: "write a range like node[01-40]"))
        }
        let inner = text[text.index(after: open)..<close]
        let parts = inner.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty,
            parts.allSatisfy({ $0.allSatisfy { $0.isASCII && $0.isNumber } })
        else {
            return .failure(Problem(message: "range '[\(inner)]' must be two numbers like [01-40]", hint: nil))
        }
        let suffix = String(text[text.index(after: close)...])
        if suffix.contains("[") { return .failure(Problem(message: "holds more than one range", hint: nil)) }
        return .success((String(text[..<open]), String(parts[0]), String(parts[1]), suffix))
    }

    /// Expands a node name or name range into host names.
    package static func expand(_ text: String, limit: Int) -> Result<[String], Problem> {
        let split: (prefix: String, from: String, to: String, suffix: String)?
        switch splitRange(text) {
        case .failure(let p): return .failure(p)
        case .success(let s): split = s
        }
        guard let (prefix, fromText, toText, suffix) = split else {
            guard isHostnameLabel(text) else {
                return .failure(
                    Problem(
                        message: "is not a host name (1–63 letters, digits or inner '-')",
                        hint: "a range is written node[01-40]"))
            }
            return .success([text])
        }
        guard let from = Int(fromText), let to = Int(toText), fromText.count <= 9, toText.count <= 9 else {
            return .failure(Problem(message: "range bounds are too large", hint: nil))
        }
        guard from <= to else {
            return .failure(Problem(message: "range [\(fromText)-\(toText)] runs backwards", hint: "write [\(toText)-\(fromText)]"))
        }
        let count = to - from + 1
        guard count <= limit else {
            return .failure(Problem(message: "range names \(count) nodes; at most \(limit) are supported", hint: nil))
        }
        let width = fromText.hasPrefix("0") && fromText.count > 1 ? fromText.count : 0
        var names: [String] = []
        names.reserveCapacity(count)
        for i in from...to {
            let digits = String(i)
            let padded = String(repeating: "0", count: max(0, width - digits.count)) + digits
            let name = prefix + padded + suffix
            guard isHostnameLabel(name) else {
                return .failure(Problem(message: "expands to '\(name)', which is not a host name", hint: nil))
            }
            names.append(name)
        }
        return .success(names)
    }

    /// Parses a dotted IPv4 address into its four octets.
    package static func parseIPv4(_ text: String) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var octets: [UInt8] = []
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy({ $0.isASCII && $0.isNumber }), let v = UInt8(part),
                !(part.count > 1 && part.hasPrefix("0"))
            else { return nil }
            octets.append(v)
        }
        return octets
    }

    /// True for a textual IPv6 address (`fe80::1`, `2001:db8::10`).
    package static func isIPv6(_ text: String) -> Bool {
        guard text.contains(":"), text.count <= 45 else { return false }
        let halves = text.components(separatedBy: "::")
        guard halves.count <= 2 else { return false }
        var groups = 0
        for half in halves where !half.isEmpty {
            for group in half.split(separator: ":", omittingEmptySubsequences: false) {
                guard (1...4).contains(group.count), group.allSatisfy(\.isHexDigit) else { return false }
                groups += 1
            }
        }
        return halves.count == 2 ? groups < 8 : groups == 8
    }

    /// Expands an address or an IPv4 range in the last octet (`10.0.0.[11-50]`).
    package static func expandAddress(_ text: String) -> Result<[String], Problem> {
        if isIPv6(text) { return .success([text]) }
        switch splitRange(text) {
        case .failure(let p): return .failure(p)
        case .success(nil):
            guard parseIPv4(text) != nil else {
                return .failure(Problem(message: "is not an IPv4 or IPv6 address", hint: nil))
            }
            return .success([text])
        case .success(let split?):
            guard split.suffix.isEmpty, split.prefix.hasSuffix("."), parseIPv4(split.prefix + "0") != nil,
                let from = Int(split.from), let to = Int(split.to), from <= to, to <= 255
            else {
                return .failure(
                    Problem(message: "an address range must vary the last octet, like 10.0.0.[11-50]", hint: nil))
            }
            return .success((from...to).map { split.prefix + String($0) })
        }
    }

    /// A MAC address in lower case with colons, or nil.
    package static func normaliseMAC(_ text: String) -> String? {
        let parts = text.split(separator: text.contains("-") ? "-" : ":", omittingEmptySubsequences: false)
        guard parts.count == 6, parts.allSatisfy({ $0.count == 2 && $0.allSatisfy(\.isHexDigit) }) else { return nil }
        return parts.map { $0.lowercased() }.joined(separator: ":")
    }
}

extension String {
    fileprivate func components(separatedBy separator: String) -> [String] {
        var result: [String] = []
        var rest = Substring(self)
        while let r = rest.range(of: separator) {
            result.append(String(rest[..<r.lowerBound]))
            rest = rest[r.upperBound...]
        }
        result.append(String(rest))
        return result
    }
}

extension Substring {
    fileprivate func range(of needle: String) -> Range<Substring.Index>? {
        guard !needle.isEmpty, count >= needle.count else { return nil }
        var i = startIndex
        while i < endIndex {
            if self[i...].hasPrefix(needle) { return i..<index(i, offsetBy: needle.count) }
            i = index(after: i)
        }
        return nil
    }
}
