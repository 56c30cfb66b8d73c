import Foundation
import KaplanLinux

/// Sparse image files in a temporary directory that is removed when the value is released.
final class ScratchDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("kaplan-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    /// A sparse file of `size` bytes.
    @discardableResult
    func image(_ name: String, size: UInt64) throws -> String {
        let p = path(name)
        FileManager.default.createFile(atPath: p, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: p))
        try handle.truncate(atOffset: size)
        try handle.close()
        return p
    }

    /// Runs a tool and fails loudly when it fails.
    @discardableResult
    func sh(_ program: String, _ args: [String], input: String? = nil) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = args
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        if let input {
            let pipe = Pipe()
            process.standardInput = pipe
            try process.run()
            pipe.fileHandleForWriting.write(Data(input.utf8))
            try pipe.fileHandleForWriting.close()
        } else {
            try process.run()
        }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else { throw ToolFailed(description: "\(program) \(args.joined(separator: " ")): \(text)") }
        return text
    }

    struct ToolFailed: Error, CustomStringConvertible { var description: String }

    /// SHA-256 and mtime of a file, to prove nothing wrote to it.
    func fingerprint(_ p: String) throws -> String {
        let sum = try sh("/usr/bin/sha256sum", [p]).split(separator: " ").first.map(String.init) ?? ""
        let attributes = try FileManager.default.attributesOfItem(atPath: p)
        let mtime = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
        return "\(sum) \(mtime)"
    }
}
