/* test_pool.c - warm pre-connect pool with loopback listeners. */
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

#include "rv_err.h"
#include "rv_loop_poll.h"
#include "rv_pool.h"

struct fx {
	struct rv_loop *loop;
	struct rv_pool *pool;
	int lfd;
	struct rv_sockaddr addr;
	char key[RV_POOL_KEY_MAX];
	uint16_t extra_port; /* a second pooled port (0: none) */
};

static int listener_v4(struct rv_sockaddr *addr)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	assert_true(fd >= 0);
	assert_int_equal(rv_sockaddr_from_literal("127.0.0.1", 0, addr), RV_OK);
	assert_int_equal(bind(fd, &addr->u.sa, addr->len), 0);
	assert_int_equal(listen(fd, 64), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	assert_int_equal(rv_sockaddr_from_sys(addr, (struct sockaddr *)&ss, len), RV_OK);
	return fd;
}

static void addr_key(const struct rv_sockaddr *sa, char key[RV_POOL_KEY_MAX])
{
	struct rv_addr a;

	assert_int_equal(rv_sockaddr_to_addr(sa, &a), RV_OK);
	assert_int_equal(rv_pool_key(&a, key), RV_OK);
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

static int new_pool(struct fx *fx, size_t per_dest, size_t max_spares, uint32_t idle_ms)
{
	struct rv_pool_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.per_dest = per_dest;
	cfg.max_spares = max_spares;
	cfg.hot_requests = 2;
	cfg.window_ms = 10000;
	cfg.idle_timeout_ms = idle_ms;
	cfg.connect_timeout_ms = 2000;
	/* Listeners have ephemeral ports: pool those, as --pool-ports would. */
	cfg.ports[cfg.n_ports++] = rv_sockaddr_port(&fx->addr);
	if (fx->extra_port != 0)
		cfg.ports[cfg.n_ports++] = fx->extra_port;
	return rv_pool_new(fx->loop, &cfg, &fx->pool);
}

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	if (fx == NULL || rv_loop_poll_new(&fx->loop) != RV_OK)
		return -1;
	fx->lfd = listener_v4(&fx->addr);
	addr_key(&fx->addr, fx->key);
	if (new_pool(fx, 2, 16, 10000) != RV_OK)
		return -1;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	rv_pool_free(fx->pool);
	close(fx->lfd);
	rv_loop_poll_free(fx->loop);
	free(fx);
	return 0;
}

struct want {
	struct rv_pool *pool;
	size_t spares;
	size_t connecting;
};

static int pool_settled(void *arg)
{
	struct want *w = arg;
	struct rv_pool_stats st;

	rv_pool_get_stats(w->pool, &st);
	return st.spares == w->spares && st.connecting == w->connecting;
}

static void wait_spares(struct fx *fx, size_t spares)
{
	struct want w = {fx->pool, spares, 0};

	assert_int_equal(rv_loop_poll_run_until(fx->loop, pool_settled, &w, 3000), 0);
}

/* Accept every pending connection on lfd into fds[]; returns the count. */
static int accept_all(int lfd, int *fds, int max)
{
	int n = 0;

	while (n < max) {
		int fd = accept(lfd, NULL, NULL);

		if (fd < 0)
			break;
		fds[n++] = fd;
	}
	return n;
}

static void test_key(void **state)
{
	struct rv_addr a;
	char key[RV_POOL_KEY_MAX];

	(void)state;
	memset(&a, 0, sizeof(a));
	a.atyp = RV_ATYP_DOMAIN;
	memcpy(a.domain, "WWW.Example.COM.", 16);
	a.domain_len = 16;
	a.port = 443;
	assert_int_equal(rv_pool_key(&a, key), RV_OK);
	assert_string_equal(key, "www.example.com:443");
	assert_int_equal(rv_sockaddr_to_addr(&(struct rv_sockaddr){0}, &a), RV_ERR_INVALID_ARG);
	{
		struct rv_sockaddr sa;

		assert_int_equal(rv_sockaddr_from_literal("2001:db8::1", 80, &sa), RV_OK);
		addr_key(&sa, key);
		assert_string_equal(key, "[2001:db8::1]:80");
		assert_int_equal(rv_sockaddr_from_literal("10.0.0.1", 8080, &sa), RV_OK);
		addr_key(&sa, key);
		assert_string_equal(key, "10.0.0.1:8080");
	}
	a.atyp = RV_ATYP_INVALID;
	assert_int_equal(rv_pool_key(&a, key), RV_ERR_INVALID_ARG);
}

static void test_hot_then_hit(void **state)
{
	struct fx *fx = *state;
	struct rv_pool_stats st;
	struct rv_sockaddr local, peer;
	int fd = -1, acc[8], na, i;
	char c = 0, line[256];

	/* First request: cold, nothing pre-connected. */
	assert_int_equal(rv_pool_take(fx->pool, fx->key, &fd, NULL, NULL), RV_ERR_NOT_FOUND);
	assert_int_equal(fd, -1);
	assert_int_equal(rv_pool_learn(fx->pool, fx->key, &fx->addr, 1), RV_OK);
	rv_pool_get_stats(fx->pool, &st);
	assert_int_equal(st.preconnects, 0);

	/* Second request within the window: hot, two spares get made. */
	assert_int_equal(rv_pool_take(fx->pool, fx->key, &fd, NULL, NULL), RV_ERR_NOT_FOUND);
	assert_int_equal(rv_pool_learn(fx->pool, fx->key, &fx->addr, 1), RV_OK);
	wait_spares(fx, 2);
	rv_pool_get_stats(fx->pool, &st);
	assert_int_equal(st.preconnects, 2);

	/* Third: a hit, with a working connection. */
	assert_int_equal(rv_pool_take(fx->pool, fx->key, &fd, &local, &peer), RV_OK);
	assert_true(fd >= 0);
	assert_true(rv_sockaddr_equal(&peer, &fx->addr));
	assert_int_equal(rv_sockaddr_family(&local), AF_INET);
	assert_int_equal(write(fd, "p", 1), 1);
	/* The hit refilled: wait for the pool to be back at two. */
	wait_spares(fx, 2);
	na = accept_all(fx->lfd, acc, 8);
	assert_int_equal(na, 3);
	for (i = 0; i < na; i++) {
		struct pollfd p = {.fd = acc[i], .events = POLLIN};

		if (poll(&p, 1, 0) == 1 && read(acc[i], &c, 1) == 1)
			break;
	}
	assert_int_equal(c, 'p');
	close(fd);
	rv_pool_get_stats(fx->pool, &st);
	assert_int_equal(st.requests, 3);
	assert_int_equal(st.hits, 1);
	assert_int_equal(st.misses, 2);
	assert_int_equal(st.preconnects, 3);
	assert_non_null(strstr(rv_pool_stats_str(fx->pool, line, sizeof(line)),
			       "3 requests, 1 hits (33.3%), 2 misses"));
	for (i = 0; i < na; i++)
		close(acc[i]);
}

/* The target closes its ends of the idle spares: the watcher sees it, the
 * spares go, and the destination is never pre-connected again. */
static void test_dead_spares(void **state)
{
	struct fx *fx = *state;
	struct rv_pool_stats st;
	int fd = -1, acc[8], na, i;

	assert_int_equal(rv_pool_take(fx->pool, fx->key, &fd, NULL, NULL), RV_ERR_NOT_FOUND);
	assert_int_equal(rv_pool_take(fx->pool, fx->key, &fd, NULL, NULL), RV_ERR_NOT_FOUND);
	assert_int_equal(rv_pool_learn(fx->pool, fx->key, &fx->addr, 1), RV_OK);
	wait_spares(fx, 2);
	na = accept_all(fx->lfd, acc, 8);
	assert_int_equal(na, 2);
	for (i = 0; i < na; i++)
		close(acc[i]);
	wait_spares(fx, 0);
	assert_true(rv_pool_blacklisted(fx->pool, fx->key));
	assert_int_equal(rv_pool_take(fx->pool, fx->key, &fd, NULL, NULL), RV_ERR_NOT_FOUND);
	assert_int_equal(fd, -1);
	assert_int_equal(rv_pool_learn(fx->pool, fx->key, &fx->addr, 1), RV_OK);
	rv_pool_get_stats(fx->pool, &st);
	assert_int_equal(st.evictions, 2);
	assert_int_equal(st.hits, 0);
	assert_int_equal(st.blacklisted, 1);
	assert_int_equal(st.target_spoke, 1);
	assert_int_equal(st.preconnects, 2); /* nothing new */
	assert_int_equal(st.connecting, 0);
	assert_int_equal(accept_all(fx->lfd, acc, 8), 0);
}

/* The hand-out check alone (the loop never ran since the target acted):
 * a spare with a greeting waiting, or one the target closed, is never
 * handed out.  The old MSG_PEEK check passed a greeted spare. */
static void test_handout_check(void **state)
{
	struct fx *fx = *state;
	struct rv_pool_stats st;
	int fd = -1, acc[8], na, i, round;

	for (round = 0; round < 2; round++) {
		rv_pool_free(fx->pool);
		assert_int_equal(new_pool(fx, 2, 16, 10000), RV_OK);
		assert_int_equal(rv_pool_take(fx->pool, fx->key, &fd, NULL, NULL),
				 RV_ERR_NOT_FOUND);
		assert_int_equal(rv_pool_take(fx->pool, fx->key, &fd, NULL, NULL),
				 RV_ERR_NOT_FOUND);
		assert_int_equal(rv_pool_learn(fx->pool, fx->key, &fx->addr, 1), RV_OK);
		wait_spares(fx, 2);
		na = accept_all(fx->lfd, acc, 8);
		assert_int_equal(na, 2);
		for (i = 0; i < na; i++) {
			if (round == 0)
				assert_int_equal(write(acc[i], "220 hello\r\n", 11), 11);
			else
				assert_int_equal(shutdown(acc[i], SHUT_WR), 0);
		}
		assert_int_equal(rv_pool_take(fx->pool, fx->key, &fd, NULL, NULL),
				 RV_ERR_NOT_FOUND);
		assert_int_equal(fd, -1);
		rv_pool_get_stats(fx->pool, &st);
		assert_int_equal(st.hits, 0);
		assert_int_equal(st.dead, 1);
		assert_int_equal(st.spares, 0);
		assert_int_equal(st.connecting, 0);
		assert_true(rv_pool_blacklisted(fx->pool, fx->key));
		for (i = 0; i < na; i++)
			close(acc[i]);
	}
}

/* Only the configured ports: the default set is 80 and 443, and a
 * destination on any other port is never counted nor pre-connected. */
static void test_ports(void **state)
{
	struct fx *fx = *state;
	struct rv_pool_config cfg;
	struct rv_pool_stats st;
	struct rv_pool *p;
	int fd = -1, acc[8], i;

	memset(&cfg, 0, sizeof(cfg));
	cfg.hot_requests = 1;
	assert_int_equal(rv_pool_new(fx->loop, &cfg, &p), RV_OK);
	assert_true(rv_pool_port_wanted(p, 80));
	assert_true(rv_pool_port_wanted(p, 443));
	assert_false(rv_pool_port_wanted(p, 25));
	assert_false(rv_pool_port_wanted(p, 22));
	assert_false(rv_pool_port_wanted(p, rv_sockaddr_port(&fx->addr)));
	for (i = 0; i < 5; i++) {
		assert_int_equal(rv_pool_take(p, fx->key, &fd, NULL, NULL), RV_ERR_NOT_FOUND);
		assert_int_equal(rv_pool_learn(p, fx->key, &fx->addr, 1), RV_OK);
	}
	(void)rv_loop_poll_run_once(fx->loop, 50);
	rv_pool_get_stats(p, &st);
	assert_int_equal(st.requests, 0);
	assert_int_equal(st.preconnects, 0);
	assert_int_equal(st.dests, 0);
	assert_int_equal(accept_all(fx->lfd, acc, 8), 0);
	rv_pool_free(p);
	cfg.n_ports = RV_POOL_MAX_PORTS + 1;
	assert_int_equal(rv_pool_new(fx->loop, &cfg, &p), RV_ERR_INVALID_ARG);
}

/* However long the configured idle time, a spare lives at most
 * RV_POOL_SPARE_MAX_MS. */
static void test_spare_max_life(void **state)
{
	struct fx *fx = *state;
	int fd = -1, acc[8], na, i;
	uint64_t t0;

	rv_pool_free(fx->pool);
	assert_int_equal(new_pool(fx, 1, 16, 600000), RV_OK);
	assert_int_equal(rv_pool_take(fx->pool, fx->key, &fd, NULL, NULL), RV_ERR_NOT_FOUND);
	assert_int_equal(rv_pool_take(fx->pool, fx->key, &fd, NULL, NULL), RV_ERR_NOT_FOUND);
	assert_int_equal(rv_pool_learn(fx->pool, fx->key, &fx->addr, 1), RV_OK);
	wait_spares(fx, 1);
	t0 = rv_loop_now_ms(fx->loop);
	{
		struct want w = {fx->pool, 0, 0};

		assert_int_equal(rv_loop_poll_run_until(fx->loop, pool_settled, &w,
							RV_POOL_SPARE_MAX_MS + 1000), 0);
	}
	assert_true(rv_loop_now_ms(fx->loop) - t0 <= RV_POOL_SPARE_MAX_MS + 100);
	na = accept_all(fx->lfd, acc, 8);
	assert_int_equal(na, 1);
	for (i = 0; i < na; i++)
		close(acc[i]);
}

/* The stats line reports what hits save: the destination's measured
 * resolve+connect time of a miss. */
static void test_saved_time(void **state)
{
	struct fx *fx = *state;
	struct rv_pool_stats st;
	char line[256];
	int fd = -1, acc[8], na, i;

	assert_int_equal(rv_pool_take(fx->pool, fx->key, &fd, NULL, NULL), RV_ERR_NOT_FOUND);
	rv_pool_note_connect(fx->pool, fx->key, 40000);
	assert_int_equal(rv_pool_take(fx->pool, fx->key, &fd, NULL, NULL), RV_ERR_NOT_FOUND);
	rv_pool_note_connect(fx->pool, fx->key, 20000);
	assert_int_equal(rv_pool_learn(fx->pool, fx->key, &fx->addr, 1), RV_OK);
	wait_spares(fx, 2);
	assert_int_equal(rv_pool_take(fx->pool, fx->key, &fd, NULL, NULL), RV_OK);
	close(fd);
	rv_pool_get_stats(fx->pool, &st);
	assert_int_equal(st.hits, 1);
	assert_int_equal(st.miss_connects, 2);
	assert_int_equal(st.miss_connect_us, 60000);
	assert_int_equal(st.saved_us, 20000);
	assert_non_null(strstr(rv_pool_stats_str(fx->pool, line, sizeof(line)),
			       "3 requests, 1 hits (33.3%), 2 misses, 20.00 ms saved per hit "
			       "(miss connect 30.00 ms avg)"));
	wait_spares(fx, 2);
	na = accept_all(fx->lfd, acc, 8);
	for (i = 0; i < na; i++)
		close(acc[i]);
}

static void test_idle_timeout(void **state)
{
	struct fx *fx = *state;
	struct rv_pool_stats st;
	int fd = -1, acc[8], na, i;

	rv_pool_free(fx->pool);
	assert_int_equal(new_pool(fx, 3, 16, 150), RV_OK);
	assert_int_equal(rv_pool_take(fx->pool, fx->key, &fd, NULL, NULL), RV_ERR_NOT_FOUND);
	assert_int_equal(rv_pool_take(fx->pool, fx->key, &fd, NULL, NULL), RV_ERR_NOT_FOUND);
	assert_int_equal(rv_pool_learn(fx->pool, fx->key, &fx->addr, 1), RV_OK);
	wait_spares(fx, 3);
	/* The idle timeout (150 ms) empties the pool. */
	wait_spares(fx, 0);
	rv_pool_get_stats(fx->pool, &st);
	assert_int_equal(st.evictions, 3);
	assert_int_equal(st.dead, 0);
	/* The far end sees them closed. */
	na = accept_all(fx->lfd, acc, 8);
	assert_int_equal(na, 3);
	for (i = 0; i < na; i++) {
		char c;

		assert_int_equal(read(acc[i], &c, 1), 0);
		close(acc[i]);
	}
}

static void test_global_cap(void **state)
{
	struct fx *fx = *state;
	struct rv_pool_stats st;
	struct rv_sockaddr addr2;
	char key2[RV_POOL_KEY_MAX];
	int fd = -1, l2 = listener_v4(&addr2), acc[16], na, i;

	addr_key(&addr2, key2);
	rv_pool_free(fx->pool);
	fx->extra_port = rv_sockaddr_port(&addr2);
	assert_int_equal(new_pool(fx, 2, 3, 10000), RV_OK);
	for (i = 0; i < 2; i++) {
		assert_int_equal(rv_pool_take(fx->pool, fx->key, &fd, NULL, NULL),
				 RV_ERR_NOT_FOUND);
		assert_int_equal(rv_pool_take(fx->pool, key2, &fd, NULL, NULL), RV_ERR_NOT_FOUND);
	}
	assert_int_equal(rv_pool_learn(fx->pool, fx->key, &fx->addr, 1), RV_OK);
	assert_int_equal(rv_pool_learn(fx->pool, key2, &addr2, 1), RV_OK);
	wait_spares(fx, 3);
	rv_pool_get_stats(fx->pool, &st);
	assert_int_equal(st.preconnects, 3);
	assert_int_equal(st.dests, 2);
	/* Taking from key2 frees room: key2 refills to its own K only. */
	assert_int_equal(rv_pool_take(fx->pool, key2, &fd, NULL, NULL), RV_OK);
	close(fd);
	wait_spares(fx, 3);
	rv_pool_get_stats(fx->pool, &st);
	assert_true(st.spares <= 3);
	na = accept_all(fx->lfd, acc, 16);
	na += accept_all(l2, acc + na, 16 - na);
	assert_int_equal(na, 4);
	for (i = 0; i < na; i++)
		close(acc[i]);
	close(l2);
}

static void test_preconnect_failure_backs_off(void **state)
{
	struct fx *fx = *state;
	struct rv_pool_stats st;
	struct rv_sockaddr dead;
	char key[RV_POOL_KEY_MAX];
	int fd = -1, l = listener_v4(&dead), i;
	struct want w;

	close(l); /* nobody listens there now */
	addr_key(&dead, key);
	rv_pool_free(fx->pool);
	fx->extra_port = rv_sockaddr_port(&dead);
	assert_int_equal(new_pool(fx, 2, 16, 10000), RV_OK);
	assert_int_equal(rv_pool_take(fx->pool, key, &fd, NULL, NULL), RV_ERR_NOT_FOUND);
	assert_int_equal(rv_pool_take(fx->pool, key, &fd, NULL, NULL), RV_ERR_NOT_FOUND);
	assert_int_equal(rv_pool_learn(fx->pool, key, &dead, 1), RV_OK);
	w.pool = fx->pool;
	w.spares = 0;
	w.connecting = 0;
	assert_int_equal(rv_loop_poll_run_until(fx->loop, pool_settled, &w, 3000), 0);
	rv_pool_get_stats(fx->pool, &st);
	assert_int_equal(st.preconnects, 2);
	assert_int_equal(st.preconnect_failures, 2);
	/* More requests within the retry pause start nothing new. */
	for (i = 0; i < 5; i++) {
		assert_int_equal(rv_pool_take(fx->pool, key, &fd, NULL, NULL), RV_ERR_NOT_FOUND);
		assert_int_equal(rv_pool_learn(fx->pool, key, &dead, 1), RV_OK);
	}
	rv_pool_get_stats(fx->pool, &st);
	assert_int_equal(st.preconnects, 2);
}

static void test_free_with_work_in_flight(void **state)
{
	struct fx *fx = *state;
	int fd = -1, before = count_fds(), acc[8], na, i;

	assert_int_equal(rv_pool_take(fx->pool, fx->key, &fd, NULL, NULL), RV_ERR_NOT_FOUND);
	assert_int_equal(rv_pool_take(fx->pool, fx->key, &fd, NULL, NULL), RV_ERR_NOT_FOUND);
	assert_int_equal(rv_pool_learn(fx->pool, fx->key, &fx->addr, 1), RV_OK);
	/* Pre-connects are in flight right now; free must cancel them. */
	rv_pool_free(fx->pool);
	fx->pool = NULL;
	assert_int_equal(count_fds(), before);
	assert_int_equal(new_pool(fx, 2, 16, 10000), RV_OK);
	assert_int_equal(rv_pool_take(fx->pool, fx->key, &fd, NULL, NULL), RV_ERR_NOT_FOUND);
	assert_int_equal(rv_pool_take(fx->pool, fx->key, &fd, NULL, NULL), RV_ERR_NOT_FOUND);
	assert_int_equal(rv_pool_learn(fx->pool, fx->key, &fx->addr, 1), RV_OK);
	wait_spares(fx, 2);
	rv_pool_free(fx->pool);
	fx->pool = NULL;
	assert_int_equal(count_fds(), before);
	na = accept_all(fx->lfd, acc, 8);
	for (i = 0; i < na; i++)
		close(acc[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key),
		cmocka_unit_test_setup_teardown(test_hot_then_hit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dead_spares, setup, teardown),
		cmocka_unit_test_setup_teardown(test_handout_check, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ports, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spare_max_life, setup, teardown),
		cmocka_unit_test_setup_teardown(test_saved_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_global_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_preconnect_failure_backs_off, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_free_with_work_in_flight, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
