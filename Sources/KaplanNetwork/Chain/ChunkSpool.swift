import Foundation

/// The golden's copy of the whole sealed stream, in a file: the head of the chain reads from it, and a node whose
/// upstream no longer holds what it needs is served from it. The producer never waits for the network.
final class ChunkSpool: ChunkSource, @unchecked Sendable {
    private let condition = NSCondition()
    private let fd: Int32
    let path: String
    private var index: [(offset: Int64, length: Int)] = []
    private var end: Int64 = 0
    private var complete = false
    private var closed = false
    private var failure: String?

    /// Creates the spool file (removed by `close`).
    init(directory: String, session: SessionID) throws(NetworkError) {
        path = directory + "/kaplan-stream-\(session).spool"
        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw NetworkError("spool", "cannot create the stream spool \(path)", cause: String(cString: strerror(errno)))
        }
    }

    /// Appends the next sealed chunk.
    func append(_ sealed: [UInt8], last: Bool) throws(NetworkError) {
        var written = 0
        while written < sealed.count {
            let n = sealed.withUnsafeBytes { pwrite(fd, $0.baseAddress! + written, sealed.count - written, off_t(end) + off_t(written)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw NetworkError("spool", "writing the stream spool \(path) failed", cause: String(cString: strerror(errno)))
            }
            written += n
        }
        condition.lock()
        index.append((end, sealed.count))
        end += Int64(sealed.count)
        if last { complete = true }
        condition.broadcast()
        condition.unlock()
    }

    /// Ends the stream early: readers see the end (the producer failed).
    func fail(_ reason: String) {
        condition.lock()
        failure = reason
        complete = true
        condition.broadcast()
        condition.unlock()
    }

    /// Why the producer failed, if it did.
    var failed: String? { condition.lock(); defer { condition.unlock() }; return failure }
    /// Chunks spooled so far.
    var count: Int { condition.lock(); defer { condition.unlock() }; return index.count }

    func register(from sequence: UInt64, name: String) -> Int { 0 }
    func unregister(_ reader: Int) {}

    func sealed(_ sequence: UInt64, reader: Int, timeout: Duration) -> ChunkFetch {
        let deadline = Date(timeIntervalSinceNow: timeout.inSeconds)
        condition.lock()
        var slot: (offset: Int64, length: Int)? = nil
        while true {
            if closed { condition.unlock(); return .closed }
            if sequence < UInt64(index.count) { slot = index[Int(sequence)]; break }
            if complete { condition.unlock(); return .end }
            if !condition.wait(until: deadline) { condition.unlock(); return .timeout }
        }
        condition.unlock()
        guard let slot else { return .timeout }
        var bytes = [UInt8](repeating: 0, count: slot.length)
        var got = 0
        while got < slot.length {
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + got, slot.length - got, off_t(slot.offset) + off_t(got)) }
            if n <= 0 {
                if n < 0 && errno == EINTR { continue }
                return .closed
            }
            got += n
        }
        return .chunk(bytes)
    }

    /// Wakes readers, closes and removes the file.
    func close() {
        condition.lock()
        let wasClosed = closed
        closed = true
        condition.broadcast()
        condition.unlock()
        if !wasClosed {
            Glibc.close(fd)
            unlink(path)
        }
    }
}
