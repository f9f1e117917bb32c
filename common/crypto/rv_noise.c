/* rv_noise.c - Noise_IK_25519_{ChaChaPoly,AESGCM}_SHA256 (Noise rev 34).
 * Owner: crypto helper.
 *
 * Every public step copies the handshake state, works on the copy and
 * commits it only on success; the copy is wiped on every path.  Output
 * buffers get their appended bytes removed again on failure.
 */
#include "rv_noise.h"

#include <string.h>

#include <sodium.h>

#include "rv_aead.h"
#include "rv_err.h"
#include "rv_hkdf.h"
#include "rv_wire.h"

/* Noise limits every message to 65535 bytes. */
enum { RV_NOISE_MAX_MSG = 65535 };

static enum rv_aead rv_noise_aead(enum rv_noise_cipher c)
{
	switch (c) {
	case RV_NOISE_CIPHER_CHACHAPOLY:
		return RV_AEAD_CHACHA20POLY1305;
	case RV_NOISE_CIPHER_AESGCM:
		return RV_AEAD_AES256GCM;
	default:
		return RV_AEAD_INVALID;
	}
}

/* ChaChaPoly: 32 zero bits + LE64(n); AESGCM: 32 zero bits + BE64(n). */
static void rv_noise_nonce(enum rv_noise_cipher c, uint64_t n,
			   uint8_t nonce[RV_AEAD_NONCE_LEN])
{
	int i;

	memset(nonce, 0, RV_AEAD_NONCE_LEN);
	for (i = 0; i < 8; i++) {
		uint8_t b = (uint8_t)(n >> (8 * i));

		if (c == RV_NOISE_CIPHER_AESGCM)
			nonce[11 - i] = b;
		else
			nonce[4 + i] = b;
	}
}

/* EncryptWithAd: appends ciphertext to out, n++ on success.  Without a key
 * the plaintext is passed through (Noise 5.1). */
static int rv_noise_cs_seal(struct rv_noise_cipherstate *cs, const uint8_t *ad,
			    size_t ad_len, const uint8_t *pt, size_t pt_len,
			    struct rv_buf *out)
{
	uint8_t nonce[RV_AEAD_NONCE_LEN];
	int r;

	if (!cs->has_key)
		return pt_len == 0 ? RV_OK : rv_buf_put(out, pt, pt_len);
	/* n = 2^64-1 is reserved: the state is exhausted. */
	if (cs->n == UINT64_MAX)
		return RV_ERR_LIMIT;
	rv_noise_nonce(cs->cipher, cs->n, nonce);
	r = rv_aead_seal(rv_noise_aead(cs->cipher), cs->k, nonce, ad, ad_len, pt, pt_len,
			 out);
	if (r == RV_OK)
		cs->n++;
	return r;
}

/* DecryptWithAd: appends plaintext to out; n++ only on success. */
static int rv_noise_cs_open(struct rv_noise_cipherstate *cs, const uint8_t *ad,
			    size_t ad_len, const uint8_t *ct, size_t ct_len,
			    struct rv_buf *out)
{
	uint8_t nonce[RV_AEAD_NONCE_LEN];
	int r;

	if (!cs->has_key)
		return ct_len == 0 ? RV_OK : rv_buf_put(out, ct, ct_len);
	if (cs->n == UINT64_MAX)
		return RV_ERR_LIMIT;
	if (ct_len < RV_TAG_LEN)
		return RV_ERR_MALFORMED;
	rv_noise_nonce(cs->cipher, cs->n, nonce);
	r = rv_aead_open(rv_noise_aead(cs->cipher), cs->k, nonce, ad, ad_len, ct, ct_len,
			 out);
	if (r == RV_OK)
		cs->n++;
	return r;
}

static void rv_noise_mix_hash(struct rv_noise_hs *t, const uint8_t *data, size_t len)
{
	crypto_hash_sha256_state st;

	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, t->h, sizeof(t->h));
	crypto_hash_sha256_update(&st, data, len);
	crypto_hash_sha256_final(&st, t->h);
	sodium_memzero(&st, sizeof(st));
}

/* ck, k = HKDF(ck, ikm, 2); n = 0. */
static int rv_noise_mix_key(struct rv_noise_hs *t, const uint8_t *ikm, size_t ikm_len)
{
	uint8_t okm[2 * RV_HASH_LEN];
	int r;

	r = rv_hkdf_sha256(okm, sizeof(okm), t->ck, sizeof(t->ck), ikm, ikm_len, NULL, 0);
	if (r == RV_OK) {
		memcpy(t->ck, okm, RV_HASH_LEN);
		memcpy(t->cs.k, okm + RV_HASH_LEN, RV_KEY_LEN);
		t->cs.has_key = 1;
		t->cs.n = 0;
	}
	sodium_memzero(okm, sizeof(okm));
	return r;
}

/* MixKey(DH(priv, pub)); an all-zero result (low-order point) is refused. */
static int rv_noise_mix_dh(struct rv_noise_hs *t, const uint8_t priv[RV_KEY_LEN],
			   const uint8_t pub[RV_KEY_LEN])
{
	uint8_t shared[RV_KEY_LEN];
	int r;

	if (crypto_scalarmult(shared, priv, pub) != 0) {
		r = RV_ERR_CRYPTO;
		goto out;
	}
	r = rv_noise_mix_key(t, shared, sizeof(shared));
out:
	sodium_memzero(shared, sizeof(shared));
	return r;
}

/* EncryptAndHash: out gets the ciphertext, h absorbs it. */
static int rv_noise_encrypt_and_hash(struct rv_noise_hs *t, const uint8_t *pt,
				     size_t pt_len, struct rv_buf *out)
{
	size_t before = rv_buf_len(out);
	int r;

	r = rv_noise_cs_seal(&t->cs, t->h, sizeof(t->h), pt, pt_len, out);
	if (r != RV_OK)
		return r;
	rv_noise_mix_hash(t, rv_buf_ptr(out) + before, rv_buf_len(out) - before);
	return RV_OK;
}

/* DecryptAndHash: h absorbs the ciphertext after it authenticated. */
static int rv_noise_decrypt_and_hash(struct rv_noise_hs *t, const uint8_t *ct,
				     size_t ct_len, struct rv_buf *out)
{
	int r;

	r = rv_noise_cs_open(&t->cs, t->h, sizeof(t->h), ct, ct_len, out);
	if (r != RV_OK)
		return r;
	rv_noise_mix_hash(t, ct, ct_len);
	return RV_OK;
}

static const char *rv_noise_protocol_name(enum rv_noise_cipher c)
{
	return c == RV_NOISE_CIPHER_AESGCM ? RV_NOISE_PROTOCOL_AESGCM :
					     RV_NOISE_PROTOCOL_CHACHA;
}

int rv_noise_hs_init(struct rv_noise_hs *hs, enum rv_noise_role role,
		     enum rv_noise_cipher cipher, const uint8_t *prologue,
		     size_t prologue_len, const struct rv_keypair *s,
		     const uint8_t *rs)
{
	struct rv_noise_hs t;
	const char *name;
	size_t name_len;

	if (hs == NULL || s == NULL || (prologue == NULL && prologue_len > 0))
		return RV_ERR_INVALID_ARG;
	if (role != RV_NOISE_INITIATOR && role != RV_NOISE_RESPONDER)
		return RV_ERR_INVALID_ARG;
	if (role == RV_NOISE_INITIATOR && rs == NULL)
		return RV_ERR_INVALID_ARG;
	if (cipher != RV_NOISE_CIPHER_CHACHAPOLY && cipher != RV_NOISE_CIPHER_AESGCM)
		return RV_ERR_INVALID_ARG;
	if (sodium_init() < 0)
		return RV_ERR_CRYPTO;
	if (!rv_aead_available(rv_noise_aead(cipher)))
		return RV_ERR_UNSUPPORTED;

	memset(&t, 0, sizeof(t));
	t.role = role;
	t.state = RV_NOISE_STATE_MSG1;
	t.cipher = cipher;
	t.cs.cipher = cipher;
	/* InitializeSymmetric: a name of at most HASHLEN bytes is zero-padded,
	 * a longer one hashed. */
	name = rv_noise_protocol_name(cipher);
	name_len = strlen(name);
	if (name_len <= RV_HASH_LEN)
		memcpy(t.h, name, name_len);
	else
		crypto_hash_sha256(t.h, (const uint8_t *)name, name_len);
	memcpy(t.ck, t.h, RV_HASH_LEN);
	rv_noise_mix_hash(&t, prologue, prologue_len);
	t.s = *s;
	/* Pre-message "<- s": both sides hash the responder's static key. */
	if (role == RV_NOISE_INITIATOR) {
		memcpy(t.rs, rs, RV_KEY_LEN);
		rv_noise_mix_hash(&t, t.rs, RV_KEY_LEN);
	} else {
		rv_noise_mix_hash(&t, t.s.pub, RV_KEY_LEN);
	}
	memcpy(hs, &t, sizeof(t));
	sodium_memzero(&t, sizeof(t));
	return RV_OK;
}

void rv_noise_hs_set_ephemeral(struct rv_noise_hs *hs, const struct rv_keypair *e)
{
	if (hs == NULL || e == NULL)
		return;
	hs->e = *e;
	hs->e_fixed = 1;
}

/* "e": fresh (or preset) ephemeral, sent in clear and hashed. */
static int rv_noise_write_e(struct rv_noise_hs *t, struct rv_buf *out)
{
	int r;

	if (!t->e_fixed) {
		r = rv_keypair_generate(&t->e);
		if (r != RV_OK)
			return r;
	}
	r = rv_buf_put(out, t->e.pub, RV_KEY_LEN);
	if (r != RV_OK)
		return r;
	rv_noise_mix_hash(t, t->e.pub, RV_KEY_LEN);
	return RV_OK;
}

/* -> e, es, s, ss */
static int rv_noise_write_msg1(struct rv_noise_hs *t, const uint8_t *payload,
			       size_t payload_len, struct rv_buf *out)
{
	int r;

	if ((r = rv_noise_write_e(t, out)) != RV_OK)
		return r;
	if ((r = rv_noise_mix_dh(t, t->e.priv, t->rs)) != RV_OK)
		return r;
	if ((r = rv_noise_encrypt_and_hash(t, t->s.pub, RV_KEY_LEN, out)) != RV_OK)
		return r;
	if ((r = rv_noise_mix_dh(t, t->s.priv, t->rs)) != RV_OK)
		return r;
	return rv_noise_encrypt_and_hash(t, payload, payload_len, out);
}

/* <- e, ee, se */
static int rv_noise_write_msg2(struct rv_noise_hs *t, const uint8_t *payload,
			       size_t payload_len, struct rv_buf *out)
{
	int r;

	if ((r = rv_noise_write_e(t, out)) != RV_OK)
		return r;
	if ((r = rv_noise_mix_dh(t, t->e.priv, t->re)) != RV_OK)
		return r;
	if ((r = rv_noise_mix_dh(t, t->e.priv, t->rs)) != RV_OK)
		return r;
	return rv_noise_encrypt_and_hash(t, payload, payload_len, out);
}

int rv_noise_write_message(struct rv_noise_hs *hs, const uint8_t *payload,
			   size_t payload_len, struct rv_buf *out)
{
	struct rv_noise_hs t;
	size_t before;
	int r;

	if (hs == NULL || out == NULL || (payload == NULL && payload_len > 0))
		return RV_ERR_INVALID_ARG;
	if (payload_len > RV_NOISE_MAX_MSG)
		return RV_ERR_INVALID_ARG;
	before = rv_buf_len(out);
	memcpy(&t, hs, sizeof(t));
	if (t.role == RV_NOISE_INITIATOR && t.state == RV_NOISE_STATE_MSG1) {
		r = rv_noise_write_msg1(&t, payload, payload_len, out);
		t.state = RV_NOISE_STATE_MSG2;
	} else if (t.role == RV_NOISE_RESPONDER && t.state == RV_NOISE_STATE_MSG2) {
		r = rv_noise_write_msg2(&t, payload, payload_len, out);
		t.state = RV_NOISE_STATE_DONE;
	} else {
		r = RV_ERR_STATE;
	}
	if (r == RV_OK && rv_buf_len(out) - before > RV_NOISE_MAX_MSG)
		r = RV_ERR_INVALID_ARG;
	if (r == RV_OK)
		memcpy(hs, &t, sizeof(t));
	else if (rv_buf_len(out) > before)
		rv_buf_unput(out, rv_buf_len(out) - before);
	sodium_memzero(&t, sizeof(t));
	return r;
}

/* -> e, es, s, ss (responder side) */
static int rv_noise_read_msg1(struct rv_noise_hs *t, const uint8_t *msg, size_t len,
			      struct rv_buf *payload_out)
{
	const size_t enc_s_len = RV_KEY_LEN + RV_TAG_LEN;
	struct rv_buf sb;
	int r;

	if (len < RV_KEY_LEN + enc_s_len + RV_TAG_LEN)
		return RV_ERR_MALFORMED;
	rv_buf_init(&sb, RV_KEY_LEN);
	memcpy(t->re, msg, RV_KEY_LEN);
	rv_noise_mix_hash(t, t->re, RV_KEY_LEN);
	if ((r = rv_noise_mix_dh(t, t->s.priv, t->re)) != RV_OK)
		goto out;
	r = rv_noise_decrypt_and_hash(t, msg + RV_KEY_LEN, enc_s_len, &sb);
	if (r != RV_OK)
		goto out;
	if (rv_buf_len(&sb) != RV_KEY_LEN) {
		r = RV_ERR_INTERNAL;
		goto out;
	}
	memcpy(t->rs, rv_buf_ptr(&sb), RV_KEY_LEN);
	if ((r = rv_noise_mix_dh(t, t->s.priv, t->rs)) != RV_OK)
		goto out;
	r = rv_noise_decrypt_and_hash(t, msg + RV_KEY_LEN + enc_s_len,
				      len - RV_KEY_LEN - enc_s_len, payload_out);
out:
	rv_buf_cleanup(&sb);
	return r;
}

/* <- e, ee, se (initiator side) */
static int rv_noise_read_msg2(struct rv_noise_hs *t, const uint8_t *msg, size_t len,
			      struct rv_buf *payload_out)
{
	int r;

	if (len < RV_KEY_LEN + RV_TAG_LEN)
		return RV_ERR_MALFORMED;
	memcpy(t->re, msg, RV_KEY_LEN);
	rv_noise_mix_hash(t, t->re, RV_KEY_LEN);
	if ((r = rv_noise_mix_dh(t, t->e.priv, t->re)) != RV_OK)
		return r;
	if ((r = rv_noise_mix_dh(t, t->s.priv, t->re)) != RV_OK)
		return r;
	return rv_noise_decrypt_and_hash(t, msg + RV_KEY_LEN, len - RV_KEY_LEN,
					 payload_out);
}

int rv_noise_read_message(struct rv_noise_hs *hs, const uint8_t *msg, size_t len,
			  struct rv_buf *payload_out)
{
	struct rv_noise_hs t;
	size_t before;
	int r;

	if (hs == NULL || payload_out == NULL || (msg == NULL && len > 0))
		return RV_ERR_INVALID_ARG;
	if (len > RV_NOISE_MAX_MSG)
		return RV_ERR_MALFORMED;
	before = rv_buf_len(payload_out);
	memcpy(&t, hs, sizeof(t));
	if (t.role == RV_NOISE_RESPONDER && t.state == RV_NOISE_STATE_MSG1) {
		r = rv_noise_read_msg1(&t, msg, len, payload_out);
		t.state = RV_NOISE_STATE_MSG2;
	} else if (t.role == RV_NOISE_INITIATOR && t.state == RV_NOISE_STATE_MSG2) {
		r = rv_noise_read_msg2(&t, msg, len, payload_out);
		t.state = RV_NOISE_STATE_DONE;
	} else {
		r = RV_ERR_STATE;
	}
	if (r == RV_OK)
		memcpy(hs, &t, sizeof(t));
	else if (rv_buf_len(payload_out) > before)
		rv_buf_unput(payload_out, rv_buf_len(payload_out) - before);
	sodium_memzero(&t, sizeof(t));
	return r;
}

int rv_noise_split(struct rv_noise_hs *hs, struct rv_noise_cipherstate *c1,
		   struct rv_noise_cipherstate *c2)
{
	uint8_t okm[2 * RV_KEY_LEN];
	int r;

	if (hs == NULL || c1 == NULL || c2 == NULL)
		return RV_ERR_INVALID_ARG;
	if (hs->state != RV_NOISE_STATE_DONE)
		return RV_ERR_STATE;
	r = rv_hkdf_sha256(okm, sizeof(okm), hs->ck, sizeof(hs->ck), NULL, 0, NULL, 0);
	if (r != RV_OK)
		goto out;
	memset(c1, 0, sizeof(*c1));
	memset(c2, 0, sizeof(*c2));
	c1->cipher = c2->cipher = hs->cipher;
	c1->has_key = c2->has_key = 1;
	memcpy(c1->k, okm, RV_KEY_LEN);
	memcpy(c2->k, okm + RV_KEY_LEN, RV_KEY_LEN);
out:
	sodium_memzero(okm, sizeof(okm));
	return r;
}

void rv_noise_hs_wipe(struct rv_noise_hs *hs)
{
	if (hs != NULL)
		sodium_memzero(hs, sizeof(*hs));
}

int rv_noise_cs_encrypt(struct rv_noise_cipherstate *cs, const uint8_t *ad,
			size_t ad_len, const uint8_t *pt, size_t pt_len,
			struct rv_buf *out)
{
	if (cs == NULL || out == NULL || (ad == NULL && ad_len > 0) ||
	    (pt == NULL && pt_len > 0))
		return RV_ERR_INVALID_ARG;
	return rv_noise_cs_seal(cs, ad, ad_len, pt, pt_len, out);
}

int rv_noise_cs_decrypt(struct rv_noise_cipherstate *cs, const uint8_t *ad,
			size_t ad_len, const uint8_t *ct, size_t ct_len,
			struct rv_buf *out)
{
	if (cs == NULL || out == NULL || (ad == NULL && ad_len > 0) ||
	    (ct == NULL && ct_len > 0))
		return RV_ERR_INVALID_ARG;
	return rv_noise_cs_open(cs, ad, ad_len, ct, ct_len, out);
}

void rv_noise_cs_wipe(struct rv_noise_cipherstate *cs)
{
	if (cs != NULL)
		sodium_memzero(cs, sizeof(*cs));
}
