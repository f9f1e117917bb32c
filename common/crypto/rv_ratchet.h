/* rv_ratchet.h - the Double Ratchet (Signal spec, Perrin & Marlinspike 2016)
 * keyed from the Noise IK handshake.
 *
 * KDF_RK = HKDF-SHA256(salt=RK, ikm=DH, info=RV_KDF_INFO_ROOT) -> RK', CK.
 * KDF_CK: MK = HMAC-SHA256(CK, 0x01), CK' = HMAC-SHA256(CK, 0x02).
 * AEAD key and nonce = HKDF-SHA256(salt=zeros, ikm=MK, info=RV_KDF_INFO_MESSAGE),
 * 32 + 12 bytes; nonces are never random.  AD = handshake hash || outer
 * header || ratchet header, so the whole header is authenticated.
 *
 * The client is Alice, the server Bob; Bob's first ratchet key is the
 * server's handshake ephemeral.  The receiving half of a DH step happens
 * whenever a new remote ratchet key arrives; the sending half (a new key
 * pair) is deferred so that at most one key pair is made per
 * config.min_interval_ms (0 = never defer).
 *
 * Encrypt produces complete transport messages (outer header included) that
 * must be sent in the order they were produced: only rv_session calls it,
 * and it sends each message as soon as it is sealed.
 *
 * Decrypt accepts only the next message in send order (the transport is a
 * reliable ordered byte stream, so anything else is tampering): in the
 * current receiving chain exactly n == Nr; with a new remote ratchet key
 * exactly pn == Nr and n == 0.  There is no store of skipped message keys.
 * Work before the tag check is at most one X25519 and one chain step.
 * Errors: RV_ERR_ORDER (gap or reorder), RV_ERR_REPLAY (a message already
 * received: duplicate, replay, earlier chain), RV_ERR_AUTH (tag failed, or
 * a chain that does not exist), RV_ERR_MALFORMED / RV_ERR_UNSUPPORTED
 * (structure), RV_ERR_CRYPTO (low-order ratchet key).  Decrypt is
 * all-or-nothing: on any error the state and the output buffer are
 * unchanged.  The caller (rv_session) ends the session on any of them.
 *
 * Ownership: rv_ratchet_init_* allocate *out; rv_ratchet_free(NULL) is safe
 * and wipes every key.
 */
#ifndef RV_RATCHET_H
#define RV_RATCHET_H

#include <stddef.h>
#include <stdint.h>

#include "rv_buf.h"
#include "rv_keys.h"
#include "rv_wire.h"

struct rv_ratchet;

struct rv_ratchet_config {
	enum rv_aead aead;            /* RV_AEAD_CHACHA20POLY1305 or _AES256GCM */
	uint32_t min_interval_ms;     /* deferral of the sending DH half */
};

struct rv_ratchet_stats {
	uint64_t sent, received;
	uint64_t dh_send_steps;       /* new key pairs made */
	uint64_t dh_recv_steps;       /* new remote keys accepted */
};

/* sk: shared secret from the handshake; ad: the handshake hash. */
int rv_ratchet_init_alice(struct rv_ratchet **out, const struct rv_ratchet_config *cfg,
			  const uint8_t sk[RV_KEY_LEN], const uint8_t bob_pub[RV_KEY_LEN],
			  const uint8_t ad[RV_HASH_LEN]);
int rv_ratchet_init_bob(struct rv_ratchet **out, const struct rv_ratchet_config *cfg,
			const uint8_t sk[RV_KEY_LEN], const struct rv_keypair *bob,
			const uint8_t ad[RV_HASH_LEN]);
void rv_ratchet_free(struct rv_ratchet *r);

/* 1 if encrypt may be called: always for Alice; for Bob only after he has
 * decrypted Alice's first message (before that encrypt is RV_ERR_STATE). */
int rv_ratchet_can_send(const struct rv_ratchet *r);

/* now_ms: a monotonic clock, used only by the deferral policy.
 * Appends one complete transport message to out (pt_len <=
 * RV_PLAINTEXT_MAX; RV_ERR_NO_SPACE if out cannot take it; RV_ERR_LIMIT
 * when a chain would pass 2^32-1 messages without a DH step). */
int rv_ratchet_encrypt(struct rv_ratchet *r, uint64_t now_ms, const uint8_t *pt,
		       size_t pt_len, struct rv_buf *out);
/* msg: one complete transport message.  Appends the plaintext to out. */
int rv_ratchet_decrypt(struct rv_ratchet *r, const uint8_t *msg, size_t len,
		       struct rv_buf *out);

/* Derive the next message key of each chain now, so that the next encrypt
 * and decrypt only seal and open: call it when the process would otherwise
 * wait, after a message is written or a received one is handled, to take
 * the KDFs (about half of a small message's crypto) off the round trip.
 * Changes no state that encrypt, decrypt or rv_ratchet_equal can tell: the
 * result is what they would derive themselves, and it is dropped when the
 * chain moves.  A chain whose next message may start a new chain (a DH
 * step is due at now_ms, as for encrypt) is left alone.  Never fails: on an
 * error nothing is kept. */
void rv_ratchet_prepare(struct rv_ratchet *r, uint64_t now_ms);

/* Deep copy (tests: post-compromise security, state-unchanged checks). */
int rv_ratchet_clone(const struct rv_ratchet *r, struct rv_ratchet **out);
/* 1 if both states are byte-for-byte the same (tests). */
int rv_ratchet_equal(const struct rv_ratchet *a, const struct rv_ratchet *b);
void rv_ratchet_get_stats(const struct rv_ratchet *r, struct rv_ratchet_stats *st);

#endif
