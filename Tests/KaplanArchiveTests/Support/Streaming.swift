import KaplanArchive

/// Cuts a byte stream into pieces of `size` bytes, as a network receiver might hand them in.
struct Rechunker {
    let size: Int
    private var pending: [UInt8]
    private var filled = 0

    init(size: Int) {
        self.size = size
        pending = [UInt8](repeating: 0, count: size)
    }

    /// Adds bytes; calls `emit` for every full piece.
    mutating func add(_ bytes: UnsafeRawBufferPointer, _ emit: ([UInt8]) throws -> Void) rethrows {
        var offset = 0
        while offset < bytes.count {
            let take = min(size - filled, bytes.count - offset)
            let start = filled
            pending.withUnsafeMutableBytes { target in
                (target.baseAddress! + start).copyMemory(from: bytes.baseAddress! + offset, byteCount: take)
            }
            filled += take
            offset += take
            if filled == size {
                try emit(pending)
                filled = 0
            }
        }
    }

    /// Emits what is left.
    mutating func flush(_ emit: ([UInt8]) throws -> Void) rethrows {
        if filled > 0 { try emit(Array(pending[0..<filled])) }
        filled = 0
    }
}

/// Archives `root` straight into an extraction session on `destination`, in pieces of `chunk` bytes.
func streamTree(
    _ archiver: TreeArchiver, into destination: String, chunk: Int = 7 * 1024, bufferLimit: Int = 1 << 20
) throws -> (ArchiveResult, ExtractionResult) {
    let session = try TreeExtractor(destination: destination).start(bufferLimit: bufferLimit)
    var rechunker = Rechunker(size: chunk)
    let archived = try archiver.archive { bytes in
        try rechunker.add(bytes) { try session.feed($0) }
    }
    try rechunker.flush { try session.feed($0) }
    return (archived, try session.finish())
}

/// Archives `archiver`'s tree into memory.
func archiveToMemory(_ archiver: TreeArchiver) throws -> (ArchiveResult, [UInt8]) {
    var stream: [UInt8] = []
    let result = try archiver.archive { stream.append(contentsOf: $0) }
    return (result, stream)
}

/// Extracts `stream` into `destination` through the pull API, `chunk` bytes at a time.
func extract(_ stream: [UInt8], into destination: String, chunk: Int = 7 * 1024) throws -> ExtractionResult {
    var offset = 0
    return try TreeExtractor(destination: destination).extract {
        guard offset < stream.count else { return nil }
        let end = min(offset + chunk, stream.count)
        defer { offset = end }
        return Array(stream[offset..<end])
    }
}
