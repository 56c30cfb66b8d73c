/// The kind of a partition table, named as libfdisk and libblkid name it: `dos` (MBR), `gpt`, or another name they know.
public struct PartitionTableType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The library's name for the table type.
    public let rawValue: String

    /// Wraps a library name such as `"dos"` or `"gpt"`.
    public init(rawValue: String) { self.rawValue = rawValue }

    /// An MBR ("dos") partition table.
    public static let dos = PartitionTableType(rawValue: "dos")
    /// A GUID partition table.
    public static let gpt = PartitionTableType(rawValue: "gpt")

    /// The library's name.
    public var description: String { rawValue }
}
