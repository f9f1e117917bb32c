/* rv_ratchet_decrypt.c - opening transport messages: structure checks,
 * skipped keys, the receiving half of the DH step.  Owner: ratchet helper.
 *
 * All-or-nothing: every key that would change (root key, receiving chain,
 * newly skipped keys) is computed into locals; only after the AEAD tag has
 * verified is anything written back.  So a forged, replayed or too-old
 * message leaves the state exactly as it was.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "rv_aead.h"
#include "rv_err.h"
#include "rv_ratchet_int.h"

static uint32_t rv_get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Derive message keys for n = from..until-1 of chain dh into add[], advancing ck. */
static void rv_ratchet_skip(uint8_t ck[RV_KEY_LEN], const uint8_t dh[RV_KEY_LEN],
			    uint32_t from, uint32_t until, struct rv_skipped_key *add,
			    uint32_t *n_add)
{
	uint32_t i;

	for (i = from; i < until; i++) {
		struct rv_skipped_key *k = &add[(*n_add)++];

		memcpy(k->dh, dh, RV_KEY_LEN);
		k->n = i;
		rv_ratchet_kdf_ck(ck, k->mk, ck);
	}
}

/* Exact structure before any crypto. */
static int rv_ratchet_parse(const uint8_t *msg, size_t len)
{
	if (len < RV_TRANSPORT_OVERHEAD || len > RV_MSG_MAX)
		return RV_ERR_MALFORMED;
	if (msg[0] != RV_MSG_TRANSPORT)
		return RV_ERR_MALFORMED;
	if (msg[1] != RV_PROTOCOL_VERSION)
		return RV_ERR_UNSUPPORTED;
	if (msg[2] != 0 || msg[3] != 0)
		return RV_ERR_MALFORMED;
	/* The sender never uses n = 2^32-1 (Nr would wrap). */
	if (rv_get_be32(msg + RV_OUTER_HDR_LEN + RV_KEY_LEN + 4) == UINT32_MAX)
		return RV_ERR_MALFORMED;
	return RV_OK;
}

int rv_ratchet_decrypt(struct rv_ratchet *r, const uint8_t *msg, size_t len,
		       struct rv_buf *out)
{
	const uint8_t *dh, *ct;
	uint8_t rk[RV_KEY_LEN], ckr[RV_KEY_LEN], mk[RV_KEY_LEN], key[RV_KEY_LEN];
	uint8_t nonce[RV_AEAD_NONCE_LEN], ad[RV_RATCHET_AD_LEN];
	struct rv_skipped_key *add = NULL;
	uint32_t pn, n, nr = 0, n_add = 0, n_old = 0, evicted;
	size_t ct_len, add_cap = 0;
	long found = -1;
	int advance = 0, new_chain = 0, ret;

	if (r == NULL || out == NULL || (msg == NULL && len > 0))
		return RV_ERR_INVALID_ARG;
	ret = rv_ratchet_parse(msg, len);
	if (ret != RV_OK)
		return ret;
	dh = msg + RV_OUTER_HDR_LEN;
	pn = rv_get_be32(dh + RV_KEY_LEN);
	n = rv_get_be32(dh + RV_KEY_LEN + 4);
	ct = msg + RV_RATCHET_HDRS_LEN;
	ct_len = len - RV_RATCHET_HDRS_LEN;
	if (rv_buf_room(out) < ct_len - RV_TAG_LEN)
		return RV_ERR_NO_SPACE;

	memcpy(rk, r->rk, RV_KEY_LEN);
	memcpy(ckr, r->ckr, RV_KEY_LEN);
	if (r->has_dhr && memcmp(dh, r->dhr, RV_KEY_LEN) == 0) {
		if (n < r->nr) {
			/* Earlier message of the current chain: skipped or used. */
			found = rv_skipped_find(&r->skipped, dh, n);
			if (found < 0) {
				ret = RV_ERR_REPLAY;
				goto out;
			}
		} else if (!r->has_ckr) {
			/* Alice before Bob's first message: nobody sends on B0. */
			ret = RV_ERR_AUTH;
			goto out;
		} else if (n - r->nr > r->cfg.max_skip) {
			ret = RV_ERR_TOO_MANY_SKIPPED;
			goto out;
		} else {
			add_cap = n - r->nr;
			advance = 1;
		}
	} else {
		found = rv_skipped_find(&r->skipped, dh, n);
		if (found < 0 && r->has_prev_dhr &&
		    memcmp(dh, r->prev_dhr, RV_KEY_LEN) == 0) {
			/* Previous chain, key not held: used or evicted. */
			ret = RV_ERR_REPLAY;
			goto out;
		}
		if (found < 0) {
			/* A new remote ratchet key. */
			n_old = r->has_ckr && pn > r->nr ? pn - r->nr : 0;
			if (n_old > r->cfg.max_skip || n > r->cfg.max_skip) {
				ret = RV_ERR_TOO_MANY_SKIPPED;
				goto out;
			}
			add_cap = (size_t)n_old + n;
			advance = 1;
			new_chain = 1;
		}
	}

	if (add_cap > 0) {
		add = calloc(add_cap, sizeof(*add));
		if (add == NULL) {
			ret = RV_ERR_NOMEM;
			goto out;
		}
	}
	if (found >= 0) {
		memcpy(mk, r->skipped.keys[found].mk, RV_KEY_LEN);
	} else if (new_chain) {
		/* Keys left in the old receiving chain, then the receiving half:
		 * RK, CKr = KDF_RK(RK, DH(DHs, new DHr)). */
		if (n_old > 0)
			rv_ratchet_skip(ckr, r->dhr, r->nr, r->nr + n_old, add, &n_add);
		ret = rv_ratchet_kdf_rk(rk, ckr, rk, r->dhs.priv, dh);
		if (ret != RV_OK)
			goto out;
		rv_ratchet_skip(ckr, dh, 0, n, add, &n_add);
		rv_ratchet_kdf_ck(ckr, mk, ckr);
		nr = n + 1;
	} else {
		rv_ratchet_skip(ckr, dh, r->nr, n, add, &n_add);
		rv_ratchet_kdf_ck(ckr, mk, ckr);
		nr = n + 1;
	}
	ret = rv_ratchet_kdf_msg(key, nonce, mk);
	if (ret != RV_OK)
		goto out;
	/* Capacity only (not state), so the commit below cannot fail. */
	ret = rv_skipped_reserve(&r->skipped, n_add, r->cfg.max_skipped_total);
	if (ret != RV_OK)
		goto out;

	memcpy(ad, r->ad, RV_HASH_LEN);
	memcpy(ad + RV_HASH_LEN, msg, RV_RATCHET_HDRS_LEN);
	ret = rv_aead_open(r->cfg.aead, key, nonce, ad, sizeof(ad), ct, ct_len, out);
	if (ret != RV_OK)
		goto out;

	/* Commit. */
	evicted = rv_skipped_commit(&r->skipped, found, add, n_add,
				    r->cfg.max_skipped_total);
	if (new_chain) {
		memcpy(r->prev_dhr, r->dhr, RV_KEY_LEN);
		r->has_prev_dhr = r->has_dhr;
		memcpy(r->dhr, dh, RV_KEY_LEN);
		r->has_dhr = 1;
		memcpy(r->rk, rk, RV_KEY_LEN);
		r->has_ckr = 1;
		r->send_step_due = 1;
		r->state = RV_RATCHET_RUNNING;
		r->stats.dh_recv_steps++;
	}
	if (advance) {
		memcpy(r->ckr, ckr, RV_KEY_LEN);
		r->nr = nr;
	}
	r->stats.received++;
	r->stats.skipped_evicted += evicted;
	r->stats.skipped_stored = r->skipped.count;
out:
	if (add != NULL) {
		sodium_memzero(add, add_cap * sizeof(*add));
		free(add);
	}
	sodium_memzero(rk, sizeof(rk));
	sodium_memzero(ckr, sizeof(ckr));
	sodium_memzero(mk, sizeof(mk));
	sodium_memzero(key, sizeof(key));
	sodium_memzero(nonce, sizeof(nonce));
	return ret;
}
