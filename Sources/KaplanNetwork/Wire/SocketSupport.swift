#if canImport(Glibc)
import Glibc
#endif

/// Small POSIX helpers shared by the socket types (internal).
enum SocketSupport {
    /// The endpoint a socket address names (numeric host), or nil for families other than IPv4/IPv6.
    static func endpoint(_ address: UnsafePointer<sockaddr>, length: socklen_t) -> Endpoint? {
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        var service = [CChar](repeating: 0, count: Int(NI_MAXSERV))
        let family = Int32(address.pointee.sa_family)
        guard family == AF_INET || family == AF_INET6 else { return nil }
        let rc = getnameinfo(address, length, &host, socklen_t(host.count), &service, socklen_t(service.count), NI_NUMERICHOST | NI_NUMERICSERV)
        guard rc == 0 else { return nil }
        let hostText = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let serviceText = String(decoding: service.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return Endpoint(host: hostText, port: Int(serviceText) ?? 0)
    }

    /// The local or remote endpoint of a socket, or `0.0.0.0:0` when the kernel cannot say.
    static func endpoint(of fd: Int32, peer: Bool) -> Endpoint {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let found: Endpoint? = withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                let rc = peer ? getpeername(fd, address, &length) : getsockname(fd, address, &length)
                return rc == 0 ? endpoint(address, length: length) : nil
            }
        }
        return found ?? Endpoint(host: "0.0.0.0", port: 0)
    }

    /// A duration as a timeval (zero means "no timeout" to SO_RCVTIMEO/SO_SNDTIMEO, so round up to 1 µs).
    static func timeval(_ duration: Duration?) -> timeval {
        guard let duration, duration > .zero else { return Glibc.timeval(tv_sec: 0, tv_usec: 0) }
        let (seconds, attoseconds) = duration.components
        var micros = Int(attoseconds / 1_000_000_000_000)
        if seconds == 0 && micros == 0 { micros = 1 }
        return Glibc.timeval(tv_sec: Int(seconds), tv_usec: micros)
    }

    /// Milliseconds for poll(2), rounded up, clamped; -1 for nil (wait forever).
    static func pollMilliseconds(_ duration: Duration?) -> Int32 {
        guard let duration else { return -1 }
        if duration <= .zero { return 0 }
        let (seconds, attoseconds) = duration.components
        let millis = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return Int32(clamping: millis)
    }

    /// A duration for messages: `2s`, `250ms`.
    static func text(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let millis = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        if millis % 1000 == 0 { return "\(millis / 1000)s" }
        return "\(millis)ms"
    }

    /// poll(2) on one descriptor until `events` or the deadline; true when ready, false at the deadline.
    static func wait(fd: Int32, events: Int16, until deadline: ContinuousClock.Instant) throws(NetworkError) -> Bool {
        while true {
            let left = deadline - ContinuousClock.now
            if left <= .zero { return false }
            var entry = pollfd(fd: fd, events: events, revents: 0)
            let rc = poll(&entry, 1, pollMilliseconds(left))
            if rc > 0 { return true }
            if rc == 0 { continue }
            if errno == EINTR { continue }
            throw NetworkError("io", "poll on a socket failed", cause: NetworkError.errnoText(errno))
        }
    }

    /// Sets an integer socket option, ignoring failure (the options set this way are tuning, not correctness).
    static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) {
        var value = value
        _ = setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<Int32>.size))
    }

    /// `SOCK_STREAM` as the Int32 socket(2) wants (Glibc imports it as an enum).
    static let streamType = Int32(SOCK_STREAM.rawValue)
    /// `SOCK_CLOEXEC` as an Int32.
    static let closeOnExec = Int32(SOCK_CLOEXEC.rawValue)
    /// `SOCK_NONBLOCK` as an Int32.
    static let nonBlocking = Int32(SOCK_NONBLOCK.rawValue)
}
