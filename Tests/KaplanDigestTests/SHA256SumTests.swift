import Foundation
import KaplanDigest
import Testing

@Suite struct SHA256SumTests {
    @Test func knownVectors() {
        #expect(SHA256.hex([UInt8]()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(
            SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    /// Sizes around the 55/56/64-byte padding boundaries, and a large one, against coreutils' sha256sum.
    @Test func matchesSha256sum() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kaplan-sha-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let sizes = [0, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 1000, 4096, 65_537, 3 << 20]
        for (index, size) in sizes.enumerated() {
            let bytes = pseudoRandomBytes(size, seed: UInt64(index + 1))
            let file = dir.appendingPathComponent("f\(size)")
            try Data(bytes).write(to: file)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
            p.arguments = [file.path]
            let pipe = Pipe()
            p.standardOutput = pipe
            try p.run()
            let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            #expect(SHA256.hex(bytes) == out.split(separator: " ").first.map(String.init), "size \(size)")
        }
    }

    /// Feeding in uneven pieces and zero runs gives the same digest as hashing in one go.
    @Test func incrementalUpdatesAgree() {
        let bytes = pseudoRandomBytes(200_003, seed: 7) + [UInt8](repeating: 0, count: 70_001)
        var hasher = SHA256()
        var offset = 0
        var step = 1
        bytes.withUnsafeBytes { raw in
            while offset < 200_003 {
                let end = min(offset + step, 200_003)
                hasher.update(UnsafeRawBufferPointer(rebasing: raw[offset..<end]))
                offset = end
                step = step * 3 % 1021 + 1
            }
        }
        hasher.updateZeros(count: 70_001)
        #expect(hasher.finalizeHex() == SHA256.hex(bytes))
    }

    /// Prints the hashing speed of this build, for reading the throughput figures.
    @Test func speed() {
        let bytes = [UInt8](repeating: 0x5a, count: 32 << 20)
        let start = ContinuousClock.now
        let digest = SHA256.hex(bytes)
        let seconds = (ContinuousClock.now - start) / .seconds(1)
        print("SHA-256 of 32 MiB: \(String(format: "%.0f", 32 / seconds)) MiB/s (\(digest.prefix(8)))")
    }
}

/// Deterministic bytes (xorshift), so a failure can be reproduced.
func pseudoRandomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    var out = [UInt8]()
    out.reserveCapacity(count)
    for _ in 0..<count {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        out.append(UInt8(truncatingIfNeeded: state))
    }
    return out
}
