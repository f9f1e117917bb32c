/* rv_hkdf.c - HMAC-SHA256 and HKDF-SHA256.  Owner: crypto helper. */
#include "rv_hkdf.h"

#include <pthread.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sodium.h>

#include "rv_err.h"

enum { HMAC_BLOCK = 64 };

static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;
static EVP_MD *hmac_md;

static void hmac_fetch_md(void)
{
	/* As in rv_aead.c: no openssl.cnf. */
	if (OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, NULL) != 1)
		return;
	hmac_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

struct hmac_part {
	const uint8_t *p;
	size_t len;
};

/* One digest: out = SHA-256(parts[0] || ... ); empty parts are skipped. */
static int hmac_digest(EVP_MD_CTX *ctx, uint8_t out[RV_HMAC_SHA256_LEN],
		       const struct hmac_part *parts, size_t n_parts)
{
	unsigned int n = 0;
	size_t i;

	if (EVP_DigestInit_ex2(ctx, hmac_md, NULL) != 1)
		return RV_ERR_CRYPTO;
	for (i = 0; i < n_parts; i++)
		if (parts[i].len > 0 && EVP_DigestUpdate(ctx, parts[i].p, parts[i].len) != 1)
			return RV_ERR_CRYPTO;
	if (EVP_DigestFinal_ex(ctx, out, &n) != 1 || n != RV_HMAC_SHA256_LEN)
		return RV_ERR_CRYPTO;
	return RV_OK;
}

/* out = HMAC-SHA256(key, msg[0] || ... || msg[n_msg - 1]), n_msg <= 3. */
static int hmac_parts(uint8_t out[RV_HMAC_SHA256_LEN], const uint8_t *key, size_t key_len,
		      const struct hmac_part *msg, size_t n_msg)
{
	uint8_t k[HMAC_BLOCK], pad[HMAC_BLOCK], inner[RV_HMAC_SHA256_LEN];
	struct hmac_part parts[4];
	EVP_MD_CTX *ctx = NULL;
	size_t i;
	int r = RV_ERR_CRYPTO;

	memset(k, 0, sizeof(k));
	if (n_msg > 3 || pthread_once(&hmac_once, hmac_fetch_md) != 0 || hmac_md == NULL)
		goto out;
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL) {
		r = RV_ERR_NOMEM;
		goto out;
	}
	/* RFC 2104: a key longer than a block is hashed first; the key is
	 * zero-padded to the block. */
	if (key_len > HMAC_BLOCK) {
		parts[0].p = key;
		parts[0].len = key_len;
		r = hmac_digest(ctx, k, parts, 1);
		if (r != RV_OK)
			goto out;
	} else if (key_len > 0) {
		memcpy(k, key, key_len);
	}
	for (i = 0; i < HMAC_BLOCK; i++)
		pad[i] = k[i] ^ 0x36;
	parts[0].p = pad;
	parts[0].len = sizeof(pad);
	for (i = 0; i < n_msg; i++)
		parts[i + 1] = msg[i];
	r = hmac_digest(ctx, inner, parts, n_msg + 1);
	if (r != RV_OK)
		goto out;
	for (i = 0; i < HMAC_BLOCK; i++)
		pad[i] = k[i] ^ 0x5c;
	parts[1].p = inner;
	parts[1].len = sizeof(inner);
	r = hmac_digest(ctx, out, parts, 2);
out:
	if (r != RV_OK)
		memset(out, 0, RV_HMAC_SHA256_LEN);
	EVP_MD_CTX_free(ctx);
	sodium_memzero(k, sizeof(k));
	sodium_memzero(pad, sizeof(pad));
	sodium_memzero(inner, sizeof(inner));
	return r;
}

int rv_hmac_sha256(uint8_t out[RV_HMAC_SHA256_LEN], const uint8_t *key, size_t key_len,
		   const uint8_t *m1, size_t m1_len, const uint8_t *m2, size_t m2_len)
{
	const struct hmac_part msg[2] = { { m1, m1_len }, { m2, m2_len } };

	return hmac_parts(out, key, key_len, msg, 2);
}

int rv_hkdf_sha256_extract(uint8_t prk[32], const uint8_t *salt, size_t salt_len,
			   const uint8_t *ikm, size_t ikm_len)
{
	/* An absent salt is HashLen zero bytes; HMAC pads an empty key with
	 * zeros to the block size, so both give the same PRK. */
	return rv_hmac_sha256(prk, salt, salt == NULL ? 0 : salt_len, ikm, ikm_len, NULL, 0);
}

int rv_hkdf_sha256_expand(uint8_t *out, size_t out_len, const uint8_t prk[32],
			  const uint8_t *info, size_t info_len)
{
	struct hmac_part msg[3];
	uint8_t t[RV_HMAC_SHA256_LEN];
	size_t done = 0, n;
	uint8_t ctr;
	int r = RV_OK;

	if (out_len > RV_HKDF_MAX_OUT || (out == NULL && out_len > 0) ||
	    (info == NULL && info_len > 0))
		return RV_ERR_INVALID_ARG;
	for (ctr = 1; done < out_len; ctr++) {
		/* T(i) = HMAC(PRK, T(i-1) | info | i), T(0) empty. */
		msg[0].p = t;
		msg[0].len = ctr > 1 ? sizeof(t) : 0;
		msg[1].p = info;
		msg[1].len = info_len;
		msg[2].p = &ctr;
		msg[2].len = 1;
		r = hmac_parts(t, prk, 32, msg, 3);
		if (r != RV_OK)
			break;
		n = out_len - done < sizeof(t) ? out_len - done : sizeof(t);
		memcpy(out + done, t, n);
		done += n;
	}
	if (r != RV_OK && out_len > 0)
		sodium_memzero(out, out_len);
	sodium_memzero(t, sizeof(t));
	return r;
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
	r = rv_hkdf_sha256_extract(prk, salt, salt_len, ikm, ikm_len);
	if (r == RV_OK)
		r = rv_hkdf_sha256_expand(out, out_len, prk, info, info_len);
	sodium_memzero(prk, sizeof(prk));
	return r;
}
