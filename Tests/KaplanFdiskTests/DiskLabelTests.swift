import Foundation
import KaplanFdisk
import Testing

@Suite("DiskLabel on sparse image files")
struct DiskLabelTests {
    /// 64 MiB = 131072 sectors of 512 bytes.
    static let diskBytes: UInt64 = 64 * mebibyte

    static let dosLayout: [PartitionSpec] = [
        PartitionSpec(number: 1, start: 2048, size: 32768, type: .mbrLinux, bootable: true),
        PartitionSpec(number: 2, start: 34816, size: 16384, type: .mbrLinuxSwap),
        PartitionSpec(number: 3, start: 51200, size: 79872, type: .mbrExtended, kind: .extended),
        PartitionSpec(number: 5, start: 53248, size: 20480, type: .mbrLinux, kind: .logical),
        PartitionSpec(number: 6, start: 75776, size: 20480, type: .mbrLinux, kind: .logical),
    ]

    static let gptLayout: [PartitionSpec] = [
        PartitionSpec(number: 1, start: 2048, size: 16384, type: .gptEFISystem, name: "EFI system"),
        PartitionSpec(number: 2, start: 18432, size: 2048, type: .gptBIOSBoot, name: "bios"),
        PartitionSpec(number: 3, start: 20480, size: 81920, type: .gptLinuxFilesystem, name: "root"),
        PartitionSpec(number: 4, start: 102400, size: 20480, type: .gptLinuxSwap, name: "swap"),
    ]

    @Test func freshImageHasGeometryAndNoLabel() throws {
        let scratch = try ScratchDirectory()
        let image = try scratch.sparseImage("blank.img", bytes: Self.diskBytes)
        let disk = try DiskLabel(path: image, readOnly: true)
        #expect(disk.sectorSize == 512)
        #expect(disk.totalSectors == 131072)
        #expect(disk.sizeInBytes == Self.diskBytes)
        #expect(disk.grainSize == mebibyte)
        #expect(disk.firstUsableLBA == 2048)
        #expect(disk.labelType == nil)
        #expect(disk.diskIdentifier == nil)
        #expect(disk.collision == nil)
        #expect(try disk.partitions().isEmpty)
    }

    @Test func dosPrimariesExtendedAndLogicalsRoundTrip() throws {
        let scratch = try ScratchDirectory()
        let image = try scratch.sparseImage("dos.img", bytes: Self.diskBytes)
        let identifier: String?
        do {
            let disk = try DiskLabel(path: image, readOnly: false)
            try disk.createLabel(.dos)
            for spec in Self.dosLayout { try disk.addPartition(spec) }
            identifier = disk.diskIdentifier
            try disk.write()
        }

        let disk = try DiskLabel(path: image, readOnly: true)
        #expect(disk.labelType == .dos)
        #expect(disk.diskIdentifier == identifier)
        #expect(disk.lastUsableLBA == 131071)
        let partitions = try disk.partitions()
        #expect(partitions.map(\.number) == [1, 2, 3, 5, 6])
        for (read, spec) in zip(partitions, Self.dosLayout) {
            #expect(read.number == spec.number)
            #expect(read.start == spec.start)
            #expect(read.size == spec.size)
            #expect(read.type == spec.type)
            #expect(read.kind == spec.kind)
            #expect(read.bootable == spec.bootable)
            #expect(read.start % 2048 == 0, "partition \(read.number) is not 1 MiB-aligned")
            #expect(read.name == nil)
            #expect(read.uuid == nil)
        }
        #expect(partitions.map(\.isExtended) == [false, false, true, false, false])
        #expect(partitions.map(\.isLogical) == [false, false, false, true, true])
        #expect(partitions[0].typeName == "Linux")

        // An independent reader agrees: sfdisk's dump of the written table.
        let dump = try runChecked(["sfdisk", "--dump", image])
        #expect(dump.contains("label: dos"))
        #expect(dump.contains("\(image)1 : start=        2048, size=       32768, type=83, bootable"))
        #expect(dump.contains("\(image)2 : start=       34816, size=       16384, type=82"))
        #expect(dump.contains("\(image)3 : start=       51200, size=       79872, type=5"))
        #expect(dump.contains("\(image)5 : start=       53248, size=       20480, type=83"))
        #expect(dump.contains("\(image)6 : start=       75776, size=       20480, type=83"))

        // And libblkid sees the same table and identifier.
        let table = try BlockProbe.probeTable(path: image)
        #expect(table?.type == .dos)
        #expect(identifier.map { "0x" + (table?.uuid ?? "") == $0 } == true)
    }

    @Test func dosEBRsSitOneGrainBeforeEachLogical() throws {
        let scratch = try ScratchDirectory()
        let image = try scratch.sparseImage("ebr.img", bytes: Self.diskBytes)
        do {
            let disk = try DiskLabel(path: image, readOnly: false)
            try disk.createLabel(.dos)
            for spec in Self.dosLayout { try disk.addPartition(spec) }
            try disk.write()
        }
        // The first EBR is the extended partition's first sector; the next one sits 2048 sectors before logical 6.
        for ebr: UInt64 in [51200, 75776 - 2048] {
            let signature = try readBytes(image, offset: ebr * 512 + 510, count: 2)
            #expect(signature == [0x55, 0xAA], "no EBR at sector \(ebr)")
        }
        // Each EBR: entry 1 = its logical partition, relative to the EBR; entry 2 = link to the next EBR,
        // relative to the extended partition's start.
        func entry(_ ebr: UInt64, _ index: UInt64) throws -> (start: UInt32, size: UInt32) {
            let bytes = try readBytes(image, offset: ebr * 512 + 446 + 16 * index, count: 16)
            func le(_ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(bytes[at + $1]) << (8 * $1) } }
            return (le(8), le(12))
        }
        #expect(try entry(51200, 0) == (2048, 20480))
        #expect(try entry(51200, 1) == (73728 - 51200, 2048 + 20480))
        #expect(try entry(73728, 0) == (2048, 20480))
        #expect(try entry(73728, 1) == (0, 0))
    }

    @Test func deletingALogicalRenumbersTheOnesAfterIt() throws {
        let scratch = try ScratchDirectory()
        let image = try scratch.sparseImage("delete.img", bytes: Self.diskBytes)
        let disk = try DiskLabel(path: image, readOnly: false)
        try disk.createLabel(.dos)
        for spec in Self.dosLayout { try disk.addPartition(spec) }
        try disk.deletePartition(number: 5)
        let left = try disk.partitions()
        #expect(left.map(\.number) == [1, 2, 3, 5])
        #expect(left.last?.start == 75776)
        #expect(throws: FdiskError.self) { try disk.deletePartition(number: 0) }
    }

    @Test func gptWithNamesAndTypesRoundTrips() throws {
        let scratch = try ScratchDirectory()
        let image = try scratch.sparseImage("gpt.img", bytes: Self.diskBytes)
        let identifier: String?
        do {
            let disk = try DiskLabel(path: image, readOnly: false)
            try disk.createLabel(.gpt)
            for spec in Self.gptLayout { try disk.addPartition(spec) }
            identifier = disk.diskIdentifier
            try disk.write()
        }

        let disk = try DiskLabel(path: image, readOnly: true)
        #expect(disk.labelType == .gpt)
        #expect(disk.diskIdentifier == identifier)
        #expect(identifier?.count == 36)
        #expect(disk.firstUsableLBA == 2048)
        #expect(disk.lastUsableLBA == disk.totalSectors - 34)
        let partitions = try disk.partitions()
        #expect(partitions.count == 4)
        for (read, spec) in zip(partitions, Self.gptLayout) {
            #expect(read.number == spec.number)
            #expect(read.start == spec.start)
            #expect(read.size == spec.size)
            #expect(read.type == spec.type)
            #expect(read.name == spec.name)
            #expect(read.kind == .primary)
            #expect(read.bootable == false)
            #expect(read.uuid?.count == 36)
        }
        #expect(Set(partitions.compactMap(\.uuid)).count == 4)
        #expect(partitions.map(\.typeName) == ["EFI System", "BIOS boot", "Linux filesystem", "Linux swap"])

        // The backup header is the disk's last sector; the primary one is sector 1.
        let backup = try readBytes(image, offset: (disk.totalSectors - 1) * 512, count: 8)
        #expect(backup == Array("EFI PART".utf8))
        #expect(try readBytes(image, offset: 512, count: 8) == Array("EFI PART".utf8))
        // libblkid reports the primary header; it looks at the backup only once the primary is gone.
        #expect(try BlockProbe.signatures(path: image).filter { $0.type == "gpt" }.map(\.offset) == [512])
        let table = try BlockProbe.probeTable(path: image)
        #expect(table == PartitionTableInfo(type: .gpt, uuid: identifier?.lowercased()))

        let dump = try runChecked(["sfdisk", "--dump", image])
        #expect(dump.contains("last-lba: \(disk.totalSectors - 34)"))
        #expect(dump.contains("first-lba: 2048"))
        #expect(
            dump.contains("type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=\(partitions[2].uuid ?? "?"), name=\"root\"")
        )
    }

    @Test func leftoverBackupGPTHeaderIsStillASignature() throws {
        let scratch = try ScratchDirectory()
        let image = try scratch.sparseImage("backup.img", bytes: Self.diskBytes)
        try Self.writeGPT(image)
        // Destroy the primary header only (sector 1), as a careless "zero the first sectors" would.
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: image))
        try handle.seek(toOffset: 512)
        try handle.write(contentsOf: Data(count: 512))
        try handle.close()
        let gpt = try BlockProbe.signatures(path: image).filter { $0.type == "gpt" }
        #expect(gpt.map(\.offset) == [Self.diskBytes - 512])
    }

    @Test func gptLegacyBootableAttributeRoundTrips() throws {
        let scratch = try ScratchDirectory()
        let image = try scratch.sparseImage("gptboot.img", bytes: Self.diskBytes)
        do {
            let disk = try DiskLabel(path: image, readOnly: false)
            try disk.createLabel(.gpt)
            try disk.addPartition(
                PartitionSpec(start: 2048, size: 4096, type: .gptLinuxFilesystem, bootable: true, name: "boot"))
            try disk.write()
        }
        let read = try DiskLabel(path: image).partitions()
        #expect(read.map(\.bootable) == [true])
        #expect(read.first?.attributes?.contains("LegacyBIOSBootable") == true)
        #expect(read.first?.number == 1)
    }

    @Test func replacingGPTByDosWithWipeLeavesNoGPTBehind() throws {
        let scratch = try ScratchDirectory()
        let image = try scratch.sparseImage("replace.img", bytes: Self.diskBytes)
        try Self.writeGPT(image)
        #expect(try BlockProbe.signatures(path: image).contains { $0.type == "gpt" })

        do {
            let disk = try DiskLabel(path: image, readOnly: false)
            #expect(disk.labelType == .gpt)
            try disk.createLabel(.dos)
            #expect(disk.collision == "gpt")
            #expect(disk.collisionIsPartitionTable)
            #expect(!disk.willWipeSignatures)
            try disk.wipeSignatures()
            #expect(disk.willWipeSignatures)
            try disk.addPartition(PartitionSpec(number: 1, start: 2048, size: 65536, type: .mbrLinux))
            try disk.write()
        }

        #expect(try BlockProbe.probeTable(path: image)?.type == .dos)
        let left = try BlockProbe.signatures(path: image)
        #expect(left.map(\.type) == ["dos"], "left behind: \(left)")
        let wipefs = try runChecked(["wipefs", "--no-act", image])
        #expect(!wipefs.contains("gpt"), "wipefs still lists: \(wipefs)")
        #expect(!wipefs.contains("PMBR"), "wipefs still lists: \(wipefs)")
        #expect(try readBytes(image, offset: (Self.diskBytes - 512), count: 8) != Array("EFI PART".utf8))
        let reread = try DiskLabel(path: image)
        #expect(reread.labelType == .dos)
        #expect(try reread.partitions().map(\.start) == [2048])
    }

    @Test func wipeRequestedBeforeCreateLabelStillWipes() throws {
        let scratch = try ScratchDirectory()
        let image = try scratch.sparseImage("order.img", bytes: Self.diskBytes)
        try Self.writeGPT(image)
        do {
            let disk = try DiskLabel(path: image, readOnly: false)
            try disk.wipeSignatures()
            try disk.createLabel(.dos)
            #expect(disk.willWipeSignatures)
            try disk.addPartition(PartitionSpec(number: 1, start: 2048, size: 65536, type: .mbrLinux))
            try disk.write()
        }
        let left = try BlockProbe.signatures(path: image)
        #expect(left.map(\.type) == ["dos"], "left behind: \(left)")
    }

    @Test func replacingGPTByDosWithoutWipeLeavesTheGPTHeaders() throws {
        // The control for the test above: libfdisk's dos writer touches sector 0 only.
        let scratch = try ScratchDirectory()
        let image = try scratch.sparseImage("nowipe.img", bytes: Self.diskBytes)
        try Self.writeGPT(image)
        do {
            let disk = try DiskLabel(path: image, readOnly: false)
            try disk.createLabel(.dos)
            try disk.addPartition(PartitionSpec(number: 1, start: 2048, size: 65536, type: .mbrLinux))
            try disk.write()
        }
        #expect(try BlockProbe.probeTable(path: image)?.type == .dos)
        #expect(try BlockProbe.signatures(path: image).contains { $0.type == "gpt" })
    }

    @Test func readOnlyDiskNeverWrites() throws {
        let scratch = try ScratchDirectory()
        let image = try scratch.sparseImage("ro.img", bytes: Self.diskBytes)
        try Self.writeGPT(image)
        let before = try FileFingerprint(image)

        do {
            let disk = try DiskLabel(path: image, readOnly: true)
            #expect(disk.isReadOnly)
            // In-memory edits are allowed (a planner may compute the final table on a read-only handle) ...
            try disk.createLabel(.dos)
            try disk.wipeSignatures()
            try disk.addPartition(PartitionSpec(start: 2048, size: 2048, type: .mbrLinux))
            #expect(disk.labelType == .dos)
            // ... but writing is refused.
            let error = try #require(throws: FdiskError.self) { try disk.write() }
            #expect(error.function == "fdisk_write_disklabel")
            #expect(error.errno == EROFS)
            #expect(error.path == image)
        }

        #expect(try FileFingerprint(image) == before)
        #expect(try DiskLabel(path: image).labelType == .gpt)
    }

    @Test func partitionPastTheEndThrowsNamingTheFunction() throws {
        let scratch = try ScratchDirectory()
        let image = try scratch.sparseImage("end.img", bytes: Self.diskBytes)
        let disk = try DiskLabel(path: image, readOnly: false)
        try disk.createLabel(.gpt)
        let error = try #require(throws: FdiskError.self) {
            try disk.addPartition(PartitionSpec(start: 120_000, size: 20_000, type: .gptLinuxFilesystem))
        }
        #expect(error.function == "fdisk_add_partition")
        #expect(error.errno == ERANGE)
        #expect(error.path == image)
        #expect(
            error.message.hasPrefix("fdisk_add_partition on \(image) failed: Numerical result out of range (errno 34)"))
        #expect(try disk.partitions().isEmpty)
    }

    @Test func missingFileThrowsENOENT() throws {
        let scratch = try ScratchDirectory()
        let missing = "\(scratch.path)/missing.img"
        let error = try #require(throws: FdiskError.self) { try DiskLabel(path: missing) }
        #expect(error.function == "fdisk_assign_device")
        #expect(error.errno == ENOENT)
        #expect(error.message == "fdisk_assign_device on \(missing) failed: No such file or directory (errno 2)")
    }

    @Test func libfdiskRefusalQuotesItsWarning() throws {
        // A logical partition must leave room for its EBR: libfdisk itself rejects a start on the extended's first sector.
        let scratch = try ScratchDirectory()
        let image = try scratch.sparseImage("ebrgap.img", bytes: Self.diskBytes)
        let disk = try DiskLabel(path: image, readOnly: false)
        try disk.createLabel(.dos)
        try disk.addPartition(Self.dosLayout[2])
        let error = try #require(throws: FdiskError.self) {
            try disk.addPartition(PartitionSpec(start: 51200, size: 2048, type: .mbrLinux, kind: .logical))
        }
        #expect(error.function == "fdisk_add_partition")
        #expect(error.errno == ERANGE)
        #expect(error.details.contains { $0.hasPrefix("libfdisk: Start sector 51200 out of range") })
        #expect(try disk.partitions().map(\.number) == [3])
    }

    @Test func overlappingPartitionIsRefusedNotMoved() throws {
        let scratch = try ScratchDirectory()
        let image = try scratch.sparseImage("overlap.img", bytes: Self.diskBytes)
        for label in [PartitionTableType.dos, .gpt] {
            let disk = try DiskLabel(path: image, readOnly: false)
            try disk.createLabel(label)
            let type: PartitionType = label == .dos ? .mbrLinux : .gptLinuxFilesystem
            try disk.addPartition(PartitionSpec(start: 2048, size: 8192, type: type))
            let error = try #require(throws: FdiskError.self) {
                try disk.addPartition(PartitionSpec(start: 4096, size: 8192, type: type))
            }
            #expect(error.function == "fdisk_add_partition", "\(label)")
            #expect(try disk.partitions().map(\.start) == [2048], "\(label)")
        }
    }

    @Test func specsThatDoNotFitTheLabelAreRefused() throws {
        let scratch = try ScratchDirectory()
        let image = try scratch.sparseImage("mismatch.img", bytes: Self.diskBytes)
        let disk = try DiskLabel(path: image, readOnly: false)

        // No table yet.
        #expect(throws: FdiskError.self) {
            try disk.addPartition(PartitionSpec(start: 2048, size: 2048, type: .mbrLinux))
        }
        let nothing = try #require(throws: FdiskError.self) { try disk.write() }
        #expect(nothing.function == "fdisk_write_disklabel")
        #expect(nothing.errno == EINVAL)

        try disk.createLabel(.dos)
        let refused: [PartitionSpec] = [
            PartitionSpec(start: 2048, size: 2048, type: .gptLinuxFilesystem),  // GUID on dos
            PartitionSpec(start: 2048, size: 2048, type: .mbrLinux, name: "x"),  // name on dos
            PartitionSpec(start: 2048, size: 2048, type: .mbrLinux, kind: .extended),  // extended with 0x83
            PartitionSpec(start: 2048, size: 2048, type: .mbrExtended),  // primary with 0x05
            PartitionSpec(start: 2048, size: 2048, type: .mbrLinux, kind: .logical),  // no extended yet
            PartitionSpec(number: 5, start: 2048, size: 2048, type: .mbrLinux),  // primary numbered 5
        ]
        for spec in refused {
            #expect(throws: FdiskError.self, "\(spec)") { try disk.addPartition(spec) }
        }
        try disk.addPartition(PartitionSpec(number: 2, start: 8192, size: 8192, type: .mbrExtended, kind: .extended))
        #expect(throws: FdiskError.self) {  // a "primary" inside the extended one would silently become logical
            try disk.addPartition(PartitionSpec(start: 12288, size: 2048, type: .mbrLinux))
        }
        #expect(throws: FdiskError.self) {  // logicals are numbered in order
            try disk.addPartition(PartitionSpec(number: 6, start: 10240, size: 2048, type: .mbrLinux, kind: .logical))
        }
        #expect(try disk.partitions().map(\.number) == [2])

        try disk.createLabel(.gpt)
        #expect(throws: FdiskError.self) {
            try disk.addPartition(PartitionSpec(start: 2048, size: 2048, type: .mbrLinux))
        }
        #expect(throws: FdiskError.self) {
            try disk.addPartition(PartitionSpec(start: 2048, size: 2048, type: .gpt("not-a-guid")))
        }
        #expect(throws: FdiskError.self) {
            try disk.addPartition(PartitionSpec(start: 2048, size: 2048, type: .gptLinuxFilesystem, kind: .logical))
        }
        #expect(try disk.partitions().isEmpty)
    }

    @Test func filesystemAtTheStartIsReportedAsCollision() throws {
        let scratch = try ScratchDirectory()
        let image = try scratch.sparseImage("fs.img", bytes: Self.diskBytes)
        try runChecked(["mkfs.ext4", "-q", "-F", image])
        let disk = try DiskLabel(path: image, readOnly: true)
        #expect(disk.labelType == nil)
        #expect(disk.collision == "ext4")
        #expect(disk.collisionIsPartitionTable == false)
    }

    /// Writes the four-partition GPT layout to `image`.
    static func writeGPT(_ image: String) throws {
        let disk = try DiskLabel(path: image, readOnly: false)
        try disk.createLabel(.gpt)
        for spec in gptLayout { try disk.addPartition(spec) }
        try disk.write()
    }
}
