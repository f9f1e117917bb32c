/* rv_ratchet_decrypt.c - opening transport messages: structure checks,
 * the strict order rule, the receiving half of the DH step.  Owner:
 * ratchet helper.
 *
 * Strict order: the only acceptable message is the next one the peer
 * sent.  The transport (one WebSocket) is reliable and ordered, so a gap,
 * a reorder or a repeat can only be tampering; accepting it would let a
 * relay cut bytes out of the middle of a stream.  Without skipped keys the
 * work before the tag check is bounded by construction: at most one
 * X25519 (a new remote key) and one chain step.
 *
 * The order checks read the header before it is authenticated, so a forged
 * header may be reported as RV_ERR_ORDER or RV_ERR_REPLAY rather than
 * RV_ERR_AUTH; every one of them ends the session anyway.
 *
 * All-or-nothing: the root and receiving chain keys are computed into
 * locals; only after the AEAD tag has verified is anything written back.
 */
#include <string.h>

#include <sodium.h>

#include "rv_aead.h"
#include "rv_err.h"
#include "rv_ratchet_int.h"

static uint32_t rv_get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
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
	struct rv_ratchet_next nx;
	uint8_t rk[RV_KEY_LEN], ckr[RV_KEY_LEN], ad[RV_RATCHET_AD_LEN];
	uint32_t pn, n;
	size_t ct_len;
	int new_chain = 0, ret;

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

	/* The order rule, on public header values only (plain compares). */
	if (r->has_dhr && memcmp(dh, r->dhr, RV_KEY_LEN) == 0) {
		if (!r->has_ckr)
			return RV_ERR_AUTH; /* Alice before Bob's first: nobody sends on B0 */
		if (n < r->nr)
			return RV_ERR_REPLAY;
		if (n > r->nr)
			return RV_ERR_ORDER;
	} else if (r->has_prev_dhr && memcmp(dh, r->prev_dhr, RV_KEY_LEN) == 0) {
		return RV_ERR_REPLAY; /* a chain we have already left */
	} else {
		/* A new remote key: the old chain must be complete (pn == Nr;
		 * Nr is 0 before the first receiving chain) and this must be
		 * the first message of the new one. */
		if (pn != r->nr || n != 0)
			return RV_ERR_ORDER;
		new_chain = 1;
	}

	memset(&nx, 0, sizeof(nx));
	memcpy(rk, r->rk, RV_KEY_LEN);
	memcpy(ckr, r->ckr, RV_KEY_LEN);
	if (new_chain) {
		/* Receiving half: RK, CKr = KDF_RK(RK, DH(DHs, new DHr)). */
		ret = rv_ratchet_kdf_rk(rk, ckr, rk, r->dhs.priv, dh);
		if (ret != RV_OK)
			goto out;
	}
	/* The step rv_ratchet_prepare derived from this chain key, or now. */
	if (!new_chain && r->next_r.valid)
		nx = r->next_r;
	else if ((ret = rv_ratchet_kdf_step(&nx, ckr)) != RV_OK)
		goto out;

	memcpy(ad, r->ad, RV_HASH_LEN);
	memcpy(ad + RV_HASH_LEN, msg, RV_RATCHET_HDRS_LEN);
	ret = rv_aead_open(r->cfg.aead, nx.key, nx.nonce, ad, sizeof(ad), ct, ct_len, out);
	if (ret != RV_OK)
		goto out;

	/* Commit. */
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
	memcpy(r->ckr, nx.ck, RV_KEY_LEN);
	sodium_memzero(&r->next_r, sizeof(r->next_r));
	r->nr = n + 1;
	r->stats.received++;
out:
	sodium_memzero(rk, sizeof(rk));
	sodium_memzero(ckr, sizeof(ckr));
	sodium_memzero(&nx, sizeof(nx));
	return ret;
}
