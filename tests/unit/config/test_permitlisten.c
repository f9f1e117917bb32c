/* test_permitlisten.c - permit-listen="SPEC" (rv_permitlisten.c) and the
 * authorized_keys option that carries it (rv_authkeys.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "rv_addr.h"
#include "rv_authkeys.h"
#include "rv_authkeys_edit.h"
#include "rv_buf.h"
#include "rv_err.h"
#include "rv_keys.h"
#include "rv_permitlisten.h"

static struct rv_addr a4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port)
{
	struct rv_addr x;
	const uint8_t ip[4] = { a, b, c, d };

	rv_addr_set_ipv4(&x, ip, port);
	return x;
}

static int allows(const char *spec, struct rv_addr bind)
{
	struct rv_permit_listen p;
	char err[200];

	memset(&p, 0, sizeof(p));
	assert_int_equal(rv_permit_listen_parse(&p, spec, strlen(spec), err, sizeof(err)), RV_OK);
	return rv_permit_listen_check(&p, &bind) == RV_OK;
}

static void test_match(void **state)
{
	struct rv_addr v6lo, dom;
	const uint8_t lo6[16] = { [15] = 1 };

	(void)state;
	rv_addr_set_ipv6(&v6lo, lo6, 9000);
	assert_int_equal(rv_addr_set_domain(&dom, "localhost", 9, 8000), RV_OK);
	/* No host: loopback only. */
	assert_true(allows("8000-8099", a4(127, 0, 0, 1, 8000)));
	assert_true(allows("8000-8099", a4(127, 0, 0, 1, 8099)));
	assert_false(allows("8000-8099", a4(127, 0, 0, 1, 8100)));
	assert_false(allows("8000-8099", a4(0, 0, 0, 0, 8000)));
	assert_false(allows("8000-8099", a4(192, 0, 2, 1, 8000)));
	assert_false(allows("8000-8099", a4(127, 0, 0, 1, 0))); /* port 0 needs "*" */
	assert_false(allows("8000-8099", dom));
	assert_true(allows("127.0.0.1:8080,[::1]:9000", v6lo));
	assert_false(allows("127.0.0.1:8080", a4(127, 0, 0, 2, 8080)));
	assert_true(allows("*:2222", a4(0, 0, 0, 0, 2222)));
	assert_true(allows("*:2222", a4(192, 0, 2, 1, 2222)));
	assert_true(allows("localhost:*", a4(127, 0, 0, 1, 0)));
	assert_true(allows("localhost:*", v6lo));
	assert_false(allows("localhost:*", a4(10, 0, 0, 1, 80)));
}

static void test_bad_specs(void **state)
{
	static const char *bad[] = {
		"", "0", "65536", "8000-", "-8000", "9000-8000", "a", "8000,", ",8000",
		"1.2.3:80", "[::1:80", "::1:80", "[1.2.3.4]:80", "host:80", "*:", ":80",
		"80 ", "8000-8099-9000", "*:*:*",
	};
	struct rv_permit_listen p, before;
	char err[200];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&p, 0, sizeof(p));
		assert_int_equal(rv_permit_listen_parse(&p, "80", 2, err, sizeof(err)), RV_OK);
		before = p;
		assert_int_not_equal(rv_permit_listen_parse(&p, bad[i], strlen(bad[i]), err,
							    sizeof(err)), RV_OK);
		assert_memory_equal(&p, &before, sizeof(p)); /* unchanged */
	}
}

/* Every prefix of a valid spec parses or is refused cleanly. */
static void test_prefixes(void **state)
{
	static const char spec[] = "127.0.0.1:8000-8099,[::1]:9000,*:*,localhost:22,7000";
	struct rv_permit_listen p;
	char err[200];

	(void)state;
	for (size_t n = 0; n <= strlen(spec); n++) {
		int r;

		memset(&p, 0, sizeof(p));
		r = rv_permit_listen_parse(&p, spec, n, err, sizeof(err));
		assert_true(r == RV_OK || r == RV_ERR_CONFIG);
		if (r != RV_OK)
			assert_int_equal(p.n, 0);
	}
	memset(&p, 0, sizeof(p));
	assert_int_equal(rv_permit_listen_parse(&p, spec, strlen(spec), err, sizeof(err)), RV_OK);
	assert_int_equal(p.n, 5);
}

static void test_limit(void **state)
{
	struct rv_permit_listen p;
	char spec[256] = "", err[200];

	(void)state;
	for (int i = 0; i <= RV_PERMIT_LISTEN_MAX; i++)
		snprintf(spec + strlen(spec), sizeof(spec) - strlen(spec), "%s%d", i ? "," : "",
			 1000 + i);
	memset(&p, 0, sizeof(p));
	assert_int_equal(rv_permit_listen_parse(&p, spec, strlen(spec), err, sizeof(err)),
			 RV_ERR_LIMIT);
	assert_int_equal(p.n, 0);
}

/* The authorized_keys option: with it the key may listen there, without
 * it nowhere; a bad option is a clear load error. */
static void test_authkeys_option(void **state)
{
	char dir[] = "/tmp/rvpn-permitXXXXXX", path[300], text[600], err[256];
	char b1[RV_KEY_B64_SIZE], b2[RV_KEY_B64_SIZE];
	struct rv_keypair k1, k2;
	struct rv_authkeys *ak = NULL;
	struct rv_permit_listen p;
	const char *name = NULL;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(chmod(dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/authorized_keys", dir);
	assert_int_equal(rv_keypair_generate(&k1), RV_OK);
	assert_int_equal(rv_keypair_generate(&k2), RV_OK);
	rv_key_to_base64(k1.pub, b1);
	rv_key_to_base64(k2.pub, b2);
	snprintf(text, sizeof(text),
		 "permit-listen=\"8000-8099\",permit-listen=\"*:2222\" %s alice laptop\n%s bob\n",
		 b1, b2);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(rv_authkeys_load(path, &ak, err, sizeof(err)), RV_OK);
	assert_int_equal(rv_authkeys_lookup(ak, k1.pub, &name), RV_OK);
	assert_string_equal(name, "alice laptop");
	assert_int_equal(rv_authkeys_permit_listen(ak, k1.pub, &p), RV_OK);
	assert_int_equal(p.n, 2);
	{
		struct rv_addr x = a4(0, 0, 0, 0, 2222);

		assert_int_equal(rv_permit_listen_check(&p, &x), RV_OK);
	}
	assert_int_equal(rv_authkeys_permit_listen(ak, k2.pub, &p), RV_OK);
	assert_int_equal(p.n, 0);
	rv_authkeys_free(ak);
	ak = NULL;

	snprintf(text, sizeof(text), "permit-listen=\"80x\" %s\n", b1);
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	assert_int_equal(rv_authkeys_load(path, &ak, err, sizeof(err)), RV_ERR_CONFIG);
	assert_non_null(strstr(err, ":1: permit-listen: bad entry"));
	snprintf(text, sizeof(text), "permit-listen=\"80 %s\n", b1);
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	assert_int_equal(rv_authkeys_load(path, &ak, err, sizeof(err)), RV_ERR_CONFIG);
	snprintf(text, sizeof(text), "no-pty=\"x\" %s\n", b1);
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	assert_int_equal(rv_authkeys_load(path, &ak, err, sizeof(err)), RV_ERR_CONFIG);
	assert_non_null(strstr(err, "key option"));
	assert_null(ak);
	unlink(path);
	rmdir(dir);
}

/* The editor (add-client / remove-client) reads option lines as keys too,
 * and lines whose options the loader refuses as bad. */
static void test_editor_classifies_options(void **state)
{
	static const char *text[] = {
		"permit-listen=\"8000-8099,[::1]:9000\" %s alice",
		"permit-listen=\"80\",permit-listen=\"*:22\" %s",
		"permit-listen=\"80x\" %s alice",
		"no-pty=\"1\" %s alice",
	};
	const enum rv_authkeys_line_kind want[] = { RV_AKLINE_KEY, RV_AKLINE_KEY, RV_AKLINE_BAD,
						    RV_AKLINE_BAD };
	struct rv_authkeys_line l;
	struct rv_keypair k;
	char b64[RV_KEY_B64_SIZE], line[300];
	struct rv_buf in;
	(void)state;

	assert_int_equal(rv_keypair_generate(&k), RV_OK);
	rv_key_to_base64(k.pub, b64);
	for (size_t i = 0; i < sizeof(text) / sizeof(text[0]); i++) {
		snprintf(line, sizeof(line), text[i], b64);
		rv_buf_init_view(&in, (const uint8_t *)line, strlen(line));
		assert_true(rv_authkeys_edit_next(&in, &l) > 0);
		assert_int_equal(l.kind, want[i]);
		if (want[i] == RV_AKLINE_KEY)
			assert_memory_equal(l.pub, k.pub, RV_KEY_LEN);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_bad_specs),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_limit),
		cmocka_unit_test(test_authkeys_option),
		cmocka_unit_test(test_editor_classifies_options),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
