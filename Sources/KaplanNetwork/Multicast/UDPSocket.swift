#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// An IPv4 UDP socket for the multicast transport: the golden's sender (multicast interface, TTL, no loopback,
/// don't-fragment) or a node's receiver (bound to the group and port, member of the group on one interface).
/// A unicast address in place of the group gives a plain unicast socket (loopback tests).
///
/// Batching (Linux UDP GSO/GRO): a sender that called `segment(size:)` queues datagrams of that size with `queue`
/// and the kernel splits each batch into datagrams (UDP_SEGMENT): one system call and one trip through the stack
/// per batch instead of per datagram. A receiver asks for coalesced delivery (UDP_GRO) and `receive` hands the
/// datagrams of a batch out one by one. On the wire nothing changes: the same datagrams, each with its own header
/// and tag. Kernels or devices without it fall back to one datagram per call.
final class UDPSocket: @unchecked Sendable {
    let fd: Int32
    private let lock = NSLock()
    private var closed = false

    /// Linux <linux/udp.h>: the UDP socket options for segmentation offload and receive coalescing.
    private static let solUDP: Int32 = 17, udpSegment: Int32 = 103, udpGRO: Int32 = 104
    /// Most datagrams per batch: 40 × 1472 bytes stays under the 64 KiB IP datagram and every kernel's segment
    /// limit (64 before Linux 6.1).
    static let batchLimit = 40

    /// Sender: the datagram size the kernel cuts batches into (0: no batching).
    private(set) var segmentSize = 0
    private var batch: [UInt8] = []
    private var batchCount = 0
    private var batchDestination = sockaddr_in()

    /// Receiver: the last coalesced read, handed out one datagram at a time.
    private var inbound: [UInt8] = []
    private var inboundLength = 0
    private var inboundOffset = 0
    private var inboundSegment = 0
    private var coalescing = false
    /// Receiver: reads that brought more than one datagram (how often coalescing saved system calls).
    private(set) var coalescedReads: UInt64 = 0

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
        // Coalesced delivery where the kernel has it (Linux ≥ 5.0); `receive` splits it again.
        if setsockopt(s.fd, solUDP, udpGRO, [Int32(1)], socklen_t(4)) == 0 {
            s.coalescing = true
            s.inbound = [UInt8](repeating: 0, count: 65536)
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

    /// Sender: batch datagrams of exactly `size` bytes from now on (UDP_SEGMENT); false when the kernel cannot.
    @discardableResult
    func segment(size: Int) -> Bool {
        guard size > 0, setsockopt(fd, Self.solUDP, Self.udpSegment, [Int32(size)], socklen_t(4)) == 0 else { return false }
        segmentSize = size
        batch.reserveCapacity(size * Self.batchLimit)
        return true
    }

    /// Queues one datagram for `destination`; the batch goes out when it is full, when a shorter datagram ends it,
    /// or at `flush()`. Without batching this is `send`. Returns false once the socket is closed.
    func queue(_ bytes: UnsafeRawBufferPointer, to destination: sockaddr_in) throws(NetworkError) -> Bool {
        guard segmentSize > 0, bytes.count <= segmentSize else {
            guard try flush() else { return false }
            return try send(bytes, to: destination)
        }
        if batchCount > 0 && (batchCount >= Self.batchLimit || !Self.same(batchDestination, destination)) {
            guard try flush() else { return false }
        }
        batch.append(contentsOf: bytes)
        batchCount += 1
        batchDestination = destination
        // Only the last datagram of a batch may be shorter than the segment size.
        if bytes.count < segmentSize || batchCount >= Self.batchLimit { return try flush() }
        return true
    }

    /// Sends what `queue` holds. Returns false once the socket is closed.
    func flush() throws(NetworkError) -> Bool {
        guard batchCount > 0 else { return true }
        defer { batch.removeAll(keepingCapacity: true); batchCount = 0 }
        do {
            return try sendBatch(0..<batch.count)
        } catch where error.code == "no-segmentation" {
            // The route's device cannot take segmented UDP (no checksum offload): one datagram per call from now on.
            let size = segmentSize
            segmentSize = 0
            var offset = 0
            while offset < batch.count {
                let end = min(batch.count, offset + size)
                guard try sendBatch(offset..<end) else { return false }
                offset = end
            }
            return true
        }
    }

    /// Sends `range` of the batch as one call.
    private func sendBatch(_ range: Range<Int>) throws(NetworkError) -> Bool {
        let destination = batchDestination
        let result: Result<Bool, NetworkError> = batch.withUnsafeBytes { b in
            do throws(NetworkError) {
                return .success(try send(UnsafeRawBufferPointer(rebasing: b[range]), to: destination))
            } catch { return .failure(error) }
        }
        return try result.get()
    }

    private static func same(_ a: sockaddr_in, _ b: sockaddr_in) -> Bool {
        a.sin_addr.s_addr == b.sin_addr.s_addr && a.sin_port == b.sin_port
    }

    /// Sends one datagram, waiting while the socket's buffer is full. Returns false once the socket is closed.
    func send(_ bytes: UnsafeRawBufferPointer, to destination: sockaddr_in) throws(NetworkError) -> Bool {
        var d = destination
        let batched = segmentSize > 0 && bytes.count > segmentSize
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
            case EIO where batched, EINVAL where batched:
                throw NetworkError("no-segmentation", "the interface cannot segment UDP batches", cause: NetworkError.errnoText(errno))
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

    /// Receives one datagram into `buffer` (at most `buffer.count` bytes of it); nil when nothing arrived within
    /// `timeout` or the socket was closed.
    func receive(into buffer: UnsafeMutableRawBufferPointer, timeout: Duration) throws(NetworkError) -> Int? {
        var gathered = false
        while true {
            if inboundOffset < inboundLength { return nextInbound(into: buffer) }
            let n = coalescing ? readCoalesced() : recv(fd, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT))
            if n > 0 && coalescing { continue }
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

    /// One `recvmsg` into `inbound`: its length, and the datagram size of a coalesced batch from the UDP_GRO
    /// control message (none: one datagram). -1 with errno set on failure.
    private func readCoalesced() -> Int {
        var control = [UInt64](repeating: 0, count: 8)
        var segment: Int32 = 0
        let n: Int = inbound.withUnsafeMutableBytes { data in
            control.withUnsafeMutableBytes { c in
                var io = iovec(iov_base: data.baseAddress, iov_len: data.count)
                var m = msghdr()
                m.msg_iovlen = 1
                m.msg_control = c.baseAddress
                m.msg_controllen = c.count
                let n = withUnsafeMutablePointer(to: &io) { iop -> Int in
                    m.msg_iov = iop
                    return recvmsg(fd, &m, Int32(MSG_DONTWAIT))
                }
                if n >= 0 { segment = Self.segmentSize(control: c, length: Int(m.msg_controllen)) }
                return n
            }
        }
        guard n >= 0 else { return -1 }
        inboundLength = n
        inboundSegment = segment > 0 && Int(segment) < n ? Int(segment) : n
        if inboundSegment < n { coalescedReads += 1 }
        inboundOffset = 0
        return n
    }

    /// The UDP_GRO segment size in a control buffer of `length` bytes (struct cmsghdr: 8-byte length, level,
    /// type, then the data, each message padded to 8 bytes); 0 when absent.
    private static func segmentSize(control: UnsafeMutableRawBufferPointer, length: Int) -> Int32 {
        var offset = 0
        while offset + 16 <= min(length, control.count) {
            let size = Int(control.load(fromByteOffset: offset, as: UInt64.self))
            guard size >= 16 else { return 0 }
            let level = control.load(fromByteOffset: offset + 8, as: Int32.self)
            let type = control.load(fromByteOffset: offset + 12, as: Int32.self)
            if level == solUDP && type == udpGRO && offset + 20 <= control.count {
                return control.load(fromByteOffset: offset + 16, as: Int32.self)
            }
            offset += (size + 7) & ~7
        }
        return 0
    }

    /// The next datagram of the last coalesced read, copied into `buffer` (cut to its size).
    private func nextInbound(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        let length = min(inboundSegment, inboundLength - inboundOffset)
        let copied = min(length, buffer.count)
        inbound.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress! + inboundOffset, byteCount: copied) }
        inboundOffset += length
        return copied
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
