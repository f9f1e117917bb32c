/* test_clienturl.c - the rvpn:// client URL: round trips (names, IPv4,
 * IPv6, with and without the private key), defaults, every malformed form,
 * every proper prefix of a valid URL refused, limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "rv_clienturl.h"
#include "rv_err.h"

#define SPUB "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"  /* bytes 0..31 */
#define CPRIV "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8" /* bytes 32..63 */

static int setup(void **state)
{
	(void)state;
	return sodium_init() < 0 ? -1 : 0;
}

static int parse(const char *s, struct rv_clienturl *u)
{
	char err[256] = "";
	int r = rv_clienturl_parse(s, strlen(s), u, err, sizeof(err));

	if (r != RV_OK)
		assert_true(strncmp(err, "rvpn:// URL: ", 13) == 0);
	return r;
}

static void fill(struct rv_clienturl *u, const char *host, int v6, uint16_t port,
		 const char *path, int tls, int key, const char *name)
{
	int i;

	memset(u, 0, sizeof(*u));
	for (i = 0; i < RV_KEY_LEN; i++) {
		u->server_pub[i] = (uint8_t)i;
		u->client_priv[i] = (uint8_t)(32 + i);
	}
	snprintf(u->host, sizeof(u->host), "%s", host);
	u->host_is_ipv6 = v6;
	u->port = port;
	snprintf(u->path, sizeof(u->path), "%s", path);
	u->tls = tls;
	u->has_key = key;
	if (!key)
		memset(u->client_priv, 0, sizeof(u->client_priv));
	snprintf(u->name, sizeof(u->name), "%s", name);
}

static void round_trip(const struct rv_clienturl *u, const char *expect)
{
	char text[RV_CLIENTURL_SIZE];
	struct rv_clienturl back;

	assert_int_equal(rv_clienturl_build(u, text, sizeof(text)), RV_OK);
	if (expect != NULL)
		assert_string_equal(text, expect);
	assert_int_equal(parse(text, &back), RV_OK);
	assert_memory_equal(&back, u, sizeof(back));
	rv_clienturl_wipe(&back);
}

static void test_round_trip(void **state)
{
	struct rv_clienturl u;

	(void)state;
	fill(&u, "vpn.example.com", 0, 443, "/AbCdEf-_0123456789xyz", 1, 1, "alice");
	round_trip(&u, "rvpn://" SPUB "@vpn.example.com:443/AbCdEf-_0123456789xyz?tls=1&key="
		   CPRIV "&name=alice");
	fill(&u, "127.0.0.1", 0, 8080, "/", 0, 0, "");
	round_trip(&u, "rvpn://" SPUB "@127.0.0.1:8080/?tls=0");
	fill(&u, "::1", 1, 9, "/a/b;c=d:e@f!$&'()*+,~", 0, 1, "bob@laptop.home_1-2");
	round_trip(&u, NULL);
	fill(&u, "fe80::1:2", 1, 65535, "/x", 1, 0, "n");
	round_trip(&u, NULL);
}

static void test_defaults_and_order(void **state)
{
	struct rv_clienturl u;

	(void)state;
	assert_int_equal(parse("rvpn://" SPUB "@h/p", &u), RV_OK);
	assert_int_equal(u.port, 80);
	assert_int_equal(u.tls, 0);
	assert_int_equal(u.has_key, 0);
	assert_string_equal(u.name, "");
	assert_string_equal(u.path, "/p");
	assert_int_equal(parse("RVPN://" SPUB "@h/p?name=x&tls=1", &u), RV_OK);
	assert_int_equal(u.port, 443);
	assert_int_equal(u.tls, 1);
	assert_string_equal(u.name, "x");
	assert_int_equal(parse("rvpn://" SPUB "@[::1]/?key=" CPRIV "&tls=0", &u), RV_OK);
	assert_int_equal(u.has_key, 1);
	assert_int_equal(u.client_priv[0], 32);
	assert_int_equal(u.host_is_ipv6, 1);
	assert_string_equal(u.host, "::1");
}

static void test_ws_url(void **state)
{
	struct rv_clienturl u;
	char ws[RV_CLIENTURL_WS_SIZE], small[8];

	(void)state;
	fill(&u, "::1", 1, 8443, "/secret", 1, 0, "");
	assert_int_equal(rv_clienturl_ws_url(&u, ws, sizeof(ws)), RV_OK);
	assert_string_equal(ws, "wss://[::1]:8443/secret");
	fill(&u, "h.example", 0, 80, "/", 0, 0, "");
	assert_int_equal(rv_clienturl_ws_url(&u, ws, sizeof(ws)), RV_OK);
	assert_string_equal(ws, "ws://h.example:80/");
	assert_int_equal(rv_clienturl_ws_url(&u, small, sizeof(small)), RV_ERR_NO_SPACE);
	assert_string_equal(small, "");
}

static void test_malformed(void **state)
{
	static const char *const bad[] = {
		"",
		"rvpn:/",
		"http://" SPUB "@h/p",
		"rvpn://@h/p",
		"rvpn://" SPUB "h/p",                       /* no '@' */
		"rvpn://AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh@h/p", /* 42 chars */
		"rvpn://" SPUB "A@h/p",                     /* 44 chars */
		"rvpn://AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9@h/p", /* non-zero pad bits */
		"rvpn://AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+@h/p", /* '+' not base64url */
		"rvpn://AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=@h/p", /* padding */
		"rvpn://" SPUB "@/p",                       /* no host */
		"rvpn://" SPUB "@-h/p",
		"rvpn://" SPUB "@h",                        /* no path */
		"rvpn://" SPUB "@h:/p",
		"rvpn://" SPUB "@h:0/p",
		"rvpn://" SPUB "@h:065/p",
		"rvpn://" SPUB "@h:65536/p",
		"rvpn://" SPUB "@h:123456/p",
		"rvpn://" SPUB "@h:8x/p",
		"rvpn://" SPUB "@[::1/p",
		"rvpn://" SPUB "@[]/p",
		"rvpn://" SPUB "@[1:2:3]/p",
		"rvpn://" SPUB "@[g::1]/p",
		"rvpn://" SPUB "@h/p%20q",
		"rvpn://" SPUB "@h/p q",
		"rvpn://" SPUB "@h/p#frag",
		"rvpn://" SPUB "@h/p?",
		"rvpn://" SPUB "@h/p?tls",
		"rvpn://" SPUB "@h/p?tls=",
		"rvpn://" SPUB "@h/p?tls=2",
		"rvpn://" SPUB "@h/p?tls=10",
		"rvpn://" SPUB "@h/p?tls=1&tls=1",
		"rvpn://" SPUB "@h/p?tls=1&",
		"rvpn://" SPUB "@h/p?tls=1&&name=a",
		"rvpn://" SPUB "@h/p?TLS=1",
		"rvpn://" SPUB "@h/p?port=1",
		"rvpn://" SPUB "@h/p?key=" SPUB "A",
		"rvpn://" SPUB "@h/p?key=short",
		"rvpn://" SPUB "@h/p?key=",
		"rvpn://" SPUB "@h/p?name=",
		"rvpn://" SPUB "@h/p?name=a b",
		"rvpn://" SPUB "@h/p?name=a%20b",
		"rvpn://" SPUB "@h/p?name=a+b",
		"rvpn://" SPUB "@h/p?name=a&name=b",
		"rvpn://" SPUB "@h/p?name=0123456789012345678901234567890123456789"
		"01234567890123456789012345",
		"rvpn://" SPUB "@h/p\n",
	};
	struct rv_clienturl u, keep;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&u, 0x5a, sizeof(u));
		keep = u;
		if (parse(bad[i], &u) != RV_ERR_MALFORMED)
			fail_msg("accepted: %s", bad[i]);
		assert_memory_equal(&u, &keep, sizeof(u)); /* untouched on failure */
	}
	/* A NUL inside the given length is just a bad byte. */
	assert_int_equal(rv_clienturl_parse("rvpn://" SPUB "@h/p\0x", 7 + 43 + 5 + 2, &u, NULL, 0),
			 RV_ERR_MALFORMED);
	assert_int_equal(rv_clienturl_parse(NULL, 0, &u, NULL, 0), RV_ERR_INVALID_ARG);
}

static void test_every_prefix(void **state)
{
	static const char good[] = "rvpn://" SPUB "@[::1]:8443/abc?tls=1&key=" CPRIV "&name=al";
	struct rv_clienturl u;
	size_t i, len = strlen(good);

	(void)state;
	assert_int_equal(parse(good, &u), RV_OK);
	for (i = 0; i < len; i++) {
		/* Cuts that end at a field boundary may be valid URLs of their own
		 * ("/a", "/ab" paths; the name "a"): they must parse to less. */
		int r = rv_clienturl_parse(good, i, &u, NULL, 0);

		if (r == RV_OK)
			assert_true(i >= 7 + 43 + 1 + 5 + 5 + 1 && i < len);
		else
			assert_int_equal(r, RV_ERR_MALFORMED);
	}
	/* The cut right before the key's last character is never valid. */
	assert_int_equal(rv_clienturl_parse(good, strstr(good, "&name") - good - 1, &u, NULL, 0),
			 RV_ERR_MALFORMED);
}

static void test_limits(void **state)
{
	char text[RV_CLIENTURL_MAX + 64], host[RV_CLIENTURL_HOST_MAX + 2],
		path[RV_CLIENTURL_PATH_MAX + 2];
	struct rv_clienturl u;

	(void)state;
	memset(host, 'h', sizeof(host));
	host[RV_CLIENTURL_HOST_MAX] = '\0';
	memset(path, 'p', sizeof(path));
	path[0] = '/';
	path[RV_CLIENTURL_PATH_MAX] = '\0';
	snprintf(text, sizeof(text), "rvpn://" SPUB "@%s:1%s?tls=1&key=" CPRIV "&name="
		 "0123456789012345678901234567890123456789012345678901234567890123", host, path);
	assert_int_equal(parse(text, &u), RV_OK); /* every field at its maximum */
	assert_int_equal(strlen(u.host), RV_CLIENTURL_HOST_MAX);
	assert_int_equal(strlen(u.path), RV_CLIENTURL_PATH_MAX);
	assert_int_equal(strlen(u.name), RV_CLIENTURL_NAME_MAX);
	host[RV_CLIENTURL_HOST_MAX] = 'h';
	host[RV_CLIENTURL_HOST_MAX + 1] = '\0';
	snprintf(text, sizeof(text), "rvpn://" SPUB "@%s/p", host);
	assert_int_equal(parse(text, &u), RV_ERR_MALFORMED);
	path[RV_CLIENTURL_PATH_MAX] = 'p';
	path[RV_CLIENTURL_PATH_MAX + 1] = '\0';
	snprintf(text, sizeof(text), "rvpn://" SPUB "@h%s", path);
	assert_int_equal(parse(text, &u), RV_ERR_MALFORMED);
	/* Whole-string cap, checked before anything else. */
	memset(text, 'a', sizeof(text));
	assert_int_equal(rv_clienturl_parse(text, RV_CLIENTURL_MAX + 1, &u, NULL, 0),
			 RV_ERR_MALFORMED);
}

static void test_build_refuses(void **state)
{
	struct rv_clienturl u;
	char text[RV_CLIENTURL_SIZE], small[40];

	(void)state;
	fill(&u, "h", 0, 1, "/p q", 0, 0, "");      /* path a URL cannot carry */
	assert_int_equal(rv_clienturl_build(&u, text, sizeof(text)), RV_ERR_INVALID_ARG);
	fill(&u, "h", 0, 1, "nopath", 0, 0, "");
	assert_int_equal(rv_clienturl_build(&u, text, sizeof(text)), RV_ERR_INVALID_ARG);
	fill(&u, "h", 0, 1, "/p", 0, 0, "bad name");
	assert_int_equal(rv_clienturl_build(&u, text, sizeof(text)), RV_ERR_INVALID_ARG);
	fill(&u, "a:b", 0, 1, "/p", 0, 0, "");       /* IPv6 without the flag */
	assert_int_equal(rv_clienturl_build(&u, text, sizeof(text)), RV_ERR_INVALID_ARG);
	fill(&u, "h", 0, 0, "/p", 0, 0, "");         /* port 0 */
	assert_int_equal(rv_clienturl_build(&u, text, sizeof(text)), RV_ERR_INVALID_ARG);
	fill(&u, "h", 0, 1, "/p", 0, 0, "");
	assert_int_equal(rv_clienturl_build(&u, small, sizeof(small)), RV_ERR_NO_SPACE);
	assert_string_equal(small, "");
	assert_true(rv_clienturl_name_valid("a.b_c@d-e9", 10));
	assert_false(rv_clienturl_name_valid("", 0));
	assert_false(rv_clienturl_name_valid("a/b", 3));
	assert_false(rv_clienturl_name_valid("é", strlen("é")));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_defaults_and_order),
		cmocka_unit_test(test_ws_url),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_every_prefix),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_build_refuses),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
