import Foundation
import Testing

@testable import KaplanNetwork

/// The data-path threads ask the kernel for what their priority names, as root; without the privilege they keep
/// what they have and still run.
@Suite struct WorkerPriorityTests {
    /// Runs a worker and returns (scheduling policy, nice value) as its own thread saw them.
    static func observed(_ priority: Worker.Priority) -> (policy: Int32, nice: Int32) {
        let box = Box()
        let worker = Worker("kaplan-test-prio", priority: priority) {
            errno = 0
            let nice = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
            box.set((sched_getscheduler(0), nice))
        }
        #expect(worker.join(timeout: 10))
        return box.value!
    }

    final class Box: @unchecked Sendable {
        private let lock = NSLock()
        private var stored: (Int32, Int32)?
        func set(_ v: (Int32, Int32)) { lock.lock(); stored = v; lock.unlock() }
        var value: (policy: Int32, nice: Int32)? { lock.lock(); defer { lock.unlock() }; return stored.map { ($0.0, $0.1) } }
    }

    @Test func theDataPathRunsAtNiceMinus20AsRoot() {
        let own = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
        let normal = Self.observed(.normal)
        #expect(normal.policy == SCHED_OTHER && normal.nice == own)
        let dataPath = Self.observed(.dataPath)
        #expect(dataPath.policy == SCHED_OTHER)
        if getuid() == 0 {
            #expect(dataPath.nice == -20)
        } else {
            print("worker priority: not root, so the data path keeps nice \(own) (checked: it still runs)")
            #expect(dataPath.nice == own)
        }
    }
}
