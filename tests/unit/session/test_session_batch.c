/* Tests for bulk relay through a session: several DATA frames filled by
 * one readv(), consecutive DATA frames of a stream delivered with one
 * sendmsg() (a partial write leaves the rest, from inside a frame, in the
 * stream's fd buffer).  A client session and a server session paired in
 * memory on one rv_loop_poll; every wait is bounded. */
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

/* Smaller under ASan (CI runs the suite twice, once sanitized). */
#if defined(__SANITIZE_ADDRESS__)
enum { UPLOAD = 640 * 1024 + 11 };
#else
enum { UPLOAD = 3 * 1024 * 1024 + 11 };
#endif
enum { WAIT_MS = 20000, HEADROOM = 16 };

struct h {
	struct rv_loop *loop;
	struct rv_session *cli, *srv;
	size_t max_seen_c2s;     /* largest client -> server message */
	int tgt_fd;              /* server side of the target socketpair */
	size_t drain_max;        /* bytes read from the target per pass (0: all) */
	int tgt_sndbuf;          /* SO_SNDBUF of the server's target socket (0: default) */
	uint8_t *got;
	size_t got_len;
	int responded;
};

static void cb_connect(struct rv_session *s, struct rv_stream *st, const struct rv_addr *dst,
		       void *arg)
{
	struct h *h = arg;
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

static void cb_response(struct rv_stream *st, enum rv_status status, const struct rv_addr *bound,
			void *arg)
{
	struct h *h = arg;

	(void)st;
	(void)bound;
	assert_int_equal(status, RV_STATUS_OK);
	h->responded = 1;
}

static const struct rv_session_callbacks callbacks = {
	.on_stream_connect = cb_connect,
	.on_stream_response = cb_response,
};

static int h_init(struct h *h, size_t max_message)
{
	struct rv_session_callbacks cb = callbacks;
	struct rv_session_config cc = { .headroom = HEADROOM, .max_message = max_message };
	struct rv_session_config sc = { .headroom = HEADROOM };

	memset(h, 0, sizeof(*h));
	h->tgt_fd = -1;
	assert_int_equal(rv_loop_poll_new(&h->loop), RV_OK);
	cb.arg = h;
	return sh_pair_new(h->loop, &cc, &sc, &cb, NULL, &h->cli, &h->srv);
}

static void h_free(struct h *h)
{
	rv_session_free(h->cli);
	rv_session_free(h->srv);
	if (h->tgt_fd >= 0)
		close(h->tgt_fd);
	free(h->got);
	rv_loop_poll_free(h->loop);
}

static void run_until(struct h *h, size_t want, uint32_t max_ms)
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

/* Upload through one stream, the app side writing as fast as the socket
 * takes it; the target reads drain bytes per pass (0: all it can).  Every
 * byte must arrive once and in order, whatever the split between direct
 * writes and the stream's fd buffer. */
static void upload(size_t drain, int sndbuf, int app_sndbuf)
{
	struct h h;
	struct rv_addr dst;
	struct rv_stream *st = NULL;
	uint8_t *data = malloc(UPLOAD);
	size_t off = 0;
	int sv[2];

	assert_non_null(data);
	randombytes_buf(data, UPLOAD);
	assert_int_equal(h_init(&h, 0), RV_OK);
	h.drain_max = drain;
	h.tgt_sndbuf = sndbuf;
	assert_int_equal(rv_addr_set_domain(&dst, "bulk.example.test", 17, 443), RV_OK);
	sh_socketpair(sv, SOCK_NONBLOCK);
	if (app_sndbuf > 0)
		assert_int_equal(setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &app_sndbuf,
					    sizeof(app_sndbuf)), 0);
	assert_int_equal(rv_session_stream_open(h.cli, sv[0], &dst, NULL, 0, NULL, &st), RV_OK);
	for (int i = 0; i < 200000 && (off < UPLOAD || h.got_len < UPLOAD); i++) {
		if (off < UPLOAD) {
			ssize_t n = write(sv[1], data + off, UPLOAD - off);

			if (n > 0)
				off += (size_t)n;
			else
				assert_true(errno == EAGAIN);
		}
		run_until(&h, off, 5);
	}
	run_until(&h, UPLOAD, WAIT_MS);
	assert_int_equal(h.got_len, UPLOAD);
	assert_memory_equal(h.got, data, UPLOAD);
	assert_true(h.max_seen_c2s <= RV_MSG_MAX);
	close(sv[1]);
	h_free(&h);
	free(data);
}

/* Big reads: one readv fills several DATA frames of a message. */
static void test_bulk_fast_reader(void **state)
{
	(void)state;
	upload(0, 0, 1 << 20);
}

/* The target takes little at a time: sendmsg of a batch of frames writes
 * part of it and the rest (from the middle of a frame) waits in obuf. */
static void test_bulk_slow_reader(void **state)
{
	(void)state;
	upload(3001, 4096, 1 << 20);
	upload(65536 + 5, 8192, 0);
}

/* Small app writes: reads find less than a frame, frames are cut short. */
static void test_bulk_small_writes(void **state)
{
	(void)state;
	upload(0, 0, 4096);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bulk_fast_reader),
		cmocka_unit_test(test_bulk_slow_reader),
		cmocka_unit_test(test_bulk_small_writes),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
