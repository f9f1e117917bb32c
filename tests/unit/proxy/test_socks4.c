/* test_socks4.c - SOCKS4 / SOCKS4a request parser and replies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rv_addr.h"
#include "rv_buf.h"
#include "rv_err.h"
#include "rv_socks4.h"

static const uint8_t req_v4[] = { 4, 1, 0x1f, 0x90, 10, 1, 2, 3, 'b', 'o', 'b', 0 };
static const uint8_t req_v4_noid[] = { 4, 1, 0, 80, 192, 168, 1, 1, 0 };
static const uint8_t req_4a[] = { 4, 1, 0x01, 0xbb, 0, 0, 0, 1, 'u', 0,
				  'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'o', 'r', 'g', 0 };
static const uint8_t req_bind[] = { 4, 2, 0, 21, 1, 2, 3, 4, 'x', 0 };

static void buf_load(struct rv_buf *b, const void *p, size_t len)
{
	rv_buf_init(b, 4096);
	assert_int_equal(rv_buf_put(b, p, len), RV_OK);
}

static void assert_buf_is(const struct rv_buf *b, const void *p, size_t len)
{
	assert_int_equal(rv_buf_len(b), len);
	if (len > 0)
		assert_memory_equal(rv_buf_ptr(b), p, len);
}

static int parse(const void *msg, size_t len, struct rv_socks4_request *req, enum rv_status *rep,
		 const char **why, size_t *left)
{
	struct rv_buf b;
	int ret;

	buf_load(&b, msg, len);
	ret = rv_socks4_parse_request(&b, req, rep, why);
	*left = rv_buf_len(&b);
	if (ret != RV_OK && ret != RV_ERR_UNSUPPORTED)
		assert_buf_is(&b, msg, len); /* failure: unchanged */
	rv_buf_cleanup(&b);
	return ret;
}

/* Every strict prefix NEED_MORE with the buffer unchanged; then byte by
 * byte into one growing buffer; then with early data behind. */
static void check_prefixes(const uint8_t *msg, size_t len, int final)
{
	struct rv_socks4_request req;
	enum rv_status rep;
	struct rv_buf b;
	size_t cut, left;
	static const uint8_t tail[] = { 'G', 'E', 'T' };

	for (cut = 0; cut < len; cut++)
		assert_int_equal(parse(msg, cut, &req, &rep, NULL, &left), RV_ERR_NEED_MORE);
	rv_buf_init(&b, 4096);
	for (cut = 0; cut < len; cut++) {
		assert_int_equal(rv_buf_put(&b, msg + cut, 1), RV_OK);
		assert_int_equal(rv_socks4_parse_request(&b, &req, &rep, NULL),
				 cut + 1 < len ? RV_ERR_NEED_MORE : final);
	}
	assert_int_equal(rv_buf_len(&b), 0);
	rv_buf_cleanup(&b);
	buf_load(&b, msg, len);
	assert_int_equal(rv_buf_put(&b, tail, sizeof(tail)), RV_OK);
	assert_int_equal(rv_socks4_parse_request(&b, &req, &rep, NULL), final);
	assert_buf_is(&b, tail, sizeof(tail));
	rv_buf_cleanup(&b);
}

static void test_prefixes(void **state)
{
	(void)state;
	check_prefixes(req_v4, sizeof(req_v4), RV_OK);
	check_prefixes(req_v4_noid, sizeof(req_v4_noid), RV_OK);
	check_prefixes(req_4a, sizeof(req_4a), RV_OK);
	check_prefixes(req_bind, sizeof(req_bind), RV_ERR_UNSUPPORTED);
}

static void test_connect_v4(void **state)
{
	struct rv_socks4_request req;
	enum rv_status rep = RV_STATUS_GENERAL_FAILURE;
	size_t left;

	(void)state;
	assert_int_equal(parse(req_v4, sizeof(req_v4), &req, &rep, NULL, &left), RV_OK);
	assert_int_equal(left, 0);
	assert_int_equal(rep, RV_STATUS_OK);
	assert_int_equal(req.is_4a, 0);
	assert_int_equal(req.dst.atyp, RV_ATYP_IPV4);
	assert_memory_equal(req.dst.ip, "\x0a\x01\x02\x03", 4);
	assert_int_equal(req.dst.port, 8080);
	assert_string_equal(req.userid, "bob");
	assert_int_equal(req.userid_len, 3);

	assert_int_equal(parse(req_v4_noid, sizeof(req_v4_noid), &req, &rep, NULL, &left), RV_OK);
	assert_int_equal(req.userid_len, 0);
	assert_int_equal(req.dst.port, 80);
}

static void test_connect_4a(void **state)
{
	struct rv_socks4_request req;
	enum rv_status rep;
	size_t left;

	(void)state;
	assert_int_equal(parse(req_4a, sizeof(req_4a), &req, &rep, NULL, &left), RV_OK);
	assert_int_equal(req.is_4a, 1);
	assert_int_equal(req.dst.atyp, RV_ATYP_DOMAIN);
	assert_string_equal(req.dst.domain, "example.org");
	assert_int_equal(req.dst.domain_len, 11);
	assert_int_equal(req.dst.port, 443);
	assert_string_equal(req.userid, "u");
}

static void test_bind_and_unknown(void **state)
{
	static const uint8_t req_cmd9[] = { 4, 9, 0, 21, 1, 2, 3, 4, 0 };
	static const uint8_t bind_4a[] = { 4, 2, 0, 21, 0, 0, 0, 9, 0, 'h', 0, 0xEE };
	struct rv_socks4_request req;
	enum rv_status rep;
	const char *why = NULL;
	size_t left;
	struct rv_buf out;

	(void)state;
	assert_int_equal(parse(req_bind, sizeof(req_bind), &req, &rep, &why, &left),
			 RV_ERR_UNSUPPORTED);
	assert_int_equal(rep, RV_STATUS_COMMAND_NOT_SUPPORTED);
	assert_int_equal(left, 0); /* whole request consumed */
	assert_non_null(strstr(why, "BIND"));
	/* The proper reply: 91. */
	rv_buf_init(&out, 64);
	assert_int_equal(rv_socks4_build_reply(&out, rep, NULL), RV_OK);
	assert_buf_is(&out, "\x00\x5b\x00\x00\x00\x00\x00\x00", 8);
	rv_buf_cleanup(&out);

	assert_int_equal(parse(req_cmd9, sizeof(req_cmd9), &req, &rep, &why, &left),
			 RV_ERR_UNSUPPORTED);
	assert_int_equal(rep, RV_STATUS_COMMAND_NOT_SUPPORTED);
	assert_non_null(strstr(why, "unknown"));
	/* 4a BIND: the host name is consumed too, not the byte after it. */
	assert_int_equal(parse(bind_4a, sizeof(bind_4a), &req, &rep, &why, &left),
			 RV_ERR_UNSUPPORTED);
	assert_int_equal(left, 1);
}

static void test_errors(void **state)
{
	static const uint8_t ver5[] = { 5, 1, 0, 80, 1, 2, 3, 4, 0 };
	static const uint8_t empty_host[] = { 4, 1, 0, 80, 0, 0, 0, 1, 'u', 0, 0 };
	struct rv_socks4_request req;
	enum rv_status rep;
	const char *why = NULL;
	size_t left;

	(void)state;
	assert_int_equal(parse(ver5, sizeof(ver5), &req, &rep, &why, &left), RV_ERR_MALFORMED);
	assert_int_equal(rep, RV_STATUS_GENERAL_FAILURE);
	assert_non_null(why);
	assert_int_equal(parse(empty_host, sizeof(empty_host), &req, &rep, &why, &left),
			 RV_ERR_MALFORMED);
	assert_non_null(strstr(why, "empty host"));
	/* 0.0.0.0 is not 4a (x must be non-zero): a plain IPv4 request. */
	{
		static const uint8_t zero[] = { 4, 1, 0, 80, 0, 0, 0, 0, 0, 'h', 0 };

		assert_int_equal(parse(zero, sizeof(zero), &req, &rep, &why, &left), RV_OK);
		assert_int_equal(req.is_4a, 0);
		assert_int_equal(left, 2);
	}
}

/* User id and host name: exactly the maximum passes, one more fails with
 * LIMIT as soon as the extra byte is there (no NUL needed to decide). */
static void test_limits(void **state)
{
	uint8_t msg[RV_SOCKS4_REQUEST_MAX + 8];
	struct rv_socks4_request req;
	enum rv_status rep;
	const char *why;
	size_t n, left;

	(void)state;
	/* user id: max */
	memcpy(msg, "\x04\x01\x00\x50\x01\x02\x03\x04", 8);
	memset(msg + 8, 'u', RV_SOCKS4_USERID_MAX);
	msg[8 + RV_SOCKS4_USERID_MAX] = 0;
	n = 8 + RV_SOCKS4_USERID_MAX + 1;
	assert_int_equal(parse(msg, n, &req, &rep, &why, &left), RV_OK);
	assert_int_equal(req.userid_len, RV_SOCKS4_USERID_MAX);
	assert_int_equal(strlen(req.userid), RV_SOCKS4_USERID_MAX);
	/* max + 1, NUL not yet sent: already refused. */
	memset(msg + 8, 'u', RV_SOCKS4_USERID_MAX + 1);
	assert_int_equal(parse(msg, 8 + RV_SOCKS4_USERID_MAX, &req, &rep, &why, &left),
			 RV_ERR_NEED_MORE);
	assert_int_equal(parse(msg, 8 + RV_SOCKS4_USERID_MAX + 1, &req, &rep, &why, &left),
			 RV_ERR_LIMIT);
	assert_non_null(strstr(why, "user id"));
	msg[8 + RV_SOCKS4_USERID_MAX + 1] = 0;
	assert_int_equal(parse(msg, 8 + RV_SOCKS4_USERID_MAX + 2, &req, &rep, &why, &left),
			 RV_ERR_LIMIT);

	/* 4a host: max */
	memcpy(msg, "\x04\x01\x00\x50\x00\x00\x00\x07\x00", 9);
	memset(msg + 9, 'h', RV_SOCKS4_HOST_MAX);
	msg[9 + RV_SOCKS4_HOST_MAX] = 0;
	n = 9 + RV_SOCKS4_HOST_MAX + 1;
	assert_int_equal(parse(msg, n, &req, &rep, &why, &left), RV_OK);
	assert_int_equal(req.dst.domain_len, RV_SOCKS4_HOST_MAX);
	/* max + 1 */
	memset(msg + 9, 'h', RV_SOCKS4_HOST_MAX + 1);
	assert_int_equal(parse(msg, 9 + RV_SOCKS4_HOST_MAX, &req, &rep, &why, &left),
			 RV_ERR_NEED_MORE);
	assert_int_equal(parse(msg, 9 + RV_SOCKS4_HOST_MAX + 1, &req, &rep, &why, &left),
			 RV_ERR_LIMIT);
	assert_non_null(strstr(why, "host name"));
}

static void test_replies(void **state)
{
	struct rv_addr bound;
	struct rv_buf out;
	static const uint8_t ip[4] = { 10, 9, 8, 7 };
	static const uint8_t v6[16] = { 0x20, 0x01 };

	(void)state;
	assert_int_equal(rv_socks4_reply_code(RV_STATUS_OK), 90);
	assert_int_equal(rv_socks4_reply_code(RV_STATUS_GENERAL_FAILURE), 91);
	assert_int_equal(rv_socks4_reply_code(RV_STATUS_NOT_ALLOWED), 91);
	assert_int_equal(rv_socks4_reply_code(RV_STATUS_HOST_UNREACHABLE), 91);
	assert_int_equal(rv_socks4_reply_code(RV_STATUS_CONNECTION_REFUSED), 91);
	assert_int_equal(rv_socks4_reply_code(RV_STATUS_TTL_EXPIRED), 91);

	rv_buf_init(&out, 64);
	rv_addr_set_ipv4(&bound, ip, 0x1234);
	assert_int_equal(rv_socks4_build_reply(&out, RV_STATUS_OK, &bound), RV_OK);
	assert_buf_is(&out, "\x00\x5a\x12\x34\x0a\x09\x08\x07", 8);
	rv_buf_reset(&out);
	/* An IPv6 bound cannot be expressed: zeros. */
	rv_addr_set_ipv6(&bound, v6, 443);
	assert_int_equal(rv_socks4_build_reply(&out, RV_STATUS_OK, &bound), RV_OK);
	assert_buf_is(&out, "\x00\x5a\x00\x00\x00\x00\x00\x00", 8);
	rv_buf_cleanup(&out);
	/* No room: out unchanged. */
	rv_buf_init(&out, 7);
	assert_int_equal(rv_socks4_build_reply(&out, RV_STATUS_OK, NULL), RV_ERR_NO_SPACE);
	assert_int_equal(rv_buf_len(&out), 0);
	rv_buf_cleanup(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_connect_v4),
		cmocka_unit_test(test_connect_4a),
		cmocka_unit_test(test_bind_and_unknown),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_replies),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
