/* Tests for window growth (PROTOCOL.md §8.1): a stream's receive window
 * grows under a fast reader on a window-limited path, never for an idle
 * stream or a slow reader, stays within the pool's budget, and fixed
 * windows (an older peer) still carry everything.  A client and a server
 * session paired in memory on one rv_loop_poll with a DELAY_MS one-way
 * delay in each direction (a path with a round trip); streams over
 * socketpair()s.  Every wait is bounded. */
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
#include "rv_frame.h"
#include "rv_session.h"
#include "rv_session_int.h"
#include "rv_stream.h"
#include "session_harness.h"

enum { N_MAX = 4, WAIT_MS = 30000, DELAY_MS = 20, MAXQ = 4096 };

/* A message on the simulated path. */
struct msg {
	uint64_t due;
	size_t len;
	uint8_t *p;
};

struct pipe_q {
	struct msg q[MAXQ];
	size_t head, n;
	uint64_t busy_us;            /* the path's link is sending until then */
};

struct h {
	struct pipe_q c2s, s2c;
	struct rv_loop *loop;
	struct rv_session *cli, *srv;
	int n;                       /* streams opened */
	int responses, ok;
	struct sh_ep app[N_MAX], tgt[N_MAX];
	int ntgt;
	uint32_t delay_ms;           /* one way; DELAY_MS unless a test says */
	uint32_t rate_bpms;          /* link rate, bytes per ms; 0: unlimited */
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

static void h_init(struct h *h, const struct rv_session_config *ccfg,
		   const struct rv_session_config *scfg)
{
	struct rv_session_callbacks cb = callbacks;
	struct rv_session_config cc = { 0 }, sc = { 0 };

	memset(h, 0, sizeof(*h));
	h->delay_ms = DELAY_MS;
	assert_int_equal(rv_loop_poll_new(&h->loop), RV_OK);
	if (ccfg != NULL)
		cc = *ccfg;
	if (scfg != NULL)
		sc = *scfg;
	cc.max_streams = sc.max_streams = N_MAX;
	cb.arg = h;
	assert_int_equal(sh_pair_new(h->loop, &cc, &sc, &cb, NULL, &h->cli, &h->srv), RV_OK);
}

static void pipe_free(struct pipe_q *pq);

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
	pipe_free(&h->c2s);
	pipe_free(&h->s2c);
}

/* Take what from has to send onto the path; deliver what is due. */
static int pump_dir(struct h *h, struct pipe_q *pq, struct rv_session *from, struct rv_session *to)
{
	uint64_t now = rv_loop_now_ms(h->loop);
	uint8_t *m;
	size_t len;
	int n = 0;

	while (pq->n < MAXQ && rv_session_next_message(from, &m, &len) == 1) {
		struct msg *x = &pq->q[(pq->head + pq->n++) % MAXQ];

		x->p = malloc(len);
		assert_non_null(x->p);
		memcpy(x->p, m, len);
		x->len = len;
		x->due = now + h->delay_ms;
		if (h->rate_bpms > 0) {
			/* Serialized at the link's rate, as TCP would pace it: a
			 * window's worth sent at once arrives spread out, not as
			 * one burst that the receiver's fd buffer must hold. */
			uint64_t us = rv_loop_now_us(h->loop);

			if (pq->busy_us < us)
				pq->busy_us = us;
			pq->busy_us += (uint64_t)len * 1000u / h->rate_bpms;
			x->due = pq->busy_us / 1000u + h->delay_ms;
		}
		rv_session_message_sent(from);
		n++;
	}
	while (pq->n > 0 && pq->q[pq->head].due <= now) {
		struct msg *x = &pq->q[pq->head];

		if (rv_session_get_state(to) != RV_SESSION_CLOSED)
			(void)rv_session_on_message(to, x->p, x->len);
		free(x->p);
		pq->head = (pq->head + 1) % MAXQ;
		pq->n--;
		n++;
	}
	return n;
}

static void pipe_free(struct pipe_q *pq)
{
	while (pq->n > 0) {
		free(pq->q[pq->head].p);
		pq->head = (pq->head + 1) % MAXQ;
		pq->n--;
	}
}

/* Run loop and pump until pred(h) or max_ms; returns pred's final value. */
static int run(struct h *h, int (*pred)(struct h *), uint32_t max_ms)
{
	uint64_t start = rv_loop_now_ms(h->loop);
	int i, moved;

	for (i = 0; i < 1000000; i++) {
		moved = pump_dir(h, &h->c2s, h->cli, h->srv);
		moved += pump_dir(h, &h->s2c, h->srv, h->cli);
		if (pred != NULL && pred(h))
			return 1;
		if (rv_loop_now_ms(h->loop) - start >= max_ms)
			break;
		assert_true(rv_loop_poll_run_once(h->loop, moved ? 0 : 1) >= 0);
	}
	return pred != NULL ? pred(h) : 0;
}

static int pred_all_open(struct h *h)
{
	return h->responses == h->n && h->ntgt == h->n;
}

static void open_one(struct h *h)
{
	struct rv_addr dst;
	struct rv_stream *st;
	int sv[2];

	assert_int_equal(rv_addr_set_domain(&dst, "example.test", 12, 443), RV_OK);
	sh_socketpair(sv, SOCK_NONBLOCK);
	assert_int_equal(rv_session_stream_open(h->cli, sv[0], &dst, NULL, 0, NULL, &st), RV_OK);
	sh_ep_init(h->loop, &h->app[h->n], sv[1]);
	h->n++;
	assert_true(run(h, pred_all_open, WAIT_MS));
	assert_int_equal(h->ok, h->n);
}

static size_t g_total;

static int pred_app0_done(struct h *h)
{
	return h->app[0].got == g_total;
}

static uint8_t *g_big;

/* Download g_total bytes on one stream (target -> app); returns the
 * client's (receiver's) stats. */
static void download(struct h *h, struct rv_session_stats *cs)
{
	open_one(h);
	/* The server must have its RTT before it matters (its first PING
	 * goes out after the client's first message). */
	sh_ep_send(&h->tgt[0], g_big, g_total);
	assert_true(run(h, pred_app0_done, WAIT_MS));
	rv_session_get_stats(h->cli, cs);
}

static void big_init(size_t n)
{
	g_total = n;
	g_big = malloc(n);
	assert_non_null(g_big);
	randombytes_buf(g_big, n);
}

/* Fast reader on a window-limited path: the window doubles, within the
 * per-stream maximum and the pool's budget; every byte arrives. */
static void test_grows_for_fast_reader(void **state)
{
	struct rv_session_config cc = { .window_growth = 1, .window_budget = 6 * 1024 * 1024 };
	struct rv_session_config sc = { .window_growth = 1 };
	struct rv_session_stats cs, ss;
	struct h h;

	(void)state;
	big_init(24 * 1024 * 1024);
	h_init(&h, &cc, &sc);
	download(&h, &cs);
	rv_session_get_stats(h.srv, &ss);
	print_message("fast reader: %llu grows, grown %llu bytes, rtt %u ms; server resets %llu\n",
		      (unsigned long long)cs.window_grows,
		      (unsigned long long)cs.window_grown_bytes, cs.rtt_ms,
		      (unsigned long long)ss.streams_reset_sent);
	assert_true(cs.window_grows >= 2);
	assert_true(cs.window_grown_bytes > 0);
	assert_true(cs.window_grown_bytes <= 6 * 1024 * 1024);
	assert_int_equal(ss.streams_reset_sent, 0); /* credit past W accepted */
	assert_int_equal(rv_session_stream_count(h.cli), 1);
	h_free(&h);
	free(g_big);
}

static int pred_two_pongs(struct h *h)
{
	struct rv_session_stats cs;

	rv_session_get_stats(h->cli, &cs);
	return cs.pongs_received >= 2;
}

/* A round trip that got longer after the first PING, as a queue behind a
 * bulk stream makes it (on loopback the last PING waited milliseconds
 * behind data, the first took microseconds): growth is judged by the
 * least round trip, so the stream keeps its window instead of deepening
 * that queue.  The same download on a path that was long from the start
 * grows (test_grows_for_fast_reader). */
static void test_queue_does_not_grow_windows(void **state)
{
	struct rv_session_config cc = { .window_growth = 1 };
	struct rv_session_config sc = { .window_growth = 1 };
	struct rv_session_stats cs;
	struct h h;

	(void)state;
	big_init(8 * 1024 * 1024);
	h_init(&h, &cc, &sc);
	h.delay_ms = 0;     /* the first PING (sent at start) sees no delay */
	open_one(&h);
	h.delay_ms = DELAY_MS;
	rv_session_send_ping(h.cli);
	assert_true(run(&h, pred_two_pongs, WAIT_MS));
	sh_ep_send(&h.tgt[0], g_big, g_total);
	assert_true(run(&h, pred_app0_done, WAIT_MS));
	rv_session_get_stats(h.cli, &cs);
	print_message("queued path: rtt %u ms, least %u us, %llu grows\n", cs.rtt_ms,
		      cs.rtt_min_us, (unsigned long long)cs.window_grows);
	/* The path delivers on whole milliseconds: up to 1 ms early each way. */
	assert_true(cs.rtt_ms >= 2 * DELAY_MS - 2);
	assert_true(cs.rtt_min_us < DELAY_MS * 1000u);
	assert_int_equal(cs.window_grows, 0);
	assert_int_equal(cs.window_grown_bytes, 0);
	assert_int_equal(h.app[0].got, g_total);
	h_free(&h);
	free(g_big);
}

/* Fixed windows (an older peer: no growth agreed) still move everything,
 * and nothing grows. */
static void test_fixed_windows_without_agreement(void **state)
{
	struct rv_session_stats cs;
	struct h h;

	(void)state;
	big_init(4 * 1024 * 1024);
	h_init(&h, NULL, NULL);
	download(&h, &cs);
	assert_int_equal(cs.window_grows, 0);
	assert_int_equal(cs.window_grown_bytes, 0);
	h_free(&h);
	free(g_big);
}

/* Large windows agreed (revision 4): a fast reader's window grows past
 * RV_STREAM_WINDOW_MAX, each update within it, and the sender accepts it. */
static void test_large_windows_grow_past_max(void **state)
{
	struct rv_session_config cc = { .window_growth = 1, .window_large = 1,
					.window_budget = 48 * 1024 * 1024 };
	struct rv_session_config sc = { .window_growth = 1, .window_large = 1 };
	struct rv_session_stats cs, ss;
	struct h h;

	(void)state;
	big_init(64 * 1024 * 1024);
	h_init(&h, &cc, &sc);
	/* A long path (400 ms round trip): its bandwidth-delay product is
	 * past 16 MiB even for a slow (sanitized, loaded) build moving
	 * 50 MB/s, so the window must grow past it whatever the speed.  An
	 * epoch of 8 MiB must take at most 2 round trips (10 MB/s).  The
	 * link is 100 MB/s: delivered as one burst, a 16 MiB window sat half
	 * in the receiver's fd buffer at each epoch's end, which rightly
	 * stops growth (a slow reader), and the window stopped at 16 MiB in
	 * 1 run of 5 on an idle machine. */
	h.delay_ms = 200;
	h.rate_bpms = 100000;
	download(&h, &cs);
	rv_session_get_stats(h.srv, &ss);
	print_message("large: %llu grows, grown %llu bytes\n", (unsigned long long)cs.window_grows,
		      (unsigned long long)cs.window_grown_bytes);
	assert_true(cs.window_grown_bytes + RV_STREAM_WINDOW_DEFAULT > RV_STREAM_WINDOW_MAX);
	assert_true(cs.window_grown_bytes + RV_STREAM_WINDOW_DEFAULT <= RV_STREAM_WINDOW_LARGE_MAX);
	assert_int_equal(ss.streams_reset_sent, 0);
	assert_int_equal(cs.streams_reset_received, 0);
	h_free(&h);
	free(g_big);
}

static int pred_cli_reset(struct h *h)
{
	struct rv_session_stats cs;

	rv_session_get_stats(h->cli, &cs);
	return cs.streams_reset_received > 0;
}

/* The sender's bound on credit (PROTOCOL.md §8.1): a WINDOW_UPDATE that
 * raises a stream's credit past RV_STREAM_WINDOW_MAX resets it
 * (FLOW_CONTROL) unless large windows are agreed; then it is accepted.
 * The update is queued on the client directly, so no timing is involved. */
static void credit_past_max(int server_large, int want_reset)
{
	struct rv_session_config cc = { .window_growth = 1, .window_large = 1 };
	struct rv_session_config sc = { .window_growth = 1, .window_large = server_large };
	struct rv_session_stats ss;
	struct rv_frame f;
	struct h h;

	h_init(&h, &cc, &sc);
	open_one(&h);
	memset(&f, 0, sizeof(f));
	f.type = RV_FRAME_WINDOW_UPDATE;
	f.stream_id = 1;
	f.u.window_update.credit = RV_STREAM_WINDOW_MAX; /* on top of the initial window */
	assert_int_equal(rv_session_queue_frame(h.cli, &f, 1), RV_OK);
	assert_int_equal(run(&h, pred_cli_reset, want_reset ? WAIT_MS : 4 * DELAY_MS + 200),
			 want_reset);
	rv_session_get_stats(h.srv, &ss);
	assert_int_equal(ss.streams_reset_sent, want_reset);
	h_free(&h);
}

static void test_large_credit_needs_agreement(void **state)
{
	(void)state;
	credit_past_max(0, 1);
	credit_past_max(1, 0);
}

static void quota_cb(struct rv_loop_timer *t, void *arg)
{
	struct sh_ep *e = arg;

	e->quota += 16 * 1024;
	sh_ep_update(e);
	rv_loop_timer_set(t, 50);
}

static int pred_never(struct h *h)
{
	(void)h;
	return 0;
}

/* A slow reader (16 KiB per 50 ms) and an idle stream: no growth. */
static void test_no_growth_for_slow_or_idle(void **state)
{
	struct rv_session_config cc = { .window_growth = 1 };
	struct rv_session_config sc = { .window_growth = 1 };
	struct rv_session_stats cs;
	struct rv_loop_timer *t;
	struct h h;

	(void)state;
	big_init(4 * 1024 * 1024);
	h_init(&h, &cc, &sc);
	open_one(&h);           /* 0: slow */
	open_one(&h);           /* 1: idle */
	h.app[0].limited = 1;
	sh_ep_update(&h.app[0]);
	assert_int_equal(rv_loop_timer_new(h.loop, quota_cb, &h.app[0], &t), RV_OK);
	rv_loop_timer_set(t, 50);
	sh_ep_send(&h.tgt[0], g_big, g_total);
	run(&h, pred_never, 1500);
	rv_session_get_stats(h.cli, &cs);
	print_message("slow reader got %zu bytes; %llu grows\n", h.app[0].got,
		      (unsigned long long)cs.window_grows);
	assert_true(h.app[0].got > 0);
	assert_int_equal(cs.window_grows, 0);
	assert_int_equal(cs.window_grown_bytes, 0);
	rv_loop_timer_free(t);
	h_free(&h);
	free(g_big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grows_for_fast_reader),
		cmocka_unit_test(test_queue_does_not_grow_windows),
		cmocka_unit_test(test_fixed_windows_without_agreement),
		cmocka_unit_test(test_no_growth_for_slow_or_idle),
		cmocka_unit_test(test_large_windows_grow_past_max),
		cmocka_unit_test(test_large_credit_needs_agreement),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
