/* Tests for rv_session with many streams: the stream table past several
 * growths (every stream's frames reach the right stream), the watermark
 * pause touching only the streams it held back (counted, not timed), and
 * the idle check in activity order, the buffer-freeing tick visiting only
 * streams that hold a buffer.  A client and a server session paired
 * in memory on one rv_loop_poll; streams over socketpair()s.  Every wait
 * is bounded. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "rv_addr.h"
#include "rv_err.h"
#include "rv_loop.h"
#include "rv_loop_poll.h"
#include "rv_session.h"
#include "rv_stream.h"
#include "session_harness.h"

enum { N_MAX = 1000, WAIT_MS = 20000 };

struct h {
	struct rv_loop *loop;
	struct rv_session *cli, *srv;
	int block_c2s;
	int n;                       /* streams opened */
	int responses, ok;
	struct sh_ep app[N_MAX], tgt[N_MAX];
	int ntgt;
};

static void cb_connect(struct rv_session *s, struct rv_stream *st, const struct rv_addr *dst,
		       void *arg)
{
	struct h *h = arg;
	int sv[2];

	(void)s;
	(void)dst;
	assert_true(h->ntgt < N_MAX);
	sh_socketpair(sv, SOCK_NONBLOCK);
	/* The target's end is indexed by the stream id: ids start at 1. */
	assert_int_equal(rv_stream_id(st), (uint32_t)h->ntgt + 1);
	sh_ep_init(h->loop, &h->tgt[h->ntgt++], sv[1]);
	sh_accept_loopback(st, sv[0], 4242);
}

/* Stream 1 queues a local reply before its response: it waits in the fd
 * buffer until the stream opens (an open stream's reply goes straight to
 * the fd and holds no buffer). */
static int g_reply_first;

static void cb_response(struct rv_stream *st, enum rv_status status, const struct rv_addr *bound,
			void *arg)
{
	struct h *h = arg;

	(void)st;
	(void)bound;
	h->responses++;
	if (status == RV_STATUS_OK)
		h->ok++;
}

static const struct rv_session_callbacks callbacks = {
	.on_stream_connect = cb_connect,
	.on_stream_response = cb_response,
};

static void h_init(struct h *h, const struct rv_session_config *ccfg)
{
	struct rv_session_callbacks cb = callbacks;
	struct rv_session_config cc = { 0 }, sc = { 0 };

	memset(h, 0, sizeof(*h));
	assert_int_equal(rv_loop_poll_new(&h->loop), RV_OK);
	if (ccfg != NULL)
		cc = *ccfg;
	cc.max_streams = sc.max_streams = N_MAX;
	cb.arg = h;
	assert_int_equal(sh_pair_new(h->loop, &cc, &sc, &cb, NULL, &h->cli, &h->srv), RV_OK);
}

static void h_free(struct h *h)
{
	int i;

	rv_session_free(h->cli);
	rv_session_free(h->srv);
	for (i = 0; i < h->n; i++)
		sh_ep_close(&h->app[i]);
	for (i = 0; i < h->ntgt; i++)
		sh_ep_close(&h->tgt[i]);
	rv_loop_poll_free(h->loop);
}

/* Run loop and pump until pred(h) or max_ms; returns pred's final value. */
static int run(struct h *h, int (*pred)(struct h *), uint32_t max_ms)
{
	uint64_t start = rv_loop_now_ms(h->loop);
	int i, moved;

	for (i = 0; i < 1000000; i++) {
		moved = h->block_c2s ? 0 :
			sh_pump_dir(h->cli, h->srv, SH_PUMP_MAX, SH_PUMP_SKIP_CLOSED, NULL);
		moved += sh_pump_dir(h->srv, h->cli, SH_PUMP_MAX, SH_PUMP_SKIP_CLOSED, NULL);
		if (pred != NULL && pred(h))
			return 1;
		if (rv_loop_now_ms(h->loop) - start >= max_ms)
			break;
		assert_true(rv_loop_poll_run_once(h->loop, moved ? 0 : 2) >= 0);
	}
	return pred != NULL ? pred(h) : 0;
}

/* Streams this process can afford: 4 descriptors each. */
static int stream_budget(void)
{
	struct rlimit rl;
	long n;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 200;
	n = ((long)rl.rlim_cur - 64) / 4;
	return n > N_MAX ? N_MAX : (int)n;
}

static int pred_all_open(struct h *h)
{
	return h->responses == h->n;
}

static void open_many(struct h *h, int n)
{
	struct rv_addr dst;
	struct rv_stream *st;
	int i, sv[2];

	assert_int_equal(rv_addr_set_domain(&dst, "example.test", 12, 443), RV_OK);
	for (i = 0; i < n; i++) {
		sh_socketpair(sv, SOCK_NONBLOCK);
		assert_int_equal(rv_session_stream_open(h->cli, sv[0], &dst, NULL, 0, NULL, &st),
				 RV_OK);
		assert_int_equal(rv_stream_id(st), (uint32_t)i + 1);
		if (g_reply_first && i == 0)
			assert_int_equal(rv_stream_write_local(st, "ok", 2), RV_OK);
		sh_ep_init(h->loop, &h->app[i], sv[1]);
		h->n++;
	}
	assert_true(run(h, pred_all_open, WAIT_MS));
	assert_int_equal(h->ok, n);
	assert_int_equal(rv_session_stream_count(h->cli), (uint32_t)n);
	assert_int_equal(rv_session_stream_count(h->srv), (uint32_t)n);
}

static int g_want;

static int pred_tgt_got(struct h *h)
{
	for (int i = 0; i < h->n; i++)
		if (h->tgt[i].got != (size_t)g_want || h->app[i].got != (size_t)g_want)
			return 0;
	return 1;
}

/* Each stream carries its own bytes both ways: every frame found its
 * stream by id across the table's growths (64 buckets, doubling). */
static void test_many_streams_lookup(void **state)
{
	struct h h;
	uint8_t *ids;
	int i, n = stream_budget();

	(void)state;
	assert_true(n >= 200);
	h_init(&h, NULL);
	open_many(&h, n);
	ids = malloc((size_t)n * 2);
	assert_non_null(ids);
	for (i = 0; i < n; i++) {
		ids[2 * i] = (uint8_t)(i >> 8);
		ids[2 * i + 1] = (uint8_t)i;
		sh_ep_send(&h.app[i], &ids[2 * i], 2);
		sh_ep_send(&h.tgt[i], &ids[2 * i], 2);
	}
	g_want = 2;
	assert_true(run(&h, pred_tgt_got, WAIT_MS));
	/* Right bytes on the right stream: ids[] is per stream. */
	for (i = 0; i < n; i++) {
		assert_memory_equal(h.tgt[i].first, &ids[2 * i], 2);
		assert_memory_equal(h.app[i].first, &ids[2 * i], 2);
	}
	h_free(&h);
	free(ids);
}

static int g_busy;
static size_t g_big;

static int pred_busy_done(struct h *h)
{
	for (int i = 0; i < g_busy; i++)
		if (h->tgt[i].got != g_big)
			return 0;
	return 1;
}

/* A few busy streams among many idle ones hit high water: resuming visits
 * only the streams the pause held back, never the idle ones. */
static void test_pause_visits_only_held_back(void **state)
{
	enum { HIGH = 64 * 1024, LOW = 16 * 1024, BUSY = 4 };
	struct rv_session_config cc = { .high_water = HIGH, .low_water = LOW };
	struct rv_session_stats cs;
	struct h h;
	uint8_t *big;
	int i, n = stream_budget();

	(void)state;
	g_big = 1024 * 1024;
	big = malloc(g_big);
	assert_non_null(big);
	randombytes_buf(big, g_big);
	h_init(&h, &cc);
	open_many(&h, n);
	h.block_c2s = 1;
	for (i = 0; i < BUSY; i++)
		sh_ep_send(&h.app[i], big, g_big);
	run(&h, NULL, 200);
	rv_session_get_stats(h.cli, &cs);
	assert_true(cs.watermark_pauses >= 1);
	assert_true(rv_session_send_queue_bytes(h.cli) > HIGH);
	h.block_c2s = 0;
	g_busy = BUSY;
	assert_true(run(&h, pred_busy_done, WAIT_MS));
	rv_session_get_stats(h.cli, &cs);
	print_message("%d streams, %llu pauses, %llu streams visited on resume\n", n,
		      (unsigned long long)cs.watermark_pauses,
		      (unsigned long long)cs.streams_resumed);
	/* A walk over every stream would visit n per resume. */
	assert_true(cs.streams_resumed <= (uint64_t)BUSY * cs.watermark_pauses);
	assert_true(cs.streams_resumed >= 1);
	h_free(&h);
	free(big);
}

static int g_active;
static uint64_t g_last_poke;

/* Keep the first g_active streams busy: a byte each every 40 ms. */
static int pred_poke(struct h *h)
{
	static const uint8_t one = 'p';
	uint64_t now = rv_loop_now_ms(h->loop);

	if (now - g_last_poke >= 40) {
		g_last_poke = now;
		for (int i = 0; i < g_active; i++)
			if (send(h->app[i].fd, &one, 1, MSG_NOSIGNAL) != 1)
				return 1; /* reset: fails the count check below */
	}
	return 0;
}

/* The idle check stops at the first recently active stream: the busy ones
 * must survive wherever they sit in the list, the idle ones must go. */
static void test_idle_in_activity_order(void **state)
{
	struct rv_session_config cc = { .idle_timeout_ms = 300 };
	struct h h;
	int n = stream_budget();

	(void)state;
	if (n > 300)
		n = 300;
	h_init(&h, &cc);
	open_many(&h, n);
	g_active = 5;
	g_last_poke = 0;
	run(&h, pred_poke, 1200);
	assert_int_equal(rv_session_stream_count(h.cli), (uint32_t)g_active);
	h_free(&h);
}

/* The tick frees drained fd buffers visiting only the streams holding one:
 * among many idle streams, one with a reply buffer is visited until it is
 * freed, then no stream at all (a walk over quiet streams visits n per
 * tick). */
static void test_tick_visits_only_held(void **state)
{
	struct rv_session_config cc = { .keepalive_interval_ms = 40 }; /* 20 ms ticks */
	struct rv_session_stats cs, ss;
	uint64_t pings, visited;
	struct h h;
	int n = stream_budget();

	(void)state;
	g_reply_first = 1;
	h_init(&h, &cc);
	open_many(&h, n);
	g_reply_first = 0;
	rv_session_get_stats(h.cli, &cs);
	pings = cs.pings_sent;
	run(&h, NULL, 300); /* the held buffer is freed after a quiet tick */
	rv_session_get_stats(h.cli, &cs);
	visited = cs.tick_streams_visited;
	assert_true(visited >= 1);
	assert_true(visited <= 4);
	assert_int_equal(h.app[0].got, 2);
	run(&h, NULL, 300);
	rv_session_get_stats(h.cli, &cs);
	rv_session_get_stats(h.srv, &ss);
	print_message("%d idle streams, %llu ticks, %llu streams visited by the tick\n", n,
		      (unsigned long long)(cs.pings_sent - pings),
		      (unsigned long long)cs.tick_streams_visited);
	assert_true(cs.pings_sent - pings >= 5); /* the tick ran */
	assert_int_equal(cs.tick_streams_visited, visited);
	assert_int_equal(ss.tick_streams_visited, 0);
	h_free(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_many_streams_lookup),
		cmocka_unit_test(test_pause_visits_only_held_back),
		cmocka_unit_test(test_idle_in_activity_order),
		cmocka_unit_test(test_tick_visits_only_held),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
