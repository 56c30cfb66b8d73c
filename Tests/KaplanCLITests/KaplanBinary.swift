import Foundation

/// Runs the built `kaplan` binary the way an operator would, with a hard time limit.
enum KaplanBinary {
    /// The package root (three levels above this file).
    static let packageRoot: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// The binary next to the test bundle (same build directory), else `.build/debug/kaplan`.
    static let url: URL = {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("kaplan")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return packageRoot.appendingPathComponent(".build/debug/kaplan")
    }()

    /// What a run produced.
    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
        var exitedNormally: Bool
        var seconds: Double
    }

    /// Runs `kaplan ARGS` in `directory` (default: the package root); kills it by PID after `timeout` seconds.
    static func run(_ arguments: [String], in directory: URL? = nil, timeout: Double = 60) throws -> Run {
        let process = Process()
        process.executableURL = url
        process.arguments = arguments
        process.currentDirectoryURL = directory ?? packageRoot
        if let directory, ProcessInfo.processInfo.environment["KAPLAN_JOURNAL_DIR"] == nil {
            // A failed or interrupted apply leaves a journal: keep it inside the test's own directory.
            process.environment = ProcessInfo.processInfo.environment.merging(
                ["KAPLAN_JOURNAL_DIR": directory.appendingPathComponent("journal").path]) { $1 }
        }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        let started = Date()
        try process.run()
        // Drain both pipes while the process runs so that a chatty child cannot block on a full pipe.
        nonisolated(unsafe) var outData = Data()
        nonisolated(unsafe) var errData = Data()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            outData = out.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        group.enter()
        DispatchQueue.global().async {
            errData = err.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            group.wait()
            throw TimedOut(arguments: arguments, seconds: timeout)
        }
        process.waitUntilExit()
        group.wait()
        return Run(
            status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errData, as: UTF8.self), exitedNormally: process.terminationReason == .exit,
            seconds: Date().timeIntervalSince(started))
    }

    /// A run that had to be killed.
    struct TimedOut: Error, CustomStringConvertible {
        var arguments: [String]
        var seconds: Double
        var description: String { "kaplan \(arguments.joined(separator: " ")) did not finish within \(seconds) s and was killed" }
    }

    /// The YAML files under a folder of the package, sorted, as paths relative to the package root.
    static func yamlFiles(under folder: String) -> [String] {
        let base = packageRoot.appendingPathComponent(folder)
        guard let walker = FileManager.default.enumerator(atPath: base.path) else { return [] }
        var result: [String] = []
        while let item = walker.nextObject() as? String {
            if item.hasSuffix(".yaml") || item.hasSuffix(".yml") { result.append(folder + "/" + item) }
        }
        return result.sorted()
    }
}
