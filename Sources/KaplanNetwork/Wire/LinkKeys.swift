import Crypto

/// What a handshake establishes on one connection: the session and the two per-direction MAC keys.
// Crypto.SymmetricKey is immutable once made but not marked Sendable in swift-crypto 3.
public struct LinkKeys: @unchecked Sendable {
    /// The deployment session both ends agreed on.
    public var session: SessionID
    /// MACs frames the client sends.
    let clientToServer: SymmetricKey
    /// MACs frames the server sends.
    let serverToClient: SymmetricKey

    /// Derives both keys: HKDF-SHA256(psk, salt: session id, info: direction label ‖ SHA-256(transcript)).
    init(key: SessionKey, session: SessionID, transcript: [UInt8]) {
        let digest = Array(SHA256.hash(data: transcript))
        func derive(_ label: String) -> SymmetricKey {
            HKDF<SHA256>.deriveKey(
                inputKeyMaterial: key.symmetric, salt: session.bytes, info: Array(label.utf8) + digest, outputByteCount: 32)
        }
        self.session = session
        clientToServer = derive("kaplan link v1 client to server")
        serverToClient = derive("kaplan link v1 server to client")
    }
}
