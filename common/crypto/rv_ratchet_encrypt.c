/* rv_ratchet_encrypt.c - sealing transport messages, and the (deferred)
 * sending half of the DH ratchet step.  Owner: ratchet helper.
 *
 * Why deferring the sending half keeps both root chains in step:
 * the root chain is a sequence of KDF_RK(RK, DH(our key, their key)), one
 * per change of either side's ratchet key.  Both sides compute the same
 * sequence iff they see the key changes in the same order.  We make a new
 * key pair only when a remote key has arrived that is newer than our
 * current key pair (send_step_due), and the peer does the same.  So after
 * the peer makes key P(k) (having seen our S(j)), it cannot make P(k+1)
 * before it has seen S(j+1), and we make S(j+1) only after receiving P(k).
 * Key changes therefore strictly alternate, S(j) < P(k) < S(j+1) <
 * P(k+1) ..., however long either side waits: the sequence is
 * DH(S(j),P(k)), DH(S(j+1),P(k)), DH(S(j+1),P(k+1)), ... on both sides.
 * Until the step happens we keep sending on our current chain, which the
 * peer still holds as its receiving chain; forward secrecy is kept by the
 * symmetric ratchet, and post-compromise recovery is delayed by at most
 * one interval.  (Two sides stepping concurrently, as an eager "step on
 * every direction change" rule plus deferral could, would diverge.)
 */
#include <string.h>

#include <sodium.h>

#include "rv_aead.h"
#include "rv_err.h"
#include "rv_ratchet_int.h"

static void rv_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Is the sending half of the DH step allowed now? */
static int rv_ratchet_step_due(const struct rv_ratchet *r, uint64_t kp_ms, uint64_t now_ms)
{
	if (!r->send_step_due)
		return 0;
	if (!r->has_cks) /* Bob's first message: no sending chain yet */
		return 1;
	/* A clock that went backwards counts as "no time passed". */
	return now_ms >= kp_ms && now_ms - kp_ms >= r->cfg.min_interval_ms;
}

int rv_ratchet_encrypt(struct rv_ratchet *r, uint64_t now_ms, const uint8_t *pt,
		       size_t pt_len, struct rv_buf *out)
{
	struct rv_keypair kp;
	struct rv_ratchet_next nx;
	uint8_t rk[RV_KEY_LEN], cks[RV_KEY_LEN], ad[RV_RATCHET_AD_LEN];
	uint8_t *hdr = ad + RV_HASH_LEN;
	uint64_t kp_ms;
	uint32_t ns, pn;
	int stepped = 0, ret;

	if (r == NULL || out == NULL || (pt == NULL && pt_len > 0))
		return RV_ERR_INVALID_ARG;
	if (r->state != RV_RATCHET_RUNNING)
		return RV_ERR_STATE;
	if (pt_len > RV_PLAINTEXT_MAX)
		return RV_ERR_INVALID_ARG;
	if (rv_buf_room(out) < RV_TRANSPORT_OVERHEAD + pt_len)
		return RV_ERR_NO_SPACE;

	/* Work on copies; commit only after the message is sealed. */
	memset(&nx, 0, sizeof(nx));
	kp = r->dhs;
	memcpy(rk, r->rk, RV_KEY_LEN);
	memcpy(cks, r->cks, RV_KEY_LEN);
	ns = r->ns;
	pn = r->pn;
	/* Alice's initial key pair is dated by her first message. */
	kp_ms = r->has_kp_time ? r->last_kp_ms : now_ms;

	if (rv_ratchet_step_due(r, kp_ms, now_ms)) {
		/* Sending half: new key pair, PN = Ns, Ns = 0,
		 * RK, CKs = KDF_RK(RK, DH(new DHs, DHr)). */
		ret = rv_keypair_generate(&kp);
		if (ret != RV_OK)
			goto out;
		ret = rv_ratchet_kdf_rk(rk, cks, rk, kp.priv, r->dhr);
		if (ret != RV_OK)
			goto out;
		pn = ns;
		ns = 0;
		kp_ms = now_ms;
		stepped = 1;
	}
	if (!r->has_cks && !stepped) {
		ret = RV_ERR_INTERNAL;
		goto out;
	}
	/* n is a u32 on the wire; never wrap it (keys would repeat). */
	if (ns == UINT32_MAX) {
		ret = RV_ERR_LIMIT;
		goto out;
	}
	/* The step rv_ratchet_prepare derived from this very chain key, or
	 * derive it now. */
	if (!stepped && r->next_s.valid)
		nx = r->next_s;
	else if ((ret = rv_ratchet_kdf_step(&nx, cks)) != RV_OK)
		goto out;

	memcpy(ad, r->ad, RV_HASH_LEN);
	hdr[0] = RV_MSG_TRANSPORT;
	hdr[1] = RV_PROTOCOL_VERSION;
	hdr[2] = 0;
	hdr[3] = 0;
	memcpy(hdr + RV_OUTER_HDR_LEN, kp.pub, RV_KEY_LEN);
	rv_put_be32(hdr + RV_OUTER_HDR_LEN + RV_KEY_LEN, pn);
	rv_put_be32(hdr + RV_OUTER_HDR_LEN + RV_KEY_LEN + 4, ns);
	ret = rv_buf_put(out, hdr, RV_RATCHET_HDRS_LEN);
	if (ret != RV_OK)
		goto out;
	ret = rv_aead_seal(r->cfg.aead, nx.key, nx.nonce, ad, sizeof(ad), pt, pt_len, out);
	if (ret != RV_OK) {
		rv_buf_unput(out, RV_RATCHET_HDRS_LEN);
		goto out;
	}

	/* Commit. */
	if (stepped) {
		rv_keypair_wipe(&r->dhs);
		r->dhs = kp;
		memcpy(r->rk, rk, RV_KEY_LEN);
		r->pn = pn;
		r->send_step_due = 0;
		r->stats.dh_send_steps++;
	}
	memcpy(r->cks, nx.ck, RV_KEY_LEN);
	sodium_memzero(&r->next_s, sizeof(r->next_s));
	r->has_cks = 1;
	r->ns = ns + 1;
	r->last_kp_ms = kp_ms;
	r->has_kp_time = 1;
	r->stats.sent++;
out:
	sodium_memzero(&kp, sizeof(kp));
	sodium_memzero(rk, sizeof(rk));
	sodium_memzero(cks, sizeof(cks));
	sodium_memzero(&nx, sizeof(nx));
	return ret;
}

void rv_ratchet_prepare(struct rv_ratchet *r, uint64_t now_ms)
{
	uint64_t kp_ms;

	if (r == NULL || r->state != RV_RATCHET_RUNNING)
		return;
	/* Not when a send now would start a new chain (the DH step is due),
	 * nor at the end of a chain: encrypt then derives what it needs.  If
	 * the step falls due before the next send, this one goes unused. */
	kp_ms = r->has_kp_time ? r->last_kp_ms : now_ms;
	if (r->has_cks && !r->next_s.valid && !rv_ratchet_step_due(r, kp_ms, now_ms) &&
	    r->ns != UINT32_MAX)
		(void)rv_ratchet_kdf_step(&r->next_s, r->cks);
	if (r->has_ckr && !r->next_r.valid)
		(void)rv_ratchet_kdf_step(&r->next_r, r->ckr);
}
