/* test_handshake.c - the rvpn handshake (rv_handshake.c): end to end into
 * two ratchets that talk, and rejection of every malformed, truncated,
 * tampered or misdirected message with the state left unchanged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "rv_aead.h"
#include "rv_buf.h"
#include "rv_err.h"
#include "rv_handshake.h"
#include "rv_keys.h"
#include "rv_noise.h"
#include "rv_ratchet.h"
#include "rv_wire.h"

struct fx {
	struct rv_keypair client, server;
	struct rv_handshake chs, shs;
	uint8_t msg1[RV_HS_INIT_MSG_LEN];
	struct rv_hs_server_params params;
};

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct rv_buf out;

	assert_non_null(f);
	assert_int_equal(rv_keypair_generate(&f->client), RV_OK);
	assert_int_equal(rv_keypair_generate(&f->server), RV_OK);
	rv_buf_init(&out, RV_MSG_MAX);
	assert_int_equal(rv_handshake_client_start(&f->chs, &f->client, f->server.pub, 0, &out),
			 RV_OK);
	assert_int_equal(rv_buf_len(&out), RV_HS_INIT_MSG_LEN);
	memcpy(f->msg1, rv_buf_ptr(&out), RV_HS_INIT_MSG_LEN);
	rv_buf_cleanup(&out);
	f->params.keepalive_s = 10;
	f->params.max_streams = 1024;
	f->params.stream_window = 512 * 1024;
	f->params.max_message = RV_MSG_MAX;
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	rv_handshake_wipe(&f->chs);
	rv_handshake_wipe(&f->shs);
	rv_keypair_wipe(&f->client);
	rv_keypair_wipe(&f->server);
	free(f);
	return 0;
}

/* One message each way, several rounds, through both ratchets. */
static void ratchets_talk(struct rv_ratchet *alice, struct rv_ratchet *bob)
{
	struct rv_buf wire, pt;
	char text[64];
	int round;

	rv_buf_init(&wire, RV_MSG_MAX);
	rv_buf_init(&pt, RV_MSG_MAX);
	for (round = 0; round < 4; round++) {
		int len = snprintf(text, sizeof(text), "client says %d", round);

		rv_buf_reset(&wire);
		rv_buf_reset(&pt);
		assert_int_equal(rv_ratchet_encrypt(alice, 1000u * (uint64_t)round,
						    (const uint8_t *)text, (size_t)len, &wire),
				 RV_OK);
		assert_int_equal(rv_buf_ptr(&wire)[0], RV_MSG_TRANSPORT);
		assert_int_equal(rv_ratchet_decrypt(bob, rv_buf_ptr(&wire), rv_buf_len(&wire), &pt),
				 RV_OK);
		assert_int_equal(rv_buf_len(&pt), (size_t)len);
		assert_memory_equal(rv_buf_ptr(&pt), text, (size_t)len);

		len = snprintf(text, sizeof(text), "server answers %d", round);
		rv_buf_reset(&wire);
		rv_buf_reset(&pt);
		assert_int_equal(rv_ratchet_encrypt(bob, 1000u * (uint64_t)round + 500,
						    (const uint8_t *)text, (size_t)len, &wire),
				 RV_OK);
		assert_int_equal(rv_ratchet_decrypt(alice, rv_buf_ptr(&wire), rv_buf_len(&wire),
						    &pt),
				 RV_OK);
		assert_int_equal(rv_buf_len(&pt), (size_t)len);
		assert_memory_equal(rv_buf_ptr(&pt), text, (size_t)len);
	}
	rv_buf_cleanup(&wire);
	rv_buf_cleanup(&pt);
}

static void run_e2e(struct fx *f, int force_chacha)
{
	struct rv_ratchet *alice = NULL, *bob = NULL;
	struct rv_hs_server_params got, sp = f->params;
	struct rv_buf out;
	enum rv_aead want;

	assert_int_equal(f->msg1[0], RV_MSG_HANDSHAKE_INIT);
	assert_int_equal(f->msg1[1], RV_PROTOCOL_VERSION);
	assert_int_equal(f->msg1[2], 0);
	assert_int_equal(f->msg1[3], 0);
	assert_int_equal(rv_handshake_server_read_init(&f->shs, &f->server, f->msg1,
						       sizeof(f->msg1)),
			 RV_OK);
	assert_memory_equal(f->shs.peer_static, f->client.pub, RV_KEY_LEN);
	assert_memory_equal(f->shs.tai64n, f->chs.tai64n, RV_TAI64N_LEN);
	assert_int_equal(f->shs.client_caps, f->chs.client_caps);
	assert_int_equal(f->chs.client_caps & RV_CAP_AESGCM_HW,
			 rv_aesgcm_hw_available() ? RV_CAP_AESGCM_HW : 0);
	if (force_chacha)
		f->shs.client_caps = 0; /* as if the client had no AES-NI */
	want = !force_chacha && rv_aesgcm_hw_available() ? RV_AEAD_AES256GCM :
							   RV_AEAD_CHACHA20POLY1305;

	rv_buf_init(&out, RV_MSG_MAX);
	sp.aead = RV_AEAD_INVALID;
	assert_int_equal(rv_handshake_server_respond(&f->shs, &sp, 0, &out, &bob), RV_OK);
	assert_non_null(bob);
	assert_int_equal(sp.aead, want);
	/* Window growth: offered by every client of ours, agreed unless the
	 * caps were cleared (as an older client's). */
	assert_true(f->chs.client_caps & RV_CAP_WINDOW_GROWTH);
	assert_int_equal(sp.window_growth, !force_chacha);
	/* Large windows likewise (revision 4), and only with growth. */
	assert_true(f->chs.client_caps & RV_CAP_WINDOW_LARGE);
	assert_int_equal(sp.window_large, !force_chacha);
	assert_int_equal(rv_buf_len(&out), RV_HS_RESP_MSG_LEN);
	assert_int_equal(rv_buf_ptr(&out)[0], RV_MSG_HANDSHAKE_RESP);
	assert_int_equal(rv_buf_ptr(&out)[1], RV_PROTOCOL_VERSION);
	/* The server kept no secret after handing out the ratchet. */
	assert_true(sodium_is_zero(f->shs.noise.e.priv, RV_KEY_LEN));
	assert_true(sodium_is_zero(f->shs.noise.s.priv, RV_KEY_LEN));
	assert_true(sodium_is_zero(f->shs.noise.ck, RV_HASH_LEN));
	/* Responding twice is a state error. */
	{
		struct rv_ratchet *again = NULL;

		assert_int_equal(rv_handshake_server_respond(&f->shs, &sp, 0, &out, &again),
				 RV_ERR_STATE);
		assert_null(again);
		assert_int_equal(rv_buf_len(&out), RV_HS_RESP_MSG_LEN);
	}

	memset(&got, 0, sizeof(got));
	assert_int_equal(rv_handshake_client_finish(&f->chs, rv_buf_ptr(&out), rv_buf_len(&out),
						    0, &alice, &got),
			 RV_OK);
	assert_non_null(alice);
	assert_int_equal(got.aead, want);
	assert_int_equal(got.window_growth, sp.window_growth);
	assert_int_equal(got.window_large, sp.window_large);
	assert_int_equal(got.keepalive_s, f->params.keepalive_s);
	assert_int_equal(got.max_streams, f->params.max_streams);
	assert_int_equal(got.stream_window, f->params.stream_window);
	assert_int_equal(got.max_message, f->params.max_message);
	assert_memory_equal(f->chs.noise.h, f->shs.noise.h, RV_HASH_LEN);
	assert_true(sodium_is_zero(f->chs.noise.e.priv, RV_KEY_LEN));
	assert_true(sodium_is_zero(f->chs.noise.s.priv, RV_KEY_LEN));
	/* Finishing twice is a state error. */
	{
		struct rv_ratchet *again = NULL;

		assert_int_equal(rv_handshake_client_finish(&f->chs, rv_buf_ptr(&out),
							    rv_buf_len(&out), 0, &again, &got),
				 RV_ERR_STATE);
		assert_null(again);
	}

	ratchets_talk(alice, bob);
	rv_ratchet_free(alice);
	rv_ratchet_free(bob);
	rv_buf_cleanup(&out);
}

static void test_e2e_negotiated(void **state)
{
	run_e2e(*state, 0);
}

static void test_e2e_chacha(void **state)
{
	run_e2e(*state, 1);
}

/* Two ratchets from different handshakes cannot read each other. */
/* One handshake offering `offer` to a server offering `serve`; returns the
 * features both sides ended with (they must agree). */
static unsigned negotiate(const struct fx *f, unsigned offer, unsigned serve)
{
	struct rv_handshake c, s;
	struct rv_hs_server_params sp = f->params, got;
	struct rv_ratchet *a = NULL, *b = NULL;
	struct rv_buf out;

	memset(&c, 0, sizeof(c));
	memset(&s, 0, sizeof(s));
	rv_buf_init(&out, RV_MSG_MAX);
	assert_int_equal(rv_handshake_client_start(&c, &f->client, f->server.pub, offer, &out),
			 RV_OK);
	assert_int_equal(c.client_caps & RV_CAP_FEATURES_, offer);
	assert_int_equal(rv_handshake_server_read_init(&s, &f->server, rv_buf_ptr(&out),
						       rv_buf_len(&out)),
			 RV_OK);
	rv_buf_reset(&out);
	sp.features = (uint8_t)serve;
	assert_int_equal(rv_handshake_server_respond(&s, &sp, 0, &out, &b), RV_OK);
	memset(&got, 0xff, sizeof(got));
	assert_int_equal(rv_handshake_client_finish(&c, rv_buf_ptr(&out), rv_buf_len(&out), 0,
						    &a, &got),
			 RV_OK);
	assert_int_equal(got.features, sp.features);
	ratchets_talk(a, b);
	rv_ratchet_free(a);
	rv_ratchet_free(b);
	rv_handshake_wipe(&c);
	rv_handshake_wipe(&s);
	rv_buf_cleanup(&out);
	return got.features;
}

/* Optional features are agreed only when both ends want them; an older
 * peer (offering or serving nothing) simply gets none. */
static void test_features_negotiated(void **state)
{
	struct fx *f = *state;
	const unsigned all = RV_CAP_DATAGRAM | RV_CAP_REMOTE_FWD;
	struct rv_handshake c;
	struct rv_buf out;

	for (unsigned offer = 0; offer <= all; offer += RV_CAP_DATAGRAM)
		for (unsigned serve = 0; serve <= all; serve += RV_CAP_DATAGRAM)
			assert_int_equal(negotiate(f, offer, serve), offer & serve);
	/* Only feature bits may be offered by the caller. */
	rv_buf_init(&out, RV_MSG_MAX);
	assert_int_equal(rv_handshake_client_start(&c, &f->client, f->server.pub,
						   RV_CAP_AESGCM_HW, &out),
			 RV_ERR_INVALID_ARG);
	assert_int_equal(rv_buf_len(&out), 0);
	rv_buf_cleanup(&out);
}

static void test_e2e_sessions_independent(void **state)
{
	struct fx *f = *state;
	struct fx g;
	struct rv_ratchet *a1 = NULL, *b1 = NULL, *a2 = NULL, *b2 = NULL;
	struct rv_hs_server_params p1 = f->params, p2 = f->params, got;
	struct rv_buf out, wire, pt;

	rv_buf_init(&out, RV_MSG_MAX);
	rv_buf_init(&wire, RV_MSG_MAX);
	rv_buf_init(&pt, RV_MSG_MAX);
	memset(&g, 0, sizeof(g));
	/* Same keys, second handshake. */
	assert_int_equal(rv_handshake_client_start(&g.chs, &f->client, f->server.pub, 0, &out),
			 RV_OK);
	/* Timestamps never go backwards (the server's replay check needs it). */
	assert_true(memcmp(g.chs.tai64n, f->chs.tai64n, RV_TAI64N_LEN) >= 0);
	assert_int_equal(g.chs.tai64n[0] & 0xc0, 0x40);
	assert_int_equal(rv_handshake_server_read_init(&g.shs, &f->server, rv_buf_ptr(&out),
						       rv_buf_len(&out)),
			 RV_OK);
	rv_buf_reset(&out);
	assert_int_equal(rv_handshake_server_respond(&g.shs, &p2, 0, &out, &b2), RV_OK);
	assert_int_equal(rv_handshake_client_finish(&g.chs, rv_buf_ptr(&out), rv_buf_len(&out),
						    0, &a2, &got),
			 RV_OK);

	assert_int_equal(rv_handshake_server_read_init(&f->shs, &f->server, f->msg1,
						       sizeof(f->msg1)),
			 RV_OK);
	rv_buf_reset(&out);
	assert_int_equal(rv_handshake_server_respond(&f->shs, &p1, 0, &out, &b1), RV_OK);
	assert_int_equal(rv_handshake_client_finish(&f->chs, rv_buf_ptr(&out), rv_buf_len(&out),
						    0, &a1, &got),
			 RV_OK);
	assert_memory_not_equal(f->chs.noise.h, g.chs.noise.h, RV_HASH_LEN);

	assert_int_equal(rv_ratchet_encrypt(a1, 0, (const uint8_t *)"x", 1, &wire), RV_OK);
	assert_int_not_equal(rv_ratchet_decrypt(b2, rv_buf_ptr(&wire), rv_buf_len(&wire), &pt),
			     RV_OK);
	assert_int_equal(rv_buf_len(&pt), 0);
	assert_int_equal(rv_ratchet_decrypt(b1, rv_buf_ptr(&wire), rv_buf_len(&wire), &pt),
			 RV_OK);
	ratchets_talk(a2, b2);

	rv_ratchet_free(a1);
	rv_ratchet_free(b1);
	rv_ratchet_free(a2);
	rv_ratchet_free(b2);
	rv_handshake_wipe(&g.chs);
	rv_handshake_wipe(&g.shs);
	rv_buf_cleanup(&out);
	rv_buf_cleanup(&wire);
	rv_buf_cleanup(&pt);
}

/* ---- message 1 rejections (server side) --------------------------- */

/* read_init must fail with one of the allowed codes and leave hs as it was. */
static int server_reject(struct fx *f, const uint8_t *msg, size_t len)
{
	struct rv_handshake snap;
	int r;

	memset(&f->shs, 0x5a, sizeof(f->shs));
	memcpy(&snap, &f->shs, sizeof(snap));
	r = rv_handshake_server_read_init(&f->shs, &f->server, msg, len);
	assert_int_not_equal(r, RV_OK);
	assert_memory_equal(&snap, &f->shs, sizeof(snap));
	return r;
}

static void test_init_truncated_and_long(void **state)
{
	struct fx *f = *state;
	uint8_t longer[RV_HS_INIT_MSG_LEN + 64];
	size_t len;
	uint8_t *copy;

	/* Every prefix, each in an exact-size heap copy so ASan sees overreads. */
	for (len = 0; len < RV_HS_INIT_MSG_LEN; len++) {
		copy = malloc(len > 0 ? len : 1);
		assert_non_null(copy);
		memcpy(copy, f->msg1, len);
		assert_int_equal(server_reject(f, copy, len), RV_ERR_MALFORMED);
		free(copy);
	}
	memcpy(longer, f->msg1, RV_HS_INIT_MSG_LEN);
	memset(longer + RV_HS_INIT_MSG_LEN, 0, sizeof(longer) - RV_HS_INIT_MSG_LEN);
	for (len = RV_HS_INIT_MSG_LEN + 1; len <= sizeof(longer); len++)
		assert_int_equal(server_reject(f, longer, len), RV_ERR_MALFORMED);
	assert_int_equal(server_reject(f, NULL, 0), RV_ERR_MALFORMED);
	/* The genuine message still works afterwards. */
	assert_int_equal(rv_handshake_server_read_init(&f->shs, &f->server, f->msg1,
						       sizeof(f->msg1)),
			 RV_OK);
}

static void test_init_every_bit_flipped(void **state)
{
	struct fx *f = *state;
	uint8_t m[RV_HS_INIT_MSG_LEN];
	size_t i;
	int bit, r;

	for (i = 0; i < sizeof(m); i++) {
		for (bit = 0; bit < 8; bit++) {
			memcpy(m, f->msg1, sizeof(m));
			m[i] ^= (uint8_t)(1u << bit);
			r = server_reject(f, m, sizeof(m));
			if (i == 1)
				assert_int_equal(r, RV_ERR_UNSUPPORTED); /* version */
			else if (i < RV_OUTER_HDR_LEN)
				assert_int_equal(r, RV_ERR_MALFORMED); /* type, reserved */
			else
				assert_true(r == RV_ERR_AUTH || r == RV_ERR_CRYPTO);
		}
	}
}

static void test_init_wrong_server_key(void **state)
{
	struct fx *f = *state;
	struct rv_keypair other;

	assert_int_equal(rv_keypair_generate(&other), RV_OK);
	memset(&f->shs, 0x5a, sizeof(f->shs));
	assert_int_equal(rv_handshake_server_read_init(&f->shs, &other, f->msg1,
						       sizeof(f->msg1)),
			 RV_ERR_AUTH);
	rv_keypair_wipe(&other);
}

/* Builds message 1 with a chosen payload and outer header. */
static void build_init(struct fx *f, const uint8_t hdr[4], const uint8_t *payload,
		       size_t payload_len, struct rv_buf *out)
{
	struct rv_noise_hs n;

	assert_int_equal(rv_noise_hs_init(&n, RV_NOISE_INITIATOR, RV_NOISE_CIPHER_CHACHAPOLY,
					  (const uint8_t *)RV_NOISE_PROLOGUE,
					  strlen(RV_NOISE_PROLOGUE), &f->client, f->server.pub),
			 RV_OK);
	rv_buf_reset(out);
	assert_int_equal(rv_buf_put(out, hdr, 4), RV_OK);
	assert_int_equal(rv_noise_write_message(&n, payload, payload_len, out), RV_OK);
	rv_noise_hs_wipe(&n);
}

static void make_init_payload(uint8_t p[RV_HS_INIT_PAYLOAD_LEN])
{
	p[0] = RV_PROTOCOL_VERSION;
	p[1] = 0;
	p[2] = 0;
	p[3] = 0;
	rv_tai64n_now(p + 4);
}

static void test_init_bad_fields(void **state)
{
	struct fx *f = *state;
	const uint8_t good_hdr[4] = { RV_MSG_HANDSHAKE_INIT, RV_PROTOCOL_VERSION, 0, 0 };
	uint8_t hdr[4], p[RV_HS_INIT_PAYLOAD_LEN + 1];
	struct rv_buf m;

	rv_buf_init(&m, RV_MSG_MAX);

	/* Control: a hand-built message with a good payload is accepted, and
	 * unknown capability bits are ignored. */
	make_init_payload(p);
	p[1] = 0xfe;
	build_init(f, good_hdr, p, RV_HS_INIT_PAYLOAD_LEN, &m);
	assert_int_equal(rv_handshake_server_read_init(&f->shs, &f->server, rv_buf_ptr(&m),
						       rv_buf_len(&m)),
			 RV_OK);
	assert_int_equal(f->shs.client_caps, 0xfe);

	/* Payload version. */
	make_init_payload(p);
	p[0] = RV_PROTOCOL_VERSION + 1;
	build_init(f, good_hdr, p, RV_HS_INIT_PAYLOAD_LEN, &m);
	assert_int_equal(server_reject(f, rv_buf_ptr(&m), rv_buf_len(&m)), RV_ERR_UNSUPPORTED);
	p[0] = 0;
	build_init(f, good_hdr, p, RV_HS_INIT_PAYLOAD_LEN, &m);
	assert_int_equal(server_reject(f, rv_buf_ptr(&m), rv_buf_len(&m)), RV_ERR_UNSUPPORTED);

	/* Payload reserved bytes, each. */
	make_init_payload(p);
	p[2] = 1;
	build_init(f, good_hdr, p, RV_HS_INIT_PAYLOAD_LEN, &m);
	assert_int_equal(server_reject(f, rv_buf_ptr(&m), rv_buf_len(&m)), RV_ERR_MALFORMED);
	make_init_payload(p);
	p[3] = 0x80;
	build_init(f, good_hdr, p, RV_HS_INIT_PAYLOAD_LEN, &m);
	assert_int_equal(server_reject(f, rv_buf_ptr(&m), rv_buf_len(&m)), RV_ERR_MALFORMED);

	/* TAI64N out of range: label below 2^62, nanoseconds >= 10^9. */
	make_init_payload(p);
	p[4] = 0x00;
	build_init(f, good_hdr, p, RV_HS_INIT_PAYLOAD_LEN, &m);
	assert_int_equal(server_reject(f, rv_buf_ptr(&m), rv_buf_len(&m)), RV_ERR_MALFORMED);
	make_init_payload(p);
	p[12] = 0x3b;
	p[13] = 0x9a;
	p[14] = 0xca;
	p[15] = 0x00; /* exactly 10^9 */
	build_init(f, good_hdr, p, RV_HS_INIT_PAYLOAD_LEN, &m);
	assert_int_equal(server_reject(f, rv_buf_ptr(&m), rv_buf_len(&m)), RV_ERR_MALFORMED);

	/* Payload one byte short / long: whole message has the wrong length. */
	make_init_payload(p);
	build_init(f, good_hdr, p, RV_HS_INIT_PAYLOAD_LEN - 1, &m);
	assert_int_equal(server_reject(f, rv_buf_ptr(&m), rv_buf_len(&m)), RV_ERR_MALFORMED);
	p[RV_HS_INIT_PAYLOAD_LEN] = 0;
	build_init(f, good_hdr, p, RV_HS_INIT_PAYLOAD_LEN + 1, &m);
	assert_int_equal(server_reject(f, rv_buf_ptr(&m), rv_buf_len(&m)), RV_ERR_MALFORMED);

	/* Outer header: version, reserved, type (all before any crypto). */
	make_init_payload(p);
	memcpy(hdr, good_hdr, 4);
	hdr[1] = RV_PROTOCOL_VERSION + 1;
	build_init(f, hdr, p, RV_HS_INIT_PAYLOAD_LEN, &m);
	assert_int_equal(server_reject(f, rv_buf_ptr(&m), rv_buf_len(&m)), RV_ERR_UNSUPPORTED);
	memcpy(hdr, good_hdr, 4);
	hdr[2] = 1;
	build_init(f, hdr, p, RV_HS_INIT_PAYLOAD_LEN, &m);
	assert_int_equal(server_reject(f, rv_buf_ptr(&m), rv_buf_len(&m)), RV_ERR_MALFORMED);
	memcpy(hdr, good_hdr, 4);
	hdr[3] = 1;
	build_init(f, hdr, p, RV_HS_INIT_PAYLOAD_LEN, &m);
	assert_int_equal(server_reject(f, rv_buf_ptr(&m), rv_buf_len(&m)), RV_ERR_MALFORMED);
	memcpy(hdr, good_hdr, 4);
	hdr[0] = RV_MSG_HANDSHAKE_RESP;
	build_init(f, hdr, p, RV_HS_INIT_PAYLOAD_LEN, &m);
	assert_int_equal(server_reject(f, rv_buf_ptr(&m), rv_buf_len(&m)), RV_ERR_MALFORMED);
	hdr[0] = RV_MSG_TRANSPORT;
	build_init(f, hdr, p, RV_HS_INIT_PAYLOAD_LEN, &m);
	assert_int_equal(server_reject(f, rv_buf_ptr(&m), rv_buf_len(&m)), RV_ERR_MALFORMED);

	rv_buf_cleanup(&m);
}

/* ---- message 2 rejections (client side) --------------------------- */

/* Server state after a good message 1, and its genuine message 2. */
static void server_side(struct fx *f, uint8_t msg2[RV_HS_RESP_MSG_LEN],
			struct rv_ratchet **bob)
{
	struct rv_hs_server_params sp = f->params;
	struct rv_buf out;

	rv_buf_init(&out, RV_MSG_MAX);
	assert_int_equal(rv_handshake_server_read_init(&f->shs, &f->server, f->msg1,
						       sizeof(f->msg1)),
			 RV_OK);
	assert_int_equal(rv_handshake_server_respond(&f->shs, &sp, 0, &out, bob), RV_OK);
	assert_int_equal(rv_buf_len(&out), RV_HS_RESP_MSG_LEN);
	memcpy(msg2, rv_buf_ptr(&out), RV_HS_RESP_MSG_LEN);
	rv_buf_cleanup(&out);
}

static int client_reject(struct fx *f, const uint8_t *msg, size_t len)
{
	struct rv_handshake snap;
	struct rv_hs_server_params p, psnap;
	struct rv_ratchet *r = NULL;
	int rc;

	memcpy(&snap, &f->chs, sizeof(snap));
	memset(&p, 0x77, sizeof(p));
	psnap = p;
	rc = rv_handshake_client_finish(&f->chs, msg, len, 0, &r, &p);
	assert_int_not_equal(rc, RV_OK);
	assert_null(r);
	assert_memory_equal(&snap, &f->chs, sizeof(snap));
	assert_memory_equal(&psnap, &p, sizeof(p));
	return rc;
}

/* After all the rejections the genuine message 2 still completes. */
static void client_accepts(struct fx *f, const uint8_t *msg2, struct rv_ratchet *bob)
{
	struct rv_ratchet *alice = NULL;
	struct rv_hs_server_params got;

	assert_int_equal(rv_handshake_client_finish(&f->chs, msg2, RV_HS_RESP_MSG_LEN, 0,
						    &alice, &got),
			 RV_OK);
	ratchets_talk(alice, bob);
	rv_ratchet_free(alice);
}

static void test_resp_truncated_flipped(void **state)
{
	struct fx *f = *state;
	uint8_t msg2[RV_HS_RESP_MSG_LEN], m[RV_HS_RESP_MSG_LEN + 8];
	struct rv_ratchet *bob = NULL;
	size_t i, len;
	int bit, r;
	uint8_t *copy;

	server_side(f, msg2, &bob);
	for (len = 0; len < RV_HS_RESP_MSG_LEN; len++) {
		copy = malloc(len > 0 ? len : 1);
		assert_non_null(copy);
		memcpy(copy, msg2, len);
		assert_int_equal(client_reject(f, copy, len), RV_ERR_MALFORMED);
		free(copy);
	}
	memcpy(m, msg2, RV_HS_RESP_MSG_LEN);
	memset(m + RV_HS_RESP_MSG_LEN, 0, 8);
	for (len = RV_HS_RESP_MSG_LEN + 1; len <= sizeof(m); len++)
		assert_int_equal(client_reject(f, m, len), RV_ERR_MALFORMED);
	for (i = 0; i < RV_HS_RESP_MSG_LEN; i++) {
		for (bit = 0; bit < 8; bit++) {
			memcpy(m, msg2, RV_HS_RESP_MSG_LEN);
			m[i] ^= (uint8_t)(1u << bit);
			r = client_reject(f, m, RV_HS_RESP_MSG_LEN);
			if (i == 1)
				assert_int_equal(r, RV_ERR_UNSUPPORTED);
			else if (i < RV_OUTER_HDR_LEN)
				assert_int_equal(r, RV_ERR_MALFORMED);
			else
				assert_true(r == RV_ERR_AUTH || r == RV_ERR_CRYPTO);
		}
	}
	/* Message 1 handed to the client is the wrong type/length. */
	assert_int_equal(client_reject(f, f->msg1, sizeof(f->msg1)), RV_ERR_MALFORMED);
	client_accepts(f, msg2, bob);
	rv_ratchet_free(bob);
}

/* A message 2 from a server with a different static key. */
static void test_resp_wrong_server(void **state)
{
	struct fx *f = *state;
	struct rv_handshake other;
	struct rv_keypair okey;
	struct rv_hs_server_params sp = f->params;
	struct rv_ratchet *ob = NULL;
	struct rv_buf out;

	/* The impostor cannot even read message 1... */
	assert_int_equal(rv_keypair_generate(&okey), RV_OK);
	assert_int_equal(rv_handshake_server_read_init(&other, &okey, f->msg1, sizeof(f->msg1)),
			 RV_ERR_AUTH);
	/* ...and a message 2 from a handshake it did complete with someone else
	 * does not authenticate to this client. */
	{
		struct rv_handshake c2;
		struct rv_keypair ck;

		rv_buf_init(&out, RV_MSG_MAX);
		assert_int_equal(rv_keypair_generate(&ck), RV_OK);
		assert_int_equal(rv_handshake_client_start(&c2, &ck, okey.pub, 0, &out), RV_OK);
		assert_int_equal(rv_handshake_server_read_init(&other, &okey, rv_buf_ptr(&out),
							       rv_buf_len(&out)),
				 RV_OK);
		rv_buf_reset(&out);
		assert_int_equal(rv_handshake_server_respond(&other, &sp, 0, &out, &ob), RV_OK);
		assert_int_equal(client_reject(f, rv_buf_ptr(&out), rv_buf_len(&out)),
				 RV_ERR_AUTH);
		rv_handshake_wipe(&c2);
		rv_keypair_wipe(&ck);
		rv_buf_cleanup(&out);
	}
	rv_ratchet_free(ob);
	rv_handshake_wipe(&other);
	rv_keypair_wipe(&okey);
}

/* Builds message 2 from the server's post-read_init state with a chosen
 * payload (bypassing rv_handshake_server_respond's own checks). */
static void build_resp(const struct rv_handshake *shs, const uint8_t hdr[4],
		       const uint8_t *payload, size_t payload_len, struct rv_buf *out)
{
	struct rv_noise_hs n;

	memcpy(&n, &shs->noise, sizeof(n));
	rv_buf_reset(out);
	assert_int_equal(rv_buf_put(out, hdr, 4), RV_OK);
	assert_int_equal(rv_noise_write_message(&n, payload, payload_len, out), RV_OK);
	rv_noise_hs_wipe(&n);
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void make_resp_payload(uint8_t p[RV_HS_RESP_PAYLOAD_LEN], uint8_t aead)
{
	p[0] = RV_PROTOCOL_VERSION;
	p[1] = aead;
	p[2] = 0;
	p[3] = 10;
	put_be32(p + 4, 1024);
	put_be32(p + 8, 512 * 1024);
	put_be32(p + 12, RV_MSG_MAX);
}

static void test_resp_bad_fields(void **state)
{
	struct fx *f = *state;
	const uint8_t hdr[4] = { RV_MSG_HANDSHAKE_RESP, RV_PROTOCOL_VERSION, 0, 0 };
	uint8_t p[RV_HS_RESP_PAYLOAD_LEN + 1];
	struct rv_hs_server_params got;
	struct rv_ratchet *alice = NULL;
	struct rv_buf m;

	rv_buf_init(&m, RV_MSG_MAX);
	assert_int_equal(rv_handshake_server_read_init(&f->shs, &f->server, f->msg1,
						       sizeof(f->msg1)),
			 RV_OK);

	make_resp_payload(p, RV_AEAD_CHACHA20POLY1305);
	p[0] = RV_PROTOCOL_VERSION + 1;
	build_resp(&f->shs, hdr, p, RV_HS_RESP_PAYLOAD_LEN, &m);
	assert_int_equal(client_reject(f, rv_buf_ptr(&m), rv_buf_len(&m)), RV_ERR_UNSUPPORTED);

	make_resp_payload(p, RV_AEAD_INVALID);
	build_resp(&f->shs, hdr, p, RV_HS_RESP_PAYLOAD_LEN, &m);
	assert_int_equal(client_reject(f, rv_buf_ptr(&m), rv_buf_len(&m)), RV_ERR_MALFORMED);
	make_resp_payload(p, 3);
	build_resp(&f->shs, hdr, p, RV_HS_RESP_PAYLOAD_LEN, &m);
	assert_int_equal(client_reject(f, rv_buf_ptr(&m), rv_buf_len(&m)), RV_ERR_MALFORMED);

	/* AES-GCM the client did not offer. */
	{
		struct rv_handshake saved;

		memcpy(&saved, &f->chs, sizeof(saved));
		f->chs.client_caps = 0;
		make_resp_payload(p, RV_AEAD_AES256GCM);
		build_resp(&f->shs, hdr, p, RV_HS_RESP_PAYLOAD_LEN, &m);
		assert_int_equal(client_reject(f, rv_buf_ptr(&m), rv_buf_len(&m)),
				 RV_ERR_UNSUPPORTED);
		memcpy(&f->chs, &saved, sizeof(saved));
	}

	/* Window growth answered to a client that did not offer it. */
	{
		struct rv_handshake saved;

		memcpy(&saved, &f->chs, sizeof(saved));
		f->chs.client_caps &= (uint8_t)~RV_CAP_WINDOW_GROWTH;
		make_resp_payload(p, RV_AEAD_CHACHA20POLY1305 | RV_HS_WINDOW_GROWTH);
		build_resp(&f->shs, hdr, p, RV_HS_RESP_PAYLOAD_LEN, &m);
		assert_int_equal(client_reject(f, rv_buf_ptr(&m), rv_buf_len(&m)),
				 RV_ERR_MALFORMED);
		memcpy(&f->chs, &saved, sizeof(saved));
	}

	/* Large windows answered to a client that offered growth only, and
	 * large windows without growth (offered both). */
	{
		struct rv_handshake saved;

		memcpy(&saved, &f->chs, sizeof(saved));
		f->chs.client_caps &= (uint8_t)~RV_CAP_WINDOW_LARGE;
		make_resp_payload(p, RV_AEAD_CHACHA20POLY1305 | RV_HS_WINDOW_GROWTH |
					     RV_HS_WINDOW_LARGE);
		build_resp(&f->shs, hdr, p, RV_HS_RESP_PAYLOAD_LEN, &m);
		assert_int_equal(client_reject(f, rv_buf_ptr(&m), rv_buf_len(&m)),
				 RV_ERR_MALFORMED);
		memcpy(&f->chs, &saved, sizeof(saved));
		make_resp_payload(p, RV_AEAD_CHACHA20POLY1305 | RV_HS_WINDOW_LARGE);
		build_resp(&f->shs, hdr, p, RV_HS_RESP_PAYLOAD_LEN, &m);
		assert_int_equal(client_reject(f, rv_buf_ptr(&m), rv_buf_len(&m)),
				 RV_ERR_MALFORMED);
		memcpy(&f->chs, &saved, sizeof(saved));
	}

	/* Features the client did not offer (fx offers none). */
	{
		const uint8_t bad[] = { RV_HS_DATAGRAM, RV_HS_REMOTE_FWD };

		for (size_t i = 0; i < sizeof(bad); i++) {
			make_resp_payload(p, (uint8_t)(RV_AEAD_CHACHA20POLY1305 | bad[i]));
			build_resp(&f->shs, hdr, p, RV_HS_RESP_PAYLOAD_LEN, &m);
			assert_int_equal(client_reject(f, rv_buf_ptr(&m), rv_buf_len(&m)),
					 RV_ERR_MALFORMED);
		}
	}

	/* Limits out of range. */
	make_resp_payload(p, RV_AEAD_CHACHA20POLY1305);
	put_be32(p + 12, RV_MSG_MAX + 1);
	build_resp(&f->shs, hdr, p, RV_HS_RESP_PAYLOAD_LEN, &m);
	assert_int_equal(client_reject(f, rv_buf_ptr(&m), rv_buf_len(&m)), RV_ERR_MALFORMED);
	make_resp_payload(p, RV_AEAD_CHACHA20POLY1305);
	put_be32(p + 4, 0);
	build_resp(&f->shs, hdr, p, RV_HS_RESP_PAYLOAD_LEN, &m);
	assert_int_equal(client_reject(f, rv_buf_ptr(&m), rv_buf_len(&m)), RV_ERR_MALFORMED);
	make_resp_payload(p, RV_AEAD_CHACHA20POLY1305);
	put_be32(p + 8, RV_STREAM_WINDOW_MAX + 1);
	build_resp(&f->shs, hdr, p, RV_HS_RESP_PAYLOAD_LEN, &m);
	assert_int_equal(client_reject(f, rv_buf_ptr(&m), rv_buf_len(&m)), RV_ERR_MALFORMED);

	/* Wrong payload length changes the message length. */
	make_resp_payload(p, RV_AEAD_CHACHA20POLY1305);
	build_resp(&f->shs, hdr, p, RV_HS_RESP_PAYLOAD_LEN - 1, &m);
	assert_int_equal(client_reject(f, rv_buf_ptr(&m), rv_buf_len(&m)), RV_ERR_MALFORMED);

	/* Control: the same construction with a good payload is accepted. */
	make_resp_payload(p, RV_AEAD_CHACHA20POLY1305);
	build_resp(&f->shs, hdr, p, RV_HS_RESP_PAYLOAD_LEN, &m);
	assert_int_equal(rv_handshake_client_finish(&f->chs, rv_buf_ptr(&m), rv_buf_len(&m), 0,
						    &alice, &got),
			 RV_OK);
	assert_int_equal(got.aead, RV_AEAD_CHACHA20POLY1305);
	assert_int_equal(got.max_message, RV_MSG_MAX);
	rv_ratchet_free(alice);
	rv_buf_cleanup(&m);
}

static void test_state_and_args(void **state)
{
	struct fx *f = *state;
	struct rv_hs_server_params sp = f->params;
	struct rv_ratchet *r = NULL;
	struct rv_handshake blank;
	struct rv_buf out;
	uint8_t msg2[RV_HS_RESP_MSG_LEN] = { RV_MSG_HANDSHAKE_RESP, RV_PROTOCOL_VERSION };

	rv_buf_init(&out, RV_MSG_MAX);
	memset(&blank, 0, sizeof(blank));
	/* respond / finish without the preceding step. */
	assert_int_equal(rv_handshake_server_respond(&blank, &sp, 0, &out, &r), RV_ERR_STATE);
	assert_int_equal(rv_handshake_client_finish(&blank, msg2, sizeof(msg2), 0, &r, &sp),
			 RV_ERR_STATE);
	/* A client handshake is not a server one. */
	assert_int_equal(rv_handshake_server_respond(&f->chs, &sp, 0, &out, &r), RV_ERR_STATE);
	assert_null(r);
	assert_int_equal(rv_buf_len(&out), 0);

	/* The server refuses to announce limits the client would reject. */
	assert_int_equal(rv_handshake_server_read_init(&f->shs, &f->server, f->msg1,
						       sizeof(f->msg1)),
			 RV_OK);
	sp.max_message = RV_MSG_MAX + 1;
	assert_int_equal(rv_handshake_server_respond(&f->shs, &sp, 0, &out, &r),
			 RV_ERR_INVALID_ARG);
	assert_int_equal(rv_buf_len(&out), 0);
	/* A full output buffer: nothing written, state unchanged, retry works. */
	{
		struct rv_buf small;
		struct rv_handshake snap;

		rv_buf_init(&small, RV_HS_RESP_MSG_LEN - 1);
		memcpy(&snap, &f->shs, sizeof(snap));
		sp = f->params;
		assert_int_equal(rv_handshake_server_respond(&f->shs, &sp, 0, &small, &r),
				 RV_ERR_NO_SPACE);
		assert_int_equal(rv_buf_len(&small), 0);
		assert_memory_equal(&snap, &f->shs, sizeof(snap));
		assert_null(r);
		rv_buf_cleanup(&small);
		assert_int_equal(rv_handshake_server_respond(&f->shs, &sp, 0, &out, &r), RV_OK);
		rv_ratchet_free(r);
	}
	/* client_start into a full buffer leaves it empty. */
	{
		struct rv_buf small;
		struct rv_handshake c;

		rv_buf_init(&small, RV_HS_INIT_MSG_LEN - 1);
		assert_int_equal(rv_handshake_client_start(&c, &f->client, f->server.pub, 0, &small),
				 RV_ERR_NO_SPACE);
		assert_int_equal(rv_buf_len(&small), 0);
		rv_buf_cleanup(&small);
	}
	assert_int_equal(rv_handshake_client_start(NULL, &f->client, f->server.pub, 0, &out),
			 RV_ERR_INVALID_ARG);
	assert_int_equal(rv_handshake_server_read_init(&f->shs, NULL, f->msg1, sizeof(f->msg1)),
			 RV_ERR_INVALID_ARG);
	rv_buf_cleanup(&out);
}

static void test_tai64n(void **state)
{
	uint8_t a[RV_TAI64N_LEN], b[RV_TAI64N_LEN];
	uint64_t secs = 0;
	int i;

	(void)state;
	rv_tai64n_now(a);
	rv_tai64n_now(b);
	assert_true(memcmp(b, a, RV_TAI64N_LEN) >= 0);
	for (i = 0; i < 8; i++)
		secs = (secs << 8) | a[i];
	/* 2^62 + 10 + seconds since 1970; sanity: after 2020-01-01. */
	assert_true(secs > 0x400000000000000aULL + 1577836800ULL);
	assert_true(((uint32_t)a[8] << 24 | (uint32_t)a[9] << 16 | (uint32_t)a[10] << 8 | a[11]) <
		    1000000000u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_e2e_negotiated, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_e2e_chacha, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_features_negotiated, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_e2e_sessions_independent, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_init_truncated_and_long, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_init_every_bit_flipped, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_init_wrong_server_key, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_init_bad_fields, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_resp_truncated_flipped, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_resp_wrong_server, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_resp_bad_fields, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_state_and_args, fx_setup, fx_teardown),
		cmocka_unit_test(test_tai64n),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
