import Foundation

/// A running extraction that is pushed chunks as they arrive; created by ``TreeExtractor/start(bufferLimit:)``.
///
/// The extraction runs on a thread of its own, reading from a queue of at most `bufferLimit` bytes:
/// ``feed(_:)-([UInt8])`` blocks while the queue is full (backpressure) and throws as soon as the extraction
/// has failed. ``finish()`` marks the end of the stream and waits for the tree to be complete.
public final class ExtractionSession: Sendable {
    private let state: SessionState

    init(extractor: TreeExtractor, bufferLimit: Int) throws(ArchiveError) {
        let state = SessionState(limit: max(bufferLimit, 1))
        self.state = state
        try WorkerThread.start {
            let outcome = extractor.extractOnCurrentThread(from: { () throws(ArchiveError) -> [UInt8]? in
                try state.next()
            })
            state.complete(outcome)
        }
    }

    deinit {
        state.cancel()
    }

    /// Queues the next chunk of the stream (copied); blocks while the queue is full.
    public func feed(_ bytes: UnsafeRawBufferPointer) throws(ArchiveError) {
        guard let source = bytes.baseAddress, bytes.count > 0 else { return }
        let copy = [UInt8](unsafeUninitializedCapacity: bytes.count) { buffer, count in
            UnsafeMutableRawPointer(buffer.baseAddress!).copyMemory(from: source, byteCount: bytes.count)
            count = bytes.count
        }
        try state.push(copy)
    }

    /// Queues the next chunk of the stream; blocks while the queue is full.
    public func feed(_ bytes: [UInt8]) throws(ArchiveError) {
        try state.push(bytes)
    }

    /// Marks the end of the stream and waits until the tree is written (or the extraction fails).
    public func finish() throws(ArchiveError) -> ExtractionResult {
        try state.finish().get()
    }

    /// Stops the extraction at its next read; ``finish()`` then throws a `.cancelled` error.
    public func cancel() {
        state.cancel()
    }
}

/// The queue between the feeding caller and the extraction thread, guarded by one condition variable.
private final class SessionState: @unchecked Sendable {
    private let condition = NSCondition()
    private let limit: Int
    private var chunks: [[UInt8]] = []
    private var head = 0
    private var queuedBytes = 0
    private var ended = false
    private var cancelled = false
    private var outcome: Result<ExtractionResult, ArchiveError>?

    init(limit: Int) {
        self.limit = limit
    }

    func push(_ chunk: [UInt8]) throws(ArchiveError) {
        condition.lock()
        defer { condition.unlock() }
        while queuedBytes > 0 && queuedBytes + chunk.count > limit && outcome == nil && !cancelled {
            condition.wait()
        }
        if case .failure(let error) = outcome { throw error }
        if cancelled { throw Self.cancelledError }
        if ended {
            throw ArchiveError(
                kind: .invalidArgument, function: "ExtractionSession.feed", message: "feed called after finish")
        }
        // Once the archive has ended, whatever follows (block padding) has nowhere to go.
        if outcome != nil || chunk.isEmpty { return }
        chunks.append(chunk)
        queuedBytes += chunk.count
        condition.broadcast()
    }

    /// The extraction thread's source: the next chunk, nil at the end, or the cancellation error.
    func next() throws(ArchiveError) -> [UInt8]? {
        condition.lock()
        defer { condition.unlock() }
        while head == chunks.count && !ended && !cancelled {
            condition.wait()
        }
        if cancelled { throw Self.cancelledError }
        guard head < chunks.count else { return nil }
        let chunk = chunks[head]
        chunks[head] = []
        head += 1
        if head == chunks.count || head >= 1024 {
            chunks.removeFirst(head)
            head = 0
        }
        queuedBytes -= chunk.count
        condition.broadcast()
        return chunk
    }

    func complete(_ result: Result<ExtractionResult, ArchiveError>) {
        condition.lock()
        outcome = result
        chunks = []
        head = 0
        queuedBytes = 0
        condition.broadcast()
        condition.unlock()
    }

    func finish() -> Result<ExtractionResult, ArchiveError> {
        condition.lock()
        defer { condition.unlock() }
        ended = true
        condition.broadcast()
        while outcome == nil {
            condition.wait()
        }
        return outcome!
    }

    func cancel() {
        condition.lock()
        if outcome == nil { cancelled = true }
        condition.broadcast()
        condition.unlock()
    }

    private static let cancelledError = ArchiveError(
        kind: .cancelled, function: "ExtractionSession", message: "the extraction was cancelled before the stream ended"
    )
}
