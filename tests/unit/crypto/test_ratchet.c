/* test_ratchet.c - Double Ratchet (rv_ratchet*.c): wire layout checked
 * against an independent computation from libsodium primitives, two-way
 * traffic, every flipped byte, structure checks, the strict order rule
 * (drop, swap, duplicate, replay, flip, truncate: each refused with its own
 * code and the state unchanged), post-compromise security.  Long random interleavings and the
 * deferral policy: test_ratchet_random.c.  Owner: ratchet helper.
 *
 * Every test that takes an AEAD runs for ChaCha20-Poly1305 and AES-256-GCM
 * (skipped when this CPU has no AES-NI).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ratchet_test_util.h"

static enum rv_aead aead_chacha = RV_AEAD_CHACHA20POLY1305;
static enum rv_aead aead_aes = RV_AEAD_AES256GCM;

static enum rv_aead get_aead(void **state)
{
	enum rv_aead a = *(enum rv_aead *)*state;

	if (!rv_aead_available(a)) {
		print_message("AES-256-GCM not available on this CPU: skipped\n");
		skip();
	}
	return a;
}

static void make_pair(void **state, struct rt_pair *p, uint32_t interval)
{
	struct rv_ratchet_config c = rt_config(get_aead(state), interval);

	rt_pair_init(p, &c, &c);
}

/* ---- independent reference: HKDF/KDF_CK/AEAD from libsodium only ---- */

static void ref_hkdf(uint8_t *out, size_t out_len, const uint8_t *salt, const uint8_t *ikm,
		     size_t ikm_len, const char *info)
{
	uint8_t prk[32], t[32];
	size_t done = 0;
	uint8_t ctr = 1;
	crypto_auth_hmacsha256_state st;

	crypto_auth_hmacsha256_init(&st, salt, 32);
	crypto_auth_hmacsha256_update(&st, ikm, ikm_len);
	crypto_auth_hmacsha256_final(&st, prk);
	while (done < out_len) {
		crypto_auth_hmacsha256_init(&st, prk, 32);
		if (ctr > 1)
			crypto_auth_hmacsha256_update(&st, t, 32);
		crypto_auth_hmacsha256_update(&st, (const uint8_t *)info, strlen(info));
		crypto_auth_hmacsha256_update(&st, &ctr, 1);
		crypto_auth_hmacsha256_final(&st, t);
		memcpy(out + done, t, out_len - done < 32 ? out_len - done : 32);
		done += out_len - done < 32 ? out_len - done : 32;
		ctr++;
	}
}

static void ref_kdf_ck(uint8_t ck[32], uint8_t mk[32])
{
	uint8_t one = 1, two = 2, next[32];

	crypto_auth_hmacsha256(mk, &one, 1, ck);
	crypto_auth_hmacsha256(next, &two, 1, ck);
	memcpy(ck, next, 32);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Opens m as Bob would, from the spec alone; ck is the receiving chain
 * key before the message, advanced on return. */
static void ref_open(enum rv_aead aead, const uint8_t ad_h[32], uint8_t ck[32],
		     const struct rt_msg *m, const void *pt, size_t pt_len)
{
	static const uint8_t zeros[32];
	uint8_t mk[32], kn[44], ad[32 + 44], dec[RT_MSG_CAP];
	unsigned long long dlen = 0;
	int r;

	ref_kdf_ck(ck, mk);
	ref_hkdf(kn, sizeof(kn), zeros, mk, 32, RV_KDF_INFO_MESSAGE);
	memcpy(ad, ad_h, 32);
	memcpy(ad + 32, m->b, 44);
	if (aead == RV_AEAD_CHACHA20POLY1305)
		r = crypto_aead_chacha20poly1305_ietf_decrypt(dec, &dlen, NULL, m->b + 44,
							      m->len - 44, ad, sizeof(ad),
							      kn + 32, kn);
	else
		r = crypto_aead_aes256gcm_decrypt(dec, &dlen, NULL, m->b + 44, m->len - 44, ad,
						  sizeof(ad), kn + 32, kn);
	assert_int_equal(r, 0);
	assert_int_equal(dlen, pt_len);
	assert_memory_equal(dec, pt, pt_len);
}

/* The wire layout and KDFs are exactly as rv_ratchet.h and PROTOCOL.md
 * define them: a peer written from the spec can read our messages. */
static void test_reference_layout(void **state)
{
	struct rt_pair p;
	struct rt_msg m0, m1, mb;
	uint8_t dh[32], rk_ck[64], ck[32];
	static const char pt0[] = "first message", pt1[] = "second", ptb[] = "from bob";
	enum rv_aead aead = get_aead(state);

	make_pair(state, &p, 0);
	rt_seal(p.a, 0, pt0, sizeof(pt0), &m0);
	rt_seal(p.a, 0, pt1, sizeof(pt1), &m1);
	/* Outer header and ratchet header. */
	assert_int_equal(m0.b[0], RV_MSG_TRANSPORT);
	assert_int_equal(m0.b[1], RV_PROTOCOL_VERSION);
	assert_int_equal(m0.b[2], 0);
	assert_int_equal(m0.b[3], 0);
	assert_memory_equal(m0.b + 4, m1.b + 4, 32); /* same sending chain */
	assert_int_equal(be32(m0.b + 36), 0);        /* pn */
	assert_int_equal(be32(m0.b + 40), 0);        /* n */
	assert_int_equal(be32(m1.b + 40), 1);
	assert_int_equal(m0.len, 44 + sizeof(pt0) + 16);

	/* Bob's side from the spec: RK, CKr = KDF_RK(SK, DH(B0, A1)). */
	assert_int_equal(crypto_scalarmult(dh, p.bob.priv, m0.b + 4), 0);
	ref_hkdf(rk_ck, 64, p.sk, dh, 32, RV_KDF_INFO_ROOT);
	memcpy(ck, rk_ck + 32, 32);
	ref_open(aead, p.ad, ck, &m0, pt0, sizeof(pt0));
	ref_open(aead, p.ad, ck, &m1, pt1, sizeof(pt1));

	/* The real Bob agrees and answers under a fresh key with pn = 0. */
	rt_open_ok(p.b, &m0, pt0, sizeof(pt0));
	rt_open_ok(p.b, &m1, pt1, sizeof(pt1));
	rt_seal(p.b, 0, ptb, sizeof(ptb), &mb);
	assert_memory_not_equal(mb.b + 4, p.bob.pub, 32);
	assert_int_equal(be32(mb.b + 36), 0);
	assert_int_equal(be32(mb.b + 40), 0);
	rt_open_ok(p.a, &mb, ptb, sizeof(ptb));
	rt_pair_free(&p);
}

/* Seals like a spec-following Bob would: header (dh, pn, n), ck advanced. */
static void ref_seal(enum rv_aead aead, const uint8_t ad_h[32], uint8_t ck[32],
		     const uint8_t dh_pub[32], uint32_t pn, uint32_t n, const void *pt,
		     size_t pt_len, struct rt_msg *m)
{
	static const uint8_t zeros[32];
	uint8_t mk[32], kn[44], ad[32 + 44];
	unsigned long long clen = 0;
	uint8_t *h = m->b;

	ref_kdf_ck(ck, mk);
	ref_hkdf(kn, sizeof(kn), zeros, mk, 32, RV_KDF_INFO_MESSAGE);
	h[0] = RV_MSG_TRANSPORT;
	h[1] = RV_PROTOCOL_VERSION;
	h[2] = h[3] = 0;
	memcpy(h + 4, dh_pub, 32);
	h[36] = (uint8_t)(pn >> 24), h[37] = (uint8_t)(pn >> 16);
	h[38] = (uint8_t)(pn >> 8), h[39] = (uint8_t)pn;
	h[40] = (uint8_t)(n >> 24), h[41] = (uint8_t)(n >> 16);
	h[42] = (uint8_t)(n >> 8), h[43] = (uint8_t)n;
	memcpy(ad, ad_h, 32);
	memcpy(ad + 32, h, 44);
	if (aead == RV_AEAD_CHACHA20POLY1305)
		crypto_aead_chacha20poly1305_ietf_encrypt(h + 44, &clen, pt, pt_len, ad,
							  sizeof(ad), NULL, kn + 32, kn);
	else
		crypto_aead_aes256gcm_encrypt(h + 44, &clen, pt, pt_len, ad, sizeof(ad), NULL,
					      kn + 32, kn);
	m->len = 44 + (size_t)clen;
}

/* A reference Bob written from the spec alone talks to the real Alice
 * through two DH steps: root chain, chain keys, message keys, header and AD
 * all agree. */
static void test_reference_peer(void **state)
{
	struct rt_pair p;
	struct rt_msg m;
	uint8_t dh[32], okm[64], rk[32], ckr[32], cks[32], a_pub[32];
	struct rv_keypair b1;
	static const char pt1[] = "alice 1", pt2[] = "ref bob", pt3[] = "alice 2";
	enum rv_aead aead = get_aead(state);
	struct rv_ratchet_stats st;

	make_pair(state, &p, 0);
	/* RK1, CKr = KDF_RK(SK, DH(B0, A1)). */
	rt_seal(p.a, 0, pt1, sizeof(pt1), &m);
	memcpy(a_pub, m.b + 4, 32);
	assert_int_equal(crypto_scalarmult(dh, p.bob.priv, a_pub), 0);
	ref_hkdf(okm, 64, p.sk, dh, 32, RV_KDF_INFO_ROOT);
	memcpy(rk, okm, 32);
	memcpy(ckr, okm + 32, 32);
	ref_open(aead, p.ad, ckr, &m, pt1, sizeof(pt1));
	/* Bob's step: B1; RK2, CKs = KDF_RK(RK1, DH(B1, A1)). */
	assert_int_equal(rv_keypair_generate(&b1), RV_OK);
	assert_int_equal(crypto_scalarmult(dh, b1.priv, a_pub), 0);
	ref_hkdf(okm, 64, rk, dh, 32, RV_KDF_INFO_ROOT);
	memcpy(rk, okm, 32);
	memcpy(cks, okm + 32, 32);
	ref_seal(aead, p.ad, cks, b1.pub, 0, 0, pt2, sizeof(pt2), &m);
	rt_open_ok(p.a, &m, pt2, sizeof(pt2));
	ref_seal(aead, p.ad, cks, b1.pub, 0, 1, pt2, sizeof(pt2), &m);
	rt_open_ok(p.a, &m, pt2, sizeof(pt2));
	/* Alice's step: A2 with pn = 1; RK3, CKr = KDF_RK(RK2, DH(B1, A2)). */
	rt_seal(p.a, 0, pt3, sizeof(pt3), &m);
	assert_memory_not_equal(m.b + 4, a_pub, 32);
	assert_int_equal(be32(m.b + 36), 1);
	assert_int_equal(be32(m.b + 40), 0);
	assert_int_equal(crypto_scalarmult(dh, b1.priv, m.b + 4), 0);
	ref_hkdf(okm, 64, rk, dh, 32, RV_KDF_INFO_ROOT);
	memcpy(ckr, okm + 32, 32);
	ref_open(aead, p.ad, ckr, &m, pt3, sizeof(pt3));
	st = rt_stats(p.a);
	assert_int_equal(st.dh_send_steps, 2);
	assert_int_equal(st.dh_recv_steps, 1);
	rv_keypair_wipe(&b1);
	rt_pair_free(&p);
}

/* Two-way traffic with DH steps in both directions; stats count them. */
static void test_two_way(void **state)
{
	struct rt_pair p;
	struct rt_msg m;
	char pt[64];
	struct rv_ratchet_stats sa, sb;
	struct rv_buf out;
	int round, i;

	make_pair(state, &p, 0);
	/* Bob cannot send before Alice's first message. */
	assert_false(rv_ratchet_can_send(p.b));
	assert_true(rv_ratchet_can_send(p.a));
	rv_buf_init(&out, RT_MSG_CAP);
	assert_int_equal(rv_ratchet_encrypt(p.b, 0, (const uint8_t *)"x", 1, &out), RV_ERR_STATE);
	assert_int_equal(rv_buf_len(&out), 0);
	rv_buf_cleanup(&out);

	for (round = 0; round < 10; round++) {
		for (i = 0; i <= round % 3; i++) {
			snprintf(pt, sizeof(pt), "a->b round %d msg %d", round, i);
			rt_seal(p.a, 0, pt, strlen(pt), &m);
			rt_open_ok(p.b, &m, pt, strlen(pt));
		}
		assert_true(rv_ratchet_can_send(p.b));
		for (i = 0; i <= round % 2; i++) {
			snprintf(pt, sizeof(pt), "b->a round %d msg %d", round, i);
			rt_seal(p.b, 0, pt, strlen(pt), &m);
			rt_open_ok(p.a, &m, pt, strlen(pt));
		}
	}
	sa = rt_stats(p.a);
	sb = rt_stats(p.b);
	/* Interval 0: one new key pair per direction change. */
	assert_int_equal(sa.dh_send_steps, 10); /* initial + 9 */
	assert_int_equal(sb.dh_send_steps, 10);
	assert_int_equal(sa.dh_recv_steps, 10);
	assert_int_equal(sb.dh_recv_steps, 10);
	assert_int_equal(sa.sent, sb.received);
	assert_int_equal(sb.sent, sa.received);
	/* Empty plaintext is a valid message too. */
	rt_seal(p.a, 0, NULL, 0, &m);
	rt_open_ok(p.b, &m, NULL, 0);
	rt_pair_free(&p);
}

/* Flip every bit of every byte (headers included): always rejected, state
 * and output unchanged; the original then still opens. */
static void check_all_flips(struct rv_ratchet *rx, const struct rt_msg *m, const void *pt,
			    size_t pt_len)
{
	struct rt_msg f;
	size_t i;
	int bit, ret;

	for (i = 0; i < m->len; i++) {
		for (bit = 0; bit < 8; bit++) {
			f = *m;
			f.b[i] ^= (uint8_t)(1u << bit);
			ret = rt_open_fail(rx, f.b, f.len);
			assert_true(ret == RV_ERR_AUTH || ret == RV_ERR_MALFORMED ||
				    ret == RV_ERR_UNSUPPORTED || ret == RV_ERR_ORDER ||
				    ret == RV_ERR_REPLAY || ret == RV_ERR_CRYPTO);
		}
	}
	/* Every truncation and one extra byte fail too. */
	for (i = 0; i < m->len; i++)
		rt_open_fail(rx, m->b, i);
	f = *m;
	f.b[f.len++] = 0;
	rt_open_fail(rx, f.b, f.len);
	rt_open_ok(rx, m, pt, pt_len);
}

static void test_flip_every_byte(void **state)
{
	struct rt_pair p;
	struct rt_msg m;
	static const char pt[] = "0123456789abcdef0123456789abcdef";

	make_pair(state, &p, 0);
	/* First message (Bob without a receiving chain yet). */
	rt_seal(p.a, 0, pt, sizeof(pt), &m);
	check_all_flips(p.b, &m, pt, sizeof(pt));
	/* Second message in the same chain. */
	rt_seal(p.a, 0, pt, sizeof(pt), &m);
	check_all_flips(p.b, &m, pt, sizeof(pt));
	/* A message after a DH step, with pn > 0. */
	rt_seal(p.b, 0, pt, sizeof(pt), &m);
	check_all_flips(p.a, &m, pt, sizeof(pt));
	rt_seal(p.a, 0, pt, sizeof(pt), &m);
	assert_int_equal(be32(m.b + 36), 2);
	check_all_flips(p.b, &m, pt, sizeof(pt));
	rt_pair_free(&p);
}

/* Structure is validated before any crypto. */
static void test_structure(void **state)
{
	struct rt_pair p;
	struct rt_msg m, f;
	static const char pt[] = "structure";
	uint8_t big[RV_MSG_MAX + 1];

	make_pair(state, &p, 0);
	rt_seal(p.a, 0, pt, sizeof(pt), &m);
	f = m;
	f.b[0] = RV_MSG_HANDSHAKE_INIT;
	assert_int_equal(rt_open_fail(p.b, f.b, f.len), RV_ERR_MALFORMED);
	f = m;
	f.b[1] = RV_PROTOCOL_VERSION + 1;
	assert_int_equal(rt_open_fail(p.b, f.b, f.len), RV_ERR_UNSUPPORTED);
	f = m;
	f.b[3] = 1;
	assert_int_equal(rt_open_fail(p.b, f.b, f.len), RV_ERR_MALFORMED);
	assert_int_equal(rt_open_fail(p.b, m.b, RV_TRANSPORT_OVERHEAD - 1), RV_ERR_MALFORMED);
	assert_int_equal(rt_open_fail(p.b, NULL, 0), RV_ERR_MALFORMED);
	memset(big, 0, sizeof(big));
	memcpy(big, m.b, m.len);
	assert_int_equal(rt_open_fail(p.b, big, sizeof(big)), RV_ERR_MALFORMED);
	/* n = 2^32-1 is never sent. */
	f = m;
	memset(f.b + 40, 0xff, 4);
	assert_int_equal(rt_open_fail(p.b, f.b, f.len), RV_ERR_MALFORMED);
	/* A low-order ratchet key: DH refused. */
	f = m;
	memset(f.b + 4, 0, 32);
	assert_int_equal(rt_open_fail(p.b, f.b, f.len), RV_ERR_CRYPTO);
	/* Wrong handshake hash (AD): authentication fails. */
	{
		struct rt_pair q;
		struct rv_ratchet *bob2 = NULL;
		struct rv_ratchet_config c = rt_config(get_aead(state), 0);

		rt_pair_init(&q, &c, &c);
		q.ad[0] ^= 1;
		assert_int_equal(rv_ratchet_init_bob(&bob2, &c, q.sk, &q.bob, q.ad), RV_OK);
		rt_seal(q.a, 0, pt, sizeof(pt), &f);
		assert_int_equal(rt_open_fail(bob2, f.b, f.len), RV_ERR_AUTH);
		rt_open_ok(q.b, &f, pt, sizeof(pt));
		rv_ratchet_free(bob2);
		rt_pair_free(&q);
	}
	rt_open_ok(p.b, &m, pt, sizeof(pt));
	rt_pair_free(&p);
}

/* Output buffer and plaintext limits; failures change nothing. */
static void test_limits(void **state)
{
	struct rt_pair p;
	struct rv_ratchet *before = NULL;
	struct rv_buf out, small;
	uint8_t *pt = calloc(1, RV_PLAINTEXT_MAX + 1);

	assert_non_null(pt);
	make_pair(state, &p, 0);
	rv_buf_init(&out, RV_MSG_MAX + 16);
	assert_int_equal(rv_ratchet_clone(p.a, &before), RV_OK);
	assert_int_equal(rv_ratchet_encrypt(p.a, 0, pt, RV_PLAINTEXT_MAX + 1, &out),
			 RV_ERR_INVALID_ARG);
	rv_buf_init(&small, RV_TRANSPORT_OVERHEAD + 9);
	assert_int_equal(rv_ratchet_encrypt(p.a, 0, pt, 10, &small), RV_ERR_NO_SPACE);
	assert_int_equal(rv_buf_len(&small), 0);
	assert_true(rv_ratchet_equal(p.a, before));
	rv_ratchet_free(before);

	/* The largest plaintext makes exactly an RV_MSG_MAX message. */
	assert_int_equal(rv_ratchet_encrypt(p.a, 0, pt, RV_PLAINTEXT_MAX, &out), RV_OK);
	assert_int_equal(rv_buf_len(&out), RV_MSG_MAX);
	/* Decrypt into a buffer too small: no space, nothing changes. */
	assert_int_equal(rv_ratchet_clone(p.b, &before), RV_OK);
	rv_buf_reset(&small);
	assert_int_equal(rv_ratchet_decrypt(p.b, rv_buf_ptr(&out), rv_buf_len(&out), &small),
			 RV_ERR_NO_SPACE);
	assert_true(rv_ratchet_equal(p.b, before));
	rv_ratchet_free(before);
	rv_buf_cleanup(&small);
	rv_buf_init(&small, RV_PLAINTEXT_MAX);
	assert_int_equal(rv_ratchet_decrypt(p.b, rv_buf_ptr(&out), rv_buf_len(&out), &small),
			 RV_OK);
	assert_int_equal(rv_buf_len(&small), RV_PLAINTEXT_MAX);
	rv_buf_cleanup(&small);
	rv_buf_cleanup(&out);
	free(pt);

	/* Bad arguments. */
	{
		struct rv_ratchet *x = NULL;
		struct rv_ratchet_config c = rt_config(RV_AEAD_INVALID, 0);

		assert_int_equal(rv_ratchet_init_alice(&x, &c, p.sk, p.bob.pub, p.ad),
				 RV_ERR_INVALID_ARG);
		assert_null(x);
		c = rt_config(RV_AEAD_CHACHA20POLY1305, 0);
		assert_int_equal(rv_ratchet_init_alice(&x, NULL, p.sk, p.bob.pub, p.ad),
				 RV_ERR_INVALID_ARG);
		/* A low-order "Bob key" cannot start a ratchet. */
		{
			uint8_t zero[32] = { 0 };

			assert_int_equal(rv_ratchet_init_alice(&x, &c, p.sk, zero, p.ad),
					 RV_ERR_CRYPTO);
			assert_null(x);
		}
	}
	rv_ratchet_free(NULL);
	rt_pair_free(&p);
}

/* Seal n numbered messages "<tag> <i>" from r into m[]. */
static void seal_numbered(struct rv_ratchet *r, const char *tag, struct rt_msg *m,
			  char (*pt)[16], int n)
{
	int i;

	for (i = 0; i < n; i++) {
		snprintf(pt[i], sizeof(pt[i]), "%s %d", tag, i);
		rt_seal(r, 0, pt[i], sizeof(pt[i]), &m[i]);
	}
}

/* What a relay can do to an ordered stream of messages, at the ratchet
 * level: each is refused with its own code, state and output unchanged,
 * and the genuine next message still opens afterwards. */
static void test_tamper_in_chain(void **state)
{
	enum { N = 6 };
	struct rt_pair p;
	struct rt_msg m[N], f;
	char pt[N][16];
	size_t i;

	make_pair(state, &p, 0);
	seal_numbered(p.a, "msg", m, pt, N);
	/* Drop the first: the second is out of order (new chain, n = 1). */
	assert_int_equal(rt_open_fail(p.b, m[1].b, m[1].len), RV_ERR_ORDER);
	rt_open_ok(p.b, &m[0], pt[0], sizeof(pt[0]));
	/* Duplicate. */
	assert_int_equal(rt_open_fail(p.b, m[0].b, m[0].len), RV_ERR_REPLAY);
	/* Drop one in the chain (m[1] lost, m[2] arrives). */
	assert_int_equal(rt_open_fail(p.b, m[2].b, m[2].len), RV_ERR_ORDER);
	/* Swap m[1] and m[2]: the first to arrive, m[2], is refused. */
	assert_int_equal(rt_open_fail(p.b, m[2].b, m[2].len), RV_ERR_ORDER);
	rt_open_ok(p.b, &m[1], pt[1], sizeof(pt[1]));
	/* A far gap costs nothing: refused on the header alone. */
	assert_int_equal(rt_open_fail(p.b, m[N - 1].b, m[N - 1].len), RV_ERR_ORDER);
	/* Flip one bit of the ciphertext, of the tag, of the header's pn. */
	f = m[2];
	f.b[RV_OUTER_HDR_LEN + RV_RATCHET_HDR_LEN] ^= 0x01;
	assert_int_equal(rt_open_fail(p.b, f.b, f.len), RV_ERR_AUTH);
	f = m[2];
	f.b[f.len - 1] ^= 0x80;
	assert_int_equal(rt_open_fail(p.b, f.b, f.len), RV_ERR_AUTH);
	f = m[2];
	f.b[RV_OUTER_HDR_LEN + RV_KEY_LEN + 3] ^= 0x01;
	assert_int_equal(rt_open_fail(p.b, f.b, f.len), RV_ERR_AUTH);
	/* Flip n: a gap (n = 3) or a replay (n = 0). */
	f = m[2];
	f.b[RV_OUTER_HDR_LEN + RV_KEY_LEN + 7] ^= 0x01;
	assert_int_equal(rt_open_fail(p.b, f.b, f.len), RV_ERR_ORDER);
	f = m[2];
	f.b[RV_OUTER_HDR_LEN + RV_KEY_LEN + 7] ^= 0x02;
	assert_int_equal(rt_open_fail(p.b, f.b, f.len), RV_ERR_REPLAY);
	/* Truncate: at any length with a whole header the tag fails; below
	 * the fixed overhead it is malformed. */
	for (i = RV_TRANSPORT_OVERHEAD; i < m[2].len; i++)
		assert_int_equal(rt_open_fail(p.b, m[2].b, i), RV_ERR_AUTH);
	for (i = 0; i < RV_TRANSPORT_OVERHEAD; i++)
		assert_int_equal(rt_open_fail(p.b, m[2].b, i), RV_ERR_MALFORMED);
	/* One byte appended. */
	f = m[2];
	f.b[f.len++] = 0;
	assert_int_equal(rt_open_fail(p.b, f.b, f.len), RV_ERR_AUTH);
	/* After all that the stream goes on exactly where it was. */
	for (i = 2; i < N; i++)
		rt_open_ok(p.b, &m[i], pt[i], sizeof(pt[i]));
	/* Replay of an old message much later. */
	assert_int_equal(rt_open_fail(p.b, m[1].b, m[1].len), RV_ERR_REPLAY);
	assert_int_equal(rt_stats(p.b).received, N);
	rt_pair_free(&p);
}

/* Across DH steps: a new chain is accepted only when the old one is
 * complete (pn == Nr) and only from its first message (n == 0); the old
 * chain is closed once the new one is taken. */
static void test_tamper_across_steps(void **state)
{
	enum { N = 4 };
	struct rt_pair p;
	struct rt_msg m[N], late[3], nc[2], mb, f;
	char pt[N][16], lt[3][16], ncp[2][16];
	int i;

	make_pair(state, &p, 0);
	seal_numbered(p.a, "msg", m, pt, N);
	for (i = 0; i < N; i++)
		rt_open_ok(p.b, &m[i], pt[i], sizeof(pt[i]));
	/* Alice sends 3 more on chain A1, then steps after Bob's reply. */
	seal_numbered(p.a, "late", late, lt, 3);
	rt_seal(p.b, 0, "b", 1, &mb);
	rt_open_ok(p.a, &mb, "b", 1);
	seal_numbered(p.a, "newc", nc, ncp, 2);
	assert_int_equal(be32(nc[0].b + 36), N + 3); /* pn */
	assert_int_equal(be32(nc[0].b + 40), 0);
	/* The late ones are missing: the new chain is refused (drop at the
	 * end of a chain), and so is a later message of it. */
	assert_int_equal(rt_open_fail(p.b, nc[0].b, nc[0].len), RV_ERR_ORDER);
	assert_int_equal(rt_open_fail(p.b, nc[1].b, nc[1].len), RV_ERR_ORDER);
	rt_open_ok(p.b, &late[0], lt[0], sizeof(lt[0]));
	rt_open_ok(p.b, &late[1], lt[1], sizeof(lt[1]));
	assert_int_equal(rt_open_fail(p.b, nc[0].b, nc[0].len), RV_ERR_ORDER);
	rt_open_ok(p.b, &late[2], lt[2], sizeof(lt[2]));
	/* Complete now; but its second message first is still a gap. */
	assert_int_equal(rt_open_fail(p.b, nc[1].b, nc[1].len), RV_ERR_ORDER);
	/* A forged pn that does not match (wrong length claimed for the old
	 * chain) is refused before any DH. */
	f = nc[0];
	f.b[39] ^= 0x01;
	assert_int_equal(rt_open_fail(p.b, f.b, f.len), RV_ERR_ORDER);
	/* A forged new key with the right pn and n: the DH runs, the tag fails. */
	f = nc[0];
	f.b[10] ^= 0x01;
	i = rt_open_fail(p.b, f.b, f.len);
	assert_true(i == RV_ERR_AUTH || i == RV_ERR_CRYPTO);
	rt_open_ok(p.b, &nc[0], ncp[0], sizeof(ncp[0]));
	rt_open_ok(p.b, &nc[1], ncp[1], sizeof(ncp[1]));
	/* The old chain is gone: a replay of any of its messages is refused. */
	for (i = 0; i < 3; i++)
		assert_int_equal(rt_open_fail(p.b, late[i].b, late[i].len), RV_ERR_REPLAY);
	assert_int_equal(rt_open_fail(p.b, nc[0].b, nc[0].len), RV_ERR_REPLAY);
	/* A chain two steps back looks like a new key whose pn is wrong. */
	rt_seal(p.b, 0, "b2", 2, &mb);
	rt_open_ok(p.a, &mb, "b2", 2);
	rt_seal(p.a, 0, "a3", 2, &m[1]);
	rt_open_ok(p.b, &m[1], "a3", 2);
	assert_int_equal(rt_open_fail(p.b, m[0].b, m[0].len), RV_ERR_ORDER);
	/* Alice, before Bob's first message, has no chain on Bob's handshake
	 * key: a message claiming it is refused. */
	{
		struct rt_pair q;

		make_pair(state, &q, 0);
		f = m[1];
		memcpy(f.b + 4, q.bob.pub, 32);
		assert_int_equal(rt_open_fail(q.a, f.b, f.len), RV_ERR_AUTH);
		rt_pair_free(&q);
	}
	rt_pair_free(&p);
}

/* Post-compromise security: an attacker with a copy of Bob's state (and
 * every message on the wire) reads traffic until the DH steps have
 * happened in both directions, and nothing after. */
static void test_post_compromise(void **state)
{
	struct rt_pair p;
	struct rt_msg m;
	struct rv_ratchet *spy = NULL, *spy_a = NULL;
	struct rv_buf out;
	int ret;

	make_pair(state, &p, 0);
	rt_seal(p.a, 0, "hello", 5, &m);
	rt_open_ok(p.b, &m, "hello", 5);
	rt_seal(p.b, 0, "hi", 2, &m);
	rt_open_ok(p.a, &m, "hi", 2);

	/* Compromise Bob's state now. */
	assert_int_equal(rv_ratchet_clone(p.b, &spy), RV_OK);

	/* Alice's next message is under her new key A2, but the receiving
	 * half needs only Bob's private key, which the copy holds: it reads
	 * it (so the copy works and this test could fail). */
	rt_seal(p.a, 0, "still readable", 14, &m);
	/* Compromise Alice too, right after her step. */
	assert_int_equal(rv_ratchet_clone(p.a, &spy_a), RV_OK);
	rt_open_ok(spy, &m, "still readable", 14);
	rt_open_ok(p.b, &m, "still readable", 14);

	/* Bob replies: a new key pair the spy does not know. */
	rt_seal(p.b, 0, "bob new key", 11, &m);
	/* The Alice copy follows (it holds A2's private key)... */
	rt_open_ok(spy_a, &m, "bob new key", 11);
	rt_open_ok(p.a, &m, "bob new key", 11);
	/* ...but Alice now steps to A3: DH(A3, B2) is out of reach of the
	 * Bob copy (no B2), and Bob's next key B3 out of reach of the Alice
	 * copy (no A3). */
	rt_seal(p.a, 0, "secret", 6, &m);
	rv_buf_init(&out, RT_MSG_CAP);
	ret = rv_ratchet_decrypt(spy, m.b, m.len, &out);
	assert_int_equal(ret, RV_ERR_AUTH);
	rt_open_ok(p.b, &m, "secret", 6);
	rt_seal(p.b, 0, "secret too", 10, &m);
	assert_true(rv_ratchet_decrypt(spy_a, m.b, m.len, &out) < 0);
	assert_int_equal(rv_buf_len(&out), 0);
	rt_open_ok(p.a, &m, "secret too", 10);
	rv_buf_cleanup(&out);
	rv_ratchet_free(spy);
	rv_ratchet_free(spy_a);
	rt_pair_free(&p);
}

/* clone/equal: a clone is equal, diverges after one operation, and frees
 * independently. */
static void test_clone_equal(void **state)
{
	struct rt_pair p;
	struct rv_ratchet *c = NULL;
	struct rt_msg m[3];
	int i;

	make_pair(state, &p, 0);
	for (i = 0; i < 3; i++)
		rt_seal(p.a, 0, &i, sizeof(i), &m[i]);
	i = 0;
	rt_open_ok(p.b, &m[0], &i, sizeof(i));
	assert_int_equal(rv_ratchet_clone(p.b, &c), RV_OK);
	assert_true(rv_ratchet_equal(p.b, c));
	assert_false(rv_ratchet_equal(p.a, c));
	i = 1;
	rt_open_ok(c, &m[1], &i, sizeof(i));
	assert_false(rv_ratchet_equal(p.b, c));
	rt_open_ok(p.b, &m[1], &i, sizeof(i));
	assert_true(rv_ratchet_equal(p.b, c));
	rv_ratchet_free(c);
	assert_true(rv_ratchet_equal(NULL, NULL));
	assert_false(rv_ratchet_equal(p.a, NULL));
	rt_pair_free(&p);
}

/* rv_ratchet_prepare derives ahead and changes nothing that shows: the
 * same bytes on the wire as without it, the same state; a refused message
 * leaves what it derived in place; and across DH steps (where that must be
 * dropped) every message still opens. */
static void test_prepare_is_invisible(void **state)
{
	struct rt_pair p;
	struct rv_ratchet *a2 = NULL, *b2 = NULL;
	struct rv_ratchet_stats sa;
	struct rt_msg m, m2;
	char pt[48];
	int i, round;

	make_pair(state, &p, 0);
	assert_int_equal(rv_ratchet_clone(p.a, &a2), RV_OK);
	/* Alice's first chain makes no key pair: byte-equal messages. */
	for (i = 0; i < 6; i++) {
		snprintf(pt, sizeof(pt), "first chain %d", i);
		rv_ratchet_prepare(p.a, 0);
		if (i % 2)
			rv_ratchet_prepare(p.a, 0); /* twice: still one step ahead */
		rt_seal(p.a, 0, pt, strlen(pt), &m);
		rt_seal(a2, 0, pt, strlen(pt), &m2);
		assert_int_equal(m.len, m2.len);
		assert_memory_equal(m.b, m2.b, m.len);
		assert_true(rv_ratchet_equal(p.a, a2));
		if (i == 0) {
			rv_ratchet_prepare(p.b, 0); /* before the first: nothing to do */
			rt_open_ok(p.b, &m, pt, strlen(pt));
			assert_int_equal(rv_ratchet_clone(p.b, &b2), RV_OK);
			continue;
		}
		rv_ratchet_prepare(p.b, 0);
		if (i == 3) {
			/* Refused after a prepare: state unchanged, and the
			 * genuine message opens with what was derived. */
			m2.b[m2.len - 1] ^= 1;
			assert_int_equal(rt_open_fail(p.b, m2.b, m2.len), RV_ERR_AUTH);
		}
		rt_open_ok(p.b, &m, pt, strlen(pt));
		rt_open_ok(b2, &m, pt, strlen(pt));
		assert_true(rv_ratchet_equal(p.b, b2));
	}
	rv_ratchet_free(a2);
	rv_ratchet_free(b2);
	/* Both ways, a DH step at every turn (interval 0), prepare around
	 * every message. */
	for (round = 0; round < 20; round++) {
		for (i = 0; i <= round % 3; i++) {
			snprintf(pt, sizeof(pt), "a->b %d.%d", round, i);
			rv_ratchet_prepare(p.a, 0);
			rt_seal(p.a, 0, pt, strlen(pt), &m);
			rv_ratchet_prepare(p.a, 0);
			rv_ratchet_prepare(p.b, 0);
			rt_open_ok(p.b, &m, pt, strlen(pt));
			rv_ratchet_prepare(p.b, 0);
		}
		for (i = 0; i <= round % 2; i++) {
			snprintf(pt, sizeof(pt), "b->a %d.%d", round, i);
			rt_seal(p.b, 0, pt, strlen(pt), &m);
			rv_ratchet_prepare(p.b, 0);
			rt_open_ok(p.a, &m, pt, strlen(pt));
			rv_ratchet_prepare(p.a, 0);
		}
	}
	sa = rt_stats(p.a);
	assert_true(sa.dh_recv_steps >= 20 && sa.dh_send_steps >= 20);
	rt_pair_free(&p);
}

#define AEAD_TESTS(fn)                                               \
	{ #fn "/chacha20poly1305", fn, NULL, NULL, &aead_chacha },   \
	{ #fn "/aes256gcm", fn, NULL, NULL, &aead_aes }

int main(void)
{
	const struct CMUnitTest tests[] = {
		AEAD_TESTS(test_reference_layout),
		AEAD_TESTS(test_reference_peer),
		AEAD_TESTS(test_two_way),
		AEAD_TESTS(test_flip_every_byte),
		AEAD_TESTS(test_structure),
		AEAD_TESTS(test_limits),
		AEAD_TESTS(test_tamper_in_chain),
		AEAD_TESTS(test_tamper_across_steps),
		AEAD_TESTS(test_post_compromise),
		AEAD_TESTS(test_clone_equal),
		AEAD_TESTS(test_prepare_is_invisible),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
