import CBoringAEAD

/// AES-256-GCM with a 12-byte nonce and a 16-byte tag over BoringSSL's AEAD interface (the copy swift-crypto
/// builds into kaplan), reading and writing buffers the caller owns. swift-crypto's Swift API computes the same
/// function but takes a sealed box it builds by copying the ciphertext and returns a freshly allocated plaintext:
/// for a relay's 1 MiB chunks those copies cost more than the cipher (bench/RESULTS.md). The bytes are the same
/// either way (tests seal with one API and open with the other).
///
/// A `Key` holds one expanded key (BoringSSL's context: the AES key schedule and the GHASH key), made once per
/// stream instead of once per chunk. Sealing and opening only read it, so any number of threads may use one key
/// at once.
public enum AESGCM {
    public static let keySize = 32
    public static let nonceSize = 12
    public static let tagSize = 16

    /// One AES-256-GCM key, expanded.
    public final class Key: @unchecked Sendable {
        private let context: OpaquePointer

        /// Expands a 32-byte key; nil only when BoringSSL cannot allocate its context.
        public init?(_ key: [UInt8]) {
            precondition(key.count == AESGCM.keySize, "AES-256-GCM takes a 32-byte key")
            let made = key.withUnsafeBufferPointer {
                CCryptoBoringSSL_EVP_AEAD_CTX_new(CCryptoBoringSSL_EVP_aead_aes_256_gcm(), $0.baseAddress, $0.count, AESGCM.tagSize)
            }
            guard let made else {
                CCryptoBoringSSL_ERR_clear_error()
                return nil
            }
            context = made
        }

        deinit { CCryptoBoringSSL_EVP_AEAD_CTX_free(context) }

        /// Encrypts `plaintext` into `ciphertext` (same length; may be the same memory; empty buffers may have no
        /// address) and writes the tag. Fails only when BoringSSL itself fails.
        public func seal(nonce: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer, plaintext: UnsafeRawBufferPointer,
                         ciphertext: UnsafeMutableRawBufferPointer, tag: UnsafeMutableRawBufferPointer) -> Bool {
            precondition(nonce.count == nonceSize && tag.count == tagSize && ciphertext.count == plaintext.count)
            var tagLength = 0
            let ok = CCryptoBoringSSL_EVP_AEAD_CTX_seal_scatter(
                context, Self.out(ciphertext), Self.out(tag), &tagLength, tag.count,
                Self.bytes(nonce), nonce.count, Self.bytes(plaintext), plaintext.count, nil, 0, Self.bytes(aad), aad.count)
            guard ok == 1, tagLength == tagSize else {
                CCryptoBoringSSL_ERR_clear_error()
                return false
            }
            return true
        }

        /// Decrypts `ciphertext` into `plaintext` (same length; may be the same memory) and checks the tag: false
        /// when any bit of key, nonce, additional data, ciphertext or tag differs from what was sealed. On false the
        /// plaintext buffer holds no authenticated bytes: the caller must discard it.
        public func open(nonce: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer, ciphertext: UnsafeRawBufferPointer,
                         tag: UnsafeRawBufferPointer, plaintext: UnsafeMutableRawBufferPointer) -> Bool {
            precondition(nonce.count == nonceSize && plaintext.count == ciphertext.count)
            guard tag.count == tagSize else { return false }
            let ok = CCryptoBoringSSL_EVP_AEAD_CTX_open_gather(
                context, Self.out(plaintext), Self.bytes(nonce), nonce.count, Self.bytes(ciphertext), ciphertext.count,
                Self.bytes(tag), tag.count, Self.bytes(aad), aad.count)
            guard ok == 1 else {
                CCryptoBoringSSL_ERR_clear_error()
                return false
            }
            return true
        }

        private static func bytes(_ buffer: UnsafeRawBufferPointer) -> UnsafePointer<UInt8>? {
            buffer.baseAddress?.assumingMemoryBound(to: UInt8.self)
        }

        private static func out(_ buffer: UnsafeMutableRawBufferPointer) -> UnsafeMutablePointer<UInt8>? {
            buffer.baseAddress?.assumingMemoryBound(to: UInt8.self)
        }
    }
}
