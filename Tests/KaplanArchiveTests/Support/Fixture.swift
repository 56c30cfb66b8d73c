import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The source tree the round-trip tests archive: every kind of object and metadata a golden node holds.
enum Fixture {
    /// The name of the 200-byte file.
    static let longName = String(repeating: "n", count: 196) + ".txt"
    /// A UTF-8 name with accents and CJK characters.
    static let unicodeName = "résumé-日本.txt"
    /// The three names of the hard-link group.
    static let hardLinks = ["links/one", "links/two", "links/deeper/three"]
    /// Directories excluded from the archive (their entries stay, their content goes).
    static let excluded = ["var/cache", "tmp"]
    /// A file excluded by name.
    static let excludedFile = "swapfile"
    /// Paths that must not appear in the archive.
    static let excludedContent = [
        "var/cache/big.bin", "var/cache/sub", "var/cache/sub/file", "tmp/scratch", "swapfile",
    ]
    /// A fixed timestamp with nanoseconds.
    static let stamp = timespec(tv_sec: 1_600_000_000, tv_nsec: 123_456_789)

    /// Builds the tree at `root`; root-only parts (devices, foreign owners, security.* xattrs) need euid 0.
    static func build(at root: String, sparse: Bool = true) throws {
        func path(_ relative: String) -> String { root + "/" + relative }
        func mkdirs(_ relative: String, _ mode: mode_t = 0o755) throws {
            try FileManager.default.createDirectory(atPath: path(relative), withIntermediateDirectories: true)
            try posix(chmod(path(relative), mode), "chmod \(relative)")
        }

        try mkdirs("etc")
        try writeFile(path("etc/empty"), [])
        try writeFile(path("etc/hostname"), Array("golden\n".utf8))
        try writeFile(path("etc/medium.bin"), pseudoRandomBytes(100 * 1024 + 17, seed: 11))
        try writeFile(path("big.bin"), pseudoRandomBytes(3 << 20, seed: 12))
        try writeFile(path(longName), Array("long\n".utf8))
        try mkdirs("données")
        try writeFile(path("données/" + unicodeName), Array("unicode\n".utf8))

        try mkdirs("a/b/c")
        try writeFile(path("a/b/c/deep.txt"), Array("deep\n".utf8))
        try mkdirs("shared", 0o1777)
        try mkdirs("private", 0o700)
        try writeFile(path("private/secret"), Array("secret\n".utf8))
        try posix(chmod(path("private/secret"), 0o600), "chmod secret")
        try writeFile(path("setuid-tool"), Array("#!/bin/sh\n".utf8))
        try posix(chmod(path("setuid-tool"), 0o4755), "chmod setuid")

        try mkdirs("links/deeper")
        try writeFile(path(hardLinks[0]), pseudoRandomBytes(9000, seed: 13))
        for other in hardLinks.dropFirst() { try posix(link(path(hardLinks[0]), path(other)), "link \(other)") }

        try posix(symlink("../etc/hostname", path("links/relative")), "symlink relative")
        try posix(symlink("/etc/hostname", path("links/absolute")), "symlink absolute")
        try posix(symlink("does/not/exist", path("links/dangling")), "symlink dangling")
        try posix(mkfifo(path("fifo"), 0o620), "mkfifo")

        if sparse {
            // 64 MiB with two 1 MiB data extents, at 0 and at 40 MiB; the rest is holes.
            let descriptor = open(path("sparse.img"), O_CREAT | O_WRONLY, 0o644)
            guard descriptor >= 0 else { throw TestFailure("open sparse.img") }
            defer { close(descriptor) }
            for (index, offset) in [0, 40 << 20].enumerated() {
                let data = pseudoRandomBytes(1 << 20, seed: UInt64(20 + index))
                let written = data.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, off_t(offset)) }
                guard written == data.count else { throw TestFailure("pwrite sparse.img") }
            }
            try posix(ftruncate(descriptor, 64 << 20), "ftruncate sparse.img")
        }

        // Written zeros are allocated on the golden and must stay allocated (a swap file would break otherwise).
        try writeFile(path("zeros.bin"), [UInt8](repeating: 0, count: 1 << 20))

        try mkdirs("var/cache", 0o750)
        try writeFile(path("var/cache/big.bin"), pseudoRandomBytes(200_000, seed: 30))
        try mkdirs("var/cache/sub")
        try writeFile(path("var/cache/sub/file"), Array("cached\n".utf8))
        try mkdirs("tmp", 0o1777)
        try writeFile(path("tmp/scratch"), Array("scratch\n".utf8))
        try writeFile(path(excludedFile), pseudoRandomBytes(4096, seed: 31))

        try shell("setfattr -n user.kaplan -v golden-value \(quoted(path("etc/hostname")))")
        try shell("setfattr -n user.binary -v 0x00ff10 \(quoted(path("big.bin")))")
        try shell("setfacl -m u:1234:rwx,g:5678:r-x \(quoted(path("etc/medium.bin")))")
        try shell("setfacl -m u:1234:rwx -d -m u:1234:rwx,g:5678:r-x \(quoted(path("shared")))")

        if runningAsRoot {
            try mkdirs("dev")
            try posix(mknod(path("dev/null"), S_IFCHR | 0o666, makedev(1, 3)), "mknod char")
            try posix(mknod(path("dev/loop-ish"), S_IFBLK | 0o660, makedev(7, 200)), "mknod block")
            try shell("setfattr -n security.kaplan -v sec-value \(quoted(path("etc/hostname")))")
            // A file capability: chown clears it, so the extractor must set it after the owner.
            try shell("setcap cap_net_raw+ep \(quoted(path("setuid-tool")))")
            for relative in ["etc/medium.bin", "private", "private/secret", "var/cache", "links/relative"] {
                try posix(lchown(path(relative), 1234, 5678), "lchown \(relative)")
            }
        }

        // Fixed times last (and leaves first), since creating entries changes their directory's mtime.
        let timed = ["etc/hostname", "big.bin", "links/relative", "var/cache", "private", "a/b/c", "a/b", "a", "."]
        for relative in timed {
            var times = [stamp, stamp]
            try posix(
                utimensat(AT_FDCWD, relative == "." ? root : path(relative), &times, AT_SYMLINK_NOFOLLOW),
                "utimensat \(relative)")
        }
    }
}

/// glibc's `makedev` (a macro Swift cannot import).
func makedev(_ major: UInt64, _ minor: UInt64) -> dev_t {
    dev_t(((major & 0xffff_f000) << 32) | ((major & 0xfff) << 8) | ((minor & 0xffff_ff00) << 12) | (minor & 0xff))
}
