import Foundation
import Testing

@testable import KaplanNetwork

/// The multicast transport's pieces without root: the datagram format, the receiver's reassembly window, and a
/// whole sender → receiver stream over loopback UDP (unicast to 127.0.0.1; the lab tests multicast for real).
@Suite struct MulticastWireTests {
    static let key = try! SessionKey(bytes: Array(repeating: 7, count: 32))
    static let session = SessionID(bytes: Array(0..<16))!

    @Test func datagramRoundTripAndEveryAlterationIsRejected() throws {
        let codec = DatagramCodec(key: Self.key, session: Self.session, stream: 42)
        let payload = (0..<1000).map { UInt8($0 & 0xFF) }
        let d = codec.build(chunk: 9, fragment: 3, count: 12, payload: payload)
        #expect(d.count == payload.count + DatagramCodec.overhead)
        let header = try d.withUnsafeBytes { try codec.open($0).get() }
        #expect(header.chunk == 9 && header.fragment == 3 && header.count == 12)
        #expect(Array(d[DatagramHeader.size..<(d.count - DatagramCodec.tagSize)]) == payload)
        // Any single bit flipped after the magic and type: foreign (session/stream tags) or forged (the rest).
        for byte in stride(from: 2, to: d.count, by: 37) {
            var bad = d
            bad[byte] ^= 0x40
            let r = bad.withUnsafeBytes { codec.open($0) }
            let expected: DatagramCodec.Rejection = byte < 8 ? .foreign : .forged
            #expect(r == .failure(expected), "byte \(byte)")
        }
        // Another session's or stream's datagram; another key; truncated; wrong magic.
        let otherSession = DatagramCodec(key: Self.key, session: SessionID(bytes: Array(repeating: 1, count: 16))!, stream: 42)
        #expect(otherSession.build(chunk: 9, fragment: 3, count: 12, payload: payload).withUnsafeBytes { codec.open($0) } == .failure(.foreign))
        let otherStream = DatagramCodec(key: Self.key, session: Self.session, stream: 43)
        #expect(otherStream.build(chunk: 9, fragment: 3, count: 12, payload: payload).withUnsafeBytes { codec.open($0) } == .failure(.foreign))
        let otherKey = DatagramCodec(key: try SessionKey(bytes: Array(repeating: 8, count: 32)), session: Self.session, stream: 42)
        #expect(otherKey.build(chunk: 9, fragment: 3, count: 12, payload: payload).withUnsafeBytes { codec.open($0) } == .failure(.forged))
        #expect(Array(d.prefix(20)).withUnsafeBytes { codec.open($0) } == .failure(.malformed))
        var magic = d
        magic[0] = 0x00
        #expect(magic.withUnsafeBytes { codec.open($0) } == .failure(.malformed))
        #expect(DatagramCodec.payloadSize(mtu: 1500) == 1444)
    }

    /// Places `chunk`'s fragment `index` of `count` with `size`-byte fragments (the last one `last` bytes).
    static func place(_ a: inout FragmentAssembler, chunk: UInt32, index: Int, count: Int, size: Int, last: Int) -> FragmentAssembler.Placement {
        let n = index == count - 1 ? last : size
        let bytes = (0..<n).map { UInt8(truncatingIfNeeded: Int(chunk) * 31 + index * 7 + $0) }
        return bytes.withUnsafeBytes {
            a.place(DatagramHeader(sessionTag: 0, streamTag: 0, chunk: chunk, fragment: UInt16(index), count: UInt16(count)), payload: $0)
        }
    }

    @Test func assemblerReordersRepairsAndBoundsItsWindow() {
        var a = FragmentAssembler(window: 2, fragmentSize: 10)
        // Chunk 0: 3 fragments (10, 10, 4 bytes), arriving 2, 0 — fragment 1 lost.
        #expect(Self.place(&a, chunk: 0, index: 2, count: 3, size: 10, last: 4) == .stored)
        #expect(Self.place(&a, chunk: 0, index: 0, count: 3, size: 10, last: 4) == .stored)
        #expect(Self.place(&a, chunk: 0, index: 0, count: 3, size: 10, last: 4) == .duplicate)
        #expect(a.takeNext() == nil)
        // Chunk 1 fragment 1 seen: chunk 0 fragment 1 and chunk 1 fragment 0 are losses; the rest may be in flight.
        #expect(Self.place(&a, chunk: 1, index: 1, count: 3, size: 10, last: 4) == .stored)
        #expect(a.missing(limit: 10, quiet: false) == [.init(chunk: 0, first: 1, end: 2), .init(chunk: 1, first: 0, end: 1)])
        // Beyond the window (2 chunks): dropped; inconsistent fragments refused.
        #expect(Self.place(&a, chunk: 2, index: 0, count: 3, size: 10, last: 4) == .ahead)
        #expect(Self.place(&a, chunk: 1, index: 0, count: 4, size: 10, last: 4) == .inconsistent)
        #expect(Self.place(&a, chunk: 1, index: 0, count: 3, size: 10, last: 10) == .stored)
        #expect(Self.place(&a, chunk: 0, index: 1, count: 3, size: 10, last: 4) == .stored)
        let first = a.takeNext()
        #expect(first?.count == 24)
        #expect(first.map { Array($0[10..<20]) } == (0..<10).map { UInt8(truncatingIfNeeded: 0 * 31 + 1 * 7 + $0) })
        #expect(Self.place(&a, chunk: 0, index: 1, count: 3, size: 10, last: 4) == .old)
        // The dropped chunk 2 is inside the window now; chunk 1's last fragment is a loss (chunk 2 was seen).
        #expect(a.missing(limit: 10, quiet: false) == [.init(chunk: 1, first: 2, end: 3), .init(chunk: 2, first: 0, end: FragmentAssembler.wholeChunk)])
        #expect(Self.place(&a, chunk: 1, index: 2, count: 3, size: 10, last: 4) == .stored)
        #expect(Self.place(&a, chunk: 2, index: 0, count: 3, size: 10, last: 4) == .stored)
        #expect(a.takeNext()?.count == 24)
        // The tail: once the total is known and nothing arrives for a while, everything up to the end is asked for.
        a.total = 3
        #expect(a.missing(limit: 10, quiet: false) == [])
        #expect(a.missing(limit: 10, quiet: true) == [.init(chunk: 2, first: 1, end: 3)])
        #expect(Self.place(&a, chunk: 3, index: 0, count: 1, size: 10, last: 1) == .inconsistent)
    }

    /// The whole data path over loopback: the producer's sealed chunks in a spool, the sender, a receiver that
    /// drops every 50th datagram it is given the first time (loss) and reports to the sender directly; every chunk
    /// arrives intact and in order, and the sender repaired exactly what was dropped.
    @Test func loopbackStreamWithLossIsRepairedExactly() throws {
        let stream: UInt64 = 77
        let sealer = ChunkSealer(key: Self.key, session: Self.session, stream: stream)
        let spool = try ChunkSpool(directory: NSTemporaryDirectory(), session: SessionID.random())
        defer { spool.close() }
        var plaintexts: [[UInt8]] = []
        for i in 0..<12 {
            let p = (0..<(100_000 + i * 1000)).map { _ in UInt8.random(in: 0...255) }
            plaintexts.append(p)
            try spool.append(sealer.seal(sequence: UInt64(i), segment: 0, flags: i == 11 ? [.endOfSegment, .endOfStream] : [], plaintext: p), last: i == 11)
        }
        let receiveSocket = try UDPSocket.receiver(group: "127.0.0.1", port: 0, interface: nil, receiveBuffer: 8 << 20)
        let port = SocketSupport.endpoint(of: receiveSocket.fd, peer: false).port
        let codec = DatagramCodec(key: Self.key, session: Self.session, stream: stream)
        let sendSocket = try UDPSocket.sender(interface: nil, ttl: 1, sendBuffer: 1 << 20)
        let totalBox = Box<UInt32?>(nil)
        let sender = MulticastSender(
            socket: sendSocket, destination: UDPSocket.address("127.0.0.1", port: port)!, codec: codec, spool: spool,
            fragmentSize: 1000, window: 4, maxRate: 400e6, onTotal: { totalBox.value = $0 })
        let ring = ChunkRing(capacity: 4)
        let senderBox = Box<MulticastSender?>(sender)
        let receiver = MulticastReceiver(
            socket: receiveSocket, codec: codec, sealer: sealer, ring: ring, window: 4, fragmentSize: 1000,
            report: { next, complete, missing, _ in senderBox.value?.receipt(from: "n1", next: next, complete: complete, missing: missing) },
            dropEvery: 50)
        sender.add("n1")
        receiver.start()
        sender.start()
        let reader = ring.register(from: 0)
        var got: [[UInt8]] = []
        let deadline = Date().addingTimeInterval(30)
        while got.count < 12 && Date() < deadline {
            if let t = totalBox.value { receiver.setTotal(t) }
            let (entry, _) = ring.entry(UInt64(got.count), reader: reader, timeout: .milliseconds(200))
            if let entry { got.append(entry.plaintext) }
        }
        sender.stop()
        receiver.stop()
        sendSocket.close()
        #expect(got == plaintexts)
        let s = sender.statistics
        let r = receiver.statistics
        #expect(r.forged == 0 && r.foreign == 0 && r.malformed == 0)
        #expect(s.repairs > 0 && s.repairs >= r.testDropped, "sent \(s), received \(r)")
        print("loopback: \(s.datagrams) datagrams sent, \(s.repairs) repairs for \(r.testDropped) dropped; \(r.duplicates) duplicates")
    }
}

/// A mutable value shared with a closure.
final class Box<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T
    init(_ value: T) { stored = value }
    var value: T {
        get { lock.lock(); defer { lock.unlock() }; return stored }
        set { lock.lock(); stored = newValue; lock.unlock() }
    }
}
