import Foundation
import Testing

/// A directory under the system temporary directory, removed with everything in it when the value is released.
final class ScratchDirectory {
    let path: String

    init(_ name: String = #function) throws {
        let base = FileManager.default.temporaryDirectory.path
        let sanitized = name.filter { $0.isLetter || $0.isNumber }
        var template = Array("\(base)/kaplan-fdisk-\(sanitized)-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw POSIXError(.EIO) }
        path = String(cString: made)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// A sparse file of `bytes` bytes inside the directory; returns its path.
    func sparseImage(_ name: String, bytes: UInt64) throws -> String {
        let file = "\(path)/\(name)"
        #expect(FileManager.default.createFile(atPath: file, contents: nil))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: file))
        try handle.truncate(atOffset: bytes)
        try handle.close()
        return file
    }
}

/// The result of a finished command.
struct CommandResult {
    let status: Int32
    let output: String
}

/// Runs a command found on PATH (sbin directories included) and returns its exit status and combined output.
@discardableResult
func run(_ arguments: [String]) throws -> CommandResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    var environment = ProcessInfo.processInfo.environment
    environment["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    environment["LC_ALL"] = "C"
    process.environment = environment
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return CommandResult(status: process.terminationStatus, output: String(decoding: data, as: UTF8.self))
}

/// Runs a command that must succeed.
@discardableResult
func runChecked(_ arguments: [String]) throws -> String {
    let result = try run(arguments)
    #expect(result.status == 0, "\(arguments.joined(separator: " ")) failed: \(result.output)")
    return result.output
}

/// What proves a file was not modified: its SHA-256 and its modification time in nanoseconds.
struct FileFingerprint: Equatable {
    let sha256: String
    let mtime: Int

    init(_ path: String) throws {
        let output = try runChecked(["sha256sum", path])
        sha256 = String(output.prefix(64))
        var info = stat()
        #expect(stat(path, &info) == 0)
        mtime = info.st_mtim.tv_sec * 1_000_000_000 + info.st_mtim.tv_nsec
    }
}

/// Reads `count` bytes at `offset` from a file.
func readBytes(_ path: String, offset: UInt64, count: Int) throws -> [UInt8] {
    let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
    defer { try? handle.close() }
    try handle.seek(toOffset: offset)
    return Array(try handle.read(upToCount: count) ?? Data())
}

let mebibyte: UInt64 = 1 << 20
