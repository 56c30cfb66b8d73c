import Testing

@testable import KaplanModel

@Suite struct LayoutTests {
    let here = SourceRange.file("test.yaml")

    func part(_ id: String, _ type: PartitionType, _ size: SizeSpec, logical: Bool = false) -> Partition {
        Partition(id: id, type: type, size: size, filesystem: .none, logical: logical, range: here)
    }

    /// The KA documentation's desc file on a 10 GiB disk.
    @Test func kaDocLayoutOnDos() throws {
        let parts = [
            part("root", .linux, .fixed(ByteSize(5000 << 20))), part("swap", .swap, .fixed(ByteSize(300 << 20))),
            part("ext", .extended, .fill), part("tmp", .linux, .fixed(ByteSize(500 << 20)), logical: true),
            part("home", .linux, .fill, logical: true),
        ]
        let layout = try Layout.resolve(table: .dos, partitions: parts, diskBytes: 10 << 30).get()
        #expect(layout.entries.map(\.number) == [1, 2, 3, 5, 6])
        #expect(layout.entries[0].start == 2048)
        #expect(layout.entries[0].sectors == 5000 * 2048)
        #expect(layout.entries[1].start == 2048 + 5000 * 2048)
        for entry in layout.entries { #expect(entry.start % 2048 == 0) }
        let ext = layout.entries[2]
        #expect(ext.end == layout.totalSectors)
        // Logicals sit inside the extended partition, each behind a 1 MiB EBR gap.
        #expect(layout.entries[3].start == ext.start + 2048)
        #expect(layout.entries[4].start >= layout.entries[3].end + 2048)
        #expect(layout.entries[4].end == ext.end)
    }

    @Test func gptKeepsRoomForTheBackupHeader() throws {
        let parts = [part("esp", .efi, .fixed(ByteSize(512 << 20))), part("root", .linux, .fill)]
        let layout = try Layout.resolve(table: .gpt, partitions: parts, diskBytes: 4 << 30).get()
        #expect(layout.entries[1].end - 1 == layout.totalSectors - 34)
    }

    @Test func percentIsOfTheWholeDiskAligned() throws {
        let parts = [part("root", .linux, .percent(50)), part("var", .linux, .fill)]
        let layout = try Layout.resolve(table: .gpt, partitions: parts, diskBytes: 8 << 30).get()
        #expect(layout.entries[0].sectors == (8 << 30) / 512 / 2)
        #expect(layout.entries[0].sectors % 2048 == 0)
    }

    @Test func tooSmallDiskNamesThePartition() {
        let parts = [part("root", .linux, .fixed(ByteSize(5000 << 20))), part("swap", .swap, .fixed(ByteSize(300 << 20)))]
        let result = Layout.resolve(table: .dos, partitions: parts, diskBytes: 5 << 30)
        guard case .failure(let problem) = result else {
            Issue.record("expected a failure")
            return
        }
        #expect(problem.index == 1)
        #expect(problem.message.contains("'swap'"))
    }

    @Test func logicalsCannotOverflowTheirExtended() {
        let parts = [
            part("root", .linux, .fixed(ByteSize(100 << 20))), part("ext", .extended, .fixed(ByteSize(100 << 20))),
            part("a", .linux, .fixed(ByteSize(100 << 20)), logical: true),
        ]
        guard case .failure(let problem) = Layout.resolve(table: .dos, partitions: parts, diskBytes: 1 << 30) else {
            Issue.record("expected a failure")
            return
        }
        #expect(problem.index == 2)
        #expect(problem.message.contains("extended partition 'ext'"))
    }
}
