/* Fair sealing: a stream with little queued does not wait behind another
 * stream's bulk in the session's outbox.  Stream A fills the client's data
 * queue (its whole window), then stream B queues 100 bytes: B's DATA must
 * leave within the first FAIR_MSGS messages while A's bulk keeps flowing,
 * and every byte of both arrives once and in order.  A client and a server
 * session paired in memory on one rv_loop_poll; every wait is bounded. */
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

enum {
	HEADROOM = 16,
	SMALL = 100,
	FAIR_MSGS = 2,           /* B's bytes must be out by this message */
	BULK_MIN_QUEUED = 256 * 1024, /* A's bulk ahead of B: ~4+ messages */
	WAIT_MS = 10000,
};

struct fair {
	int tgt[2];              /* server side target fds, A then B */
	int ntgt;
	int responses;
};

static void fair_connect(struct rv_session *s, struct rv_stream *st, const struct rv_addr *dst,
			 void *arg)
{
	struct fair *f = arg;
	int sv[2];

	(void)s;
	(void)dst;
	assert_true(f->ntgt < 2);
	sh_socketpair(sv, SOCK_NONBLOCK);
	f->tgt[f->ntgt++] = sv[1];
	sh_accept_loopback(st, sv[0], 1);
}

static void fair_response(struct rv_stream *st, enum rv_status status,
			  const struct rv_addr *bound, void *arg)
{
	struct fair *f = arg;

	(void)st;
	(void)bound;
	assert_int_equal(status, RV_STATUS_OK);
	f->responses++;
}

static void test_small_stream_beside_bulk(void **state)
{
	struct fair f = { .tgt = { -1, -1 } };
	struct rv_session_callbacks cb = {
		.on_stream_connect = fair_connect,
		.on_stream_response = fair_response,
		.arg = &f,
	};
	struct rv_session_config cc = { .headroom = HEADROOM }, sc = { .headroom = HEADROOM };
	struct rv_loop *loop = NULL;
	struct rv_session *cli = NULL, *srv = NULL;
	struct rv_stream *sa = NULL, *sb = NULL;
	struct rv_addr dst;
	uint8_t *bulk = malloc(RV_STREAM_WINDOW_DEFAULT), small[SMALL];
	uint8_t *got_a = NULL, *got_b = NULL;
	size_t len_a = 0, len_b = 0, off = 0;
	uint64_t up_b = 0, down_b = 0, start;
	int a[2], b[2], msgs = 0, i;

	(void)state;
	assert_non_null(bulk);
	randombytes_buf(bulk, RV_STREAM_WINDOW_DEFAULT);
	randombytes_buf(small, sizeof(small));
	assert_int_equal(rv_loop_poll_new(&loop), RV_OK);
	assert_int_equal(sh_pair_new(loop, &cc, &sc, &cb, NULL, &cli, &srv), RV_OK);
	assert_int_equal(rv_addr_set_domain(&dst, "fair.example.test", 17, 80), RV_OK);
	sh_socketpair(a, SOCK_NONBLOCK);
	sh_socketpair(b, SOCK_NONBLOCK);
	assert_int_equal(rv_session_stream_open(cli, a[0], &dst, NULL, 0, NULL, &sa), RV_OK);
	assert_int_equal(rv_session_stream_open(cli, b[0], &dst, NULL, 0, NULL, &sb), RV_OK);
	for (i = 0; i < 100 && (f.responses < 2 || f.ntgt < 2); i++)
		sh_round(loop, cli, srv, 1);
	assert_int_equal(f.ntgt, 2);
	assert_int_equal(f.responses, 2);

	/* A: a window of bulk read into the outbox; nothing is sent yet. */
	for (i = 0; i < 1000 && rv_session_send_queue_bytes(cli) < BULK_MIN_QUEUED; i++) {
		if (off < RV_STREAM_WINDOW_DEFAULT) {
			ssize_t n = write(a[1], bulk + off, RV_STREAM_WINDOW_DEFAULT - off);

			if (n > 0)
				off += (size_t)n;
			else
				assert_true(errno == EAGAIN);
		}
		assert_true(rv_loop_poll_run_once(loop, 1) >= 0);
	}
	assert_true(rv_session_send_queue_bytes(cli) >= BULK_MIN_QUEUED);

	/* B: 100 bytes, read behind A's queue. */
	assert_int_equal(write(b[1], small, sizeof(small)), (ssize_t)sizeof(small));
	for (i = 0; i < 100 && up_b < sizeof(small); i++) {
		assert_true(rv_loop_poll_run_once(loop, 1) >= 0);
		rv_stream_get_counts(sb, &up_b, &down_b);
	}
	assert_int_equal(up_b, sizeof(small));

	/* One message at a time until B's bytes reach its target. */
	for (msgs = 0; msgs < 64 && len_b < sizeof(small); msgs++) {
		assert_int_equal(sh_pump_dir(cli, srv, 1, 0, NULL), 1);
		sh_drain_fd(f.tgt[1], &got_b, &len_b, 0);
	}
	sh_drain_fd(f.tgt[0], &got_a, &len_a, 0);
	print_message("B's 100 bytes arrived with message %d; A had %zu bytes through\n", msgs,
		      len_a);
	assert_int_equal(len_b, sizeof(small));
	assert_memory_equal(got_b, small, sizeof(small));
	assert_true(msgs <= FAIR_MSGS);

	/* A's bulk still flows, whole and in order, while B stays served. */
	start = rv_loop_now_ms(loop);
	for (i = 0; i < 200000 && len_a < RV_STREAM_WINDOW_DEFAULT &&
		    rv_loop_now_ms(loop) - start < WAIT_MS;
	     i++) {
		if (off < RV_STREAM_WINDOW_DEFAULT) {
			ssize_t n = write(a[1], bulk + off, RV_STREAM_WINDOW_DEFAULT - off);

			if (n > 0)
				off += (size_t)n;
		}
		sh_round(loop, cli, srv, 0);
		sh_drain_fd(f.tgt[0], &got_a, &len_a, 0);
	}
	assert_int_equal(len_a, RV_STREAM_WINDOW_DEFAULT);
	assert_memory_equal(got_a, bulk, RV_STREAM_WINDOW_DEFAULT);

	close(a[1]);
	close(b[1]);
	rv_session_free(cli);
	rv_session_free(srv);
	for (i = 0; i < f.ntgt; i++)
		close(f.tgt[i]);
	rv_loop_poll_free(loop);
	free(got_a);
	free(got_b);
	free(bulk);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_small_stream_beside_bulk),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
