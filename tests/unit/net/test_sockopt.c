/* test_sockopt.c - TCP_NODELAY on a connected TCP socket. */
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nodelay_tcp),
		cmocka_unit_test(test_nodelay_not_tcp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
