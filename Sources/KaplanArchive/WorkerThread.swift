#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Runs libarchive work on a thread of its own whose working directory is private to it.
///
/// `archive_read_disk` (3.6) `fchdir`s into every directory it walks, and `archive_write_disk` `chdir`s for
/// names longer than PATH_MAX. The working directory belongs to the whole process, so other threads would see
/// it jump around (relative paths, child processes, a busy mountpoint). On Linux the worker thread calls
/// `unshare(CLONE_FS)` first, which gives it a copy of the working directory that only it changes.
enum WorkerThread {
    /// Runs `body` on a worker thread and waits for it.
    static func run<T>(_ body: () -> T) throws(ArchiveError) -> T {
        let outcome = withoutActuallyEscaping(body) { body -> Result<T, ArchiveError> in
            var result: T? = nil
            let job = Job { result = body() }
            do throws(ArchiveError) {
                let thread = try spawn(job)
                pthread_join(thread, nil)
            } catch {
                return .failure(error)
            }
            return .success(result!)
        }
        return try outcome.get()
    }

    /// Starts `body` on a detached worker thread.
    static func start(_ body: @escaping () -> Void) throws(ArchiveError) {
        pthread_detach(try spawn(Job(body)))
    }

    /// Whether worker threads get a private working directory on this system.
    static let isolatesWorkingDirectory: Bool = unshareFunction != nil

    private final class Job {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    private static func spawn(_ job: Job) throws(ArchiveError) -> pthread_t {
        let context = Unmanaged.passRetained(job).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(
            &thread, nil,
            { context in
                let job = Unmanaged<Job>.fromOpaque(context!).takeRetainedValue()
                WorkerThread.isolate()
                job.body()
                return nil
            }, context)
        guard rc == 0 else {
            Unmanaged<Job>.fromOpaque(context).release()
            throw ArchiveError(
                kind: .system, function: "pthread_create", errno: rc,
                message: "cannot start a worker thread: \(String(cString: strerror(rc)))")
        }
        return thread
    }

    private typealias Unshare = @convention(c) (Int32) -> Int32
    private static let cloneFS: Int32 = 0x0000_0200  // CLONE_FS

    /// glibc's `unshare`, which Swift's Glibc module does not import (it sits behind `_GNU_SOURCE`).
    private static let unshareFunction: Unshare? = {
        #if os(Linux)
            guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "unshare") else { return nil }
            return unsafeBitCast(symbol, to: Unshare.self)
        #else
            return nil
        #endif
    }()

    /// Gives the calling thread its own working directory, umask and root (best effort: without it, work goes on).
    private static func isolate() {
        _ = unshareFunction?(cloneFS)
    }
}
