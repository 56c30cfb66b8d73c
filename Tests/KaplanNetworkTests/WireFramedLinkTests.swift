import Foundation
import Testing

@testable import KaplanNetwork

/// Frames captured off the wire from a real sender, replayed by hand into a real receiver.
struct WireTap {
    let keys: (client: LinkKeys, server: LinkKeys)
    let maxChunk = 1024

    init() throws { keys = try WireHarness.handshakeKeys(key: WireHarness.key(), session: .random()) }

    /// Sends frames through a client link and returns each frame's raw bytes as they crossed the wire.
    func capture(_ send: (FramedLink) throws -> Void, count: Int) throws -> [[UInt8]] {
        let (a, b) = try WireHarness.socketPair()
        defer { a.close(); b.close() }
        try send(FramedLink(socket: a, keys: keys.client, isClient: true, maxChunk: maxChunk))
        var frames: [[UInt8]] = []
        for _ in 0..<count {
            let head = try RawClient.read(b, 5)
            let length = head.withUnsafeBytes { Int(Bytes.uint32($0, at: 1)) }
            frames.append(head + (try RawClient.read(b, length + (head[0] == FramedLink.controlType ? 32 : 0))))
        }
        return frames
    }

    /// Writes raw bytes into a fresh server link (then ends the stream) and returns what `count` receives give.
    func deliver(_ bytes: [UInt8], receives count: Int) throws -> [Result<Frame, NetworkError>] {
        let (a, b) = try WireHarness.socketPair()
        defer { a.close(); b.close() }
        WireHarness.writeRaw(a, bytes)
        a.shutdown()
        let receiver = FramedLink(socket: b, keys: keys.server, isClient: false, maxChunk: maxChunk)
        return (0..<count).map { _ in Result { () throws(NetworkError) -> Frame in try receiver.receive() } }
    }
}

@Suite("Wire framed links: authenticated control frames and chunk frames", .timeLimit(.minutes(1)))
struct WireFramedLinkTests {
    @Test func controlFramesRoundTripBothWays() throws {
        let (client, server) = try WireHarness.linkPair()
        defer { client.close(); server.close() }
        for size in [0, 1, 1000, 70_000, FramedLink.maxControlPayload] {
            let payload = Bytes.random(size)
            let sender = WireThread("sender") { () -> Result<Void, NetworkError> in
                Result { () throws(NetworkError) in
                    try client.send(control: payload)
                    try server.send(control: payload.reversed())
                }
            }
            guard case .control(let atServer) = try server.receive(), case .control(let atClient) = try client.receive() else {
                Issue.record("expected control frames")
                return
            }
            #expect(WireHarness.code(sender.join()) == "ok")
            #expect(atServer == payload)
            #expect(atClient == payload.reversed())
        }
        #expect {
            try client.send(control: [UInt8](repeating: 0, count: FramedLink.maxControlPayload + 1))
        } throws: { ($0 as? NetworkError)?.code == "frame-too-large" }
    }

    @Test func tamperReplayReorderAndLossAreDetected() throws {
        let tap = try WireTap()
        let frames = try tap.capture({ link in
            for text in ["zero", "one", "two"] { try link.send(control: Array(text.utf8)) }
        }, count: 3)
        func codes(_ order: [Int]) throws -> [String] {
            try tap.deliver(order.flatMap { frames[$0] }, receives: order.count).map(WireHarness.code)
        }
        #expect(try codes([0, 1, 2]) == ["ok", "ok", "ok"])
        #expect(try codes([0, 0]) == ["ok", "frame-forged"], "replay")
        #expect(try codes([1, 0]) == ["frame-forged", "frame-forged"], "reorder (and the link stays dead)")
        #expect(try codes([0, 2]) == ["ok", "frame-forged"], "drop")
        #expect(try codes([0, 2, 1]) == ["ok", "frame-forged", "frame-forged"], "drop then resend")
        #expect(try codes([2]) == ["frame-forged"])

        // Every single bit of a frame altered: never accepted.
        let original = frames[1]
        for bit in 0..<(original.count * 8) {
            var altered = original
            altered[bit / 8] ^= UInt8(1 << (bit % 8))
            let results = try tap.deliver(frames[0] + altered, receives: 2)
            #expect(WireHarness.code(results[0]) == "ok")
            let code = WireHarness.code(results[1])
            #expect(code != "ok", "bit \(bit) flipped was accepted")
            #expect(["frame-forged", "bad-frame", "frame-too-large", "closed"].contains(code), "bit \(bit): \(code)")
        }
    }

    @Test func chunkFramesCountTowardTheControlSequence() throws {
        let tap = try WireTap()
        let sealer = ChunkSealer(key: WireHarness.key(), session: tap.keys.client.session, stream: 1)
        let frames = try tap.capture({ link in
            try link.send(control: [1])
            try link.send(chunk: sealer.seal(sequence: 0, segment: 0, flags: [], plaintext: [9, 9, 9]))
            try link.send(control: [2])
        }, count: 3)
        #expect(try tap.deliver(frames.flatMap { $0 }, receives: 3).map(WireHarness.code) == ["ok", "ok", "ok"])
        // A chunk frame dropped (or injected) in transit shows up at the next control frame.
        #expect(try tap.deliver(frames[0] + frames[2], receives: 2).map(WireHarness.code) == ["ok", "frame-forged"])
        #expect(try tap.deliver(frames[0] + frames[1] + frames[1] + frames[2], receives: 4).map(WireHarness.code) == ["ok", "ok", "ok", "frame-forged"])
    }

    @Test func oversizedLengthsAreRefusedBeforeReading() throws {
        let tap = try WireTap()
        let cases: [(String, [UInt8], String)] = [
            ("control 4 GiB", [FramedLink.controlType, 0xFF, 0xFF, 0xFF, 0xFF], "frame-too-large"),
            ("control 1 MiB + 1", [FramedLink.controlType, 0x00, 0x10, 0x00, 0x01], "frame-too-large"),
            ("chunk over maxChunk", [FramedLink.chunkType] + be32(tap.maxChunk + ChunkSealer.overhead + 1), "frame-too-large"),
            ("chunk under the minimum", [FramedLink.chunkType] + be32(ChunkSealer.overhead - 1), "bad-frame"),
            ("unknown type", [7, 0, 0, 0, 1], "bad-frame"),
        ]
        for (what, header, code) in cases {
            // The stream stays open: a receiver that tried to read the announced body would wait for the timeout.
            let (a, b) = try WireHarness.socketPair()
            defer { a.close(); b.close() }
            WireHarness.writeRaw(a, header)
            b.setTimeouts(receive: .seconds(5), send: nil)
            let receiver = FramedLink(socket: b, keys: tap.keys.server, isClient: false, maxChunk: tap.maxChunk)
            let started = ContinuousClock.now
            let result = Result { () throws(NetworkError) -> Frame in try receiver.receive() }
            #expect(WireHarness.code(result) == code, "\(what)")
            #expect(ContinuousClock.now - started < .seconds(1), "\(what) waited for a body")
        }
    }

    @Test func chunkFramesCarrySealedChunks() throws {
        let key = WireHarness.key()
        let session = SessionID.random()
        let (client, server) = try WireHarness.linkPair(key: key, session: session, maxChunk: 1 << 20)
        defer { client.close(); server.close() }
        let sealer = ChunkSealer(key: key, session: session, stream: 3)
        let sizes = [0, 1, 4095, 65_536, 1 << 20]
        let sender = WireThread("sender") { () -> Result<Void, NetworkError> in
            Result { () throws(NetworkError) in
                for (index, size) in sizes.enumerated() {
                    var plaintext = [UInt8](repeating: 0, count: size)
                    for i in plaintext.indices { plaintext[i] = UInt8(truncatingIfNeeded: i &* 31 &+ index) }
                    try client.send(chunk: sealer.seal(sequence: UInt64(index), segment: 1, flags: index == sizes.count - 1 ? .endOfStream : [], plaintext: plaintext))
                }
            }
        }
        for (index, size) in sizes.enumerated() {
            guard case .chunk(let sealed) = try server.receive() else {
                Issue.record("expected a chunk frame")
                return
            }
            let opened = try sealer.open(sealed)
            #expect(opened.header.sequence == UInt64(index))
            #expect(opened.plaintext.count == size)
            #expect(opened.plaintext.enumerated().allSatisfy { $0.element == UInt8(truncatingIfNeeded: $0.offset &* 31 &+ index) })
        }
        #expect(WireHarness.code(sender.join()) == "ok")
        // The sender refuses a chunk bigger than the link's limit.
        let small = try WireHarness.linkPair(maxChunk: 16)
        defer { small.client.close(); small.server.close() }
        #expect {
            try small.client.send(chunk: sealer.seal(sequence: 9, segment: 0, flags: [], plaintext: [UInt8](repeating: 1, count: 17)))
        } throws: { ($0 as? NetworkError)?.code == "frame-too-large" }
    }

    @Test func receiveTimeoutBetweenFramesIsRecoverable() throws {
        let (client, server) = try WireHarness.linkPair()
        defer { client.close(); server.close() }
        server.socket.setTimeouts(receive: .milliseconds(100), send: nil)
        #expect(WireHarness.code(Result { () throws(NetworkError) -> Frame in try server.receive() }) == "timeout")
        try client.send(control: [42])
        server.socket.setTimeouts(receive: .seconds(5), send: nil)
        guard case .control(let payload) = try server.receive() else {
            Issue.record("expected a control frame")
            return
        }
        #expect(payload == [42])
        client.close()
        #expect(WireHarness.code(Result { () throws(NetworkError) -> Frame in try server.receive() }) == "closed")
    }

    @Test func closeWakesABlockedReceiver() throws {
        let (client, server) = try WireHarness.linkPair()
        defer { client.close() }
        server.socket.setTimeouts(receive: nil, send: nil)
        let receiver = WireThread("receiver") { () -> Result<Frame, NetworkError> in
            Result { () throws(NetworkError) -> Frame in try server.receive() }
        }
        Thread.sleep(forTimeInterval: 0.2)
        server.close()
        #expect(WireHarness.code(receiver.join(timeout: .seconds(5))) == "closed")
    }

    @Test func concurrentSendAndReceiveOnBothEnds() throws {
        let key = WireHarness.key()
        let session = SessionID.random()
        let (client, server) = try WireHarness.linkPair(key: key, session: session, maxChunk: 4096)
        defer { client.close(); server.close() }
        let sealer = ChunkSealer(key: key, session: session, stream: 1)
        let perSender = 300
        // Two client threads send at once (the link serializes them); one server thread sends back meanwhile.
        func clientSender(_ tag: UInt8) -> WireThread<Result<Void, NetworkError>> {
            WireThread("client-sender-\(tag)") {
                Result { () throws(NetworkError) in
                    for i in 0..<perSender {
                        if i % 3 == 0 {
                            try client.send(chunk: sealer.seal(sequence: UInt64(tag) << 32 | UInt64(i), segment: UInt32(tag), flags: [], plaintext: [UInt8](repeating: tag, count: 1000 + i)))
                        } else {
                            try client.send(control: [tag] + withUnsafeBytes(of: UInt32(i).bigEndian, Array.init) + [UInt8](repeating: tag, count: i))
                        }
                    }
                }
            }
        }
        let senders = [clientSender(1), clientSender(2)]
        let serverSender = WireThread("server-sender") { () -> Result<Void, NetworkError> in
            Result { () throws(NetworkError) in
                for i in 0..<perSender { try server.send(control: withUnsafeBytes(of: UInt32(i).bigEndian, Array.init)) }
            }
        }
        let clientReceiver = WireThread("client-receiver") { () -> Result<Int, NetworkError> in
            Result { () throws(NetworkError) -> Int in
                for i in 0..<perSender {
                    guard case .control(let payload) = try client.receive(), payload == withUnsafeBytes(of: UInt32(i).bigEndian, Array.init) else {
                        throw NetworkError("bad-frame", "server frame \(i) out of order")
                    }
                }
                return perSender
            }
        }
        var next: [UInt8: Int] = [1: 0, 2: 0]
        for _ in 0..<(2 * perSender) {
            let frame = try server.receive()
            let tag: UInt8
            let index: Int
            switch frame {
            case .control(let payload):
                tag = payload[0]
                index = payload.withUnsafeBytes { Int(Bytes.uint32($0, at: 1)) }
                #expect(payload.count == 5 + index)
            case .chunk(let sealed):
                let opened = try sealer.open(sealed)
                tag = UInt8(opened.header.segment)
                index = Int(opened.header.sequence & 0xFFFF_FFFF)
                #expect(opened.plaintext == [UInt8](repeating: tag, count: 1000 + index))
            }
            #expect(next[tag] == index, "sender \(tag): frame \(index) arrived, expected \(String(describing: next[tag]))")
            next[tag] = index + 1
        }
        for sender in senders { #expect(WireHarness.code(sender.join()) == "ok") }
        #expect(WireHarness.code(serverSender.join()) == "ok")
        #expect(WireHarness.code(clientReceiver.join()) == "ok")
    }
}

/// 4 big-endian bytes.
private func be32(_ value: Int) -> [UInt8] {
    var out: [UInt8] = []
    Bytes.append(UInt32(value), to: &out)
    return out
}
