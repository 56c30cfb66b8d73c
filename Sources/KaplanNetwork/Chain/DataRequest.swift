import Foundation

/// The control messages of a data link: the downstream asks for chunks from a sequence number on; the
/// upstream answers with the sealed chunks, or says it no longer holds them.
enum DataMessage: Codable, Sendable {
    /// Send chunks from this sequence number on.
    case from(UInt64)
    /// I no longer hold that chunk; the oldest I hold is given.
    case gap(oldest: UInt64)

    func encoded() -> [UInt8] { Array((try? JSONEncoder().encode(self)) ?? Data()) }

    static func decode(_ bytes: [UInt8]) throws -> DataMessage {
        do { return try JSONDecoder().decode(DataMessage.self, from: Data(bytes)) } catch {
            throw NetworkError("bad-frame", "a data-link message could not be read", cause: "\(error)")
        }
    }
}

/// A thread that can be waited for.
final class Worker: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)

    /// How soon the scheduler must run a worker once it can go on.
    enum Priority {
        /// The process's own nice value.
        case normal
        /// Threads that move the stream on the wire (the multicast sender and receivers, the chain's receiving and
        /// serving threads): nice −20 where allowed (root), so that a node busy decrypting, extracting and writing
        /// its own disk — or a golden busy archiving — still refills the link within its few milliseconds of
        /// socket buffer. Forwarding before the local disk is the chain's whole point (a relay late by δ idles
        /// every link below it by δ), and a multicast sender that is late idles the link for every node. Measured
        /// in the lab (bench/RESULTS.md), 2 cores shared by every node: multicast at 100 Mbit to 8 nodes went from
        /// 87.7 % to 96.5 % of iperf3 at −10; a 16-node chain at 100 Mbit from 96.0–96.7 % at −10 to 97.7–98.5 %
        /// at −20. These threads block on their sockets; the ones they feed stay the backpressure.
        case dataPath

        /// The nice value the thread asks for; nil leaves it alone.
        var nice: Int32? { self == .dataPath ? -20 : nil }
    }

    /// Starts `body` on its own thread.
    init(_ name: String, priority: Priority = .normal, _ body: @escaping @Sendable () -> Void) {
        let done = self.done
        let thread = Thread {
            // The kernel's name for the thread (15 bytes): top, perf and bench/lib/thread-cpu.py show it.
            let fd = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
            if fd >= 0 {
                let text = Array(name.utf8.prefix(15))
                _ = text.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                close(fd)
            }
            // Linux: PRIO_PROCESS with who = 0 sets the calling thread's nice value only. Without the privilege
            // (EACCES/EPERM) the thread keeps the process's: slower under CPU contention, never wrong.
            if let nice = priority.nice { _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, nice) }
            body()
            done.signal()
        }
        thread.name = name
        thread.stackSize = 1 << 20
        thread.start()
    }

    private let lock = NSLock()
    private var ended = false

    /// Waits for the thread to end (up to `timeout`); false if it did not. Joining an ended thread again
    /// returns at once (the semaphore is signalled only once).
    @discardableResult
    func join(timeout: Double = 30) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if ended { return true }
        ended = done.wait(timeout: .now() + timeout) == .success
        return ended
    }
}
