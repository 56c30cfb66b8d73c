import Foundation
import Testing

@testable import KaplanNetwork

/// Shared helpers of the wire tests: joined threads, loopback socket pairs, handshaken link pairs.
enum WireHarness {
    /// A fresh random 32-byte session key.
    static func key() -> SessionKey {
        // 32 random bytes are always a valid key.
        try! SessionKey(bytes: Bytes.random(32))
    }

    /// A listener on 127.0.0.1 with an ephemeral port.
    static func listener() throws -> TCPListener {
        try TCPListener(on: Endpoint(host: "127.0.0.1", port: 0))
    }

    /// A connected loopback pair (client end, server end); both have 10 s I/O timeouts so nothing hangs.
    static func socketPair() throws -> (client: TCPSocket, server: TCPSocket) {
        let listener = try listener()
        defer { listener.close() }
        let client = try TCPSocket.connect(to: listener.local, timeout: .seconds(5))
        guard let server = try listener.accept(timeout: .seconds(5)) else {
            client.close()
            throw NetworkError("timeout", "the test listener accepted nothing")
        }
        for socket in [client, server] { socket.setTimeouts(receive: .seconds(10), send: .seconds(10)) }
        return (client, server)
    }

    /// Runs both sides of a handshake over a fresh loopback pair (then closed) and returns both ends' keys.
    static func handshakeKeys(key: SessionKey, session: SessionID) throws -> (client: LinkKeys, server: LinkKeys) {
        let (clientSocket, serverSocket) = try socketPair()
        defer { clientSocket.close(); serverSocket.close() }
        let (client, server) = try handshake(clientSocket, serverSocket, key: key, session: session)
        return (client, server)
    }

    /// Handshakes over a fresh pair and wraps both ends in links (client first).
    static func linkPair(key: SessionKey = key(), session: SessionID = .random(), maxChunk: Int = 1 << 20) throws -> (client: FramedLink, server: FramedLink) {
        let (clientSocket, serverSocket) = try socketPair()
        do {
            let (ck, sk) = try handshake(clientSocket, serverSocket, key: key, session: session)
            return (FramedLink(socket: clientSocket, keys: ck, isClient: true, maxChunk: maxChunk),
                    FramedLink(socket: serverSocket, keys: sk, isClient: false, maxChunk: maxChunk))
        } catch {
            clientSocket.close()
            serverSocket.close()
            throw error
        }
    }

    private static func handshake(_ clientSocket: TCPSocket, _ serverSocket: TCPSocket, key: SessionKey, session: SessionID) throws -> (LinkKeys, LinkKeys) {
        let server = WireThread("handshake-server") { () -> Result<LinkKeys, NetworkError> in
            Result { () throws(NetworkError) -> LinkKeys in
                try Handshake.server(serverSocket, key: key, session: session, timeout: .seconds(5)).keys
            }
        }
        let clientKeys = Result { () throws(NetworkError) -> LinkKeys in
            try Handshake.client(clientSocket, key: key, name: "node01", role: .data, expecting: session, timeout: .seconds(5))
        }
        let serverKeys = server.join()
        guard case .success(let ck) = clientKeys, case .success(let sk)? = serverKeys else {
            throw NetworkError("auth-failed", "test handshake failed: \(clientKeys) / \(String(describing: serverKeys))")
        }
        return (ck, sk)
    }

    /// Reads whatever arrives until end of stream or `limit`, as raw bytes (for "the peer got nothing" checks).
    static func drain(_ socket: TCPSocket, limit: Duration = .seconds(3)) -> (bytes: [UInt8], error: NetworkError?) {
        socket.setTimeouts(receive: limit, send: limit)
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        for _ in 0..<10_000 {
            let n: Int
            do {
                n = try buffer.typedMutableBytes { (b) throws(NetworkError) in try socket.read(into: b) }
            } catch {
                return (out, error)
            }
            if n == 0 { break }
            out += buffer[0..<n]
        }
        return (out, nil)
    }

    /// Writes raw bytes, ignoring failures (the peer may have hung up on purpose).
    @discardableResult
    static func writeRaw(_ socket: TCPSocket, _ bytes: [UInt8]) -> NetworkError? {
        do {
            try bytes.typedBytes { (b) throws(NetworkError) in try socket.write(b) }
            return nil
        } catch {
            return error
        }
    }

    /// The error code a result failed with, or "ok".
    static func code<T>(_ result: Result<T, NetworkError>?) -> String {
        switch result {
        case .success?: return "ok"
        case .failure(let error)?: return error.code
        case nil: return "no result (thread did not finish)"
        }
    }
}

/// A thread the test starts and joins, with a time limit on the join.
final class WireThread<T: Sendable>: @unchecked Sendable {
    private let finished = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var value: T?

    /// Starts `body` on a new thread.
    init(_ name: String, _ body: @escaping @Sendable () -> T) {
        let thread = Thread { [self] in
            let result = body()
            lock.lock()
            value = result
            lock.unlock()
            finished.signal()
        }
        thread.name = name
        thread.start()
    }

    /// Waits for the thread; nil (and a recorded issue) when it did not finish in time.
    func join(timeout: Duration = .seconds(30)) -> T? {
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        if finished.wait(timeout: .now() + seconds) == .timedOut {
            Issue.record("a test thread did not finish within \(timeout)")
            return nil
        }
        lock.lock()
        defer { lock.unlock() }
        return value
    }
}

extension Result where Failure == NetworkError {
    /// The error, when the result is one.
    var failure: NetworkError? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
