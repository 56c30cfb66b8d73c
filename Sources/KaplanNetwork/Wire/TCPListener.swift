import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A listening TCP socket (SO_REUSEADDR); accept waits with a time limit, and close wakes a waiting accept.
public final class TCPListener: @unchecked Sendable {
    private let lock = NSLock()
    private var fd: Int32
    private let wakeRead: Int32  // a pipe written by close(), polled next to the listening socket
    private let wakeWrite: Int32
    private var closed = false
    private var inFlight = 0

    /// The address actually bound (with the ephemeral port filled in).
    public let local: Endpoint

    /// Binds and listens on `endpoint`; port 0 picks an ephemeral port (read it from `local`).
    public init(on endpoint: Endpoint, backlog: Int32 = 64) throws(NetworkError) {
        guard (0...65535).contains(endpoint.port) else {
            throw NetworkError("listen-failed", "cannot listen on \(endpoint): port \(endpoint.port) is outside 0...65535")
        }
        var hints = addrinfo()
        hints.ai_socktype = SocketSupport.streamType
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(endpoint.host.isEmpty ? nil : endpoint.host, String(endpoint.port), &hints, &list)
        guard rc == 0, let info = list else {
            let why = rc == EAI_SYSTEM ? NetworkError.errnoText(errno) : String(cString: gai_strerror(rc))
            throw NetworkError("listen-failed", "cannot listen on \(endpoint): the address does not resolve; check the plan", cause: why)
        }
        defer { freeaddrinfo(info) }
        let fd = socket(info.pointee.ai_family, SocketSupport.streamType | SocketSupport.closeOnExec | SocketSupport.nonBlocking, 0)
        guard fd >= 0 else {
            throw NetworkError("listen-failed", "cannot create a socket to listen on \(endpoint)", cause: NetworkError.errnoText(errno))
        }
        SocketSupport.setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1)
        if Glibc.bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) != 0 {
            let e = errno
            Glibc.close(fd)
            let hint: String
            switch e {
            case EADDRINUSE: hint = ": the port is already in use (is another kaplan still running on this node?)"
            case EADDRNOTAVAIL: hint = ": \(endpoint.host) is not an address of this node"
            case EACCES: hint = ": ports below 1024 need root"
            default: hint = ""
            }
            throw NetworkError("listen-failed", "cannot listen on \(endpoint)\(hint)", cause: NetworkError.errnoText(e))
        }
        if Glibc.listen(fd, backlog) != 0 {
            let e = errno
            Glibc.close(fd)
            throw NetworkError("listen-failed", "cannot listen on \(endpoint)", cause: NetworkError.errnoText(e))
        }
        // Glibc's Swift module offers neither eventfd nor pipe2: a pipe, then its flags.
        var pair: [Int32] = [-1, -1]
        guard pipe(&pair) == 0 else {
            let e = errno
            Glibc.close(fd)
            throw NetworkError("listen-failed", "cannot create the listener's wake-up pipe", cause: NetworkError.errnoText(e))
        }
        for end in pair {
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
            _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
        }
        self.fd = fd
        self.wakeRead = pair[0]
        self.wakeWrite = pair[1]
        self.local = SocketSupport.endpoint(of: fd, peer: false)
    }

    deinit {
        if fd >= 0 { Glibc.close(fd) }
        Glibc.close(wakeRead)
        Glibc.close(wakeWrite)
    }

    private func acquire() throws(NetworkError) -> Int32 {
        lock.lock()
        defer { lock.unlock() }
        if closed { throw NetworkError("closed", "the listener on \(local) was closed") }
        inFlight += 1
        return fd
    }

    private func release() {
        lock.lock()
        defer { lock.unlock() }
        inFlight -= 1
        if closed && inFlight == 0 && fd >= 0 {
            Glibc.close(fd)
            fd = -1
        }
    }

    /// Waits up to `timeout` (nil: forever) for a connection; nil when none came, `closed` once close() was called.
    public func accept(timeout: Duration?) throws(NetworkError) -> TCPSocket? {
        let fd = try acquire()
        defer { release() }
        let deadline = timeout.map { ContinuousClock.now + $0 }
        while true {
            var entries = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0), pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
            let wait = deadline.map { SocketSupport.pollMilliseconds($0 - ContinuousClock.now) } ?? -1
            let rc = poll(&entries, 2, wait)
            if rc < 0 {
                if errno == EINTR { continue }
                throw NetworkError("accept-failed", "waiting for connections on \(local) failed", cause: NetworkError.errnoText(errno))
            }
            if isClosed || entries[1].revents != 0 {
                throw NetworkError("closed", "the listener on \(local) was closed")
            }
            if rc == 0 {
                if let deadline, ContinuousClock.now >= deadline { return nil }
                continue
            }
            let client = Glibc.accept(fd, nil, nil)
            if client >= 0 {
                // Glibc's Swift module lacks accept4; the accepted socket is blocking (flags are not inherited).
                _ = fcntl(client, F_SETFD, FD_CLOEXEC)
                return TCPSocket(adopting: client)
            }
            switch errno {
            case EINTR, EAGAIN, EWOULDBLOCK, ECONNABORTED, EPROTO:
                // The connection went away between poll and accept: wait for the next one.
                if let deadline, ContinuousClock.now >= deadline { return nil }
                continue
            case EMFILE, ENFILE:
                throw NetworkError("accept-failed", "cannot accept on \(local): this process has too many open files; raise `ulimit -n`", cause: NetworkError.errnoText(errno))
            default:
                throw NetworkError("accept-failed", "cannot accept on \(local)", cause: NetworkError.errnoText(errno))
            }
        }
    }

    /// True once close() was called.
    public var isClosed: Bool {
        lock.lock()
        defer { lock.unlock() }
        return closed
    }

    /// Stops listening (idempotent); a thread waiting in accept wakes up with `closed`.
    public func close() {
        lock.lock()
        defer { lock.unlock() }
        if closed { return }
        closed = true
        var one: UInt8 = 1
        _ = Glibc.write(wakeWrite, &one, 1)
        if inFlight == 0 && fd >= 0 {
            Glibc.close(fd)
            fd = -1
        }
    }
}
