import KaplanModel

/// A host whose stream can travel over a transport: the golden side archives one filesystem per segment, a node
/// writes each segment as its bytes arrive. The chain and multicast transports use it; a local apply does not.
public protocol SegmentedStreamHost: Host {
    /// The golden's filesystems (mountpoints), in stream order; valid after `openGolden`.
    func goldenSegments() -> [String]
    /// Archives one golden filesystem (`excluded` paths recreated empty), handing the stream to `sink` as it is
    /// produced; returns the manifest digest the node's extractor must reach.
    func archiveSegment(_ filesystem: String, excluded: [String], compressed: Bool, sink: ([UInt8]) throws -> Void) throws -> String
    /// Starts writing one segment into the node's mounted filesystem.
    func openSegment(node: String, filesystem: String) throws -> any SegmentWriter
}

/// Writes one segment of the stream into a node's filesystem as its bytes arrive.
public protocol SegmentWriter: AnyObject, Sendable {
    /// Feeds the next bytes of the segment (blocks while the writer's queue is full).
    func write(_ bytes: [UInt8]) throws
    /// Ends the segment; returns the manifest digest of what was written, after checking it against the stream's own.
    func finish() throws -> String
    /// Abandons the segment.
    func cancel()
}

/// The exit-code contract of `apply`, shared by the local executor and the network session.
public enum DeploymentExit {
    /// 0 every node OK, 3 partial success (at least the policy's minimum OK), 1 failure.
    public static func code(ok: Int, of total: Int, policy: Policy) -> Int32 {
        ok == total ? 0 : (ok >= policy.minSuccess.required(of: total) && ok > 0 ? 3 : 1)
    }
}
