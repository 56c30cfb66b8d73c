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

        /// The last non-empty line of stderr (or stdout), for messages.
        public var lastLine: String {
            let lines = (stderr.isEmpty ? stdout : stderr).split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            return lines.last { !$0.isEmpty } ?? ""
        }
    }

    /// Runs `program` with `arguments`; kills it (by PID) after `timeout` seconds.
    public static func run(_ program: String, _ arguments: [String], timeout: Double = 600, environment: [String: String]? = nil) -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        if let environment { process.environment = environment }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            return Result(status: 127, stdout: "", stderr: "cannot run \(program): \(error.localizedDescription)", timedOut: false)
        }
        let outBox = DataBox()
        let errBox = DataBox()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            outBox.data = out.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        group.enter()
        DispatchQueue.global().async {
            errBox.data = err.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let deadline = Date().addingTimeInterval(timeout)
        var timedOut = false
        while process.isRunning {
            if Date() > deadline {
                timedOut = true
                kill(process.processIdentifier, SIGKILL)
                break
            }
            usleep(2_000)
        }
        process.waitUntilExit()
        group.wait()
        return Result(
            status: process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus,
            stdout: String(decoding: outBox.data, as: UTF8.self), stderr: String(decoding: errBox.data, as: UTF8.self),
            timedOut: timedOut)
    }
}

private final class DataBox: @unchecked Sendable {
    var data = Data()
}
