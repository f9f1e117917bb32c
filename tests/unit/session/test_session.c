/* Tests for rv_session/rv_stream: a client and a server session paired in
 * memory on one rv_loop_poll (messages handed over by a pump with
 * interception and a tampering relay), streams over socketpair()s (TCP
 * pairs on 127.0.0.1 where a reset must be visible).  Every wait is
 * bounded. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "rv_addr.h"
#include "rv_buf.h"
#include "rv_err.h"
#include "rv_frame.h"
#include "rv_keys.h"
#include "rv_log.h"
#include "rv_loop.h"
#include "rv_loop_poll.h"
#include "rv_ratchet.h"
#include "rv_session.h"
#include "rv_stream.h"
#include "session_harness.h"

enum { MAX_EP = 16, WAIT_MS = 10000 };

/* One end of a socketpair that the test drives: sends a buffer, checks
 * what it receives against an expected buffer. */
struct ep {
	int fd;
	struct rv_loop_fd *w;
	const uint8_t *out;     /* to send */
	size_t out_len, sent;
	int shut_after;         /* shutdown(SHUT_WR) after sending all */
	int shut_done;
	const uint8_t *expect;  /* expected input (NULL: don't check) */
	size_t expect_len, got;
	int mismatch;
	int eof, err;           /* read returned 0 / an error */
	int stop_reading;
};

enum srv_mode { SRV_ACCEPT, SRV_REJECT, SRV_DEFER };

struct h {
	struct rv_loop *loop;
	struct rv_session *cli, *srv;
	struct rv_ratchet *alice_clone; /* for injecting authentic frames */
	int cli_closed, srv_closed, cli_err, srv_err;
	int block_c2s, block_s2c;       /* stalled WebSocket */
	int drop_c2s;                   /* silent client */
	int tcp;                        /* stream fds are TCP pairs, not socketpairs */
	/* Tampering relay: on message number tamper_at (counted per
	 * direction from 0) of direction tamper_dir (0 = c2s), do tamper. */
	int tamper, tamper_dir;
	uint64_t tamper_at, nmsg[2];
	uint8_t held[RV_MSG_MAX], prev[2][RV_MSG_MAX];
	size_t held_len, prev_len[2];
	int cli_free_on_close, srv_free_on_close;

	enum srv_mode mode;
	enum rv_status reject_status;
	struct rv_stream *deferred;
	int srv_connects;
	struct rv_addr last_dst;
	struct ep ep[MAX_EP];
	int nep;
	struct rv_stream *srv_streams[MAX_EP];

	int resp_calls, resp_retryable, detach_on_fail, detached_fd;
	enum rv_status last_status;
	struct rv_addr last_bound;
	const char *fail_reply;
	int cli_stream_closed, srv_stream_closed;
	enum rv_reset_reason last_cli_reset, last_srv_reset;
	int goaways;
	uint32_t goaway_last;
	int input_off, input_on;        /* on_input_flow calls (server) */
};

static void stream_pair(struct h *h, int sv[2]);

/* ---- endpoints ------------------------------------------------------- */

static void ep_update(struct ep *e)
{
	unsigned ev = 0;

	if (e->w == NULL)
		return;
	if (!e->stop_reading && !e->eof && !e->err)
		ev |= RV_LOOP_READ;
	if (e->sent < e->out_len || (e->shut_after && !e->shut_done))
		ev |= RV_LOOP_WRITE;
	rv_loop_fd_set_events(e->w, ev);
}

static void ep_cb(struct rv_loop_fd *w, int fd, unsigned ev, void *arg)
{
	struct ep *e = arg;
	uint8_t buf[65536];
	ssize_t n;

	(void)w;
	if ((ev & RV_LOOP_WRITE) && e->sent < e->out_len) {
		n = send(fd, e->out + e->sent, e->out_len - e->sent, MSG_NOSIGNAL);
		if (n > 0)
			e->sent += (size_t)n;
		else if (n < 0 && errno != EAGAIN)
			e->err = errno;
	}
	if (e->sent == e->out_len && e->shut_after && !e->shut_done) {
		shutdown(fd, SHUT_WR);
		e->shut_done = 1;
	}
	if ((ev & RV_LOOP_READ) && !e->stop_reading) {
		n = read(fd, buf, sizeof(buf));
		if (n > 0) {
			if (e->expect != NULL &&
			    (e->got + (size_t)n > e->expect_len ||
			     memcmp(e->expect + e->got, buf, (size_t)n) != 0))
				e->mismatch = 1;
			e->got += (size_t)n;
		} else if (n == 0) {
			e->eof = 1;
		} else if (errno != EAGAIN) {
			e->err = errno;
		}
	}
	ep_update(e);
}

static struct ep *ep_new(struct h *h, int fd)
{
	struct ep *e;

	assert_true(h->nep < MAX_EP);
	e = &h->ep[h->nep++];
	memset(e, 0, sizeof(*e));
	e->fd = fd;
	assert_int_equal(rv_loop_fd_add(h->loop, fd, RV_LOOP_READ, ep_cb, e, &e->w), RV_OK);
	return e;
}

static void ep_send(struct ep *e, const uint8_t *p, size_t len, int shut)
{
	e->out = p;
	e->out_len = len;
	e->sent = 0;
	e->shut_after = shut;
	ep_update(e);
}

static void ep_expect(struct ep *e, const uint8_t *p, size_t len)
{
	e->expect = p;
	e->expect_len = len;
	e->got = 0;
}

static void ep_close(struct ep *e)
{
	rv_loop_fd_del(e->w);
	e->w = NULL;
	if (e->fd >= 0)
		close(e->fd);
	e->fd = -1;
}

/* ---- session callbacks --------------------------------------------- */

static void cb_want_write(struct rv_session *s, void *arg)
{
	(void)s;
	(void)arg;
}

static void cb_closed(struct rv_session *s, int err, void *arg)
{
	struct h *h = arg;

	if (s == h->cli) {
		h->cli_closed++;
		h->cli_err = err;
	} else {
		h->srv_closed++;
		h->srv_err = err;
	}
}

static void cb_connect(struct rv_session *s, struct rv_stream *st, const struct rv_addr *dst,
		       void *arg)
{
	struct h *h = arg;
	int sv[2];

	(void)s;
	h->srv_connects++;
	h->last_dst = *dst;
	if (h->mode == SRV_DEFER) {
		h->deferred = st;
		return;
	}
	if (h->mode == SRV_REJECT) {
		assert_int_equal(rv_stream_reject(st, h->reject_status), RV_OK);
		return;
	}
	stream_pair(h, sv);
	h->srv_streams[h->nep] = st;
	ep_new(h, sv[1]);
	sh_accept_loopback(st, sv[0], 4242);
}

static void cb_response(struct rv_stream *st, enum rv_status status, const struct rv_addr *bound,
			void *arg)
{
	struct h *h = arg;

	h->resp_calls++;
	h->last_status = status;
	h->resp_retryable = rv_stream_retryable(st);
	if (bound != NULL)
		h->last_bound = *bound;
	else
		assert_int_not_equal(status, RV_STATUS_OK);
	if (status != RV_STATUS_OK && h->fail_reply != NULL)
		assert_int_equal(rv_stream_write_local(st, h->fail_reply, strlen(h->fail_reply)),
				 RV_OK);
	if (status != RV_STATUS_OK && h->detach_on_fail)
		h->detached_fd = rv_stream_detach_fd(st);
}

static void cb_stream_closed(struct rv_stream *st, void *arg)
{
	struct h *h = arg;
	int i;

	if (rv_stream_session(st) == h->cli) {
		h->cli_stream_closed++;
		h->last_cli_reset = rv_stream_reset_reason(st);
	} else {
		h->srv_stream_closed++;
		h->last_srv_reset = rv_stream_reset_reason(st);
		if (st == h->deferred)
			h->deferred = NULL;
		for (i = 0; i < MAX_EP; i++)
			if (h->srv_streams[i] == st)
				h->srv_streams[i] = NULL;
	}
}

static void cb_goaway(struct rv_session *s, uint32_t last, enum rv_goaway_reason r, void *arg)
{
	struct h *h = arg;

	(void)s;
	(void)r;
	h->goaways++;
	h->goaway_last = last;
}

static void cb_input_flow(struct rv_session *s, int enable, void *arg)
{
	struct h *h = arg;

	if (s != h->srv)
		return;
	if (enable)
		h->input_on++;
	else
		h->input_off++;
}

static const struct rv_session_callbacks callbacks = {
	.on_input_flow = cb_input_flow,
	.on_want_write = cb_want_write,
	.on_closed = cb_closed,
	.on_stream_connect = cb_connect,
	.on_stream_response = cb_response,
	.on_stream_closed = cb_stream_closed,
	.on_goaway = cb_goaway,
};

/* ---- harness ----------------------------------------------------------- */

static void h_init(struct h *h, const struct rv_session_config *ccfg,
		   const struct rv_session_config *scfg)
{
	struct rv_session_callbacks cb = callbacks;
	struct rv_session_config cc = { 0 }, sc = { 0 };

	memset(h, 0, sizeof(*h));
	h->detached_fd = -1;
	for (int i = 0; i < MAX_EP; i++)
		h->ep[i].fd = -1;
	assert_int_equal(rv_loop_poll_new(&h->loop), RV_OK);
	if (ccfg != NULL)
		cc = *ccfg;
	if (scfg != NULL)
		sc = *scfg;
	cc.name = "client";
	sc.name = "server";
	cc.headroom = 16;
	sc.headroom = 16;
	if (cc.peer_window == 0)
		cc.peer_window = sc.local_window;
	cb.arg = h;
	assert_int_equal(sh_pair_new(h->loop, &cc, &sc, &cb, &h->alice_clone, &h->cli, &h->srv),
			 RV_OK);
}

static void h_free(struct h *h)
{
	int i;

	rv_session_free(h->cli);
	rv_session_free(h->srv);
	rv_ratchet_free(h->alice_clone);
	for (i = 0; i < h->nep; i++)
		ep_close(&h->ep[i]);
	if (h->detached_fd >= 0)
		close(h->detached_fd);
	rv_loop_poll_free(h->loop);
}

/* A connected TCP pair on 127.0.0.1, both ends non-blocking: unlike a
 * socketpair, an abortive close (SO_LINGER 0) shows as ECONNRESET. */
static void tcp_pair(int sv[2])
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	assert_true(l >= 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(l, 1), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&a, &alen), 0);
	sv[0] = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(sv[0] >= 0);
	assert_int_equal(connect(sv[0], (struct sockaddr *)&a, sizeof(a)), 0);
	sv[1] = accept(l, NULL, NULL);
	assert_true(sv[1] >= 0);
	close(l);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(fcntl(sv[i], F_SETFL, fcntl(sv[i], F_GETFL) | O_NONBLOCK), 0);
		(void)setsockopt(sv[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
}

static void stream_pair(struct h *h, int sv[2])
{
	if (h->tcp)
		tcp_pair(sv);
	else
		sh_socketpair(sv, SOCK_NONBLOCK);
}

enum tamper_kind { T_NONE, T_DROP, T_SWAP, T_DUP, T_REPLAY, T_FLIP, T_TRUNC };

static void deliver(struct rv_session *to, const uint8_t *m, size_t len)
{
	if (to != NULL && rv_session_get_state(to) != RV_SESSION_CLOSED)
		(void)rv_session_on_message(to, m, len);
}

/* The relay's one act of tampering on message m of direction dir.
 * Returns 1 if it took over delivery of m. */
static int tamper_msg(struct h *h, int dir, struct rv_session *to, const uint8_t *m, size_t len)
{
	uint64_t n = h->nmsg[dir];
	uint8_t f[RV_MSG_MAX];

	if (h->tamper == T_NONE || dir != h->tamper_dir)
		return 0;
	if (h->tamper == T_SWAP && n == h->tamper_at + 1) {
		deliver(to, m, len); /* the later one first */
		deliver(to, h->held, h->held_len);
		return 1;
	}
	if (n != h->tamper_at)
		return 0;
	switch (h->tamper) {
	case T_DROP:
		return 1;
	case T_SWAP:
		memcpy(h->held, m, len);
		h->held_len = len;
		return 1;
	case T_DUP:
		deliver(to, m, len);
		deliver(to, m, len);
		return 1;
	case T_REPLAY: /* the previous message again, then this one */
		deliver(to, h->prev[dir], h->prev_len[dir]);
		deliver(to, m, len);
		return 1;
	case T_FLIP:
		memcpy(f, m, len);
		f[RV_OUTER_HDR_LEN + RV_RATCHET_HDR_LEN + (len - RV_TRANSPORT_OVERHEAD) / 2] ^= 0x10;
		deliver(to, f, len);
		return 1;
	case T_TRUNC:
		deliver(to, m, len - 1);
		return 1;
	default:
		return 0;
	}
}

/* Move messages from one session to the other; returns how many. */
static int pump_dir(struct h *h, struct rv_session *from, struct rv_session *to, int drop)
{
	uint8_t *m;
	size_t len;
	int n = 0, rc, dir = from == h->srv;

	while (n < 64 && from != NULL && (rc = rv_session_next_message(from, &m, &len)) == 1) {
		/* headroom is scratch space for the transport: scribble on it */
		memset(m - 16, 0xAA, 16);
		if (!drop && !tamper_msg(h, dir, to, m, len))
			deliver(to, m, len);
		memcpy(h->prev[dir], m, len);
		h->prev_len[dir] = len;
		h->nmsg[dir]++;
		rv_session_message_sent(from);
		n++;
	}
	return n;
}

static int pump(struct h *h)
{
	int n = 0;

	if (!h->block_c2s)
		n += pump_dir(h, h->cli, h->srv, h->drop_c2s);
	if (!h->block_s2c)
		n += pump_dir(h, h->srv, h->cli, 0);
	return n;
}

/* Run loop and pump until pred(h) or max_ms; returns pred's final value. */
static int run(struct h *h, int (*pred)(struct h *), uint32_t max_ms)
{
	uint64_t start = rv_loop_now_ms(h->loop);
	int i, moved;

	for (i = 0; i < 2000000; i++) {
		moved = pump(h);
		if (pred != NULL && pred(h))
			return 1;
		if (rv_loop_now_ms(h->loop) - start >= max_ms)
			break;
		assert_true(rv_loop_poll_run_once(h->loop, moved ? 0 : 2) >= 0);
	}
	return pred != NULL ? pred(h) : 0;
}

static int pred_never(struct h *h)
{
	(void)h;
	return 0;
}

static int open_stream(struct h *h, const struct rv_addr *dst, const void *early, size_t elen,
		       struct ep **app, struct rv_stream **out)
{
	int sv[2], rc;
	struct rv_stream *st = NULL;

	stream_pair(h, sv);
	rc = rv_session_stream_open(h->cli, sv[0], dst, early, elen, NULL, &st);
	if (rc < 0) {
		close(sv[0]);
		close(sv[1]);
		return rc;
	}
	*app = ep_new(h, sv[1]);
	if (out != NULL)
		*out = st;
	return RV_OK;
}

static void dst_domain(struct rv_addr *a)
{
	assert_int_equal(rv_addr_set_domain(a, "example.test", 12, 443), RV_OK);
}

static uint8_t *random_bytes(size_t n)
{
	uint8_t *p = malloc(n);

	assert_non_null(p);
	randombytes_buf(p, n);
	return p;
}

/* ---- predicates ---------------------------------------------------------- */

static int pred_response(struct h *h)
{
	return h->resp_calls > 0;
}

static int pred_no_streams(struct h *h)
{
	return rv_session_stream_count(h->cli) == 0 && rv_session_stream_count(h->srv) == 0;
}

static struct h *g_h; /* for predicates needing more context */
static struct ep *g_a, *g_b;

static int pred_transfer_done(struct h *h)
{
	(void)h;
	return g_a->eof && g_b->eof && g_a->got == g_a->expect_len &&
	       g_b->got == g_b->expect_len && g_a->sent == g_a->out_len &&
	       g_b->sent == g_b->out_len && pred_no_streams(g_h);
}

/* ---- tests --------------------------------------------------------------- */

static void test_connect_response(void **state)
{
	struct h h;
	struct ep *app, *tgt;
	struct rv_addr dst;
	struct rv_stream *st;
	const uint8_t lo[4] = { 127, 0, 0, 1 };
	struct rv_addr want_bound;
	static const uint8_t early[] = "GET / HTTP/1.0\r\n\r\n";

	(void)state;
	h_init(&h, NULL, NULL);
	dst_domain(&dst);
	assert_int_equal(open_stream(&h, &dst, early, sizeof(early) - 1, &app, &st), RV_OK);
	assert_int_equal(rv_stream_get_state(st), RV_STREAM_CONNECTING);
	assert_int_equal(rv_stream_id(st), 1);
	assert_true(run(&h, pred_response, WAIT_MS));
	assert_int_equal(h.srv_connects, 1);
	assert_true(rv_addr_equal(&h.last_dst, &dst));
	assert_int_equal(h.last_status, RV_STATUS_OK);
	rv_addr_set_ipv4(&want_bound, lo, 4242);
	assert_true(rv_addr_equal(&h.last_bound, &want_bound));
	assert_int_equal(rv_stream_get_state(st), RV_STREAM_OPEN);
	/* Early data reaches the target first. */
	tgt = &h.ep[1];
	ep_expect(tgt, early, sizeof(early) - 1);
	g_b = tgt;
	(void)app;
	run(&h, pred_never, 50);
	assert_int_equal(tgt->got, sizeof(early) - 1);
	assert_false(tgt->mismatch);
	h_free(&h);
}

/* Bulk both ways, both sides half-close after sending; checks content,
 * stream teardown on both sides and the byte counters. */
static void transfer(size_t up, size_t down, uint32_t window)
{
	struct h h;
	struct rv_session_config sc = { .local_window = window };
	struct rv_session_config cc = { .local_window = window };
	struct ep *app, *tgt;
	struct rv_addr dst;
	struct rv_session_stats cs, ss;
	uint8_t *u = random_bytes(up), *d = random_bytes(down);

	h_init(&h, &cc, &sc);
	dst_domain(&dst);
	assert_int_equal(open_stream(&h, &dst, NULL, 0, &app, NULL), RV_OK);
	assert_true(run(&h, pred_response, WAIT_MS));
	tgt = &h.ep[1];
	ep_send(app, u, up, 1);
	ep_expect(app, d, down);
	ep_send(tgt, d, down, 1);
	ep_expect(tgt, u, up);
	g_h = &h;
	g_a = app;
	g_b = tgt;
	assert_true(run(&h, pred_transfer_done, 60000));
	assert_false(app->mismatch);
	assert_false(tgt->mismatch);
	assert_int_equal(h.cli_stream_closed, 1);
	assert_int_equal(h.srv_stream_closed, 1);
	assert_int_equal(h.last_cli_reset, RV_RESET_INVALID);
	rv_session_get_stats(h.cli, &cs);
	rv_session_get_stats(h.srv, &ss);
	assert_int_equal(cs.data_out, up);
	assert_int_equal(ss.data_in, up);
	assert_int_equal(ss.data_out, down);
	assert_int_equal(cs.data_in, down);
	assert_int_equal(cs.msgs_dropped + ss.msgs_dropped, 0);
	assert_int_equal(rv_session_get_state(h.cli), RV_SESSION_OPEN);
	print_message("transfer %zu up / %zu down, window %u: %llu+%llu messages\n", up, down,
		      window, (unsigned long long)cs.msgs_out, (unsigned long long)ss.msgs_out);
	h_free(&h);
	free(u);
	free(d);
}

static void test_data_both_ways(void **state)
{
	(void)state;
	transfer(3 * 1024 * 1024 + 17, 2 * 1024 * 1024 + 5, 0);
	transfer(100000, 1, 1000); /* tiny window: many WINDOW_UPDATEs */
	transfer(0, 70000, 0);     /* one direction empty: immediate FIN */
}

static int pred_tgt_eof(struct h *h)
{
	(void)h;
	return g_b->eof && g_b->got == g_b->expect_len;
}

static int pred_app_eof(struct h *h)
{
	(void)h;
	return g_a->eof && g_a->got == g_a->expect_len;
}

/* Client half-closes first and still receives the whole response. */
static void test_half_close_client_first(void **state)
{
	struct h h;
	struct ep *app, *tgt;
	struct rv_addr dst;
	struct rv_stream *st;
	uint8_t *req = random_bytes(1000), *resp = random_bytes(1500000);

	(void)state;
	h_init(&h, NULL, NULL);
	dst_domain(&dst);
	assert_int_equal(open_stream(&h, &dst, NULL, 0, &app, &st), RV_OK);
	assert_true(run(&h, pred_response, WAIT_MS));
	tgt = &h.ep[1];
	g_h = &h;
	g_a = app;
	g_b = tgt;
	ep_send(app, req, 1000, 1);
	ep_expect(tgt, req, 1000);
	assert_true(run(&h, pred_tgt_eof, WAIT_MS));
	assert_int_equal(rv_stream_get_istate(st), RV_STREAM_DIR_CLOSED);
	assert_int_equal(rv_stream_get_ostate(st), RV_STREAM_DIR_OPEN);
	assert_int_equal(rv_session_stream_count(h.cli), 1);
	/* Target answers after seeing EOF, then closes. */
	ep_expect(app, resp, 1500000);
	ep_send(tgt, resp, 1500000, 1);
	assert_true(run(&h, pred_app_eof, WAIT_MS));
	assert_false(app->mismatch);
	assert_false(tgt->mismatch);
	assert_true(run(&h, pred_no_streams, WAIT_MS));
	assert_int_equal(h.last_cli_reset, RV_RESET_INVALID);
	h_free(&h);
	free(req);
	free(resp);
}

/* Target half-closes first; the app can still send. */
static void test_half_close_target_first(void **state)
{
	struct h h;
	struct ep *app, *tgt;
	struct rv_addr dst;
	uint8_t *a = random_bytes(200000), *b = random_bytes(300);

	(void)state;
	h_init(&h, NULL, NULL);
	dst_domain(&dst);
	assert_int_equal(open_stream(&h, &dst, NULL, 0, &app, NULL), RV_OK);
	assert_true(run(&h, pred_response, WAIT_MS));
	tgt = &h.ep[1];
	g_h = &h;
	g_a = app;
	g_b = tgt;
	ep_send(tgt, b, 300, 1);
	ep_expect(app, b, 300);
	assert_true(run(&h, pred_app_eof, WAIT_MS));
	assert_int_equal(rv_session_stream_count(h.srv), 1);
	ep_send(app, a, 200000, 1);
	ep_expect(tgt, a, 200000);
	assert_true(run(&h, pred_tgt_eof, WAIT_MS));
	assert_false(tgt->mismatch);
	assert_true(run(&h, pred_no_streams, WAIT_MS));
	h_free(&h);
	free(a);
	free(b);
}

static int pred_app_closed(struct h *h)
{
	(void)h;
	return (g_a->eof || g_a->err) && pred_no_streams(g_h);
}

static void test_reset(void **state)
{
	struct h h;
	struct ep *app;
	struct rv_addr dst;
	struct rv_session_stats cs, ss;

	(void)state;
	h_init(&h, NULL, NULL);
	dst_domain(&dst);
	assert_int_equal(open_stream(&h, &dst, NULL, 0, &app, NULL), RV_OK);
	assert_true(run(&h, pred_response, WAIT_MS));
	g_h = &h;
	g_a = app;
	/* The server side aborts: the client's app sees the connection die. */
	assert_non_null(h.srv_streams[1]);
	rv_stream_reset(h.srv_streams[1], RV_RESET_TARGET_ERROR);
	assert_true(run(&h, pred_app_closed, WAIT_MS));
	assert_int_equal(h.last_cli_reset, RV_RESET_TARGET_ERROR);
	assert_int_equal(h.last_srv_reset, RV_RESET_TARGET_ERROR);
	rv_session_get_stats(h.cli, &cs);
	rv_session_get_stats(h.srv, &ss);
	assert_int_equal(cs.streams_reset_received, 1);
	assert_int_equal(ss.streams_reset_sent, 1);
	/* The client's app goes away entirely: writing to it fails, the
	 * stream is reset and the target side sees the end. */
	h.resp_calls = 0;
	assert_int_equal(open_stream(&h, &dst, NULL, 0, &app, NULL), RV_OK);
	assert_true(run(&h, pred_response, WAIT_MS));
	{
		static uint8_t junk[100000];
		struct ep *tgt = &h.ep[h.nep - 1];

		ep_close(app);
		ep_send(tgt, junk, sizeof(junk), 0);
		g_a = tgt;
		assert_true(run(&h, pred_app_closed, WAIT_MS));
	}
	assert_int_equal(h.last_cli_reset, RV_RESET_LOCAL_ERROR);
	assert_int_equal(h.last_srv_reset, RV_RESET_LOCAL_ERROR);
	assert_int_equal(rv_session_get_state(h.cli), RV_SESSION_OPEN);
	assert_int_equal(rv_session_get_state(h.srv), RV_SESSION_OPEN);
	h_free(&h);
}

static void test_reject(void **state)
{
	struct h h;
	struct ep *app;
	struct rv_addr dst;
	static const char reply[] = "\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00";

	(void)state;
	h_init(&h, NULL, NULL);
	h.mode = SRV_REJECT;
	h.reject_status = RV_STATUS_CONNECTION_REFUSED;
	h.fail_reply = reply;
	dst_domain(&dst);
	assert_int_equal(open_stream(&h, &dst, NULL, 0, &app, NULL), RV_OK);
	g_h = &h;
	g_a = app;
	ep_expect(app, (const uint8_t *)reply, 1); /* first byte; length below */
	app->expect = NULL;
	assert_true(run(&h, pred_app_closed, WAIT_MS));
	assert_int_equal(h.last_status, RV_STATUS_CONNECTION_REFUSED);
	assert_int_equal(h.resp_retryable, 0);
	assert_int_equal(app->got, 2); /* strlen of the reply: stops at NUL */
	assert_int_equal(h.cli_stream_closed, 1);
	assert_int_equal(h.srv_stream_closed, 1);
	h_free(&h);
}

/* Deferred accept: the server connects later; DATA can't flow early. */
static void test_deferred_accept_and_cancel(void **state)
{
	struct h h;
	struct ep *app;
	struct rv_addr dst, bound;
	struct rv_stream *st;
	int sv[2];
	const uint8_t z[4] = { 0 };

	(void)state;
	h_init(&h, NULL, NULL);
	h.mode = SRV_DEFER;
	dst_domain(&dst);
	assert_int_equal(open_stream(&h, &dst, NULL, 0, &app, &st), RV_OK);
	run(&h, pred_never, 30);
	assert_non_null(h.deferred);
	assert_int_equal(h.resp_calls, 0);
	/* The client gives up (local socket closed): server stream goes. */
	rv_stream_reset(st, RV_RESET_CANCELED);
	assert_true(run(&h, pred_no_streams, WAIT_MS));
	assert_null(h.deferred); /* on_stream_closed told the owner */
	assert_int_equal(h.resp_calls, 0); /* owner reset: no response callback */
	/* Now a deferred accept that completes. */
	assert_int_equal(open_stream(&h, &dst, NULL, 0, &app, &st), RV_OK);
	run(&h, pred_never, 30);
	assert_non_null(h.deferred);
	sh_socketpair(sv, SOCK_NONBLOCK);
	rv_addr_set_ipv4(&bound, z, 0);
	ep_new(&h, sv[1]);
	assert_int_equal(rv_stream_accept(h.deferred, sv[0], &bound), RV_OK);
	assert_int_equal(rv_stream_accept(h.deferred, sv[0], &bound), RV_ERR_STATE);
	assert_true(run(&h, pred_response, WAIT_MS));
	assert_int_equal(h.last_status, RV_STATUS_OK);
	h_free(&h);
}

/* Optimistic data (PROTOCOL.md §7.2): without it nothing leaves before the
 * response; with it the early bytes and what the app writes reach the
 * server while it is still connecting, and the target gets them in order
 * once it accepts. */
static void test_optimistic_data(void **state)
{
	static const uint8_t early[] = "hello ", more[] = "world", all[] = "hello world";
	struct h h;
	struct ep *app, *tgt;
	struct rv_addr dst, bound;
	struct rv_stream *st;
	struct rv_session_stats cs, ss;
	int sv[2];
	const uint8_t z[4] = { 0 };

	(void)state;
	h_init(&h, NULL, NULL);
	h.mode = SRV_DEFER;
	dst_domain(&dst);
	/* Not optimistic: nothing before the response. */
	assert_int_equal(open_stream(&h, &dst, early, 6, &app, &st), RV_OK);
	ep_send(app, more, 5, 0);
	run(&h, pred_never, 50);
	assert_non_null(h.deferred);
	rv_session_get_stats(h.cli, &cs);
	assert_int_equal(cs.data_out, 0);
	rv_stream_reset(st, RV_RESET_CANCELED);
	assert_true(run(&h, pred_no_streams, WAIT_MS));

	/* Optimistic. */
	assert_int_equal(open_stream(&h, &dst, early, 6, &app, &st), RV_OK);
	assert_int_equal(rv_stream_set_optimistic(st, 1), RV_OK);
	ep_send(app, more, 5, 0);
	run(&h, pred_never, 50);
	assert_non_null(h.deferred);
	assert_int_equal(h.resp_calls, 0);
	rv_session_get_stats(h.cli, &cs);
	rv_session_get_stats(h.srv, &ss);
	assert_int_equal(cs.data_out, 11);
	assert_int_equal(ss.data_in, 11); /* held by the server, counted */
	sh_socketpair(sv, SOCK_NONBLOCK);
	rv_addr_set_ipv4(&bound, z, 0);
	tgt = ep_new(&h, sv[1]);
	ep_expect(tgt, all, 11);
	assert_int_equal(rv_stream_accept(h.deferred, sv[0], &bound), RV_OK);
	assert_true(run(&h, pred_response, WAIT_MS));
	assert_int_equal(h.last_status, RV_STATUS_OK);
	assert_int_equal(rv_stream_get_state(st), RV_STREAM_OPEN);
	assert_int_equal(rv_stream_set_optimistic(st, 1), RV_ERR_STATE); /* open already */
	g_b = tgt;
	run(&h, pred_never, 50);
	assert_int_equal(tgt->got, 11);
	assert_false(tgt->mismatch);
	/* Only a client's connecting stream. */
	assert_int_equal(rv_stream_set_optimistic(h.deferred, 1), RV_ERR_STATE);
	assert_int_equal(rv_stream_set_optimistic(NULL, 1), RV_ERR_STATE);
	h_free(&h);
}

/* A refused optimistic stream is retryable only while nothing was read
 * from its fd (early bytes are the owner's to resend; the rest is gone). */
static void test_optimistic_retryable(void **state)
{
	static const uint8_t early[] = "GET", more[] = " / HTTP/1.0";
	struct h h;
	struct rv_session_config sc = { .max_streams = 1 };
	struct ep *app;
	struct rv_addr dst;
	struct rv_stream *st;

	(void)state;
	h_init(&h, NULL, &sc);
	dst_domain(&dst);
	h.detach_on_fail = 1;
	assert_int_equal(open_stream(&h, &dst, NULL, 0, &app, NULL), RV_OK);
	assert_true(run(&h, pred_response, WAIT_MS));
	/* Early bytes only: refused (the server's limit), still retryable. */
	h.resp_calls = 0;
	assert_int_equal(open_stream(&h, &dst, early, 3, &app, &st), RV_OK);
	assert_int_equal(rv_stream_set_optimistic(st, 1), RV_OK);
	assert_true(run(&h, pred_response, WAIT_MS));
	assert_int_equal(h.last_status, RV_STATUS_GENERAL_FAILURE);
	assert_int_equal(h.resp_retryable, 1);
	/* Read from the fd before the refusal: not retryable. */
	h.resp_calls = 0;
	assert_int_equal(open_stream(&h, &dst, early, 3, &app, &st), RV_OK);
	/* In the socket already: set_optimistic reads it at once. */
	assert_int_equal(send(app->fd, more, sizeof(more) - 1, 0), (ssize_t)(sizeof(more) - 1));
	assert_int_equal(rv_stream_set_optimistic(st, 1), RV_OK);
	assert_true(run(&h, pred_response, WAIT_MS));
	assert_int_equal(h.last_status, RV_STATUS_GENERAL_FAILURE);
	assert_int_equal(h.resp_retryable, 0);
	h_free(&h);
}

struct fc {
	struct ep *app, *tgt;
};

static int pred_stalled(struct h *h)
{
	(void)h;
	return 0;
}

/* The target stops reading: the client stops at the window; memory stays
 * bounded; another stream keeps flowing; resuming delivers everything. */
static void test_flow_control(void **state)
{
	enum { WIN = 65536, BIG = 8 * 1024 * 1024 };
	struct h h;
	struct rv_session_config sc = { .local_window = WIN };
	struct ep *app, *tgt, *app2, *tgt2;
	struct rv_addr dst;
	struct rv_session_stats cs;
	uint8_t *u = random_bytes(BIG), *v = random_bytes(300000);
	int inflight_tgt;
	uint64_t accepted;

	(void)state;
	h_init(&h, NULL, &sc);
	dst_domain(&dst);
	assert_int_equal(open_stream(&h, &dst, NULL, 0, &app, NULL), RV_OK);
	assert_true(run(&h, pred_response, WAIT_MS));
	tgt = &h.ep[1];
	tgt->stop_reading = 1;
	ep_update(tgt);
	ep_send(app, u, BIG, 0);
	run(&h, pred_stalled, 500);
	rv_session_get_stats(h.cli, &cs);
	assert_int_equal(ioctl(tgt->fd, FIONREAD, &inflight_tgt), 0);
	/* Inside the tunnel (sent by the client, not yet in the target's
	 * socket) never more than the window. */
	assert_true(cs.data_out >= (uint64_t)inflight_tgt);
	assert_true(cs.data_out - (uint64_t)inflight_tgt <= WIN);
	assert_true(app->sent < BIG); /* the app is blocked, not buffered */
	accepted = cs.data_out;
	print_message("flow control: app wrote %zu, tunnel took %llu, target socket holds %d\n",
		      app->sent, (unsigned long long)accepted, inflight_tgt);
	/* A second stream is unaffected. */
	g_h = &h;
	assert_int_equal(open_stream(&h, &dst, NULL, 0, &app2, NULL), RV_OK);
	h.resp_calls = 0;
	assert_true(run(&h, pred_response, WAIT_MS));
	tgt2 = &h.ep[h.nep - 1];
	ep_send(app2, v, 300000, 1);
	ep_expect(tgt2, v, 300000);
	g_b = tgt2;
	assert_true(run(&h, pred_tgt_eof, WAIT_MS));
	/* Nothing more went into the stalled stream meanwhile. */
	rv_session_get_stats(h.cli, &cs);
	assert_int_equal(cs.data_out - 300000, accepted);
	/* Resume: everything arrives intact. */
	tgt->stop_reading = 0;
	ep_expect(tgt, u, BIG);
	ep_update(tgt);
	app->shut_after = 1;
	g_b = tgt;
	assert_true(run(&h, pred_tgt_eof, 60000));
	assert_false(tgt->mismatch);
	h_free(&h);
	free(u);
	free(v);
}

/* A peer that sends beyond its credit gets RESET(FLOW_CONTROL); frames are
 * injected with a clone of the client's ratchet, so they authenticate. */
static void inject(struct h *h, const struct rv_frame *fr, size_t n)
{
	struct rv_buf pt, msg;
	size_t i;

	rv_buf_init(&pt, RV_PLAINTEXT_MAX);
	rv_buf_init(&msg, RV_MSG_MAX);
	for (i = 0; i < n; i++)
		assert_int_equal(rv_frame_encode(&pt, &fr[i]), RV_OK);
	assert_int_equal(rv_ratchet_encrypt(h->alice_clone, 0, rv_buf_ptr(&pt), rv_buf_len(&pt),
					    &msg),
			 RV_OK);
	(void)rv_session_on_message(h->srv, rv_buf_ptr(&msg), rv_buf_len(&msg));
	rv_buf_cleanup(&pt);
	rv_buf_cleanup(&msg);
}

static void test_flow_control_violation(void **state)
{
	struct h h;
	struct rv_session_config sc = { .local_window = 8192 };
	struct rv_frame f[3];
	struct rv_addr dst;
	static uint8_t junk[16384];

	(void)state;
	h_init(&h, NULL, &sc);
	/* The clone speaks for the client from the start; the real client's
	 * messages are never delivered (they would replay the clone's numbers
	 * and end the session). */
	h.block_c2s = 1;
	dst_domain(&dst);
	memset(f, 0, sizeof(f));
	f[0].type = RV_FRAME_PROXY_CONNECT;
	f[0].stream_id = 1;
	f[0].u.connect.addr = dst;
	f[0].u.connect.window = 65536;
	f[1].type = RV_FRAME_PROXY_DATA;
	f[1].stream_id = 1;
	f[1].u.data.data = junk;
	f[1].u.data.len = 8193; /* one byte past the window */
	inject(&h, f, 2);
	assert_int_equal(h.srv_connects, 1);
	assert_int_equal(h.srv_stream_closed, 1);
	assert_int_equal(h.last_srv_reset, RV_RESET_FLOW_CONTROL);
	assert_int_equal(rv_session_get_state(h.srv), RV_SESSION_OPEN);
	/* A malformed frame from the authenticated peer kills the session. */
	memset(f, 0, sizeof(f));
	f[0].type = RV_FRAME_WINDOW_UPDATE;
	f[0].stream_id = 99; /* never opened */
	f[0].u.window_update.credit = 5;
	inject(&h, f, 1);
	assert_int_equal(h.srv_closed, 1);
	assert_int_equal(h.srv_err, RV_ERR_MALFORMED);
	assert_int_equal(rv_session_get_state(h.srv), RV_SESSION_CLOSED);
	h_free(&h);
}

/* DATA and FIN that arrive before the server has answered are kept and
 * delivered once the target is connected (PROTOCOL.md: MUST accept). */
static void test_data_before_accept(void **state)
{
	struct h h;
	struct rv_frame f[3];
	struct rv_addr dst, bound;
	struct ep *tgt;
	int sv[2];
	static const uint8_t early[] = "early bytes";
	const uint8_t z[4] = { 0 };

	(void)state;
	h_init(&h, NULL, NULL);
	h.block_c2s = 1;
	h.mode = SRV_DEFER;
	dst_domain(&dst);
	memset(f, 0, sizeof(f));
	f[0].type = RV_FRAME_PROXY_CONNECT;
	f[0].stream_id = 1;
	f[0].u.connect.addr = dst;
	f[0].u.connect.window = 65536;
	f[1].type = RV_FRAME_PROXY_DATA;
	f[1].stream_id = 1;
	f[1].u.data.data = early;
	f[1].u.data.len = sizeof(early) - 1;
	f[2].type = RV_FRAME_PROXY_FIN;
	f[2].stream_id = 1;
	inject(&h, f, 3);
	assert_non_null(h.deferred);
	assert_int_equal(rv_stream_get_ostate(h.deferred), RV_STREAM_DIR_DRAIN);
	sh_socketpair(sv, SOCK_NONBLOCK);
	tgt = ep_new(&h, sv[1]);
	ep_expect(tgt, early, sizeof(early) - 1);
	rv_addr_set_ipv4(&bound, z, 0);
	assert_int_equal(rv_stream_accept(h.deferred, sv[0], &bound), RV_OK);
	g_b = tgt;
	assert_true(run(&h, pred_tgt_eof, WAIT_MS));
	assert_false(tgt->mismatch);
	assert_int_equal(rv_session_get_state(h.srv), RV_SESSION_OPEN);
	h_free(&h);
}

/* Stalled WebSocket: the outbox stops near the high water mark, local
 * reading pauses; unstalled, all data arrives. */
static void test_watermarks(void **state)
{
	enum { HIGH = 256 * 1024, LOW = 64 * 1024, BIG = 4 * 1024 * 1024 };
	struct h h;
	struct rv_session_config cc = { .high_water = HIGH, .low_water = LOW };
	struct rv_session_config sc = { .local_window = 8 * 1024 * 1024 };
	struct ep *app, *app2, *tgt;
	struct rv_addr dst;
	struct rv_session_stats cs;
	uint8_t *u = random_bytes(BIG);
	size_t q;

	(void)state;
	h_init(&h, &cc, &sc);
	dst_domain(&dst);
	assert_int_equal(open_stream(&h, &dst, NULL, 0, &app, NULL), RV_OK);
	assert_int_equal(open_stream(&h, &dst, NULL, 0, &app2, NULL), RV_OK);
	h.resp_calls = 0;
	g_h = &h;
	assert_true(run(&h, pred_response, WAIT_MS));
	run(&h, pred_never, 20);
	tgt = &h.ep[2];
	h.block_c2s = 1;
	ep_send(app, u, BIG, 1);
	ep_send(app2, u, BIG, 0);
	run(&h, pred_never, 300);
	q = rv_session_send_queue_bytes(h.cli);
	rv_session_get_stats(h.cli, &cs);
	print_message("watermarks: queue %zu bytes (high %d), pauses %llu\n", q, HIGH,
		      (unsigned long long)cs.watermark_pauses);
	assert_true(q > HIGH);
	assert_true(q <= HIGH + 4 * (RV_FRAME_DATA_MAX + 7) + 4096);
	assert_true(cs.watermark_pauses >= 1);
	assert_true(app->sent < BIG);
	/* Unstall: everything flows. */
	h.block_c2s = 0;
	ep_expect(tgt, u, BIG);
	g_b = tgt;
	assert_true(run(&h, pred_tgt_eof, 60000));
	assert_false(tgt->mismatch);
	h_free(&h);
	free(u);
}

static int pred_srv_closed(struct h *h)
{
	return h->srv_closed > 0;
}

static void test_keepalive(void **state)
{
	struct h h;
	struct rv_session_config cc = { .keepalive_interval_ms = 20 };
	struct rv_session_config sc = { .keepalive_timeout_ms = 300 };
	struct rv_session_stats cs, ss;

	(void)state;
	h_init(&h, &cc, &sc);
	/* PINGs keep an idle session alive well past the timeout. */
	run(&h, pred_srv_closed, 700);
	assert_int_equal(h.srv_closed, 0);
	rv_session_get_stats(h.cli, &cs);
	rv_session_get_stats(h.srv, &ss);
	assert_true(cs.pings_sent >= 5);
	assert_true(cs.pongs_received >= 3);
	/* The client goes silent: the server declares it dead. */
	h.drop_c2s = 1;
	assert_true(run(&h, pred_srv_closed, 2000));
	assert_int_equal(h.srv_err, RV_ERR_TIMEOUT);
	assert_int_equal(rv_session_get_state(h.srv), RV_SESSION_CLOSED);
	h_free(&h);
}

static int pred_goaway(struct h *h)
{
	return h->goaways > 0;
}

static int pred_both_closed(struct h *h)
{
	return h->cli_closed > 0 && h->srv_closed > 0;
}

static void test_goaway(void **state)
{
	struct h h;
	struct ep *app, *app2, *tgt;
	struct rv_addr dst;
	struct rv_stream *st2;
	uint8_t *u = random_bytes(500000);

	(void)state;
	h_init(&h, NULL, NULL);
	dst_domain(&dst);
	assert_int_equal(open_stream(&h, &dst, NULL, 0, &app, NULL), RV_OK);
	assert_true(run(&h, pred_response, WAIT_MS));
	tgt = &h.ep[1];
	/* Stream 2 is in flight when the server says GOAWAY(last = 1). */
	h.block_c2s = 1;
	h.resp_calls = 0;
	h.detach_on_fail = 1;
	assert_int_equal(open_stream(&h, &dst, NULL, 0, &app2, &st2), RV_OK);
	assert_int_equal(rv_session_goaway(h.srv, RV_GOAWAY_SHUTDOWN), RV_OK);
	assert_int_equal(rv_session_get_state(h.srv), RV_SESSION_GOAWAY);
	assert_true(run(&h, pred_goaway, WAIT_MS));
	assert_int_equal(h.goaway_last, 1);
	/* Stream 2: failed, retryable, fd handed back. */
	assert_int_equal(h.resp_calls, 1);
	assert_int_equal(h.last_status, RV_STATUS_GENERAL_FAILURE);
	assert_int_equal(h.resp_retryable, 1);
	assert_true(h.detached_fd >= 0);
	assert_int_equal(rv_session_get_state(h.cli), RV_SESSION_GOAWAY);
	assert_int_equal(open_stream(&h, &dst, NULL, 0, &app2, NULL), RV_ERR_CLOSED);
	/* Stream 1 still works, then both sessions close once it is done. */
	h.block_c2s = 0;
	g_h = &h;
	g_a = app;
	g_b = tgt;
	ep_send(app, u, 500000, 1);
	ep_expect(tgt, u, 500000);
	ep_send(tgt, u, 1000, 1);
	ep_expect(app, u, 1000);
	assert_true(run(&h, pred_tgt_eof, WAIT_MS));
	assert_false(tgt->mismatch);
	assert_true(run(&h, pred_both_closed, WAIT_MS));
	assert_int_equal(h.cli_err, RV_ERR_CLOSED);
	assert_int_equal(h.srv_err, RV_ERR_CLOSED);
	assert_int_equal(h.srv_connects, 1); /* stream 2 refused, not offered */
	h_free(&h);
	free(u);
}

/* Any transport message that does not open ends the session at once,
 * reason logged and reported: a forged tag, a changed header, a truncated
 * or an empty message, and a replay of a genuine one. */
static void test_forged_and_replayed(void **state)
{
	static const struct {
		size_t pos; /* byte to flip, or SIZE_MAX */
		size_t len; /* 0 = the whole message */
		int err;
	} cases[] = {
		{ SIZE_MAX - 1, 0, RV_ERR_AUTH },          /* last byte: tag */
		{ RV_OUTER_HDR_LEN + 2, 0, RV_ERR_AUTH },  /* ratchet key: DH, tag fails */
		{ 43, 0, RV_ERR_ORDER },                   /* n (bytes 40..43) = 1: gap */
		{ SIZE_MAX, 3, RV_ERR_MALFORMED },         /* truncated */
		{ SIZE_MAX, 0, RV_OK },                    /* genuine, then replayed */
	};
	struct h h;
	struct rv_session_stats ss;
	uint8_t *m, copy[RV_MSG_MAX];
	size_t len, i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		h_init(&h, NULL, NULL);
		/* The client's first message (its PING) by hand. */
		assert_int_equal(rv_session_next_message(h.cli, &m, &len), 1);
		memcpy(copy, m, len);
		rv_session_message_sent(h.cli);
		if (cases[i].pos == SIZE_MAX - 1)
			copy[len - 1] ^= 0x01;
		else if (cases[i].pos != SIZE_MAX)
			copy[cases[i].pos] ^= cases[i].err == RV_ERR_ORDER ? 0x01 : 0x80;
		if (cases[i].len != 0)
			len = cases[i].len;
		if (cases[i].err == RV_OK) {
			assert_int_equal(rv_session_on_message(h.srv, copy, len), RV_OK);
			rv_session_get_stats(h.srv, &ss);
			assert_int_equal(ss.msgs_in, 1);
			assert_int_equal(rv_session_on_message(h.srv, copy, len), RV_ERR_REPLAY);
			assert_int_equal(h.srv_err, RV_ERR_REPLAY);
		} else {
			assert_int_equal(rv_session_on_message(h.srv, copy, len), cases[i].err);
			assert_int_equal(h.srv_err, cases[i].err);
		}
		rv_session_get_stats(h.srv, &ss);
		assert_int_equal(ss.msgs_dropped, 1);
		assert_int_equal(rv_session_get_state(h.srv), RV_SESSION_CLOSED);
		assert_int_equal(h.srv_closed, 1);
		/* Dead: nothing more is taken, on_closed does not fire again. */
		assert_int_equal(rv_session_on_message(h.srv, copy, len), RV_ERR_CLOSED);
		assert_int_equal(h.srv_closed, 1);
		/* It says why when it can (Bob seals nothing before the first
		 * genuine message): GOAWAY(PROTOCOL_ERROR) reaches the client. */
		if (cases[i].err == RV_OK)
			assert_true(run(&h, pred_goaway, WAIT_MS));
		h_free(&h);
	}
	/* An empty message and an oversized one end a session too. */
	h_init(&h, NULL, NULL);
	assert_int_equal(rv_session_on_message(h.srv, NULL, 0), RV_ERR_MALFORMED);
	assert_int_equal(h.srv_err, RV_ERR_MALFORMED);
	h_free(&h);
	h_init(&h, NULL, NULL);
	memset(copy, 0, sizeof(copy));
	assert_int_equal(rv_session_on_message(h.cli, copy, RV_MSG_MAX + 1), RV_ERR_MALFORMED);
	assert_int_equal(h.cli_closed, 1);
	h_free(&h);
}

static int pred_victim_closed(struct h *h)
{
	return h->tamper_dir == 0 ? h->srv_closed > 0 : h->cli_closed > 0;
}

static int pred_eps_done(struct h *h)
{
	for (int i = 0; i < h->nep; i++)
		if (!h->ep[i].eof && !h->ep[i].err)
			return 0;
	return 1;
}

/* A relay on the path tampers once with one message while streams carry
 * data both ways.  The receiving session must end at the first bad
 * message with the right reason; every stream on both sides must then end
 * with a reset, and no application may see a byte stream that is not a
 * prefix of what was sent, or a clean end of data after a gap. */
static void test_tampering_relay(void **state)
{
	static const struct {
		enum tamper_kind kind;
		int err;
		const char *name;
	} kinds[] = {
		{ T_DROP, RV_ERR_ORDER, "drop" },     { T_SWAP, RV_ERR_ORDER, "swap" },
		{ T_DUP, RV_ERR_REPLAY, "duplicate" }, { T_REPLAY, RV_ERR_REPLAY, "replay" },
		{ T_FLIP, RV_ERR_AUTH, "flip" },      { T_TRUNC, RV_ERR_AUTH, "truncate" },
	};
	enum { NSTREAMS = 3, SIZE = 1 << 20 };
	uint8_t *up = random_bytes(SIZE), *down = random_bytes(SIZE);
	struct rv_session_stats ss;
	struct rv_addr dst;
	struct ep *app[NSTREAMS];
	unsigned k, dir;
	int i, resets;
	struct h h;

	(void)state;
	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		for (dir = 0; dir < 2; dir++) {
			h_init(&h, NULL, NULL);
			h.tcp = 1;
			dst_domain(&dst);
			for (i = 0; i < NSTREAMS; i++) {
				assert_int_equal(open_stream(&h, &dst, NULL, 0, &app[i], NULL), RV_OK);
				h.resp_calls = 0;
				assert_true(run(&h, pred_response, WAIT_MS));
			}
			/* ep[2i] is app i, ep[2i+1] its target. */
			for (i = 0; i < NSTREAMS; i++) {
				ep_send(&h.ep[2 * i], up, SIZE, 1);
				ep_expect(&h.ep[2 * i], down, SIZE);
				ep_send(&h.ep[2 * i + 1], down, SIZE, 1);
				ep_expect(&h.ep[2 * i + 1], up, SIZE);
			}
			h.tamper_dir = (int)dir;
			h.tamper_at = h.nmsg[dir] + 3;
			h.tamper = kinds[k].kind;
			assert_true(run(&h, pred_victim_closed, WAIT_MS));
			/* The victim: one refused message, the right reason. */
			rv_session_get_stats(dir == 0 ? h.srv : h.cli, &ss);
			assert_int_equal(ss.msgs_dropped, 1);
			assert_int_equal(dir == 0 ? h.srv_err : h.cli_err, kinds[k].err);
			assert_int_equal(rv_session_stream_count(dir == 0 ? h.srv : h.cli), 0);
			/* Its owner closes the WebSocket: the other side's owner
			 * frees its session. */
			if (dir == 0) {
				rv_session_free(h.cli);
				h.cli = NULL;
			} else {
				rv_session_free(h.srv);
				h.srv = NULL;
			}
			assert_true(run(&h, pred_eps_done, WAIT_MS));
			resets = 0;
			for (i = 0; i < h.nep; i++) {
				struct ep *e = &h.ep[i];

				assert_false(e->mismatch);
				/* A clean end only after every byte. */
				if (e->eof && !e->err)
					assert_int_equal(e->got, e->expect_len);
				resets += e->err == ECONNRESET || e->err == EPIPE;
			}
			print_message("  %-9s %s: %s after %llu+%llu messages, %d of %d sockets reset\n",
				      kinds[k].name, dir == 0 ? "c2s" : "s2c",
				      rv_err_str(kinds[k].err), (unsigned long long)h.nmsg[0],
				      (unsigned long long)h.nmsg[1], resets, h.nep);
			/* Far from done when the tampering hit: every socket on
			 * both sides was reset. */
			assert_int_equal(resets, h.nep);
			h_free(&h);
		}
	}
	free(up);
	free(down);
}

static void test_stream_limit(void **state)
{
	struct h h;
	struct rv_session_config cc = { .max_streams = 3 };
	struct rv_session_config sc = { .max_streams = 2 };
	struct ep *app;
	struct rv_addr dst;
	struct rv_session_stats ss;
	int i;

	(void)state;
	h_init(&h, &cc, &sc);
	dst_domain(&dst);
	h.detach_on_fail = 1;
	for (i = 0; i < 3; i++)
		assert_int_equal(open_stream(&h, &dst, NULL, 0, &app, NULL), RV_OK);
	/* The client's own limit. */
	assert_int_equal(open_stream(&h, &dst, NULL, 0, &app, NULL), RV_ERR_LIMIT);
	run(&h, pred_never, 50);
	/* The server's limit: the third is refused, retryable. */
	assert_int_equal(h.srv_connects, 2);
	assert_int_equal(h.resp_calls, 3);
	assert_int_equal(h.last_status, RV_STATUS_GENERAL_FAILURE);
	assert_int_equal(h.resp_retryable, 1);
	rv_session_get_stats(h.srv, &ss);
	assert_int_equal(ss.streams_refused, 1);
	assert_int_equal(rv_session_stream_count(h.cli), 2);
	assert_int_equal(rv_session_stream_count(h.srv), 2);
	h_free(&h);
}

static void test_idle_timeout(void **state)
{
	struct h h;
	struct rv_session_config cc = { .idle_timeout_ms = 80 };
	struct ep *app;
	struct rv_addr dst;

	(void)state;
	h_init(&h, &cc, NULL);
	dst_domain(&dst);
	assert_int_equal(open_stream(&h, &dst, NULL, 0, &app, NULL), RV_OK);
	assert_true(run(&h, pred_response, WAIT_MS));
	assert_true(run(&h, pred_no_streams, 2000));
	assert_int_equal(h.last_cli_reset, RV_RESET_IDLE_TIMEOUT);
	assert_int_equal(h.last_srv_reset, RV_RESET_IDLE_TIMEOUT);
	h_free(&h);
}

static void cb_closed_free(struct rv_session *s, int err, void *arg)
{
	struct h *h = arg;

	cb_closed(s, err, arg);
	/* Freeing from inside a callback is allowed. */
	if (s == h->srv) {
		rv_session_free(s);
		h->srv = NULL;
	}
}

/* Session freed with streams in every state; frees from callbacks. */
static void test_free_with_streams(void **state)
{
	struct h h;
	struct ep *app;
	struct rv_addr dst;
	struct rv_session_callbacks cb = callbacks;

	(void)state;
	h_init(&h, NULL, NULL);
	dst_domain(&dst);
	assert_int_equal(open_stream(&h, &dst, NULL, 0, &app, NULL), RV_OK);
	assert_true(run(&h, pred_response, WAIT_MS));
	h.block_c2s = 1;
	h.resp_calls = 0;
	h.detach_on_fail = 1;
	assert_int_equal(open_stream(&h, &dst, NULL, 0, &app, NULL), RV_OK);
	rv_session_free(h.cli);
	h.cli = NULL;
	/* The connecting stream was offered back, retryable. */
	assert_int_equal(h.resp_calls, 1);
	assert_int_equal(h.resp_retryable, 1);
	assert_true(h.detached_fd >= 0);
	assert_int_equal(h.cli_stream_closed, 2);
	h_free(&h);

	/* Server session freeing itself from on_closed during dispatch. */
	h_init(&h, NULL, NULL);
	cb.on_closed = cb_closed_free;
	cb.arg = &h;
	rv_session_free(h.srv);
	{
		struct rv_ratchet_config rc = { .aead = RV_AEAD_CHACHA20POLY1305 };
		uint8_t sk[RV_KEY_LEN] = { 1 }, ad[RV_HASH_LEN] = { 2 };
		struct rv_keypair bob;
		struct rv_ratchet *b;
		struct rv_session_config sc = { .role = RV_SESSION_SERVER };
		struct rv_frame f;

		assert_int_equal(rv_keypair_generate(&bob), RV_OK);
		assert_int_equal(rv_ratchet_init_bob(&b, &rc, sk, &bob, ad), RV_OK);
		rv_ratchet_free(h.alice_clone);
		assert_int_equal(rv_ratchet_init_alice(&h.alice_clone, &rc, sk, bob.pub, ad), RV_OK);
		assert_int_equal(rv_session_new(h.loop, &sc, b, &cb, &h.srv), RV_OK);
		memset(&f, 0, sizeof(f));
		f.type = RV_FRAME_PROXY_FIN;
		f.stream_id = 7; /* never opened: protocol error -> on_closed */
		inject(&h, &f, 1);
		assert_int_equal(h.srv_closed, 1);
		assert_null(h.srv);
		rv_keypair_wipe(&bob);
	}
	h_free(&h);
}

static void test_api_misuse(void **state)
{
	struct h h;
	struct rv_addr dst;
	uint8_t *m;
	size_t len;
	struct rv_stream *st;

	(void)state;
	h_init(&h, NULL, NULL);
	dst_domain(&dst);
	assert_int_equal(rv_session_stream_open(h.srv, 0, &dst, NULL, 0, NULL, &st), RV_ERR_STATE);
	assert_int_equal(rv_session_stream_open(h.cli, -1, &dst, NULL, 0, NULL, &st),
			 RV_ERR_INVALID_ARG);
	assert_int_equal(rv_session_next_message(NULL, &m, &len), RV_ERR_INVALID_ARG);
	/* The server cannot send before the client's first message. */
	assert_int_equal(rv_session_goaway(h.srv, RV_GOAWAY_SHUTDOWN), RV_OK);
	assert_int_equal(rv_session_next_message(h.srv, &m, &len), 0);
	assert_true(rv_session_send_queue_bytes(h.srv) > 0);
	assert_int_equal(rv_stream_accept(NULL, 3, &dst), RV_ERR_INVALID_ARG);
	assert_int_equal(rv_stream_detach_fd(NULL), -1);
	rv_stream_reset(NULL, RV_RESET_CANCELED);
	rv_session_free(NULL);
	/* GOAWAY with no streams: closed at once. */
	assert_int_equal(rv_session_get_state(h.srv), RV_SESSION_CLOSED);
	assert_int_equal(h.srv_err, RV_ERR_CLOSED);
	assert_int_equal(rv_session_on_message(h.srv, NULL, 0), RV_ERR_CLOSED);
	assert_string_equal(rv_session_state_str(RV_SESSION_GOAWAY), "going-away");
	assert_string_equal(rv_stream_state_str(RV_STREAM_OPEN), "open");
	h_free(&h);
}

/* A client that floods CONNECTs and never reads: the server's answers pile
 * up only to input_stop, where it asks its owner to stop reading the
 * WebSocket; draining to low water asks to read again. */
static void test_input_stop_on_flood(void **state)
{
	enum { HIGH = 4096, LOW = 1024, STOP = 8192, N = 4000, PER_MSG = 100 };
	struct h h;
	struct rv_session_config sc = { .high_water = HIGH, .low_water = LOW, .input_stop = STOP };
	struct rv_frame fr[PER_MSG];
	struct rv_addr dst;
	uint8_t *m;
	size_t len, peak = 0;
	uint32_t id = 1;
	int i, k, rc;

	(void)state;
	h_init(&h, NULL, &sc);
	h.mode = SRV_REJECT;
	h.reject_status = RV_STATUS_CONNECTION_REFUSED;
	dst_domain(&dst);
	for (i = 0; i < N / PER_MSG && h.input_off == 0; i++) {
		for (k = 0; k < PER_MSG; k++) {
			memset(&fr[k], 0, sizeof(fr[k]));
			fr[k].type = RV_FRAME_PROXY_CONNECT;
			fr[k].stream_id = id++;
			fr[k].u.connect.addr = dst;
			fr[k].u.connect.window = RV_STREAM_WINDOW_DEFAULT;
		}
		inject(&h, fr, PER_MSG);
		if (rv_session_send_queue_bytes(h.srv) > peak)
			peak = rv_session_send_queue_bytes(h.srv);
	}
	print_message("flood: %u CONNECTs, queue peak %zu bytes, input stopped %d\n", id - 1, peak,
		      h.input_off);
	assert_int_equal(h.input_off, 1);
	assert_true(rv_session_input_stopped(h.srv));
	/* One message's answers past the mark at most. */
	assert_true(peak <= STOP + PER_MSG * 32);
	assert_int_equal(h.input_on, 0);
	/* The peer reads again: drained below low water, input resumes. */
	for (k = 0; k < 1000 && h.input_on == 0; k++) {
		rc = rv_session_next_message(h.srv, &m, &len);
		assert_true(rc >= 0);
		if (rc == 0)
			break;
		rv_session_message_sent(h.srv);
	}
	assert_int_equal(h.input_on, 1);
	assert_false(rv_session_input_stopped(h.srv));
	assert_true(rv_session_send_queue_bytes(h.srv) <= LOW);
	h_free(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_connect_response),
		cmocka_unit_test(test_input_stop_on_flood),
		cmocka_unit_test(test_data_both_ways),
		cmocka_unit_test(test_half_close_client_first),
		cmocka_unit_test(test_half_close_target_first),
		cmocka_unit_test(test_reset),
		cmocka_unit_test(test_reject),
		cmocka_unit_test(test_deferred_accept_and_cancel),
		cmocka_unit_test(test_optimistic_data),
		cmocka_unit_test(test_optimistic_retryable),
		cmocka_unit_test(test_flow_control),
		cmocka_unit_test(test_flow_control_violation),
		cmocka_unit_test(test_data_before_accept),
		cmocka_unit_test(test_watermarks),
		cmocka_unit_test(test_keepalive),
		cmocka_unit_test(test_goaway),
		cmocka_unit_test(test_forged_and_replayed),
		cmocka_unit_test(test_tampering_relay),
		cmocka_unit_test(test_stream_limit),
		cmocka_unit_test(test_idle_timeout),
		cmocka_unit_test(test_free_with_streams),
		cmocka_unit_test(test_api_misuse),
	};

	if (sodium_init() < 0)
		return 1;
	rv_log_init("test_session", getenv("RV_TEST_DEBUG") != NULL ? RV_LOG_DEBUG : RV_LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
