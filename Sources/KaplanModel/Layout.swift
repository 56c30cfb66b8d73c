/// A partition table resolved against a real disk size: every partition's number, first sector and length.
/// Computed entirely in memory before anything is written (the planner, `diff` and `check` share it).
public struct Layout: Sendable, Hashable, Codable {
    /// One resolved partition.
    public struct Entry: Sendable, Hashable, Codable {
        /// The plan's partition id.
        public var id: String
        /// The partition number in the table (dos logicals start at 5).
        public var number: Int
        /// First sector.
        public var start: UInt64
        /// Length in sectors.
        public var sectors: UInt64
        /// Size in bytes.
        public var bytes: UInt64 { sectors * Layout.sectorSize }
        /// One past the last sector.
        public var end: UInt64 { start + sectors }
    }

    /// Why a layout does not fit.
    public struct Problem: Error, Sendable, Hashable {
        /// Index of the partition (in plan order) that does not fit.
        public var index: Int
        /// What is wrong, in words.
        public var message: String
    }

    /// Bytes per sector (kaplan writes 512-byte-sector tables).
    public static let sectorSize: UInt64 = 512
    /// Alignment of every partition start: 1 MiB.
    public static let grain: UInt64 = 2048

    /// The table type.
    public var table: PartitionTable
    /// The disk's size in sectors.
    public var totalSectors: UInt64
    /// The partitions, in plan order.
    public var entries: [Entry]

    /// The first sector a partition may use.
    public static func firstUsable(_ table: PartitionTable) -> UInt64 { grain }

    /// The last sector a partition may use (gpt keeps 33 sectors for its backup header and entries).
    public static func lastUsable(_ table: PartitionTable, totalSectors: UInt64) -> UInt64 {
        table == .gpt ? totalSectors &- 34 : totalSectors &- 1
    }

    private static func alignUp(_ v: UInt64) -> UInt64 { (v + grain - 1) / grain * grain }

    /// Resolves `partitions` on a disk of `diskBytes`; the problem names the first partition that does not fit.
    public static func resolve(
        table: PartitionTable, partitions: [Partition], diskBytes: UInt64
    ) -> Result<Layout, Problem> {
        let total = diskBytes / sectorSize
        let lastUsable = Self.lastUsable(table, totalSectors: total)
        guard total > grain * 2, lastUsable > grain else {
            return .failure(Problem(index: 0, message: "the disk (\(ByteSize(diskBytes))) is too small for any partition table"))
        }
        func length(_ spec: SizeSpec, start: UInt64, limit: UInt64) -> UInt64 {
            switch spec {
            case .fixed(let size): return (size.bytes + sectorSize - 1) / sectorSize
            case .percent(let p): return UInt64(Double(total) * p / 100) / grain * grain
            case .fill: return limit >= start ? limit - start + 1 : 0
            }
        }
        func describe(_ p: Partition, _ need: UInt64, _ start: UInt64, _ limit: UInt64, _ inside: String) -> Problem {
            let index = partitions.firstIndex(of: p) ?? 0
            let left = limit >= start ? (limit - start + 1) * sectorSize : 0
            return Problem(
                index: index,
                message: "partition '\(p.id)' (\(p.size)) needs \(ByteSize(need * sectorSize)) at \(ByteSize(start * sectorSize)) but only \(ByteSize(left)) remain \(inside)")
        }
        var entries: [Entry] = []
        var cursor = firstUsable(table)
        var primaryNumber = 0
        var logicalNumber = 4
        var extended: Entry? = nil
        var logicalCursor: UInt64 = 0
        for p in partitions {
            if p.logical, let ext = extended {
                // Each logical partition is preceded by its EBR: one grain of gap.
                let start = alignUp(logicalCursor) + grain
                let limit = ext.end - 1
                let need = length(p.size, start: start, limit: limit)
                guard need > 0, start + need - 1 <= limit else {
                    return .failure(describe(p, max(need, 1), start, limit, "in extended partition '\(ext.id)'"))
                }
                logicalNumber += 1
                entries.append(Entry(id: p.id, number: logicalNumber, start: start, sectors: need))
                logicalCursor = start + need
                continue
            }
            let start = alignUp(cursor)
            let need = length(p.size, start: start, limit: lastUsable)
            guard need > 0, start + need - 1 <= lastUsable else {
                return .failure(describe(p, max(need, 1), start, lastUsable, "on the \(ByteSize(diskBytes)) disk"))
            }
            primaryNumber += 1
            let entry = Entry(id: p.id, number: primaryNumber, start: start, sectors: need)
            entries.append(entry)
            cursor = start + need
            if p.type == .extended {
                extended = entry
                logicalCursor = start
            }
        }
        return .success(Layout(table: table, totalSectors: total, entries: entries))
    }
}
