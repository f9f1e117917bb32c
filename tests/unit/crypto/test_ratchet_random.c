/* test_ratchet_random.c - Double Ratchet under long random interleavings
 * of both directions (fixed-seed PRNG, simulated clock) over an ordered
 * transport with a tampering relay (tries to deliver a later message, a
 * replay or a message with a flipped bit before the genuine next one), with
 * the deferral of the sending DH half on and off, both AEADs; plus
 * deterministic tests of the deferral policy.  Each side derives its next
 * keys ahead (rv_ratchet_prepare) at random moments.
 * Owner: ratchet helper.
 *
 * Invariants checked after every step:
 *   - every delivered message opens to exactly what was sent, in order;
 *   - every tampered delivery (later message = drop or swap, replay, flipped
 *     bit) fails and leaves state and output unchanged;
 *   - a party makes a key pair only after a new remote key arrived
 *     (send_steps <= recv_steps (+1 for Alice's initial pair)), so key
 *     changes alternate and the root chains stay in step;
 *   - interval 0: the step happens at the first encrypt after it is due;
 *   - interval > 0: two key pairs of one party are >= interval apart.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ratchet_test_util.h"

enum {
	QMAX = 64,     /* messages in flight per direction */
	WINDOW = 16,   /* how far ahead a relay reaches for a "later" message */
	RING = 64,     /* delivered messages kept for replays */
	PT_MAX = 80,
};

struct sim_cfg {
	enum rv_aead aead;
	uint32_t interval_ms;
	uint32_t n_msgs;  /* per direction */
	int tamper;
	uint64_t seed;
};

struct flight {
	struct rt_msg m;
	uint64_t seq;
};

struct side {
	struct rv_ratchet *r;
	int is_alice;
	uint64_t next_seq;
	uint64_t prev_steps;
	uint64_t last_step_ms;
	int have_step;
};

struct link {
	struct flight q[QMAX];
	int len;
	uint64_t next_seq; /* the only seq the receiver may accept */
	uint64_t delivered, refused;
};

struct replay {
	struct rt_msg m;
	int to_alice;
};

struct sim {
	struct sim_cfg cfg;
	struct rt_pair p;
	struct side a, b;
	struct link ab, ba;
	struct replay ring[RING];
	int ring_len, ring_pos;
	uint64_t now, rng, replays, tampered;
	uint64_t prep_rng; /* its own stream: the seeds' sequences stay as they were */
	unsigned phase;
};

static size_t make_pt(int dir, uint64_t seq, uint8_t *pt)
{
	size_t len = 8 + (size_t)(seq % (PT_MAX - 8)), i;

	for (i = 0; i < 8; i++)
		pt[i] = (uint8_t)(seq >> (8 * i));
	for (i = 8; i < len; i++)
		pt[i] = (uint8_t)(seq * 7 + i + (uint64_t)dir * 13);
	return len;
}

static void check_steps(struct sim *s)
{
	struct rv_ratchet_stats sa = rt_stats(s->a.r), sb = rt_stats(s->b.r);

	/* Nobody makes a key pair without a new remote key. */
	assert_true(sa.dh_send_steps <= sa.dh_recv_steps + 1);
	assert_true(sb.dh_send_steps <= sb.dh_recv_steps);
	/* Nobody sees more remote keys than were made. */
	assert_true(sa.dh_recv_steps <= sb.dh_send_steps);
	assert_true(sb.dh_recv_steps <= sa.dh_send_steps);
}

static void sim_send(struct sim *s, struct side *x, struct link *l, int dir)
{
	uint8_t pt[PT_MAX];
	size_t len;
	struct flight *f;
	struct rv_ratchet_stats st;

	if (l->len >= QMAX || x->next_seq >= s->cfg.n_msgs || !rv_ratchet_can_send(x->r))
		return;
	f = &l->q[l->len++];
	f->seq = x->next_seq++;
	len = make_pt(dir, f->seq, pt);
	rt_seal(x->r, s->now, pt, len, &f->m);

	st = rt_stats(x->r);
	if (x->is_alice && !x->have_step) {
		/* Alice's initial key pair is dated by her first message. */
		x->have_step = 1;
		x->last_step_ms = s->now;
	}
	if (st.dh_send_steps != x->prev_steps) {
		assert_int_equal(st.dh_send_steps, x->prev_steps + 1);
		if (x->have_step)
			assert_true(s->now - x->last_step_ms >= s->cfg.interval_ms);
		x->have_step = 1;
		x->last_step_ms = s->now;
		x->prev_steps = st.dh_send_steps;
	}
	if (s->cfg.interval_ms == 0) /* step taken as soon as due */
		assert_int_equal(st.dh_send_steps, st.dh_recv_steps + (x->is_alice ? 1 : 0));
	check_steps(s);
}

/* The relay tries something other than the head of the queue first:
 * a later message (what the receiver sees after a drop or a swap), or the
 * head with one bit flipped.  It must be refused, state unchanged. */
static void sim_tamper(struct sim *s, struct link *l, struct side *rx)
{
	struct rt_msg f;
	int ret, lim;

	if (l->len == 0)
		return;
	if (l->len > 1 && rt_rand(&s->rng) % 2 == 0) {
		lim = l->len < WINDOW ? l->len : WINDOW;
		f = l->q[1 + rt_rand(&s->rng) % (uint64_t)(lim - 1)].m;
		ret = rt_open_fail(rx->r, f.b, f.len);
		/* Refused on the header; AUTH only if a later chain's pn
		 * happens to equal Nr (then the tag fails). */
		assert_true(ret == RV_ERR_ORDER || ret == RV_ERR_AUTH);
	} else {
		f = l->q[0].m;
		f.b[rt_rand(&s->rng) % f.len] ^= (uint8_t)(1u << (rt_rand(&s->rng) % 8));
		(void)rt_open_fail(rx->r, f.b, f.len);
	}
	l->refused++;
	s->tampered++;
}

static void sim_deliver(struct sim *s, struct link *l, struct side *rx, int dir)
{
	struct flight f;
	uint8_t pt[PT_MAX];
	size_t len;

	if (l->len == 0)
		return;
	if (s->cfg.tamper && rt_rand(&s->rng) % 8 == 0)
		sim_tamper(s, l, rx);
	f = l->q[0];
	memmove(&l->q[0], &l->q[1], (size_t)(l->len - 1) * sizeof(l->q[0]));
	l->len--;
	len = make_pt(dir, f.seq, pt);
	rt_open_ok(rx->r, &f.m, pt, len);
	assert_int_equal(f.seq, l->next_seq);
	l->next_seq++;
	l->delivered++;
	s->ring[s->ring_pos].m = f.m;
	s->ring[s->ring_pos].to_alice = rx->is_alice;
	s->ring_pos = (s->ring_pos + 1) % RING;
	if (s->ring_len < RING)
		s->ring_len++;
	check_steps(s);
}

static void sim_replay(struct sim *s)
{
	struct replay *rp;
	int ret;

	if (s->ring_len == 0)
		return;
	rp = &s->ring[rt_rand(&s->rng) % (uint64_t)s->ring_len];
	ret = rt_open_fail(rp->to_alice ? s->a.r : s->b.r, rp->m.b, rp->m.len);
	/* Current or previous chain: REPLAY; older chains look like a new
	 * key with the wrong pn (ORDER) or, by chance, the right one (AUTH). */
	assert_true(ret == RV_ERR_REPLAY || ret == RV_ERR_ORDER || ret == RV_ERR_AUTH);
	s->replays++;
}

static void run_sim(const struct sim_cfg *cfg)
{
	struct sim *s = calloc(1, sizeof(*s));
	struct rv_ratchet_config rc;
	struct rv_ratchet_stats sa, sb;
	uint64_t iter, max_iter = (uint64_t)cfg->n_msgs * 40, t0 = rt_mono_s();
	unsigned act;
	static const unsigned send_a[3] = { 250, 100, 175 };

	assert_non_null(s);
	if (!rv_aead_available(cfg->aead)) {
		free(s);
		print_message("AES-256-GCM not available on this CPU: skipped\n");
		skip();
	}
	s->cfg = *cfg;
	s->rng = cfg->seed;
	s->prep_rng = cfg->seed ^ 0x9e3779b97f4a7c15ull;
	rc = rt_config(cfg->aead, cfg->interval_ms);
	rt_pair_init(&s->p, &rc, &rc);
	s->a.r = s->p.a;
	s->a.is_alice = 1;
	s->a.prev_steps = 1;
	s->b.r = s->p.b;

	for (iter = 0; iter < max_iter; iter++) {
		if (s->a.next_seq == cfg->n_msgs && s->b.next_seq == cfg->n_msgs &&
		    s->ab.len == 0 && s->ba.len == 0)
			break;
		if (iter % 4096 == 0)
			assert_true(rt_mono_s() - t0 < RT_TEST_BUDGET_S);
		s->now += rt_rand(&s->rng) % 4;
		/* Phases: A-heavy, B-heavy (deliveries outpace sends, keys go
		 * round quickly), and congested (sends outpace deliveries, the
		 * queues fill up and a tampering relay reaches deep). */
		if (iter % 512 == 0)
			s->phase = (unsigned)(rt_rand(&s->rng) % 3);
		act = (unsigned)(rt_rand(&s->rng) % 1000);
		if (s->phase == 2 && act >= 350 && act < 970 && rt_rand(&s->rng) % 3 != 0)
			act = (unsigned)(rt_rand(&s->rng) % 350); /* congested: send instead */
		if (act < send_a[s->phase])
			sim_send(s, &s->a, &s->ab, 0);
		else if (act < 350)
			sim_send(s, &s->b, &s->ba, 1);
		else if (act < 660)
			sim_deliver(s, &s->ab, &s->b, 0);
		else if (act < 970)
			sim_deliver(s, &s->ba, &s->a, 1);
		else if (act < 990 && s->cfg.tamper)
			sim_replay(s);
		else
			s->now += 100 + rt_rand(&s->rng) % 1500; /* idle period */
		/* Keys derived ahead at random moments, as a session does
		 * after each write and read: they must never be stale. */
		act = (unsigned)(rt_rand(&s->prep_rng) % 4);
		if (act & 1)
			rv_ratchet_prepare(s->a.r, s->now);
		if (act & 2)
			rv_ratchet_prepare(s->b.r, s->now);
	}
	assert_true(iter < max_iter);

	sa = rt_stats(s->a.r);
	sb = rt_stats(s->b.r);
	/* Every message arrived, once, in order, whatever the relay tried. */
	assert_int_equal(s->ab.delivered, cfg->n_msgs);
	assert_int_equal(s->ba.delivered, cfg->n_msgs);
	assert_int_equal(sb.received, s->ab.delivered);
	assert_int_equal(sa.received, s->ba.delivered);
	if (cfg->tamper)
		assert_true(s->ab.refused > 100 && s->ba.refused > 100 && s->replays > 100);
	/* DH steps really happen, many of them. */
	assert_true(sa.dh_recv_steps >= 20);
	assert_true(sb.dh_recv_steps >= 20);
	if (cfg->interval_ms > 0) {
		/* At most one key pair per interval (+ Alice's initial one). */
		assert_true(sa.dh_send_steps <= s->now / cfg->interval_ms + 2);
		assert_true(sb.dh_send_steps <= s->now / cfg->interval_ms + 1);
	}
	print_message("  %u+%u msgs, %llu s simulated, steps A %llu/%llu B %llu/%llu, "
		      "tampered %llu (refused %llu+%llu), replays %llu\n",
		      cfg->n_msgs, cfg->n_msgs, (unsigned long long)(s->now / 1000),
		      (unsigned long long)sa.dh_send_steps, (unsigned long long)sa.dh_recv_steps,
		      (unsigned long long)sb.dh_send_steps, (unsigned long long)sb.dh_recv_steps,
		      (unsigned long long)s->tampered, (unsigned long long)s->ab.refused,
		      (unsigned long long)s->ba.refused, (unsigned long long)s->replays);
	rt_pair_free(&s->p);
	free(s);
}

#define SIM(name, aead_, interval_, tamper_, seed_)                                  \
	static void name(void **state)                                              \
	{                                                                           \
		const struct sim_cfg c = { aead_, interval_, 10000, tamper_, seed_ };   \
		(void)state;                                                        \
		run_sim(&c);                                                        \
	}

/* 10000 messages each way = 20000 per run. */
SIM(test_sim_chacha_eager, RV_AEAD_CHACHA20POLY1305, 0, 1, 0x1234567890abcdefULL)
SIM(test_sim_chacha_deferred, RV_AEAD_CHACHA20POLY1305, 1000, 1, 0x0fedcba987654321ULL)
SIM(test_sim_chacha_deferred_short, RV_AEAD_CHACHA20POLY1305, 250, 1, 0x5555aaaa5555aaaaULL)
SIM(test_sim_chacha_clean, RV_AEAD_CHACHA20POLY1305, 0, 0, 0x0123012301230123ULL)
SIM(test_sim_aes_eager, RV_AEAD_AES256GCM, 0, 1, 0x9e3779b97f4a7c15ULL)
SIM(test_sim_aes_deferred, RV_AEAD_AES256GCM, 1000, 1, 0xd1b54a32d192ed03ULL)

/* ---- deterministic deferral tests ---------------------------------- */

static uint32_t hdr_n(const struct rt_msg *m)
{
	return (uint32_t)m->b[40] << 24 | (uint32_t)m->b[41] << 16 | (uint32_t)m->b[42] << 8 |
	       m->b[43];
}

/* The due step waits for the interval, then happens at the next encrypt;
 * a clock that goes backwards never triggers it. */
static void test_deferral_timing(void **state)
{
	struct rt_pair p;
	struct rv_ratchet_config c = rt_config(RV_AEAD_CHACHA20POLY1305, 1000);
	struct rt_msg m, m2;
	struct rv_ratchet_stats st;

	(void)state;
	rt_pair_init(&p, &c, &c);
	rt_seal(p.a, 5000, "a", 1, &m); /* Alice's key pair dated 5000 */
	rt_open_ok(p.b, &m, "a", 1);
	rt_seal(p.b, 5000, "b", 1, &m); /* Bob's first: forced step */
	assert_int_equal(rt_stats(p.b).dh_send_steps, 1);
	rt_open_ok(p.a, &m, "b", 1);
	/* Due for Alice, but only 999 ms passed. */
	rt_seal(p.a, 5999, "c", 1, &m);
	st = rt_stats(p.a);
	assert_int_equal(st.dh_send_steps, 1);
	assert_int_equal(hdr_n(&m), 1); /* still chain A1 */
	rt_open_ok(p.b, &m, "c", 1);
	/* Clock backwards: still no step. */
	rt_seal(p.a, 100, "d", 1, &m);
	assert_int_equal(rt_stats(p.a).dh_send_steps, 1);
	rt_open_ok(p.b, &m, "d", 1);
	/* Bob receives more of the same chain: not a new key, not due. */
	rt_seal(p.b, 9000, "e", 1, &m);
	assert_int_equal(rt_stats(p.b).dh_send_steps, 1);
	rt_open_ok(p.a, &m, "e", 1);
	/* At 6000 Alice steps: new key, n = 0, pn = 3. */
	rt_seal(p.a, 6000, "f", 1, &m);
	assert_int_equal(rt_stats(p.a).dh_send_steps, 2);
	assert_int_equal(hdr_n(&m), 0);
	assert_int_equal(m.b[39], 3);
	rt_seal(p.a, 6000, "g", 1, &m2);
	assert_int_equal(rt_stats(p.a).dh_send_steps, 2); /* not due any more */
	assert_int_equal(rt_open_fail(p.b, m2.b, m2.len), RV_ERR_ORDER); /* swapped */
	rt_open_ok(p.b, &m, "f", 1);
	rt_open_ok(p.b, &m2, "g", 1);
	/* Bob is due but stepped at 5000; at 5999 he would wait; 9000 is fine. */
	rt_seal(p.b, 9000, "h", 1, &m);
	assert_int_equal(rt_stats(p.b).dh_send_steps, 2);
	rt_open_ok(p.a, &m, "h", 1);
	rt_pair_free(&p);
}

/* A busy two-way exchange (one message each way every 10 ms for 20 s):
 * with deferral each side makes about one key pair per interval, without
 * it one per direction change. */
static void test_deferral_rate(void **state)
{
	static const uint32_t intervals[] = { 0, 100, 1000 };
	unsigned k;
	int i;

	(void)state;
	for (k = 0; k < sizeof(intervals) / sizeof(intervals[0]); k++) {
		struct rv_ratchet_config c = rt_config(RV_AEAD_CHACHA20POLY1305, intervals[k]);
		struct rt_pair p;
		struct rt_msg m;
		struct rv_ratchet_stats sa, sb;
		uint64_t now = 0;
		enum { ROUNDS = 2000, TICK = 10 };

		rt_pair_init(&p, &c, &c);
		for (i = 0; i < ROUNDS; i++, now += TICK) {
			rt_seal(p.a, now, &i, sizeof(i), &m);
			rt_open_ok(p.b, &m, &i, sizeof(i));
			rt_seal(p.b, now, &i, sizeof(i), &m);
			rt_open_ok(p.a, &m, &i, sizeof(i));
		}
		sa = rt_stats(p.a);
		sb = rt_stats(p.b);
		print_message("  interval %u ms: key pairs A %llu B %llu over %u ms\n",
			      intervals[k], (unsigned long long)sa.dh_send_steps,
			      (unsigned long long)sb.dh_send_steps, (unsigned)now);
		if (intervals[k] == 0) {
			assert_int_equal(sa.dh_send_steps, ROUNDS);
			assert_int_equal(sb.dh_send_steps, ROUNDS);
		} else {
			uint64_t per = now / intervals[k];

			/* Bob steps at most once per interval; Alice's steps
			 * follow Bob's keys, so she can lag by one. */
			assert_true(sb.dh_send_steps <= per + 1);
			assert_true(sa.dh_send_steps <= per + 2);
			assert_true(sb.dh_send_steps >= per / 2);
			assert_true(sa.dh_send_steps >= per / 2);
		}
		rt_pair_free(&p);
	}
}

/* Post-compromise with deferral: a copy of Bob keeps reading until the
 * deferred steps have happened in both directions, then never again. */
static void test_deferral_post_compromise(void **state)
{
	struct rv_ratchet_config c = rt_config(RV_AEAD_CHACHA20POLY1305, 1000);
	struct rt_pair p;
	struct rt_msg m;
	struct rv_ratchet *spy = NULL;
	struct rv_buf out;
	uint64_t now = 0;
	int i, readable = 0, healed_at = -1, ret;

	(void)state;
	rt_pair_init(&p, &c, &c);
	rt_seal(p.a, now, "x", 1, &m);
	rt_open_ok(p.b, &m, "x", 1);
	assert_int_equal(rv_ratchet_clone(p.b, &spy), RV_OK);
	rv_buf_init(&out, RT_MSG_CAP);
	for (i = 0; i < 400; i++, now += 10) {
		rt_seal(p.b, now, &i, sizeof(i), &m);
		rt_open_ok(p.a, &m, &i, sizeof(i));
		rt_seal(p.a, now, &i, sizeof(i), &m);
		rt_open_ok(p.b, &m, &i, sizeof(i));
		rv_buf_reset(&out);
		ret = rv_ratchet_decrypt(spy, m.b, m.len, &out);
		if (ret == RV_OK) {
			assert_int_equal(healed_at, -1); /* never readable again */
			readable++;
		} else if (healed_at < 0) {
			healed_at = i;
		}
	}
	/* Before the healing: readable (the copy works).  Bob's first key
	 * pair (at 0 ms) is unknown to the copy, so healing is the first
	 * Alice message under a key that answers it. */
	assert_true(readable > 0);
	assert_true(healed_at >= 0);
	print_message("  copy of Bob read %d messages, blind from round %d (%llu ms)\n",
		      readable, healed_at, (unsigned long long)(healed_at * 10));
	assert_true(healed_at * 10 <= 2 * 1000 + 10);
	rv_buf_cleanup(&out);
	rv_ratchet_free(spy);
	rt_pair_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deferral_timing),
		cmocka_unit_test(test_deferral_rate),
		cmocka_unit_test(test_deferral_post_compromise),
		cmocka_unit_test(test_sim_chacha_eager),
		cmocka_unit_test(test_sim_chacha_deferred),
		cmocka_unit_test(test_sim_chacha_deferred_short),
		cmocka_unit_test(test_sim_chacha_clean),
		cmocka_unit_test(test_sim_aes_eager),
		cmocka_unit_test(test_sim_aes_deferred),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
