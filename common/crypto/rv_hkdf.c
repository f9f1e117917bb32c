/* rv_hkdf.c - HMAC-SHA256 and HKDF-SHA256.  Owner: crypto helper. */
#include "rv_hkdf.h"

#include <string.h>

/* SHA256_Init/Update/Final are deprecated in OpenSSL 3.0 but still there:
 * they reach the same SHA-extension code as EVP without EVP's allocation and
 * provider dispatch per digest, which cost more than the one or two blocks
 * that each HMAC of the ratchet hashes (2.9 -> 1.0 us of KDF per message). */
#define OPENSSL_API_COMPAT 10101
#include <openssl/sha.h>
#include <sodium.h>

#include "rv_err.h"

enum { HMAC_BLOCK = 64 };

/* A key's two pads, each hashed once: every HMAC under the key then starts
 * from a copy of these states.  Holds key material: wipe after use. */
struct hmac_key {
	SHA256_CTX inner, outer;
};

struct hmac_part {
	const uint8_t *p;
	size_t len;
};

static int hmac_key_init(struct hmac_key *hk, const uint8_t *key, size_t key_len)
{
	uint8_t k[HMAC_BLOCK], pad[2][HMAC_BLOCK];
	size_t i;
	int ok;

	/* RFC 2104: a key longer than a block is hashed first; the key is
	 * zero-padded to the block. */
	memset(k, 0, sizeof(k));
	if (key_len > HMAC_BLOCK)
		ok = SHA256(key, key_len, k) != NULL;
	else {
		if (key_len > 0)
			memcpy(k, key, key_len);
		ok = 1;
	}
	for (i = 0; i < HMAC_BLOCK; i++) {
		pad[0][i] = k[i] ^ 0x36;
		pad[1][i] = k[i] ^ 0x5c;
	}
	ok = ok && SHA256_Init(&hk->inner) == 1 && SHA256_Update(&hk->inner, pad[0], HMAC_BLOCK) == 1 &&
	     SHA256_Init(&hk->outer) == 1 && SHA256_Update(&hk->outer, pad[1], HMAC_BLOCK) == 1;
	sodium_memzero(k, sizeof(k));
	sodium_memzero(pad, sizeof(pad));
	if (!ok)
		sodium_memzero(hk, sizeof(*hk));
	return ok ? RV_OK : RV_ERR_CRYPTO;
}

/* out = HMAC(hk's key, parts[0] || ... ); empty parts are skipped. */
static int hmac_key_mac(const struct hmac_key *hk, uint8_t out[RV_HMAC_SHA256_LEN],
			const struct hmac_part *parts, size_t n_parts)
{
	uint8_t inner[RV_HMAC_SHA256_LEN];
	SHA256_CTX c = hk->inner;
	size_t i;
	int ok = 1;

	for (i = 0; ok && i < n_parts; i++)
		if (parts[i].len > 0)
			ok = SHA256_Update(&c, parts[i].p, parts[i].len) == 1;
	ok = ok && SHA256_Final(inner, &c) == 1;
	c = hk->outer;
	ok = ok && SHA256_Update(&c, inner, sizeof(inner)) == 1 && SHA256_Final(out, &c) == 1;
	sodium_memzero(&c, sizeof(c));
	sodium_memzero(inner, sizeof(inner));
	if (!ok)
		memset(out, 0, RV_HMAC_SHA256_LEN);
	return ok ? RV_OK : RV_ERR_CRYPTO;
}

int rv_hmac_sha256(uint8_t out[RV_HMAC_SHA256_LEN], const uint8_t *key, size_t key_len,
		   const uint8_t *m1, size_t m1_len, const uint8_t *m2, size_t m2_len)
{
	const struct hmac_part msg[2] = { { m1, m1_len }, { m2, m2_len } };
	struct hmac_key hk;
	int r;

	r = hmac_key_init(&hk, key, key_len);
	if (r == RV_OK)
		r = hmac_key_mac(&hk, out, msg, 2);
	else
		memset(out, 0, RV_HMAC_SHA256_LEN);
	sodium_memzero(&hk, sizeof(hk));
	return r;
}

int rv_hmac_sha256_two(uint8_t out_a[RV_HMAC_SHA256_LEN], const uint8_t *a, size_t a_len,
		       uint8_t out_b[RV_HMAC_SHA256_LEN], const uint8_t *b, size_t b_len,
		       const uint8_t *key, size_t key_len)
{
	const struct hmac_part pa = { a, a_len }, pb = { b, b_len };
	struct hmac_key hk;
	int r;

	r = hmac_key_init(&hk, key, key_len);
	if (r == RV_OK)
		r = hmac_key_mac(&hk, out_a, &pa, 1);
	if (r == RV_OK)
		r = hmac_key_mac(&hk, out_b, &pb, 1);
	if (r != RV_OK) {
		memset(out_a, 0, RV_HMAC_SHA256_LEN);
		memset(out_b, 0, RV_HMAC_SHA256_LEN);
	}
	sodium_memzero(&hk, sizeof(hk));
	return r;
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
	struct hmac_key hk;
	uint8_t t[RV_HMAC_SHA256_LEN];
	size_t done = 0, n;
	uint8_t ctr;
	int r;

	if (out_len > RV_HKDF_MAX_OUT || (out == NULL && out_len > 0) ||
	    (info == NULL && info_len > 0))
		return RV_ERR_INVALID_ARG;
	r = hmac_key_init(&hk, prk, 32);
	for (ctr = 1; r == RV_OK && done < out_len; ctr++) {
		/* T(i) = HMAC(PRK, T(i-1) | info | i), T(0) empty. */
		msg[0].p = t;
		msg[0].len = ctr > 1 ? sizeof(t) : 0;
		msg[1].p = info;
		msg[1].len = info_len;
		msg[2].p = &ctr;
		msg[2].len = 1;
		r = hmac_key_mac(&hk, t, msg, 3);
		if (r != RV_OK)
			break;
		n = out_len - done < sizeof(t) ? out_len - done : sizeof(t);
		memcpy(out + done, t, n);
		done += n;
	}
	if (r != RV_OK && out_len > 0)
		sodium_memzero(out, out_len);
	sodium_memzero(t, sizeof(t));
	sodium_memzero(&hk, sizeof(hk));
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
