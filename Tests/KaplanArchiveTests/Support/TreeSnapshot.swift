import KaplanDigest
import Foundation
import KaplanArchive

#if canImport(Glibc)
    import Glibc
#endif

/// What the filesystem says about every object below a directory, read with lstat, readlink and l*xattr.
struct TreeSnapshot {
    /// One object.
    struct Node: Equatable, CustomStringConvertible {
        var type: UInt32
        var mode: UInt32
        var uid: UInt32
        var gid: UInt32
        var size: Int64
        var mtime: Int64
        var mtimeNanoseconds: Int
        var rdev: UInt64
        var linkTarget: String?
        var sha256: String?
        /// Every extended attribute, the POSIX ACL ones (`system.posix_acl_*`) included.
        var xattrs: [String: [UInt8]]

        var description: String {
            let octal = String(mode, radix: 8)
            let link = linkTarget ?? "-"
            let digest = sha256?.prefix(12) ?? "-"
            let names = xattrs.keys.sorted()
            return "type \(String(type, radix: 8)) mode \(octal) \(uid):\(gid) size \(size) "
                + "mtime \(mtime).\(mtimeNanoseconds) rdev \(rdev) link \(link) sha \(digest) xattrs \(names)"
        }
    }

    /// Path relative to the root (`.` for the root) → node.
    var nodes: [String: Node] = [:]
    /// Path → (device, inode), to find hard-link groups.
    var identities: [String: [UInt64]] = [:]
    /// Path → 512-byte blocks allocated.
    var blocks: [String: Int64] = [:]

    /// Reads the tree at `root`.
    init(root: String) throws {
        try visit(root: root, relative: ".")
    }

    private mutating func visit(root: String, relative: String) throws {
        let path = relative == "." ? root : root + "/" + relative
        var info = stat()
        try posix(lstat(path, &info), "lstat \(path)")
        let type = info.st_mode & S_IFMT
        var node = Node(
            type: type, mode: info.st_mode & 0o7777, uid: info.st_uid, gid: info.st_gid,
            size: type == S_IFREG ? Int64(info.st_size) : 0, mtime: Int64(info.st_mtim.tv_sec),
            mtimeNanoseconds: info.st_mtim.tv_nsec, rdev: UInt64(info.st_rdev), linkTarget: nil, sha256: nil,
            xattrs: try Self.xattrs(path))
        if type == S_IFLNK {
            var buffer = [CChar](repeating: 0, count: 4096)
            let count = readlink(path, &buffer, buffer.count)
            node.linkTarget = String(decoding: buffer[0..<max(count, 0)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        if type == S_IFREG {
            node.sha256 = try Self.digest(path)
        }
        nodes[relative] = node
        identities[relative] = [UInt64(info.st_dev), UInt64(info.st_ino)]
        blocks[relative] = Int64(info.st_blocks)
        if type == S_IFDIR {
            for name in try Self.names(path) {
                try visit(root: root, relative: relative == "." ? name : relative + "/" + name)
            }
        }
    }

    /// Directory entries other than `.` and `..`, sorted.
    static func names(_ path: String) throws -> [String] {
        guard let directory = opendir(path) else { throw TestFailure("opendir \(path): errno \(errno)") }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// SHA-256 of a file's content, read in 1 MiB pieces.
    static func digest(_ path: String) throws -> String {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { throw TestFailure("open \(path): errno \(errno)") }
        defer { close(descriptor) }
        var hasher = SHA256()
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            guard count >= 0 else { throw TestFailure("read \(path): errno \(errno)") }
            if count == 0 { break }
            buffer.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
        }
        return hasher.finalizeHex()
    }

    /// Every extended attribute of `path` (not following a final symlink), read with getfattr.
    static func xattrs(_ path: String) throws -> [String: [UInt8]] {
        let output = try shell("getfattr -h -d -m - -e hex --absolute-names \(quoted(path))")
        var result: [String: [UInt8]] = [:]
        for line in output.split(separator: "\n") where !line.hasPrefix("#") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            let name = String(line[..<equals])
            var hex = line[line.index(after: equals)...]
            if hex.hasPrefix("0x") { hex = hex.dropFirst(2) }
            var bytes: [UInt8] = []
            var index = hex.startIndex
            while index < hex.endIndex, let next = hex.index(index, offsetBy: 2, limitedBy: hex.endIndex) {
                bytes.append(UInt8(hex[index..<next], radix: 16) ?? 0)
                index = next
            }
            result[name] = bytes
        }
        return result
    }
}
