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

/* Upload through one stream, the app side writing as fast as the socket
 * takes it; the target reads drain bytes per pass (0: all it can).  Every
 * byte must arrive once and in order, whatever the split between direct
 * writes and the stream's fd buffer. */
static void upload(size_t drain, int sndbuf, int app_sndbuf)
{
	struct sh_bulk h;
	struct rv_addr dst;
	struct rv_stream *st = NULL;
	uint8_t *data = malloc(UPLOAD);
	size_t off = 0;
	int sv[2];

	assert_non_null(data);
	randombytes_buf(data, UPLOAD);
	assert_int_equal(sh_bulk_init(&h, 0, HEADROOM), RV_OK);
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
		sh_bulk_run_until(&h, off, 5);
	}
	sh_bulk_run_until(&h, UPLOAD, WAIT_MS);
	assert_int_equal(h.got_len, UPLOAD);
	assert_memory_equal(h.got, data, UPLOAD);
	assert_true(h.max_seen_c2s <= RV_MSG_MAX);
	close(sv[1]);
	sh_bulk_free(&h);
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
