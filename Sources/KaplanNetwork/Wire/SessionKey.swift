import Crypto

#if canImport(Glibc)
import Glibc
#endif

/// The session's pre-shared key (plan `security.key-file`): 16 to 4096 raw bytes, never printed.
// Crypto.SymmetricKey is immutable once made but not marked Sendable in swift-crypto 3.
public struct SessionKey: @unchecked Sendable, CustomStringConvertible, CustomReflectable {
    /// The key as swift-crypto holds it (zeroed when freed).
    let symmetric: SymmetricKey

    /// The shortest key accepted, in bytes.
    public static let minimumSize = 16
    /// The longest key accepted, in bytes.
    public static let maximumSize = 4096

    /// Wraps raw key bytes; refuses fewer than 16 or more than 4096 with a `key-file` error saying why.
    public init(bytes: [UInt8]) throws(NetworkError) {
        try Self.checkSize(bytes.count, source: "the session key")
        symmetric = SymmetricKey(data: bytes)
    }

    /// Reads a key file's raw bytes; refuses a missing, unreadable or non-regular file, a key of the wrong
    /// size, and a file that group or others may read or write (the message says `chmod 600 PATH`).
    public init(contentsOf path: String) throws(NetworkError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)
        if fd < 0 {
            let e = errno
            switch e {
            case ENOENT:
                throw NetworkError("key-file", "the session key file \(path) does not exist; create it on the golden node (for example `head -c 32 /dev/urandom > \(path) && chmod 600 \(path)`) and copy it to every node", cause: NetworkError.errnoText(e))
            case EACCES:
                throw NetworkError("key-file", "the session key file \(path) cannot be read by this user (uid \(getuid())); run kaplan as the file's owner or root", cause: NetworkError.errnoText(e))
            default:
                throw NetworkError("key-file", "cannot open the session key file \(path)", cause: NetworkError.errnoText(e))
            }
        }
        defer { _ = Glibc.close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw NetworkError("key-file", "cannot inspect the session key file \(path)", cause: NetworkError.errnoText(errno))
        }
        let kind = info.st_mode & S_IFMT
        if kind == S_IFDIR {
            throw NetworkError("key-file", "the session key path \(path) is a directory, not a key file; point security.key-file at the file itself")
        }
        guard kind == S_IFREG else {
            throw NetworkError("key-file", "the session key path \(path) is not a regular file; point security.key-file at a plain file of 16 to 4096 random bytes")
        }
        if info.st_mode & 0o066 != 0 {
            let mode = String(info.st_mode & 0o777, radix: 8)
            throw NetworkError("key-file", "the session key file \(path) may be read or written by group or others (mode \(mode)); run `chmod 600 \(path)` on this node and try again")
        }
        if info.st_size > Self.maximumSize {
            throw NetworkError("key-file", "the session key file \(path) is \(info.st_size) bytes, more than the \(Self.maximumSize) allowed; is it the right file? A key is 16 to 4096 random bytes, such as `head -c 32 /dev/urandom`")
        }
        // Read up to one byte past the limit: the size may change under us.
        var buffer = [UInt8](repeating: 0, count: Self.maximumSize + 1)
        var filled = 0
        while filled < buffer.count {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress! + filled, $0.count - filled) }
            if n < 0 {
                if errno == EINTR { continue }
                throw NetworkError("key-file", "cannot read the session key file \(path)", cause: NetworkError.errnoText(errno))
            }
            if n == 0 { break }
            filled += n
        }
        let bytes = Array(buffer.prefix(filled))
        for i in buffer.indices { buffer[i] = 0 }
        try Self.checkSize(bytes.count, source: "the session key file \(path)")
        symmetric = SymmetricKey(data: bytes)
    }

    private static func checkSize(_ count: Int, source: String) throws(NetworkError) {
        if count < minimumSize {
            throw NetworkError("key-file", "\(source) holds \(count) bytes, fewer than the \(minimumSize) required; make a key of 32 random bytes (`head -c 32 /dev/urandom`) and copy the same file to every node")
        }
        if count > maximumSize {
            throw NetworkError("key-file", "\(source) holds \(count) bytes, more than the \(maximumSize) allowed; is it the right file? A key is 16 to 4096 random bytes")
        }
    }

    /// The key's length in bytes.
    public var byteCount: Int { symmetric.bitCount / 8 }

    /// 8 hex digits that tell keys apart without revealing them: compare it across nodes when handshakes fail.
    public var fingerprint: String {
        let mac = HMAC<SHA256>.authenticationCode(for: Array("kaplan key fingerprint v1".utf8), using: symmetric)
        return Bytes.hex(Array(mac).prefix(4))
    }

    /// Length and fingerprint only; never the key.
    public var description: String { "SessionKey(\(byteCount) bytes, fingerprint \(fingerprint))" }

    /// Hides the key from `dump` and debuggers' reflection.
    public var customMirror: Mirror { Mirror(self, children: [:]) }
}
