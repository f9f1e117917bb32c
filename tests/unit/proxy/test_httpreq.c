/* test_httpreq.c - HTTP request heads judged as nginx judges them
 * (rv_httpreq.c).  Expected verdicts are what nginx 1.22 answered to the same
 * bytes (see tests/hostile/test_hostile_probe.py, which compares live). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rv_buf.h"
#include "rv_err.h"
#include "rv_httpreq.h"

struct judged {
	const char *head;
	enum rv_httpreq_verdict verdict;
};

/* Complete heads: every proper prefix needs more, the whole gets the verdict. */
static const struct judged complete[] = {
	{ "FOO / HTTP/1.1\r\nHost: x\r\n\r\n", RV_HTTPREQ_NOT_FOUND },
	{ "FOO / HTTP/1.0\r\n\r\n", RV_HTTPREQ_NOT_FOUND },
	{ "PROPFIND /dav/ HTTP/1.1\r\nhOsT: x\r\nDepth: 1\r\n\r\n", RV_HTTPREQ_NOT_FOUND },
	{ "F-O_O / HTTP/1.1\r\nHost: x\r\n\r\n", RV_HTTPREQ_NOT_FOUND },
	{ "FOO  /  HTTP/1.1\r\nHost: x\r\n\r\n", RV_HTTPREQ_NOT_FOUND },
	{ "FOO / HTTP/1.1\nHost: x\n\n", RV_HTTPREQ_NOT_FOUND },
	{ "FOO http://x/ HTTP/1.1\r\nHost: x\r\n\r\n", RV_HTTPREQ_NOT_FOUND },
	{ "FOO / HTTP/1.1\r\n\r\n", RV_HTTPREQ_BAD_REQUEST },           /* no Host */
	{ "TRACE / HTTP/1.1\r\nHost: x\r\n\r\n", RV_HTTPREQ_NOT_ALLOWED },
};

/* Decided before the head ends (nginx answers at once): every prefix
 * needs more or already has this verdict. */
static const struct judged early[] = {
	{ "FOO / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", RV_HTTPREQ_BAD_REQUEST },
	{ "FOO / HTTP/1.1\r\nHost: x\r\nbad header line\r\n\r\n", RV_HTTPREQ_BAD_REQUEST },
	{ "FOO / HTTP/3.0\r\nHost: x\r\n\r\n", RV_HTTPREQ_VERSION_NOT_SUPPORTED },
	{ "GARBAGE\r\n", RV_HTTPREQ_BAD_REQUEST },
	{ "\x16\x03\x01\x00\xa5\x01", RV_HTTPREQ_BAD_REQUEST },
	{ "CONNECT example.com:443 HTTP/1.1\r\n", RV_HTTPREQ_BAD_REQUEST },
	{ "OPTIONS * HTTP/1.1\r\n", RV_HTTPREQ_BAD_REQUEST },
	{ "FOO x HTTP/1.1\r\n", RV_HTTPREQ_BAD_REQUEST },
	{ "FOO /a\x01", RV_HTTPREQ_BAD_REQUEST },
	{ "get / HTTP/1.1\r\n", RV_HTTPREQ_BAD_REQUEST },
	{ "FOO / HTTP/1.1 x\r\n", RV_HTTPREQ_BAD_REQUEST },
	{ "FOO / HTTX", RV_HTTPREQ_BAD_REQUEST },
};

static void judge_str(const char *text, size_t len, int *ret, enum rv_httpreq_verdict *v,
		      size_t *left)
{
	struct rv_buf b;

	rv_buf_init(&b, RV_HTTPREQ_HEAD_MAX + 64);
	assert_int_equal(rv_buf_put(&b, text, len), RV_OK);
	*v = RV_HTTPREQ_VERDICT_NONE;
	*ret = rv_httpreq_judge(&b, v);
	*left = rv_buf_len(&b);
	rv_buf_cleanup(&b);
}

static void test_complete_heads_every_prefix(void **state)
{
	enum rv_httpreq_verdict v;
	size_t i, k, len, left;
	int r;

	(void)state;
	for (i = 0; i < sizeof(complete) / sizeof(complete[0]); i++) {
		len = strlen(complete[i].head);
		for (k = 0; k < len; k++) {
			judge_str(complete[i].head, k, &r, &v, &left);
			if (r != RV_ERR_NEED_MORE)
				fail_msg("%zu: prefix of %zu bytes of %s gave %d/%d", i, k,
					 complete[i].head, r, (int)v);
			assert_int_equal(left, k); /* unchanged */
		}
		judge_str(complete[i].head, len, &r, &v, &left);
		assert_int_equal(r, RV_OK);
		if (v != complete[i].verdict)
			fail_msg("%s: verdict %d, want %d", complete[i].head, (int)v,
				 (int)complete[i].verdict);
		assert_true(left < len);
	}
}

static void test_early_verdicts(void **state)
{
	enum rv_httpreq_verdict v;
	size_t i, k, left;
	int r;

	(void)state;
	for (i = 0; i < sizeof(early) / sizeof(early[0]); i++) {
		for (k = 0; k < strlen(early[i].head); k++) {
			judge_str(early[i].head, k, &r, &v, &left);
			if (r == RV_ERR_NEED_MORE)
				assert_int_equal(left, k);
			else if (r != RV_OK || v != early[i].verdict)
				fail_msg("%zu: prefix of %zu bytes gave %d/%d", i, k, r, (int)v);
		}
		judge_str(early[i].head, strlen(early[i].head), &r, &v, &left);
		assert_int_equal(r, RV_OK);
		if (v != early[i].verdict)
			fail_msg("%s: verdict %d, want %d", early[i].head, (int)v,
				 (int)early[i].verdict);
	}
}

static void test_limits(void **state)
{
	enum rv_httpreq_verdict v;
	size_t left;
	char *big;
	int r;

	(void)state;
	big = malloc(RV_HTTPREQ_HEAD_MAX + 1);
	assert_non_null(big);
	/* An unfinished request line over 8 KiB: 414 without waiting. */
	memcpy(big, "FOO /", 5);
	memset(big + 5, 'a', RV_HTTPREQ_LINE_MAX);
	judge_str(big, RV_HTTPREQ_LINE_MAX + 5, &r, &v, &left);
	assert_int_equal(r, RV_OK);
	assert_int_equal(v, RV_HTTPREQ_URI_TOO_LONG);
	/* Headers that never end: 400 at the head cap. */
	memcpy(big, "FOO / HTTP/1.1\r\nX: ", 19);
	memset(big + 19, 'a', RV_HTTPREQ_HEAD_MAX - 19);
	judge_str(big, RV_HTTPREQ_HEAD_MAX - 1, &r, &v, &left);
	assert_int_equal(r, RV_ERR_NEED_MORE);
	judge_str(big, RV_HTTPREQ_HEAD_MAX, &r, &v, &left);
	assert_int_equal(r, RV_OK);
	assert_int_equal(v, RV_HTTPREQ_BAD_REQUEST);
	free(big);
	assert_int_equal(rv_httpreq_judge(NULL, &v), RV_ERR_INVALID_ARG);
	assert_string_equal(rv_httpreq_reason(RV_HTTPREQ_NOT_FOUND), "Not Found");
	assert_string_equal(rv_httpreq_reason(RV_HTTPREQ_NOT_ALLOWED), "Not Allowed");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_complete_heads_every_prefix),
		cmocka_unit_test(test_early_verdicts),
		cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
