/* test_ctl_request.c - the status service's request parsers: control lines
 * and HTTP request heads (every prefix needs more, bad input is an error,
 * the input is never changed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "rv_ctl.h"
#include "rv_err.h"

typedef int (*parse_fn)(const uint8_t *p, size_t len, enum rv_ctl_request *req);

/* Every strict prefix needs more; the whole input gives want after all of
 * it (trailing bytes past the request are not consumed). */
static void check_valid(parse_fn fn, const char *text, size_t req_len, enum rv_ctl_request want)
{
	const uint8_t *p = (const uint8_t *)text;
	uint8_t copy[4096];
	size_t len = strlen(text), i;
	enum rv_ctl_request req;

	assert_true(len < sizeof(copy));
	memcpy(copy, p, len);
	for (i = 0; i < req_len; i++) {
		req = RV_CTL_REQ_INVALID;
		assert_int_equal(fn(p, i, &req), RV_ERR_NEED_MORE);
		assert_int_equal(req, RV_CTL_REQ_INVALID);
	}
	req = RV_CTL_REQ_INVALID;
	assert_int_equal(fn(p, len, &req), (int)req_len);
	assert_int_equal(req, want);
	assert_memory_equal(copy, p, len);
}

static void check_bad(parse_fn fn, const char *text)
{
	enum rv_ctl_request req = RV_CTL_REQ_INVALID;

	assert_int_equal(fn((const uint8_t *)text, strlen(text), &req), RV_ERR_MALFORMED);
}

static void test_line_valid(void **state)
{
	(void)state;
	check_valid(rv_ctl_parse_request, "status\n", 7, RV_CTL_REQ_STATUS);
	check_valid(rv_ctl_parse_request, "status\r\n", 8, RV_CTL_REQ_STATUS);
	check_valid(rv_ctl_parse_request, "status json\n", 12, RV_CTL_REQ_STATUS_JSON);
	check_valid(rv_ctl_parse_request, "metrics\n", 8, RV_CTL_REQ_METRICS);
	/* Bytes after the line are left alone. */
	check_valid(rv_ctl_parse_request, "status\nextra", 7, RV_CTL_REQ_STATUS);
}

static void test_line_bad(void **state)
{
	(void)state;
	check_bad(rv_ctl_parse_request, "\n");
	check_bad(rv_ctl_parse_request, "STATUS\n");
	check_bad(rv_ctl_parse_request, "status \n");
	check_bad(rv_ctl_parse_request, " status\n");
	check_bad(rv_ctl_parse_request, "status jsonx\n");
	check_bad(rv_ctl_parse_request, "statu\r\n");
	check_bad(rv_ctl_parse_request, "quit\n");
}

static void test_line_limit(void **state)
{
	uint8_t big[RV_CTL_REQ_MAX + 8];
	enum rv_ctl_request req;

	(void)state;
	memset(big, 'a', sizeof(big));
	/* Below the limit without a newline: more may come. */
	assert_int_equal(rv_ctl_parse_request(big, RV_CTL_REQ_MAX - 1, &req), RV_ERR_NEED_MORE);
	/* At the limit without a newline: refused. */
	assert_int_equal(rv_ctl_parse_request(big, RV_CTL_REQ_MAX, &req), RV_ERR_MALFORMED);
	assert_int_equal(rv_ctl_parse_request(big, sizeof(big), &req), RV_ERR_MALFORMED);
	/* A newline just past the limit does not count. */
	big[RV_CTL_REQ_MAX] = '\n';
	assert_int_equal(rv_ctl_parse_request(big, sizeof(big), &req), RV_ERR_MALFORMED);
	assert_int_equal(rv_ctl_parse_request(NULL, 0, &req), RV_ERR_INVALID_ARG);
}

static void test_http_valid(void **state)
{
	static const char get[] = "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n";
	static const char get10[] = "GET /metrics HTTP/1.0\n\n";
	static const char query[] = "GET /metrics?x=1 HTTP/1.1\r\n\r\n";
	static const char other[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	static const char post[] = "POST /metrics HTTP/1.1\r\n\r\nbody";
	static const char prefix[] = "GET /metricsx HTTP/1.1\r\n\r\n";

	(void)state;
	check_valid(rv_ctl_parse_http, get, strlen(get), RV_CTL_REQ_METRICS);
	check_valid(rv_ctl_parse_http, get10, strlen(get10), RV_CTL_REQ_METRICS);
	check_valid(rv_ctl_parse_http, query, strlen(query), RV_CTL_REQ_METRICS);
	check_valid(rv_ctl_parse_http, other, strlen(other), RV_CTL_REQ_NOT_FOUND);
	check_valid(rv_ctl_parse_http, post, strlen(post) - 4, RV_CTL_REQ_NOT_FOUND);
	check_valid(rv_ctl_parse_http, prefix, strlen(prefix), RV_CTL_REQ_NOT_FOUND);
}

static void test_http_bad(void **state)
{
	(void)state;
	check_bad(rv_ctl_parse_http, "\r\n\r\n");
	check_bad(rv_ctl_parse_http, "GET\r\n\r\n");
	check_bad(rv_ctl_parse_http, "GET /metrics\r\n\r\n");
	check_bad(rv_ctl_parse_http, "GET  /metrics HTTP/1.1\r\n\r\n");
	check_bad(rv_ctl_parse_http, "GET /metrics HTTP/2.0\r\n\r\n");
	check_bad(rv_ctl_parse_http, "GET /metrics HTTP/1.1x\r\n\r\n");
	check_bad(rv_ctl_parse_http, "GET /met\x01rics HTTP/1.1\r\n\r\n");
}

static void test_http_limit(void **state)
{
	uint8_t big[RV_CTL_HTTP_REQ_MAX + 4];
	enum rv_ctl_request req;

	(void)state;
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET /metrics HTTP/1.1\r\n", 23);
	assert_int_equal(rv_ctl_parse_http(big, RV_CTL_HTTP_REQ_MAX - 1, &req), RV_ERR_NEED_MORE);
	assert_int_equal(rv_ctl_parse_http(big, RV_CTL_HTTP_REQ_MAX, &req), RV_ERR_MALFORMED);
	/* The blank line just past the limit does not count. */
	memcpy(big + RV_CTL_HTTP_REQ_MAX - 2, "\r\n\r\n", 4);
	assert_int_equal(rv_ctl_parse_http(big, sizeof(big), &req), RV_ERR_MALFORMED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_valid), cmocka_unit_test(test_line_bad),
		cmocka_unit_test(test_line_limit), cmocka_unit_test(test_http_valid),
		cmocka_unit_test(test_http_bad),   cmocka_unit_test(test_http_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
