import Foundation

/// Runs an external program (argv, never a shell) with a time limit, capturing its output.
public enum Command {
    /// What a run produced.
    public struct Result: Sendable {
        /// Exit status (128 + signal when killed; 127 when the program could not be started).
        public var status: Int32
        /// Standard output.
        public var stdout: String
        /// Standard error.
        public var stderr: String
        /// True when the time limit killed it.
        public var timedOut: Bool

        /// The last meaningful line of stderr (or stdout), for messages: boilerplate such as mount's "dmesg(1) may
        /// have more information after failed mount system call." is passed over so the real cause shows.
        public var lastLine: String {
            let lines = (stderr.isEmpty ? stdout : stderr).split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            let meaningful = lines.filter { !$0.isEmpty && !$0.hasPrefix("dmesg(1) may have more information") }
            return meaningful.last ?? lines.last { !$0.isEmpty } ?? ""
        }
    }

    /// Runs `program` with `arguments`; after `timeout` seconds it and everything it started are killed
    /// (SIGKILL to its process group). Processes it leaves behind holding its output pipes
    /// are killed too after a short grace period, so the call always returns.
    public static func run(_ program: String, _ arguments: [String], timeout: Double = 600, environment: [String: String]? = nil) -> Result {
        let process = Process()
        // Foundation's Process starts the child as the leader of a process group of its own (pid == pgid), so
        // `kill(-pid)` reaches the program and everything it started (unless those made sessions of their own).
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        if let environment { process.environment = environment }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        guard FileManager.default.isExecutableFile(atPath: program) else {
            return Result(status: 127, stdout: "", stderr: "cannot run \(program): no such program", timedOut: false)
        }
        do {
            try process.run()
        } catch {
            return Result(status: 127, stdout: "", stderr: "cannot run \(program): \(error.localizedDescription)", timedOut: false)
        }
        let group = process.processIdentifier
        let outBox = DataBox()
        let errBox = DataBox()
        let readers = DispatchGroup()
        readers.enter()
        DispatchQueue.global().async {
            outBox.data = out.fileHandleForReading.readDataToEndOfFile()
            readers.leave()
        }
        readers.enter()
        DispatchQueue.global().async {
            errBox.data = err.fileHandleForReading.readDataToEndOfFile()
            readers.leave()
        }
        let deadline = Date().addingTimeInterval(timeout)
        var timedOut = false
        while process.isRunning {
            if Date() > deadline {
                timedOut = true
                kill(-group, SIGKILL)
                break
            }
            usleep(2_000)
        }
        process.waitUntilExit()
        // Children that outlive the program and keep its pipes open: a short grace, then the group is killed.
        if readers.wait(timeout: .now() + 5) == .timedOut {
            kill(-group, SIGKILL)
            _ = readers.wait(timeout: .now() + 5)
        }
        return Result(
            status: process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus,
            stdout: String(decoding: outBox.lockedData, as: UTF8.self), stderr: String(decoding: errBox.lockedData, as: UTF8.self),
            timedOut: timedOut)
    }
}

private final class DataBox: @unchecked Sendable {
    private let lock = NSLock()
    private var bytes = Data()
    var data: Data {
        get { lock.withLock { bytes } }
        set { lock.withLock { bytes = newValue } }
    }
    var lockedData: Data { data }
}
