/* test_acl.c - access rules: syntax, defaults, most-specific-wins. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rv_acl.h"
#include "rv_err.h"
#include "rv_loop_poll.h"

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
	assert_true(rv_acl_count(acl) > 20);
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
	/* Every IPv6 form of 10.1.1.1 is 10.1.1.1, for the operator's rules too. */
	assert_int_equal(check(acl, "64:ff9b::a01:101", 80), RV_OK);
	assert_int_equal(check(acl, "64:ff9b::a01:101", 22), RV_ERR_DENIED);
	assert_int_equal(check(acl, "2002:a01:101::1", 22), RV_ERR_DENIED);
	assert_int_equal(check(acl, "::10.1.1.1", 22), RV_ERR_DENIED);
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

/* Operator rules see through NAT64, 6to4, mapped and compatible forms. */
static void test_fold_forms(void **state)
{
	static const char *const forms[] = {
		"1.2.3.4", "::ffff:1.2.3.4", "::1.2.3.4", "64:ff9b::102:304", "64:ff9b::1.2.3.4",
		"2002:102:304::", "2002:102:304:ffff::1",
	};
	struct rv_acl *acl = NULL;
	struct rv_sockaddr sa;
	const char *rule;
	uint8_t v4[4];
	size_t i;

	(void)state;
	assert_int_equal(rv_acl_new(1, &acl), RV_OK);
	assert_int_equal(rv_acl_add(acl, RV_ACL_DENY, "0.0.0.0/0:25", NULL, 0), RV_OK);
	for (i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		sa = sa_of(forms[i], 25);
		if (rv_acl_check(acl, &sa, &rule) != RV_ERR_DENIED)
			fail_msg("%s:25 should be denied by --deny 0.0.0.0/0:25", forms[i]);
		assert_string_equal(rule, "deny 0.0.0.0/0:25");
		assert_int_equal(check(acl, forms[i], 80), RV_OK);
	}
	/* :: and ::1 are themselves, not 0.0.0.0 and 0.0.0.1. */
	assert_int_equal(rv_acl_fold_v4(sa_of("::1", 1).u.in6.sin6_addr.s6_addr, v4), 0);
	assert_int_equal(rv_acl_fold_v4(sa_of("::", 1).u.in6.sin6_addr.s6_addr, v4), 0);
	assert_int_equal(rv_acl_fold_v4(sa_of("2001:db8::1", 1).u.in6.sin6_addr.s6_addr, v4), 0);
	assert_int_equal(rv_acl_fold_v4(sa_of("2002:c000:201::", 1).u.in6.sin6_addr.s6_addr, v4),
			 1);
	assert_int_equal(v4[0], 192);
	assert_int_equal(v4[3], 1);
	rv_acl_free(acl);
}

/* Rules written in a folded form are the IPv4 rule they mean (before:
 * accepted but never matched). */
static void test_folded_rules(void **state)
{
	struct rv_acl *acl = NULL;
	struct rv_sockaddr sa;
	const char *rule;

	(void)state;
	assert_int_equal(rv_acl_new(0, &acl), RV_OK);
	assert_int_equal(rv_acl_add(acl, RV_ACL_DENY, "[::ffff:1.2.3.0/120]:80", NULL, 0),
			 RV_OK);
	assert_int_equal(rv_acl_add(acl, RV_ACL_DENY, "64:ff9b::909:0/112", NULL, 0), RV_OK);
	assert_int_equal(rv_acl_add(acl, RV_ACL_DENY, "2002:b00::/24", NULL, 0), RV_OK);
	assert_int_equal(rv_acl_add(acl, RV_ACL_DENY, "2002:c0a:b0c:1::/64", NULL, 0), RV_OK);
	sa = sa_of("1.2.3.4", 80);
	assert_int_equal(rv_acl_check(acl, &sa, &rule), RV_ERR_DENIED);
	assert_string_equal(rule, "deny [::ffff:1.2.3.0/120]:80");
	assert_int_equal(check(acl, "::ffff:1.2.3.4", 80), RV_ERR_DENIED);
	assert_int_equal(check(acl, "1.2.3.4", 81), RV_OK);
	assert_int_equal(check(acl, "9.9.1.1", 1), RV_ERR_DENIED);
	assert_int_equal(check(acl, "9.8.1.1", 1), RV_OK);
	assert_int_equal(check(acl, "11.200.0.1", 1), RV_ERR_DENIED);
	assert_int_equal(check(acl, "12.10.11.12", 1), RV_ERR_DENIED); /* /64 -> the /32 */
	assert_int_equal(check(acl, "12.10.11.13", 1), RV_OK);
	rv_acl_free(acl);

	/* An explicit mapped-form host allow overrides the default deny. */
	assert_int_equal(rv_acl_new(1, &acl), RV_OK);
	assert_int_equal(rv_acl_add(acl, RV_ACL_ALLOW, "::ffff:127.0.0.1", NULL, 0), RV_OK);
	assert_int_equal(check(acl, "127.0.0.1", 5), RV_OK);
	assert_int_equal(check(acl, "127.0.0.2", 5), RV_ERR_DENIED);
	rv_acl_free(acl);
}

/* Local-use NAT64: denied by default as itself; when allowed, every IPv4
 * address it may carry (RFC 6052 layouts) is still judged. */
static void test_local_nat64(void **state)
{
	struct rv_acl *acl = NULL;

	(void)state;
	assert_int_equal(rv_acl_new(1, &acl), RV_OK);
	assert_int_equal(check(acl, "64:ff9b:1::808:808", 80), RV_ERR_DENIED);
	assert_int_equal(rv_acl_add(acl, RV_ACL_ALLOW, "64:ff9b:1::/48", NULL, 0), RV_OK);
	assert_int_equal(check(acl, "64:ff9b:1::808:808", 80), RV_OK);
	assert_int_equal(check(acl, "64:ff9b:1::a00:1", 80), RV_ERR_DENIED);     /* /96 */
	assert_int_equal(check(acl, "64:ff9b:1:a00:0:100::", 80), RV_ERR_DENIED); /* /48 */
	assert_int_equal(check(acl, "64:ff9b:1:7f:0:1::", 80), RV_ERR_DENIED);    /* /56 */
	rv_acl_free(acl);
}

/* This host's addresses are denied by default; a host allow overrides
 * that, a wider allow does not. */
static void test_self_addresses(void **state)
{
	struct rv_acl *acl = NULL;
	struct rv_sockaddr self[2];
	struct rv_sockaddr sa;
	const char *rule;

	(void)state;
	assert_int_equal(rv_acl_new(1, &acl), RV_OK);
	assert_true(rv_acl_self_count(acl) >= 1); /* lo at least */
	self[0] = sa_of("8.8.4.4", 0);
	self[1] = sa_of("2606:4700::6810:1", 0);
	assert_int_equal(rv_acl_set_self(acl, self, 2), RV_OK);
	assert_int_equal(rv_acl_self_count(acl), 2);
	sa = sa_of("8.8.4.4", 22);
	assert_int_equal(rv_acl_check(acl, &sa, &rule), RV_ERR_DENIED);
	assert_string_equal(rule, "deny 8.8.4.4 (default, this host)");
	assert_int_equal(check(acl, "64:ff9b::808:404", 22), RV_ERR_DENIED);
	assert_int_equal(check(acl, "::ffff:8.8.4.4", 22), RV_ERR_DENIED);
	assert_int_equal(check(acl, "2606:4700::6810:1", 443), RV_ERR_DENIED);
	assert_int_equal(check(acl, "8.8.4.5", 22), RV_OK);
	assert_int_equal(rv_acl_add(acl, RV_ACL_ALLOW, "8.8.0.0/16", NULL, 0), RV_OK);
	assert_int_equal(check(acl, "8.8.4.4", 22), RV_ERR_DENIED);
	assert_int_equal(rv_acl_add(acl, RV_ACL_ALLOW, "8.8.4.4:80", NULL, 0), RV_OK);
	assert_int_equal(check(acl, "8.8.4.4", 80), RV_OK);
	assert_int_equal(check(acl, "8.8.4.4", 22), RV_ERR_DENIED);
	/* A refresh reads the real list again. */
	assert_int_equal(rv_acl_refresh_self(acl), RV_OK);
	assert_int_equal(check(acl, "8.8.4.4", 22), RV_OK);
	rv_acl_free(acl);

	/* Without defaults there is no self list. */
	assert_int_equal(rv_acl_new(0, &acl), RV_OK);
	assert_int_equal(rv_acl_self_count(acl), 0);
	assert_int_equal(rv_acl_set_self(acl, self, 2), RV_OK);
	assert_int_equal(check(acl, "8.8.4.4", 22), RV_OK);
	rv_acl_free(acl);
}

/* Each of this host's real addresses is denied (getifaddrs). */
static void test_self_real(void **state)
{
	struct ifaddrs *ifa, *i;
	struct rv_acl *acl = NULL;
	int n = 0;

	(void)state;
	assert_int_equal(rv_acl_new(1, &acl), RV_OK);
	assert_int_equal(getifaddrs(&ifa), 0);
	for (i = ifa; i != NULL; i = i->ifa_next) {
		struct rv_sockaddr sa;
		socklen_t len;

		if (i->ifa_addr == NULL || (i->ifa_addr->sa_family != AF_INET &&
					    i->ifa_addr->sa_family != AF_INET6))
			continue;
		len = i->ifa_addr->sa_family == AF_INET ? sizeof(struct sockaddr_in) :
							   sizeof(struct sockaddr_in6);
		assert_int_equal(rv_sockaddr_from_sys(&sa, i->ifa_addr, len), RV_OK);
		rv_sockaddr_set_port(&sa, 80);
		assert_int_equal(rv_acl_check(acl, &sa, NULL), RV_ERR_DENIED);
		n++;
	}
	freeifaddrs(ifa);
	assert_true(n >= 1);
	rv_acl_free(acl);
}

/* The watcher: netlink (or the timer) on a poll loop, no leak, unwatch
 * before the loop goes. */
static void test_watch(void **state)
{
	struct rv_acl *acl = NULL;
	struct rv_loop *loop = NULL;
	size_t n;

	(void)state;
	assert_int_equal(rv_loop_poll_new(&loop), RV_OK);
	assert_int_equal(rv_acl_new(1, &acl), RV_OK);
	n = rv_acl_self_count(acl);
	assert_int_equal(rv_acl_watch(acl, loop), RV_OK);
	assert_int_equal(rv_acl_watch(acl, loop), RV_OK); /* idempotent */
	(void)rv_loop_poll_run_once(loop, 10);
	assert_int_equal(rv_acl_self_count(acl), n);
	rv_acl_unwatch(acl);
	rv_acl_unwatch(acl);
	assert_int_equal(rv_acl_watch(acl, loop), RV_OK);
	rv_acl_free(acl); /* unwatches */
	rv_loop_poll_free(loop);
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

struct addr_wait {
	struct rv_acl *acl;
	int want;
};

static int addr_judged(void *arg)
{
	struct addr_wait *a = arg;
	struct rv_sockaddr sa;

	rv_sockaddr_from_literal("8.8.4.4", 80, &sa);
	return rv_acl_check(a->acl, &sa, NULL) == a->want;
}

/* Child of test_watch_sees_new_address, in its own network namespace:
 * 0 = passed, 1 = failed, 77 = cannot set up (skip). */
static int watch_child(const char *ip)
{
	char map[64], cmd[160];
	struct rv_loop *loop = NULL;
	struct rv_acl *acl = NULL;
	struct addr_wait w;
	uid_t uid = getuid();
	gid_t gid = getgid();
	int ok;

	if (unshare(CLONE_NEWNET) != 0) {
		if (unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0)
			return 77;
		snprintf(map, sizeof(map), "0 %u 1", (unsigned)uid);
		if (write_file("/proc/self/uid_map", map) != 0)
			return 77;
		(void)write_file("/proc/self/setgroups", "deny");
		snprintf(map, sizeof(map), "0 %u 1", (unsigned)gid);
		if (write_file("/proc/self/gid_map", map) != 0)
			return 77;
	}
	snprintf(cmd, sizeof(cmd), "%s link set lo up", ip);
	if (system(cmd) != 0)
		return 77;
	if (rv_loop_poll_new(&loop) != RV_OK || rv_acl_new(1, &acl) != RV_OK ||
	    rv_acl_watch(acl, loop) != RV_OK)
		return 1;
	w.acl = acl;
	w.want = RV_OK;
	ok = addr_judged(&w); /* not ours yet */
	snprintf(cmd, sizeof(cmd), "%s addr add 8.8.4.4/32 dev lo", ip);
	ok = ok && system(cmd) == 0;
	w.want = RV_ERR_DENIED;
	ok = ok && rv_loop_poll_run_until(loop, addr_judged, &w, 3000) == 0;
	snprintf(cmd, sizeof(cmd), "%s addr del 8.8.4.4/32 dev lo", ip);
	ok = ok && system(cmd) == 0;
	w.want = RV_OK;
	ok = ok && rv_loop_poll_run_until(loop, addr_judged, &w, 3000) == 0;
	rv_acl_free(acl);
	rv_loop_poll_free(loop);
	return ok ? 0 : 1;
}

/* An address added to an interface while the server runs is denied at
 * once (rtnetlink), and allowed again when it goes.  Runs in a private
 * network namespace (nothing on the host changes); skipped where
 * namespaces or ip(8) are unavailable. */
static void test_watch_sees_new_address(void **state)
{
	const char *ip = access("/usr/sbin/ip", X_OK) == 0 ? "/usr/sbin/ip" :
			 access("/sbin/ip", X_OK) == 0 ? "/sbin/ip" : NULL;
	int st = 0;
	pid_t pid;

	(void)state;
	if (ip == NULL)
		skip();
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(watch_child(ip));
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	if (WEXITSTATUS(st) == 77)
		skip();
	assert_int_equal(WEXITSTATUS(st), 0);
}

/* A name is not a rule, and the message says so (it used to blame IPv6). */
static void test_rule_name_message(void **state)
{
	struct rv_acl *acl;
	char err[256];

	(void)state;
	assert_int_equal(rv_acl_new(1, &acl), RV_OK);
	assert_int_not_equal(rv_acl_add(acl, RV_ACL_ALLOW, "git.internal:22", err, sizeof(err)),
			     RV_OK);
	assert_non_null(strstr(err, "host name"));
	assert_null(strstr(err, "IPv6"));
	assert_int_not_equal(rv_acl_add(acl, RV_ACL_ALLOW, "1:2:3:4:5:6:7:8:9", err, sizeof(err)), RV_OK);
	assert_non_null(strstr(err, "brackets"));
	rv_acl_free(acl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rule_name_message),
		cmocka_unit_test(test_defaults_deny),
		cmocka_unit_test(test_defaults_allow_public),
		cmocka_unit_test(test_no_defaults),
		cmocka_unit_test(test_allow_loopback_host),
		cmocka_unit_test(test_ports),
		cmocka_unit_test(test_specificity),
		cmocka_unit_test(test_bad_syntax),
		cmocka_unit_test(test_good_syntax),
		cmocka_unit_test(test_filter),
		cmocka_unit_test(test_fold_forms),
		cmocka_unit_test(test_folded_rules),
		cmocka_unit_test(test_local_nat64),
		cmocka_unit_test(test_self_addresses),
		cmocka_unit_test(test_self_real),
		cmocka_unit_test(test_watch),
		cmocka_unit_test(test_watch_sees_new_address),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
