/* rv_handshake.c - the rvpn handshake: outer header + Noise IK
 * (ChaChaPoly) with rvpn payloads, ending in a Double Ratchet.
 * Owner: crypto helper.
 *
 * Lengths and outer headers are checked before any crypto.  Every call
 * works on a local copy of struct rv_handshake and commits it only on
 * success; appended output is removed again on failure.
 */
#include "rv_handshake.h"

#include <string.h>
#include <time.h>

#include <sodium.h>

#include "rv_aead.h"
#include "rv_err.h"
#include "rv_hkdf.h"
#include "rv_wire.h"

/* TAI64 label of the Unix epoch: 2^62 + 10 (TAI-UTC offset in 1970). */
#define RV_TAI64_EPOCH 0x400000000000000aULL

void rv_tai64n_now(uint8_t out[RV_TAI64N_LEN])
{
	struct timespec ts;
	uint64_t secs;
	uint32_t ns;
	int i;

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0) {
		ts.tv_sec = 0;
		ts.tv_nsec = 0;
	}
	secs = RV_TAI64_EPOCH + (uint64_t)ts.tv_sec;
	ns = (uint32_t)ts.tv_nsec;
	for (i = 0; i < 8; i++)
		out[i] = (uint8_t)(secs >> (56 - 8 * i));
	for (i = 0; i < 4; i++)
		out[8 + i] = (uint8_t)(ns >> (24 - 8 * i));
}

int rv_aesgcm_hw_available(void)
{
	return sodium_init() >= 0 && crypto_aead_aes256gcm_is_available();
}

/* A TAI64N label must be in the 2^62.. range and nanoseconds < 10^9. */
static int rv_tai64n_valid(const uint8_t t[RV_TAI64N_LEN])
{
	uint32_t ns = ((uint32_t)t[8] << 24) | ((uint32_t)t[9] << 16) |
		      ((uint32_t)t[10] << 8) | t[11];

	return (t[0] & 0xc0) == 0x40 && ns < 1000000000u;
}

static int rv_hs_put_outer(struct rv_buf *out, enum rv_msg_type type)
{
	uint8_t hdr[RV_OUTER_HDR_LEN] = { (uint8_t)type, RV_PROTOCOL_VERSION, 0, 0 };

	return rv_buf_put(out, hdr, sizeof(hdr));
}

/* Exact length first, then type, version, reserved: all before crypto. */
static int rv_hs_check_outer(const uint8_t *msg, size_t len, enum rv_msg_type type,
			     size_t want_len)
{
	if (msg == NULL || len != want_len)
		return RV_ERR_MALFORMED;
	if (msg[0] != (uint8_t)type)
		return RV_ERR_MALFORMED;
	if (msg[1] != RV_PROTOCOL_VERSION)
		return RV_ERR_UNSUPPORTED;
	if (msg[2] != 0 || msg[3] != 0)
		return RV_ERR_MALFORMED;
	return RV_OK;
}

/* Limits a server may announce; the client refuses anything else. */
static int rv_hs_params_valid(const struct rv_hs_server_params *p)
{
	return p->max_streams >= 1 && p->stream_window >= 1 &&
	       p->stream_window <= RV_STREAM_WINDOW_MAX &&
	       p->max_message > RV_TRANSPORT_OVERHEAD && p->max_message <= RV_MSG_MAX;
}

/* (k1, k2) = Split(); SK = HKDF(salt=k1, ikm=k2, info=RATCHET_INIT, 32). */
static int rv_hs_derive_sk(struct rv_noise_hs *noise, uint8_t sk[RV_KEY_LEN])
{
	struct rv_noise_cipherstate c1, c2;
	int r;

	r = rv_noise_split(noise, &c1, &c2);
	if (r == RV_OK)
		r = rv_hkdf_sha256(sk, RV_KEY_LEN, c1.k, RV_KEY_LEN, c2.k, RV_KEY_LEN,
				   (const uint8_t *)RV_KDF_INFO_RATCHET_INIT,
				   strlen(RV_KDF_INFO_RATCHET_INIT));
	rv_noise_cs_wipe(&c1);
	rv_noise_cs_wipe(&c2);
	return r;
}

/* After the ratchet exists, the handshake keeps only public values (h, rs,
 * re) so a later leak of the struct reveals no key. */
static void rv_hs_drop_secrets(struct rv_noise_hs *noise)
{
	sodium_memzero(noise->ck, sizeof(noise->ck));
	rv_noise_cs_wipe(&noise->cs);
	sodium_memzero(noise->s.priv, sizeof(noise->s.priv));
	sodium_memzero(noise->e.priv, sizeof(noise->e.priv));
}

int rv_handshake_client_start(struct rv_handshake *hs, const struct rv_keypair *client,
			      const uint8_t server_pub[RV_KEY_LEN], unsigned features,
			      struct rv_buf *out)
{
	struct rv_handshake t;
	uint8_t payload[RV_HS_INIT_PAYLOAD_LEN];
	size_t before;
	int r;

	if (hs == NULL || client == NULL || server_pub == NULL || out == NULL ||
	    (features & ~(unsigned)RV_CAP_FEATURES_) != 0)
		return RV_ERR_INVALID_ARG;
	before = rv_buf_len(out);
	memset(&t, 0, sizeof(t));
	r = rv_noise_hs_init(&t.noise, RV_NOISE_INITIATOR, RV_NOISE_CIPHER_CHACHAPOLY,
			     (const uint8_t *)RV_NOISE_PROLOGUE, strlen(RV_NOISE_PROLOGUE),
			     client, server_pub);
	if (r != RV_OK)
		goto out;
	memcpy(t.peer_static, server_pub, RV_KEY_LEN);
	t.client_caps = (uint8_t)((rv_aesgcm_hw_available() ? RV_CAP_AESGCM_HW : 0) |
				  RV_CAP_WINDOW_GROWTH | RV_CAP_WINDOW_LARGE | features);
	rv_tai64n_now(t.tai64n);
	payload[0] = RV_PROTOCOL_VERSION;
	payload[1] = t.client_caps;
	payload[2] = 0;
	payload[3] = 0;
	memcpy(payload + 4, t.tai64n, RV_TAI64N_LEN);
	if ((r = rv_hs_put_outer(out, RV_MSG_HANDSHAKE_INIT)) != RV_OK)
		goto out;
	r = rv_noise_write_message(&t.noise, payload, sizeof(payload), out);
	if (r != RV_OK)
		goto out;
	if (rv_buf_len(out) - before != RV_HS_INIT_MSG_LEN) {
		r = RV_ERR_INTERNAL;
		goto out;
	}
	memcpy(hs, &t, sizeof(t));
out:
	if (r != RV_OK && rv_buf_len(out) > before)
		rv_buf_unput(out, rv_buf_len(out) - before);
	sodium_memzero(&t, sizeof(t));
	sodium_memzero(payload, sizeof(payload));
	return r;
}

static int rv_hs_parse_resp_payload(const uint8_t *p, size_t len, uint8_t client_caps,
				    struct rv_hs_server_params *params)
{
	struct rv_buf b;
	uint8_t version = 0, aead = 0;

	if (len != RV_HS_RESP_PAYLOAD_LEN)
		return RV_ERR_MALFORMED;
	rv_buf_init_view(&b, p, len);
	if (rv_buf_get_u8(&b, &version) != RV_OK || rv_buf_get_u8(&b, &aead) != RV_OK ||
	    rv_buf_get_u16(&b, &params->keepalive_s) != RV_OK ||
	    rv_buf_get_u32(&b, &params->max_streams) != RV_OK ||
	    rv_buf_get_u32(&b, &params->stream_window) != RV_OK ||
	    rv_buf_get_u32(&b, &params->max_message) != RV_OK)
		return RV_ERR_MALFORMED;
	if (version != RV_PROTOCOL_VERSION)
		return RV_ERR_UNSUPPORTED;
	params->window_growth = (aead & RV_HS_WINDOW_GROWTH) != 0;
	if (params->window_growth && !(client_caps & RV_CAP_WINDOW_GROWTH))
		return RV_ERR_MALFORMED; /* answered what we did not offer */
	params->window_large = (aead & RV_HS_WINDOW_LARGE) != 0;
	if (params->window_large &&
	    (!params->window_growth || !(client_caps & RV_CAP_WINDOW_LARGE)))
		return RV_ERR_MALFORMED;
	params->features = (uint8_t)(((aead & RV_HS_DATAGRAM) ? RV_CAP_DATAGRAM : 0) |
				     ((aead & RV_HS_REMOTE_FWD) ? RV_CAP_REMOTE_FWD : 0));
	if ((params->features & ~client_caps) != 0)
		return RV_ERR_MALFORMED; /* agreed to what we did not offer */
	aead &= RV_HS_AEAD_MASK;
	if (aead == RV_AEAD_AES256GCM) {
		/* Only acceptable if we offered it and can run it. */
		if (!(client_caps & RV_CAP_AESGCM_HW) || !rv_aesgcm_hw_available())
			return RV_ERR_UNSUPPORTED;
	} else if (aead != RV_AEAD_CHACHA20POLY1305) {
		return RV_ERR_MALFORMED;
	}
	params->aead = (enum rv_aead)aead;
	if (!rv_hs_params_valid(params))
		return RV_ERR_MALFORMED;
	return RV_OK;
}

int rv_handshake_client_finish(struct rv_handshake *hs, const uint8_t *msg, size_t len,
			       uint32_t ratchet_interval_ms, struct rv_ratchet **ratchet,
			       struct rv_hs_server_params *params)
{
	struct rv_handshake t;
	struct rv_hs_server_params p;
	struct rv_ratchet_config cfg;
	struct rv_ratchet *rt = NULL;
	struct rv_buf pb;
	uint8_t sk[RV_KEY_LEN];
	int r;

	if (hs == NULL || ratchet == NULL || params == NULL)
		return RV_ERR_INVALID_ARG;
	if (hs->noise.role != RV_NOISE_INITIATOR || hs->noise.state != RV_NOISE_STATE_MSG2)
		return RV_ERR_STATE;
	r = rv_hs_check_outer(msg, len, RV_MSG_HANDSHAKE_RESP, RV_HS_RESP_MSG_LEN);
	if (r != RV_OK)
		return r;
	memcpy(&t, hs, sizeof(t));
	memset(&p, 0, sizeof(p));
	rv_buf_init(&pb, RV_HS_RESP_PAYLOAD_LEN);
	r = rv_noise_read_message(&t.noise, msg + RV_OUTER_HDR_LEN, len - RV_OUTER_HDR_LEN,
				  &pb);
	if (r != RV_OK)
		goto out;
	r = rv_hs_parse_resp_payload(rv_buf_ptr(&pb), rv_buf_len(&pb), t.client_caps, &p);
	if (r != RV_OK)
		goto out;
	if ((r = rv_hs_derive_sk(&t.noise, sk)) != RV_OK)
		goto out;
	memset(&cfg, 0, sizeof(cfg));
	cfg.aead = p.aead;
	cfg.min_interval_ms = ratchet_interval_ms;
	/* Alice: Bob's first ratchet key is the server's handshake ephemeral. */
	r = rv_ratchet_init_alice(&rt, &cfg, sk, t.noise.re, t.noise.h);
	if (r != RV_OK)
		goto out;
	rv_hs_drop_secrets(&t.noise);
	memcpy(hs, &t, sizeof(t));
	*params = p;
	*ratchet = rt;
out:
	rv_buf_cleanup(&pb);
	sodium_memzero(&t, sizeof(t));
	sodium_memzero(sk, sizeof(sk));
	return r;
}

int rv_handshake_server_read_init(struct rv_handshake *hs, const struct rv_keypair *server,
				  const uint8_t *msg, size_t len)
{
	struct rv_handshake t;
	struct rv_buf pb;
	const uint8_t *p;
	int r;

	if (hs == NULL || server == NULL)
		return RV_ERR_INVALID_ARG;
	r = rv_hs_check_outer(msg, len, RV_MSG_HANDSHAKE_INIT, RV_HS_INIT_MSG_LEN);
	if (r != RV_OK)
		return r;
	memset(&t, 0, sizeof(t));
	rv_buf_init(&pb, RV_HS_INIT_PAYLOAD_LEN);
	r = rv_noise_hs_init(&t.noise, RV_NOISE_RESPONDER, RV_NOISE_CIPHER_CHACHAPOLY,
			     (const uint8_t *)RV_NOISE_PROLOGUE, strlen(RV_NOISE_PROLOGUE),
			     server, NULL);
	if (r != RV_OK)
		goto out;
	r = rv_noise_read_message(&t.noise, msg + RV_OUTER_HDR_LEN, len - RV_OUTER_HDR_LEN,
				  &pb);
	if (r != RV_OK)
		goto out;
	if (rv_buf_len(&pb) != RV_HS_INIT_PAYLOAD_LEN) {
		r = RV_ERR_MALFORMED;
		goto out;
	}
	p = rv_buf_ptr(&pb);
	/* version u8 | caps u8 | reserved u16 | tai64n[12] */
	if (p[0] != RV_PROTOCOL_VERSION) {
		r = RV_ERR_UNSUPPORTED;
		goto out;
	}
	if (p[2] != 0 || p[3] != 0 || !rv_tai64n_valid(p + 4)) {
		r = RV_ERR_MALFORMED;
		goto out;
	}
	/* Unknown capability bits are ignored: newer clients may offer more. */
	t.client_caps = p[1];
	memcpy(t.tai64n, p + 4, RV_TAI64N_LEN);
	memcpy(t.peer_static, t.noise.rs, RV_KEY_LEN);
	memcpy(hs, &t, sizeof(t));
out:
	rv_buf_cleanup(&pb);
	sodium_memzero(&t, sizeof(t));
	return r;
}

int rv_handshake_server_respond(struct rv_handshake *hs, struct rv_hs_server_params *params,
				uint32_t ratchet_interval_ms, struct rv_buf *out,
				struct rv_ratchet **ratchet)
{
	struct rv_handshake t;
	struct rv_ratchet_config cfg;
	struct rv_ratchet *rt = NULL;
	struct rv_buf pb;
	uint8_t sk[RV_KEY_LEN];
	enum rv_aead aead;
	unsigned growth, flags;
	uint8_t features;
	size_t before;
	int r;

	if (hs == NULL || params == NULL || out == NULL || ratchet == NULL)
		return RV_ERR_INVALID_ARG;
	if (hs->noise.role != RV_NOISE_RESPONDER || hs->noise.state != RV_NOISE_STATE_MSG2)
		return RV_ERR_STATE;
	if (!rv_hs_params_valid(params))
		return RV_ERR_INVALID_ARG;
	aead = (hs->client_caps & RV_CAP_AESGCM_HW) && rv_aesgcm_hw_available() ?
		       RV_AEAD_AES256GCM :
		       RV_AEAD_CHACHA20POLY1305;
	growth = (hs->client_caps & RV_CAP_WINDOW_GROWTH) ? RV_HS_WINDOW_GROWTH : 0;
	if (growth && (hs->client_caps & RV_CAP_WINDOW_LARGE))
		growth |= RV_HS_WINDOW_LARGE;
	features = (uint8_t)(params->features & hs->client_caps & RV_CAP_FEATURES_);
	flags = growth | ((features & RV_CAP_DATAGRAM) ? RV_HS_DATAGRAM : 0) |
		((features & RV_CAP_REMOTE_FWD) ? RV_HS_REMOTE_FWD : 0);
	before = rv_buf_len(out);
	memcpy(&t, hs, sizeof(t));
	rv_buf_init(&pb, RV_HS_RESP_PAYLOAD_LEN);
	if ((r = rv_buf_put_u8(&pb, RV_PROTOCOL_VERSION)) != RV_OK ||
	    (r = rv_buf_put_u8(&pb, (uint8_t)((unsigned)aead | flags))) != RV_OK ||
	    (r = rv_buf_put_u16(&pb, params->keepalive_s)) != RV_OK ||
	    (r = rv_buf_put_u32(&pb, params->max_streams)) != RV_OK ||
	    (r = rv_buf_put_u32(&pb, params->stream_window)) != RV_OK ||
	    (r = rv_buf_put_u32(&pb, params->max_message)) != RV_OK)
		goto out;
	if ((r = rv_hs_put_outer(out, RV_MSG_HANDSHAKE_RESP)) != RV_OK)
		goto out;
	r = rv_noise_write_message(&t.noise, rv_buf_ptr(&pb), rv_buf_len(&pb), out);
	if (r != RV_OK)
		goto out;
	if (rv_buf_len(out) - before != RV_HS_RESP_MSG_LEN) {
		r = RV_ERR_INTERNAL;
		goto out;
	}
	if ((r = rv_hs_derive_sk(&t.noise, sk)) != RV_OK)
		goto out;
	memset(&cfg, 0, sizeof(cfg));
	cfg.aead = aead;
	cfg.min_interval_ms = ratchet_interval_ms;
	/* Bob: his first ratchet key pair is this handshake's ephemeral. */
	r = rv_ratchet_init_bob(&rt, &cfg, sk, &t.noise.e, t.noise.h);
	if (r != RV_OK)
		goto out;
	rv_hs_drop_secrets(&t.noise);
	memcpy(hs, &t, sizeof(t));
	params->aead = aead;
	params->window_growth = growth != 0;
	params->window_large = (growth & RV_HS_WINDOW_LARGE) != 0;
	params->features = features;
	*ratchet = rt;
out:
	if (r != RV_OK && rv_buf_len(out) > before)
		rv_buf_unput(out, rv_buf_len(out) - before);
	rv_buf_cleanup(&pb);
	sodium_memzero(&t, sizeof(t));
	sodium_memzero(sk, sizeof(sk));
	return r;
}

void rv_handshake_wipe(struct rv_handshake *hs)
{
	if (hs != NULL)
		sodium_memzero(hs, sizeof(*hs));
}
