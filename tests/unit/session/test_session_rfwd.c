/* Tests for remote forwards in rv_session (PROTOCOL.md "Remote forwards"):
 * LISTEN frames pass to the owner, server-opened streams in their own id
 * space relay both ways next to client streams, limits on both sides,
 * GOAWAY, and refusal of every frame 12..15 on a session that did not
 * agree the feature.  A client and a server session paired in memory on
 * one rv_loop_poll; every wait is bounded. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>
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

enum { WAIT_MS = 5000, MAXS = 8 };

struct h {
	struct rv_loop *loop;
	struct rv_session *cli, *srv;
	int cli_closed, srv_closed, cli_err, srv_err;
	int app[MAXS], napp;        /* test ends of fds handed to the sessions */
	int tgt[MAXS], ntgt;        /* test ends of fds the connect callbacks made */
	int responses, ok, failed, retryable;
	uint32_t remote_req;        /* req of the last REMOTE_CONNECT */
	uint32_t remote_id;
	int listens, listen_responses, listen_closes;
	struct rv_frame last_listen;
	int reject;                 /* client: reject REMOTE_CONNECTs */
};

static int fd_pair(struct h *h, int *mine)
{
	int sv[2];

	sh_socketpair(sv, SOCK_NONBLOCK);
	*mine = sv[1];
	(void)h;
	return sv[0];
}

static void accept_with_fd(struct h *h, struct rv_stream *st)
{
	int fd;

	assert_true(h->ntgt < MAXS);
	fd = fd_pair(h, &h->tgt[h->ntgt++]);
	sh_accept_loopback(st, fd, 4242);
}

static void cb_connect(struct rv_session *s, struct rv_stream *st, const struct rv_addr *dst,
		       void *arg)
{
	(void)s;
	(void)dst;
	accept_with_fd(arg, st);
}

static void cb_remote_connect(struct rv_session *s, struct rv_stream *st, uint32_t req,
			      const struct rv_addr *addr, void *arg)
{
	struct h *h = arg;

	(void)s;
	(void)addr;
	h->remote_req = req;
	h->remote_id = rv_stream_id(st);
	if (h->reject)
		assert_int_equal(rv_stream_reject(st, RV_STATUS_NOT_ALLOWED), RV_OK);
	else
		accept_with_fd(h, st);
}

static void cb_response(struct rv_stream *st, enum rv_status status, const struct rv_addr *bound,
			void *arg)
{
	struct h *h = arg;

	(void)bound;
	h->responses++;
	if (status == RV_STATUS_OK) {
		h->ok++;
		return;
	}
	h->failed++;
	h->retryable += rv_stream_retryable(st);
}

static void cb_listen(struct rv_session *s, const struct rv_frame *f, void *arg)
{
	struct h *h = arg;
	struct rv_frame r;

	h->last_listen = *f;
	switch (f->type) {
	case RV_FRAME_LISTEN:
		h->listens++;
		memset(&r, 0, sizeof(r));
		r.type = RV_FRAME_LISTEN_RESPONSE;
		r.u.listen_response.req = f->u.listen.req;
		r.u.listen_response.status = RV_LISTEN_OK;
		r.u.listen_response.port = 8000;
		assert_int_equal(rv_session_send_listen(s, &r), RV_OK);
		break;
	case RV_FRAME_LISTEN_RESPONSE:
		h->listen_responses++;
		break;
	case RV_FRAME_LISTEN_CLOSE:
		h->listen_closes++;
		break;
	default:
		fail();
	}
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

static void h_init(struct h *h, int cli_fwd, int srv_fwd, uint32_t cli_max_remote,
		   uint32_t srv_max_remote)
{
	struct rv_session_callbacks cb = {
		.on_stream_connect = cb_connect,
		.on_stream_response = cb_response,
		.on_remote_connect = cb_remote_connect,
		.on_listen = cb_listen,
		.on_closed = cb_closed,
	};
	struct rv_session_config cc = { .role = RV_SESSION_CLIENT, .remote_fwd = cli_fwd,
					.max_remote_streams = cli_max_remote, .max_streams = 2 };
	struct rv_session_config sc = { .role = RV_SESSION_SERVER, .remote_fwd = srv_fwd,
					.max_remote_streams = srv_max_remote, .max_streams = 2 };

	memset(h, 0, sizeof(*h));
	assert_int_equal(rv_loop_poll_new(&h->loop), RV_OK);
	cb.arg = h;
	assert_int_equal(sh_pair_new(h->loop, &cc, &sc, &cb, NULL, &h->cli, &h->srv), RV_OK);
}

static void h_free(struct h *h)
{
	rv_session_free(h->cli);
	rv_session_free(h->srv);
	for (int i = 0; i < h->napp; i++)
		close(h->app[i]);
	for (int i = 0; i < h->ntgt; i++)
		close(h->tgt[i]);
	rv_loop_poll_free(h->loop);
}

static void pump(struct h *h, int rounds)
{
	for (int i = 0; i < rounds; i++)
		sh_round(h->loop, h->cli, h->srv, 1);
}

static int open_remote(struct h *h, struct rv_stream **st)
{
	struct rv_addr peer;
	const uint8_t ip[4] = { 127, 0, 0, 9 };
	int fd, mine, rc;

	rv_addr_set_ipv4(&peer, ip, 5555);
	fd = fd_pair(h, &mine);
	rc = rv_session_stream_open_remote(h->srv, fd, 3, &peer, NULL, 0, h, st);
	if (rc != RV_OK) {
		close(fd);
		close(mine);
		return rc;
	}
	h->app[h->napp++] = mine;
	return rc;
}

static int open_client(struct h *h, struct rv_stream **st)
{
	struct rv_addr dst;
	int fd, mine, rc;

	assert_int_equal(rv_addr_set_domain(&dst, "example.test", 12, 443), RV_OK);
	fd = fd_pair(h, &mine);
	rc = rv_session_stream_open(h->cli, fd, &dst, NULL, 0, h, st);
	if (rc != RV_OK) {
		close(fd);
		close(mine);
		return rc;
	}
	h->app[h->napp++] = mine;
	return rc;
}

/* LISTEN reaches the server owner, its answer the client owner; both
 * directions of LISTEN_CLOSE work. */
static void test_listen_frames(void **state)
{
	struct rv_frame f;
	struct h h;

	(void)state;
	h_init(&h, 1, 1, 0, 0);
	memset(&f, 0, sizeof(f));
	f.type = RV_FRAME_LISTEN;
	f.u.listen.req = 1;
	f.u.listen.kind = RV_LISTEN_KIND_SOCKS;
	rv_addr_set_ipv4(&f.u.listen.bind, (const uint8_t[4]){ 127, 0, 0, 1 }, 0);
	assert_int_equal(rv_session_send_listen(h.cli, &f), RV_OK);
	/* Wrong direction: refused locally. */
	assert_int_equal(rv_session_send_listen(h.srv, &f), RV_ERR_STATE);
	pump(&h, 3);
	assert_int_equal(h.listens, 1);
	assert_int_equal(h.listen_responses, 1);
	assert_int_equal(h.last_listen.u.listen_response.port, 8000);
	memset(&f, 0, sizeof(f));
	f.type = RV_FRAME_LISTEN_CLOSE;
	f.u.listen_close.req = 1;
	f.u.listen_close.reason = RV_LISTEN_CLOSE_ERROR;
	assert_int_equal(rv_session_send_listen(h.srv, &f), RV_OK);
	pump(&h, 3);
	assert_int_equal(h.listen_closes, 1);
	assert_int_equal(h.cli_closed + h.srv_closed, 0);
	h_free(&h);
}

/* A LISTEN req that does not grow is a protocol error. */
static void test_listen_req_reuse(void **state)
{
	struct rv_frame f;
	struct h h;

	(void)state;
	h_init(&h, 1, 1, 0, 0);
	memset(&f, 0, sizeof(f));
	f.type = RV_FRAME_LISTEN;
	f.u.listen.req = 5;
	f.u.listen.kind = RV_LISTEN_KIND_FORWARD;
	rv_addr_set_ipv4(&f.u.listen.bind, (const uint8_t[4]){ 127, 0, 0, 1 }, 80);
	assert_int_equal(rv_session_send_listen(h.cli, &f), RV_OK);
	pump(&h, 2);
	assert_int_equal(h.srv_closed, 0);
	assert_int_equal(rv_session_send_listen(h.cli, &f), RV_OK);
	pump(&h, 2);
	assert_int_equal(h.srv_closed, 1);
	assert_int_equal(h.srv_err, RV_ERR_MALFORMED);
	h_free(&h);
}

/* A server stream and a client stream opened at the same time (their
 * frames cross): separate id spaces, data both ways on both. */
static void test_crossing_streams(void **state)
{
	struct rv_stream *rs, *cs;
	char buf[16];
	struct h h;

	(void)state;
	h_init(&h, 1, 1, 0, 0);
	assert_int_equal(open_remote(&h, &rs), RV_OK);
	assert_int_equal(open_client(&h, &cs), RV_OK);
	assert_int_equal(rv_stream_id(rs), RV_STREAM_ID_SERVER | 1u);
	assert_int_equal(rv_stream_id(cs), 1);
	pump(&h, 4);
	assert_int_equal(h.ok, 2);
	assert_int_equal(h.remote_req, 3);
	assert_int_equal(h.remote_id, RV_STREAM_ID_SERVER | 1u);
	assert_int_equal(rv_session_remote_stream_count(h.srv), 1);
	assert_int_equal(rv_session_remote_stream_count(h.cli), 1);
	/* app[0]: server's accepted socket; tgt[]: in callback order. */
	assert_int_equal(write(h.app[0], "up", 2), 2);
	for (int i = 0; i < h.ntgt; i++) {
		ssize_t n;

		pump(&h, 3);
		n = read(h.tgt[i], buf, sizeof(buf));
		if (n == 2) {
			assert_memory_equal(buf, "up", 2);
			assert_int_equal(write(h.tgt[i], "down", 4), 4);
			sh_read_exact(h.loop, h.cli, h.srv, h.app[0], buf, 4, WAIT_MS);
			assert_memory_equal(buf, "down", 4);
			break;
		}
		assert_true(i + 1 < h.ntgt);
	}
	/* EOF from the server's side reaches the client's target. */
	shutdown(h.app[0], SHUT_WR);
	pump(&h, 4);
	assert_int_equal(rv_stream_get_istate(rs), RV_STREAM_DIR_CLOSED);
	h_free(&h);
}

/* Bounds: the server opens at most its max_remote_streams; the client
 * refuses past its own (retryable, REFUSED_STREAM); client streams do not
 * count against the server-stream bound nor the reverse. */
static void test_limits(void **state)
{
	struct rv_stream *st;
	struct h h;

	(void)state;
	h_init(&h, 1, 1, 2, 3);
	assert_int_equal(open_remote(&h, &st), RV_OK);
	assert_int_equal(open_remote(&h, &st), RV_OK);
	assert_int_equal(open_remote(&h, &st), RV_OK);
	assert_int_equal(open_remote(&h, &st), RV_ERR_LIMIT);
	assert_int_equal(open_client(&h, &st), RV_OK);
	assert_int_equal(open_client(&h, &st), RV_OK);
	assert_int_equal(open_client(&h, &st), RV_ERR_LIMIT); /* max_streams 2 */
	pump(&h, 4);
	assert_int_equal(h.ok, 4);
	assert_int_equal(h.failed, 1);
	assert_int_equal(h.retryable, 1);
	assert_int_equal(rv_session_remote_stream_count(h.srv), 2);
	assert_int_equal(h.cli_closed + h.srv_closed, 0);
	h_free(&h);
}

/* The client's rejection reaches the server owner; a GOAWAY from the client
 * fails server streams it never saw and stops new ones. */
static void test_reject_and_goaway(void **state)
{
	struct rv_stream *st;
	struct h h;

	(void)state;
	h_init(&h, 1, 1, 0, 0);
	h.reject = 1;
	assert_int_equal(open_remote(&h, &st), RV_OK);
	pump(&h, 3);
	assert_int_equal(h.failed, 1);
	assert_int_equal(h.retryable, 0);
	assert_int_equal(open_remote(&h, &st), RV_OK);
	assert_int_equal(rv_session_goaway(h.cli, RV_GOAWAY_SHUTDOWN), RV_OK);
	/* The GOAWAY (last_stream: server stream 1) crosses the second. */
	pump(&h, 4);
	assert_int_equal(h.failed, 2);
	assert_int_equal(h.retryable, 1);
	assert_int_equal(open_remote(&h, &st), RV_ERR_CLOSED);
	h_free(&h);
}

/* Not agreed: the API refuses, and each frame from a peer that sends it
 * anyway is a protocol error. */
static void test_not_agreed(void **state)
{
	struct rv_stream *st;
	struct rv_frame f;
	struct h h;

	(void)state;
	h_init(&h, 0, 0, 0, 0);
	assert_int_equal(open_remote(&h, &st), RV_ERR_UNSUPPORTED);
	memset(&f, 0, sizeof(f));
	f.type = RV_FRAME_LISTEN;
	f.u.listen.req = 1;
	f.u.listen.kind = RV_LISTEN_KIND_FORWARD;
	rv_addr_set_ipv4(&f.u.listen.bind, (const uint8_t[4]){ 127, 0, 0, 1 }, 80);
	assert_int_equal(rv_session_send_listen(h.cli, &f), RV_ERR_UNSUPPORTED);
	h_free(&h);

	/* Server agreed, client did not: a REMOTE_CONNECT kills the client. */
	h_init(&h, 0, 1, 0, 0);
	pump(&h, 1);
	assert_int_equal(open_remote(&h, &st), RV_OK);
	pump(&h, 2);
	assert_int_equal(h.cli_closed, 1);
	assert_int_equal(h.cli_err, RV_ERR_MALFORMED);
	h_free(&h);

	/* Client agreed, server did not: a LISTEN kills the server. */
	h_init(&h, 1, 0, 0, 0);
	assert_int_equal(rv_session_send_listen(h.cli, &f), RV_OK);
	pump(&h, 2);
	assert_int_equal(h.srv_closed, 1);
	assert_int_equal(h.srv_err, RV_ERR_MALFORMED);
	h_free(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_listen_frames),
		cmocka_unit_test(test_listen_req_reuse),
		cmocka_unit_test(test_crossing_streams),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_reject_and_goaway),
		cmocka_unit_test(test_not_agreed),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
