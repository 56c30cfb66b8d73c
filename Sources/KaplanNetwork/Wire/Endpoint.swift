import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A host and a TCP/UDP port; the host is numeric (IPv4 or IPv6) in plans, though connecting resolves names too.
public struct Endpoint: Sendable, Hashable, Codable, Comparable, CustomStringConvertible {
    /// The host: `10.213.0.9`, `::1`, or a name.
    public var host: String
    /// The port (0 asks a listener for an ephemeral one).
    public var port: Int

    /// Creates an endpoint.
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `HOST`, `HOST:PORT`, `[V6]`, `[V6]:PORT` or a bare IPv6 address; nil when malformed or the port is
    /// outside 1...65535.
    public init?(parsing text: String, defaultPort: Int) {
        let text = text.trimmingCharacters(in: .whitespaces)
        guard !text.isEmpty, !text.contains(where: { $0 == " " || $0 == "\t" || $0 == "/" }) else { return nil }
        var host: Substring
        var portText: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { return nil }
                portText = rest.dropFirst()
            }
            guard host.contains(":"), Self.ipv6Bytes(String(host)) != nil else { return nil }
        } else if text.filter({ $0 == ":" }).count > 1 {
            host = Substring(text)
            guard Self.ipv6Bytes(text) != nil else { return nil }
        } else if let colon = text.firstIndex(of: ":") {
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        } else {
            host = Substring(text)
        }
        guard !host.isEmpty, !host.contains("[") && !host.contains("]") else { return nil }
        var port = defaultPort
        if let portText {
            guard !portText.isEmpty, portText.allSatisfy(\.isASCII), portText.allSatisfy(\.isNumber), portText.count <= 5,
                let value = Int(portText)
            else { return nil }
            port = value
        }
        guard (1...65535).contains(port) else { return nil }
        self.init(host: String(host), port: port)
    }

    /// `host:port`, or `[host]:port` for IPv6.
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// IPv4 hosts in numeric order (10.213.0.9 before 10.213.0.10) then port; IPv4 before others; others by string.
    public static func < (a: Endpoint, b: Endpoint) -> Bool {
        switch (ipv4Value(a.host), ipv4Value(b.host)) {
        case let (x?, y?): return x != y ? x < y : a.port < b.port
        case (.some, nil): return true
        case (nil, .some): return false
        case (nil, nil): return a.host != b.host ? a.host < b.host : a.port < b.port
        }
    }

    /// The host as a 32-bit number when it is a dotted-quad IPv4 address.
    static func ipv4Value(_ host: String) -> UInt32? {
        var address = in_addr()
        guard inet_pton(AF_INET, host, &address) == 1 else { return nil }
        return UInt32(bigEndian: address.s_addr)
    }

    /// The host's 16 bytes when it is an IPv6 address.
    static func ipv6Bytes(_ host: String) -> [UInt8]? {
        var address = in6_addr()
        guard inet_pton(AF_INET6, host, &address) == 1 else { return nil }
        return withUnsafeBytes(of: &address) { Array($0) }
    }
}
