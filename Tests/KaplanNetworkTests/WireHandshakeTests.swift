import Crypto
import Foundation
import Testing

@testable import KaplanNetwork

/// A test server: an accept loop on its own thread and one handler thread per connection, which runs the server
/// handshake and, once a client is authenticated, sends it `secret` in a control frame.
final class WireTestServer: @unchecked Sendable {
    /// What happened to one connection.
    struct Outcome: Sendable {
        var remote: Endpoint
        var result: Result<String, NetworkError>  // the client's name on success
        var elapsed: Duration
    }

    static let secret = Array("the-payload-only-authenticated-clients-see".utf8)

    let listener: TCPListener
    let key: SessionKey
    let session: SessionID
    let handshakeTimeout: Duration
    private let lock = NSLock()
    private var outcomes: [Outcome] = []
    private var handlers: [WireThread<Void>] = []
    private var sockets: [TCPSocket] = []
    private var acceptor: WireThread<Void>?

    init(key: SessionKey, session: SessionID = .random(), handshakeTimeout: Duration = .seconds(1)) throws {
        self.listener = try WireHarness.listener()
        self.key = key
        self.session = session
        self.handshakeTimeout = handshakeTimeout
        acceptor = WireThread("test-acceptor") { [self] in acceptLoop() }
    }

    var endpoint: Endpoint { listener.local }

    private func acceptLoop() {
        for _ in 0..<1000 {
            let socket: TCPSocket?
            do { socket = try listener.accept(timeout: .milliseconds(200)) } catch { return }
            guard let socket else { continue }
            lock.lock()
            sockets.append(socket)
            handlers.append(WireThread("test-handler") { [self] in handle(socket) })
            lock.unlock()
        }
    }

    private func handle(_ socket: TCPSocket) {
        let started = ContinuousClock.now
        let result = Result { () throws(NetworkError) -> String in
            let peer = try Handshake.server(socket, key: key, session: session, timeout: handshakeTimeout)
            let link = FramedLink(socket: socket, keys: peer.keys, isClient: false, maxChunk: 1024)
            try link.send(control: Self.secret)
            return peer.name
        }
        let outcome = Outcome(remote: socket.remote, result: result, elapsed: ContinuousClock.now - started)
        lock.lock()
        outcomes.append(outcome)
        lock.unlock()
        if case .success = result {
            // Hold the link until the client hangs up, then close.
            socket.setTimeouts(receive: .seconds(5), send: nil)
            _ = WireHarness.drain(socket, limit: .seconds(5))
        }
        socket.close()
    }

    /// The outcome for the connection from `local` (the client's own address), waiting up to `timeout` for it.
    func outcome(for local: Endpoint, timeout: Duration = .seconds(5)) -> Outcome? {
        let deadline = ContinuousClock.now + timeout
        for _ in 0..<1000 {
            lock.lock()
            let found = outcomes.first { $0.remote == local }
            lock.unlock()
            if let found { return found }
            if ContinuousClock.now >= deadline { return nil }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return nil
    }

    /// Closes the listener and every connection, and joins every thread.
    func stop() {
        listener.close()
        _ = acceptor?.join()
        lock.lock()
        let threads = handlers
        let open = sockets
        lock.unlock()
        for socket in open { socket.shutdown() }
        for thread in threads { _ = thread.join() }
        for socket in open { socket.close() }
    }
}

/// A client that speaks the handshake byte by byte, to misbehave on purpose.
enum RawClient {
    static func hello(version: UInt8 = Handshake.version, role: UInt8 = 2, nonce: [UInt8] = Bytes.random(32), name: [UInt8] = Array("raw".utf8)) -> [UInt8] {
        Handshake.magic + [version, Handshake.Message.hello.rawValue, role] + nonce + [UInt8(name.count)] + name
    }

    static func read(_ socket: TCPSocket, _ count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        try bytes.typedMutableBytes { (b) throws(NetworkError) in try socket.readExactly(into: b) }
        return bytes
    }
}

@Suite("Wire handshake: mutual challenge-response", .timeLimit(.minutes(1)))
struct WireHandshakeTests {
    @Test(arguments: [LinkRole.control, .data])
    func succeedsBothWays(role: LinkRole) throws {
        let key = WireHarness.key()
        let session = SessionID.random()
        let (clientSocket, serverSocket) = try WireHarness.socketPair()
        defer { clientSocket.close(); serverSocket.close() }
        let server = WireThread("server") { () -> Result<(name: String, role: LinkRole, keys: LinkKeys), NetworkError> in
            Result { () throws(NetworkError) in try Handshake.server(serverSocket, key: key, session: session, timeout: .seconds(5)) }
        }
        let clientKeys = try Handshake.client(clientSocket, key: key, name: "node07.rack-b", role: role, expecting: role == .data ? session : nil, timeout: .seconds(5))
        let peer = try #require(try server.join()?.get())
        #expect(peer.name == "node07.rack-b")
        #expect(peer.role == role)
        #expect(peer.keys.session == session)
        #expect(clientKeys.session == session)
        // Both directions' keys match: frames pass each way.
        let client = FramedLink(socket: clientSocket, keys: clientKeys, isClient: true, maxChunk: 64)
        let serverLink = FramedLink(socket: serverSocket, keys: peer.keys, isClient: false, maxChunk: 64)
        try client.send(control: [1, 2, 3])
        try serverLink.send(control: [4, 5])
        guard case .control(let a) = try serverLink.receive(), case .control(let b) = try client.receive() else {
            Issue.record("expected control frames")
            return
        }
        #expect(a == [1, 2, 3] && b == [4, 5])
    }

    @Test func eachHandshakeDerivesFreshLinkKeys() throws {
        // A frame MAC'd for one connection does not verify on another connection of the same session and key.
        let key = WireHarness.key()
        let session = SessionID.random()
        let first = try WireHarness.handshakeKeys(key: key, session: session)
        let second = try WireHarness.handshakeKeys(key: key, session: session)
        for (receiverKeys, expected) in [(first.server, "ok"), (second.server, "frame-forged")] {
            let (tap, sink) = try WireHarness.socketPair()
            defer { tap.close(); sink.close() }
            try FramedLink(socket: tap, keys: first.client, isClient: true, maxChunk: 64).send(control: Array("first connection".utf8))
            let receiver = FramedLink(socket: sink, keys: receiverKeys, isClient: false, maxChunk: 64)
            let result = Result { () throws(NetworkError) -> Frame in try receiver.receive() }
            #expect(WireHarness.code(result) == expected)
        }
    }

    @Test func wrongKeyClientIsRefusedAndGetsNothing() throws {
        let server = try WireTestServer(key: WireHarness.key())
        defer { server.stop() }
        let socket = try TCPSocket.connect(to: server.endpoint, timeout: .seconds(5))
        defer { socket.close() }
        #expect {
            try Handshake.client(socket, key: WireHarness.key(), name: "intruder", role: .control, expecting: nil, timeout: .seconds(5))
        } throws: { ($0 as? NetworkError)?.code == "server-not-authenticated" }
        let outcome = try #require(server.outcome(for: socket.local))
        #expect(outcome.result.failure?.code == "auth-failed")
        #expect(outcome.result.failure?.message.contains("intruder") == true)
        let rest = WireHarness.drain(socket)
        #expect(rest.bytes.isEmpty, "a client with the wrong key received \(rest.bytes.count) bytes")
    }

    @Test func clientSkippingTheCheckStillGetsNoPayload() throws {
        // A client that ignores the server's proof and answers with a made-up one.
        let server = try WireTestServer(key: WireHarness.key())
        defer { server.stop() }
        let socket = try TCPSocket.connect(to: server.endpoint, timeout: .seconds(5))
        defer { socket.close() }
        socket.setTimeouts(receive: .seconds(5), send: .seconds(5))
        WireHarness.writeRaw(socket, RawClient.hello())
        let challenge = try RawClient.read(socket, 86)
        #expect(Array(challenge[6..<22]) == server.session.bytes)
        WireHarness.writeRaw(socket, Handshake.magic + [Handshake.version, Handshake.Message.proof.rawValue] + Bytes.random(32))
        let rest = WireHarness.drain(socket)
        #expect(rest.bytes == Handshake.magic + [Handshake.version, Handshake.Message.abort.rawValue, Handshake.AbortReason.authFailed.rawValue])
        #expect(server.outcome(for: socket.local)?.result.failure?.code == "auth-failed")
    }

    @Test func replayedProofIsRefused() throws {
        let key = WireHarness.key()
        let server = try WireTestServer(key: key)
        defer { server.stop() }
        let nonce = Bytes.random(32)
        let name = Array("replayer".utf8)
        // A genuine exchange, recorded.
        let first = try TCPSocket.connect(to: server.endpoint, timeout: .seconds(5))
        defer { first.close() }
        first.setTimeouts(receive: .seconds(5), send: .seconds(5))
        WireHarness.writeRaw(first, RawClient.hello(nonce: nonce, name: name))
        let challenge = try RawClient.read(first, 86)
        let transcript = Handshake.transcript(role: .data, name: name, clientNonce: nonce, serverNonce: Array(challenge[22..<54]), session: server.session)
        let proof = Handshake.magic + [Handshake.version, Handshake.Message.proof.rawValue]
            + Array(HMAC<SHA256>.authenticationCode(for: Handshake.clientLabel + transcript, using: key.symmetric))
        WireHarness.writeRaw(first, proof)
        #expect(try RawClient.read(first, 6) == Handshake.header(.welcome))
        #expect(server.outcome(for: first.local)?.result.failure == nil)
        // The same hello and proof, replayed on a new connection: the server's nonce differs.
        let second = try TCPSocket.connect(to: server.endpoint, timeout: .seconds(5))
        defer { second.close() }
        second.setTimeouts(receive: .seconds(5), send: .seconds(5))
        WireHarness.writeRaw(second, RawClient.hello(nonce: nonce, name: name))
        _ = try RawClient.read(second, 86)
        WireHarness.writeRaw(second, proof)
        #expect(server.outcome(for: second.local)?.result.failure?.code == "auth-failed")
        let rest = WireHarness.drain(second).bytes
        #expect(rest.count <= 7, "a replayed proof got \(rest.count) bytes")
    }

    @Test func rogueServerIsDetectedAndLearnsNoProof() throws {
        // A server with another key.
        let rogue = try WireTestServer(key: WireHarness.key())
        defer { rogue.stop() }
        let socket = try TCPSocket.connect(to: rogue.endpoint, timeout: .seconds(5))
        defer { socket.close() }
        #expect {
            try Handshake.client(socket, key: WireHarness.key(), name: "node01", role: .data, expecting: nil, timeout: .seconds(5))
        } throws: { error in
            guard let error = error as? NetworkError else { return false }
            return error.code == "server-not-authenticated" && error.message.contains(rogue.endpoint.description)
        }
        let outcome = try #require(rogue.outcome(for: socket.local))
        #expect(outcome.result.failure?.code == "auth-failed")
        #expect(outcome.result.failure?.message.contains("could not verify this node's proof") == true)

        // A raw rogue: it reads what the client sends after a forged challenge. It must be an abort, not a proof.
        let listener = try WireHarness.listener()
        defer { listener.close() }
        let client = WireThread("client") { () -> Result<LinkKeys, NetworkError> in
            Result { () throws(NetworkError) -> LinkKeys in
                let socket = try TCPSocket.connect(to: listener.local, timeout: .seconds(5))
                defer { socket.close() }
                return try Handshake.client(socket, key: WireHarness.key(), name: "node01", role: .data, expecting: nil, timeout: .seconds(5))
            }
        }
        let accepted = try #require(try listener.accept(timeout: .seconds(5)))
        defer { accepted.close() }
        accepted.setTimeouts(receive: .seconds(5), send: .seconds(5))
        let hello = try RawClient.read(accepted, 6 + 1 + 32 + 1 + 6)
        #expect(Array(hello[0..<6]) == Handshake.header(.hello))
        WireHarness.writeRaw(accepted, Handshake.header(.challenge) + SessionID.random().bytes + Bytes.random(32) + Bytes.random(32))
        let answer = WireHarness.drain(accepted).bytes
        #expect(answer == Handshake.magic + [Handshake.version, Handshake.Message.abort.rawValue, Handshake.AbortReason.serverNotAuthenticated.rawValue])
        #expect(WireHarness.code(client.join()) == "server-not-authenticated")
    }

    @Test func expectingAnotherSessionIsRefused() throws {
        let key = WireHarness.key()
        let server = try WireTestServer(key: key)
        defer { server.stop() }
        let socket = try TCPSocket.connect(to: server.endpoint, timeout: .seconds(5))
        defer { socket.close() }
        let mine = SessionID.random()
        #expect {
            try Handshake.client(socket, key: key, name: "node02", role: .data, expecting: mine, timeout: .seconds(5))
        } throws: { error in
            guard let error = error as? NetworkError else { return false }
            return error.code == "wrong-session" && error.message.contains(mine.description) && error.message.contains(server.session.description)
        }
        #expect(server.outcome(for: socket.local)?.result.failure?.code == "wrong-session")
        #expect(WireHarness.drain(socket).bytes.isEmpty)
    }

    @Test func versionMismatchIsNamed() throws {
        let server = try WireTestServer(key: WireHarness.key())
        defer { server.stop() }
        let socket = try TCPSocket.connect(to: server.endpoint, timeout: .seconds(5))
        defer { socket.close() }
        WireHarness.writeRaw(socket, RawClient.hello(version: 9))
        #expect(WireHarness.drain(socket).bytes == Handshake.magic + [Handshake.version, Handshake.Message.abort.rawValue, Handshake.AbortReason.version.rawValue])
        let failure = server.outcome(for: socket.local)?.result.failure
        #expect(failure?.code == "version-mismatch")
        #expect(failure?.message.contains("version 9") == true)

        // A server of another version answering a client.
        let listener = try WireHarness.listener()
        defer { listener.close() }
        let client = WireThread("client") { () -> Result<LinkKeys, NetworkError> in
            Result { () throws(NetworkError) -> LinkKeys in
                let socket = try TCPSocket.connect(to: listener.local, timeout: .seconds(5))
                defer { socket.close() }
                return try Handshake.client(socket, key: WireHarness.key(), name: "node01", role: .data, expecting: nil, timeout: .seconds(5))
            }
        }
        let accepted = try #require(try listener.accept(timeout: .seconds(5)))
        defer { accepted.close() }
        WireHarness.writeRaw(accepted, Handshake.magic + [2, Handshake.Message.abort.rawValue, Handshake.AbortReason.version.rawValue])
        #expect(client.join()?.failure?.code == "version-mismatch")
    }

    @Test func badNamesAreRefused() throws {
        let (clientSocket, serverSocket) = try WireHarness.socketPair()
        defer { clientSocket.close(); serverSocket.close() }
        for name in ["", String(repeating: "n", count: 65), "node\n01", "node\u{7f}"] {
            #expect {
                try Handshake.client(clientSocket, key: WireHarness.key(), name: name, role: .data, expecting: nil, timeout: .seconds(1))
            } throws: { ($0 as? NetworkError)?.code == "bad-name" }
        }
        #expect(throws: Never.self) { _ = try Handshake.checkName(Array(String(repeating: "é", count: 32).utf8), from: nil) }

        let server = try WireTestServer(key: WireHarness.key())
        defer { server.stop() }
        for name in [Array("bad\u{1b}[2Jname".utf8), [0xff, 0xfe, 0x41]] {
            let socket = try TCPSocket.connect(to: server.endpoint, timeout: .seconds(5))
            defer { socket.close() }
            WireHarness.writeRaw(socket, RawClient.hello(name: name))
            #expect(server.outcome(for: socket.local)?.result.failure?.code == "bad-handshake")
        }
    }

    @Test func abuseFailsFastAndNeverBlocksTheListener() throws {
        let key = WireHarness.key()
        let deadline = Duration.seconds(2)
        let server = try WireTestServer(key: key, handshakeTimeout: deadline)
        defer { server.stop() }
        func connect() throws -> TCPSocket {
            let socket = try TCPSocket.connect(to: server.endpoint, timeout: .seconds(5))
            socket.setTimeouts(receive: .seconds(5), send: .seconds(5))
            return socket
        }

        // A port scan: connect, close.
        let scan = try connect()
        let scanLocal = scan.local
        scan.close()
        // Garbage: an HTTP request.
        let garbage = try connect()
        defer { garbage.close() }
        WireHarness.writeRaw(garbage, Array("GET / HTTP/1.1\r\nHost: golden\r\n\r\n".utf8))
        // Half a hello, then silence.
        let half = try connect()
        defer { half.close() }
        WireHarness.writeRaw(half, Array(RawClient.hello().prefix(20)))
        // A 1 MiB blob.
        let blobBytes = [UInt8](repeating: 0xE5, count: 1 << 20)
        let blob = try connect()
        defer { blob.close() }
        let blobWriter = WireThread("blob") { WireHarness.writeRaw(blob, blobBytes) }
        // A valid hello, one byte every 100 ms (would take ~5 s).
        let drip = try connect()
        defer { drip.close() }
        let dripWriter = WireThread("drip") { () -> Int in
            var sent = 0
            for byte in RawClient.hello(name: Array("dripper".utf8)) {
                if WireHarness.writeRaw(drip, [byte]) != nil { break }
                sent += 1
                Thread.sleep(forTimeInterval: 0.1)
                if drip.isClosed { break }
            }
            return sent
        }
        // A huge name length claim with a valid header.
        let hugeName = try connect()
        defer { hugeName.close() }
        WireHarness.writeRaw(hugeName, Handshake.header(.hello) + [2] + Bytes.random(32) + [255] + Bytes.random(300))

        // While all of them are pending, good clients get through at once.
        let started = ContinuousClock.now
        for index in 0..<3 {
            let good = try connect()
            defer { good.close() }
            let keys = try Handshake.client(good, key: key, name: "good\(index)", role: .control, expecting: server.session, timeout: .seconds(5))
            let link = FramedLink(socket: good, keys: keys, isClient: true, maxChunk: 0)
            guard case .control(let payload) = try link.receive() else {
                Issue.record("the good client got no control frame")
                return
            }
            #expect(payload == WireTestServer.secret)
        }
        // The half hello and the slow drip still hold their connections (until the 2 s deadline) at this point.
        #expect(ContinuousClock.now - started < .milliseconds(1500), "good clients waited behind bad ones")

        let expectations: [(String, Endpoint, String)] = [
            ("port scan", scanLocal, "closed"), ("garbage", garbage.local, "bad-handshake"), ("half hello", half.local, "timeout"),
            ("1 MiB blob", blob.local, "bad-handshake"), ("slow drip", drip.local, "timeout"), ("huge name", hugeName.local, "bad-handshake"),
        ]
        for (what, local, code) in expectations {
            guard let outcome = server.outcome(for: local, timeout: .seconds(5)) else {
                Issue.record("\(what): the server never finished with it")
                continue
            }
            #expect(outcome.result.failure?.code == code, "\(what): \(outcome.result)")
            #expect(outcome.elapsed <= deadline + .milliseconds(500), "\(what) took \(outcome.elapsed)")
            print("\(what): \(outcome.result.failure?.description ?? "ok") after \(outcome.elapsed)")
        }
        #expect(server.outcome(for: garbage.local)?.result.failure?.message.contains("\"GET ") == true)
        drip.shutdown()
        #expect((dripWriter.join() ?? 99) < 35)
        _ = blobWriter.join()
        for socket in [garbage, half, blob, drip, hugeName] {
            #expect(!WireHarness.drain(socket, limit: .seconds(2)).bytes.contains(WireTestServer.secret[0...5]), "an unauthenticated client saw the payload")
        }

        // And the listener still accepts good clients afterwards.
        let late = try connect()
        defer { late.close() }
        _ = try Handshake.client(late, key: key, name: "late", role: .data, expecting: nil, timeout: .seconds(5))
    }
}
