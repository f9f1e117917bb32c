/* test_dial.c - rv_dial: literal and named targets, access rules, refused,
 * cancel; on a poll loop with loopback listeners and a DNS stub that never
 * leaves loopback (names fail fast: no servers answer on the port). */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "rv_addr.h"
#include "rv_dial.h"
#include "rv_err.h"
#include "rv_loop_poll.h"
#include "rv_pool.h"

struct dial_fixture {
	struct rv_loop *loop;
	struct rv_acl *acl;
	struct rv_dns *dns;
	struct rv_dialer dialer;
	int done;
	struct rv_dial_result res;
};

static int listen_loopback(uint16_t *port)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

static int setup(void **state)
{
	static struct dial_fixture f;
	struct rv_dns_config dcfg;
	char err[128];

	memset(&f, 0, sizeof(f));
	assert_int_equal(rv_loop_poll_new(&f.loop), RV_OK);
	assert_int_equal(rv_acl_new(1, &f.acl), RV_OK);
	memset(&dcfg, 0, sizeof(dcfg));
	/* Port 9 on loopback: nothing answers, so no query leaves the host. */
	dcfg.servers[0] = "127.0.0.1:9";
	dcfg.n_servers = 1;
	dcfg.timeout_ms = 200;
	dcfg.tries = 1;
	assert_int_equal(rv_dns_new(f.loop, &dcfg, &f.dns, err, sizeof(err)), RV_OK);
	f.dialer.loop = f.loop;
	f.dialer.dns = f.dns;
	f.dialer.acl = f.acl;
	f.dialer.connect.timeout_ms = 2000;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct dial_fixture *f = *state;

	if (f->res.fd >= 0 && f->done)
		close(f->res.fd);
	rv_dns_free(f->dns);
	rv_acl_free(f->acl);
	rv_loop_poll_free(f->loop);
	return 0;
}

static void on_dial(void *arg, const struct rv_dial_result *res)
{
	struct dial_fixture *f = arg;

	f->done++;
	f->res = *res;
}

static int is_done(void *arg)
{
	return ((struct dial_fixture *)arg)->done > 0;
}

static void dial_and_wait(struct dial_fixture *f, const struct rv_addr *dst)
{
	struct rv_dial *d = NULL;

	assert_int_equal(rv_dial_start(&f->dialer, dst, on_dial, f, &d), RV_OK);
	assert_int_equal(f->done, 0); /* never from inside rv_dial_start */
	assert_int_equal(rv_loop_poll_run_until(f->loop, is_done, f, 5000), RV_OK);
	assert_int_equal(f->done, 1);
}

static void test_literal_denied_by_default(void **state)
{
	struct dial_fixture *f = *state;
	struct rv_addr a;
	uint16_t port;
	int lfd = listen_loopback(&port);

	assert_int_equal(rv_addr_from_literal(&a, "127.0.0.1", port), RV_OK);
	dial_and_wait(f, &a);
	assert_int_equal(f->res.status, RV_STATUS_NOT_ALLOWED);
	assert_int_equal(f->res.fd, -1);
	close(lfd);
}

static void test_literal_allowed_connects(void **state)
{
	struct dial_fixture *f = *state;
	struct rv_addr a;
	char err[128];
	uint16_t port;
	int lfd = listen_loopback(&port);

	assert_int_equal(rv_acl_add(f->acl, RV_ACL_ALLOW, "127.0.0.1", err, sizeof(err)), RV_OK);
	assert_int_equal(rv_addr_from_literal(&a, "127.0.0.1", port), RV_OK);
	dial_and_wait(f, &a);
	assert_int_equal(f->res.status, RV_STATUS_OK);
	assert_true(f->res.fd >= 0);
	assert_int_equal(rv_sockaddr_family(&f->res.local), AF_INET);
	assert_int_equal(rv_sockaddr_port(&f->res.peer), port);
	close(lfd);
}

static void test_refused(void **state)
{
	struct dial_fixture *f = *state;
	struct rv_addr a;
	char err[128];
	uint16_t port;
	int lfd = listen_loopback(&port);

	close(lfd); /* nothing listens on port now */
	assert_int_equal(rv_acl_add(f->acl, RV_ACL_ALLOW, "127.0.0.1", err, sizeof(err)), RV_OK);
	assert_int_equal(rv_addr_from_literal(&a, "127.0.0.1", port), RV_OK);
	dial_and_wait(f, &a);
	assert_int_equal(f->res.status, RV_STATUS_CONNECTION_REFUSED);
}

static void test_name_unresolvable(void **state)
{
	struct dial_fixture *f = *state;
	struct rv_addr a;

	assert_int_equal(rv_addr_set_domain(&a, "nothing.invalid", 15, 80), RV_OK);
	dial_and_wait(f, &a);
	assert_int_not_equal(f->res.status, RV_STATUS_OK);
	assert_int_equal(f->res.fd, -1);
}

static void test_cancel_never_reports(void **state)
{
	struct dial_fixture *f = *state;
	struct rv_dial *d = NULL;
	struct rv_addr a;
	int i;

	assert_int_equal(rv_addr_from_literal(&a, "127.0.0.1", 1), RV_OK);
	assert_int_equal(rv_dial_start(&f->dialer, &a, on_dial, f, &d), RV_OK);
	rv_dial_cancel(d);
	for (i = 0; i < 20; i++)
		rv_loop_poll_run_once(f->loop, 5);
	assert_int_equal(f->done, 0);
}

/* RFC 6761: "localhost" never goes to the resolver (none answers here);
 * it is loopback, which the rules then judge. */
static void test_localhost_judged_by_rules(void **state)
{
	struct dial_fixture *f = *state;
	struct rv_addr a;
	char err[128];
	uint16_t port;
	int lfd = listen_loopback(&port);

	assert_int_equal(rv_addr_set_domain(&a, "localhost", 9, port), RV_OK);
	dial_and_wait(f, &a);
	assert_int_equal(f->res.status, RV_STATUS_NOT_ALLOWED);
	f->done = 0;
	assert_int_equal(rv_acl_add(f->acl, RV_ACL_ALLOW, "127.0.0.1", err, sizeof(err)), RV_OK);
	assert_int_equal(rv_addr_set_domain(&a, "LOCALHOST.", 10, port), RV_OK);
	dial_and_wait(f, &a);
	assert_int_equal(f->res.status, RV_STATUS_OK);
	assert_int_equal(rv_sockaddr_port(&f->res.peer), port);
	close(lfd);
}

/* A resolver that never answers: the dial still ends at the connect
 * timeout (one deadline), not after the resolver's own retries. */
static void test_one_deadline(void **state)
{
	struct dial_fixture *f = *state;
	struct rv_dns_config dcfg;
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	struct rv_addr a;
	char err[128], srv[32];
	uint64_t t0, took;
	int u = socket(AF_INET, SOCK_DGRAM, 0);

	assert_true(u >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(u, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(u, (struct sockaddr *)&sin, &len), 0);
	snprintf(srv, sizeof(srv), "127.0.0.1:%u", (unsigned)ntohs(sin.sin_port));
	rv_dns_free(f->dns);
	memset(&dcfg, 0, sizeof(dcfg));
	dcfg.servers[0] = srv;
	dcfg.n_servers = 1;
	dcfg.timeout_ms = 2000;
	dcfg.tries = 3;
	dcfg.dns_only = 1;
	assert_int_equal(rv_dns_new(f->loop, &dcfg, &f->dns, err, sizeof(err)), RV_OK);
	f->dialer.dns = f->dns;
	f->dialer.connect.timeout_ms = 300;
	assert_int_equal(rv_addr_set_domain(&a, "silent.test", 11, 80), RV_OK);
	t0 = rv_loop_now_ms(f->loop);
	dial_and_wait(f, &a);
	took = rv_loop_now_ms(f->loop) - t0;
	assert_int_equal(f->res.status, RV_STATUS_HOST_UNREACHABLE);
	assert_true(took >= 290);
	assert_true(took < 1500);
	close(u);
}

/* The pool sees only its ports: a dial to any other port is a plain
 * connect, and the target sees exactly the connections asked for. */
static void test_pool_only_its_ports(void **state)
{
	struct dial_fixture *f = *state;
	struct rv_pool_config pcfg;
	struct rv_pool_stats st;
	struct rv_pool *pool;
	struct rv_addr a;
	char err[128];
	uint16_t port;
	int lfd = listen_loopback(&port), i, n = 0, fds[8];

	memset(&pcfg, 0, sizeof(pcfg));
	pcfg.hot_requests = 1;
	assert_int_equal(rv_pool_new(f->loop, &pcfg, &pool), RV_OK);
	f->dialer.pool = pool;
	assert_int_equal(rv_acl_add(f->acl, RV_ACL_ALLOW, "127.0.0.1", err, sizeof(err)), RV_OK);
	assert_int_equal(rv_addr_from_literal(&a, "127.0.0.1", port), RV_OK);
	for (i = 0; i < 3; i++) {
		f->done = 0;
		dial_and_wait(f, &a);
		assert_int_equal(f->res.status, RV_STATUS_OK);
		assert_int_equal(f->res.from_pool, 0);
		close(f->res.fd);
		f->res.fd = -1;
	}
	for (i = 0; i < 10; i++)
		(void)rv_loop_poll_run_once(f->loop, 5);
	rv_pool_get_stats(pool, &st);
	assert_int_equal(st.requests, 0);
	assert_int_equal(st.preconnects, 0);
	assert_int_equal(fcntl(lfd, F_SETFL, O_NONBLOCK), 0);
	while (n < 8 && (fds[n] = accept(lfd, NULL, NULL)) >= 0)
		n++;
	assert_int_equal(n, 3);
	for (i = 0; i < n; i++)
		close(fds[i]);
	f->dialer.pool = NULL;
	rv_pool_free(pool);

	/* With the port configured, a miss records its connect time. */
	pcfg.ports[0] = port;
	pcfg.n_ports = 1;
	assert_int_equal(rv_pool_new(f->loop, &pcfg, &pool), RV_OK);
	f->dialer.pool = pool;
	f->done = 0;
	dial_and_wait(f, &a);
	assert_int_equal(f->res.status, RV_STATUS_OK);
	close(f->res.fd);
	f->res.fd = -1;
	rv_pool_get_stats(pool, &st);
	assert_int_equal(st.requests, 1);
	assert_int_equal(st.misses, 1);
	assert_int_equal(st.miss_connects, 1);
	f->dialer.pool = NULL;
	rv_pool_free(pool);
	close(lfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_literal_denied_by_default, setup, teardown),
		cmocka_unit_test_setup_teardown(test_literal_allowed_connects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_name_unresolvable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_never_reports, setup, teardown),
		cmocka_unit_test_setup_teardown(test_localhost_judged_by_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_deadline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_only_its_ports, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
