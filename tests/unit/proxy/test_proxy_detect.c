/* test_proxy_detect.c - protocol detection on the mixed -D port. */
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
#include "rv_proxy_detect.h"

static int detect(const void *p, size_t len, enum rv_proxy_kind *kind, const char **why)
{
	struct rv_buf b;
	int ret;

	rv_buf_init(&b, 4096);
	assert_int_equal(rv_buf_put(&b, p, len), RV_OK);
	ret = rv_proxy_detect(&b, kind, why);
	/* Detection never consumes. */
	assert_int_equal(rv_buf_len(&b), len);
	if (len > 0)
		assert_memory_equal(rv_buf_ptr(&b), p, len);
	rv_buf_cleanup(&b);
	return ret;
}

static void test_socks(void **state)
{
	static const uint8_t s5[] = { 5, 1, 0 };
	static const uint8_t s4[] = { 4, 1, 0, 80, 1, 2, 3, 4, 0 };
	enum rv_proxy_kind k;

	(void)state;
	assert_int_equal(detect(s5, 1, &k, NULL), RV_OK);
	assert_int_equal(k, RV_PROXY_KIND_SOCKS5);
	assert_int_equal(detect(s5, sizeof(s5), &k, NULL), RV_OK);
	assert_int_equal(k, RV_PROXY_KIND_SOCKS5);
	assert_int_equal(detect(s4, 1, &k, NULL), RV_OK);
	assert_int_equal(k, RV_PROXY_KIND_SOCKS4);
	assert_int_equal(detect(s4, sizeof(s4), &k, NULL), RV_OK);
	assert_int_equal(k, RV_PROXY_KIND_SOCKS4);
	assert_string_equal(rv_proxy_kind_str(RV_PROXY_KIND_SOCKS4), "socks4");
}

static const char *const methods[] = {
	"CONNECT ", "GET ", "POST ", "HEAD ", "PUT ", "DELETE ", "OPTIONS ", "PATCH ", "TRACE ",
};

/* Every method: each strict prefix NEED_MORE, the full "METHOD " HTTP, and
 * a longer input decides too. */
static void test_http_prefixes(void **state)
{
	char line[64];
	enum rv_proxy_kind k;
	size_t i, cut;

	(void)state;
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		size_t mlen = strlen(methods[i]);

		assert_true(mlen <= RV_PROXY_DETECT_MAX);
		snprintf(line, sizeof(line), "%shttp://x/ HTTP/1.1\r\n", methods[i]);
		for (cut = 0; cut < mlen; cut++) {
			k = RV_PROXY_KIND_HTTP;
			assert_int_equal(detect(line, cut, &k, NULL), RV_ERR_NEED_MORE);
			assert_int_equal(k, RV_PROXY_KIND_UNKNOWN);
		}
		assert_int_equal(detect(line, mlen, &k, NULL), RV_OK);
		assert_int_equal(k, RV_PROXY_KIND_HTTP);
		assert_int_equal(detect(line, strlen(line), &k, NULL), RV_OK);
		assert_int_equal(k, RV_PROXY_KIND_HTTP);
	}
}

static void test_unknown(void **state)
{
	static const char *const bad[] = {
		"get / HTTP/1.1",  /* methods are case-sensitive */
		"GETX",            /* no space after the token */
		"GET\t/",
		"CONNECTX",
		"PRI * HTTP/2.0",  /* HTTP/2 prior knowledge: not ours */
		"X",
		"SSH-2.0-OpenSSH",
	};
	static const uint8_t tls[] = { 0x16, 0x03, 0x01, 0x02, 0x00 };
	static const uint8_t zero[] = { 0 };
	static const uint8_t s6[] = { 6 };
	enum rv_proxy_kind k;
	const char *why;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		k = RV_PROXY_KIND_HTTP;
		assert_int_equal(detect(bad[i], strlen(bad[i]), &k, &why), RV_ERR_UNSUPPORTED);
		assert_int_equal(k, RV_PROXY_KIND_UNKNOWN);
		assert_non_null(why);
	}
	assert_int_equal(detect(tls, sizeof(tls), &k, &why), RV_ERR_UNSUPPORTED);
	assert_non_null(strstr(why, "TLS"));
	assert_int_equal(detect(zero, 1, &k, &why), RV_ERR_UNSUPPORTED);
	assert_int_equal(detect(s6, 1, &k, &why), RV_ERR_UNSUPPORTED);
	/* Empty: undecidable. */
	assert_int_equal(detect("", 0, &k, NULL), RV_ERR_NEED_MORE);
	/* "P" could be POST, PUT or PATCH; "PX" none of them. */
	assert_int_equal(detect("P", 1, &k, NULL), RV_ERR_NEED_MORE);
	assert_int_equal(detect("PU", 2, &k, NULL), RV_ERR_NEED_MORE);
	assert_int_equal(detect("PX", 2, &k, NULL), RV_ERR_UNSUPPORTED);
}

/* After RV_PROXY_DETECT_MAX bytes the answer is never NEED_MORE. */
static void test_always_decides(void **state)
{
	uint8_t in[RV_PROXY_DETECT_MAX];
	enum rv_proxy_kind k;
	unsigned seed = 1, round, i;

	(void)state;
	for (round = 0; round < 20000; round++) {
		for (i = 0; i < sizeof(in); i++) {
			seed = seed * 1103515245u + 12345u;
			/* Mostly letters and spaces, to hit method prefixes. */
			in[i] = (uint8_t)("CONETGPSHAUDLIRX "[(seed >> 16) % 17]);
		}
		assert_int_not_equal(detect(in, sizeof(in), &k, NULL), RV_ERR_NEED_MORE);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_socks),
		cmocka_unit_test(test_http_prefixes),
		cmocka_unit_test(test_unknown),
		cmocka_unit_test(test_always_decides),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
