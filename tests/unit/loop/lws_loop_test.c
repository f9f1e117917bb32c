/* Tests for lws_loop.c (rv_loop over libwebsockets): readiness, level-
 * triggered WRITE across many WRITEABLE callbacks, READ flow control,
 * timers, deletion inside callbacks, and that the caller's fd is never
 * closed.  Built only with the programs (needs lws): see CMakeLists.txt. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lws_loop.h"
#include "rv_err.h"
#include "rv_loop.h"

/* Every epoll_ctl() of this program (the loop's and lws's) is counted. */
static int g_epoll_ctl;

int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	g_epoll_ctl++;
	return (int)syscall(SYS_epoll_ctl, epfd, op, fd, ev);
}

/* lws's own socket in these tests: a raw socket adopted from a pair. */
struct rawc {
	int rx_calls, wr_calls, closed;
	size_t got, sent, total;
	uint8_t last_rx;
};

static struct rawc g_raw;

static uint8_t raw_byte(size_t i)
{
	return (uint8_t)(i * 131u + (i >> 11));
}

static int raw_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		  size_t len)
{
	static uint8_t buf[LWS_PRE + 16384];
	struct rawc *c = &g_raw;
	size_t i, n;

	(void)user;
	switch (reason) {
	case LWS_CALLBACK_RAW_RX:
		c->rx_calls++;
		c->got += len;
		if (len > 0)
			c->last_rx = ((const uint8_t *)in)[len - 1];
		if (c->sent < c->total)
			lws_callback_on_writable(wsi);
		return 0;
	case LWS_CALLBACK_RAW_WRITEABLE:
		c->wr_calls++;
		n = c->total - c->sent;
		if (n > 16384)
			n = 16384;
		for (i = 0; i < n; i++)
			buf[LWS_PRE + i] = raw_byte(c->sent + i);
		if (n > 0 && lws_write(wsi, buf + LWS_PRE, n, LWS_WRITE_RAW) != (int)n)
			return -1;
		c->sent += n;
		if (c->sent < c->total)
			lws_callback_on_writable(wsi);
		return 0;
	case LWS_CALLBACK_RAW_CLOSE:
		c->closed = 1;
		return 0;
	default:
		return 0;
	}
}

static const struct lws_protocols protocols[] = {
	RV_LWS_LOOP_PROTOCOL, /* [0]: lws reports its sockets there */
	{ "raw-test", raw_cb, 0, 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

struct env {
	struct lws_context *ctx;
	struct lws_vhost *vh;
	struct rv_loop *loop;
};

static void env_init(struct env *e)
{
	struct lws_context_creation_info info;

	memset(e, 0, sizeof(*e));
	lws_set_log_level(LLL_ERR, NULL);
	assert_int_equal(rv_lws_loop_new(&e->loop), RV_OK);
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	e->ctx = lws_create_context(&info);
	assert_non_null(e->ctx);
	e->vh = lws_get_vhost_by_name(e->ctx, "default");
	assert_non_null(e->vh);
	assert_int_equal(rv_lws_loop_attach(e->loop, e->ctx), RV_OK);
}

static void env_free(struct env *e)
{
	rv_lws_loop_free(e->loop);
	lws_context_destroy(e->ctx);
}

/* Service until pred or max_ms: bounded in time and count. */
static int service_until(struct env *e, int (*pred)(void *), void *arg, uint32_t max_ms)
{
	uint64_t start = rv_loop_now_ms(e->loop);
	int i;

	for (i = 0; i < 100000; i++) {
		if (pred(arg))
			return 1;
		if (rv_loop_now_ms(e->loop) - start > max_ms)
			break;
		assert_int_equal(rv_lws_loop_service(e->loop, 5), RV_OK);
	}
	return pred(arg);
}

static int pred_false(void *arg)
{
	(void)arg;
	return 0;
}

struct rw {
	int calls_r, calls_w, deleted;
	size_t sent, total, got;
	struct rv_loop_fd *self;
	struct rv_loop_fd *del_other;
	int del_self_after_write;
};

static void rw_cb(struct rv_loop_fd *w, int fd, unsigned ev, void *arg)
{
	struct rw *c = arg;
	static uint8_t buf[65536];
	ssize_t n;

	(void)w;
	if (ev & RV_LOOP_READ) {
		c->calls_r++;
		n = read(fd, buf, sizeof(buf));
		if (n > 0)
			c->got += (size_t)n;
	}
	if (ev & RV_LOOP_WRITE) {
		c->calls_w++;
		if (c->sent < c->total) {
			size_t want = c->total - c->sent;

			n = send(fd, buf, want > 4096 ? 4096 : want, MSG_NOSIGNAL);
			if (n > 0)
				c->sent += (size_t)n;
		}
		if (c->sent == c->total)
			rv_loop_fd_set_events(c->self, 0);
		if (c->del_self_after_write) {
			rv_loop_fd_del(c->self);
			c->self = NULL;
			c->deleted = 1;
			return;
		}
	}
	if (c->del_other != NULL) {
		rv_loop_fd_del(c->del_other);
		c->del_other = NULL;
	}
}

static struct rw *g_w, *g_r;

static int pred_all_moved(void *arg)
{
	(void)arg;
	return g_w->sent == g_w->total && g_r->got == g_w->total;
}

/* 1 MiB in 4 KiB writes: needs ~256 WRITEABLE callbacks, i.e. the re-arm. */
static void test_write_level_and_read(void **state)
{
	struct env e;
	struct rw w = { .total = 1 << 20 }, r = { 0 };
	int sv[2];

	(void)state;
	env_init(&e);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	assert_int_equal(rv_loop_fd_add(e.loop, sv[0], RV_LOOP_WRITE, rw_cb, &w, &w.self), RV_OK);
	assert_int_equal(rv_loop_fd_add(e.loop, sv[1], RV_LOOP_READ, rw_cb, &r, &r.self), RV_OK);
	g_w = &w;
	g_r = &r;
	assert_true(service_until(&e, pred_all_moved, NULL, 10000));
	assert_true(w.calls_w >= 256);
	/* READ off: data waits in the socket, no callbacks. */
	rv_loop_fd_set_events(r.self, 0);
	assert_int_equal(write(sv[0], "abc", 3), 3);
	r.calls_r = 0;
	service_until(&e, pred_false, NULL, 50);
	assert_int_equal(r.calls_r, 0);
	rv_loop_fd_set_events(r.self, RV_LOOP_READ);
	w.total += 3; /* expect 3 more */
	w.sent = w.total;
	assert_true(service_until(&e, pred_all_moved, NULL, 5000));
	/* Delete both: the fds stay open and usable. */
	rv_loop_fd_del(w.self);
	rv_loop_fd_del(r.self);
	service_until(&e, pred_false, NULL, 30);
	assert_true(fcntl(sv[0], F_GETFD) >= 0);
	assert_true(fcntl(sv[1], F_GETFD) >= 0);
	assert_int_equal(write(sv[0], "x", 1), 1);
	{
		char c;

		assert_int_equal(read(sv[1], &c, 1), 1);
		assert_int_equal(c, 'x');
	}
	env_free(&e);
	close(sv[0]);
	close(sv[1]);
}

static int pred_deleted(void *arg)
{
	return ((struct rw *)arg)->deleted;
}

static void test_delete_in_callback(void **state)
{
	struct env e;
	struct rw a = { .total = 10, .del_self_after_write = 1 }, b = { 0 };
	int sa[2], sb[2];

	(void)state;
	env_init(&e);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sa), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sb), 0);
	assert_int_equal(rv_loop_fd_add(e.loop, sa[0], RV_LOOP_WRITE, rw_cb, &a, &a.self), RV_OK);
	assert_int_equal(rv_loop_fd_add(e.loop, sb[0], RV_LOOP_READ, rw_cb, &b, &b.self), RV_OK);
	assert_true(service_until(&e, pred_deleted, &a, 5000));
	/* b deletes itself via del_other from a READ callback. */
	b.del_other = b.self;
	assert_int_equal(write(sb[1], "y", 1), 1);
	service_until(&e, pred_false, NULL, 50);
	assert_int_equal(b.calls_r, 1);
	assert_int_equal(write(sb[1], "z", 1), 1);
	service_until(&e, pred_false, NULL, 50);
	assert_int_equal(b.calls_r, 1); /* gone */
	assert_true(fcntl(sa[0], F_GETFD) >= 0 && fcntl(sb[0], F_GETFD) >= 0);
	env_free(&e);
	close(sa[0]);
	close(sa[1]);
	close(sb[0]);
	close(sb[1]);
}

/* Peer gone while we were not reading: the watcher reports once interest
 * returns. */
static void test_hangup_report(void **state)
{
	struct env e;
	struct rw r = { 0 };
	int sv[2];

	(void)state;
	env_init(&e);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	assert_int_equal(rv_loop_fd_add(e.loop, sv[0], 0, rw_cb, &r, &r.self), RV_OK);
	close(sv[1]);
	service_until(&e, pred_false, NULL, 50);
	assert_int_equal(r.calls_r, 0);
	rv_loop_fd_set_events(r.self, RV_LOOP_READ);
	service_until(&e, pred_false, NULL, 50);
	assert_true(r.calls_r >= 1); /* the read saw EOF */
	rv_loop_fd_del(r.self);
	assert_true(fcntl(sv[0], F_GETFD) >= 0);
	env_free(&e);
	close(sv[0]);
}

static struct rw *g_drain;

static int pred_drained(void *arg)
{
	return g_drain->got == *(size_t *)arg;
}

/* The peer wrote more than one read takes, then hung up while we were not
 * reading: every byte must still come out (a credit-limited relay drains
 * such a socket over several callbacks). */
static void test_hangup_drains_pending_data(void **state)
{
	static uint8_t data[150 * 1024];
	size_t want = sizeof(data);
	struct env e;
	struct rw r = { 0 };
	int sv[2];

	(void)state;
	env_init(&e);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	assert_int_equal(rv_loop_fd_add(e.loop, sv[0], 0, rw_cb, &r, &r.self), RV_OK);
	assert_int_equal(write(sv[1], data, sizeof(data)), (ssize_t)sizeof(data));
	close(sv[1]);
	service_until(&e, pred_false, NULL, 50);
	assert_int_equal(r.calls_r, 0);
	rv_loop_fd_set_events(r.self, RV_LOOP_READ);
	g_drain = &r;
	assert_true(service_until(&e, pred_drained, &want, 2000));
	assert_true(r.calls_r >= 3); /* 64 KiB per read */
	rv_loop_fd_del(r.self);
	env_free(&e);
	close(sv[0]);
}

struct tc {
	int calls;
	uint64_t at;
	struct rv_loop *loop;
	struct rv_loop_timer *other;
	int free_self;
};

static void t_cb(struct rv_loop_timer *t, void *arg)
{
	struct tc *c = arg;

	c->calls++;
	c->at = rv_loop_now_ms(c->loop);
	if (c->other != NULL) {
		rv_loop_timer_free(c->other);
		c->other = NULL;
	}
	if (c->free_self)
		rv_loop_timer_free(t);
}

static int pred_fired(void *arg)
{
	return ((struct tc *)arg)->calls > 0;
}

static void test_timers(void **state)
{
	struct env e;
	struct rv_loop_timer *t1, *t2;
	struct tc c1 = { 0 }, c2 = { 0 };
	uint64_t start;

	(void)state;
	env_init(&e);
	c1.loop = c2.loop = e.loop;
	assert_int_equal(rv_loop_timer_new(e.loop, t_cb, &c1, &t1), RV_OK);
	assert_int_equal(rv_loop_timer_new(e.loop, t_cb, &c2, &t2), RV_OK);
	start = rv_loop_now_ms(e.loop);
	rv_loop_timer_set(t1, 40);
	assert_true(service_until(&e, pred_fired, &c1, 5000));
	assert_true(c1.at - start >= 39);
	/* Stop cancels; re-set re-arms. */
	rv_loop_timer_set(t2, 10);
	rv_loop_timer_stop(t2);
	service_until(&e, pred_false, NULL, 40);
	assert_int_equal(c2.calls, 0);
	/* t1 frees t2 (armed) and itself from its callback. */
	rv_loop_timer_set(t2, 20);
	c1.calls = 0;
	c1.other = t2;
	c1.free_self = 1;
	rv_loop_timer_set(t1, 0);
	assert_true(service_until(&e, pred_fired, &c1, 5000));
	service_until(&e, pred_false, NULL, 60);
	assert_int_equal(c2.calls, 0);
	env_free(&e);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

/* A watcher costs no descriptor (nothing is dup()ed for lws), and many of
 * them all report. */
static void test_watchers_cost_no_descriptor(void **state)
{
	enum { N = 200 };
	static struct rw r[N];
	static int sv[N][2];
	struct env e;
	int i, before, reported;

	(void)state;
	env_init(&e);
	for (i = 0; i < N; i++)
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv[i]), 0);
	before = count_fds();
	for (i = 0; i < N; i++) {
		memset(&r[i], 0, sizeof(r[i]));
		assert_int_equal(rv_loop_fd_add(e.loop, sv[i][0], RV_LOOP_READ, rw_cb, &r[i],
						&r[i].self), RV_OK);
	}
	assert_int_equal(count_fds(), before);
	for (i = 0; i < N; i++)
		assert_int_equal(write(sv[i][1], "q", 1), 1);
	service_until(&e, pred_false, NULL, 100);
	for (i = 0, reported = 0; i < N; i++)
		reported += r[i].got == 1;
	assert_int_equal(reported, N);
	for (i = 0; i < N; i++) {
		rv_loop_fd_del(r[i].self);
		close(sv[i][0]);
		close(sv[i][1]);
	}
	env_free(&e);
}

struct raw_peer {
	int fd;
	size_t got;
	int bad;
};

static int pred_raw_peer_got_all(void *arg)
{
	struct raw_peer *p = arg;
	uint8_t b[65536];
	ssize_t n;
	int k;

	for (k = 0; k < 64; k++) {
		n = read(p->fd, b, sizeof(b));
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i++)
			if (b[i] != raw_byte(p->got + (size_t)i))
				p->bad = 1;
		p->got += (size_t)n;
	}
	return p->got == g_raw.total;
}

static int pred_raw_closed(void *arg)
{
	(void)arg;
	return g_raw.closed;
}

static int pred_raw_rx(void *arg)
{
	return g_raw.rx_calls >= *(int *)arg;
}

/* lws's own socket goes through the loop's epoll set (external poll): its
 * input is delivered, its WRITEABLE requests are met (without waiting for
 * epoll while the socket takes data, through a real EPOLLOUT once it is
 * full: 4 MiB through a socket pair that buffers far less), and its close
 * leaves nothing behind. */
static void test_lws_socket_through_loop(void **state)
{
	struct env e;
	struct raw_peer peer = { 0 };
	struct lws *wsi;
	int sv[2], want_rx = 1;
	int sndbuf = 32768;

	(void)state;
	env_init(&e);
	memset(&g_raw, 0, sizeof(g_raw));
	g_raw.total = 4u << 20;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
	peer.fd = sv[1];
	wsi = lws_adopt_descriptor_vhost(e.vh, LWS_ADOPT_SOCKET, (lws_sock_file_fd_type)sv[0],
					 "raw-test", NULL);
	assert_non_null(wsi);
	assert_int_equal(write(sv[1], "go", 2), 2);
	assert_true(service_until(&e, pred_raw_rx, &want_rx, 5000));
	assert_true(service_until(&e, pred_raw_peer_got_all, &peer, 20000));
	assert_int_equal(peer.bad, 0);
	assert_int_equal(g_raw.sent, g_raw.total);
	assert_true(g_raw.wr_calls >= 256);
	/* Input still flows while lws writes. */
	assert_int_equal(write(sv[1], "xyz", 3), 3);
	want_rx = g_raw.rx_calls + 1;
	assert_true(service_until(&e, pred_raw_rx, &want_rx, 5000));
	assert_int_equal(g_raw.last_rx, 'z');
	/* The peer goes: lws closes its wsi and the loop forgets the fd. */
	close(sv[1]);
	assert_true(service_until(&e, pred_raw_closed, NULL, 5000));
	env_free(&e);
}

/* rv_lws_loop_wake() ends a wait at once; a due timer ends a pass, and
 * the passes before it wait instead of spinning; an idle loop sleeps; one
 * loop per process. */
static void test_wake_and_single_loop(void **state)
{
	struct env e;
	struct rv_loop *second = NULL;
	uint64_t t0;
	int passes;

	(void)state;
	env_init(&e);
	assert_int_equal(rv_lws_loop_new(&second), RV_ERR_STATE);
	assert_null(second);
	rv_lws_loop_wake(e.loop);
	t0 = rv_loop_now_ms(e.loop);
	assert_int_equal(rv_lws_loop_service(e.loop, 3000), RV_OK);
	assert_true(rv_loop_now_ms(e.loop) - t0 < 1000);
	/* A timer ends the pass it is due in: its callback has run when the
	 * pass returns (so the caller sees what it changed). */
	{
		struct rv_loop_timer *t;
		struct tc c = { 0 };

		c.loop = e.loop;
		int k, total = 0;

		assert_int_equal(rv_loop_timer_new(e.loop, t_cb, &c, &t), RV_OK);
		/* Eight timers, so that some fall due between whole ms. */
		for (k = 0; k < 8; k++) {
			c.calls = 0;
			rv_loop_timer_set(t, 11 + (uint64_t)k);
			t0 = rv_loop_now_ms(e.loop);
			for (passes = 0; passes < 1000 && c.calls == 0; passes++)
				assert_int_equal(rv_lws_loop_service(e.loop, 2000), RV_OK);
			assert_int_equal(c.calls, 1);
			assert_true(rv_loop_now_ms(e.loop) - t0 < 1000);
			total += passes;
		}
		/* The wait is rounded up to the timer (lws patch 0005): no
		 * busy loop of 0 ms waits through its last millisecond. */
		assert_true(total <= 8 * 3);
		rv_loop_timer_free(t);
	}
	/* Idle: a few passes in 300 ms, not a spin (bounded: 10,000). */
	t0 = rv_loop_now_ms(e.loop);
	for (passes = 0; passes < 10000 && rv_loop_now_ms(e.loop) - t0 < 300; passes++)
		assert_int_equal(rv_lws_loop_service(e.loop, 50), RV_OK);
	assert_true(passes <= 12);
	env_free(&e);
}

/* Hand-over: a second watcher added for a watched fd takes it over with no
 * epoll_ctl (the fd stays in the set), interest changes that cancel out
 * within a pass cost none, only the new watcher reports, and deleting the
 * old one leaves the fd watched. */
static void test_handover_costs_no_epoll_ctl(void **state)
{
	struct env e;
	struct rw a = { 0 }, b = { 0 };
	int sv[2];

	(void)state;
	env_init(&e);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	assert_int_equal(rv_loop_fd_add(e.loop, sv[0], RV_LOOP_READ, rw_cb, &a, &a.self), RV_OK);
	assert_int_equal(write(sv[1], "1", 1), 1);
	service_until(&e, pred_false, NULL, 30);
	assert_int_equal(a.got, 1);
	g_epoll_ctl = 0;
	/* As a SOCKS connection becoming a stream: the new owner adds with
	 * no interest, then READ; the old owner deletes its watcher. */
	assert_int_equal(rv_loop_fd_add(e.loop, sv[0], 0, rw_cb, &b, &b.self), RV_OK);
	rv_loop_fd_set_events(b.self, RV_LOOP_READ);
	rv_loop_fd_set_events(b.self, RV_LOOP_READ | RV_LOOP_WRITE);
	rv_loop_fd_set_events(b.self, RV_LOOP_READ);
	rv_loop_fd_del(a.self);
	assert_int_equal(write(sv[1], "2", 1), 1);
	service_until(&e, pred_false, NULL, 30);
	assert_int_equal(g_epoll_ctl, 0);
	assert_int_equal(a.got, 1);
	assert_int_equal(b.got, 1);
	/* Interest that really changes reaches the set: READ off, data waits. */
	rv_loop_fd_set_events(b.self, 0);
	assert_int_equal(write(sv[1], "3", 1), 1);
	service_until(&e, pred_false, NULL, 30);
	assert_int_equal(b.got, 1);
	assert_int_equal(g_epoll_ctl, 1);
	rv_loop_fd_set_events(b.self, RV_LOOP_READ);
	service_until(&e, pred_false, NULL, 30);
	assert_int_equal(b.got, 2);
	/* Deleted: the fd leaves the set at once (the owner closes it next). */
	g_epoll_ctl = 0;
	rv_loop_fd_del(b.self);
	assert_int_equal(g_epoll_ctl, 1);
	env_free(&e);
	close(sv[0]);
	close(sv[1]);
}

static int pred_raw_wrote_some(void *arg)
{
	return g_raw.wr_calls >= *(int *)arg;
}

/* A writer that asks for more from its WRITEABLE (bulk) against a peer
 * that stops reading: TCP_NOTSENT_LOWAT bounds what sits unsent in the
 * kernel, the writer stalls, and it wakes on the socket's real
 * writeability once the peer reads again. */
static void test_bulk_writer_honours_notsent_lowat(void **state)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	struct env e;
	struct lws *wsi;
	int lfd, cfd, sfd, lowat = 16384, snd = 4 << 20, unsent = -1;
	int want_wr = 2;

	(void)state;
	env_init(&e);
	memset(&g_raw, 0, sizeof(g_raw));
	g_raw.total = 64u << 20; /* more than the socket ever takes here */
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(lfd >= 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &al), 0);
	cfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(cfd, (struct sockaddr *)&a, sizeof(a)), 0);
	sfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
	assert_true(sfd >= 0);
	assert_int_equal(setsockopt(sfd, SOL_SOCKET, SO_SNDBUF, &snd, sizeof(snd)), 0);
	assert_int_equal(setsockopt(sfd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof(lowat)), 0);
	wsi = lws_adopt_descriptor_vhost(e.vh, LWS_ADOPT_SOCKET, (lws_sock_file_fd_type)sfd,
					 "raw-test", NULL);
	assert_non_null(wsi);
	assert_int_equal(write(cfd, "go", 2), 2); /* RX asks for WRITEABLE */
	assert_true(service_until(&e, pred_raw_wrote_some, &want_wr, 5000));
	/* The peer reads nothing: the writer must stall, not fill the send
	 * buffer (bounded: 300 ms of passes). */
	service_until(&e, pred_false, NULL, 300);
	assert_int_equal(ioctl(sfd, SIOCOUTQNSD, &unsent), 0);
	print_message("unsent %d after %zu bytes written\n", unsent, g_raw.sent);
	assert_true(g_raw.sent < g_raw.total);
	assert_true(unsent <= lowat + 2 * 16384);
	/* The peer reads again: the stalled writer wakes (a real EPOLLOUT)
	 * and 4 MiB more flow (bounded: 4,000 rounds, 10 s). */
	{
		struct raw_peer peer = { .fd = cfd };
		size_t until = g_raw.sent + (4u << 20);
		uint64_t t0 = rv_loop_now_ms(e.loop);
		int k;

		assert_int_equal(fcntl(cfd, F_SETFL, O_NONBLOCK), 0);
		for (k = 0; k < 4000 && peer.got < until; k++) {
			if (rv_loop_now_ms(e.loop) - t0 > 10000)
				break;
			(void)pred_raw_peer_got_all(&peer);
			assert_int_equal(rv_lws_loop_service(e.loop, 5), RV_OK);
		}
		assert_true(peer.got >= until);
		assert_int_equal(peer.bad, 0);
	}
	env_free(&e);
	close(cfd);
	close(lfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_level_and_read),
		cmocka_unit_test(test_watchers_cost_no_descriptor),
		cmocka_unit_test(test_delete_in_callback),
		cmocka_unit_test(test_hangup_report),
		cmocka_unit_test(test_hangup_drains_pending_data),
		cmocka_unit_test(test_timers),
		cmocka_unit_test(test_lws_socket_through_loop),
		cmocka_unit_test(test_wake_and_single_loop),
		cmocka_unit_test(test_handover_costs_no_epoll_ctl),
		cmocka_unit_test(test_bulk_writer_honours_notsent_lowat),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
