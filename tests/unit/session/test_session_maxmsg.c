/* Tests for rv_session_config.max_message (the server's handshake
 * max_message, honoured by the client): no sealed message the session
 * hands out is larger, whatever it sends (early data, bulk DATA, control
 * frames); the data still arrives intact; a too small value is refused.
 * A client session and a server session paired in memory on one
 * rv_loop_poll; every wait is bounded. */
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

enum { WAIT_MS = 20000, UPLOAD = 300 * 1000 + 7, HEADROOM = 16 };

/* Upload through one stream with early data; every client message must
 * fit max_message and the bytes must arrive intact. */
static void upload_with_max(size_t max_message)
{
	struct sh_bulk h;
	struct rv_addr dst;
	struct rv_stream *st = NULL;
	uint8_t *data = malloc(UPLOAD);
	size_t early = 16384, off;
	int sv[2];

	assert_non_null(data);
	randombytes_buf(data, UPLOAD);
	assert_int_equal(sh_bulk_init(&h, max_message, HEADROOM), RV_OK);
	assert_int_equal(rv_addr_set_domain(&dst, "a-rather-long-name-to-make-the-connect-"
					    "frame-bigger.example.test", 63, 443), RV_OK);
	sh_socketpair(sv, SOCK_NONBLOCK);
	assert_int_equal(rv_session_stream_open(h.cli, sv[0], &dst, data, early, NULL, &st),
			 RV_OK);
	/* The rest from the app side, written as the socket takes it. */
	off = early;
	for (int i = 0; i < 100000 && (off < UPLOAD || h.got_len < UPLOAD); i++) {
		if (off < UPLOAD) {
			ssize_t n = write(sv[1], data + off, UPLOAD - off);

			if (n > 0)
				off += (size_t)n;
			else
				assert_true(errno == EAGAIN);
		}
		sh_bulk_run_until(&h, off, 20);
	}
	sh_bulk_run_until(&h, UPLOAD, WAIT_MS);
	print_message("max_message %zu: largest client message %zu bytes\n", max_message,
		      h.max_seen_c2s);
	assert_int_equal(h.got_len, UPLOAD);
	assert_memory_equal(h.got, data, UPLOAD);
	assert_true(h.max_seen_c2s <= max_message);
	assert_true(h.max_seen_c2s > 0);
	close(sv[1]);
	sh_bulk_free(&h);
	free(data);
}

static void test_small_max_message_respected(void **state)
{
	(void)state;
	upload_with_max(1000);
	upload_with_max(rv_session_min_message());
	upload_with_max(4096 + 60);
}

static void test_default_uses_full_size(void **state)
{
	(void)state;
	/* 0 = RV_MSG_MAX: larger messages than the small cases above appear. */
	upload_with_max(RV_MSG_MAX);
}

static void test_too_small_refused(void **state)
{
	struct sh_bulk h;

	(void)state;
	assert_true(rv_session_min_message() > RV_TRANSPORT_OVERHEAD + RV_DOMAIN_MAX);
	assert_int_equal(sh_bulk_init(&h, rv_session_min_message() - 1, HEADROOM),
			 RV_ERR_INVALID_ARG);
	assert_null(h.cli);
	sh_bulk_free(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_small_max_message_respected),
		cmocka_unit_test(test_default_uses_full_size),
		cmocka_unit_test(test_too_small_refused),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
