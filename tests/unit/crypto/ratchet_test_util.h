/* ratchet_test_util.h - helpers shared by the ratchet tests (header-only,
 * static functions; included after <cmocka.h>).  Owner: ratchet helper.
 */
#ifndef RATCHET_TEST_UTIL_H
#define RATCHET_TEST_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "rv_aead.h"
#include "rv_buf.h"
#include "rv_err.h"
#include "rv_keys.h"
#include "rv_ratchet.h"
#include "rv_wire.h"

/* Wall-clock budget for one long test: a loop that overruns fails instead
 * of hanging ctest. */
enum { RT_TEST_BUDGET_S = 240 };

struct rt_pair {
	struct rv_ratchet *a; /* Alice: client */
	struct rv_ratchet *b; /* Bob: server */
	uint8_t sk[RV_KEY_LEN];
	uint8_t ad[RV_HASH_LEN];
	struct rv_keypair bob;
};

/* Deterministic PRNG (xorshift64*), fixed seeds: reproducible runs. */
static inline uint64_t rt_rand(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static inline uint64_t rt_mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec;
}

static inline struct rv_ratchet_config rt_config(enum rv_aead aead, uint32_t interval_ms)
{
	struct rv_ratchet_config c;

	memset(&c, 0, sizeof(c));
	c.aead = aead;
	c.min_interval_ms = interval_ms;
	return c;
}

static inline void rt_pair_init(struct rt_pair *p, const struct rv_ratchet_config *ca,
			 const struct rv_ratchet_config *cb)
{
	memset(p, 0, sizeof(*p));
	randombytes_buf(p->sk, sizeof(p->sk));
	randombytes_buf(p->ad, sizeof(p->ad));
	assert_int_equal(rv_keypair_generate(&p->bob), RV_OK);
	assert_int_equal(rv_ratchet_init_alice(&p->a, ca, p->sk, p->bob.pub, p->ad), RV_OK);
	assert_int_equal(rv_ratchet_init_bob(&p->b, cb, p->sk, &p->bob, p->ad), RV_OK);
}

static inline void rt_pair_free(struct rt_pair *p)
{
	rv_ratchet_free(p->a);
	rv_ratchet_free(p->b);
	rv_keypair_wipe(&p->bob);
	p->a = p->b = NULL;
}

/* A sealed message kept by value. */
enum { RT_MSG_CAP = 1024 };
struct rt_msg {
	uint8_t b[RT_MSG_CAP];
	size_t len;
};

static inline void rt_seal(struct rv_ratchet *r, uint64_t now, const void *pt, size_t len,
		    struct rt_msg *m)
{
	struct rv_buf out;

	rv_buf_init(&out, RT_MSG_CAP);
	assert_int_equal(rv_ratchet_encrypt(r, now, pt, len, &out), RV_OK);
	assert_int_equal(rv_buf_len(&out), len + RV_TRANSPORT_OVERHEAD);
	memcpy(m->b, rv_buf_ptr(&out), rv_buf_len(&out));
	m->len = rv_buf_len(&out);
	rv_buf_cleanup(&out);
}

/* Decrypt that must succeed and yield exactly (pt, len). */
static inline void rt_open_ok(struct rv_ratchet *r, const struct rt_msg *m, const void *pt,
		       size_t len)
{
	struct rv_buf out;

	rv_buf_init(&out, RV_PLAINTEXT_MAX);
	assert_int_equal(rv_ratchet_decrypt(r, m->b, m->len, &out), RV_OK);
	assert_int_equal(rv_buf_len(&out), len);
	if (len > 0)
		assert_memory_equal(rv_buf_ptr(&out), pt, len);
	rv_buf_cleanup(&out);
}

/* Decrypt that must fail; state and output buffer must be unchanged.
 * Returns the error. */
static inline int rt_open_fail(struct rv_ratchet *r, const uint8_t *msg, size_t len)
{
	struct rv_ratchet *before = NULL;
	struct rv_buf out;
	static const uint8_t prefix[5] = { 1, 2, 3, 4, 5 };
	int ret;

	assert_int_equal(rv_ratchet_clone(r, &before), RV_OK);
	assert_true(rv_ratchet_equal(r, before));
	rv_buf_init(&out, RV_PLAINTEXT_MAX);
	assert_int_equal(rv_buf_put(&out, prefix, sizeof(prefix)), RV_OK);
	ret = rv_ratchet_decrypt(r, msg, len, &out);
	assert_true(ret < 0);
	assert_true(rv_ratchet_equal(r, before));
	assert_int_equal(rv_buf_len(&out), sizeof(prefix));
	assert_memory_equal(rv_buf_ptr(&out), prefix, sizeof(prefix));
	rv_buf_cleanup(&out);
	rv_ratchet_free(before);
	return ret;
}

static inline struct rv_ratchet_stats rt_stats(const struct rv_ratchet *r)
{
	struct rv_ratchet_stats st;

	rv_ratchet_get_stats(r, &st);
	return st;
}

#endif
