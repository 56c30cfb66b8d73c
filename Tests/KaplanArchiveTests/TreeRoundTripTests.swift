import KaplanDigest
import Foundation
import KaplanArchive
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Archive a tree holding every kind of object and metadata, extract it elsewhere, and compare the two trees.
@Suite(.serialized) struct TreeRoundTripTests {
    @Test(
        "round trip through the push API with zstd, 7 KiB chunks",
        .enabled(if: runningAsRoot, "device nodes, foreign owners and security.* xattrs need root"))
    func pushZstd() throws {
        try withScratchDirectories { directories in
            let (source, destination) = (directories[0], directories[1])
            try Fixture.build(at: source)
            let archiver = TreeArchiver(
                root: source, excluding: Fixture.excluded + [Fixture.excludedFile], compression: .zstd(level: 3))
            let (archived, extracted) = try streamTree(archiver, into: destination)
            try verify(source: source, destination: destination, archived: archived, extracted: extracted)
            let counts = archived.statistics
            print(
                "round trip (zstd): \(counts.entries) entries, \(counts.fileBytes) file bytes, "
                    + "\(counts.archiveBytes) pax bytes, \(counts.compressedBytes) compressed")
        }
    }

    @Test(
        "round trip through the pull API without compression, 7 KiB chunks",
        .enabled(if: runningAsRoot, "device nodes, foreign owners and security.* xattrs need root"))
    func pullUncompressed() throws {
        try withScratchDirectories { directories in
            let (source, destination) = (directories[0], directories[1])
            try Fixture.build(at: source)
            let archiver = TreeArchiver(
                root: source, excluding: Fixture.excluded + [Fixture.excludedFile], compression: .none)
            let (archived, stream) = try archiveToMemory(archiver)
            #expect(Int64(stream.count) == archived.statistics.compressedBytes)
            // Holes are not in the stream: 64 MiB sparse file, ~6 MiB of real data in the whole tree.
            #expect(stream.count < 12 << 20)
            let extracted = try extract(stream, into: destination)
            try verify(source: source, destination: destination, archived: archived, extracted: extracted)
        }
    }

    /// The archiver stops at mountpoints: the mounted directory is archived, its content is not.
    @Test("does not cross mountpoints", .enabled(if: runningAsRoot, "mount needs root"))
    func staysOnOneFilesystem() throws {
        try withScratchDirectories { directories in
            let (source, destination) = (directories[0], directories[1])
            try FileManager.default.createDirectory(atPath: source + "/mnt", withIntermediateDirectories: true)
            try writeFile(source + "/outside", Array("here\n".utf8))
            try shell("mount -t tmpfs -o size=1m kaplan-test \(quoted(source + "/mnt"))")
            defer { _ = try? shell("umount \(quoted(source + "/mnt"))") }
            try writeFile(source + "/mnt/inside", Array("other filesystem\n".utf8))
            let (archived, extracted) = try streamTree(TreeArchiver(root: source), into: destination)
            let paths = archived.manifest.entries.map(\.path)
            #expect(paths.contains("mnt"))
            #expect(paths.contains("outside"))
            #expect(!paths.contains("mnt/inside"))
            #expect(try TreeSnapshot.names(destination + "/mnt").isEmpty)
            #expect(archived.manifest == extracted.manifest)
        }
    }

    /// A socket cannot go into a tar archive: it is reported, not archived, and does not fail the run.
    @Test func skipsSockets() throws {
        try withScratchDirectories { directories in
            let (source, destination) = (directories[0], directories[1])
            try writeFile(source + "/file", Array("x".utf8))
            try shell("python3 -c \"import socket; socket.socket(socket.AF_UNIX).bind('\(source)/sock')\"")
            let (archived, extracted) = try streamTree(
                TreeArchiver(root: source, excluding: ["nothing/here"]), into: destination)
            #expect(archived.skipped == ["sock"])
            #expect(archived.unmatchedExclusions == ["nothing/here"])
            #expect(archived.manifest.entries.map(\.path).sorted() == [".", "file"])
            #expect(extracted.manifest == archived.manifest)
        }
    }

    /// The name is refused, and the failed archiver sends nothing more: in particular no end-of-archive that
    /// libarchive would flush on its own when the unclosed writer is freed.
    @Test func refusesTheReservedTrailerName() throws {
        try withScratchDirectories(1) { directories in
            try writeFile(directories[0] + "/.kaplan-archive-trailer", [])
            try writeFile(directories[0] + "/other", Array("other\n".utf8))
            var delivered = 0
            #expect {
                _ = try TreeArchiver(root: directories[0], compression: .none).archive { delivered += $0.count }
            } throws: { ($0 as? ArchiveError)?.kind == .reservedName }
            #expect(delivered == 0)
        }
    }

    @Test func rejectsMissingRootAndBadExclusions() throws {
        #expect(throws: ArchiveError.self) { _ = try archiveToMemory(TreeArchiver(root: "/nonexistent/kaplan")) }
        try withScratchDirectories(1) { directories in
            #expect {
                _ = try archiveToMemory(TreeArchiver(root: directories[0], excluding: ["../etc"]))
            } throws: { ($0 as? ArchiveError)?.kind == .invalidArgument }
            return ()
        }
    }

    private func verify(
        source: String, destination: String, archived: ArchiveResult, extracted: ExtractionResult
    ) throws {
        let golden = try TreeSnapshot(root: source)
        let clone = try TreeSnapshot(root: destination)

        // Same set of paths: everything but the content of excluded directories and the excluded file.
        var expected = Set(golden.nodes.keys)
        for path in golden.nodes.keys
        where Fixture.excludedContent.contains(where: { path == $0 || path.hasPrefix($0 + "/") }) {
            expected.remove(path)
        }
        #expect(Set(clone.nodes.keys) == expected)

        // Content, type, mode, owner, mtime (ns), device numbers, link targets, xattrs (ACLs included).
        for path in expected.sorted() {
            guard let want = golden.nodes[path], let got = clone.nodes[path] else { continue }
            if path == "." || Fixture.excluded.contains(path) {
                var wantDirectory = want
                wantDirectory.size = got.size
                #expect(got == wantDirectory, "\(path)")
            } else {
                #expect(got == want, "\(path)")
            }
        }

        // Hard links: one inode for the group.
        let identities = Set(Fixture.hardLinks.compactMap { clone.identities[$0] })
        #expect(identities.count == 1)
        #expect(archived.manifest.entries.filter { $0.kind == .hardlink }.count == 2)

        // The sparse file keeps its holes.
        let allocated = (clone.blocks["sparse.img"] ?? 0) * 512
        #expect(clone.nodes["sparse.img"]?.size == 64 << 20)
        #expect(allocated > 0 && allocated <= 4 << 20, "sparse.img allocates \(allocated) bytes")

        // Written zeros stay written.
        #expect((clone.blocks["zeros.bin"] ?? 0) * 512 >= 1 << 20)

        // Excluded directories: present, empty, with their mode and owner.
        for directory in Fixture.excluded {
            #expect(try TreeSnapshot.names(destination + "/" + directory).isEmpty)
        }
        #expect(clone.nodes["var/cache"]?.mode == 0o750)
        #expect(clone.nodes["var/cache"]?.uid == 1234)
        #expect(clone.nodes["var/cache"]?.gid == 5678)
        #expect(clone.nodes["tmp"]?.mode == 0o1777)

        // The spot checks the operator would make by hand.
        #expect(clone.nodes["dev/null"]?.rdev == UInt64(makedev(1, 3)))
        #expect(clone.nodes["links/absolute"]?.linkTarget == "/etc/hostname")
        #expect(clone.nodes["links/dangling"]?.linkTarget == "does/not/exist")
        #expect(clone.nodes["etc/hostname"]?.xattrs["security.kaplan"] == Array("sec-value".utf8))
        #expect(clone.nodes["etc/hostname"]?.mtimeNanoseconds == 123_456_789)
        #expect(clone.nodes["données/" + Fixture.unicodeName] != nil)
        #expect(clone.nodes[Fixture.longName] != nil)
        for path in ["etc/medium.bin", "shared"] {
            let command = "cd \(quoted(source)) && getfacl -n -p \(path)"
            let inClone = "cd \(quoted(destination)) && getfacl -n -p \(path)"
            let acl = try shell(command)
            #expect(acl.contains("user:1234:rwx"))
            #expect(try shell(inClone) == acl)
        }
        let sharedACL = try shell("getfacl -n -p \(quoted(destination + "/shared"))")
        #expect(sharedACL.contains("default:user:1234:rwx"))
        let capability = try shell("getcap \(quoted(destination + "/setuid-tool"))")
        #expect(capability.contains("cap_net_raw"))
        #expect(clone.nodes["setuid-tool"]?.mode == 0o4755)

        // Manifests: equal, and the file digests are sha256sum's.
        #expect(archived.manifest == extracted.manifest, "\(archived.manifest.differences(from: extracted.manifest))")
        let byPath = Dictionary(uniqueKeysWithValues: archived.manifest.entries.map { ($0.path, $0) })
        let sum = try shell("sha256sum \(quoted(source + "/big.bin"))").prefix(64)
        #expect(byPath["big.bin"]?.sha256 == String(sum))
        #expect(byPath["sparse.img"]?.sha256 == golden.nodes["sparse.img"]?.sha256)
        #expect(byPath["var/cache"]?.kind == .directory)
        #expect(byPath["var/cache/big.bin"] == nil)
        #expect(byPath[Fixture.excludedFile] == nil)
        #expect(byPath["dev/null"]?.deviceMajor == 1 && byPath["dev/null"]?.deviceMinor == 3)
        #expect(byPath["etc/hostname"]?.attributesSHA256 != nil)
        #expect(archived.unmatchedExclusions.isEmpty)
        #expect(archived.skipped.isEmpty)
        #expect(extracted.statistics.entries == archived.statistics.entries)
        #expect(extracted.statistics.fileBytes == archived.statistics.fileBytes)
        #expect(extracted.statistics.compressedBytes == archived.statistics.compressedBytes)
    }
}
