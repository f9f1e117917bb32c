/* test_frame_rfwd.c - the remote-forward frames (LISTEN, LISTEN_RESPONSE,
 * LISTEN_CLOSE, REMOTE_CONNECT; PROTOCOL.md §6.13-6.16): golden bytes,
 * round trips, every prefix, wrong lengths and bad fields.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "rv_addr.h"
#include "rv_buf.h"
#include "rv_err.h"
#include "rv_frame.h"
#include "rv_wire.h"

static const uint8_t golden_listen[] = {
	RV_FRAME_LISTEN, 0, 12, 0, 0, 0, 7, RV_LISTEN_KIND_FORWARD, 0x1f, 0x40,
	RV_ATYP_IPV4, 127, 0, 0, 1,
};
static const uint8_t golden_response[] = {
	RV_FRAME_LISTEN_RESPONSE, 0, 7, 0, 0, 0, 7, RV_LISTEN_IN_USE, 0x1f, 0x41,
};
static const uint8_t golden_close[] = {
	RV_FRAME_LISTEN_CLOSE, 0, 5, 0, 0, 0, 7, RV_LISTEN_CLOSE_CANCELED,
};
static const uint8_t golden_remote[] = {
	RV_FRAME_REMOTE_CONNECT, 0, 18, 0x80, 0, 0, 1, 0, 8, 0, 0, 0, 0, 0, 7,
	0, 80, RV_ATYP_DOMAIN, 2, 'h', 'x',
};

static void make_frames(struct rv_frame f[4])
{
	memset(f, 0, 4 * sizeof(*f));
	f[0].type = RV_FRAME_LISTEN;
	f[0].u.listen.req = 7;
	f[0].u.listen.kind = RV_LISTEN_KIND_FORWARD;
	rv_addr_set_ipv4(&f[0].u.listen.bind, (const uint8_t[4]){ 127, 0, 0, 1 }, 8000);
	f[1].type = RV_FRAME_LISTEN_RESPONSE;
	f[1].u.listen_response.req = 7;
	f[1].u.listen_response.status = RV_LISTEN_IN_USE;
	f[1].u.listen_response.port = 8001;
	f[2].type = RV_FRAME_LISTEN_CLOSE;
	f[2].u.listen_close.req = 7;
	f[2].u.listen_close.reason = RV_LISTEN_CLOSE_CANCELED;
	f[3].type = RV_FRAME_REMOTE_CONNECT;
	f[3].stream_id = RV_STREAM_ID_SERVER | 1;
	f[3].u.remote_connect.window = 0x80000;
	f[3].u.remote_connect.req = 7;
	assert_int_equal(rv_addr_set_domain(&f[3].u.remote_connect.addr, "hx", 2, 80), RV_OK);
}

static void test_golden(void **state)
{
	const uint8_t *gold[4] = { golden_listen, golden_response, golden_close, golden_remote };
	size_t glen[4] = { sizeof(golden_listen), sizeof(golden_response), sizeof(golden_close),
			   sizeof(golden_remote) };
	struct rv_frame f[4], g;
	struct rv_buf b, in;
	(void)state;

	make_frames(f);
	for (int i = 0; i < 4; i++) {
		rv_buf_init(&b, 1024);
		assert_int_equal(rv_frame_encode(&b, &f[i]), RV_OK);
		assert_int_equal(rv_buf_len(&b), glen[i]);
		assert_memory_equal(rv_buf_ptr(&b), gold[i], glen[i]);
		assert_int_equal(rv_frame_encoded_len(&f[i]), glen[i]);
		/* Round trip, and every strict prefix needs more. */
		rv_buf_init_view(&in, gold[i], glen[i]);
		assert_int_equal(rv_frame_decode(&in, &g), RV_OK);
		assert_int_equal(rv_buf_len(&in), 0);
		assert_int_equal(g.type, f[i].type);
		assert_int_equal(g.stream_id, f[i].stream_id);
		for (size_t n = 0; n < glen[i]; n++) {
			rv_buf_init_view(&in, gold[i], n);
			assert_int_equal(rv_frame_decode(&in, &g), RV_ERR_NEED_MORE);
			assert_int_equal(rv_buf_len(&in), n);
		}
		rv_buf_cleanup(&b);
	}
	rv_buf_init_view(&in, golden_remote, sizeof(golden_remote));
	assert_int_equal(rv_frame_decode(&in, &g), RV_OK);
	assert_int_equal(g.u.remote_connect.req, 7);
	assert_int_equal(g.u.remote_connect.window, 0x80000);
	assert_int_equal(g.u.remote_connect.addr.port, 80);
	assert_string_equal(g.u.remote_connect.addr.domain, "hx");
	rv_buf_init_view(&in, golden_response, sizeof(golden_response));
	assert_int_equal(rv_frame_decode(&in, &g), RV_OK);
	assert_int_equal(g.u.listen_response.port, 8001);
	assert_int_equal(g.u.listen_response.status, RV_LISTEN_IN_USE);
}

/* Change one byte of a golden frame: must be refused, buffer unchanged. */
static void expect_bad(const uint8_t *gold, size_t len, size_t at, uint8_t v, int want)
{
	uint8_t tmp[64];
	struct rv_buf in;
	struct rv_frame g;

	assert_true(len <= sizeof(tmp));
	memcpy(tmp, gold, len);
	tmp[at] = v;
	rv_buf_init_view(&in, tmp, len);
	assert_int_equal(rv_frame_decode(&in, &g), want);
	assert_int_equal(rv_buf_len(&in), len);
}

static void test_bad_fields(void **state)
{
	(void)state;
	/* req 0 */
	expect_bad(golden_listen, sizeof(golden_listen), 6, 0, RV_ERR_MALFORMED);
	expect_bad(golden_response, sizeof(golden_response), 6, 0, RV_ERR_MALFORMED);
	expect_bad(golden_close, sizeof(golden_close), 6, 0, RV_ERR_MALFORMED);
	expect_bad(golden_remote, sizeof(golden_remote), 14, 0, RV_ERR_MALFORMED);
	/* enums */
	expect_bad(golden_listen, sizeof(golden_listen), 7, 0, RV_ERR_MALFORMED);
	expect_bad(golden_listen, sizeof(golden_listen), 7, 3, RV_ERR_MALFORMED);
	expect_bad(golden_listen, sizeof(golden_listen), 10, 2, RV_ERR_MALFORMED);
	expect_bad(golden_response, sizeof(golden_response), 7, RV_LISTEN_STATUS_MAX_,
		   RV_ERR_MALFORMED);
	expect_bad(golden_close, sizeof(golden_close), 7, 0, RV_ERR_MALFORMED);
	expect_bad(golden_close, sizeof(golden_close), 7, RV_LISTEN_CLOSE_MAX_, RV_ERR_MALFORMED);
	/* REMOTE_CONNECT: a client-space id, window 0 */
	expect_bad(golden_remote, sizeof(golden_remote), 3, 0x00, RV_ERR_MALFORMED);
	expect_bad(golden_remote, sizeof(golden_remote), 8, 0, RV_ERR_MALFORMED);
	/* wrong fixed lengths */
	expect_bad(golden_response, sizeof(golden_response), 2, 6, RV_ERR_MALFORMED);
	expect_bad(golden_close, sizeof(golden_close), 2, 6, RV_ERR_MALFORMED);
	expect_bad(golden_listen, sizeof(golden_listen), 2, 11, RV_ERR_MALFORMED);
}

static void test_encode_invalid(void **state)
{
	struct rv_frame f[4], g;
	struct rv_buf b;
	(void)state;

	rv_buf_init(&b, 1024);
	make_frames(f);
	for (int i = 0; i < 3; i++) {
		g = f[i];
		g.stream_id = 1; /* no stream on LISTEN frames */
		assert_int_equal(rv_frame_encode(&b, &g), RV_ERR_INVALID_ARG);
	}
	g = f[3];
	g.stream_id = 1;
	assert_int_equal(rv_frame_encode(&b, &g), RV_ERR_INVALID_ARG);
	g = f[0];
	g.u.listen.req = 0;
	assert_int_equal(rv_frame_encode(&b, &g), RV_ERR_INVALID_ARG);
	g = f[0];
	g.u.listen.kind = RV_LISTEN_KIND_INVALID;
	assert_int_equal(rv_frame_encode(&b, &g), RV_ERR_INVALID_ARG);
	g = f[2];
	g.u.listen_close.reason = RV_LISTEN_CLOSE_INVALID;
	assert_int_equal(rv_frame_encode(&b, &g), RV_ERR_INVALID_ARG);
	assert_int_equal(rv_buf_len(&b), 0);
	rv_buf_cleanup(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_bad_fields),
		cmocka_unit_test(test_encode_invalid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
