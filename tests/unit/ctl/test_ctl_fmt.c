/* test_ctl_fmt.c - text, JSON and Prometheus writers: escaping, the sticky
 * error, and a failed write leaving the buffer as it was. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "rv_ctl_fmt.h"
#include "rv_err.h"

static void assert_buf_str(const struct rv_buf *b, const char *want)
{
	assert_int_equal(rv_buf_len(b), strlen(want));
	assert_memory_equal(rv_buf_ptr(b), want, strlen(want));
}

static void json_is(const char *in, const char *want)
{
	struct rv_buf b;
	struct rv_ctl_w w;

	rv_buf_init(&b, 4096);
	rv_ctl_w_init(&w, &b);
	assert_int_equal(rv_ctl_w_json_str(&w, in), RV_OK);
	assert_buf_str(&b, want);
	rv_buf_cleanup(&b);
}

static void test_json_str(void **state)
{
	(void)state;
	json_is("plain", "\"plain\"");
	json_is("", "\"\"");
	json_is(NULL, "null");
	json_is("a\"b\\c", "\"a\\\"b\\\\c\"");
	json_is("tab\tnl\n\x01\x7f", "\"tab\\u0009nl\\u000a\\u0001\\u007f\"");
	json_is("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
	/* Not UTF-8: a lone continuation byte, a truncated sequence, an
	 * overlong '/', a surrogate. */
	json_is("\x80", "\"\\ufffd\"");
	json_is("a\xc3", "\"a\\ufffd\"");
	json_is("\xc0\xaf", "\"\\ufffd\\ufffd\"");
	json_is("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");
}

static void test_prom(void **state)
{
	struct rv_buf b;
	struct rv_ctl_w w;

	(void)state;
	rv_buf_init(&b, 4096);
	rv_ctl_w_init(&w, &b);
	rv_ctl_w_prom(&w, "rvpn_sessions", "gauge", "Sessions open.", 3);
	rv_ctl_w_prom_meta(&w, "rvpn_bytes_total", "counter", "Bytes.");
	rv_ctl_w_prom_val(&w, "rvpn_bytes_total", "direction=\"in\"", 18446744073709551615ull);
	rv_ctl_w_prom_val_ms(&w, "rvpn_rtt_seconds", "", 1234);
	rv_ctl_w_prom_val_ms(&w, "rvpn_rtt_seconds", "a=\"b\"", 5);
	assert_int_equal(w.err, RV_OK);
	assert_buf_str(&b, "# HELP rvpn_sessions Sessions open.\n# TYPE rvpn_sessions gauge\n"
			   "rvpn_sessions 3\n# HELP rvpn_bytes_total Bytes.\n"
			   "# TYPE rvpn_bytes_total counter\n"
			   "rvpn_bytes_total{direction=\"in\"} 18446744073709551615\n"
			   "rvpn_rtt_seconds 1.234\nrvpn_rtt_seconds{a=\"b\"} 0.005\n");
	rv_buf_cleanup(&b);
}

static void test_prom_rejects(void **state)
{
	static const char *bad_names[] = { "", "1abc", "a-b", "a b", "a\n", "é" };
	struct rv_buf b;
	struct rv_ctl_w w;
	size_t i;

	(void)state;
	assert_true(rv_ctl_prom_name_ok("rvpn_x:y_1"));
	assert_true(rv_ctl_prom_name_ok("_a"));
	for (i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++)
		assert_false(rv_ctl_prom_name_ok(bad_names[i]));
	assert_false(rv_ctl_prom_name_ok(NULL));
	rv_buf_init(&b, 4096);
	rv_ctl_w_init(&w, &b);
	assert_int_equal(rv_ctl_w_prom_meta(&w, "x", "histogram", "h"), RV_ERR_INVALID_ARG);
	assert_int_equal(rv_buf_len(&b), 0);
	/* Sticky: nothing more is written. */
	assert_int_equal(rv_ctl_w_printf(&w, "more"), RV_ERR_INVALID_ARG);
	assert_int_equal(rv_buf_len(&b), 0);
	rv_ctl_w_init(&w, &b);
	assert_int_equal(rv_ctl_w_prom_meta(&w, "x", "gauge", "two\nlines"), RV_ERR_INVALID_ARG);
	rv_ctl_w_init(&w, &b);
	assert_int_equal(rv_ctl_w_prom_val(&w, "x", "a=\"1\"\nb 2", 1), RV_ERR_INVALID_ARG);
	rv_ctl_w_init(&w, &b);
	assert_int_equal(rv_ctl_w_prom_val(&w, "bad name", NULL, 1), RV_ERR_INVALID_ARG);
	assert_int_equal(rv_buf_len(&b), 0);
	rv_buf_cleanup(&b);
}

/* At the buffer's cap: the failing write adds nothing (no half line, no
 * half JSON string) and later writes do nothing. */
static void test_cap(void **state)
{
	struct rv_buf b;
	struct rv_ctl_w w;

	(void)state;
	rv_buf_init(&b, 16);
	rv_ctl_w_init(&w, &b);
	assert_int_equal(rv_ctl_w_printf(&w, "0123456789"), RV_OK);
	assert_int_equal(rv_ctl_w_json_str(&w, "abcdef"), RV_ERR_NO_SPACE);
	assert_buf_str(&b, "0123456789");
	assert_int_equal(rv_ctl_w_printf(&w, "x"), RV_ERR_NO_SPACE);
	assert_buf_str(&b, "0123456789");
	rv_ctl_w_init(&w, &b);
	assert_int_equal(rv_ctl_w_printf(&w, "abcdefg"), RV_ERR_NO_SPACE);
	assert_buf_str(&b, "0123456789");
	rv_ctl_w_init(&w, NULL);
	assert_int_equal(w.err, RV_ERR_INVALID_ARG);
	rv_buf_cleanup(&b);
}

static void test_duration(void **state)
{
	char out[32];

	(void)state;
	assert_string_equal(rv_ctl_fmt_duration(0, out, sizeof(out)), "0s");
	assert_string_equal(rv_ctl_fmt_duration(59, out, sizeof(out)), "59s");
	assert_string_equal(rv_ctl_fmt_duration(60, out, sizeof(out)), "1m00s");
	assert_string_equal(rv_ctl_fmt_duration(3600 + 61, out, sizeof(out)), "1h01m01s");
	assert_string_equal(rv_ctl_fmt_duration(2 * 86400 + 5, out, sizeof(out)), "2d00h00m05s");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_str), cmocka_unit_test(test_prom),
		cmocka_unit_test(test_prom_rejects), cmocka_unit_test(test_cap),
		cmocka_unit_test(test_duration),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
