import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// True when the tests run as root (device nodes, foreign owners, security.* xattrs, mounts).
let runningAsRoot = geteuid() == 0

/// Runs `body` with fresh temporary directories, removed afterwards even when `body` throws or an expectation fails.
func withScratchDirectories<T>(_ count: Int = 2, _ body: ([String]) throws -> T) throws -> T {
    var made: [String] = []
    defer {
        for path in made {
            // Unmount anything a test left mounted below the directory before removing it.
            _ = try? shell("grep -F ' \(path)/' /proc/mounts | cut -d' ' -f2 | sort -r | xargs -r umount -l")
            try? FileManager.default.removeItem(atPath: path)
        }
    }
    for _ in 0..<count {
        var template = Array("/tmp/kaplan-archive-test.XXXXXX".utf8CString)
        guard let pointer = mkdtemp(&template) else { throw TestFailure("mkdtemp failed: errno \(errno)") }
        made.append(String(cString: pointer))
    }
    return try body(made)
}

/// A failure inside a test helper.
struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Runs `command` with /bin/sh; returns its standard output, throws when it exits non-zero.
@discardableResult
func shell(_ command: String) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", command]
    let output = Pipe()
    let errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    let outData = output.fileHandleForReading.readDataToEndOfFile()
    let errData = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw TestFailure(
            "`\(command)` exited \(process.terminationStatus): \(String(decoding: errData, as: UTF8.self))")
    }
    return String(decoding: outData, as: UTF8.self)
}

/// Quotes `text` for /bin/sh.
func quoted(_ text: String) -> String {
    "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

/// Throws with errno when a libc call returned -1.
func posix(_ result: Int32, _ what: String) throws {
    if result != 0 { throw TestFailure("\(what) failed: \(String(cString: strerror(errno)))") }
}

/// Writes `bytes` to a new file at `path`.
func writeFile(_ path: String, _ bytes: [UInt8]) throws {
    guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
        throw TestFailure("cannot create \(path)")
    }
}

/// Deterministic pseudo-random bytes (xorshift), fast enough for hundreds of MiB.
func pseudoRandomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var state = seed | 1
    var bytes = [UInt8](repeating: 0, count: count)
    bytes.withUnsafeMutableBytes { raw in
        let words = count / 8
        let pointer = raw.baseAddress!
        for index in 0..<words {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            pointer.storeBytes(of: state, toByteOffset: index * 8, as: UInt64.self)
        }
        for index in (words * 8)..<count {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            raw[index] = UInt8(truncatingIfNeeded: state)
        }
    }
    return bytes
}
