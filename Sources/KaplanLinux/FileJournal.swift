import Foundation
import KaplanEngine
import KaplanModel

/// The apply journal on disk: one JSON file per node, `BASE/PLAN/NODE.json`, BASE being `$KAPLAN_JOURNAL_DIR`
/// or `/var/lib/kaplan/journal`; directories made 0700, files 0600. A write after a durable step flushes the
/// clone's data first (`sync`); every write replaces the file atomically (temporary file, fsync, rename, fsync of
/// the directory), so a record never claims a step whose writes a crash could still lose. Unreadable or corrupt
/// files are reported by `load` (the executor then ignores them, and the run overwrites them).
public struct FileJournal: JournalStore {
    /// The base directory when `KAPLAN_JOURNAL_DIR` is not set.
    public static let defaultBase = "/var/lib/kaplan/journal"
    /// The environment variable that overrides the base directory (tests point it into their own directory).
    public static let environmentVariable = "KAPLAN_JOURNAL_DIR"

    /// The plan's journal directory.
    public let directory: String

    /// The journal of the plan named `planName`, below `base` (default: the environment's, else ``defaultBase``).
    public init(planName: String, base: String? = nil) {
        let root = base ?? ProcessInfo.processInfo.environment[Self.environmentVariable].flatMap { $0.isEmpty ? nil : $0 } ?? Self.defaultBase
        directory = URL(fileURLWithPath: root).appendingPathComponent(Self.fileName(planName)).path
    }

    /// `DIRECTORY/NODE.json`.
    public func path(node: String) -> String { directory + "/" + Self.fileName(node) + ".json" }

    /// A name safe as one path component: letters, digits, `.`, `_` and `-`; anything else becomes `_`.
    static func fileName(_ name: String) -> String {
        let safe = String(name.map { c in c.isASCII && (c.isLetter || c.isNumber || c == "." || c == "_" || c == "-") ? c : "_" })
        return safe.isEmpty || safe.allSatisfy({ $0 == "." }) ? "_" + safe : safe
    }

    /// The node's record; nil when there is no file; throws when the file cannot be read or decoded.
    public func load(node: String) async throws -> JournalRecord? {
        let path = self.path(node: node)
        return try await blocking {
            guard FileManager.default.fileExists(atPath: path) else { return nil }
            let data: Data
            do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
                throw HostError("journal-unreadable", "cannot read the journal \(path)", cause: "\(error)")
            }
            do { return try JSONDecoder().decode(JournalRecord.self, from: data) } catch {
                throw HostError(
                    "journal-corrupt", "the journal \(path) is not a journal record kaplan can read",
                    cause: "\(Self.describe(error)); it is overwritten by this run")
            }
        }
    }

    /// Replaces the node's file atomically, stamping the record with the local time.
    public func save(_ record: JournalRecord) async throws {
        var record = record
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        record.written = formatter.string(from: Date())
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        let data = try encoder.encode(record)
        let path = self.path(node: record.node)
        let directory = self.directory
        let flush = record.completed.last.map { JournalResume.durableKinds.contains($0.kind) } ?? false
        try await blocking {
            try Self.makeDirectory(directory)
            // What a durable step wrote must be on the disks before the record says it is done (a resume skips
            // it); mounts, unmounts and verify are run again anyway. Measured on the lab apply (11 syncs): 0.06–0.5 s
            // in all; a single sync took up to ~3 s while other engineers' builds were writing.
            if flush { sync() }
            let temporary = "\(directory)/.\(URL(fileURLWithPath: path).lastPathComponent).\(getpid()).tmp"
            let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw Self.error("cannot create \(temporary)", errno) }
            var ok = false
            defer {
                close(fd)
                if !ok { unlink(temporary) }
            }
            try data.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                    if n < 0 {
                        if errno == EINTR { continue }
                        throw Self.error("cannot write \(temporary)", errno)
                    }
                    offset += n
                }
            }
            guard fsync(fd) == 0 else { throw Self.error("cannot flush \(temporary)", errno) }
            guard rename(temporary, path) == 0 else { throw Self.error("cannot rename \(temporary) to \(path)", errno) }
            ok = true
            Self.syncDirectory(directory)
        }
    }

    /// Removes the node's file (and the plan's directory once it is empty).
    public func clear(node: String) async throws {
        let path = self.path(node: node)
        let directory = self.directory
        try await blocking {
            guard unlink(path) == 0 || errno == ENOENT else { throw Self.error("cannot remove the journal \(path)", errno) }
            Self.syncDirectory(directory)
            // The plan's directory goes when its last node is done; a failure here only leaves an empty directory.
            rmdir(directory)
        }
    }

    /// Makes `directory` (and missing parents) with mode 0700.
    static func makeDirectory(_ directory: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue { return }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw HostError(
                "journal-unwritable", "cannot create the journal directory \(directory)",
                cause: "\(error); set \(environmentVariable) to a writable directory")
        }
    }

    static func syncDirectory(_ directory: String) {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
    }

    static func error(_ what: String, _ code: Int32) -> HostError {
        HostError("journal-unwritable", what, cause: "\(String(cString: strerror(code))) (errno \(code))")
    }

    static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let c): return "not valid JSON: \(c.debugDescription)"
        case DecodingError.keyNotFound(let key, _): return "field '\(key.stringValue)' is missing"
        case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c):
            return "\(c.codingPath.map(\.stringValue).joined(separator: ".")): \(c.debugDescription)"
        default: return "\(error)"
        }
    }
}

/// The Linux host takes over a table an earlier run wrote: the same devices `writeTable` makes (offset loop
/// devices for image files, the kernel's partition nodes for disks), without writing anything.
extension LinuxHost: JournalResumableHost {
    /// Passes the gate, then attaches the recorded partitions as `writeTable` would, writing nothing.
    public func attachExisting(node: String, target: Target, layout: Layout, partitions: [Partition]) async throws {
        try await blocking {
            try self.gate.check(node: node, target: target)
            try self.attachPartitions(node: node, target: target, layout: layout, partitions: partitions)
        }
    }
}
