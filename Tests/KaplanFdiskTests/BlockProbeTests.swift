import Foundation
import KaplanFdisk
import Testing

@Suite("BlockProbe reads filesystems and tables without writing")
struct BlockProbeTests {
    @Test func ext4InsideAPartitionRegionOfAnImage() throws {
        let scratch = try ScratchDirectory()
        let image = try scratch.sparseImage("disk.img", bytes: 64 * mebibyte)
        do {
            let disk = try DiskLabel(path: image, readOnly: false)
            try disk.createLabel(.dos)
            try disk.addPartition(PartitionSpec(number: 1, start: 2048, size: 65536, type: .mbrLinux))
            try disk.write()
        }
        let offset = 2048 * 512 as UInt64
        let size = 65536 * 512 as UInt64
        try runChecked(["mkfs.ext4", "-q", "-F", "-L", "rootfs", "-E", "offset=\(offset)", image, "\(size / 1024)k"])
        let before = try FileFingerprint(image)

        let found = try #require(try BlockProbe.probe(path: image, offset: offset, size: size))
        #expect(found.type == "ext4")
        #expect(found.label == "rootfs")
        #expect(found.usage == "filesystem")
        let uuid = try #require(found.uuid)
        #expect(uuid.count == 36)
        // The same answer as blkid(8) on a loop-free probe of that region.
        let blkid = try runChecked([
            "blkid", "--probe", "--offset", "\(offset)", "--size", "\(size)", "--match-tag", "UUID",
            "--output", "value", image,
        ])
        #expect(blkid.trimmingCharacters(in: .whitespacesAndNewlines) == uuid)

        // The whole disk: the table is still there, and no filesystem starts at sector 0.
        #expect(try BlockProbe.probeTable(path: image)?.type == .dos)
        #expect(try BlockProbe.probe(path: image) == nil)
        // A region that is all zeros.
        #expect(try BlockProbe.probe(path: image, offset: offset + size, size: 8 * mebibyte) == nil)
        #expect(try BlockProbe.probeTable(path: image, offset: offset + size, size: 8 * mebibyte) == nil)
        _ = try BlockProbe.signatures(path: image)
        _ = try BlockProbe.signatures(path: image, offset: offset, size: size)

        #expect(try FileFingerprint(image) == before, "probing modified the image")
    }

    @Test(arguments: [
        FilesystemCase(
            type: "xfs", imageMiB: 320, command: ["mkfs.xfs", "-q", "-f", "-L", "data", "-m", "uuid=UUID"],
            label: "data", uuid: "6d1a6a8e-5c0e-4c8b-9b3e-1f1f3c1e7a01"),
        FilesystemCase(
            type: "vfat", imageMiB: 33, command: ["mkfs.vfat", "-n", "BOOT", "-i", "1234ABCD"],
            label: "BOOT", uuid: "1234-ABCD"),
        FilesystemCase(
            type: "swap", imageMiB: 16, command: ["mkswap", "-L", "swap0", "-U", "UUID"],
            label: "swap0", uuid: "0b3c2f6a-2a43-4d5e-8f1a-9c7d3e2b1a00"),
        FilesystemCase(
            type: "btrfs", imageMiB: 128, command: ["mkfs.btrfs", "-q", "-f", "-L", "pool", "-U", "UUID"],
            label: "pool", uuid: "5f0e4c1a-7b2d-4e3f-a1b2-c3d4e5f60718"),
        FilesystemCase(
            type: "ext4", imageMiB: 64, command: ["mkfs.ext4", "-q", "-F", "-L", "rootfs", "-U", "UUID"],
            label: "rootfs", uuid: "2c7e1a3b-4d5f-4a6b-8c9d-0e1f2a3b4c5d"),
    ])
    func filesystemOnAWholeImage(_ fs: FilesystemCase) throws {
        let scratch = try ScratchDirectory("fs\(fs.type)")
        let image = try scratch.sparseImage("\(fs.type).img", bytes: UInt64(fs.imageMiB) * mebibyte)
        try runChecked(fs.command.map { $0.replacingOccurrences(of: "UUID", with: fs.uuid) } + [image])
        let before = try FileFingerprint(image)

        let found = try BlockProbe.probe(path: image)
        #expect(found == FilesystemInfo(type: fs.type, uuid: fs.uuid, label: fs.label, usage: found?.usage))
        #expect(found?.usage == (fs.type == "swap" ? "other" : "filesystem"))
        #expect(try BlockProbe.probeTable(path: image) == nil)
        #expect(try BlockProbe.signatures(path: image).contains { $0.type == fs.type && !$0.isPartitionTable })

        #expect(try FileFingerprint(image) == before, "probing modified \(fs.type).img")
    }

    @Test func blankImageProbesAsNothing() throws {
        let scratch = try ScratchDirectory()
        let image = try scratch.sparseImage("blank.img", bytes: 16 * mebibyte)
        #expect(try BlockProbe.probe(path: image) == nil)
        #expect(try BlockProbe.probeTable(path: image) == nil)
        #expect(try BlockProbe.signatures(path: image).isEmpty)
    }

    @Test func gptTableAndItsUUID() throws {
        let scratch = try ScratchDirectory()
        let image = try scratch.sparseImage("gpt.img", bytes: 64 * mebibyte)
        try DiskLabelTests.writeGPT(image)
        let identifier = try DiskLabel(path: image).diskIdentifier
        let table = try #require(try BlockProbe.probeTable(path: image))
        #expect(table.type == .gpt)
        #expect(table.uuid?.uppercased() == identifier)
    }

    @Test func staleSignatureMakesProbingAmbivalent() throws {
        // A vfat boot sector left in front of an ext4 (which never touches its first 1024 bytes): libblkid refuses
        // to guess, and so do we.
        let scratch = try ScratchDirectory()
        let image = try scratch.sparseImage("both.img", bytes: 64 * mebibyte)
        let fat = try scratch.sparseImage("fat.img", bytes: 33 * mebibyte)
        try runChecked(["mkfs.ext4", "-q", "-F", image])
        try runChecked(["mkfs.vfat", fat])
        try runChecked(["dd", "if=\(fat)", "of=\(image)", "bs=512", "count=1", "conv=notrunc", "status=none"])
        let before = try FileFingerprint(image)
        let error = try #require(throws: FdiskError.self) { try BlockProbe.probe(path: image) }
        #expect(error.function == "blkid_do_safeprobe")
        #expect(error.errno == nil)
        #expect(error.message.contains("wipefs"))
        let types = try BlockProbe.signatures(path: image).map(\.type)
        #expect(types.contains("vfat") && types.contains("ext4"))
        #expect(try FileFingerprint(image) == before)
    }

    @Test func missingFileThrowsENOENT() throws {
        let scratch = try ScratchDirectory()
        let missing = "\(scratch.path)/missing.img"
        let error = try #require(throws: FdiskError.self) { try BlockProbe.probe(path: missing) }
        #expect(error.function == "open")
        #expect(error.errno == ENOENT)
        #expect(error.path == missing)
    }
}

/// One filesystem to make on a whole image file and probe.
struct FilesystemCase: Sendable, CustomTestStringConvertible {
    let type: String
    let imageMiB: Int
    /// The mkfs command; the word `UUID` is replaced by ``uuid``, the image path is appended.
    let command: [String]
    let label: String
    let uuid: String

    var testDescription: String { type }
}
