// The system's libcrypto (OpenSSL 3): AES-256-GCM through EVP, into buffers the caller owns.
#include <openssl/evp.h>
