/// Unambiguous bytes for hashing: every field is tagged and length-prefixed, so no two values encode alike.
struct CanonicalEncoder {
    private(set) var bytes: [UInt8] = []

    /// Appends a 64-bit integer, little-endian.
    mutating func append(_ value: Int64) {
        bytes.append(1)
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// Appends a byte string with its length.
    mutating func append(_ value: [UInt8]) {
        bytes.append(2)
        withUnsafeBytes(of: Int64(value.count).littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: value)
    }

    /// Appends an optional integer (absent and present encode differently).
    mutating func append(_ value: Int64?) {
        if let value { append(value) } else { bytes.append(0) }
    }

    /// Appends an optional byte string (absent and empty encode differently).
    mutating func append(_ value: [UInt8]?) {
        if let value { append(value) } else { bytes.append(0) }
    }

    /// Empties the buffer for the next unit.
    mutating func reset() {
        bytes.removeAll(keepingCapacity: true)
    }
}
