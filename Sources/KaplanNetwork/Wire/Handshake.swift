import Crypto

/// The mutual challenge–response that opens every connection: both ends prove they hold the session key
/// (HMAC-SHA256), the server first, and derive the link's per-direction MAC keys. See README.md, "Wire format".
public enum Handshake {
    /// The wire version this build speaks.
    public static let version: UInt8 = 1
    /// The longest node name a hello may carry, in UTF-8 bytes.
    public static let maxNameBytes = 64
    /// The largest handshake message, in bytes: every pre-authentication read is bounded by it.
    public static let maxMessageSize = 512

    static let magic: [UInt8] = Array("KAPL".utf8)
    static let headerSize = 6
    static let nonceSize = 32
    static let proofSize = 32
    static let serverLabel = Array("kaplan handshake v1 server proof".utf8)
    static let clientLabel = Array("kaplan handshake v1 client proof".utf8)

    /// Handshake message types (byte 5 of every message).
    enum Message: UInt8 {
        case hello = 1, challenge = 2, proof = 3, abort = 4, welcome = 5
    }

    /// Why a side gave up, sent in an abort message so the other side can say so.
    enum AbortReason: UInt8 {
        case version = 1, authFailed = 2, wrongSession = 3, malformed = 4, serverNotAuthenticated = 5
    }

    // MARK: client

    /// Client side: sends a hello, checks the server's proof before sending its own (a server without the key
    /// learns nothing and gets no proof to replay), refuses a server of another session when `expecting` is
    /// given, and returns the link keys once the server has accepted this node's proof.
    public static func client(
        _ socket: TCPSocket, key: SessionKey, name: String, role: LinkRole,
        expecting: SessionID?, timeout: Duration
    ) throws(NetworkError) -> LinkKeys {
        let deadline = ContinuousClock.now + timeout
        let peer = "the server at \(socket.remote)"
        let nameBytes = try checkName(Array(name.utf8), from: nil)
        let clientNonce = Bytes.random(nonceSize)
        var hello = header(.hello)
        hello.append(role.rawValue)
        hello += clientNonce
        hello.append(UInt8(nameBytes.count))
        hello += nameBytes
        try send(hello, on: socket, deadline: deadline, what: "hello")

        switch try readHeader(socket, deadline: deadline, what: "challenge", peer: peer) {
        case .challenge: break
        case .abort: throw try abortError(socket, deadline: deadline, peer: peer, key: key, serverSide: false)
        case let other: throw unexpected(other, expected: "challenge", peer: peer)
        }
        var body = [UInt8](repeating: 0, count: SessionID.byteCount + nonceSize + proofSize)
        try body.typedMutableBytes { (buffer) throws(NetworkError) in
            try socket.readExactly(into: buffer, deadline: deadline, what: "challenge")
        }
        let session = SessionID(uncheckedBytes: Array(body[0..<16]))
        let serverNonce = Array(body[16..<48])
        let serverProof = Array(body[48..<80])
        let transcript = transcript(role: role, name: nameBytes, clientNonce: clientNonce, serverNonce: serverNonce, session: session)

        guard HMAC<SHA256>.isValidAuthenticationCode(serverProof, authenticating: serverLabel + transcript, using: key.symmetric) else {
            sendAbort(.serverNotAuthenticated, on: socket, deadline: deadline)
            throw NetworkError(
                "server-not-authenticated",
                "\(peer) did not prove it holds this node's session key: its key file differs (this node's key fingerprint is \(key.fingerprint); compare the key files on both nodes) or it is not the kaplan node the plan names. This node sent no proof and drops the connection.")
        }
        if let expecting, expecting != session {
            sendAbort(.wrongSession, on: socket, deadline: deadline)
            throw NetworkError(
                "wrong-session",
                "\(peer) serves deployment session \(session), but this node belongs to session \(expecting); is it running another deployment, or was it restarted? Check the upstream address in the plan.")
        }
        var proof = header(.proof)
        proof += Array(HMAC<SHA256>.authenticationCode(for: clientLabel + transcript, using: key.symmetric))
        try send(proof, on: socket, deadline: deadline, what: "proof")

        let answer: Message
        do throws(NetworkError) {
            answer = try readHeader(socket, deadline: deadline, what: "welcome", peer: peer)
        } catch where error.code == "closed" {
            throw NetworkError("closed", "\(peer) closed the connection instead of accepting this node's proof; see that node's log for why", cause: error.message)
        }
        switch answer {
        case .welcome: return LinkKeys(key: key, session: session, transcript: transcript)
        case .abort: throw try abortError(socket, deadline: deadline, peer: peer, key: key, serverSide: false)
        case let other: throw unexpected(other, expected: "welcome", peer: peer)
        }
    }

    // MARK: server

    /// Server side: reads a hello, answers with this session's id and a proof, checks the client's proof, and
    /// returns the authenticated peer's name and role. Every read is bounded and the whole exchange ends by
    /// `timeout`, so garbage, silence or a flood fails this one connection only.
    public static func server(
        _ socket: TCPSocket, key: SessionKey, session: SessionID, timeout: Duration
    ) throws(NetworkError) -> (name: String, role: LinkRole, keys: LinkKeys) {
        let deadline = ContinuousClock.now + timeout
        var peer = "the client at \(socket.remote)"
        do throws(NetworkError) {
            switch try readHeader(socket, deadline: deadline, what: "hello", peer: peer) {
            case .hello: break
            case let other: throw unexpected(other, expected: "hello", peer: peer)
            }
        } catch {
            sendAbort(error.code == "version-mismatch" ? .version : .malformed, on: socket, deadline: deadline)
            throw error
        }
        // role, nonce, name length: then the name, whose length is checked before it is read.
        var fixed = [UInt8](repeating: 0, count: 1 + nonceSize + 1)
        try fixed.typedMutableBytes { (buffer) throws(NetworkError) in
            try socket.readExactly(into: buffer, deadline: deadline, what: "hello")
        }
        guard let role = LinkRole(rawValue: fixed[0]) else {
            sendAbort(.malformed, on: socket, deadline: deadline)
            throw NetworkError("bad-handshake", "\(peer) sent a hello with unknown role \(fixed[0]); is it a newer kaplan? Run the same release on every node.")
        }
        let clientNonce = Array(fixed[1...nonceSize])
        let nameLength = Int(fixed[nonceSize + 1])
        guard (1...maxNameBytes).contains(nameLength) else {
            sendAbort(.malformed, on: socket, deadline: deadline)
            throw NetworkError("bad-handshake", "\(peer) sent a hello with a \(nameLength)-byte node name (1...\(maxNameBytes) allowed)")
        }
        var nameBytes = [UInt8](repeating: 0, count: nameLength)
        try nameBytes.typedMutableBytes { (buffer) throws(NetworkError) in
            try socket.readExactly(into: buffer, deadline: deadline, what: "hello")
        }
        let name: String
        do throws(NetworkError) {
            _ = try checkName(nameBytes, from: peer)
            name = String(decoding: nameBytes, as: UTF8.self)
        } catch {
            sendAbort(.malformed, on: socket, deadline: deadline)
            throw error
        }
        peer = "client \(name) at \(socket.remote)"

        let serverNonce = Bytes.random(nonceSize)
        let transcript = transcript(role: role, name: nameBytes, clientNonce: clientNonce, serverNonce: serverNonce, session: session)
        var challenge = header(.challenge)
        challenge += session.bytes
        challenge += serverNonce
        challenge += Array(HMAC<SHA256>.authenticationCode(for: serverLabel + transcript, using: key.symmetric))
        try send(challenge, on: socket, deadline: deadline, what: "challenge")

        switch try readHeader(socket, deadline: deadline, what: "proof", peer: peer) {
        case .proof: break
        case .abort: throw try abortError(socket, deadline: deadline, peer: peer, key: key, serverSide: true, session: session)
        case let other:
            sendAbort(.malformed, on: socket, deadline: deadline)
            throw unexpected(other, expected: "proof", peer: peer)
        }
        var proof = [UInt8](repeating: 0, count: proofSize)
        try proof.typedMutableBytes { (buffer) throws(NetworkError) in
            try socket.readExactly(into: buffer, deadline: deadline, what: "proof")
        }
        guard HMAC<SHA256>.isValidAuthenticationCode(proof, authenticating: clientLabel + transcript, using: key.symmetric) else {
            sendAbort(.authFailed, on: socket, deadline: deadline)
            throw NetworkError(
                "auth-failed",
                "\(peer) failed to prove it holds the session key; the connection is refused. If it is one of this deployment's nodes, its key file differs (this node's key fingerprint is \(key.fingerprint)).")
        }
        try send(header(.welcome), on: socket, deadline: deadline, what: "welcome")
        return (name, role, LinkKeys(key: key, session: session, transcript: transcript))
    }

    // MARK: pieces

    /// The bytes both proofs and the link keys cover: role, length-prefixed name, both nonces, session.
    static func transcript(role: LinkRole, name: [UInt8], clientNonce: [UInt8], serverNonce: [UInt8], session: SessionID) -> [UInt8] {
        var out = Array("kaplan handshake v1".utf8)
        out.append(role.rawValue)
        out.append(UInt8(name.count))
        out += name
        out += clientNonce
        out += serverNonce
        out += session.bytes
        return out
    }

    static func header(_ message: Message) -> [UInt8] { magic + [version, message.rawValue] }

    /// Checks a node name: 1...64 bytes of UTF-8 without control characters. `from` names the peer that sent it.
    static func checkName(_ bytes: [UInt8], from peer: String?) throws(NetworkError) -> [UInt8] {
        let problem: String?
        if bytes.isEmpty || bytes.count > maxNameBytes {
            problem = "is \(bytes.count) bytes long (1...\(maxNameBytes) allowed)"
        } else if let text = String(validating: bytes, as: UTF8.self) {
            problem = text.unicodeScalars.contains { $0.properties.generalCategory == .control } ? "contains control characters" : nil
        } else {
            problem = "is not valid UTF-8"
        }
        guard let problem else { return bytes }
        if let peer {
            throw NetworkError("bad-handshake", "\(peer) sent a node name that \(problem)")
        }
        throw NetworkError("bad-name", "this node's name \"\(String(decoding: bytes.prefix(80), as: UTF8.self))\" \(problem); use the node's name from the plan")
    }

    static func send(_ bytes: [UInt8], on socket: TCPSocket, deadline: ContinuousClock.Instant, what: String) throws(NetworkError) {
        try bytes.typedBytes { (buffer) throws(NetworkError) in
            try socket.write(buffer, deadline: deadline, what: what)
        }
    }

    /// Tells the peer why this side gives up; best effort, never waits past a short grace period.
    static func sendAbort(_ reason: AbortReason, on socket: TCPSocket, deadline: ContinuousClock.Instant) {
        let grace = min(deadline, ContinuousClock.now + .milliseconds(200))
        try? send(header(.abort) + [reason.rawValue], on: socket, deadline: grace, what: "abort")
    }

    /// Reads and checks a message header (magic, version, type).
    static func readHeader(_ socket: TCPSocket, deadline: ContinuousClock.Instant, what: String, peer: String) throws(NetworkError) -> Message {
        var bytes = [UInt8](repeating: 0, count: headerSize)
        try bytes.typedMutableBytes { (buffer) throws(NetworkError) in
            try socket.readExactly(into: buffer, deadline: deadline, what: what)
        }
        guard Array(bytes[0..<4]) == magic else {
            throw NetworkError("bad-handshake", "\(peer) is not speaking the kaplan protocol: it sent \(Bytes.preview(bytes)) where a \(what) should begin; is another service using this port?")
        }
        guard bytes[4] == version else {
            throw NetworkError("version-mismatch", "\(peer) speaks kaplan wire version \(bytes[4]) and this node speaks version \(version); run the same kaplan release on every node")
        }
        guard let message = Message(rawValue: bytes[5]) else {
            throw NetworkError("bad-handshake", "\(peer) sent unknown handshake message type \(bytes[5]) where a \(what) should be")
        }
        return message
    }

    static func unexpected(_ message: Message, expected: String, peer: String) -> NetworkError {
        NetworkError("bad-handshake", "\(peer) sent a \(message) message where a \(expected) should be")
    }

    /// Reads an abort's reason and turns it into this side's error.
    static func abortError(
        _ socket: TCPSocket, deadline: ContinuousClock.Instant, peer: String, key: SessionKey,
        serverSide: Bool, session: SessionID? = nil
    ) throws(NetworkError) -> NetworkError {
        var byte: [UInt8] = [0]
        try byte.typedMutableBytes { (buffer) throws(NetworkError) in
            try socket.readExactly(into: buffer, deadline: deadline, what: "abort")
        }
        switch (AbortReason(rawValue: byte[0]), serverSide) {
        case (.version?, _):
            return NetworkError("version-mismatch", "\(peer) refused kaplan wire version \(version); run the same kaplan release on every node")
        case (.authFailed?, false):
            return NetworkError("auth-failed", "\(peer) rejected this node's proof: the two nodes hold different session keys (this node's key fingerprint is \(key.fingerprint)); copy the golden node's key file to this node")
        case (.serverNotAuthenticated?, true):
            return NetworkError("auth-failed", "\(peer) could not verify this node's proof and hung up: the two nodes hold different session keys (this node's key fingerprint is \(key.fingerprint)); copy this node's key file to it")
        case (.wrongSession?, true):
            return NetworkError("wrong-session", "\(peer) belongs to another deployment session than this one (\(session?.description ?? "?")); it is probably left over from an earlier run and should be restarted")
        case (.malformed?, _):
            return NetworkError("bad-handshake", "\(peer) says this node's handshake message was malformed; run the same kaplan release on every node")
        default:
            return NetworkError("bad-handshake", "\(peer) aborted the handshake with unknown reason \(byte[0])")
        }
    }
}
