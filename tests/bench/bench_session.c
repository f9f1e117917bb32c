/* bench_session: throughput of the tunnel core alone (rv_session/rv_stream
 * with the real ratchet), client and server paired in memory on one
 * rv_loop_poll, one stream over socketpairs, data one way.  No WebSocket,
 * no TLS: this is the ceiling the core puts on the programs.
 * Usage: bench_session [MiB] (default 256). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "rv_addr.h"
#include "rv_err.h"
#include "rv_keys.h"
#include "rv_log.h"
#include "rv_loop.h"
#include "rv_loop_poll.h"
#include "rv_ratchet.h"
#include "rv_session.h"
#include "rv_stream.h"

struct bench {
	struct rv_loop *loop;
	struct rv_session *cli, *srv;
	int app_fd, tgt_fd;
	struct rv_loop_fd *app_w, *tgt_w;
	size_t total, sent, got;
	int opened;
	uint8_t buf[65536];
};

static void connect_cb(struct rv_session *s, struct rv_stream *st, const struct rv_addr *dst,
		       void *arg)
{
	struct bench *b = arg;
	int sv[2];

	(void)s;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) != 0) {
		rv_stream_reject(st, RV_STATUS_GENERAL_FAILURE);
		return;
	}
	b->tgt_fd = sv[1];
	rv_stream_accept(st, sv[0], dst);
}

static void response_cb(struct rv_stream *st, enum rv_status status, const struct rv_addr *bound,
			void *arg)
{
	(void)st;
	(void)bound;
	((struct bench *)arg)->opened = status == RV_STATUS_OK ? 1 : -1;
}

static void app_cb(struct rv_loop_fd *w, int fd, unsigned ev, void *arg)
{
	struct bench *b = arg;
	size_t want = b->total - b->sent;
	ssize_t n;

	(void)ev;
	n = send(fd, b->buf, want > sizeof(b->buf) ? sizeof(b->buf) : want, MSG_NOSIGNAL);
	if (n > 0)
		b->sent += (size_t)n;
	if (b->sent == b->total)
		rv_loop_fd_set_events(w, 0);
}

static void tgt_cb(struct rv_loop_fd *w, int fd, unsigned ev, void *arg)
{
	struct bench *b = arg;
	uint8_t tmp[65536];
	ssize_t n;

	(void)w;
	(void)ev;
	n = read(fd, tmp, sizeof(tmp));
	if (n > 0)
		b->got += (size_t)n;
}

static void pump(struct rv_session *from, struct rv_session *to)
{
	uint8_t *m;
	size_t len;
	int i;

	for (i = 0; i < 64 && rv_session_next_message(from, &m, &len) == 1; i++) {
		rv_session_on_message(to, m, len);
		rv_session_message_sent(from);
	}
}

int main(int argc, char **argv)
{
	static struct bench b;
	struct rv_ratchet_config rc = { .aead = RV_AEAD_CHACHA20POLY1305,
					 .min_interval_ms = RV_RATCHET_DEFAULT_INTERVAL_MS };
	struct rv_session_config cc = { .role = RV_SESSION_CLIENT };
	struct rv_session_config sc = { .role = RV_SESSION_SERVER };
	struct rv_session_callbacks cb = { .on_stream_connect = connect_cb,
					   .on_stream_response = response_cb, .arg = &b };
	struct rv_ratchet *ra, *rb;
	struct rv_keypair bob;
	struct rv_session_stats st;
	struct rv_addr dst;
	struct rv_stream *s;
	uint8_t sk[RV_KEY_LEN], ad[RV_HASH_LEN];
	uint64_t t0, t1;
	int sv[2], aead;

	if (sodium_init() < 0)
		return 1;
	rv_log_init("bench_session", RV_LOG_WARN);
	b.total = (size_t)(argc > 1 ? atoi(argv[1]) : 256) << 20;
	for (aead = RV_AEAD_CHACHA20POLY1305; aead <= RV_AEAD_AES256GCM; aead++) {
		if (aead == RV_AEAD_AES256GCM && !crypto_aead_aes256gcm_is_available())
			continue;
		rc.aead = (enum rv_aead)aead;
		b.sent = b.got = 0;
		b.opened = 0;
		randombytes_buf(sk, sizeof(sk));
		randombytes_buf(ad, sizeof(ad));
		randombytes_buf(b.buf, sizeof(b.buf));
		if (rv_loop_poll_new(&b.loop) < 0 || rv_keypair_generate(&bob) < 0 ||
		    rv_ratchet_init_alice(&ra, &rc, sk, bob.pub, ad) < 0 ||
		    rv_ratchet_init_bob(&rb, &rc, sk, &bob, ad) < 0 ||
		    rv_session_new(b.loop, &cc, ra, &cb, &b.cli) < 0 ||
		    rv_session_new(b.loop, &sc, rb, &cb, &b.srv) < 0)
			return 1;
		rv_addr_set_domain(&dst, "bench.test", 10, 80);
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) != 0 ||
		    rv_session_stream_open(b.cli, sv[0], &dst, NULL, 0, NULL, &s) < 0)
			return 1;
		b.app_fd = sv[1];
		while (b.opened == 0) {
			pump(b.cli, b.srv);
			pump(b.srv, b.cli);
			rv_loop_poll_run_once(b.loop, 1);
		}
		rv_loop_fd_add(b.loop, b.app_fd, RV_LOOP_WRITE, app_cb, &b, &b.app_w);
		rv_loop_fd_add(b.loop, b.tgt_fd, RV_LOOP_READ, tgt_cb, &b, &b.tgt_w);
		t0 = rv_loop_now_ms(b.loop);
		while (b.got < b.total && rv_loop_now_ms(b.loop) - t0 < 120000) {
			pump(b.cli, b.srv);
			pump(b.srv, b.cli);
			rv_loop_poll_run_once(b.loop, 0);
		}
		t1 = rv_loop_now_ms(b.loop);
		rv_session_get_stats(b.cli, &st);
		printf("bench_session %s: %zu MiB in %llu ms = %.0f MB/s, %llu messages (%.1f KiB avg)%s\n",
		       aead == RV_AEAD_AES256GCM ? "aes256gcm" : "chacha20poly1305",
		       b.got >> 20, (unsigned long long)(t1 - t0),
		       (double)b.got / 1e6 / ((double)(t1 - t0 + 1) / 1e3),
		       (unsigned long long)st.msgs_out,
		       st.msgs_out ? (double)st.bytes_out / 1024.0 / (double)st.msgs_out : 0.0,
		       b.got < b.total ? " (INCOMPLETE)" : "");
		rv_loop_fd_del(b.app_w);
		rv_loop_fd_del(b.tgt_w);
		rv_session_free(b.cli);
		rv_session_free(b.srv);
		close(b.app_fd);
		close(b.tgt_fd);
		rv_loop_poll_free(b.loop);
		rv_keypair_wipe(&bob);
	}
	return 0;
}
