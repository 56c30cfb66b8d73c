import Crypto

/// SHA-256 for manifests, plan digests and stamps: swift-crypto's BoringSSL implementation (SHA-NI / AVX2
/// assembly where the CPU has it), behind the small incremental API kaplan uses.
// Crypto.SHA256 is a value type (its BoringSSL context is copied on write) but is not marked Sendable.
public struct SHA256: @unchecked Sendable {
    private var hasher = Crypto.SHA256()

    /// A fresh hash.
    public init() {}

    /// Feeds raw bytes.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) { hasher.update(bufferPointer: bytes) }

    /// Feeds a sequence of bytes.
    public mutating func update(_ bytes: some Sequence<UInt8>) {
        let array = Array(bytes)
        array.withUnsafeBytes { hasher.update(bufferPointer: $0) }
    }

    /// Feeds a string's UTF-8 bytes.
    public mutating func update(_ text: String) {
        var copy = text
        copy.withUTF8 { hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }
    }

    private static let zeros = [UInt8](repeating: 0, count: 64 * 1024)

    /// Feeds `count` zero bytes (the holes of a sparse file) without allocating them.
    public mutating func updateZeros(count: Int64) {
        var left = count
        while left > 0 {
            let n = Int(min(left, Int64(Self.zeros.count)))
            Self.zeros.withUnsafeBytes { hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            left -= Int64(n)
        }
    }

    /// The digest as 32 bytes.
    public func finalize() -> [UInt8] { Array(hasher.finalize()) }

    /// The digest in lower-case hex.
    public func hex() -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for byte in finalize() {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The digest in lower-case hex (the name the archive code uses).
    public func finalizeHex() -> String { hex() }

    /// The hex digest of a string's UTF-8 bytes.
    public static func hex(_ text: String) -> String {
        var h = SHA256()
        h.update(text)
        return h.hex()
    }

    /// The hex digest of bytes.
    public static func hex(_ bytes: some Sequence<UInt8>) -> String {
        var h = SHA256()
        h.update(bytes)
        return h.hex()
    }
}
