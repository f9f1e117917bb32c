#include "rv_aead.h"

#include <sodium.h>

#include "rv_err.h"

int rv_aead_available(enum rv_aead alg)
{
	switch (alg) {
	case RV_AEAD_CHACHA20POLY1305:
		return 1;
	case RV_AEAD_AES256GCM:
		return sodium_init() >= 0 && crypto_aead_aes256gcm_is_available();
	default:
		return 0;
	}
}

int rv_aead_seal(enum rv_aead alg, const uint8_t key[RV_KEY_LEN],
		 const uint8_t nonce[RV_AEAD_NONCE_LEN], const uint8_t *ad, size_t ad_len,
		 const uint8_t *pt, size_t pt_len, struct rv_buf *out)
{
	unsigned long long clen = 0;
	uint8_t *c;
	int r;

	if (!rv_aead_available(alg))
		return RV_ERR_UNSUPPORTED;
	if (pt_len > SIZE_MAX - RV_TAG_LEN)
		return RV_ERR_INVALID_ARG;
	r = rv_buf_reserve(out, pt_len + RV_TAG_LEN, &c);
	if (r != RV_OK)
		return r;
	if (alg == RV_AEAD_CHACHA20POLY1305)
		r = crypto_aead_chacha20poly1305_ietf_encrypt(c, &clen, pt, pt_len, ad, ad_len,
							      NULL, nonce, key);
	else
		r = crypto_aead_aes256gcm_encrypt(c, &clen, pt, pt_len, ad, ad_len, NULL,
						  nonce, key);
	if (r != 0 || clen != pt_len + RV_TAG_LEN) {
		rv_buf_unput(out, pt_len + RV_TAG_LEN);
		return RV_ERR_CRYPTO;
	}
	return RV_OK;
}

int rv_aead_open(enum rv_aead alg, const uint8_t key[RV_KEY_LEN],
		 const uint8_t nonce[RV_AEAD_NONCE_LEN], const uint8_t *ad, size_t ad_len,
		 const uint8_t *ct, size_t ct_len, struct rv_buf *out)
{
	unsigned long long mlen = 0;
	uint8_t *m;
	int r;

	if (!rv_aead_available(alg))
		return RV_ERR_UNSUPPORTED;
	if (ct_len < RV_TAG_LEN)
		return RV_ERR_MALFORMED;
	r = rv_buf_reserve(out, ct_len - RV_TAG_LEN, &m);
	if (r != RV_OK)
		return r;
	/* libsodium verifies the tag before writing any plaintext. */
	if (alg == RV_AEAD_CHACHA20POLY1305)
		r = crypto_aead_chacha20poly1305_ietf_decrypt(m, &mlen, NULL, ct, ct_len, ad,
							      ad_len, nonce, key);
	else
		r = crypto_aead_aes256gcm_decrypt(m, &mlen, NULL, ct, ct_len, ad, ad_len,
						  nonce, key);
	if (r != 0) {
		rv_buf_unput(out, ct_len - RV_TAG_LEN);
		return RV_ERR_AUTH;
	}
	return RV_OK;
}
