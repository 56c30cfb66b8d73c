#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// An IPv4 UDP socket for the multicast transport: the golden's sender (multicast interface, TTL, no loopback,
/// don't-fragment) or a node's receiver (bound to the group and port, member of the group on one interface).
/// A unicast address in place of the group gives a plain unicast socket (loopback tests).
final class UDPSocket: @unchecked Sendable {
    let fd: Int32
    private let lock = NSLock()
    private var closed = false

    private init(fd: Int32) { self.fd = fd }

    deinit { close() }

    /// The IPv4 address, or nil when `text` is not a dotted quad.
    static func address(_ text: String, port: Int) -> sockaddr_in? {
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = in_port_t(UInt16(clamping: port)).bigEndian
        guard inet_pton(AF_INET, text, &a.sin_addr) == 1 else { return nil }
        return a
    }

    /// True for 224.0.0.0/4.
    static func isMulticast(_ a: sockaddr_in) -> Bool { (UInt32(bigEndian: a.sin_addr.s_addr) >> 28) == 0xE }

    /// The interface's index, or a clear error when there is no such interface.
    static func interfaceIndex(_ name: String?) throws(NetworkError) -> Int32 {
        guard let name else { return 0 }
        let index = if_nametoindex(name)
        guard index != 0 else {
            throw NetworkError("no-interface", "the multicast interface '\(name)' does not exist on this node (transport.interface; 'ip link' lists the interfaces)")
        }
        return Int32(index)
    }

    /// The interface's MTU from sysfs (1500 when unknown).
    static func mtu(_ name: String?) -> Int {
        guard let name, let text = try? String(contentsOfFile: "/sys/class/net/\(name)/mtu", encoding: .utf8),
            let value = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)), value >= 576
        else { return 1500 }
        return value
    }

    private static func make() throws(NetworkError) -> UDPSocket {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | SocketSupport.closeOnExec, 0)
        guard fd >= 0 else { throw NetworkError("io", "cannot create a UDP socket", cause: NetworkError.errnoText(errno)) }
        return UDPSocket(fd: fd)
    }

    /// The golden's sending socket.
    static func sender(interface: String?, ttl: Int, sendBuffer: Int) throws(NetworkError) -> UDPSocket {
        let s = try make()
        let index = try interfaceIndex(interface)
        if index != 0 {
            var request = ip_mreqn()
            request.imr_ifindex = index
            guard setsockopt(s.fd, Int32(IPPROTO_IP), IP_MULTICAST_IF, &request, socklen_t(MemoryLayout<ip_mreqn>.size)) == 0 else {
                throw NetworkError("io", "cannot send multicast on \(interface ?? "")", cause: NetworkError.errnoText(errno))
            }
        }
        SocketSupport.setOption(s.fd, Int32(IPPROTO_IP), IP_MULTICAST_TTL, Int32(max(0, min(255, ttl))))
        SocketSupport.setOption(s.fd, Int32(IPPROTO_IP), IP_MULTICAST_LOOP, 0)
        SocketSupport.setOption(s.fd, Int32(IPPROTO_IP), IP_MTU_DISCOVER, IP_PMTUDISC_DO)
        SocketSupport.setOption(s.fd, SOL_SOCKET, SO_SNDBUF, Int32(clamping: sendBuffer))
        return s
    }

    /// A node's receiving socket: bound to `group:port`, a member of the group on `interface` (or the route's).
    static func receiver(group: String, port: Int, interface: String?, receiveBuffer: Int) throws(NetworkError) -> UDPSocket {
        guard var bind_ = address(group, port: port) else {
            throw NetworkError("bad-group", "the multicast group '\(group)' is not an IPv4 address")
        }
        let s = try make()
        SocketSupport.setOption(s.fd, SOL_SOCKET, SO_REUSEADDR, 1)
        // A bigger buffer than rmem_max needs SO_RCVBUFFORCE (root); fall back to what the kernel allows.
        if setsockopt(s.fd, SOL_SOCKET, SO_RCVBUFFORCE, [Int32(clamping: receiveBuffer)], socklen_t(4)) != 0 {
            SocketSupport.setOption(s.fd, SOL_SOCKET, SO_RCVBUF, Int32(clamping: receiveBuffer))
        }
        let rc = withUnsafePointer(to: &bind_) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(s.fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            throw NetworkError("listen-failed", "cannot receive on \(group):\(port)", cause: NetworkError.errnoText(errno))
        }
        if isMulticast(bind_) {
            var request = ip_mreqn()
            request.imr_multiaddr = bind_.sin_addr
            request.imr_ifindex = try interfaceIndex(interface)
            guard setsockopt(s.fd, Int32(IPPROTO_IP), IP_ADD_MEMBERSHIP, &request, socklen_t(MemoryLayout<ip_mreqn>.size)) == 0 else {
                throw NetworkError(
                    "io", "cannot join the multicast group \(group)\(interface.map { " on \($0)" } ?? "") (is there a multicast route? 'ip route add 224.0.0.0/4 dev IFACE')",
                    cause: NetworkError.errnoText(errno))
            }
        }
        return s
    }

    /// Sends one datagram, waiting while the socket's buffer is full. Returns false once the socket is closed.
    func send(_ bytes: UnsafeRawBufferPointer, to destination: sockaddr_in) throws(NetworkError) -> Bool {
        var d = destination
        while true {
            let n = withUnsafePointer(to: &d) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL), $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            if n >= 0 { return true }
            switch errno {
            case EINTR: continue
            case ENOBUFS, EAGAIN:
                // The interface queue is full: the link is the limit; wait a moment.
                usleep(200)
                continue
            case EBADF: return false
            case EMSGSIZE:
                throw NetworkError("io", "a \(bytes.count)-byte datagram is larger than the path MTU; set transport.interface to the interface the nodes are on")
            default:
                throw NetworkError("io", "sending a multicast datagram failed", cause: NetworkError.errnoText(errno))
            }
        }
    }

    /// After the socket ran dry, wait this long before looking again (microseconds): datagrams gather in the
    /// receive buffer meanwhile and are read back to back, instead of one wake-up per datagram (at 100 Mbit a
    /// datagram arrives every 0.12 ms; the buffer holds tens of milliseconds even at 1 Gbit).
    static let gatherMicroseconds: UInt32 = 1000

    /// Receives one datagram into `buffer`; nil when nothing arrived within `timeout` or the socket was closed.
    func receive(into buffer: UnsafeMutableRawBufferPointer, timeout: Duration) throws(NetworkError) -> Int? {
        var gathered = false
        while true {
            let n = recv(fd, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT))
            if n >= 0 { return n }
            switch errno {
            case EINTR: continue
            case EAGAIN:
                if !gathered {
                    gathered = true
                    usleep(Self.gatherMicroseconds)
                    continue
                }
                var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let rc = poll(&entry, 1, SocketSupport.pollMilliseconds(timeout))
                if rc == 0 { return nil }
                if rc < 0 && errno != EINTR { throw NetworkError("io", "poll on the multicast socket failed", cause: NetworkError.errnoText(errno)) }
                if entry.revents & Int16(POLLNVAL) != 0 { return nil }
            case EBADF: return nil
            default:
                throw NetworkError("io", "receiving a multicast datagram failed", cause: NetworkError.errnoText(errno))
            }
        }
    }

    /// Datagrams the kernel dropped because this socket's receive buffer was full (the `drops` column of
    /// /proc/net/udp for this socket's inode), or nil when unknown. A receiver that cannot keep up shows here, not
    /// as link loss: the golden slows down for it.
    func drops() -> UInt64? {
        var st = stat()
        guard fstat(fd, &st) == 0, let h = FileHandle(forReadingAtPath: "/proc/net/udp") else { return nil }
        defer { try? h.close() }
        let text = String(decoding: h.readDataToEndOfFile(), as: UTF8.self)
        let inode = String(st.st_ino)
        for line in text.split(separator: "\n").dropFirst() {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            if f.count >= 13, f[9] == inode { return UInt64(f[12]) }
        }
        return nil
    }

    /// Closes the socket (call it after the threads using it have stopped).
    func close() {
        lock.lock()
        defer { lock.unlock() }
        guard !closed else { return }
        closed = true
        Glibc.close(fd)
    }
}
