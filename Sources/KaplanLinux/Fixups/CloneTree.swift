import Foundation
import KaplanEngine

/// File operations inside a clone's mounted root that never leave it: paths are resolved the way the clone
/// itself would resolve them (an absolute symlink such as `/var/lib/dbus/machine-id → /etc/machine-id` means the
/// clone's `/etc/machine-id`, never the host's), writes are atomic and keep mode, owner and extended attributes.
struct CloneTree: Sendable {
    /// The clone's root directory on the host, without a trailing slash.
    let root: String

    init(root: String) {
        var r = root
        while r.count > 1 && r.hasSuffix("/") { r.removeLast() }
        self.root = r
    }

    /// The host path of the clone's `path` (absolute, as seen inside the clone), with every symlink resolved
    /// inside the clone; the last component is followed only when `followLast` is set. `..` stops at the root.
    func resolve(_ path: String, followLast: Bool = true) throws -> String {
        var done: [String] = []
        var pending = path.split(separator: "/").map(String.init)
        var links = 0
        while !pending.isEmpty {
            let component = pending.removeFirst()
            if component == "." || component.isEmpty { continue }
            if component == ".." {
                if !done.isEmpty { done.removeLast() }
                continue
            }
            let host = hostPath(done + [component])
            let isLast = pending.isEmpty
            guard Self.isSymlink(host), !isLast || followLast else {
                done.append(component)
                continue
            }
            links += 1
            guard links <= 40, let target = try? FileManager.default.destinationOfSymbolicLink(atPath: host) else {
                throw HostError(
                    "fixup-path", "cannot resolve \(path) inside the clone at \(root): too many symbolic links at \(host)",
                    cause: "check the link with `ls -l \(host)`")
            }
            if target.hasPrefix("/") { done = [] }
            pending = target.split(separator: "/").map(String.init) + pending
        }
        return hostPath(done)
    }

    private func hostPath(_ components: [String]) -> String {
        components.isEmpty ? root : (root == "/" ? "" : root) + "/" + components.joined(separator: "/")
    }

    /// The clone's `path` as written in messages: `/etc/fstab (in /run/kaplan/S/nodes/node03)`.
    func describe(_ path: String) -> String { "\(path) (in the clone at \(root))" }

    // MARK: reading

    /// The file's bytes, or nil when it does not exist.
    func read(_ path: String) throws -> [UInt8]? {
        let host = try resolve(path)
        guard FileManager.default.fileExists(atPath: host) else { return nil }
        guard let data = FileManager.default.contents(atPath: host) else {
            throw HostError("fixup-read", "cannot read \(describe(path))", cause: Self.errnoText())
        }
        return [UInt8](data)
    }

    /// True when `path` exists inside the clone (following symlinks inside the clone).
    func exists(_ path: String) -> Bool {
        guard let host = try? resolve(path) else { return false }
        var st = stat()
        return lstat(host, &st) == 0
    }

    /// True when `path` is a directory inside the clone.
    func isDirectory(_ path: String) -> Bool {
        guard let host = try? resolve(path) else { return false }
        var st = stat()
        return lstat(host, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// The names in directory `path` (empty when it does not exist), sorted.
    func list(_ path: String) -> [String] {
        guard let host = try? resolve(path), let names = try? FileManager.default.contentsOfDirectory(atPath: host) else {
            return []
        }
        return names.sorted()
    }

    /// lstat of `path` inside the clone, the last component not followed.
    func status(_ path: String) -> stat? {
        guard let host = try? resolve(path, followLast: false) else { return nil }
        var st = stat()
        return lstat(host, &st) == 0 ? st : nil
    }

    // MARK: writing

    /// Replaces `path` with `bytes` atomically (a temporary file in the same directory, then rename), keeping the
    /// old file's mode, owner and extended attributes; a new file gets `mode`, root:root, and missing parent
    /// directories are created (0755).
    func write(_ path: String, _ bytes: [UInt8], mode newMode: mode_t = 0o644) throws {
        let host = try resolve(path)
        let directory = (host as NSString).deletingLastPathComponent
        let name = (host as NSString).lastPathComponent
        do {
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        } catch {
            throw HostError("fixup-write", "cannot create directory \(directory) for \(describe(path))", cause: "\(error)")
        }
        var old = stat()
        let hasOld = stat(host, &old) == 0
        if hasOld && (old.st_mode & S_IFMT) != S_IFREG {
            throw HostError(
                "fixup-write", "cannot replace \(describe(path)): it is not a regular file",
                cause: "move it away in the golden, or switch this fix-up off in the plan")
        }
        let temporary = "\(directory)/.\(name).kaplan-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw HostError("fixup-write", "cannot create \(temporary) to replace \(describe(path))", cause: Self.errnoText())
        }
        var failure: String? = nil
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = "write: " + Self.errnoText()
                    return
                }
                offset += n
            }
        }
        if failure == nil {
            if hasOld {
                Self.copyExtendedAttributes(from: host, to: fd)
                if fchown(fd, old.st_uid, old.st_gid) != 0 { failure = "fchown: " + Self.errnoText() }
            }
            if failure == nil, fchmod(fd, hasOld ? old.st_mode & 0o7777 : newMode) != 0 { failure = "fchmod: " + Self.errnoText() }
            if failure == nil, fsync(fd) != 0 { failure = "fsync: " + Self.errnoText() }
        }
        close(fd)
        if failure == nil, rename(temporary, host) != 0 { failure = "rename: " + Self.errnoText() }
        if let failure {
            unlink(temporary)
            throw HostError(
                "fixup-write", "cannot write \(describe(path)); the old file is untouched", cause: "\(failure) (is the filesystem full or read-only?)")
        }
    }

    /// Removes the file (or symlink: never its target) at `path`; true when something was removed.
    @discardableResult
    func remove(_ path: String) throws -> Bool {
        let host = try resolve(path, followLast: false)
        if unlink(host) == 0 { return true }
        if errno == ENOENT { return false }
        throw HostError("fixup-remove", "cannot remove \(describe(path))", cause: Self.errnoText())
    }

    // MARK: helpers

    static func isSymlink(_ host: String) -> Bool {
        var st = stat()
        return lstat(host, &st) == 0 && (st.st_mode & S_IFMT) == S_IFLNK
    }

    static func errnoText(_ code: Int32 = errno) -> String {
        String(cString: strerror(code)) + " (errno \(code))"
    }

    /// Copies every extended attribute (SELinux label, ACLs, capabilities) of `source` onto `fd`; best effort.
    /// (Glibc's Swift module leaves out <sys/xattr.h>: the three libc functions are looked up by name.)
    private static func copyExtendedAttributes(from source: String, to fd: Int32) {
        typealias List = @convention(c) (UnsafePointer<CChar>, UnsafeMutablePointer<CChar>?, Int) -> Int
        typealias Get = @convention(c) (UnsafePointer<CChar>, UnsafePointer<CChar>, UnsafeMutableRawPointer?, Int) -> Int
        typealias Set = @convention(c) (Int32, UnsafePointer<CChar>, UnsafeRawPointer?, Int, Int32) -> Int32
        let libc = dlopen(nil, RTLD_NOW)
        guard let l = dlsym(libc, "llistxattr"), let g = dlsym(libc, "lgetxattr"), let s = dlsym(libc, "fsetxattr") else { return }
        let list = unsafeBitCast(l, to: List.self)
        let get = unsafeBitCast(g, to: Get.self)
        let set = unsafeBitCast(s, to: Set.self)
        let size = list(source, nil, 0)
        guard size > 0 else { return }
        var names = [CChar](repeating: 0, count: size)
        let got = list(source, &names, size)
        guard got > 0 else { return }
        var start = 0
        for i in 0..<got where names[i] == 0 {
            let name = String(decoding: names[start..<i].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            start = i + 1
            let length = get(source, name, nil, 0)
            guard length >= 0 else { continue }
            var value = [UInt8](repeating: 0, count: max(length, 1))
            let read = get(source, name, &value, length)
            guard read >= 0 else { continue }
            _ = set(fd, name, value, read, 0)
        }
    }
}
