/* rv_hkdf.h - HKDF-SHA256 (RFC 5869) over libsodium's HMAC-SHA256.
 * (libsodium 1.0.18 has no crypto_kdf_hkdf_sha256_*.)
 * Noise's HKDF(ck, ikm, n) equals rv_hkdf_sha256(salt=ck, ikm, info="", 32*n).
 */
#ifndef RV_HKDF_H
#define RV_HKDF_H

#include <stddef.h>
#include <stdint.h>

enum { RV_HKDF_MAX_OUT = 255 * 32 };

void rv_hkdf_sha256_extract(uint8_t prk[32], const uint8_t *salt, size_t salt_len,
			    const uint8_t *ikm, size_t ikm_len);
int rv_hkdf_sha256_expand(uint8_t *out, size_t out_len, const uint8_t prk[32],
			  const uint8_t *info, size_t info_len);
/* extract + expand; RV_ERR_INVALID_ARG if out_len > RV_HKDF_MAX_OUT. */
int rv_hkdf_sha256(uint8_t *out, size_t out_len, const uint8_t *salt, size_t salt_len,
		   const uint8_t *ikm, size_t ikm_len, const uint8_t *info,
		   size_t info_len);

#endif
