import Dispatch

/// Runs blocking work (a child process, libarchive, libfdisk) on a thread of its own, off Swift's
/// cooperative pool, and resumes the caller with its result.
func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async {
            do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
        }
    }
}
