/* rv_ratchet_kdf.c - the three KDFs of the Double Ratchet (see
 * rv_ratchet.h for their definition).  Owner: ratchet helper.
 */
#include <string.h>

#include <sodium.h>

#include "rv_err.h"
#include "rv_hkdf.h"
#include "rv_ratchet_int.h"

int rv_ratchet_kdf_rk(uint8_t rk_out[RV_KEY_LEN], uint8_t ck_out[RV_KEY_LEN],
		      const uint8_t rk_in[RV_KEY_LEN], const uint8_t priv[RV_KEY_LEN],
		      const uint8_t pub[RV_KEY_LEN])
{
	uint8_t dh[crypto_scalarmult_BYTES];
	uint8_t okm[2 * RV_KEY_LEN];
	int r;

	/* libsodium refuses an all-zero result (low-order peer key). */
	if (crypto_scalarmult(dh, priv, pub) != 0) {
		r = RV_ERR_CRYPTO;
		goto out;
	}
	r = rv_hkdf_sha256(okm, sizeof(okm), rk_in, RV_KEY_LEN, dh, sizeof(dh),
			   (const uint8_t *)RV_KDF_INFO_ROOT, strlen(RV_KDF_INFO_ROOT));
	if (r != RV_OK)
		goto out;
	memcpy(rk_out, okm, RV_KEY_LEN);
	memcpy(ck_out, okm + RV_KEY_LEN, RV_KEY_LEN);
out:
	sodium_memzero(dh, sizeof(dh));
	sodium_memzero(okm, sizeof(okm));
	return r;
}

int rv_ratchet_kdf_ck(uint8_t ck_out[RV_KEY_LEN], uint8_t mk[RV_KEY_LEN],
		      const uint8_t ck_in[RV_KEY_LEN])
{
	const uint8_t c_msg = RV_KDF_CK_MESSAGE, c_chain = RV_KDF_CK_CHAIN;
	uint8_t next[RV_HMAC_SHA256_LEN];
	int r;

	/* Through next: on a failure ck_out (which may be ck_in) stays as it
	 * was, where rv_hmac_sha256_two zeroes its outputs. */
	r = rv_hmac_sha256_two(mk, &c_msg, 1, next, &c_chain, 1, ck_in, RV_KEY_LEN);
	if (r == RV_OK)
		memcpy(ck_out, next, RV_KEY_LEN);
	sodium_memzero(next, sizeof(next));
	return r;
}

int rv_ratchet_kdf_step(struct rv_ratchet_next *nx, const uint8_t ck_in[RV_KEY_LEN])
{
	uint8_t mk[RV_KEY_LEN];
	int r;

	r = rv_ratchet_kdf_ck(nx->ck, mk, ck_in);
	if (r == RV_OK)
		r = rv_ratchet_kdf_msg(nx->key, nx->nonce, mk);
	sodium_memzero(mk, sizeof(mk));
	if (r != RV_OK)
		sodium_memzero(nx, sizeof(*nx));
	else
		nx->valid = 1;
	return r;
}

int rv_ratchet_kdf_msg(uint8_t key[RV_KEY_LEN], uint8_t nonce[12],
		       const uint8_t mk[RV_KEY_LEN])
{
	static const uint8_t zeros[RV_KEY_LEN];
	uint8_t okm[RV_KEY_LEN + 12];
	int r;

	r = rv_hkdf_sha256(okm, sizeof(okm), zeros, sizeof(zeros), mk, RV_KEY_LEN,
			   (const uint8_t *)RV_KDF_INFO_MESSAGE, strlen(RV_KDF_INFO_MESSAGE));
	if (r == RV_OK) {
		memcpy(key, okm, RV_KEY_LEN);
		memcpy(nonce, okm + RV_KEY_LEN, 12);
	}
	sodium_memzero(okm, sizeof(okm));
	return r;
}
