/* test_sockopt.c - TCP_NODELAY and TCP_NOTSENT_LOWAT on TCP sockets, and
 * the WebSocket's mark that follows the path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "rv_err.h"
#include "rv_sockopt.h"

static void test_nodelay_tcp(void **state)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int l, c, a, on = -1;

	(void)state;
	l = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(l >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(l, 1), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&sa, &sl), 0);
	c = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(c >= 0);
	assert_int_equal(connect(c, (struct sockaddr *)&sa, sizeof(sa)), 0);
	a = accept(l, NULL, NULL);
	assert_true(a >= 0);
	/* An accepted socket starts with Nagle on: the case the server had. */
	assert_int_equal(rv_sockopt_get_nodelay(a, &on), RV_OK);
	assert_int_equal(on, 0);
	assert_int_equal(rv_sockopt_set_nodelay(a), RV_OK);
	assert_int_equal(rv_sockopt_get_nodelay(a, &on), RV_OK);
	assert_int_equal(on, 1);
	assert_int_equal(rv_sockopt_set_nodelay(c), RV_OK);
	assert_int_equal(rv_sockopt_get_nodelay(c, &on), RV_OK);
	assert_int_equal(on, 1);
	close(a);
	close(c);
	close(l);
}

/* A connected pair over loopback: *l listening, *c and *a its ends. */
static void tcp_pair(int *l, int *c, int *a)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);

	*l = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(*l >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(*l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(*l, 1), 0);
	assert_int_equal(getsockname(*l, (struct sockaddr *)&sa, &sl), 0);
	*c = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(*c >= 0);
	assert_int_equal(connect(*c, (struct sockaddr *)&sa, sizeof(sa)), 0);
	*a = accept(*l, NULL, NULL);
	assert_true(*a >= 0);
}

static void test_notsent_lowat_tcp(void **state)
{
	int l, c, a, v = -1;

	(void)state;
	tcp_pair(&l, &c, &a);
	/* Unset, the kernel reports the sysctl (UINT_MAX unless tuned):
	 * never our value, so the read-backs below prove the set. */
	assert_int_equal(rv_sockopt_get_notsent_lowat(a, &v), RV_OK);
	assert_int_not_equal(v, RV_WS_NOTSENT_LOWAT);
	assert_int_equal(rv_sockopt_set_notsent_lowat(a, RV_WS_NOTSENT_LOWAT), RV_OK);
	assert_int_equal(rv_sockopt_get_notsent_lowat(a, &v), RV_OK);
	assert_int_equal(v, RV_WS_NOTSENT_LOWAT);
	/* Both ends: the client's connected socket too. */
	assert_int_equal(rv_sockopt_set_notsent_lowat(c, RV_WS_NOTSENT_LOWAT), RV_OK);
	assert_int_equal(rv_sockopt_get_notsent_lowat(c, &v), RV_OK);
	assert_int_equal(v, RV_WS_NOTSENT_LOWAT);
	/* No mark, or a negative one, is refused and leaves it unchanged. */
	assert_int_equal(rv_sockopt_set_notsent_lowat(a, 0), RV_ERR_INVALID_ARG);
	assert_int_equal(rv_sockopt_set_notsent_lowat(a, -1), RV_ERR_INVALID_ARG);
	assert_int_equal(rv_sockopt_get_notsent_lowat(a, &v), RV_OK);
	assert_int_equal(v, RV_WS_NOTSENT_LOWAT);
	close(a);
	close(c);
	close(l);
}

static void test_notsent_lowat_not_tcp(void **state)
{
	int p[2], v = 7;

	(void)state;
	assert_int_equal(pipe(p), 0);
	assert_int_equal(rv_sockopt_set_notsent_lowat(p[0], RV_WS_NOTSENT_LOWAT), RV_ERR_IO);
	assert_int_equal(rv_sockopt_get_notsent_lowat(p[0], &v), RV_ERR_IO);
	assert_int_equal(v, 7); /* unchanged on failure */
	assert_int_equal(rv_sockopt_set_notsent_lowat(-1, RV_WS_NOTSENT_LOWAT), RV_ERR_IO);
	close(p[0]);
	close(p[1]);
}

static void test_nodelay_not_tcp(void **state)
{
	int p[2], on = 7;

	(void)state;
	assert_int_equal(pipe(p), 0);
	assert_int_equal(rv_sockopt_set_nodelay(p[0]), RV_ERR_IO);
	assert_int_equal(rv_sockopt_get_nodelay(p[0], &on), RV_ERR_IO);
	assert_int_equal(on, 7); /* unchanged on failure */
	assert_int_equal(rv_sockopt_set_nodelay(-1), RV_ERR_IO);
	close(p[0]);
	close(p[1]);
}

/* The path's mark: a quarter RTT (at most 16 ms) at the delivery rate,
 * within [RV_WS_NOTSENT_LOWAT, RV_WS_NOTSENT_LOWAT_MAX]. */
static void test_lowat_for_path(void **state)
{
	(void)state;
	assert_int_equal(rv_sockopt_lowat_for_path(0, 0), RV_WS_NOTSENT_LOWAT);
	assert_int_equal(rv_sockopt_lowat_for_path(0, 100000), RV_WS_NOTSENT_LOWAT);
	/* loopback: GB/s over tens of microseconds */
	assert_int_equal(rv_sockopt_lowat_for_path(3000000000u, 40), RV_WS_NOTSENT_LOWAT);
	/* 40 ms at 100 Mbit/s: 10 ms is 125,000 bytes, under the floor */
	assert_int_equal(rv_sockopt_lowat_for_path(12500000u, 40000), RV_WS_NOTSENT_LOWAT);
	/* 20 ms at 1 Gbit/s: 5 ms */
	assert_int_equal(rv_sockopt_lowat_for_path(125000000u, 20000), 625000);
	/* 100 ms at 1 Gbit/s: capped at 16 ms */
	assert_int_equal(rv_sockopt_lowat_for_path(125000000u, 100000), 2000000);
	assert_int_equal(rv_sockopt_lowat_for_path(125000000u, UINT32_MAX), 2000000);
	/* 10 Gbit/s at 100 ms: the ceiling; no overflow at the extremes */
	assert_int_equal(rv_sockopt_lowat_for_path(1250000000u, 100000), RV_WS_NOTSENT_LOWAT_MAX);
	assert_int_equal(rv_sockopt_lowat_for_path(UINT64_MAX, UINT32_MAX), RV_WS_NOTSENT_LOWAT_MAX);
	assert_int_equal(rv_sockopt_lowat_for_path(UINT64_MAX, 4), RV_WS_NOTSENT_LOWAT_MAX);
}

static void test_lowat_retune(void **state)
{
	struct rv_sockopt_lowat lw;
	int l, c, a, v = 0, p[2];

	(void)state;
	tcp_pair(&l, &c, &a);
	assert_int_equal(rv_sockopt_lowat_init(a, &lw, 1000), RV_OK);
	assert_int_equal(lw.cur, RV_WS_NOTSENT_LOWAT);
	assert_int_equal(lw.due_us, 1000 + RV_WS_NOTSENT_RETUNE_US);
	assert_int_equal(rv_sockopt_get_notsent_lowat(a, &v), RV_OK);
	assert_int_equal(v, RV_WS_NOTSENT_LOWAT);
	/* A mark left high (as on a path that was long): not before it is
	 * due; then back to loopback's 128 KiB. */
	assert_int_equal(rv_sockopt_set_notsent_lowat(a, RV_WS_NOTSENT_LOWAT_MAX), RV_OK);
	lw.cur = RV_WS_NOTSENT_LOWAT_MAX;
	assert_int_equal(rv_sockopt_lowat_retune(a, &lw, lw.due_us - 1), RV_OK);
	assert_int_equal(lw.cur, RV_WS_NOTSENT_LOWAT_MAX);
	assert_int_equal(rv_sockopt_get_notsent_lowat(a, &v), RV_OK);
	assert_int_equal(v, RV_WS_NOTSENT_LOWAT_MAX);
	assert_int_equal(rv_sockopt_lowat_retune(a, &lw, lw.due_us), RV_OK);
	assert_int_equal(lw.cur, RV_WS_NOTSENT_LOWAT);
	assert_int_equal(rv_sockopt_get_notsent_lowat(a, &v), RV_OK);
	assert_int_equal(v, RV_WS_NOTSENT_LOWAT);
	/* Within an eighth of the wanted mark: no setsockopt. */
	assert_int_equal(rv_sockopt_set_notsent_lowat(a, 140000), RV_OK);
	lw.cur = 140000;
	assert_int_equal(rv_sockopt_lowat_retune(a, &lw, lw.due_us), RV_OK);
	assert_int_equal(lw.cur, 140000);
	assert_int_equal(rv_sockopt_get_notsent_lowat(a, &v), RV_OK);
	assert_int_equal(v, 140000);
	close(a);
	close(c);
	close(l);
	/* Not a TCP socket: an error, the mark unchanged, the next due. */
	assert_int_equal(pipe(p), 0);
	lw.cur = 300000;
	lw.due_us = 5;
	assert_int_equal(rv_sockopt_lowat_retune(p[0], &lw, 10), RV_ERR_IO);
	assert_int_equal(lw.cur, 300000);
	assert_int_equal(lw.due_us, 10 + RV_WS_NOTSENT_RETUNE_US);
	assert_int_equal(rv_sockopt_lowat_init(p[0], &lw, 10), RV_ERR_IO);
	assert_int_equal(lw.cur, 0);
	/* Without a mark set, re-tuning does nothing. */
	assert_int_equal(rv_sockopt_lowat_retune(p[0], &lw, INT64_MAX), RV_OK);
	assert_int_equal(lw.cur, 0);
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nodelay_tcp),
		cmocka_unit_test(test_nodelay_not_tcp),
		cmocka_unit_test(test_notsent_lowat_tcp),
		cmocka_unit_test(test_notsent_lowat_not_tcp),
		cmocka_unit_test(test_lowat_for_path),
		cmocka_unit_test(test_lowat_retune),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
