/// Where the executor keeps one ``JournalRecord`` per node while it runs (a file per node for `kaplan apply`,
/// memory in the simulator). The engine does no file I/O itself.
public protocol JournalStore: Sendable {
    /// The node's record, nil when there is none; throws when one exists but cannot be read (it is then ignored).
    func load(node: String) async throws -> JournalRecord?
    /// Replaces the node's record, stamping ``JournalRecord/written`` with the store's clock.
    func save(_ record: JournalRecord) async throws
    /// Removes the node's record (the node ended OK); removing a record that does not exist is no error.
    func clear(node: String) async throws
}
