import Foundation
import KaplanArchive
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The extractor's writeback window: a large file's data reaches the disk while it is written and leaves the page
/// cache behind it, so a clone does not fill the node's memory; the bytes stay exact.
@Suite struct WritebackWindowTests {
    /// Bytes of `path` in the page cache (mincore over a read-only mapping; mapping does not read the file).
    static func cachedBytes(_ path: String) throws -> Int {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw TestFailure("cannot open \(path)") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_size > 0 else { throw TestFailure("cannot stat \(path)") }
        let size = Int(info.st_size)
        guard let map = mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0), map != MAP_FAILED else { throw TestFailure("mmap failed") }
        defer { munmap(map, size) }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        var vector = [UInt8](repeating: 0, count: (size + page - 1) / page)
        guard mincore(map, size, &vector) == 0 else { throw TestFailure("mincore failed: errno \(errno)") }
        return vector.reduce(0) { $0 + Int($1 & 1) } * page
    }

    @Test func aLargeFileIsWrittenBackAndLeavesTheCacheAsItIsExtracted() throws {
        // The destination must be on a disk: on tmpfs the page cache is the file (/var/tmp is a disk on Debian
        // even where /tmp is tmpfs).
        var template = Array("/var/tmp/kaplan-writeback-test.XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw TestFailure("mkdtemp in /var/tmp failed: errno \(errno)") }
        let destination = String(cString: made)
        defer { try? FileManager.default.removeItem(atPath: destination) }
        let kind = try shell("stat -f -c %T '\(destination)'").trimmingCharacters(in: .whitespacesAndNewlines)
        guard kind != "tmpfs" && kind != "ramfs" else {
            print("WritebackWindowTests: skipped: /var/tmp is \(kind) here, so there is no disk to write back to")
            return
        }
        try withScratchDirectories(1) { directories in
            let source = directories[0]
            let size = 48 << 20
            let big = pseudoRandomBytes(size, seed: 7)
            try writeFile(source + "/big.bin", big)
            try writeFile(source + "/small.txt", Array("a small file is never opened twice\n".utf8))
            let (archived, extracted) = try streamTree(
                TreeArchiver(root: source, compression: .none), into: destination, chunk: 1 << 20, bufferLimit: 8 << 20)
            #expect(archived.manifest == extracted.manifest)
            // Through the cache alone all 48 MiB would still be there; the window leaves about three windows
            // (8 MiB each) of the file's tail, more only where the disk lags (never waited for).
            let cached = try Self.cachedBytes(destination + "/big.bin")
            #expect(cached <= 32 << 20, "\(cached >> 20) MiB of the extracted 48 MiB file is still cached")
            let back = try Data(contentsOf: URL(fileURLWithPath: destination + "/big.bin"))
            #expect(back.count == size && back.elementsEqual(big))
            #expect(try String(contentsOfFile: destination + "/small.txt", encoding: .utf8) == "a small file is never opened twice\n")
        }
    }
}
