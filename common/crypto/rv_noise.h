/* rv_noise.h - Noise_IK_25519_{ChaChaPoly,AESGCM}_SHA256, Noise spec rev 34.
 *
 * Generic Noise IK: knows nothing of rvpn payloads (see rv_handshake.h).
 * Each step works on local copies and commits to *hs only on success, so a
 * failed read_message leaves the state as it was (the caller may drop the
 * message and, for a responder, should close).  rv_noise_hs_wipe() zeroes
 * every secret; the caller owns the struct.
 */
#ifndef RV_NOISE_H
#define RV_NOISE_H

#include <stddef.h>
#include <stdint.h>

#include "rv_buf.h"
#include "rv_keys.h"

enum rv_noise_cipher {
	RV_NOISE_CIPHER_INVALID = 0,
	RV_NOISE_CIPHER_CHACHAPOLY = 1,
	RV_NOISE_CIPHER_AESGCM = 2,
};

enum rv_noise_role {
	RV_NOISE_ROLE_INVALID = 0,
	RV_NOISE_INITIATOR = 1,
	RV_NOISE_RESPONDER = 2,
};

enum rv_noise_state {
	RV_NOISE_STATE_INVALID = 0,
	RV_NOISE_STATE_MSG1 = 1, /* initiator writes / responder reads msg 1 */
	RV_NOISE_STATE_MSG2 = 2, /* responder writes / initiator reads msg 2 */
	RV_NOISE_STATE_DONE = 3, /* split available */
};

struct rv_noise_cipherstate {
	enum rv_noise_cipher cipher;
	int has_key;
	uint8_t k[RV_KEY_LEN];
	uint64_t n;
};

struct rv_noise_hs {
	enum rv_noise_role role;
	enum rv_noise_state state;
	enum rv_noise_cipher cipher;
	uint8_t ck[RV_HASH_LEN];
	uint8_t h[RV_HASH_LEN];
	struct rv_noise_cipherstate cs;
	struct rv_keypair s;
	struct rv_keypair e;
	int e_fixed; /* ephemeral preset by rv_noise_hs_set_ephemeral */
	uint8_t rs[RV_KEY_LEN];
	uint8_t re[RV_KEY_LEN];
};

/* rs: the responder's static public key (initiator only; NULL for responder). */
int rv_noise_hs_init(struct rv_noise_hs *hs, enum rv_noise_role role,
		     enum rv_noise_cipher cipher, const uint8_t *prologue,
		     size_t prologue_len, const struct rv_keypair *s,
		     const uint8_t *rs);
/* Test vectors only: use e instead of a fresh ephemeral. */
void rv_noise_hs_set_ephemeral(struct rv_noise_hs *hs, const struct rv_keypair *e);
/* Appends the handshake message to out. */
int rv_noise_write_message(struct rv_noise_hs *hs, const uint8_t *payload,
			   size_t payload_len, struct rv_buf *out);
/* Appends the decrypted payload to payload_out; RV_ERR_AUTH on bad tag. */
int rv_noise_read_message(struct rv_noise_hs *hs, const uint8_t *msg, size_t len,
			  struct rv_buf *payload_out);
/* After msg 2: c1 = initiator->responder, c2 = responder->initiator. */
int rv_noise_split(struct rv_noise_hs *hs, struct rv_noise_cipherstate *c1,
		   struct rv_noise_cipherstate *c2);
/* After read of msg 1 (responder): the initiator's static key, in hs->rs.
 * Handshake hash: hs->h (final after msg 2). */
void rv_noise_hs_wipe(struct rv_noise_hs *hs);

/* Transport-phase cipher state (used by the vector test). */
int rv_noise_cs_encrypt(struct rv_noise_cipherstate *cs, const uint8_t *ad,
			size_t ad_len, const uint8_t *pt, size_t pt_len,
			struct rv_buf *out);
int rv_noise_cs_decrypt(struct rv_noise_cipherstate *cs, const uint8_t *ad,
			size_t ad_len, const uint8_t *ct, size_t ct_len,
			struct rv_buf *out);
void rv_noise_cs_wipe(struct rv_noise_cipherstate *cs);

#endif
