/* rv_ratchet_int.h - private to rv_ratchet*.c: the state object and the
 * KDFs.  Owner: ratchet helper.
 */
#ifndef RV_RATCHET_INT_H
#define RV_RATCHET_INT_H

#include <stddef.h>
#include <stdint.h>

#include "rv_aead.h"
#include "rv_keys.h"
#include "rv_ratchet.h"
#include "rv_wire.h"

enum rv_ratchet_role {
	RV_RATCHET_ROLE_INVALID = 0,
	RV_RATCHET_ALICE = 1, /* client */
	RV_RATCHET_BOB = 2,   /* server */
};

enum rv_ratchet_state {
	RV_RATCHET_STATE_INVALID = 0,
	RV_RATCHET_AWAIT_FIRST = 1, /* Bob before Alice's first message: cannot send */
	RV_RATCHET_RUNNING = 2,
};

/* A chain's next step, derived ahead by rv_ratchet_prepare while the
 * process would otherwise wait.  It comes from the chain key alone, so it
 * holds nothing that the chain key does not already give; it is wiped when
 * the chain moves. */
struct rv_ratchet_next {
	uint8_t valid;
	uint8_t ck[RV_KEY_LEN];            /* the chain key after this message */
	uint8_t key[RV_KEY_LEN];           /* this message's AEAD key and nonce */
	uint8_t nonce[RV_AEAD_NONCE_LEN];
};

struct rv_ratchet {
	enum rv_ratchet_role role;
	enum rv_ratchet_state state;
	struct rv_ratchet_config cfg; /* defaults filled in */
	uint8_t ad[RV_HASH_LEN];      /* handshake hash */

	uint8_t rk[RV_KEY_LEN];       /* root key */
	struct rv_keypair dhs;        /* our current ratchet key pair */
	uint8_t dhr[RV_KEY_LEN];      /* peer's current ratchet key */
	uint8_t prev_dhr[RV_KEY_LEN]; /* peer's previous key (tells replay from forged) */
	uint8_t cks[RV_KEY_LEN];      /* sending chain key */
	uint8_t ckr[RV_KEY_LEN];      /* receiving chain key */
	uint8_t has_dhr, has_prev_dhr, has_cks, has_ckr;
	/* A new remote key arrived since our last key pair: the sending half
	 * of the DH step is due (subject to the deferral interval). */
	uint8_t send_step_due;
	uint8_t has_kp_time;
	uint64_t last_kp_ms;          /* when our current key pair was made */
	uint32_t ns, nr, pn;
	struct rv_ratchet_next next_s, next_r; /* of cks and ckr; not state */

	struct rv_ratchet_stats stats;
};

/* ---- KDFs (rv_ratchet_kdf.c), exactly as rv_ratchet.h defines them ---- */

/* KDF_RK: (rk, ck) = HKDF(salt=rk, ikm=DH(priv, pub), info=ROOT).
 * rk_out may alias rk_in.  RV_ERR_CRYPTO on a low-order pub. */
int rv_ratchet_kdf_rk(uint8_t rk_out[RV_KEY_LEN], uint8_t ck_out[RV_KEY_LEN],
		      const uint8_t rk_in[RV_KEY_LEN], const uint8_t priv[RV_KEY_LEN],
		      const uint8_t pub[RV_KEY_LEN]);
/* KDF_CK: mk = HMAC(ck, 0x01), ck' = HMAC(ck, 0x02); ck_out may alias ck_in
 * (unchanged on failure: RV_ERR_NOMEM / RV_ERR_CRYPTO from libcrypto). */
int rv_ratchet_kdf_ck(uint8_t ck_out[RV_KEY_LEN], uint8_t mk[RV_KEY_LEN],
		      const uint8_t ck_in[RV_KEY_LEN]);
/* AEAD key and nonce = HKDF(salt=zeros, ikm=mk, info=MESSAGE), 32 + 12. */
int rv_ratchet_kdf_msg(uint8_t key[RV_KEY_LEN], uint8_t nonce[12],
		       const uint8_t mk[RV_KEY_LEN]);
/* KDF_CK then the message KDF: ck_in -> nx (valid on success, wiped on
 * failure).  nx->ck may not be ck_in. */
int rv_ratchet_kdf_step(struct rv_ratchet_next *nx, const uint8_t ck_in[RV_KEY_LEN]);

/* AD = handshake hash || outer header || ratchet header. */
enum { RV_RATCHET_HDRS_LEN = RV_OUTER_HDR_LEN + RV_RATCHET_HDR_LEN,
       RV_RATCHET_AD_LEN = RV_HASH_LEN + RV_RATCHET_HDRS_LEN };

#endif
