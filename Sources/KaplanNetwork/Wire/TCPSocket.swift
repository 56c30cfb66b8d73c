import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A connected TCP socket: blocking I/O, MSG_NOSIGNAL, IPv4 and IPv6; safe to read on one thread while
/// writing, shutting down or closing on others.
public final class TCPSocket: @unchecked Sendable {
    // The descriptor is closed only when no call is using it, so a concurrent close() can never make another
    // thread's recv/send land on a reused descriptor number.
    private let lock = NSLock()
    private var fd: Int32
    private var closed = false
    private var inFlight = 0
    private var receiveTimeout: Duration?
    private var sendTimeout: Duration?

    /// The peer's address.
    public let remote: Endpoint
    /// This side's address.
    public let local: Endpoint

    /// Adopts a connected descriptor.
    init(adopting fd: Int32) {
        self.fd = fd
        remote = SocketSupport.endpoint(of: fd, peer: true)
        local = SocketSupport.endpoint(of: fd, peer: false)
    }

    deinit {
        if fd >= 0 { Glibc.close(fd) }
    }

    /// Connects to `endpoint` (host names resolve through getaddrinfo, each address tried in turn) within `timeout`.
    public static func connect(to endpoint: Endpoint, timeout: Duration) throws(NetworkError) -> TCPSocket {
        let deadline = ContinuousClock.now + timeout
        guard (1...65535).contains(endpoint.port) else {
            throw NetworkError("connect-failed", "cannot connect to \(endpoint): port \(endpoint.port) is outside 1...65535")
        }
        var hints = addrinfo()
        hints.ai_socktype = SocketSupport.streamType
        hints.ai_flags = AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(endpoint.host, String(endpoint.port), &hints, &list)
        guard rc == 0, let first = list else {
            let why = rc == EAI_SYSTEM ? NetworkError.errnoText(errno) : String(cString: gai_strerror(rc))
            throw NetworkError("connect-failed", "cannot connect to \(endpoint): the host name does not resolve; check the address in the plan", cause: why)
        }
        defer { freeaddrinfo(first) }
        var failures: [String] = []
        var node: UnsafeMutablePointer<addrinfo>? = first
        while let info = node {
            node = info.pointee.ai_next
            let fd = socket(info.pointee.ai_family, SocketSupport.streamType | SocketSupport.closeOnExec | SocketSupport.nonBlocking, 0)
            if fd < 0 {
                failures.append("socket: \(NetworkError.errnoText(errno))")
                continue
            }
            var ok = false
            defer { if !ok { Glibc.close(fd) } }
            var result = Glibc.connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen)
            if result < 0 && (errno == EINPROGRESS || errno == EINTR) {
                let ready: Bool
                do { ready = try SocketSupport.wait(fd: fd, events: Int16(POLLOUT), until: deadline) } catch {
                    failures.append(error.cause ?? error.message)
                    continue
                }
                if !ready {
                    throw NetworkError("connect-failed", "cannot connect to \(endpoint): no answer within \(SocketSupport.text(timeout)); is the node up and the address right?", cause: "connect timed out")
                }
                var soError: Int32 = 0
                var length = socklen_t(MemoryLayout<Int32>.size)
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &length)
                if soError == 0 { result = 0 } else { errno = soError }
            }
            if result < 0 {
                failures.append(NetworkError.errnoText(errno))
                continue
            }
            let flags = fcntl(fd, F_GETFL)
            _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK)
            ok = true
            return TCPSocket(adopting: fd)
        }
        let hint = failures.contains { $0.contains("refused") } ? "; is kaplan serving on that port?" : ""
        throw NetworkError("connect-failed", "cannot connect to \(endpoint)\(hint)", cause: failures.joined(separator: "; "))
    }

    // MARK: descriptor use

    private func acquire() throws(NetworkError) -> Int32 {
        lock.lock()
        defer { lock.unlock() }
        if closed { throw NetworkError("closed", "the connection to \(remote) was closed by this node") }
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

    private func currentTimeouts() -> (receive: Duration?, send: Duration?) {
        lock.lock()
        defer { lock.unlock() }
        return (receiveTimeout, sendTimeout)
    }

    private func failure(_ value: Int32, reading: Bool) -> NetworkError {
        switch value {
        case EAGAIN, EWOULDBLOCK:
            let limit = currentTimeouts()
            if reading {
                let time = limit.receive.map(SocketSupport.text) ?? "the time limit"
                return NetworkError("timeout", "\(remote) sent nothing for \(time); the peer is stalled or the network is down")
            }
            let time = limit.send.map(SocketSupport.text) ?? "the time limit"
            return NetworkError("timeout", "\(remote) accepted no data for \(time); the peer is not reading (stalled) or the network is down")
        case ECONNRESET, EPIPE, ENOTCONN, ESHUTDOWN:
            return NetworkError("closed", "the connection to \(remote) was reset", cause: NetworkError.errnoText(value))
        case ETIMEDOUT, EHOSTUNREACH, ENETUNREACH:
            return NetworkError("closed", "the connection to \(remote) broke; the peer or the network went away", cause: NetworkError.errnoText(value))
        default:
            return NetworkError("io", "\(reading ? "reading from" : "writing to") \(remote) failed", cause: NetworkError.errnoText(value))
        }
    }

    // MARK: I/O

    /// The most a read waits to gather before it returns (and the kernel wakes the reader): big reads of a chunk
    /// cost a handful of wake-ups instead of one per packet.
    static let readBatch = 256 << 10
    /// The socket's SO_RCVLOWAT as last set (1: the kernel's default). Only the one reading thread touches it.
    private var lowWater = 1

    /// Reads what is available once `min(buffer.count, readBatch)` bytes arrived (or the peer closed, or the receive
    /// timeout passed: `timeout`); 0 means the peer closed its side in order. The wait is a poll(2) with SO_RCVLOWAT
    /// set to exactly that many bytes, so the kernel wakes the reader a handful of times per 1 MiB chunk instead of
    /// once per packet; then everything available is copied without blocking. (A blocking recv with a low-water mark
    /// can sleep forever: the kernel wakes it only when the bytes not yet copied reach the mark, while the call has
    /// already copied part of what it waits for.)
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(NetworkError) -> Int {
        guard buffer.count > 0 else { return 0 }
        let fd = try acquire()
        defer { release() }
        let wanted = min(buffer.count, Self.readBatch)
        if wanted != lowWater {
            var value = Int32(wanted)
            if setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &value, socklen_t(MemoryLayout<Int32>.size)) == 0 { lowWater = wanted }
        }
        lock.lock()
        let timeout = receiveTimeout
        lock.unlock()
        while true {
            var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let rc = poll(&entry, 1, SocketSupport.pollMilliseconds(timeout))
            if rc < 0 {
                if errno == EINTR { continue }
                throw failure(errno, reading: true)
            }
            if rc == 0 { throw failure(EAGAIN, reading: true) }
            let n = recv(fd, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT))
            if n >= 0 { return n }
            if errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK { continue }
            throw failure(errno, reading: true)
        }
    }

    /// Fills the whole buffer; an end of stream before it is full is a `closed` error.
    public func readExactly(into buffer: UnsafeMutableRawBufferPointer) throws(NetworkError) {
        var filled = 0
        while filled < buffer.count {
            let n = try read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]))
            if n == 0 {
                throw NetworkError("closed", filled == 0
                    ? "\(remote) closed the connection"
                    : "\(remote) closed the connection in the middle of a message (\(filled) of \(buffer.count) bytes)")
            }
            filled += n
        }
    }

    /// Writes every byte (blocking; a send timeout set with setTimeouts bounds each wait).
    public func write(_ bytes: UnsafeRawBufferPointer) throws(NetworkError) {
        try write(bytes, UnsafeRawBufferPointer(start: nil, count: 0))
    }

    /// Writes two buffers back to back with one sendmsg where possible (a frame header and its body).
    func write(_ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer) throws(NetworkError) {
        let fd = try acquire()
        defer { release() }
        var parts = [first, second].filter { $0.count > 0 }
        while !parts.isEmpty {
            var vectors = parts.map { iovec(iov_base: UnsafeMutableRawPointer(mutating: $0.baseAddress), iov_len: $0.count) }
            let n = vectors.withUnsafeMutableBufferPointer { vectorBuffer -> Int in
                var message = msghdr()
                message.msg_iov = vectorBuffer.baseAddress
                message.msg_iovlen = vectorBuffer.count
                return sendmsg(fd, &message, Int32(MSG_NOSIGNAL))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw failure(errno, reading: false)
            }
            var sent = n
            while sent > 0, let head = parts.first {
                if sent >= head.count {
                    sent -= head.count
                    parts.removeFirst()
                } else {
                    parts[0] = UnsafeRawBufferPointer(rebasing: head[sent...])
                    sent = 0
                }
            }
        }
    }

    /// Fills the buffer before `deadline` whatever the socket's timeouts (the handshake's bounded reads).
    func readExactly(into buffer: UnsafeMutableRawBufferPointer, deadline: ContinuousClock.Instant, what: String) throws(NetworkError) {
        let fd = try acquire()
        defer { release() }
        if lowWater != 1 {
            // poll(2) honours SO_RCVLOWAT too: back to byte by byte for these small bounded reads.
            var one: Int32 = 1
            if setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &one, socklen_t(MemoryLayout<Int32>.size)) == 0 { lowWater = 1 }
        }
        var filled = 0
        while filled < buffer.count {
            guard try SocketSupport.wait(fd: fd, events: Int16(POLLIN), until: deadline) else {
                throw NetworkError("timeout", "\(remote) did not complete the \(what) in time (\(filled) of \(buffer.count) bytes arrived before the handshake deadline)")
            }
            let n = recv(fd, buffer.baseAddress! + filled, buffer.count - filled, Int32(MSG_DONTWAIT))
            if n < 0 {
                if errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK { continue }
                throw failure(errno, reading: true)
            }
            if n == 0 {
                throw NetworkError("closed", filled == 0
                    ? "\(remote) closed the connection before sending the \(what)"
                    : "\(remote) closed the connection in the middle of the \(what) (\(filled) of \(buffer.count) bytes)")
            }
            filled += n
        }
    }

    /// Writes every byte before `deadline` whatever the socket's timeouts (the handshake's bounded writes).
    func write(_ bytes: UnsafeRawBufferPointer, deadline: ContinuousClock.Instant, what: String) throws(NetworkError) {
        let fd = try acquire()
        defer { release() }
        var sent = 0
        while sent < bytes.count {
            guard try SocketSupport.wait(fd: fd, events: Int16(POLLOUT), until: deadline) else {
                throw NetworkError("timeout", "\(remote) did not take the \(what) in time (handshake deadline)")
            }
            let n = send(fd, bytes.baseAddress! + sent, bytes.count - sent, Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
            if n < 0 {
                if errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK { continue }
                throw failure(errno, reading: false)
            }
            sent += n
        }
    }

    // MARK: options

    /// Sets SO_RCVTIMEO / SO_SNDTIMEO (nil: wait forever); a read or write that waits longer fails with `timeout`.
    public func setTimeouts(receive: Duration?, send: Duration?) {
        guard let fd = try? acquire() else { return }
        defer { release() }
        var r = SocketSupport.timeval(receive)
        var s = SocketSupport.timeval(send)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &r, socklen_t(MemoryLayout<timeval>.size))
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &s, socklen_t(MemoryLayout<timeval>.size))
        lock.lock()
        receiveTimeout = receive
        sendTimeout = send
        lock.unlock()
    }

    /// Sets SO_SNDBUF / SO_RCVBUF in bytes (the kernel doubles and caps them at net.core.[rw]mem_max); nil leaves one alone.
    public func setBuffers(send: Int?, receive: Int?) {
        guard let fd = try? acquire() else { return }
        defer { release() }
        if let send { SocketSupport.setOption(fd, SOL_SOCKET, SO_SNDBUF, Int32(clamping: send)) }
        if let receive { SocketSupport.setOption(fd, SOL_SOCKET, SO_RCVBUF, Int32(clamping: receive)) }
    }

    /// Turns Nagle's algorithm off (true) or on (false).
    public func setNoDelay(_ on: Bool) {
        guard let fd = try? acquire() else { return }
        defer { release() }
        SocketSupport.setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, on ? 1 : 0)
    }

    /// Sets the socket's TCP congestion control algorithm (TCP_CONGESTION, e.g. "cubic"); an algorithm outside
    /// net.ipv4.tcp_allowed_congestion_control needs CAP_NET_ADMIN. Returns nil when set, else why not (the
    /// socket keeps the kernel's default then).
    public func setCongestionControl(_ name: String) -> String? {
        guard let fd = try? acquire() else { return "the socket is closed" }
        defer { release() }
        let rc = name.withCString { setsockopt(fd, Int32(IPPROTO_TCP), TCP_CONGESTION, $0, socklen_t(strlen($0))) }
        return rc == 0 ? nil : NetworkError.errnoText(errno)
    }

    /// The socket's TCP congestion control algorithm (TCP_CONGESTION), "" when it cannot be read.
    public var congestionControl: String {
        guard let fd = try? acquire() else { return "" }
        defer { release() }
        var name = [CChar](repeating: 0, count: 32)
        var length = socklen_t(name.count)
        guard getsockopt(fd, Int32(IPPROTO_TCP), TCP_CONGESTION, &name, &length) == 0 else { return "" }
        return String(decoding: name.prefix(Int(length)).prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The kernel's send and receive buffer sizes in bytes (SO_SNDBUF, SO_RCVBUF).
    public var bufferSizes: (send: Int, receive: Int) {
        guard let fd = try? acquire() else { return (0, 0) }
        defer { release() }
        func get(_ name: Int32) -> Int {
            var value: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            return getsockopt(fd, SOL_SOCKET, name, &value, &length) == 0 ? Int(value) : 0
        }
        return (get(SO_SNDBUF), get(SO_RCVBUF))
    }

    // MARK: ending

    /// shutdown(SHUT_RDWR): the peer sees an end of stream, and a thread blocked in read or write here wakes up.
    public func shutdown() {
        lock.lock()
        defer { lock.unlock() }
        if !closed && fd >= 0 { _ = Glibc.shutdown(fd, Int32(SHUT_RDWR)) }
    }

    /// Closes the socket (idempotent); a thread blocked in read or write wakes up and the descriptor is released
    /// when it returns.
    public func close() {
        lock.lock()
        defer { lock.unlock() }
        if closed { return }
        closed = true
        guard fd >= 0 else { return }
        if inFlight > 0 {
            _ = Glibc.shutdown(fd, Int32(SHUT_RDWR))
        } else {
            Glibc.close(fd)
            fd = -1
        }
    }

    /// True once close() was called.
    public var isClosed: Bool {
        lock.lock()
        defer { lock.unlock() }
        return closed
    }
}
