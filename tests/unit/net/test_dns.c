/* test_dns.c - rv_dns against a tiny DNS server on 127.0.0.1 written here,
 * driven by the same rv_loop_poll.  Never touches the system resolver. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "rv_dns.h"
#include "rv_err.h"
#include "rv_loop_poll.h"

/* ---- the fake server ------------------------------------------------- */

struct rr {
	const char *name;
	uint16_t type; /* 1 = A, 28 = AAAA */
	const char *ip;
	uint32_t ttl;
};

static const struct rr zone[] = {
	{"v4.test", 1, "198.51.100.1", 60},
	{"both.test", 1, "198.51.100.7", 60},
	{"both.test", 28, "2001:db8::7", 300},
	{"v6.test", 28, "2001:db8::6", 60},
	{"short.test", 1, "198.51.100.2", 1},
	{"zero.test", 1, "198.51.100.3", 0},
	{"a.test", 1, "198.51.100.10", 60},
	{"b.test", 1, "198.51.100.11", 60},
	{"c.test", 1, "198.51.100.12", 60},
	{"cancel.test", 1, "198.51.100.13", 60},
};

struct fake_dns {
	int fd;
	uint16_t port;
	struct rv_loop_fd *w;
	unsigned queries;   /* every question received */
	unsigned dropped;
};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void fake_answer(struct fake_dns *fd_, const uint8_t *q, size_t qlen,
			const struct sockaddr_in6 *from, socklen_t fromlen, int sock)
{
	uint8_t out[1500];
	char name[256];
	size_t off = 12, nlen = 0, olen, i;
	uint16_t qtype, ancount = 0, rcode = 0;
	int known = 0;

	(void)fd_;
	if (qlen < 12 || qlen > 512)
		return;
	/* Question name: labels, no compression in queries. */
	while (off < qlen && q[off] != 0) {
		size_t l = q[off++];

		if (l > 63 || off + l > qlen || nlen + l + 1 >= sizeof(name))
			return;
		if (nlen > 0)
			name[nlen++] = '.';
		for (i = 0; i < l; i++) {
			char c = (char)q[off + i];

			name[nlen++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
		}
		off += l;
	}
	name[nlen] = '\0';
	if (off + 5 > qlen)
		return;
	off++;
	qtype = (uint16_t)(q[off] << 8 | q[off + 1]);
	off += 4; /* end of question */
	fd_->queries++;
	if (strcmp(name, "timeout.test") == 0) {
		fd_->dropped++;
		return;
	}
	memcpy(out, q, off);
	olen = off;
	if (strcmp(name, "servfail.test") == 0) {
		rcode = 2;
	} else if (strcmp(name, "refused.test") == 0) {
		rcode = 5;
	} else if (strcmp(name, "many.test") == 0) {
		known = 1;
		for (i = 0; qtype == 1 && i < 20; i++) {
			uint8_t *r = out + olen;

			put16(r, 0xc00c);
			put16(r + 2, 1);
			put16(r + 4, 1);
			r[6] = 0, r[7] = 0, r[8] = 0, r[9] = 60;
			put16(r + 10, 4);
			r[12] = 198, r[13] = 51, r[14] = 100, r[15] = (uint8_t)(100 + i);
			olen += 16;
			ancount++;
		}
	} else {
		for (i = 0; i < sizeof(zone) / sizeof(zone[0]); i++) {
			uint8_t *r = out + olen;
			size_t alen = zone[i].type == 1 ? 4 : 16;

			if (strcmp(zone[i].name, name) != 0)
				continue;
			known = 1;
			if (zone[i].type != qtype)
				continue;
			put16(r, 0xc00c);
			put16(r + 2, zone[i].type);
			put16(r + 4, 1);
			r[6] = (uint8_t)(zone[i].ttl >> 24);
			r[7] = (uint8_t)(zone[i].ttl >> 16);
			r[8] = (uint8_t)(zone[i].ttl >> 8);
			r[9] = (uint8_t)zone[i].ttl;
			put16(r + 10, (uint16_t)alen);
			inet_pton(zone[i].type == 1 ? AF_INET : AF_INET6, zone[i].ip, r + 12);
			olen += 12 + alen;
			ancount++;
		}
		if (!known)
			rcode = 3; /* NXDOMAIN */
	}
	out[2] = (uint8_t)(0x84 | (q[2] & 0x01)); /* QR, AA, copy RD */
	out[3] = (uint8_t)(0x80 | rcode);        /* RA */
	put16(out + 6, ancount);
	put16(out + 8, 0);
	put16(out + 10, 0); /* drop any EDNS OPT the client sent */
	(void)sendto(sock, out, olen, 0, (const struct sockaddr *)from, fromlen);
}

static void fake_cb(struct rv_loop_fd *w, int fd, unsigned revents, void *arg)
{
	struct fake_dns *f = arg;
	uint8_t buf[600];
	struct sockaddr_in6 from;
	int i;

	(void)w;
	(void)revents;
	for (i = 0; i < 16; i++) {
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from,
				     &fl);

		if (n <= 0)
			break;
		fake_answer(f, buf, (size_t)n, &from, fl, fd);
	}
}

static void fake_start(struct rv_loop *loop, struct fake_dns *f)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	memset(f, 0, sizeof(*f));
	f->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	assert_true(f->fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(f->fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(f->fd, (struct sockaddr *)&sin, &len), 0);
	f->port = ntohs(sin.sin_port);
	assert_int_equal(rv_loop_fd_add(loop, f->fd, RV_LOOP_READ, fake_cb, f, &f->w), RV_OK);
}

static void fake_stop(struct fake_dns *f)
{
	rv_loop_fd_del(f->w);
	close(f->fd);
}

/* ---- fixture ------------------------------------------------------- */

struct fx {
	struct rv_loop *loop;
	struct fake_dns srv;
	struct rv_dns *dns;
	char server[32];
};

struct got {
	int calls;
	enum rv_status status;
	int err;
	size_t n;
	struct rv_sockaddr addrs[RV_DNS_MAX_ADDRS];
	uint32_t ttl;
	int from_cache;
	struct rv_dns *free_me; /* free the resolver from inside the callback */
};

static void got_cb(void *arg, const struct rv_dns_result *res)
{
	struct got *g = arg;

	g->calls++;
	g->status = res->status;
	g->err = res->err;
	g->n = res->n;
	memcpy(g->addrs, res->addrs, res->n * sizeof(res->addrs[0]));
	g->ttl = res->ttl_s;
	g->from_cache = res->from_cache;
	if (g->free_me != NULL)
		rv_dns_free(g->free_me);
}

static int got_called(void *arg)
{
	return ((struct got *)arg)->calls > 0;
}

static int new_dns(struct fx *fx, size_t cache_max, uint32_t timeout_ms)
{
	struct rv_dns_config cfg;
	char err[200];

	memset(&cfg, 0, sizeof(cfg));
	cfg.servers[0] = fx->server;
	cfg.n_servers = 1;
	cfg.dns_only = 1;
	cfg.timeout_ms = timeout_ms;
	cfg.tries = 1;
	cfg.cache_max = cache_max;
	cfg.neg_ttl_s = 30;
	return rv_dns_new(fx->loop, &cfg, &fx->dns, err, sizeof(err));
}

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	if (fx == NULL || rv_loop_poll_new(&fx->loop) != RV_OK)
		return -1;
	fake_start(fx->loop, &fx->srv);
	snprintf(fx->server, sizeof(fx->server), "127.0.0.1:%u", fx->srv.port);
	if (new_dns(fx, 0, 500) != RV_OK)
		return -1;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	rv_dns_free(fx->dns);
	fake_stop(&fx->srv);
	rv_loop_poll_free(fx->loop);
	free(fx);
	return 0;
}

static void resolve_wait(struct fx *fx, const char *name, uint16_t port, struct got *g)
{
	memset(g, 0, sizeof(*g));
	assert_int_equal(rv_dns_resolve(fx->dns, name, port, got_cb, g, NULL), RV_OK);
	assert_int_equal(g->calls, 0); /* never synchronous */
	assert_int_equal(rv_loop_poll_run_until(fx->loop, got_called, g, 5000), 0);
	assert_int_equal(g->calls, 1);
}

static int has_addr(const struct got *g, const char *ip, uint16_t port)
{
	struct rv_sockaddr want;
	size_t i;

	assert_int_equal(rv_sockaddr_from_literal(ip, port, &want), RV_OK);
	for (i = 0; i < g->n; i++)
		if (rv_sockaddr_equal(&g->addrs[i], &want))
			return 1;
	return 0;
}

/* ---- tests ----------------------------------------------------------- */

static void test_a_and_aaaa_then_cache(void **state)
{
	struct fx *fx = *state;
	struct got g;
	unsigned q;

	resolve_wait(fx, "both.test", 443, &g);
	assert_int_equal(g.status, RV_STATUS_OK);
	assert_int_equal(g.err, RV_OK);
	assert_int_equal(g.n, 2);
	assert_true(has_addr(&g, "198.51.100.7", 443));
	assert_true(has_addr(&g, "2001:db8::7", 443));
	assert_int_equal(g.from_cache, 0);
	assert_true(g.ttl > 0 && g.ttl <= 60); /* the smaller of 60 and 300 */
	q = fx->srv.queries;
	assert_true(q >= 2);

	/* Cached: different case, trailing dot, other port; no new query. */
	resolve_wait(fx, "BOTH.Test.", 80, &g);
	assert_int_equal(g.status, RV_STATUS_OK);
	assert_int_equal(g.from_cache, 1);
	assert_true(has_addr(&g, "198.51.100.7", 80));
	assert_true(has_addr(&g, "2001:db8::7", 80));
	assert_int_equal(fx->srv.queries, q);

	resolve_wait(fx, "v4.test", 1, &g);
	assert_int_equal(g.status, RV_STATUS_OK);
	assert_int_equal(g.n, 1);
	assert_true(has_addr(&g, "198.51.100.1", 1));
	resolve_wait(fx, "v6.test", 2, &g);
	assert_int_equal(g.status, RV_STATUS_OK);
	assert_int_equal(g.n, 1);
	assert_true(has_addr(&g, "2001:db8::6", 2));

	resolve_wait(fx, "many.test", 3, &g);
	assert_int_equal(g.status, RV_STATUS_OK);
	assert_int_equal(g.n, RV_DNS_MAX_ADDRS);
}

static void test_nxdomain_negative_cache(void **state)
{
	struct fx *fx = *state;
	struct rv_dns_stats st;
	struct got g;
	unsigned q;

	resolve_wait(fx, "nope.test", 80, &g);
	assert_int_equal(g.status, RV_STATUS_HOST_UNREACHABLE);
	assert_int_equal(g.err, RV_ERR_NOT_FOUND);
	assert_int_equal(g.n, 0);
	q = fx->srv.queries;
	resolve_wait(fx, "nope.test", 80, &g);
	assert_int_equal(g.status, RV_STATUS_HOST_UNREACHABLE);
	assert_int_equal(g.from_cache, 1);
	assert_int_equal(fx->srv.queries, q);
	rv_dns_get_stats(fx->dns, &st);
	assert_int_equal(st.queries, 2);
	assert_int_equal(st.cache_hits, 1);
	assert_int_equal(st.failures, 2);
}

static void test_servfail_and_timeout(void **state)
{
	struct fx *fx = *state;
	struct got g;
	uint64_t t0;

	/* PROTOCOL.md section 11: every DNS failure is status 4. */
	resolve_wait(fx, "servfail.test", 80, &g);
	assert_int_equal(g.status, RV_STATUS_HOST_UNREACHABLE);
	assert_int_equal(g.err, RV_ERR_IO);
	resolve_wait(fx, "refused.test", 80, &g);
	assert_int_equal(g.status, RV_STATUS_HOST_UNREACHABLE);
	assert_int_equal(g.err, RV_ERR_IO);

	/* 500 ms per try, 1 try: the answer must come, as a timeout. */
	t0 = rv_loop_now_ms(fx->loop);
	resolve_wait(fx, "timeout.test", 80, &g);
	assert_int_equal(g.status, RV_STATUS_HOST_UNREACHABLE);
	assert_int_equal(g.err, RV_ERR_TIMEOUT);
	assert_true(fx->srv.dropped >= 1);
	assert_true(rv_loop_now_ms(fx->loop) - t0 >= 400);
	/* Failures other than NXDOMAIN are not cached. */
	t0 = fx->srv.queries;
	resolve_wait(fx, "servfail.test", 80, &g);
	assert_true(fx->srv.queries > t0);
}

static void test_literals_and_bad_names(void **state)
{
	struct fx *fx = *state;
	struct got g;

	resolve_wait(fx, "127.0.0.1", 8080, &g);
	assert_int_equal(g.status, RV_STATUS_OK);
	assert_int_equal(g.n, 1);
	assert_true(has_addr(&g, "127.0.0.1", 8080));
	resolve_wait(fx, "::1", 22, &g);
	assert_int_equal(g.status, RV_STATUS_OK);
	assert_true(has_addr(&g, "::1", 22));
	resolve_wait(fx, "bad name!", 1, &g);
	assert_int_equal(g.status, RV_STATUS_HOST_UNREACHABLE);
	assert_int_equal(g.err, RV_ERR_INVALID_ARG);
	resolve_wait(fx, "a..b", 1, &g);
	assert_int_equal(g.err, RV_ERR_INVALID_ARG);
	resolve_wait(fx, "", 1, &g);
	assert_int_equal(g.err, RV_ERR_INVALID_ARG);
	assert_int_equal(fx->srv.queries, 0);
}

static int cache_has_one(void *arg)
{
	struct fx *fx = arg;
	struct rv_dns_stats st;

	rv_dns_get_stats(fx->dns, &st);
	return st.cache_entries == 1;
}

static void test_cancel(void **state)
{
	struct fx *fx = *state;
	struct rv_dns_query *q = NULL;
	struct got g, g2;

	memset(&g, 0, sizeof(g));
	assert_int_equal(rv_dns_resolve(fx->dns, "cancel.test", 80, got_cb, &g, &q), RV_OK);
	assert_non_null(q);
	rv_dns_cancel(q);
	/* The lookup still completes (and fills the cache); no callback. */
	assert_int_equal(rv_loop_poll_run_until(fx->loop, cache_has_one, fx, 5000), 0);
	assert_int_equal(g.calls, 0);
	resolve_wait(fx, "cancel.test", 80, &g2);
	assert_int_equal(g2.from_cache, 1);
	assert_int_equal(g.calls, 0);

	/* Cancel a ready (cached) answer before delivery. */
	memset(&g, 0, sizeof(g));
	assert_int_equal(rv_dns_resolve(fx->dns, "cancel.test", 80, got_cb, &g, &q), RV_OK);
	rv_dns_cancel(q);
	resolve_wait(fx, "127.0.0.1", 1, &g2); /* runs the loop past delivery */
	assert_int_equal(g.calls, 0);
}

static void test_coalesce(void **state)
{
	struct fx *fx = *state;
	struct rv_dns_stats st;
	struct got g1, g2;

	memset(&g1, 0, sizeof(g1));
	memset(&g2, 0, sizeof(g2));
	assert_int_equal(rv_dns_resolve(fx->dns, "a.test", 1, got_cb, &g1, NULL), RV_OK);
	assert_int_equal(rv_dns_resolve(fx->dns, "A.TEST", 2, got_cb, &g2, NULL), RV_OK);
	assert_int_equal(rv_loop_poll_run_until(fx->loop, got_called, &g2, 5000), 0);
	assert_int_equal(rv_loop_poll_run_until(fx->loop, got_called, &g1, 5000), 0);
	assert_true(has_addr(&g1, "198.51.100.10", 1));
	assert_true(has_addr(&g2, "198.51.100.10", 2));
	rv_dns_get_stats(fx->dns, &st);
	assert_int_equal(st.lookups, 1);
	assert_int_equal(st.coalesced, 1);
	assert_int_equal(fx->srv.queries, 2); /* one A, one AAAA */
}

struct clock_wait {
	struct rv_loop *loop;
	uint64_t until;
};

static int clock_passed(void *arg)
{
	struct clock_wait *c = arg;

	return rv_loop_now_ms(c->loop) >= c->until;
}

static void test_ttl_expiry(void **state)
{
	struct fx *fx = *state;
	struct clock_wait cw;
	struct got g;
	unsigned q;

	resolve_wait(fx, "zero.test", 80, &g);
	assert_int_equal(g.status, RV_STATUS_OK);
	q = fx->srv.queries;
	resolve_wait(fx, "zero.test", 80, &g); /* TTL 0: never cached */
	assert_int_equal(g.from_cache, 0);
	assert_true(fx->srv.queries > q);

	resolve_wait(fx, "short.test", 80, &g); /* TTL 1 s */
	resolve_wait(fx, "short.test", 80, &g);
	assert_int_equal(g.from_cache, 1);
	q = fx->srv.queries;
	/* The TTL itself is what we wait for (bounded: 1.2 s). */
	cw.loop = fx->loop;
	cw.until = rv_loop_now_ms(fx->loop) + 1200;
	assert_int_equal(rv_loop_poll_run_until(fx->loop, clock_passed, &cw, 3000), 0);
	resolve_wait(fx, "short.test", 80, &g);
	assert_int_equal(g.from_cache, 0);
	assert_true(fx->srv.queries > q);
}

static void test_cache_cap(void **state)
{
	struct fx *fx = *state;
	struct rv_dns_stats st;
	struct got g;
	unsigned q;

	rv_dns_free(fx->dns);
	assert_int_equal(new_dns(fx, 2, 500), RV_OK);
	resolve_wait(fx, "a.test", 1, &g);
	resolve_wait(fx, "b.test", 1, &g);
	resolve_wait(fx, "a.test", 1, &g); /* a is now most recent */
	assert_int_equal(g.from_cache, 1);
	resolve_wait(fx, "c.test", 1, &g); /* evicts b */
	rv_dns_get_stats(fx->dns, &st);
	assert_int_equal(st.cache_entries, 2);
	q = fx->srv.queries;
	resolve_wait(fx, "a.test", 1, &g);
	assert_int_equal(g.from_cache, 1);
	resolve_wait(fx, "b.test", 1, &g);
	assert_int_equal(g.from_cache, 0);
	assert_true(fx->srv.queries > q);

	/* Cache disabled. */
	rv_dns_free(fx->dns);
	assert_int_equal(new_dns(fx, (size_t)-1, 500), RV_OK);
	resolve_wait(fx, "a.test", 1, &g);
	resolve_wait(fx, "a.test", 1, &g);
	assert_int_equal(g.from_cache, 0);
}

static void test_free_pending_and_from_callback(void **state)
{
	struct fx *fx = *state;
	struct got g1, g2, g3;

	/* Free with a lookup in flight and an answer ready: no callbacks. */
	memset(&g1, 0, sizeof(g1));
	memset(&g2, 0, sizeof(g2));
	assert_int_equal(rv_dns_resolve(fx->dns, "timeout.test", 1, got_cb, &g1, NULL), RV_OK);
	assert_int_equal(rv_dns_resolve(fx->dns, "127.0.0.1", 1, got_cb, &g2, NULL), RV_OK);
	rv_dns_free(fx->dns);
	assert_int_equal(new_dns(fx, 0, 500), RV_OK);
	memset(&g3, 0, sizeof(g3));
	assert_int_equal(rv_dns_resolve(fx->dns, "::1", 1, got_cb, &g3, NULL), RV_OK);
	assert_int_equal(rv_loop_poll_run_until(fx->loop, got_called, &g3, 5000), 0);
	assert_int_equal(g1.calls, 0);
	assert_int_equal(g2.calls, 0);

	/* Free from inside a callback while another answer is queued. */
	memset(&g1, 0, sizeof(g1));
	memset(&g2, 0, sizeof(g2));
	g1.free_me = fx->dns;
	assert_int_equal(rv_dns_resolve(fx->dns, "127.0.0.1", 1, got_cb, &g1, NULL), RV_OK);
	assert_int_equal(rv_dns_resolve(fx->dns, "127.0.0.2", 1, got_cb, &g2, NULL), RV_OK);
	assert_int_equal(rv_loop_poll_run_until(fx->loop, got_called, &g1, 5000), 0);
	fx->dns = NULL;
	memset(&g3, 0, sizeof(g3));
	(void)rv_loop_poll_run_once(fx->loop, 50);
	assert_int_equal(g2.calls, 0);
}

static void test_bad_server_config(void **state)
{
	struct fx *fx = *state;
	struct rv_dns_config cfg;
	struct rv_dns *d = NULL;
	char err[200] = "";

	memset(&cfg, 0, sizeof(cfg));
	cfg.servers[0] = "dns.example:53";
	cfg.n_servers = 1;
	assert_int_equal(rv_dns_new(fx->loop, &cfg, &d, err, sizeof(err)), RV_ERR_CONFIG);
	assert_null(d);
	assert_non_null(strstr(err, "dns.example:53"));
	cfg.servers[0] = "[::1]:53";
	cfg.servers[1] = "127.0.0.1:5353";
	cfg.n_servers = 2;
	assert_int_equal(rv_dns_new(fx->loop, &cfg, &d, err, sizeof(err)), RV_OK);
	rv_dns_free(d);
}

/* RFC 6761: localhost and *.localhost are loopback, invalid and
 * *.invalid do not exist; neither is ever sent to a server. */
static void test_special_names(void **state)
{
	static const char *const lo[] = {"localhost", "localhost.", "LocalHost",
					 "foo.localhost", "a.b.localhost."};
	static const char *const inval[] = {"invalid", "invalid.", "x.invalid", "a.b.INVALID"};
	struct fx *fx = *state;
	struct got g;
	unsigned q = fx->srv.queries;
	size_t i;

	for (i = 0; i < sizeof(lo) / sizeof(lo[0]); i++) {
		char s4[RV_SOCKADDR_STRLEN], s6[RV_SOCKADDR_STRLEN];

		resolve_wait(fx, lo[i], 8080, &g);
		assert_int_equal(g.status, RV_STATUS_OK);
		assert_int_equal(g.n, 2);
		assert_string_equal(rv_sockaddr_str(&g.addrs[0], 1, s4), "127.0.0.1:8080");
		assert_string_equal(rv_sockaddr_str(&g.addrs[1], 1, s6), "[::1]:8080");
	}
	for (i = 0; i < sizeof(inval) / sizeof(inval[0]); i++) {
		resolve_wait(fx, inval[i], 80, &g);
		assert_int_equal(g.status, RV_STATUS_HOST_UNREACHABLE);
		assert_int_equal(g.err, RV_ERR_NOT_FOUND);
		assert_int_equal(g.n, 0);
	}
	/* Look-alikes are ordinary names and do go to the server. */
	resolve_wait(fx, "notlocalhost", 80, &g);
	resolve_wait(fx, "localhost.test", 80, &g);
	assert_int_equal(g.status, RV_STATUS_HOST_UNREACHABLE);
	assert_int_equal(fx->srv.queries, q + 4); /* A and AAAA for each */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_a_and_aaaa_then_cache, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nxdomain_negative_cache, setup, teardown),
		cmocka_unit_test_setup_teardown(test_servfail_and_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_literals_and_bad_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_special_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_coalesce, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ttl_expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_pending_and_from_callback, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bad_server_config, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
