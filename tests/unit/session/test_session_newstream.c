/* Tests for the syscalls a new stream costs in rv_session: no F_SETFL on a
 * descriptor that is non-blocking already, and one epoll change per side
 * (a local reply the fd takes at once sets no WRITE interest).  fcntl() is
 * interposed here and the poll back end's ops are wrapped to count what
 * the epoll back end would do (ADD/MOD/DEL) for the streams' fds.  A client
 * and a server session paired in memory on one rv_loop_poll; every wait is
 * bounded. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <sodium.h>

#include "rv_addr.h"
#include "rv_err.h"
#include "rv_loop.h"
#include "rv_loop_poll.h"
#include "rv_session.h"
#include "rv_stream.h"
#include "session_harness.h"

enum { WAIT_MS = 5000, TRACK_MAX = 32 };

static int g_setfl;

/* Every fcntl() of this program (the session's included) counts F_SETFL. */
int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	long arg;

	va_start(ap, cmd);
	arg = va_arg(ap, long);
	va_end(ap);
	if (cmd == F_SETFL)
		g_setfl++;
	return (int)syscall(SYS_fcntl, fd, cmd, arg);
}

/* ---- counting loop ops ---------------------------------------------------- */

struct track {
	struct rv_loop_fd *w;
	int fd;
	unsigned ev;
};

static const struct rv_loop_ops *g_real;
static struct rv_loop_ops g_ops;
static struct track g_tr[TRACK_MAX];
static int g_watch[2] = { -1, -1 }; /* client stream fd, server target fd */
static int g_ctl[2];                /* epoll_ctl calls the epoll loop would make */

static int watched(int fd)
{
	return fd < 0 ? -1 : fd == g_watch[0] ? 0 : fd == g_watch[1] ? 1 : -1;
}

static struct track *tr_find(struct rv_loop_fd *w)
{
	for (int i = 0; i < TRACK_MAX; i++)
		if (g_tr[i].w == w)
			return &g_tr[i];
	return NULL;
}

static int c_fd_add(struct rv_loop *loop, int fd, unsigned ev, rv_loop_fd_cb cb, void *arg,
		    struct rv_loop_fd **out)
{
	struct track *t;
	int rc = g_real->fd_add(loop, fd, ev, cb, arg, out);

	if (rc != RV_OK)
		return rc;
	t = tr_find(NULL);
	assert_non_null(t);
	t->w = *out;
	t->fd = fd;
	t->ev = ev & (RV_LOOP_READ | RV_LOOP_WRITE);
	if (t->ev != 0 && watched(fd) >= 0)
		g_ctl[watched(fd)]++;
	return rc;
}

static int c_fd_set_events(struct rv_loop_fd *w, unsigned ev)
{
	struct track *t = tr_find(w);

	ev &= RV_LOOP_READ | RV_LOOP_WRITE;
	if (t != NULL) {
		if (ev != t->ev && watched(t->fd) >= 0)
			g_ctl[watched(t->fd)]++;
		t->ev = ev;
	}
	return g_real->fd_set_events(w, ev);
}

static void c_fd_del(struct rv_loop_fd *w)
{
	struct track *t = tr_find(w);

	if (t != NULL) {
		if (t->ev != 0 && watched(t->fd) >= 0)
			g_ctl[watched(t->fd)]++;
		memset(t, 0, sizeof(*t));
	}
	g_real->fd_del(w);
}

/* ---- harness --------------------------------------------------------------- */

struct h {
	struct rv_loop *loop;
	struct rv_session *cli, *srv;
	int app, tgt;                /* the test's ends */
	int responses, ok;
	const char *reply;           /* client: written from the response */
};

static void cb_connect(struct rv_session *s, struct rv_stream *st, const struct rv_addr *dst,
		       void *arg)
{
	struct h *h = arg;
	int sv[2];

	(void)s;
	(void)dst;
	sh_socketpair(sv, SOCK_NONBLOCK);
	h->tgt = sv[1];
	g_watch[1] = sv[0];
	sh_accept_loopback(st, sv[0], 4242);
}

static void cb_response(struct rv_stream *st, enum rv_status status, const struct rv_addr *bound,
			void *arg)
{
	struct h *h = arg;

	(void)bound;
	h->responses++;
	if (status != RV_STATUS_OK)
		return;
	h->ok++;
	if (h->reply != NULL)
		assert_int_equal(rv_stream_write_local(st, h->reply, strlen(h->reply)), RV_OK);
}

static const struct rv_session_callbacks callbacks = {
	.on_stream_connect = cb_connect,
	.on_stream_response = cb_response,
};

static void h_init(struct h *h)
{
	struct rv_session_callbacks cb = callbacks;

	memset(h, 0, sizeof(*h));
	h->app = h->tgt = -1;
	memset(g_tr, 0, sizeof(g_tr));
	g_watch[0] = g_watch[1] = -1;
	g_ctl[0] = g_ctl[1] = 0;
	assert_int_equal(rv_loop_poll_new(&h->loop), RV_OK);
	g_real = h->loop->ops;
	g_ops = *g_real;
	g_ops.fd_add = c_fd_add;
	g_ops.fd_set_events = c_fd_set_events;
	g_ops.fd_del = c_fd_del;
	h->loop->ops = &g_ops;
	cb.arg = h;
	assert_int_equal(sh_pair_new(h->loop, NULL, NULL, &cb, NULL, &h->cli, &h->srv), RV_OK);
}

static void h_free(struct h *h)
{
	rv_session_free(h->cli);
	rv_session_free(h->srv);
	if (h->app >= 0)
		close(h->app);
	if (h->tgt >= 0)
		close(h->tgt);
	h->loop->ops = g_real;
	rv_loop_poll_free(h->loop);
}

/* Read exactly want bytes from fd into out, running the loop meanwhile. */
static void run_read(struct h *h, int fd, char *out, size_t want)
{
	sh_read_exact(h->loop, h->cli, h->srv, fd, out, want, WAIT_MS);
}

static void open_one(struct h *h, int sock_flags, struct rv_stream **st)
{
	struct rv_addr dst;
	int sv[2];

	assert_int_equal(rv_addr_set_domain(&dst, "example.test", 12, 443), RV_OK);
	sh_socketpair(sv, sock_flags);
	/* The test's end never blocks (not through fcntl: not counted). */
	assert_int_equal(syscall(SYS_fcntl, sv[1], F_SETFL, O_NONBLOCK | O_RDWR), 0);
	h->app = sv[1];
	g_watch[0] = sv[0];
	assert_int_equal(rv_session_stream_open(h->cli, sv[0], &dst, NULL, 0, h, st), RV_OK);
}

/* A SOCKS-like stream: non-blocking fds on both sides get no F_SETFL, each
 * side's fd is registered once (READ), the reply written at the response
 * adds no WRITE interest, and data still flows both ways. */
static void test_new_stream_syscalls(void **state)
{
	static const char reply[] = "REPLY", up[] = "hello", down[] = "world";
	struct rv_stream *st;
	char buf[16];
	struct h h;

	(void)state;
	h_init(&h);
	h.reply = reply;
	g_setfl = 0;
	open_one(&h, SOCK_NONBLOCK, &st);
	run_read(&h, h.app, buf, strlen(reply));
	assert_memory_equal(buf, reply, strlen(reply));
	assert_int_equal(h.ok, 1);
	print_message("F_SETFL %d, epoll changes: client %d, server %d\n", g_setfl, g_ctl[0],
		      g_ctl[1]);
	assert_int_equal(g_setfl, 0);
	assert_int_equal(g_ctl[0], 1);
	assert_int_equal(g_ctl[1], 1);
	/* Still relaying, with no further interest changes. */
	assert_int_equal(write(h.app, up, strlen(up)), (ssize_t)strlen(up));
	run_read(&h, h.tgt, buf, strlen(up));
	assert_memory_equal(buf, up, strlen(up));
	assert_int_equal(write(h.tgt, down, strlen(down)), (ssize_t)strlen(down));
	run_read(&h, h.app, buf, strlen(down));
	assert_memory_equal(buf, down, strlen(down));
	assert_int_equal(g_ctl[0], 1);
	assert_int_equal(g_ctl[1], 1);
	h_free(&h);
}

/* A blocking descriptor is still made non-blocking (one F_SETFL). */
static void test_blocking_fd_made_nonblocking(void **state)
{
	struct rv_stream *st;
	char buf[8];
	struct h h;

	(void)state;
	h_init(&h);
	h.reply = "ok";
	g_setfl = 0;
	open_one(&h, 0, &st);
	assert_int_equal(g_setfl, 1);
	assert_true((fcntl(g_watch[0], F_GETFL) & O_NONBLOCK) != 0);
	run_read(&h, h.app, buf, 2);
	assert_memory_equal(buf, "ok", 2);
	h_free(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_stream_syscalls),
		cmocka_unit_test(test_blocking_fd_made_nonblocking),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
