// BoringSSL's AEAD interface (include/openssl/aead.h), as compiled into every kaplan binary by swift-crypto's
// CCryptoBoringSSL target, whose build gives each BoringSSL symbol the prefix "CCryptoBoringSSL_". No library
// is linked here: KaplanCipher depends on swift-crypto's Crypto product, which brings these objects into the
// link. Should a swift-crypto release rename the prefix, the build fails at link time, never at run time.
// Only the calls KaplanCipher makes are declared; the context stays opaque (made and freed by BoringSSL).
#include <stddef.h>
#include <stdint.h>

typedef struct kaplan_boringssl_aead kaplan_aead;
typedef struct kaplan_boringssl_aead_ctx kaplan_aead_ctx;

const kaplan_aead *CCryptoBoringSSL_EVP_aead_aes_256_gcm(void);
kaplan_aead_ctx *CCryptoBoringSSL_EVP_AEAD_CTX_new(const kaplan_aead *aead, const uint8_t *key, size_t key_len,
                                                   size_t tag_len);
void CCryptoBoringSSL_EVP_AEAD_CTX_free(kaplan_aead_ctx *ctx);
int CCryptoBoringSSL_EVP_AEAD_CTX_seal_scatter(const kaplan_aead_ctx *ctx, uint8_t *out, uint8_t *out_tag,
                                               size_t *out_tag_len, size_t max_out_tag_len, const uint8_t *nonce,
                                               size_t nonce_len, const uint8_t *in, size_t in_len,
                                               const uint8_t *extra_in, size_t extra_in_len, const uint8_t *ad,
                                               size_t ad_len);
int CCryptoBoringSSL_EVP_AEAD_CTX_open_gather(const kaplan_aead_ctx *ctx, uint8_t *out, const uint8_t *nonce,
                                              size_t nonce_len, const uint8_t *in, size_t in_len,
                                              const uint8_t *in_tag, size_t in_tag_len, const uint8_t *ad,
                                              size_t ad_len);
void CCryptoBoringSSL_ERR_clear_error(void);
