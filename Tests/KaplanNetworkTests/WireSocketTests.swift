import Foundation
import Testing

@testable import KaplanNetwork

@Suite("Wire sockets: TCPSocket and TCPListener on loopback", .timeLimit(.minutes(1)))
struct WireSocketTests {
    @Test func bytesGoBothWaysAndEndpointsAgree() throws {
        let (client, server) = try WireHarness.socketPair()
        defer { client.close(); server.close() }
        #expect(client.remote == server.local)
        #expect(client.local == server.remote)
        #expect(client.remote.host == "127.0.0.1")
        let message = Array("hello over loopback".utf8)
        #expect(WireHarness.writeRaw(client, message) == nil)
        var got = [UInt8](repeating: 0, count: message.count)
        try got.typedMutableBytes { (b) throws(NetworkError) in try server.readExactly(into: b) }
        #expect(got == message)
        client.setNoDelay(true)
        client.setBuffers(send: 1 << 20, receive: 1 << 20)
        #expect(client.bufferSizes.send >= 1 << 20)
    }

    @Test func congestionControlIsSetAndReadBack() throws {
        let (client, server) = try WireHarness.socketPair()
        defer { client.close(); server.close() }
        let kernelDefault = client.congestionControl
        #expect(!kernelDefault.isEmpty)
        // reno is built into every kernel and always allowed, even without CAP_NET_ADMIN.
        #expect(server.setCongestionControl("reno") == nil)
        #expect(server.congestionControl == "reno")
        // A name the kernel does not have: the reason comes back and the socket keeps what it had.
        let why = try #require(server.setCongestionControl("no_such_cc"))
        #expect(why.contains("No such file"), "\(why)")
        #expect(server.congestionControl == "reno")
        // kaplan's default for the chain's data links, where this kernel has it (root may pick any it has).
        let available = (try? String(contentsOfFile: "/proc/sys/net/ipv4/tcp_available_congestion_control", encoding: .utf8)) ?? ""
        if available.split(separator: " ").contains(where: { $0.trimmingCharacters(in: .whitespacesAndNewlines) == "cubic" }) && getuid() == 0 {
            #expect(server.setCongestionControl("cubic") == nil)
            #expect(server.congestionControl == "cubic")
        }
        // The socket still carries bytes after the change.
        #expect(WireHarness.writeRaw(server, [1, 2, 3]) == nil)
        var got = [UInt8](repeating: 0, count: 3)
        try got.typedMutableBytes { (b) throws(NetworkError) in try client.readExactly(into: b) }
        #expect(got == [1, 2, 3])
        server.close()
        #expect(server.setCongestionControl("reno") == "the socket is closed")
    }

    @Test func ipv6Loopback() throws {
        let listener: TCPListener
        do {
            listener = try TCPListener(on: Endpoint(host: "::1", port: 0))
        } catch {
            print("SKIP IPv6 loopback: \(error)")
            return
        }
        defer { listener.close() }
        let client = try TCPSocket.connect(to: listener.local, timeout: .seconds(5))
        defer { client.close() }
        let server = try #require(try listener.accept(timeout: .seconds(5)))
        defer { server.close() }
        #expect(client.remote.host == "::1")
        #expect(server.remote.description.hasPrefix("[::1]:"))
    }

    @Test func hostNamesResolve() throws {
        let listener = try WireHarness.listener()
        defer { listener.close() }
        let client = try TCPSocket.connect(to: Endpoint(host: "localhost", port: listener.local.port), timeout: .seconds(5))
        defer { client.close() }
        let server = try listener.accept(timeout: .seconds(5))
        defer { server?.close() }
        #expect(server != nil)
    }

    @Test func connectRefusedIsConnectFailed() throws {
        // Bind a port, then close it: nothing listens there any more.
        let listener = try WireHarness.listener()
        let endpoint = listener.local
        listener.close()
        let started = ContinuousClock.now
        #expect {
            try TCPSocket.connect(to: endpoint, timeout: .seconds(5))
        } throws: { error in
            guard let error = error as? NetworkError else { return false }
            return error.code == "connect-failed" && error.message.contains(endpoint.description) && error.message.contains("is kaplan serving")
        }
        #expect(ContinuousClock.now - started < .seconds(2))
        // (Unresolvable names are not tried here: that would send a DNS query off this machine.)
    }

    @Test func receiveTimeoutIsTimeout() throws {
        let (client, server) = try WireHarness.socketPair()
        defer { client.close(); server.close() }
        server.setTimeouts(receive: .milliseconds(200), send: nil)
        let started = ContinuousClock.now
        var buffer = [UInt8](repeating: 0, count: 8)
        #expect {
            try buffer.typedMutableBytes { (b) throws(NetworkError) in try server.readExactly(into: b) }
        } throws: { ($0 as? NetworkError)?.code == "timeout" }
        let elapsed = ContinuousClock.now - started
        #expect(elapsed >= .milliseconds(150) && elapsed < .seconds(3))
    }

    @Test func sendTimeoutWhenPeerDoesNotRead() throws {
        let (client, server) = try WireHarness.socketPair()
        defer { client.close(); server.close() }
        client.setBuffers(send: 64 * 1024, receive: nil)
        server.setBuffers(send: nil, receive: 64 * 1024)
        client.setTimeouts(receive: nil, send: .milliseconds(300))
        let block = [UInt8](repeating: 0x5A, count: 1 << 20)
        var failure: NetworkError?
        for _ in 0..<64 where failure == nil {  // at most 64 MiB: far more than both buffers hold
            failure = WireHarness.writeRaw(client, block)
        }
        #expect(failure?.code == "timeout")
    }

    @Test func endOfStreamMidwayIsClosed() throws {
        let (client, server) = try WireHarness.socketPair()
        defer { client.close(); server.close() }
        WireHarness.writeRaw(client, [1, 2, 3])
        client.close()
        var buffer = [UInt8](repeating: 0, count: 8)
        #expect {
            try buffer.typedMutableBytes { (b) throws(NetworkError) in try server.readExactly(into: b) }
        } throws: { error in
            guard let error = error as? NetworkError else { return false }
            return error.code == "closed" && error.message.contains("3 of 8")
        }
        var one = [UInt8](repeating: 0, count: 1)
        #expect(try one.typedMutableBytes { (b) throws(NetworkError) in try server.read(into: b) } == 0)
    }

    @Test func acceptTimesOutWithNil() throws {
        let listener = try WireHarness.listener()
        defer { listener.close() }
        let started = ContinuousClock.now
        #expect(try listener.accept(timeout: .milliseconds(150)) == nil)
        #expect(ContinuousClock.now - started >= .milliseconds(100))
    }

    @Test func closeWakesBlockedAccept() throws {
        let listener = try WireHarness.listener()
        let waiter = WireThread("accept") { () -> Result<Bool, NetworkError> in
            Result { () throws(NetworkError) -> Bool in try listener.accept(timeout: nil) != nil }
        }
        Thread.sleep(forTimeInterval: 0.2)
        listener.close()
        listener.close()  // idempotent
        #expect(WireHarness.code(waiter.join(timeout: .seconds(5))) == "closed")
        #expect(throws: NetworkError.self) { try listener.accept(timeout: .zero) }
    }

    @Test func shutdownAndCloseWakeBlockedRead() throws {
        for useClose in [false, true] {
            let (client, server) = try WireHarness.socketPair()
            server.setTimeouts(receive: nil, send: nil)
            let reader = WireThread("read") { () -> Result<Int, NetworkError> in
                var buffer = [UInt8](repeating: 0, count: 16)
                return Result { () throws(NetworkError) -> Int in
                    try buffer.typedMutableBytes { (b) throws(NetworkError) in try server.read(into: b) }
                }
            }
            Thread.sleep(forTimeInterval: 0.2)
            let started = ContinuousClock.now
            if useClose { server.close() } else { server.shutdown() }
            let result = reader.join(timeout: .seconds(5))
            #expect(ContinuousClock.now - started < .seconds(2))
            if case .success(let n)? = result { #expect(n == 0) }
            // The peer sees the end of the stream too.
            var one = [UInt8](repeating: 0, count: 1)
            #expect(try one.typedMutableBytes { (b) throws(NetworkError) in try client.read(into: b) } == 0)
            client.close()
            server.close()
            server.close()
            #expect(server.isClosed)
            #expect(throws: NetworkError.self) { try one.typedMutableBytes { (b) throws(NetworkError) in try server.read(into: b) } }
        }
    }

    @Test func listenerRefusesBusyPort() throws {
        let first = try WireHarness.listener()
        defer { first.close() }
        // SO_REUSEADDR does not let two listeners share a port that is still listening.
        #expect {
            try TCPListener(on: first.local)
        } throws: { error in
            guard let error = error as? NetworkError else { return false }
            return error.code == "listen-failed" && error.message.contains("already in use")
        }
    }
}
