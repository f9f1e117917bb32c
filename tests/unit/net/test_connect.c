/* test_connect.c - Happy Eyeballs connect on loopback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "rv_connect.h"
#include "rv_err.h"
#include "rv_loop_poll.h"
#include "rv_sockopt.h"

struct got {
	int calls;
	struct rv_connect_result res;
	uint64_t at_ms;
	struct rv_loop *loop;
};

static void got_cb(void *arg, const struct rv_connect_result *res)
{
	struct got *g = arg;

	g->calls++;
	g->res = *res;
	g->at_ms = rv_loop_now_ms(g->loop);
}

static int got_called(void *arg)
{
	return ((struct got *)arg)->calls > 0;
}

/* Listener on 127.0.0.1 or ::1, port 0; -1 if that family is unusable. */
static int listener(int family, int backlog, struct rv_sockaddr *addr)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	assert_int_equal(rv_sockaddr_from_literal(family == AF_INET ? "127.0.0.1" : "::1", 0,
						  addr), RV_OK);
	if (bind(fd, &addr->u.sa, addr->len) != 0 || listen(fd, backlog) != 0) {
		close(fd);
		return -1;
	}
	assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	assert_int_equal(rv_sockaddr_from_sys(addr, (struct sockaddr *)&ss, len), RV_OK);
	return fd;
}

/* A loopback port with nobody listening: bind, read the port, close. */
static void closed_port(int family, struct rv_sockaddr *addr)
{
	int fd = listener(family, 1, addr);

	assert_true(fd >= 0);
	close(fd);
}

/* Fill a backlog-0 listener until a connect stays pending (its SYN is
 * dropped): new connects to it then hang.  fills[] get the client fds. */
static int saturate(const struct rv_sockaddr *addr, int fills[8])
{
	int i;

	for (i = 0; i < 8; i++) {
		struct pollfd p;
		int fd = socket(rv_sockaddr_family(addr),
				SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

		assert_true(fd >= 0);
		fills[i] = fd;
		if (connect(fd, &addr->u.sa, addr->len) != 0)
			assert_int_equal(errno, EINPROGRESS);
		p.fd = fd;
		p.events = POLLOUT;
		p.revents = 0;
		/* Bounded wait: a completed handshake shows within 200 ms on
		 * loopback; a dropped SYN is not retried before 1 s. */
		if (poll(&p, 1, 200) == 0)
			return i + 1;
	}
	fail_msg("could not saturate the listen backlog");
	return 0;
}

static void close_all(int *fds, int n)
{
	int i;

	for (i = 0; i < n; i++)
		close(fds[i]);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		n++;
	closedir(d);
	return n;
}

static int have_ipv6(void)
{
	struct rv_sockaddr a;
	int fd = listener(AF_INET6, 1, &a);

	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

static void run(struct rv_loop *loop, const struct rv_sockaddr *addrs, size_t n,
		const struct rv_connect_opts *o, struct got *g, uint32_t max_ms)
{
	memset(g, 0, sizeof(*g));
	g->loop = loop;
	assert_int_equal(rv_connect_start(loop, addrs, n, o, got_cb, g, NULL), RV_OK);
	assert_int_equal(g->calls, 0); /* never synchronous */
	assert_int_equal(rv_loop_poll_run_until(loop, got_called, g, max_ms), 0);
	assert_int_equal(g->calls, 1);
}

static void check_connected(const struct got *g, int lfd, int family)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct rv_sockaddr peer;
	int afd;

	assert_int_equal(g->res.status, RV_STATUS_OK);
	assert_int_equal(g->res.err, RV_OK);
	assert_true(g->res.fd >= 0);
	assert_int_equal(rv_sockaddr_family(&g->res.local), family);
	assert_int_not_equal(rv_sockaddr_port(&g->res.local), 0);
	/* The listener's view of the client equals our local address. */
	afd = accept(lfd, (struct sockaddr *)&ss, &len);
	assert_true(afd >= 0);
	assert_int_equal(rv_sockaddr_from_sys(&peer, (struct sockaddr *)&ss, len), RV_OK);
	assert_true(rv_sockaddr_equal(&peer, &g->res.local));
	assert_int_equal(write(g->res.fd, "x", 1), 1);
	{
		char c = 0;

		assert_int_equal(read(afd, &c, 1), 1);
		assert_int_equal(c, 'x');
	}
	close(afd);
	close(g->res.fd);
}

static void test_success_v4(void **state)
{
	struct rv_loop *loop = *state;
	struct rv_sockaddr a;
	struct rv_connect_opts o = {.timeout_ms = 2000, .nodelay = 1};
	struct got g;
	int lfd = listener(AF_INET, 8, &a);

	assert_true(lfd >= 0);
	run(loop, &a, 1, &o, &g, 3000);
	{
		int on = 0;

		/* opts.nodelay: request-sized writes to targets are not held. */
		assert_int_equal(rv_sockopt_get_nodelay(g.res.fd, &on), RV_OK);
		assert_int_equal(on, 1);
	}
	check_connected(&g, lfd, AF_INET);
	assert_true(rv_sockaddr_equal(&g.res.peer, &a));
	assert_int_equal(g.res.attempts, 1);
	close(lfd);
}

static void test_success_v6(void **state)
{
	struct rv_loop *loop = *state;
	struct rv_sockaddr a;
	struct rv_connect_opts o = {.timeout_ms = 2000};
	struct got g;
	int lfd;

	if (!have_ipv6()) {
		skip();
		return;
	}
	lfd = listener(AF_INET6, 8, &a);
	run(loop, &a, 1, &o, &g, 3000);
	{
		int on = 1;

		assert_int_equal(rv_sockopt_get_nodelay(g.res.fd, &on), RV_OK);
		assert_int_equal(on, 0); /* only when asked */
	}
	check_connected(&g, lfd, AF_INET6);
	close(lfd);
}

static void test_refused(void **state)
{
	struct rv_loop *loop = *state;
	struct rv_sockaddr a[2];
	struct rv_connect_opts o = {.timeout_ms = 2000};
	struct got g;
	size_t n = 1;

	closed_port(AF_INET, &a[0]);
	if (have_ipv6()) {
		closed_port(AF_INET6, &a[1]);
		n = 2;
	}
	run(loop, a, n, &o, &g, 3000);
	assert_int_equal(g.res.status, RV_STATUS_CONNECTION_REFUSED);
	assert_int_equal(g.res.sys_errno, ECONNREFUSED);
	assert_int_equal(g.res.err, RV_ERR_IO);
	assert_int_equal(g.res.fd, -1);
	assert_int_equal(g.res.attempts, n);
}

static void test_timeout_full_backlog(void **state)
{
	struct rv_loop *loop = *state;
	struct rv_sockaddr a;
	struct rv_connect_opts o = {.timeout_ms = 300};
	struct got g;
	int fills[8], nf, lfd = listener(AF_INET, 0, &a);
	uint64_t t0;

	assert_true(lfd >= 0);
	nf = saturate(&a, fills);
	t0 = rv_loop_now_ms(loop);
	run(loop, &a, 1, &o, &g, 3000);
	assert_int_equal(g.res.status, RV_STATUS_TTL_EXPIRED);
	assert_int_equal(g.res.err, RV_ERR_TIMEOUT);
	assert_int_equal(g.res.fd, -1);
	assert_true(g.at_ms - t0 >= 300);
	close_all(fills, nf);
	close(lfd);
}

static void test_refused_beats_timeout(void **state)
{
	struct rv_loop *loop = *state;
	struct rv_sockaddr a[2];
	struct rv_connect_opts o = {.timeout_ms = 300, .attempt_delay_ms = 50};
	struct got g;
	int fills[8], nf, lfd = listener(AF_INET, 0, &a[0]);

	assert_true(lfd >= 0);
	nf = saturate(&a[0], fills);
	closed_port(AF_INET, &a[1]);
	run(loop, a, 2, &o, &g, 3000);
	assert_int_equal(g.res.status, RV_STATUS_CONNECTION_REFUSED);
	assert_true(rv_sockaddr_equal(&g.res.peer, &a[1]));
	close_all(fills, nf);
	close(lfd);
}

/* ::1 refuses at once -> IPv4 is tried without waiting for the delay. */
static void test_v6_refused_v4_ok(void **state)
{
	struct rv_loop *loop = *state;
	struct rv_sockaddr a[2];
	struct rv_connect_opts o = {.timeout_ms = 8000, .attempt_delay_ms = 5000};
	struct got g;
	int lfd;

	if (!have_ipv6()) {
		skip();
		return;
	}
	lfd = listener(AF_INET, 8, &a[1]);
	closed_port(AF_INET6, &a[0]);
	run(loop, a, 2, &o, &g, 3000); /* < attempt delay: proves "at once" */
	check_connected(&g, lfd, AF_INET);
	assert_int_equal(g.res.attempts, 2);
	close(lfd);
}

/* ::1 hangs -> after the attempt delay IPv4 starts and wins. */
static void test_v6_hangs_v4_ok(void **state)
{
	struct rv_loop *loop = *state;
	struct rv_sockaddr a[2];
	struct rv_connect_opts o = {.timeout_ms = 5000, .attempt_delay_ms = 100};
	struct got g;
	int fills[8], nf, l6, l4;
	uint64_t t0;

	if (!have_ipv6()) {
		skip();
		return;
	}
	l6 = listener(AF_INET6, 0, &a[0]);
	assert_true(l6 >= 0);
	nf = saturate(&a[0], fills);
	l4 = listener(AF_INET, 8, &a[1]);
	/* a[0] is IPv6, so IPv6 leads (the family of addrs[0] goes first). */
	t0 = rv_loop_now_ms(loop);
	run(loop, a, 2, &o, &g, 3000);
	check_connected(&g, l4, AF_INET);
	assert_true(g.at_ms - t0 >= 100);
	assert_int_equal(g.res.attempts, 2);
	close_all(fills, nf);
	close(l4);
	close(l6);
}

/* Interleaving: [v4 hang, v4 hang, v6 ok] with v4 first -> v4, v6, v4: the
 * second attempt (v6) wins after one delay, the third is never started. */
static void test_interleave(void **state)
{
	struct rv_loop *loop = *state;
	struct rv_sockaddr a[3];
	struct rv_connect_opts o = {.timeout_ms = 5000, .attempt_delay_ms = 100};
	struct got g;
	int fills[8], nf, l4, l6;

	if (!have_ipv6()) {
		skip();
		return;
	}
	l4 = listener(AF_INET, 0, &a[0]);
	nf = saturate(&a[0], fills);
	a[1] = a[0];
	l6 = listener(AF_INET6, 8, &a[2]);
	run(loop, a, 3, &o, &g, 3000);
	check_connected(&g, l6, AF_INET6);
	assert_int_equal(g.res.attempts, 2);
	close_all(fills, nf);
	close(l4);
	close(l6);
}

static void test_cancel(void **state)
{
	struct rv_loop *loop = *state;
	struct rv_sockaddr a[2];
	struct rv_connect_opts o = {.timeout_ms = 200, .attempt_delay_ms = 20};
	struct rv_connect *c = NULL;
	struct got g;
	int fills[8], nf, lfd = listener(AF_INET, 0, &a[0]), before;

	assert_true(lfd >= 0);
	nf = saturate(&a[0], fills);
	a[1] = a[0];
	before = count_fds();
	memset(&g, 0, sizeof(g));
	g.loop = loop;
	assert_int_equal(rv_connect_start(loop, a, 2, &o, got_cb, &g, &c), RV_OK);
	assert_non_null(c);
	/* Let the second attempt start, then cancel with both in flight. */
	(void)rv_loop_poll_run_once(loop, 50);
	(void)rv_loop_poll_run_once(loop, 50);
	rv_connect_cancel(c);
	assert_int_equal(count_fds(), before);
	/* Past the deadline: still no callback. */
	assert_int_equal(rv_loop_poll_run_until(loop, got_called, &g, 400), RV_ERR_TIMEOUT);
	assert_int_equal(g.calls, 0);

	/* Cancel before the deferred immediate outcome is delivered. */
	closed_port(AF_INET, &a[1]);
	memset(&g, 0, sizeof(g));
	assert_int_equal(rv_connect_start(loop, &a[1], 1, &o, got_cb, &g, &c), RV_OK);
	rv_connect_cancel(c);
	assert_int_equal(rv_loop_poll_run_until(loop, got_called, &g, 100), RV_ERR_TIMEOUT);
	close_all(fills, nf);
	close(lfd);
}

static void test_errno_map(void **state)
{
	(void)state;
	assert_int_equal(rv_connect_status_from_errno(ECONNREFUSED), RV_STATUS_CONNECTION_REFUSED);
	assert_int_equal(rv_connect_status_from_errno(ENETUNREACH), RV_STATUS_NET_UNREACHABLE);
	assert_int_equal(rv_connect_status_from_errno(EHOSTUNREACH), RV_STATUS_HOST_UNREACHABLE);
	assert_int_equal(rv_connect_status_from_errno(ETIMEDOUT), RV_STATUS_TTL_EXPIRED);
	assert_int_equal(rv_connect_status_from_errno(EPERM), RV_STATUS_NOT_ALLOWED);
	assert_int_equal(rv_connect_status_from_errno(EIO), RV_STATUS_GENERAL_FAILURE);
}

static int setup(void **state)
{
	struct rv_loop *loop = NULL;

	if (rv_loop_poll_new(&loop) != RV_OK)
		return -1;
	*state = loop;
	return 0;
}

static int teardown(void **state)
{
	rv_loop_poll_free(*state);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_success_v4, setup, teardown),
		cmocka_unit_test_setup_teardown(test_success_v6, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout_full_backlog, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_beats_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_v6_refused_v4_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(test_v6_hangs_v4_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interleave, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test(test_errno_map),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
