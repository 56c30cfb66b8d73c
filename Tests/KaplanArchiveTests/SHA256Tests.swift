import Foundation
import Testing

import KaplanArchive

@Suite struct SHA256Tests {
    @Test func knownVectors() {
        #expect(SHA256.hex([UInt8]()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(
            SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    /// Sizes around the 55/56/64-byte padding boundaries, and a large one, against coreutils' sha256sum.
    @Test func matchesSha256sum() throws {
        try withScratchDirectories(1) { directories in
            let sizes = [0, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 1000, 4096, 65_537, 3 << 20]
            for (index, size) in sizes.enumerated() {
                let bytes = pseudoRandomBytes(size, seed: UInt64(index + 1))
                let path = directories[0] + "/f\(size)"
                try writeFile(path, bytes)
                let expected = try shell("sha256sum \(quoted(path))").split(separator: " ").first.map(String.init)
                #expect(SHA256.hex(bytes) == expected, "size \(size)")
            }
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
