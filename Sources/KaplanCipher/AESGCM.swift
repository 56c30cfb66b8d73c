import CLibcrypto

/// AES-256-GCM with a 12-byte nonce and a 16-byte tag over the system's libcrypto (OpenSSL 3), reading and writing
/// buffers the caller owns. swift-crypto computes the same function but takes a sealed box it builds by copying
/// the ciphertext and returns a freshly allocated plaintext: for a relay's 1 MiB chunks those two copies into new
/// memory (page zeroing included) were ~40 % of its receiving thread (perf, bench/RESULTS.md). The bytes are
/// the same either way (tests seal with one library and open with the other).
public enum AESGCM {
    public static let keySize = 32
    public static let nonceSize = 12
    public static let tagSize = 16
    /// EVP takes `int` lengths: longer inputs go through in pieces of this size.
    private static let piece = 1 << 30

    /// Encrypts `plaintext` into `ciphertext` (same length; may be the same memory; empty buffers may have no address) and writes the tag.
    /// Fails only when libcrypto itself fails (out of memory).
    public static func seal(key: UnsafeRawBufferPointer, nonce: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer,
                     plaintext: UnsafeRawBufferPointer, ciphertext: UnsafeMutableRawBufferPointer,
                     tag: UnsafeMutableRawBufferPointer) -> Bool {
        precondition(key.count == keySize && nonce.count == nonceSize && tag.count == tagSize && ciphertext.count == plaintext.count)
        guard let ctx = EVP_CIPHER_CTX_new() else { return false }
        defer { EVP_CIPHER_CTX_free(ctx) }
        guard EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), nil, nil, nil) == 1,
              EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, Int32(nonceSize), nil) == 1,
              EVP_EncryptInit_ex(ctx, nil, nil, key.bindMemory(to: UInt8.self).baseAddress, nonce.bindMemory(to: UInt8.self).baseAddress) == 1,
              update(ctx, aad: aad, encrypt: true)
        else { return false }
        var done = 0
        while done < plaintext.count {
            let n = min(piece, plaintext.count - done)
            var written: Int32 = 0
            guard EVP_EncryptUpdate(ctx, (ciphertext.baseAddress! + done).assumingMemoryBound(to: UInt8.self), &written,
                                    (plaintext.baseAddress! + done).assumingMemoryBound(to: UInt8.self), Int32(n)) == 1,
                  Int(written) == n
            else { return false }
            done += n
        }
        var tail = [UInt8](repeating: 0, count: 16)
        var written: Int32 = 0
        guard EVP_EncryptFinal_ex(ctx, &tail, &written) == 1, written == 0,
              EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, Int32(tagSize), tag.baseAddress) == 1
        else { return false }
        return true
    }

    /// Decrypts `ciphertext` into `plaintext` (same length; may be the same memory) and checks the tag: false when
    /// any bit of key, nonce, additional data, ciphertext or tag differs from what was sealed. On false the
    /// plaintext buffer holds unauthenticated bytes: the caller must discard it.
    public static func open(key: UnsafeRawBufferPointer, nonce: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer,
                     ciphertext: UnsafeRawBufferPointer, tag: UnsafeRawBufferPointer,
                     plaintext: UnsafeMutableRawBufferPointer) -> Bool {
        precondition(key.count == keySize && nonce.count == nonceSize && plaintext.count == ciphertext.count)
        guard tag.count == tagSize, let ctx = EVP_CIPHER_CTX_new() else { return false }
        defer { EVP_CIPHER_CTX_free(ctx) }
        guard EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), nil, nil, nil) == 1,
              EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, Int32(nonceSize), nil) == 1,
              EVP_DecryptInit_ex(ctx, nil, nil, key.bindMemory(to: UInt8.self).baseAddress, nonce.bindMemory(to: UInt8.self).baseAddress) == 1,
              update(ctx, aad: aad, encrypt: false)
        else { return false }
        var done = 0
        while done < ciphertext.count {
            let n = min(piece, ciphertext.count - done)
            var written: Int32 = 0
            guard EVP_DecryptUpdate(ctx, (plaintext.baseAddress! + done).assumingMemoryBound(to: UInt8.self), &written,
                                    (ciphertext.baseAddress! + done).assumingMemoryBound(to: UInt8.self), Int32(n)) == 1,
                  Int(written) == n
            else { return false }
            done += n
        }
        // The expected tag is only read by libcrypto; its prototype takes a mutable pointer.
        guard EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, Int32(tagSize), UnsafeMutableRawPointer(mutating: tag.baseAddress)) == 1
        else { return false }
        var tail = [UInt8](repeating: 0, count: 16)
        var written: Int32 = 0
        return EVP_DecryptFinal_ex(ctx, &tail, &written) == 1 && written == 0
    }

    /// Feeds the additional data (no output).
    private static func update(_ ctx: OpaquePointer, aad: UnsafeRawBufferPointer, encrypt: Bool) -> Bool {
        var done = 0
        while done < aad.count {
            let n = min(piece, aad.count - done)
            var written: Int32 = 0
            let input = (aad.baseAddress! + done).assumingMemoryBound(to: UInt8.self)
            let ok = encrypt ? EVP_EncryptUpdate(ctx, nil, &written, input, Int32(n)) : EVP_DecryptUpdate(ctx, nil, &written, input, Int32(n))
            guard ok == 1 else { return false }
            done += n
        }
        return true
    }
}
