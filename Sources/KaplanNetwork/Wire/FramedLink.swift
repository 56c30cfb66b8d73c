import Crypto
import Foundation

/// An authenticated, framed connection after the handshake. Control frames carry an HMAC-SHA256 over the
/// direction's frame counter, so a replayed, reordered, dropped or altered frame is detected; chunk frames carry
/// sealed chunks, which authenticate themselves. One thread may send while another receives; concurrent
/// senders are serialized here.
public final class FramedLink: @unchecked Sendable {
    /// The connection underneath.
    public let socket: TCPSocket
    /// The largest chunk plaintext this link accepts.
    public let maxChunk: Int
    /// The session the handshake agreed on.
    public let session: SessionID

    /// The largest control payload, in bytes.
    public static let maxControlPayload = 1 << 20
    /// Frame header: type (1 byte) and length (4 bytes, big-endian).
    static let headerSize = 5
    static let macSize = 32
    static let controlType: UInt8 = 1
    static let chunkType: UInt8 = 2

    private let sendKey: SymmetricKey
    private let receiveKey: SymmetricKey
    private let sendLock = NSLock()
    private var sendCounter: UInt64 = 0  // guarded by sendLock
    private var sendFailure: NetworkError?  // guarded by sendLock
    private let receiveLock = NSLock()
    private var receiveCounter: UInt64 = 0  // guarded by receiveLock
    private var receiveFailure: NetworkError?  // guarded by receiveLock

    /// Wraps a socket whose handshake produced `keys`; `isClient` picks the direction of each key.
    public init(socket: TCPSocket, keys: LinkKeys, isClient: Bool, maxChunk: Int) {
        self.socket = socket
        self.maxChunk = maxChunk
        self.session = keys.session
        sendKey = isClient ? keys.clientToServer : keys.serverToClient
        receiveKey = isClient ? keys.serverToClient : keys.clientToServer
    }

    // MARK: sending

    /// Sends a control message (at most 1 MiB), MAC'd with this direction's frame counter.
    public func send(control payload: [UInt8]) throws(NetworkError) {
        guard payload.count <= Self.maxControlPayload else {
            throw NetworkError("frame-too-large", "a \(payload.count)-byte control message exceeds the \(Self.maxControlPayload)-byte limit; this is a kaplan bug")
        }
        sendLock.lock()
        defer { sendLock.unlock() }
        if let sendFailure { throw sendFailure }
        var frame = [UInt8]()
        frame.reserveCapacity(Self.headerSize + payload.count + Self.macSize)
        frame.append(Self.controlType)
        Bytes.append(UInt32(payload.count), to: &frame)
        frame += payload
        var counter: [UInt8] = []
        Bytes.append(sendCounter, to: &counter)
        var mac = HMAC<SHA256>(key: sendKey)
        mac.update(data: counter)
        mac.update(data: frame)
        frame += Array(mac.finalize())
        do throws(NetworkError) {
            try frame.typedBytes { (buffer) throws(NetworkError) in try socket.write(buffer) }
        } catch {
            sendFailure = error
            throw error
        }
        sendCounter &+= 1
    }

    /// Sends a sealed chunk as it is (no link MAC: the chunk's AEAD tag authenticates it).
    public func send(chunk sealed: UnsafeRawBufferPointer) throws(NetworkError) {
        guard sealed.count >= ChunkSealer.overhead, sealed.count <= maxChunk + ChunkSealer.overhead else {
            throw NetworkError("frame-too-large", "a \(sealed.count)-byte sealed chunk does not fit this link's frames (\(ChunkSealer.overhead)...\(maxChunk + ChunkSealer.overhead) bytes); this is a kaplan bug")
        }
        var header: [UInt8] = [Self.chunkType]
        Bytes.append(UInt32(sealed.count), to: &header)
        sendLock.lock()
        defer { sendLock.unlock() }
        if let sendFailure { throw sendFailure }
        do throws(NetworkError) {
            try header.typedBytes { (buffer) throws(NetworkError) in try socket.write(buffer, sealed) }
        } catch {
            sendFailure = error
            throw error
        }
        sendCounter &+= 1
    }

    /// Sends a sealed chunk held in an array.
    public func send(chunk sealed: [UInt8]) throws(NetworkError) {
        try sealed.typedBytes { (buffer) throws(NetworkError) in try send(chunk: buffer) }
    }

    // MARK: receiving

    /// Receives the next frame: control frames are checked against the MAC and counter (`frame-forged`), lengths
    /// against the limits before any allocation (`frame-too-large`). A `timeout` before the first byte of a frame
    /// leaves the link usable; any other error ends it.
    public func receive() throws(NetworkError) -> Frame {
        receiveLock.lock()
        defer { receiveLock.unlock() }
        if let receiveFailure { throw receiveFailure }
        do throws(FrameError) {
            return try receiveFrame()
        } catch {
            if !error.recoverable { receiveFailure = error.error }
            throw error.error
        }
    }

    private struct FrameError: Error {
        var error: NetworkError
        var recoverable: Bool
    }

    /// An error that ends the link.
    private func dead(_ code: String, _ message: String) -> FrameError {
        FrameError(error: NetworkError(code, message), recoverable: false)
    }

    /// Fills `buffer`; a timeout before its first byte is recoverable when `first` is true.
    private func fill(_ buffer: UnsafeMutableRawBufferPointer, first: Bool) throws(FrameError) {
        var filled = 0
        while filled < buffer.count {
            let n: Int
            do throws(NetworkError) {
                n = try socket.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]))
            } catch {
                throw FrameError(error: error, recoverable: first && filled == 0 && error.code == "timeout")
            }
            if n == 0 {
                let error = first && filled == 0
                    ? NetworkError("closed", "\(socket.remote) closed the link")
                    : NetworkError("closed", "\(socket.remote) closed the link in the middle of a frame")
                throw FrameError(error: error, recoverable: false)
            }
            filled += n
        }
    }

    private func receiveFrame() throws(FrameError) -> Frame {
        // Control frames are checked in place: [counter 8][type 1][length 4][payload][mac 32].
        var head = [UInt8](repeating: 0, count: Self.headerSize)
        try head.typedMutableBytes { (buffer) throws(FrameError) in try fill(buffer, first: true) }
        let length = head.withUnsafeBytes { Int(Bytes.uint32($0, at: 1)) }
        let frameNumber = receiveCounter
        switch head[0] {
        case Self.controlType:
            guard length <= Self.maxControlPayload else {
                throw dead("frame-too-large", "\(socket.remote) announced a \(length)-byte control frame, over the \(Self.maxControlPayload)-byte limit; the link is dropped")
            }
            let prefix = 8 + Self.headerSize
            var frame = [UInt8](repeating: 0, count: prefix + length + Self.macSize)
            var counter: [UInt8] = []
            Bytes.append(frameNumber, to: &counter)
            frame.replaceSubrange(0..<8, with: counter)
            frame.replaceSubrange(8..<prefix, with: head)
            try frame.typedMutableBytes { (buffer) throws(FrameError) in
                try fill(UnsafeMutableRawBufferPointer(rebasing: buffer[prefix...]), first: false)
            }
            let valid = frame.withUnsafeBytes { buffer in
                HMAC<SHA256>.isValidAuthenticationCode(
                    UnsafeRawBufferPointer(rebasing: buffer[(prefix + length)...]),
                    authenticating: UnsafeRawBufferPointer(rebasing: buffer[0..<(prefix + length)]),
                    using: receiveKey)
            }
            guard valid else {
                throw dead("frame-forged", "control frame #\(frameNumber) from \(socket.remote) failed its authentication check: the link was altered, replayed or reordered in transit, or a frame was lost; the link is dropped")
            }
            receiveCounter &+= 1
            return .control(Array(frame[prefix..<(prefix + length)]))
        case Self.chunkType:
            guard length <= maxChunk + ChunkSealer.overhead else {
                throw dead("frame-too-large", "\(socket.remote) announced a \(length)-byte chunk frame, over this link's \(maxChunk + ChunkSealer.overhead)-byte limit; are both nodes using the same chunk size? The link is dropped")
            }
            guard length >= ChunkSealer.overhead else {
                throw dead("bad-frame", "\(socket.remote) sent a \(length)-byte chunk frame, shorter than a sealed chunk's \(ChunkSealer.overhead)-byte minimum; the link is dropped")
            }
            // Uninitialized: the body is read straight into the array's storage, never zero-filled first.
            var failure: FrameError?
            let sealed = [UInt8](unsafeUninitializedCapacity: length) { buffer, count in
                do throws(FrameError) {
                    try fill(UnsafeMutableRawBufferPointer(buffer), first: false)
                    count = length
                } catch {
                    failure = error
                    count = 0
                }
            }
            if let failure { throw failure }
            do throws(NetworkError) {
                _ = try sealed.typedBytes { (buffer) throws(NetworkError) in try ChunkSealer.peekHeader(buffer) }
            } catch {
                throw dead("bad-frame", "chunk frame #\(frameNumber) from \(socket.remote) does not hold a well-formed chunk: \(error.message); the link is dropped")
            }
            receiveCounter &+= 1
            return .chunk(sealed)
        default:
            throw dead("bad-frame", "\(socket.remote) sent frame #\(frameNumber) of unknown type \(head[0]); the link is dropped")
        }
    }

    /// Closes the connection; threads blocked in send or receive wake up with an error.
    public func close() { socket.close() }
}
