import Testing

@testable import KaplanDigest

@Suite struct SHA256Tests {
    @Test func knownAnswers() {
        #expect(SHA256.hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(
            SHA256.hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        var h = SHA256()
        for _ in 0..<1000 { h.update(String(repeating: "a", count: 1000)) }
        #expect(h.hex() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func zerosAndRawBuffersMatchPlainBytes() {
        var a = SHA256()
        a.update([1, 2, 3] as [UInt8])
        a.updateZeros(count: 200_000)
        var b = SHA256()
        let bytes: [UInt8] = [1, 2, 3] + [UInt8](repeating: 0, count: 200_000)
        bytes.withUnsafeBytes { b.update($0) }
        #expect(a.hex() == b.hex())
        #expect(SHA256.hex(bytes) == a.finalizeHex())
    }
}
