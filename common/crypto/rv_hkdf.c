/* rv_hkdf.c - HKDF-SHA256 (RFC 5869).  Owner: crypto helper. */
#include "rv_hkdf.h"

#include <string.h>

#include <sodium.h>

#include "rv_err.h"

void rv_hkdf_sha256_extract(uint8_t prk[32], const uint8_t *salt, size_t salt_len,
			    const uint8_t *ikm, size_t ikm_len)
{
	static const uint8_t zero_salt[32];
	crypto_auth_hmacsha256_state st;

	/* An absent salt is HashLen zero bytes; HMAC pads an empty key with
	 * zeros to the block size, so both give the same PRK. */
	if (salt == NULL || salt_len == 0) {
		salt = zero_salt;
		salt_len = sizeof(zero_salt);
	}
	crypto_auth_hmacsha256_init(&st, salt, salt_len);
	crypto_auth_hmacsha256_update(&st, ikm, ikm_len);
	crypto_auth_hmacsha256_final(&st, prk);
	sodium_memzero(&st, sizeof(st));
}

int rv_hkdf_sha256_expand(uint8_t *out, size_t out_len, const uint8_t prk[32],
			  const uint8_t *info, size_t info_len)
{
	crypto_auth_hmacsha256_state st;
	uint8_t t[crypto_auth_hmacsha256_BYTES];
	size_t done = 0, n;
	uint8_t ctr;

	if (out_len > RV_HKDF_MAX_OUT || (out == NULL && out_len > 0) ||
	    (info == NULL && info_len > 0))
		return RV_ERR_INVALID_ARG;
	for (ctr = 1; done < out_len; ctr++) {
		/* T(i) = HMAC(PRK, T(i-1) | info | i), T(0) empty. */
		crypto_auth_hmacsha256_init(&st, prk, 32);
		if (ctr > 1)
			crypto_auth_hmacsha256_update(&st, t, sizeof(t));
		if (info_len > 0)
			crypto_auth_hmacsha256_update(&st, info, info_len);
		crypto_auth_hmacsha256_update(&st, &ctr, 1);
		crypto_auth_hmacsha256_final(&st, t);
		n = out_len - done < sizeof(t) ? out_len - done : sizeof(t);
		memcpy(out + done, t, n);
		done += n;
	}
	sodium_memzero(&st, sizeof(st));
	sodium_memzero(t, sizeof(t));
	return RV_OK;
}

int rv_hkdf_sha256(uint8_t *out, size_t out_len, const uint8_t *salt, size_t salt_len,
		   const uint8_t *ikm, size_t ikm_len, const uint8_t *info,
		   size_t info_len)
{
	uint8_t prk[32];
	int r;

	if (out_len > RV_HKDF_MAX_OUT || (salt == NULL && salt_len > 0) ||
	    (ikm == NULL && ikm_len > 0))
		return RV_ERR_INVALID_ARG;
	rv_hkdf_sha256_extract(prk, salt, salt_len, ikm, ikm_len);
	r = rv_hkdf_sha256_expand(out, out_len, prk, info, info_len);
	sodium_memzero(prk, sizeof(prk));
	return r;
}
