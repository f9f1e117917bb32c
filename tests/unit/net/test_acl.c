/* test_acl.c - access rules: syntax, defaults, most-specific-wins. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "rv_acl.h"
#include "rv_err.h"

static struct rv_sockaddr sa_of(const char *ip, uint16_t port)
{
	struct rv_sockaddr sa;

	assert_int_equal(rv_sockaddr_from_literal(ip, port, &sa), RV_OK);
	return sa;
}

static int check(const struct rv_acl *acl, const char *ip, uint16_t port)
{
	struct rv_sockaddr sa = sa_of(ip, port);

	return rv_acl_check(acl, &sa, NULL);
}

static void test_defaults_deny(void **state)
{
	static const char *const denied[] = {
		"127.0.0.1", "127.255.255.254", "10.1.2.3", "172.16.0.1", "172.31.255.255",
		"192.168.1.1", "169.254.1.1", "100.64.0.1", "100.127.255.255", "0.0.0.0",
		"0.1.2.3", "255.255.255.255", "224.0.0.1", "239.255.255.250", "240.0.0.1",
		"192.0.2.1", "198.18.0.1", "::", "::1", "fc00::1", "fd12:3456::1", "fe80::1",
		"febf::1", "ff02::1", "2001:db8::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
		"::ffff:192.168.0.1", "::ffff:0.0.0.0", "::127.0.0.1", "::10.0.0.1",
		"64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b:1::1", "2002:7f00:1::1",
		"2002:c0a8:101::1", "2002:a00::1", "100::1",
	};
	struct rv_acl *acl = NULL;
	size_t i;

	(void)state;
	assert_int_equal(rv_acl_new(1, &acl), RV_OK);
	assert_true(rv_acl_count(acl) > 50);
	for (i = 0; i < sizeof(denied) / sizeof(denied[0]); i++) {
		int r = check(acl, denied[i], 80);

		if (r != RV_ERR_DENIED)
			fail_msg("%s should be denied by default, got %d", denied[i], r);
	}
	rv_acl_free(acl);
}

static void test_defaults_allow_public(void **state)
{
	static const char *const allowed[] = {
		"8.8.8.8", "1.1.1.1", "172.32.0.1", "172.15.255.255", "100.128.0.1",
		"100.63.255.255", "11.0.0.1", "126.255.255.255", "128.0.0.1", "223.255.255.255",
		"2606:4700::1111", "2a00:1450::1", "::ffff:8.8.8.8", "64:ff9b::808:808",
		"2002:808:808::1", "2001:db9::1",
	};
	struct rv_acl *acl = NULL;
	size_t i;

	(void)state;
	assert_int_equal(rv_acl_new(1, &acl), RV_OK);
	for (i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		int r = check(acl, allowed[i], 443);

		if (r != RV_OK)
			fail_msg("%s should be allowed by default, got %d", allowed[i], r);
	}
	rv_acl_free(acl);
}

static void test_no_defaults(void **state)
{
	struct rv_acl *acl = NULL;

	(void)state;
	assert_int_equal(rv_acl_new(0, &acl), RV_OK);
	assert_int_equal(rv_acl_count(acl), 0);
	assert_int_equal(check(acl, "127.0.0.1", 1), RV_OK);
	assert_int_equal(check(acl, "::1", 1), RV_OK);
	rv_acl_free(acl);
}

static void test_allow_loopback_host(void **state)
{
	struct rv_acl *acl = NULL;
	struct rv_sockaddr sa;
	const char *rule = NULL;

	(void)state;
	assert_int_equal(rv_acl_new(1, &acl), RV_OK);
	assert_int_equal(rv_acl_add(acl, RV_ACL_ALLOW, "127.0.0.1", NULL, 0), RV_OK);
	assert_int_equal(check(acl, "127.0.0.1", 8080), RV_OK);
	assert_int_equal(check(acl, "::ffff:127.0.0.1", 8080), RV_OK);
	assert_int_equal(check(acl, "127.0.0.2", 8080), RV_ERR_DENIED);
	assert_int_equal(check(acl, "::1", 8080), RV_ERR_DENIED);

	sa = sa_of("127.0.0.1", 1);
	assert_int_equal(rv_acl_check(acl, &sa, &rule), RV_OK);
	assert_string_equal(rule, "allow 127.0.0.1");
	sa = sa_of("127.0.0.9", 1);
	assert_int_equal(rv_acl_check(acl, &sa, &rule), RV_ERR_DENIED);
	assert_string_equal(rule, "deny 127.0.0.0/8 (default)");
	sa = sa_of("9.9.9.9", 1);
	assert_int_equal(rv_acl_check(acl, &sa, &rule), RV_OK);
	assert_string_equal(rule, "no rule");

	assert_int_equal(rv_acl_add(acl, RV_ACL_ALLOW, "[::1]", NULL, 0), RV_OK);
	assert_int_equal(check(acl, "::1", 8080), RV_OK);
	rv_acl_free(acl);
}

static void test_ports(void **state)
{
	struct rv_acl *acl = NULL;

	(void)state;
	assert_int_equal(rv_acl_new(1, &acl), RV_OK);
	assert_int_equal(rv_acl_add(acl, RV_ACL_ALLOW, "127.0.0.1:8080", NULL, 0), RV_OK);
	assert_int_equal(rv_acl_add(acl, RV_ACL_ALLOW, "[::1]:9000-9010,9020", NULL, 0), RV_OK);
	assert_int_equal(check(acl, "127.0.0.1", 8080), RV_OK);
	assert_int_equal(check(acl, "127.0.0.1", 8081), RV_ERR_DENIED);
	assert_int_equal(check(acl, "::1", 9000), RV_OK);
	assert_int_equal(check(acl, "::1", 9010), RV_OK);
	assert_int_equal(check(acl, "::1", 9011), RV_ERR_DENIED);
	assert_int_equal(check(acl, "::1", 9020), RV_OK);
	assert_int_equal(check(acl, "::1", 8999), RV_ERR_DENIED);
	rv_acl_free(acl);
}

static void test_specificity(void **state)
{
	struct rv_acl *acl = NULL;

	(void)state;
	assert_int_equal(rv_acl_new(1, &acl), RV_OK);
	/* Allow-list: order given deliberately "wrong" to show order does not matter. */
	assert_int_equal(rv_acl_add(acl, RV_ACL_ALLOW, "203.0.113.0/24:443", NULL, 0), RV_OK);
	assert_int_equal(rv_acl_add(acl, RV_ACL_DENY, "0.0.0.0/0", NULL, 0), RV_OK);
	assert_int_equal(rv_acl_add(acl, RV_ACL_DENY, "::/0", NULL, 0), RV_OK);
	assert_int_equal(check(acl, "203.0.113.5", 443), RV_OK);
	assert_int_equal(check(acl, "203.0.113.5", 80), RV_ERR_DENIED);
	assert_int_equal(check(acl, "8.8.8.8", 443), RV_ERR_DENIED);
	assert_int_equal(check(acl, "2606:4700::1", 443), RV_ERR_DENIED);
	rv_acl_free(acl);

	/* Same prefix: the narrower port set wins, in both directions. */
	assert_int_equal(rv_acl_new(1, &acl), RV_OK);
	assert_int_equal(rv_acl_add(acl, RV_ACL_ALLOW, "10.0.0.0/8", NULL, 0), RV_OK);
	assert_int_equal(rv_acl_add(acl, RV_ACL_DENY, "10.0.0.0/8:22", NULL, 0), RV_OK);
	assert_int_equal(check(acl, "10.1.1.1", 80), RV_OK);
	assert_int_equal(check(acl, "10.1.1.1", 22), RV_ERR_DENIED);
	assert_int_equal(check(acl, "::ffff:10.1.1.1", 22), RV_ERR_DENIED);
	assert_int_equal(check(acl, "::ffff:10.1.1.1", 23), RV_OK);
	/* Default forms of 10/8 in IPv6 stay denied: only mapped is IPv4. */
	assert_int_equal(check(acl, "64:ff9b::a01:101", 80), RV_ERR_DENIED);
	rv_acl_free(acl);

	/* Identical rule both ways: deny wins. */
	assert_int_equal(rv_acl_new(0, &acl), RV_OK);
	assert_int_equal(rv_acl_add(acl, RV_ACL_ALLOW, "8.8.8.0/24", NULL, 0), RV_OK);
	assert_int_equal(rv_acl_add(acl, RV_ACL_DENY, "8.8.8.0/24", NULL, 0), RV_OK);
	assert_int_equal(check(acl, "8.8.8.8", 53), RV_ERR_DENIED);
	assert_int_equal(check(acl, "8.8.9.8", 53), RV_OK);
	/* Longer prefix beats it. */
	assert_int_equal(rv_acl_add(acl, RV_ACL_ALLOW, "8.8.8.8/31", NULL, 0), RV_OK);
	assert_int_equal(check(acl, "8.8.8.8", 53), RV_OK);
	assert_int_equal(check(acl, "8.8.8.9", 53), RV_OK);
	assert_int_equal(check(acl, "8.8.8.10", 53), RV_ERR_DENIED);
	rv_acl_free(acl);
}

static void test_bad_syntax(void **state)
{
	static const char *const bad[] = {
		"", "foo", "1.2.3.4/33", "10.0.0.1/8", "1.2.3.4:", "1.2.3.4:99999",
		"1.2.3.4:90-80", "1.2.3.4:80,", "1.2.3.4:a", "[::1", "[1.2.3.4]:80", "[::1]x",
		"[::1]:", "1.2.3.4/", "::1/129", "fc00::1/7", "1.2.3", "1.2.3.4/8x",
		"[::1/64]:80", "1.2.3.4:1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17",
	};
	struct rv_acl *acl = NULL;
	char err[256];
	size_t i;

	(void)state;
	assert_int_equal(rv_acl_new(0, &acl), RV_OK);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (rv_acl_add(acl, RV_ACL_DENY, bad[i], err, sizeof(err)) != RV_ERR_CONFIG)
			fail_msg("'%s' should be refused", bad[i]);
		char quoted[128];
		snprintf(quoted, sizeof(quoted), "'%s'", bad[i]);
		if (strstr(err, quoted) == NULL)
			fail_msg("error for '%s' does not name it: %s", bad[i], err);
	}
	assert_int_equal(rv_acl_count(acl), 0);
	rv_acl_free(acl);
}

static void test_good_syntax(void **state)
{
	static const char *const good[] = {
		"1.2.3.4", "1.2.3.0/24", "0.0.0.0/0", "1.2.3.4:80", "1.2.3.4:80-90",
		"1.2.3.4:80,443,8000-8100", "::1", "fc00::/7", "[::1]", "[::1]:80",
		"[2001:db8::/32]:80-90", "[::/0]:25", "0.0.0.0/0:0-65535",
	};
	struct rv_acl *acl = NULL;
	char err[256];
	size_t i;

	(void)state;
	assert_int_equal(rv_acl_new(0, &acl), RV_OK);
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (rv_acl_add(acl, RV_ACL_ALLOW, good[i], err, sizeof(err)) != RV_OK)
			fail_msg("'%s' should parse: %s", good[i], err);
	assert_int_equal(rv_acl_count(acl), sizeof(good) / sizeof(good[0]));
	rv_acl_free(acl);
}

static void test_filter(void **state)
{
	struct rv_acl *acl = NULL;
	struct rv_sockaddr a[5];

	(void)state;
	assert_int_equal(rv_acl_new(1, &acl), RV_OK);
	a[0] = sa_of("127.0.0.1", 80);
	a[1] = sa_of("8.8.8.8", 80);
	a[2] = sa_of("::1", 80);
	a[3] = sa_of("2606:4700::1", 80);
	a[4] = sa_of("10.0.0.1", 80);
	assert_int_equal(rv_acl_filter(acl, a, 5), 2);
	assert_int_equal(rv_sockaddr_family(&a[0]), AF_INET);
	assert_int_equal(rv_sockaddr_family(&a[1]), AF_INET6);
	rv_acl_free(acl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_deny),
		cmocka_unit_test(test_defaults_allow_public),
		cmocka_unit_test(test_no_defaults),
		cmocka_unit_test(test_allow_loopback_host),
		cmocka_unit_test(test_ports),
		cmocka_unit_test(test_specificity),
		cmocka_unit_test(test_bad_syntax),
		cmocka_unit_test(test_good_syntax),
		cmocka_unit_test(test_filter),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
