/* rv_hkdf.h - HMAC-SHA256 (RFC 2104) and HKDF-SHA256 (RFC 5869).
 * Noise's HKDF(ck, ikm, n) equals rv_hkdf_sha256(salt=ck, ikm, info="", 32*n).
 *
 * HMAC is built here on OpenSSL's SHA-256 (EVP, fetched once), which uses
 * the CPU's SHA extensions: an HMAC of a short message costs about a third
 * of libsodium 1.0.18's, and the ratchet runs five per message (rv_ratchet.h),
 * a tenth of a small message's CPU.  tests/unit/crypto/test_hkdf.c checks it
 * against libsodium's HMAC and the RFC 4231 / RFC 5869 vectors.
 */
#ifndef RV_HKDF_H
#define RV_HKDF_H

#include <stddef.h>
#include <stdint.h>

enum { RV_HKDF_MAX_OUT = 255 * 32, RV_HMAC_SHA256_LEN = 32 };

/* out = HMAC-SHA256(key, m1 || m2); m2 may be NULL (m2_len 0).  Returns 0,
 * or RV_ERR_NOMEM / RV_ERR_CRYPTO (libcrypto failed: out is zeroed). */
int rv_hmac_sha256(uint8_t out[RV_HMAC_SHA256_LEN], const uint8_t *key, size_t key_len,
		   const uint8_t *m1, size_t m1_len, const uint8_t *m2, size_t m2_len);

int rv_hkdf_sha256_extract(uint8_t prk[32], const uint8_t *salt, size_t salt_len,
			   const uint8_t *ikm, size_t ikm_len);
int rv_hkdf_sha256_expand(uint8_t *out, size_t out_len, const uint8_t prk[32],
			  const uint8_t *info, size_t info_len);
/* extract + expand; RV_ERR_INVALID_ARG if out_len > RV_HKDF_MAX_OUT. */
int rv_hkdf_sha256(uint8_t *out, size_t out_len, const uint8_t *salt, size_t salt_len,
		   const uint8_t *ikm, size_t ikm_len, const uint8_t *info,
		   size_t info_len);

#endif
