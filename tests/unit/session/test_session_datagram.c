/* Datagrams through two sessions paired in memory (PROTOCOL.md §6.11,
 * §6.12, §8A): both directions with every address type, CLOSE both ways,
 * priority over bulk DATA (a datagram queued behind a full data queue
 * leaves in the very next message), drops when the datagram queue is full
 * (counted, queue bounded), too long refused locally, not agreed = local
 * refusal and a protocol error at the receiver.  One rv_loop_poll; every
 * wait is bounded. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
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

enum { WAIT_MS = 10000, MAX_GOT = 256 };

struct got {
	uint32_t assoc;
	struct rv_addr peer;
	size_t len;
	uint8_t first;
};

struct h {
	struct rv_loop *loop;
	struct rv_session *cli, *srv;
	int tgt_fd;
	int responded;
	struct got srv_got[MAX_GOT], cli_got[MAX_GOT];
	unsigned n_srv_got, n_cli_got;
	uint32_t closed_assoc[2];
	uint8_t closed_reason[2];
	int srv_closed_err, cli_closed_err;
};

static void cb_connect(struct rv_session *s, struct rv_stream *st, const struct rv_addr *dst,
		       void *arg)
{
	struct h *h = arg;
	int sv[2];

	(void)s;
	(void)dst;
	sh_socketpair(sv, SOCK_NONBLOCK);
	h->tgt_fd = sv[1];
	sh_accept_loopback(st, sv[0], 1);
}

static void cb_response(struct rv_stream *st, enum rv_status status, const struct rv_addr *bound,
			void *arg)
{
	struct h *h = arg;

	(void)st;
	(void)bound;
	assert_int_equal(status, RV_STATUS_OK);
	h->responded = 1;
}

static void cb_datagram(struct rv_session *s, uint32_t assoc, const struct rv_addr *peer,
			const uint8_t *data, size_t len, void *arg)
{
	struct h *h = arg;
	int srv = s == h->srv;
	struct got *g = srv ? &h->srv_got[h->n_srv_got] : &h->cli_got[h->n_cli_got];

	assert_true((srv ? h->n_srv_got : h->n_cli_got) < MAX_GOT);
	g->assoc = assoc;
	g->peer = *peer;
	g->len = len;
	g->first = len > 0 ? data[0] : 0;
	if (srv)
		h->n_srv_got++;
	else
		h->n_cli_got++;
}

static void cb_datagram_close(struct rv_session *s, uint32_t assoc, uint8_t reason, void *arg)
{
	struct h *h = arg;
	int i = s == h->srv ? 0 : 1;

	h->closed_assoc[i] = assoc;
	h->closed_reason[i] = reason;
}

static void cb_closed(struct rv_session *s, int err, void *arg)
{
	struct h *h = arg;

	if (s == h->srv)
		h->srv_closed_err = err;
	else
		h->cli_closed_err = err;
}

static const struct rv_session_callbacks callbacks = {
	.on_stream_connect = cb_connect,
	.on_stream_response = cb_response,
	.on_datagram = cb_datagram,
	.on_datagram_close = cb_datagram_close,
	.on_closed = cb_closed,
};

static void h_init_cfg(struct h *h, struct rv_session_config *cc, struct rv_session_config *sc)
{
	struct rv_session_callbacks cb = callbacks;

	memset(h, 0, sizeof(*h));
	h->tgt_fd = -1;
	assert_int_equal(rv_loop_poll_new(&h->loop), RV_OK);
	cb.arg = h;
	assert_int_equal(sh_pair_new(h->loop, cc, sc, &cb, NULL, &h->cli, &h->srv), RV_OK);
}

static void h_init(struct h *h)
{
	struct rv_session_config cc = { .datagram = 1 }, sc = { .datagram = 1 };

	h_init_cfg(h, &cc, &sc);
}

static void h_free(struct h *h)
{
	rv_session_free(h->cli);
	rv_session_free(h->srv);
	if (h->tgt_fd >= 0)
		close(h->tgt_fd);
	rv_loop_poll_free(h->loop);
}

static void pump(struct h *h)
{
	sh_pump_quiet(h->loop, h->cli, h->srv, 1000);
}

static void test_exchange(void **state)
{
	struct h h;
	struct rv_addr dst, src;
	struct rv_session_stats cs, ss;
	const uint8_t v6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
	const uint8_t v4[4] = { 192, 0, 2, 53 };
	uint8_t big[RV_DATAGRAM_MAX];

	(void)state;
	memset(big, 0x77, sizeof(big));
	h_init(&h);
	pump(&h); /* client's first message: the server may send */
	assert_int_equal(rv_addr_set_domain(&dst, "dns.example", 11, 53), RV_OK);
	assert_int_equal(rv_session_datagram_send(h.cli, 1, &dst, (const uint8_t *)"q1", 2), RV_OK);
	rv_addr_set_ipv6(&dst, v6, 443);
	assert_int_equal(rv_session_datagram_send(h.cli, 2, &dst, NULL, 0), RV_OK);
	assert_int_equal(rv_session_datagram_send(h.cli, 2, &dst, big, sizeof(big)), RV_OK);
	pump(&h);
	assert_int_equal(h.n_srv_got, 3);
	assert_int_equal(h.srv_got[0].assoc, 1);
	assert_int_equal(h.srv_got[0].peer.atyp, RV_ATYP_DOMAIN);
	assert_string_equal(h.srv_got[0].peer.domain, "dns.example");
	assert_int_equal(h.srv_got[0].peer.port, 53);
	assert_int_equal(h.srv_got[0].len, 2);
	assert_int_equal(h.srv_got[0].first, 'q');
	assert_int_equal(h.srv_got[1].len, 0);
	assert_true(rv_addr_equal(&h.srv_got[1].peer, &dst));
	assert_int_equal(h.srv_got[2].len, RV_DATAGRAM_MAX);
	/* replies: source is an IP; a name is refused locally */
	rv_addr_set_ipv4(&src, v4, 53);
	assert_int_equal(rv_session_datagram_send(h.srv, 1, &src, (const uint8_t *)"a1", 2), RV_OK);
	assert_int_equal(rv_addr_set_domain(&dst, "x.example", 9, 53), RV_OK);
	assert_int_equal(rv_session_datagram_send(h.srv, 1, &dst, (const uint8_t *)"a", 1),
			 RV_ERR_INVALID_ARG);
	/* close both ways */
	assert_int_equal(rv_session_datagram_close(h.srv, 2, RV_DGRAM_CLOSE_IDLE_TIMEOUT), RV_OK);
	assert_int_equal(rv_session_datagram_close(h.cli, 1, RV_DGRAM_CLOSE_NORMAL), RV_OK);
	pump(&h);
	assert_int_equal(h.n_cli_got, 1);
	assert_int_equal(h.cli_got[0].assoc, 1);
	assert_true(rv_addr_equal(&h.cli_got[0].peer, &src));
	assert_int_equal(h.cli_got[0].first, 'a');
	assert_int_equal(h.closed_assoc[0], 1);
	assert_int_equal(h.closed_reason[0], RV_DGRAM_CLOSE_NORMAL);
	assert_int_equal(h.closed_assoc[1], 2);
	assert_int_equal(h.closed_reason[1], RV_DGRAM_CLOSE_IDLE_TIMEOUT);
	rv_session_get_stats(h.cli, &cs);
	rv_session_get_stats(h.srv, &ss);
	assert_int_equal(cs.dgram_sent, 3);
	assert_int_equal(cs.dgram_sent_bytes, 2 + RV_DATAGRAM_MAX);
	assert_int_equal(ss.dgram_received, 3);
	assert_int_equal(ss.dgram_received_bytes, 2 + RV_DATAGRAM_MAX);
	assert_int_equal(ss.dgram_sent, 1);
	assert_int_equal(cs.dgram_received, 1);
	assert_int_equal(cs.dgram_closes_sent, 1);
	assert_int_equal(cs.dgram_closes_received, 1);
	assert_int_equal(ss.dgram_closes_received, 1);
	assert_int_equal(h.srv_closed_err, 0);
	assert_int_equal(h.cli_closed_err, 0);
	h_free(&h);
}

static void test_bad_args(void **state)
{
	struct h h;
	struct rv_addr dst;
	struct rv_session_stats cs;
	const uint8_t v4[4] = { 192, 0, 2, 1 };
	static uint8_t big[RV_DATAGRAM_MAX + 1];

	(void)state;
	h_init(&h);
	rv_addr_set_ipv4(&dst, v4, 9);
	assert_int_equal(rv_session_datagram_send(h.cli, 0, &dst, big, 1), RV_ERR_INVALID_ARG);
	assert_int_equal(rv_session_datagram_send(h.cli, 1, &dst, NULL, 1), RV_ERR_INVALID_ARG);
	assert_int_equal(rv_session_datagram_send(h.cli, 1, &dst, big, sizeof(big)),
			 RV_ERR_INVALID_ARG);
	assert_int_equal(rv_session_datagram_close(h.cli, 0, RV_DGRAM_CLOSE_NORMAL),
			 RV_ERR_INVALID_ARG);
	assert_int_equal(rv_session_datagram_close(h.cli, 1, 0), RV_ERR_INVALID_ARG);
	assert_int_equal(rv_session_datagram_close(h.cli, 1, RV_DGRAM_CLOSE_SHUTDOWN + 1),
			 RV_ERR_INVALID_ARG);
	rv_session_get_stats(h.cli, &cs);
	assert_int_equal(cs.dgram_dropped_long, 1);
	assert_int_equal(cs.dgram_sent, 0);
	assert_int_equal(rv_session_send_queue_bytes(h.cli) < 64, 1); /* the first PING only */
	h_free(&h);
}

/* A smaller max_message: a datagram whose frame does not fit is too long. */
static void test_max_message(void **state)
{
	struct h h;
	struct rv_session_config cc = { .datagram = 1, .max_message = 4096 },
				 sc = { .datagram = 1 };
	struct rv_addr dst;
	struct rv_session_stats cs;
	const uint8_t v4[4] = { 192, 0, 2, 1 };
	static uint8_t buf[4096];
	size_t fit = 4096 - 60 - 3 - 11; /* overhead, frame header, fixed + IPv4 */

	(void)state;
	h_init_cfg(&h, &cc, &sc);
	rv_addr_set_ipv4(&dst, v4, 9);
	assert_int_equal(rv_session_datagram_send(h.cli, 1, &dst, buf, fit), RV_OK);
	assert_int_equal(rv_session_datagram_send(h.cli, 1, &dst, buf, fit + 1),
			 RV_ERR_INVALID_ARG);
	rv_session_get_stats(h.cli, &cs);
	assert_int_equal(cs.dgram_dropped_long, 1);
	pump(&h);
	assert_int_equal(h.n_srv_got, 1);
	assert_int_equal(h.srv_got[0].len, fit);
	h_free(&h);
}

/* The queue is bounded: sends beyond it are dropped (RV_ERR_LIMIT,
 * counted) and memory does not grow; what was queued arrives. */
static void test_queue_full(void **state)
{
	struct h h;
	struct rv_session_config cc = { .datagram = 1, .datagram_queue = 8192 },
				 sc = { .datagram = 1 };
	struct rv_addr dst;
	struct rv_session_stats cs;
	const uint8_t v4[4] = { 192, 0, 2, 1 };
	uint8_t buf[1000];
	unsigned i, ok = 0, dropped = 0;
	size_t base;
	int r;

	(void)state;
	memset(buf, 1, sizeof(buf));
	h_init_cfg(&h, &cc, &sc);
	base = rv_session_send_queue_bytes(h.cli);
	rv_addr_set_ipv4(&dst, v4, 9);
	for (i = 0; i < 1000; i++) {
		buf[0] = (uint8_t)i;
		r = rv_session_datagram_send(h.cli, 1, &dst, buf, sizeof(buf));
		assert_true(r == RV_OK || r == RV_ERR_LIMIT);
		if (r == RV_OK)
			ok++;
		else
			dropped++;
		assert_true(rv_session_send_queue_bytes(h.cli) <= base + 8192);
	}
	assert_int_equal(ok, 8192 / (sizeof(buf) + 3 + 11));
	assert_int_equal(ok + dropped, 1000);
	rv_session_get_stats(h.cli, &cs);
	assert_int_equal(cs.dgram_dropped_queue, dropped);
	assert_int_equal(cs.dgram_sent, ok);
	pump(&h);
	assert_int_equal(h.n_srv_got, ok);
	for (i = 0; i < ok; i++)
		assert_int_equal(h.srv_got[i].first, (uint8_t)i); /* in order */
	/* drained: room again */
	assert_int_equal(rv_session_datagram_send(h.cli, 1, &dst, buf, sizeof(buf)), RV_OK);
	h_free(&h);
}

/* Bulk DATA fills the client's data queue; a datagram queued after it
 * leaves in the next message. */
static void test_priority(void **state)
{
	struct h h;
	struct rv_addr dst;
	struct rv_stream *st = NULL;
	static uint8_t bulk[256 * 1024];
	const uint8_t v4[4] = { 192, 0, 2, 1 };
	size_t queued;
	int sv[2], i, msgs;
	ssize_t n;

	(void)state;
	h_init(&h);
	rv_addr_set_ipv4(&dst, v4, 80);
	sh_socketpair(sv, SOCK_NONBLOCK);
	assert_int_equal(rv_session_stream_open(h.cli, sv[0], &dst, NULL, 0, NULL, &st), RV_OK);
	for (i = 0; i < 1000 && !h.responded; i++)
		sh_round(h.loop, h.cli, h.srv, 1);
	assert_true(h.responded);
	/* The app writes; the session reads into its data queue (no pumping). */
	for (i = 0; i < 200 && rv_session_send_queue_bytes(h.cli) < 4 * RV_MSG_MAX; i++) {
		n = write(sv[1], bulk, sizeof(bulk));
		assert_true(n > 0 || errno == EAGAIN);
		assert_true(rv_loop_poll_run_once(h.loop, 1) >= 0);
	}
	queued = rv_session_send_queue_bytes(h.cli);
	print_message("bulk queued ahead: %zu bytes\n", queued);
	assert_true(queued >= 4 * RV_MSG_MAX);
	assert_int_equal(rv_session_datagram_send(h.cli, 7, &dst, (const uint8_t *)"rt", 2), RV_OK);
	msgs = sh_pump_dir(h.cli, h.srv, 1, 0, NULL);
	assert_int_equal(msgs, 1);
	assert_int_equal(h.n_srv_got, 1);
	assert_int_equal(h.srv_got[0].assoc, 7);
	close(sv[1]);
	h_free(&h);
}

/* Not agreed: sending is refused locally; receiving is a protocol error. */
static void test_not_agreed(void **state)
{
	struct h h;
	struct rv_session_config cc = { .datagram = 1 }, sc = { .datagram = 0 };
	struct rv_session_config cc2 = { 0 }, sc2 = { 0 };
	struct rv_addr dst;
	const uint8_t v4[4] = { 192, 0, 2, 1 };

	(void)state;
	rv_addr_set_ipv4(&dst, v4, 9);
	h_init_cfg(&h, &cc2, &sc2);
	assert_int_equal(rv_session_datagram_send(h.cli, 1, &dst, v4, 4), RV_ERR_STATE);
	assert_int_equal(rv_session_datagram_close(h.cli, 1, RV_DGRAM_CLOSE_NORMAL), RV_ERR_STATE);
	h_free(&h);

	h_init_cfg(&h, &cc, &sc);
	assert_int_equal(rv_session_datagram_send(h.cli, 1, &dst, v4, 4), RV_OK);
	pump(&h);
	assert_int_equal(h.n_srv_got, 0);
	assert_int_equal(h.srv_closed_err, RV_ERR_MALFORMED);
	assert_int_equal(rv_session_get_state(h.srv), RV_SESSION_CLOSED);
	h_free(&h);

	/* a CLOSE alone too */
	h_init_cfg(&h, &cc, &sc);
	assert_int_equal(rv_session_datagram_close(h.cli, 1, RV_DGRAM_CLOSE_NORMAL), RV_OK);
	pump(&h);
	assert_int_equal(h.srv_closed_err, RV_ERR_MALFORMED);
	h_free(&h);
}

/* Id rules at the session: the server's session passes new and old ids
 * (the owner drops those it closed), the client's likewise; after a
 * session ends, sending is refused. */
static void test_ids_and_closed(void **state)
{
	struct h h;
	struct rv_addr dst;
	const uint8_t v4[4] = { 192, 0, 2, 1 };

	(void)state;
	h_init(&h);
	rv_addr_set_ipv4(&dst, v4, 9);
	assert_int_equal(rv_session_datagram_send(h.cli, 5, &dst, v4, 1), RV_OK);
	assert_int_equal(rv_session_datagram_send(h.cli, 3, &dst, v4, 1), RV_OK);
	assert_int_equal(rv_session_datagram_send(h.cli, 0xffffffffu, &dst, v4, 1), RV_OK);
	pump(&h);
	assert_int_equal(h.n_srv_got, 3);
	assert_int_equal(h.srv_got[0].assoc, 5);
	assert_int_equal(h.srv_got[1].assoc, 3);
	assert_int_equal(h.srv_got[2].assoc, 0xffffffffu);
	assert_int_equal(h.srv_closed_err, 0);
	assert_int_equal(rv_session_goaway(h.cli, RV_GOAWAY_SHUTDOWN), RV_OK);
	assert_int_equal(rv_session_datagram_send(h.cli, 6, &dst, v4, 1), RV_ERR_STATE);
	h_free(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exchange),
		cmocka_unit_test(test_bad_args),
		cmocka_unit_test(test_max_message),
		cmocka_unit_test(test_queue_full),
		cmocka_unit_test(test_priority),
		cmocka_unit_test(test_not_agreed),
		cmocka_unit_test(test_ids_and_closed),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
