/* Shared scaffolding of the session unit tests; see session_harness.h. */
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

#include "rv_err.h"
#include "rv_keys.h"
#include "rv_loop_poll.h"
#include "session_harness.h"

int sh_pair_new(struct rv_loop *loop, const struct rv_session_config *ccfg,
		const struct rv_session_config *scfg, const struct rv_session_callbacks *cb,
		struct rv_ratchet **alice_clone, struct rv_session **cli,
		struct rv_session **srv)
{
	struct rv_ratchet_config rc = { .aead = RV_AEAD_CHACHA20POLY1305, .min_interval_ms = 0 };
	struct rv_ratchet *a = NULL, *b = NULL;
	struct rv_session_config cc = { 0 }, sc = { 0 };
	uint8_t sk[RV_KEY_LEN], ad[RV_HASH_LEN];
	struct rv_keypair bob;
	int rc_cli;

	randombytes_buf(sk, sizeof(sk));
	randombytes_buf(ad, sizeof(ad));
	assert_int_equal(rv_keypair_generate(&bob), RV_OK);
	assert_int_equal(rv_ratchet_init_alice(&a, &rc, sk, bob.pub, ad), RV_OK);
	assert_int_equal(rv_ratchet_init_bob(&b, &rc, sk, &bob, ad), RV_OK);
	rv_keypair_wipe(&bob);
	if (alice_clone != NULL)
		assert_int_equal(rv_ratchet_clone(a, alice_clone), RV_OK);
	if (ccfg != NULL)
		cc = *ccfg;
	if (scfg != NULL)
		sc = *scfg;
	cc.role = RV_SESSION_CLIENT;
	sc.role = RV_SESSION_SERVER;
	rc_cli = rv_session_new(loop, &cc, a, cb, cli);
	assert_int_equal(rv_session_new(loop, &sc, b, cb, srv), RV_OK);
	return rc_cli;
}

int sh_pump_dir(struct rv_session *from, struct rv_session *to, int max, unsigned flags,
		size_t *max_len)
{
	uint8_t *m;
	size_t len;
	int n = 0;

	while (n < max && rv_session_next_message(from, &m, &len) == 1) {
		if (max_len != NULL && len > *max_len)
			*max_len = len;
		if (!(flags & SH_PUMP_SKIP_CLOSED) || rv_session_get_state(to) != RV_SESSION_CLOSED)
			(void)rv_session_on_message(to, m, len);
		rv_session_message_sent(from);
		n++;
	}
	return n;
}

int sh_round(struct rv_loop *loop, struct rv_session *cli, struct rv_session *srv,
	     int timeout_ms)
{
	int moved = sh_pump_dir(cli, srv, SH_PUMP_MAX, 0, NULL);

	moved += sh_pump_dir(srv, cli, SH_PUMP_MAX, 0, NULL);
	assert_true(rv_loop_poll_run_once(loop, timeout_ms) >= 0);
	return moved;
}

void sh_pump_quiet(struct rv_loop *loop, struct rv_session *cli, struct rv_session *srv,
		   int max_rounds)
{
	int moved = 1;

	for (int i = 0; i < max_rounds && moved; i++)
		moved = sh_round(loop, cli, srv, 0);
}

void sh_read_exact(struct rv_loop *loop, struct rv_session *cli, struct rv_session *srv,
		   int fd, void *out, size_t want, uint32_t max_ms)
{
	uint64_t start = rv_loop_now_ms(loop);
	size_t got = 0;
	ssize_t n;

	while (got < want && rv_loop_now_ms(loop) - start < max_ms) {
		sh_round(loop, cli, srv, 1);
		n = read(fd, (uint8_t *)out + got, want - got);
		if (n > 0)
			got += (size_t)n;
	}
	assert_int_equal(got, want);
}

void sh_socketpair(int sv[2], int type_flags)
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | type_flags, 0, sv), 0);
}

void sh_accept_loopback(struct rv_stream *st, int fd, uint16_t port)
{
	const uint8_t lo[4] = { 127, 0, 0, 1 };
	struct rv_addr bound;

	rv_addr_set_ipv4(&bound, lo, port);
	assert_int_equal(rv_stream_accept(st, fd, &bound), RV_OK);
}

void sh_drain_fd(int fd, uint8_t **got, size_t *got_len, size_t per_pass)
{
	uint8_t buf[65536];
	size_t want = per_pass > 0 && per_pass < sizeof(buf) ? per_pass : sizeof(buf);
	ssize_t n;

	if (fd < 0)
		return;
	while ((n = read(fd, buf, want)) > 0) {
		*got = realloc(*got, *got_len + (size_t)n);
		assert_non_null(*got);
		memcpy(*got + *got_len, buf, (size_t)n);
		*got_len += (size_t)n;
		if (per_pass > 0)
			break;
	}
}

void sh_ep_update(struct sh_ep *e)
{
	unsigned ev = !e->limited || e->quota > 0 ? RV_LOOP_READ : 0;

	if (e->sent < e->out_len)
		ev |= RV_LOOP_WRITE;
	rv_loop_fd_set_events(e->w, ev);
}

static void sh_ep_cb(struct rv_loop_fd *w, int fd, unsigned ev, void *arg)
{
	struct sh_ep *e = arg;
	uint8_t buf[65536];
	ssize_t n;

	(void)w;
	if ((ev & RV_LOOP_WRITE) && e->sent < e->out_len) {
		n = send(fd, e->out + e->sent, e->out_len - e->sent, MSG_NOSIGNAL);
		if (n > 0)
			e->sent += (size_t)n;
	}
	if (ev & RV_LOOP_READ) {
		size_t want = e->limited && e->quota < sizeof(buf) ? e->quota : sizeof(buf);

		n = want > 0 ? read(fd, buf, want) : 0;
		if (e->limited && n > 0)
			e->quota -= (size_t)n;
		for (ssize_t i = 0; i < n && e->got + (size_t)i < sizeof(e->first); i++)
			e->first[e->got + (size_t)i] = buf[i];
		if (n > 0)
			e->got += (size_t)n;
	}
	sh_ep_update(e);
}

void sh_ep_init(struct rv_loop *loop, struct sh_ep *e, int fd)
{
	memset(e, 0, sizeof(*e));
	e->fd = fd;
	assert_int_equal(rv_loop_fd_add(loop, fd, RV_LOOP_READ, sh_ep_cb, e, &e->w), RV_OK);
}

void sh_ep_send(struct sh_ep *e, const uint8_t *p, size_t len)
{
	e->out = p;
	e->out_len = len;
	e->sent = 0;
	sh_ep_update(e);
}

void sh_ep_close(struct sh_ep *e)
{
	rv_loop_fd_del(e->w);
	e->w = NULL;
	close(e->fd);
	e->fd = -1;
}

static void sh_bulk_connect(struct rv_session *s, struct rv_stream *st, const struct rv_addr *dst,
			    void *arg)
{
	struct sh_bulk *h = arg;
	int sv[2];

	(void)s;
	(void)dst;
	sh_socketpair(sv, SOCK_NONBLOCK);
	if (h->tgt_sndbuf > 0)
		assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &h->tgt_sndbuf,
					    sizeof(h->tgt_sndbuf)), 0);
	h->tgt_fd = sv[1];
	sh_accept_loopback(st, sv[0], 1);
}

static void sh_bulk_response(struct rv_stream *st, enum rv_status status,
			     const struct rv_addr *bound, void *arg)
{
	struct sh_bulk *h = arg;

	(void)st;
	(void)bound;
	assert_int_equal(status, RV_STATUS_OK);
	h->responded = 1;
}

int sh_bulk_init(struct sh_bulk *h, size_t max_message, size_t headroom)
{
	struct rv_session_callbacks cb = {
		.on_stream_connect = sh_bulk_connect,
		.on_stream_response = sh_bulk_response,
		.arg = h,
	};
	struct rv_session_config cc = { .headroom = headroom, .max_message = max_message };
	struct rv_session_config sc = { .headroom = headroom };

	memset(h, 0, sizeof(*h));
	h->tgt_fd = -1;
	assert_int_equal(rv_loop_poll_new(&h->loop), RV_OK);
	return sh_pair_new(h->loop, &cc, &sc, &cb, NULL, &h->cli, &h->srv);
}

void sh_bulk_free(struct sh_bulk *h)
{
	rv_session_free(h->cli);
	rv_session_free(h->srv);
	if (h->tgt_fd >= 0)
		close(h->tgt_fd);
	free(h->got);
	rv_loop_poll_free(h->loop);
}

void sh_bulk_run_until(struct sh_bulk *h, size_t want, uint32_t max_ms)
{
	uint64_t start = rv_loop_now_ms(h->loop);
	int i, moved;

	for (i = 0; i < 1000000; i++) {
		moved = sh_pump_dir(h->cli, h->srv, SH_PUMP_MAX, 0, &h->max_seen_c2s) +
			sh_pump_dir(h->srv, h->cli, SH_PUMP_MAX, 0, NULL);
		sh_drain_fd(h->tgt_fd, &h->got, &h->got_len, h->drain_max);
		if (h->responded && h->got_len >= want)
			return;
		if (rv_loop_now_ms(h->loop) - start >= max_ms)
			return;
		assert_true(rv_loop_poll_run_once(h->loop, moved ? 0 : 2) >= 0);
	}
}
