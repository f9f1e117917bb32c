/* rv_handshake.h - the rvpn handshake: Noise IK with rvpn payloads, ending
 * in a Double Ratchet.
 *
 * Message 1 (client -> server), RV_HS_INIT_MSG_LEN bytes:
 *   outer header (RV_MSG_HANDSHAKE_INIT) | Noise IK msg 1 whose payload is
 *   version u8 | caps u8 | reserved u16 | TAI64N[12]
 * Message 2 (server -> client), RV_HS_RESP_MSG_LEN bytes:
 *   outer header (RV_MSG_HANDSHAKE_RESP) | Noise IK msg 2 whose payload is
 *   version u8 | aead u8 | keepalive_s u16 | max_streams u32 |
 *   stream_window u32 | max_message u32
 * Ratchet secret: (k1, k2) = Split(); SK = HKDF(salt=k1, ikm=k2,
 * info=RV_KDF_INFO_RATCHET_INIT, 32).  AD = final handshake hash.
 *
 * The server decides authorization between read_init and respond: it checks
 * the client's static key and that the timestamp is newer than the last one
 * accepted for that key (replay protection, as WireGuard).
 *
 * The caller owns struct rv_handshake; rv_handshake_wipe() zeroes it.  The
 * ratchet handed out by *_finish/_respond is owned by the caller.
 */
#ifndef RV_HANDSHAKE_H
#define RV_HANDSHAKE_H

#include <stdint.h>

#include "rv_buf.h"
#include "rv_keys.h"
#include "rv_noise.h"
#include "rv_ratchet.h"

struct rv_hs_server_params {
	enum rv_aead aead;
	uint16_t keepalive_s;
	uint32_t max_streams;
	uint32_t stream_window;
	uint32_t max_message;
	/* Both ends let receivers grow stream windows (RV_CAP_WINDOW_GROWTH
	 * offered and RV_HS_WINDOW_GROWTH answered); set by respond/finish. */
	uint8_t window_growth;
	/* Also large windows (RV_CAP_WINDOW_LARGE / RV_HS_WINDOW_LARGE):
	 * credit up to RV_STREAM_WINDOW_LARGE_MAX.  Only with window_growth. */
	uint8_t window_large;
	/* Optional features (PROTOCOL.md §4.7), as RV_CAP_DATAGRAM |
	 * RV_CAP_REMOTE_FWD bits.  Server: set by the caller to what it offers
	 * this client; respond narrows it to what was also offered.  Client:
	 * set by finish to what the server agreed. */
	uint8_t features;
};

struct rv_handshake {
	struct rv_noise_hs noise;
	uint8_t peer_static[RV_KEY_LEN];
	uint8_t tai64n[RV_TAI64N_LEN];
	uint8_t client_caps;
};

/* Current time as TAI64N (12 bytes, big-endian: compare with memcmp). */
void rv_tai64n_now(uint8_t out[RV_TAI64N_LEN]);
/* 1 if this machine has hardware AES usable by libsodium. */
int rv_aesgcm_hw_available(void);

/* Client: writes message 1 (outer header included) to out, offering the
 * optional features in `features` (RV_CAP_FEATURES_ bits only). */
int rv_handshake_client_start(struct rv_handshake *hs, const struct rv_keypair *client,
			      const uint8_t server_pub[RV_KEY_LEN], unsigned features,
			      struct rv_buf *out);
/* Client: reads message 2; on success *ratchet is ready (Alice) and params
 * holds the server's parameters. */
int rv_handshake_client_finish(struct rv_handshake *hs, const uint8_t *msg, size_t len,
			       uint32_t ratchet_interval_ms, struct rv_ratchet **ratchet,
			       struct rv_hs_server_params *params);

/* Server: reads message 1.  On success hs->peer_static, hs->tai64n and
 * hs->client_caps are set; authorization is the caller's next step. */
int rv_handshake_server_read_init(struct rv_handshake *hs, const struct rv_keypair *server,
				  const uint8_t *msg, size_t len);
/* Server: picks the AEAD (AES-GCM only if the client has RV_CAP_AESGCM_HW
 * and so does this machine), writes message 2 to out, and makes *ratchet
 * (Bob).  params->aead is filled in by this call. */
int rv_handshake_server_respond(struct rv_handshake *hs, struct rv_hs_server_params *params,
				uint32_t ratchet_interval_ms, struct rv_buf *out,
				struct rv_ratchet **ratchet);
void rv_handshake_wipe(struct rv_handshake *hs);

#endif
