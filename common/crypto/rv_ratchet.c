/* rv_ratchet.c - Double Ratchet state: initialisation, lifecycle, clone,
 * comparison, statistics.  Encrypt: rv_ratchet_encrypt.c; decrypt:
 * rv_ratchet_decrypt.c; KDFs: rv_ratchet_kdf.c.  Owner: ratchet helper.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "rv_aead.h"
#include "rv_err.h"
#include "rv_ratchet_int.h"

static int rv_ratchet_new(struct rv_ratchet **out, const struct rv_ratchet_config *cfg,
			  const uint8_t ad[RV_HASH_LEN])
{
	struct rv_ratchet *r;

	if (out == NULL || cfg == NULL || ad == NULL)
		return RV_ERR_INVALID_ARG;
	if (cfg->aead != RV_AEAD_CHACHA20POLY1305 && cfg->aead != RV_AEAD_AES256GCM)
		return RV_ERR_INVALID_ARG;
	if (sodium_init() < 0)
		return RV_ERR_CRYPTO;
	if (!rv_aead_available(cfg->aead))
		return RV_ERR_UNSUPPORTED;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return RV_ERR_NOMEM;
	r->cfg = *cfg;
	memcpy(r->ad, ad, RV_HASH_LEN);
	*out = r;
	return RV_OK;
}

int rv_ratchet_init_alice(struct rv_ratchet **out, const struct rv_ratchet_config *cfg,
			  const uint8_t sk[RV_KEY_LEN], const uint8_t bob_pub[RV_KEY_LEN],
			  const uint8_t ad[RV_HASH_LEN])
{
	struct rv_ratchet *r = NULL;
	int ret;

	if (out != NULL)
		*out = NULL;
	if (sk == NULL || bob_pub == NULL)
		return RV_ERR_INVALID_ARG;
	ret = rv_ratchet_new(&r, cfg, ad);
	if (ret != RV_OK)
		return ret;
	r->role = RV_RATCHET_ALICE;
	/* Spec: DHs = GENERATE_DH(); DHr = bob_pub; RK, CKs = KDF_RK(SK, DH(DHs, DHr)). */
	ret = rv_keypair_generate(&r->dhs);
	if (ret != RV_OK)
		goto out;
	memcpy(r->dhr, bob_pub, RV_KEY_LEN);
	r->has_dhr = 1;
	ret = rv_ratchet_kdf_rk(r->rk, r->cks, sk, r->dhs.priv, r->dhr);
	if (ret != RV_OK)
		goto out;
	r->has_cks = 1;
	r->stats.dh_send_steps = 1; /* the initial key pair */
	r->state = RV_RATCHET_RUNNING;
	*out = r;
	r = NULL;
out:
	rv_ratchet_free(r);
	return ret;
}

int rv_ratchet_init_bob(struct rv_ratchet **out, const struct rv_ratchet_config *cfg,
			const uint8_t sk[RV_KEY_LEN], const struct rv_keypair *bob,
			const uint8_t ad[RV_HASH_LEN])
{
	struct rv_ratchet *r = NULL;
	int ret;

	if (out != NULL)
		*out = NULL;
	if (sk == NULL || bob == NULL)
		return RV_ERR_INVALID_ARG;
	ret = rv_ratchet_new(&r, cfg, ad);
	if (ret != RV_OK)
		return ret;
	/* Spec: DHs = bob's key pair; DHr = CKs = CKr = None; RK = SK. */
	r->role = RV_RATCHET_BOB;
	r->dhs = *bob;
	memcpy(r->rk, sk, RV_KEY_LEN);
	r->state = RV_RATCHET_AWAIT_FIRST;
	*out = r;
	return RV_OK;
}

void rv_ratchet_free(struct rv_ratchet *r)
{
	if (r == NULL)
		return;
	sodium_memzero(r, sizeof(*r));
	free(r);
}

int rv_ratchet_can_send(const struct rv_ratchet *r)
{
	return r != NULL && r->state == RV_RATCHET_RUNNING;
}

int rv_ratchet_clone(const struct rv_ratchet *r, struct rv_ratchet **out)
{
	struct rv_ratchet *c;

	if (out != NULL)
		*out = NULL;
	if (r == NULL || out == NULL)
		return RV_ERR_INVALID_ARG;
	c = malloc(sizeof(*c));
	if (c == NULL)
		return RV_ERR_NOMEM;
	memcpy(c, r, sizeof(*c));
	*out = c;
	return RV_OK;
}

static int rv_ratchet_stats_equal(const struct rv_ratchet_stats *a,
				  const struct rv_ratchet_stats *b)
{
	return a->sent == b->sent && a->received == b->received &&
	       a->dh_send_steps == b->dh_send_steps && a->dh_recv_steps == b->dh_recv_steps;
}

int rv_ratchet_equal(const struct rv_ratchet *a, const struct rv_ratchet *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	/* Field by field: struct padding is not state. */
	if (a->role != b->role || a->state != b->state || a->cfg.aead != b->cfg.aead ||
	    a->cfg.min_interval_ms != b->cfg.min_interval_ms)
		return 0;
	if (a->has_dhr != b->has_dhr || a->has_prev_dhr != b->has_prev_dhr ||
	    a->has_cks != b->has_cks || a->has_ckr != b->has_ckr ||
	    a->send_step_due != b->send_step_due || a->has_kp_time != b->has_kp_time ||
	    a->last_kp_ms != b->last_kp_ms || a->ns != b->ns || a->nr != b->nr ||
	    a->pn != b->pn)
		return 0;
	if (sodium_memcmp(a->ad, b->ad, RV_HASH_LEN) != 0 ||
	    sodium_memcmp(a->rk, b->rk, RV_KEY_LEN) != 0 ||
	    sodium_memcmp(a->dhs.priv, b->dhs.priv, RV_KEY_LEN) != 0 ||
	    sodium_memcmp(a->dhs.pub, b->dhs.pub, RV_KEY_LEN) != 0 ||
	    sodium_memcmp(a->dhr, b->dhr, RV_KEY_LEN) != 0 ||
	    sodium_memcmp(a->prev_dhr, b->prev_dhr, RV_KEY_LEN) != 0 ||
	    sodium_memcmp(a->cks, b->cks, RV_KEY_LEN) != 0 ||
	    sodium_memcmp(a->ckr, b->ckr, RV_KEY_LEN) != 0)
		return 0;
	return rv_ratchet_stats_equal(&a->stats, &b->stats);
}

void rv_ratchet_get_stats(const struct rv_ratchet *r, struct rv_ratchet_stats *st)
{
	if (st == NULL)
		return;
	if (r == NULL) {
		memset(st, 0, sizeof(*st));
		return;
	}
	*st = r->stats;
}
