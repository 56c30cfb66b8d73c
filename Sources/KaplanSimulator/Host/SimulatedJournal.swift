import KaplanEngine
import KaplanModel

/// An in-memory apply journal for engine tests and simulated runs: records by node, a deterministic clock
/// (`simulated write #N`), every save logged, and faults (unreadable records, failing writes).
public actor SimulatedJournal: JournalStore {
    /// The records, by node.
    public private(set) var records: [String: JournalRecord] = [:]
    /// Every save, in order: `node: last completed step`.
    public private(set) var saves: [String] = []
    private var writes = 0
    private var unreadable: Set<String> = []
    private var failingWrites = false

    /// An empty journal.
    public init() {}

    /// Puts a record in as it is (no stamping): a record left by some earlier run.
    public func put(_ record: JournalRecord) { records[record.node] = record }

    /// Makes the node's record unreadable, like a corrupt file: `load` throws until it is saved again.
    public func corrupt(node: String) { unreadable.insert(node) }

    /// Makes every later save fail (true) or succeed again (false).
    public func failWrites(_ fail: Bool) { failingWrites = fail }

    /// The node's record; throws while it is marked corrupt.
    public func load(node: String) async throws -> JournalRecord? {
        if unreadable.contains(node) {
            throw HostError("journal-corrupt", "the simulated journal of \(node) is corrupt", cause: "injected")
        }
        return records[node]
    }

    /// Stores the record stamped `simulated write #N` (throws while writes fail).
    public func save(_ record: JournalRecord) async throws {
        if failingWrites { throw HostError("journal-unwritable", "the simulated journal cannot be written", cause: "injected") }
        writes += 1
        var record = record
        record.written = "simulated write #\(writes)"
        records[record.node] = record
        unreadable.remove(record.node)
        saves.append("\(record.node): \(record.completed.last.map(\.description) ?? "-")")
    }

    /// Forgets the node's record.
    public func clear(node: String) async throws {
        records[node] = nil
        unreadable.remove(node)
    }
}

/// The simulated host takes over a table an earlier run left: it checks (read-only) that the table is there.
extension SimulatedHost: JournalResumableHost {
    /// Checks that the recorded table is on the simulated disk.
    public func attachExisting(node: String, target: Target, layout: Layout, partitions: [Partition]) async throws {
        let state = try await probe(node: node, target: target)
        for e in layout.entries {
            guard state.table == layout.table,
                state.partitions.contains(where: { $0.number == e.number && $0.start == e.start && $0.sectors == e.sectors })
            else { throw HostError("no-partition", "partition #\(e.number) of the recorded table is not on \(target.path)") }
        }
    }
}
