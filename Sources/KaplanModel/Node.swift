/// One node to deploy, after ranges are expanded.
public struct Node: Sendable, Hashable, Codable {
    /// The node's name, which becomes its hostname (`node03`).
    public var name: String
    /// Its IP address, when known (the agent's address; also used to order the chain).
    public var address: String?
    /// Its MAC address, when known, lower case.
    public var mac: String?
    /// The target: a block device, or an image file (lab and local runs).
    public var target: Target
    /// The target disk's size when the plan declares it (used to check that the layout fits).
    public var diskSize: ByteSize?
    /// Where the node was declared.
    public var range: SourceRange

    /// Creates a node.
    public init(
        name: String, address: String? = nil, mac: String? = nil, target: Target, diskSize: ByteSize? = nil,
        range: SourceRange
    ) {
        self.name = name
        self.address = address
        self.mac = mac
        self.target = target
        self.diskSize = diskSize
        self.range = range
    }
}

/// What a node's disk is.
public enum Target: Sendable, Hashable, Codable, CustomStringConvertible {
    /// A block device (`/dev/sda`).
    case device(String)
    /// A disk image file, attached to a loop device by kaplan.
    case image(String)

    /// The disk's name as step addresses show it: `sda` for /dev/sda, `node1.img` for an image file.
    public var name: String { String(path.split(separator: "/").last ?? Substring(path)) }

    /// The device path or image path.
    public var path: String {
        switch self {
        case .device(let p), .image(let p): p
        }
    }

    /// `device /dev/sda` or `image lab/node1.img`.
    public var description: String {
        switch self {
        case .device(let p): "device \(p)"
        case .image(let p): "image \(p)"
        }
    }
}
