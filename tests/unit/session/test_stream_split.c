/* Tests for split streams (rv_stream_set_write_fd): a client stream that
 * reads one pipe and writes another, as rvpn-client -W does with stdin and
 * stdout.  A client and a server session paired in memory on one
 * rv_loop_poll; the server's target is a socketpair.  Covered: bytes both
 * ways, EOF each way (stdin EOF reaches the target as EOF while the reply
 * still flows; the target's EOF closes the output pipe, whose reader sees
 * EOF), a full output pipe stalling the target with bounded memory, and
 * descriptors epoll cannot watch refused.  Every wait is bounded. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
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

enum {
	WAIT_MS = 10000,
	WINDOW = 64 * 1024,          /* the client's receive window */
	BULK = 4 * 1024 * 1024,      /* what the target tries to push */
	STALL_ROUNDS = 200,          /* loop rounds without progress = stalled */
};

struct h {
	struct rv_loop *loop;
	struct rv_session *cli, *srv;
	struct rv_stream *st;
	int in_w;                    /* test writes: the stream's stdin */
	int out_r;                   /* test reads: the stream's stdout */
	int tgt;                     /* test's end of the server's target */
	int ok, closed;
	enum rv_reset_reason closed_reason;
};

static void cb_connect(struct rv_session *s, struct rv_stream *st, const struct rv_addr *dst,
		       void *arg)
{
	struct h *h = arg;
	int sv[2];

	(void)s;
	(void)dst;
	sh_socketpair(sv, SOCK_NONBLOCK);
	h->tgt = sv[1];
	sh_accept_loopback(st, sv[0], 22);
}

static void cb_response(struct rv_stream *st, enum rv_status status, const struct rv_addr *bound,
			void *arg)
{
	struct h *h = arg;

	(void)st;
	(void)bound;
	if (status == RV_STATUS_OK)
		h->ok++;
}

static void cb_closed(struct rv_stream *st, void *arg)
{
	struct h *h = arg;

	if (st == h->st) {
		h->closed++;
		h->closed_reason = rv_stream_reset_reason(st);
		h->st = NULL;
	}
}

static const struct rv_session_callbacks callbacks = {
	.on_stream_connect = cb_connect,
	.on_stream_response = cb_response,
	.on_stream_closed = cb_closed,
};

static void h_init(struct h *h)
{
	struct rv_session_callbacks cb = callbacks;
	struct rv_session_config cc = { .local_window = WINDOW };

	memset(h, 0, sizeof(*h));
	h->in_w = h->out_r = h->tgt = -1;
	assert_int_equal(rv_loop_poll_new(&h->loop), RV_OK);
	cb.arg = h;
	assert_int_equal(sh_pair_new(h->loop, &cc, NULL, &cb, NULL, &h->cli, &h->srv), RV_OK);
}

static void h_free(struct h *h)
{
	rv_session_free(h->cli);
	rv_session_free(h->srv);
	if (h->in_w >= 0)
		close(h->in_w);
	if (h->out_r >= 0)
		close(h->out_r);
	if (h->tgt >= 0)
		close(h->tgt);
	rv_loop_poll_free(h->loop);
}

static void round_once(struct h *h)
{
	sh_round(h->loop, h->cli, h->srv, 1);
}

/* Read exactly want bytes from fd (non-blocking), running the loop. */
static void run_read(struct h *h, int fd, char *out, size_t want)
{
	sh_read_exact(h->loop, h->cli, h->srv, fd, out, want, WAIT_MS);
}

/* Run the loop until fd reads EOF (0); no data may arrive before it. */
static void run_until_eof(struct h *h, int fd)
{
	uint64_t start = rv_loop_now_ms(h->loop);
	char c;
	ssize_t n = -1;

	while (rv_loop_now_ms(h->loop) - start < WAIT_MS) {
		round_once(h);
		n = read(fd, &c, 1);
		if (n >= 0)
			break;
		assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
	}
	assert_int_equal(n, 0);
}

static void nonblock(int fd)
{
	assert_int_equal(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
}

/* Open a split stream over two fresh pipes and wait for the target. */
static void open_split(struct h *h)
{
	struct rv_addr dst;
	uint64_t start;
	int in[2], out[2];

	assert_int_equal(pipe(in), 0);
	assert_int_equal(pipe(out), 0);
	h->in_w = in[1];
	h->out_r = out[0];
	nonblock(h->in_w);
	nonblock(h->out_r);
	assert_int_equal(rv_addr_set_domain(&dst, "ssh.test", 8, 22), RV_OK);
	assert_int_equal(rv_session_stream_open(h->cli, in[0], &dst, NULL, 0, h, &h->st), RV_OK);
	assert_int_equal(rv_stream_set_write_fd(h->st, out[1]), RV_OK);
	/* Only once: a second write fd or the read fd itself is refused. */
	assert_int_equal(rv_stream_set_write_fd(h->st, out[1]), RV_ERR_STATE);
	start = rv_loop_now_ms(h->loop);
	while (h->ok == 0 && rv_loop_now_ms(h->loop) - start < WAIT_MS)
		round_once(h);
	assert_int_equal(h->ok, 1);
	assert_true(h->tgt >= 0);
	/* The session made both pipe ends non-blocking. */
	assert_true((fcntl(out[1], F_GETFL) & O_NONBLOCK) != 0);
	assert_true((fcntl(in[0], F_GETFL) & O_NONBLOCK) != 0);
}

/* Bytes both ways; stdin EOF reaches the target as EOF while the reply
 * still arrives; the target's EOF closes the output pipe (its reader sees
 * EOF: close(), not shutdown(), which fails on a pipe); then the stream
 * ends cleanly. */
static void test_split_both_ways_and_eof(void **state)
{
	static const char up[] = "SSH-2.0-test\r\n", down[] = "SSH-2.0-server\r\n",
			  late[] = "reply after the client's EOF";
	char buf[64];
	struct h h;

	(void)state;
	h_init(&h);
	open_split(&h);
	assert_int_equal(write(h.in_w, up, strlen(up)), (ssize_t)strlen(up));
	run_read(&h, h.tgt, buf, strlen(up));
	assert_memory_equal(buf, up, strlen(up));
	assert_int_equal(write(h.tgt, down, strlen(down)), (ssize_t)strlen(down));
	run_read(&h, h.out_r, buf, strlen(down));
	assert_memory_equal(buf, down, strlen(down));

	/* stdin EOF -> FIN -> the target reads EOF; the stream lives on. */
	close(h.in_w);
	h.in_w = -1;
	run_until_eof(&h, h.tgt);
	assert_non_null(h.st);
	assert_int_equal(rv_stream_get_istate(h.st), RV_STREAM_DIR_CLOSED);
	assert_int_equal(rv_stream_get_ostate(h.st), RV_STREAM_DIR_OPEN);
	assert_int_equal(write(h.tgt, late, strlen(late)), (ssize_t)strlen(late));
	run_read(&h, h.out_r, buf, strlen(late));
	assert_memory_equal(buf, late, strlen(late));

	/* The target's EOF -> FIN -> stdout closed: its reader sees EOF. */
	assert_int_equal(shutdown(h.tgt, SHUT_WR), 0);
	run_until_eof(&h, h.out_r);
	assert_int_equal(h.closed, 1);
	assert_int_equal(h.closed_reason, RV_RESET_INVALID);
	assert_int_equal(rv_session_stream_count(h.cli), 0);
	h_free(&h);
}

/* The other order: the target ends first (stdout closed, stdin still
 * relayed), then stdin's EOF finishes the stream. */
static void test_split_target_eof_first(void **state)
{
	static const char up[] = "still going up";
	char buf[32];
	struct h h;

	(void)state;
	h_init(&h);
	open_split(&h);
	assert_int_equal(shutdown(h.tgt, SHUT_WR), 0);
	run_until_eof(&h, h.out_r);
	assert_non_null(h.st);
	assert_int_equal(rv_stream_get_ostate(h.st), RV_STREAM_DIR_CLOSED);
	assert_int_equal(write(h.in_w, up, strlen(up)), (ssize_t)strlen(up));
	run_read(&h, h.tgt, buf, strlen(up));
	assert_memory_equal(buf, up, strlen(up));
	close(h.in_w);
	h.in_w = -1;
	run_until_eof(&h, h.tgt);
	assert_int_equal(h.closed, 1);
	assert_int_equal(h.closed_reason, RV_RESET_INVALID);
	h_free(&h);
}

static uint8_t pattern_byte(size_t i)
{
	return (uint8_t)((i * 131u) ^ (i >> 11));
}

/* Nobody reads stdout: the target stalls once the pipe, the client's
 * window and the server's side are full; the client holds at most its
 * window for stdout.  Then stdout is drained: every byte, in order. */
static void test_split_full_output_backpressure(void **state)
{
	static uint8_t chunk[16384];
	size_t sent = 0, got = 0, last = 0, max_buf = 0, buffered;
	uint64_t start;
	int still = 0, rounds = 0;
	ssize_t n;
	struct h h;

	(void)state;
	h_init(&h);
	open_split(&h);
	start = rv_loop_now_ms(h.loop);
	while (sent < BULK && still < STALL_ROUNDS && rv_loop_now_ms(h.loop) - start < WAIT_MS) {
		size_t len = BULK - sent < sizeof(chunk) ? BULK - sent : sizeof(chunk);

		for (size_t i = 0; i < len; i++)
			chunk[i] = pattern_byte(sent + i);
		n = write(h.tgt, chunk, len);
		if (n > 0)
			sent += (size_t)n;
		round_once(&h);
		buffered = rv_session_buffered_bytes(h.cli);
		if (buffered > max_buf)
			max_buf = buffered;
		still = sent == last ? still + 1 : 0;
		last = sent;
		rounds++;
	}
	print_message("stalled after %zu of %d bytes (%d rounds); client held at most %zu\n",
		      sent, BULK, rounds, max_buf);
	assert_int_equal(still, STALL_ROUNDS); /* stalled, not finished */
	assert_true(sent < BULK);
	/* The window plus one frame of local bytes, plus a few control frames. */
	assert_true(max_buf <= (size_t)WINDOW + RV_FRAME_DATA_MAX + 1024);

	/* Drain stdout: everything arrives, in order, and the rest follows. */
	start = rv_loop_now_ms(h.loop);
	while (got < BULK && rv_loop_now_ms(h.loop) - start < WAIT_MS) {
		if (sent < BULK) {
			size_t len = BULK - sent < sizeof(chunk) ? BULK - sent : sizeof(chunk);

			for (size_t i = 0; i < len; i++)
				chunk[i] = pattern_byte(sent + i);
			n = write(h.tgt, chunk, len);
			if (n > 0)
				sent += (size_t)n;
		}
		round_once(&h);
		while ((n = read(h.out_r, chunk, sizeof(chunk))) > 0) {
			for (ssize_t i = 0; i < n; i++)
				if (chunk[i] != pattern_byte(got + (size_t)i))
					fail_msg("byte %zu differs", got + (size_t)i);
			got += (size_t)n;
		}
		buffered = rv_session_buffered_bytes(h.cli);
		assert_true(buffered <= (size_t)WINDOW + RV_FRAME_DATA_MAX + 1024);
	}
	assert_int_equal(got, BULK);
	h_free(&h);
}

/* A write fd epoll cannot watch (a regular file) is refused and stays the
 * caller's; so are bad arguments and a server-side call. */
static void test_split_refuses_unpollable(void **state)
{
	char path[] = "/tmp/rv_split_XXXXXX";
	struct rv_addr dst;
	struct rv_stream *st = NULL;
	int file, in[2];
	struct h h;

	(void)state;
	h_init(&h);
	file = mkstemp(path);
	assert_true(file >= 0);
	unlink(path);
	assert_int_equal(pipe(in), 0);
	h.in_w = in[1];
	assert_int_equal(rv_addr_set_domain(&dst, "ssh.test", 8, 22), RV_OK);
	assert_int_equal(rv_session_stream_open(h.cli, in[0], &dst, NULL, 0, &h, &st), RV_OK);
	h.st = st;
	assert_int_equal(rv_stream_set_write_fd(st, file), RV_ERR_INVALID_ARG);
	assert_int_equal(rv_stream_set_write_fd(st, in[0]), RV_ERR_INVALID_ARG);
	assert_int_equal(rv_stream_set_write_fd(st, -1), RV_ERR_INVALID_ARG);
	assert_int_equal(rv_stream_set_write_fd(NULL, file), RV_ERR_INVALID_ARG);
	/* Still open: the session did not take it. */
	assert_int_equal(fcntl(file, F_GETFD) >= 0, 1);
	close(file);
	h_free(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_both_ways_and_eof),
		cmocka_unit_test(test_split_target_eof_first),
		cmocka_unit_test(test_split_full_output_backpressure),
		cmocka_unit_test(test_split_refuses_unpollable),
	};

	if (sodium_init() < 0)
		return 1;
	/* A write to a pipe whose reader is gone must fail, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
