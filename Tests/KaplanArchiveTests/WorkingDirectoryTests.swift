import Foundation
import KaplanArchive
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// libarchive changes directory while it walks a tree; the rest of the process must never notice.
@Suite struct WorkingDirectoryTests {
    @Test func archivingLeavesTheProcessWorkingDirectoryAlone() throws {
        try withScratchDirectories { directories in
            let (source, destination) = (directories[0], directories[1])
            for index in 0..<300 {
                let directory = source + "/d\(index)/e"
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                try writeFile(directory + "/f", Array("file \(index)\n".utf8))
            }
            let before = try processWorkingDirectory()
            let watcher = CwdWatcher(expected: before)
            watcher.start()
            let (archived, _) = try streamTree(TreeArchiver(root: source, compression: .none), into: destination)
            let wrong = watcher.stop()
            #expect(archived.statistics.entries == 901)
            let places = Set(wrong).sorted().prefix(3)
            #expect(wrong.count == 0, "the process working directory moved \(wrong.count) times, to \(places)")
            #expect(try processWorkingDirectory() == before)
        }
    }

    private func processWorkingDirectory() throws -> String {
        try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/cwd")
    }
}

/// Polls the process's working directory (that of the main thread) from a thread of its own.
private final class CwdWatcher: @unchecked Sendable {
    private let expected: String
    private let lock = NSLock()
    private var running = true
    private var seen: [String] = []
    private let done = DispatchSemaphore(value: 0)

    init(expected: String) { self.expected = expected }

    func start() {
        Thread {
            while self.lock.withLock({ self.running }) {
                if let now = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/cwd"),
                    now != self.expected
                {
                    self.lock.withLock { self.seen.append(now) }
                }
            }
            self.done.signal()
        }.start()
    }

    func stop() -> [String] {
        lock.withLock { running = false }
        done.wait()
        return lock.withLock { seen }
    }
}
