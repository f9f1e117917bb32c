/* rv_hkdf.h - HMAC-SHA256 (RFC 2104) and HKDF-SHA256 (RFC 5869).
 * Noise's HKDF(ck, ikm, n) equals rv_hkdf_sha256(salt=ck, ikm, info="", 32*n).
 *
 * HMAC is built here on OpenSSL's SHA-256 (its low-level calls), which uses
 * the CPU's SHA extensions: the ratchet runs five HMACs per message
 * (rv_ratchet.h), and on libsodium 1.0.18 or through EVP they were a tenth to
 * a fifth of a small message's CPU.  A key's pads are hashed once per call,
 * so HMACs under one key (HKDF-Expand's blocks, rv_hmac_sha256_two) share
 * them.  tests/unit/crypto/test_hkdf.c checks it against libsodium's HMAC and
 * the RFC 4231 / RFC 5869 vectors.  No state is kept between calls.
 */
#ifndef RV_HKDF_H
#define RV_HKDF_H

#include <stddef.h>
#include <stdint.h>

enum { RV_HKDF_MAX_OUT = 255 * 32, RV_HMAC_SHA256_LEN = 32 };

/* out = HMAC-SHA256(key, m1 || m2); m2 may be NULL (m2_len 0).  Returns 0,
 * or RV_ERR_CRYPTO (libcrypto failed: out is zeroed). */
int rv_hmac_sha256(uint8_t out[RV_HMAC_SHA256_LEN], const uint8_t *key, size_t key_len,
		   const uint8_t *m1, size_t m1_len, const uint8_t *m2, size_t m2_len);
/* out_a = HMAC-SHA256(key, a), out_b = HMAC-SHA256(key, b), the key's pads
 * hashed once (the ratchet's KDF_CK).  key is read before either output is
 * written, so an output may be key itself.  Returns
 * 0, or RV_ERR_CRYPTO with both outputs zeroed. */
int rv_hmac_sha256_two(uint8_t out_a[RV_HMAC_SHA256_LEN], const uint8_t *a, size_t a_len,
		       uint8_t out_b[RV_HMAC_SHA256_LEN], const uint8_t *b, size_t b_len,
		       const uint8_t *key, size_t key_len);

int rv_hkdf_sha256_extract(uint8_t prk[32], const uint8_t *salt, size_t salt_len,
			   const uint8_t *ikm, size_t ikm_len);
int rv_hkdf_sha256_expand(uint8_t *out, size_t out_len, const uint8_t prk[32],
			  const uint8_t *info, size_t info_len);
/* extract + expand; RV_ERR_INVALID_ARG if out_len > RV_HKDF_MAX_OUT. */
int rv_hkdf_sha256(uint8_t *out, size_t out_len, const uint8_t *salt, size_t salt_len,
		   const uint8_t *ikm, size_t ikm_len, const uint8_t *info,
		   size_t info_len);

#endif
