import CArchive
import Foundation
import KaplanArchive
import Testing

/// Hostile archives, crafted with libarchive's writer directly: nothing may land outside the destination.
@Suite struct UnsafeEntryTests {
    /// One entry of a crafted archive.
    struct Crafted {
        var path: String
        var type: UInt32 = 0o100000
        var content: [UInt8] = Array("evil\n".utf8)
        var symlink: String? = nil
        var hardlink: String? = nil
    }

    /// A pax archive (no compression, no trailer) holding `entries`.
    static func craft(_ entries: [Crafted]) throws -> [UInt8] {
        let writer = archive_write_new()!
        defer { archive_write_free(writer) }
        #expect(archive_write_set_format_pax(writer) == ARCHIVE_OK)
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var used = 0
        let opened = buffer.withUnsafeMutableBytes {
            archive_write_open_memory(writer, $0.baseAddress, $0.count, &used)
        }
        #expect(opened == ARCHIVE_OK)
        for crafted in entries {
            let entry = archive_entry_new()!
            defer { archive_entry_free(entry) }
            archive_entry_set_pathname(entry, crafted.path)
            archive_entry_set_filetype(entry, crafted.type)
            archive_entry_set_perm(entry, 0o644)
            if let target = crafted.symlink { archive_entry_set_symlink(entry, target) }
            if let target = crafted.hardlink { archive_entry_set_hardlink(entry, target) }
            let data = crafted.type == 0o100000 && crafted.hardlink == nil ? crafted.content : []
            archive_entry_set_size(entry, Int64(data.count))
            #expect(archive_write_header(writer, entry) == ARCHIVE_OK)
            if !data.isEmpty {
                #expect(data.withUnsafeBytes { archive_write_data(writer, $0.baseAddress, $0.count) } == data.count)
            }
        }
        #expect(archive_write_close(writer) == ARCHIVE_OK)
        return Array(buffer.prefix(used))
    }

    /// Extracts `entries` into `<scratch>/dest`; `<scratch>/outside` is a sibling directory they try to reach.
    private func expectRefused(_ entries: (String) -> [Crafted], sourceLocation: SourceLocation = #_sourceLocation)
        throws
    {
        try withScratchDirectories(1) { directories in
            let destination = directories[0] + "/dest"
            let outside = directories[0] + "/outside"
            for directory in [destination, outside] {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            }
            let stream = try Self.craft(entries(outside))
            do {
                _ = try extract(stream, into: destination)
                Issue.record("the hostile archive extracted", sourceLocation: sourceLocation)
            } catch let error as ArchiveError {
                #expect(error.kind == .unsafePath, "\(error)", sourceLocation: sourceLocation)
            }
            #expect(try TreeSnapshot.names(outside).isEmpty, sourceLocation: sourceLocation)
            #expect(!FileManager.default.fileExists(atPath: directories[0] + "/evil"), sourceLocation: sourceLocation)
        }
    }

    @Test func refusesDotDot() throws {
        try expectRefused { _ in [Crafted(path: "../evil")] }
        try expectRefused { _ in [Crafted(path: "a/../../evil")] }
        try expectRefused { _ in [Crafted(path: "../outside/evil")] }
    }

    @Test func refusesAbsolutePaths() throws {
        try expectRefused { outside in [Crafted(path: outside + "/evil")] }
    }

    @Test func refusesWritingThroughASymlink() throws {
        try expectRefused { outside in
            [Crafted(path: "link", type: 0o120000, symlink: outside), Crafted(path: "link/evil")]
        }
        try expectRefused { _ in
            [Crafted(path: "up", type: 0o120000, symlink: "../outside"), Crafted(path: "up/evil")]
        }
    }

    @Test func refusesHardLinksOutOfTheTree() throws {
        try expectRefused { _ in [Crafted(path: "h", hardlink: "../outside/target")] }
        try expectRefused { outside in [Crafted(path: "h", hardlink: outside + "/target")] }
    }

    /// A hard link whose target path runs through a symlink would expose (and let later entries rewrite) a file
    /// outside the tree.
    @Test func refusesHardLinksThroughASymlink() throws {
        try withScratchDirectories(1) { directories in
            let destination = directories[0] + "/dest"
            let outside = directories[0] + "/outside"
            for directory in [destination, outside] {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            }
            try writeFile(outside + "/target", Array("precious\n".utf8))
            let stream = try Self.craft([
                Crafted(path: "link", type: 0o120000, symlink: outside),
                Crafted(path: "h", hardlink: "link/target"),
                Crafted(path: "h", content: Array("overwritten\n".utf8)),
            ])
            #expect {
                _ = try extract(stream, into: destination)
            } throws: { ($0 as? ArchiveError)?.kind == .unsafePath }
            #expect(try String(contentsOfFile: outside + "/target", encoding: .utf8) == "precious\n")
            #expect(!FileManager.default.fileExists(atPath: destination + "/h"))
        }
    }

    /// A symlink that points outside is itself fine (golden trees hold `/etc/...` links): only following it is not.
    @Test func keepsSymlinksThatPointOutside() throws {
        try withScratchDirectories(1) { directories in
            let stream = try Self.craft([Crafted(path: "abs", type: 0o120000, symlink: "/etc/passwd")])
            #expect {
                _ = try extract(stream, into: directories[0])
            } throws: { ($0 as? ArchiveError)?.kind == .truncated }
            #expect(try FileManager.default.destinationOfSymbolicLink(atPath: directories[0] + "/abs") == "/etc/passwd")
        }
    }
}
