/* test_sockaddr.c - address parsing and formatting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "rv_err.h"
#include "rv_sockaddr.h"

static void test_parse_good(void **state)
{
	static const struct {
		const char *in;
		const char *out;
	} cases[] = {
		{"1.2.3.4", "1.2.3.4:53"},       {"1.2.3.4:5353", "1.2.3.4:5353"},
		{"::1", "[::1]:53"},             {"[::1]", "[::1]:53"},
		{"[::1]:5353", "[::1]:5353"},    {"2001:db8::7", "[2001:db8::7]:53"},
		{"[2001:db8::7]:1", "[2001:db8::7]:1"},
	};
	char buf[RV_SOCKADDR_STRLEN];
	struct rv_sockaddr sa;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(rv_sockaddr_parse(cases[i].in, 53, 0, &sa, NULL, 0), RV_OK);
		assert_string_equal(rv_sockaddr_str(&sa, 1, buf), cases[i].out);
	}
	assert_int_equal(rv_sockaddr_parse("0.0.0.0:0", 53, 1, &sa, NULL, 0), RV_OK);
	assert_int_equal(rv_sockaddr_port(&sa), 0);
}

static void test_parse_bad(void **state)
{
	static const char *const bad[] = {
		"", "host", "1.2.3.4:", "1.2.3.4:65536", "1.2.3.4:0", "[::1", "[::1]x",
		"[1.2.3.4]:5", "1.2.3:5", ":53", "[]:53", "1.2.3.4:5x",
	};
	char err[128];
	struct rv_sockaddr sa;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (rv_sockaddr_parse(bad[i], 53, 0, &sa, err, sizeof(err)) != RV_ERR_MALFORMED)
			fail_msg("'%s' should be refused", bad[i]);
		assert_non_null(strstr(err, bad[i]));
	}
}

static void test_parse_messages(void **state)
{
	struct rv_sockaddr sa;
	char err[200], ip[RV_SOCKADDR_STRLEN];

	(void)state;
	/* localhost is the one name a listener accepts (no DNS at start). */
	assert_int_equal(rv_sockaddr_parse("localhost:1", 0, 0, &sa, err, sizeof(err)), RV_OK);
	assert_string_equal(rv_sockaddr_str(&sa, 1, ip), "127.0.0.1:1");
	assert_int_equal(rv_sockaddr_parse("git.internal:22", 0, 0, &sa, err, sizeof(err)),
			 RV_ERR_MALFORMED);
	assert_non_null(strstr(err, "host name"));
	assert_int_equal(rv_sockaddr_parse("1.2.3.4:0", 0, 0, &sa, err, sizeof(err)),
			 RV_ERR_MALFORMED);
	assert_non_null(strstr(err, "port 0"));
	assert_int_equal(rv_sockaddr_parse("1.2.3.4:x", 0, 0, &sa, err, sizeof(err)),
			 RV_ERR_MALFORMED);
	assert_non_null(strstr(err, "not a number"));
}

static void test_addr_roundtrip(void **state)
{
	struct rv_sockaddr sa, sb;
	struct rv_addr a;

	(void)state;
	assert_int_equal(rv_sockaddr_from_literal("2001:db8::1", 443, &sa), RV_OK);
	assert_int_equal(rv_sockaddr_to_addr(&sa, &a), RV_OK);
	assert_int_equal(a.atyp, RV_ATYP_IPV6);
	assert_int_equal(a.port, 443);
	assert_int_equal(rv_sockaddr_from_addr(&sb, &a), RV_OK);
	assert_true(rv_sockaddr_equal(&sa, &sb));
	rv_sockaddr_set_port(&sb, 444);
	assert_false(rv_sockaddr_equal(&sa, &sb));

	assert_int_equal(rv_sockaddr_from_literal("10.1.2.3", 80, &sa), RV_OK);
	assert_int_equal(rv_sockaddr_to_addr(&sa, &a), RV_OK);
	assert_int_equal(a.atyp, RV_ATYP_IPV4);
	assert_memory_equal(a.ip, "\x0a\x01\x02\x03", 4);
	a.atyp = RV_ATYP_DOMAIN;
	assert_int_equal(rv_sockaddr_from_addr(&sb, &a), RV_ERR_INVALID_ARG);
	assert_int_equal(rv_sockaddr_from_literal("example.com", 80, &sa), RV_ERR_NOT_FOUND);
	assert_int_equal(rv_sockaddr_from_literal("127.1", 80, &sa), RV_ERR_NOT_FOUND);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_parse_messages),
		cmocka_unit_test(test_addr_roundtrip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
