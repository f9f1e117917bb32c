/* test_authkeys.c - authorized-keys file, replay timestamps, atomic reload. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "rv_authkeys.h"
#include "rv_err.h"
#include "rv_keys.h"

struct fx {
	char dir[64];
	char path[128];
	uint8_t pub[4][RV_KEY_LEN];
	char b64[4][RV_KEY_B64_SIZE];
};

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	int i;

	if (fx == NULL || sodium_init() < 0)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/rvpn-authkeys-XXXXXX");
	if (mkdtemp(fx->dir) == NULL)
		return -1;
	snprintf(fx->path, sizeof(fx->path), "%s/authorized_keys", fx->dir);
	for (i = 0; i < 4; i++) {
		struct rv_keypair kp;

		if (rv_keypair_generate(&kp) != RV_OK)
			return -1;
		memcpy(fx->pub[i], kp.pub, RV_KEY_LEN);
		rv_key_to_base64(kp.pub, fx->b64[i]);
		rv_keypair_wipe(&kp);
	}
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	unlink(fx->path);
	rmdir(fx->dir);
	free(fx);
	return 0;
}

static void write_file(const struct fx *fx, const char *text)
{
	char tmp[160];
	FILE *f;

	/* Replace by rename, as editors and config management do. */
	snprintf(tmp, sizeof(tmp), "%s.tmp", fx->path);
	f = fopen(tmp, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(rename(tmp, fx->path), 0);
}

static void ts_of(uint8_t ts[RV_TAI64N_LEN], uint64_t secs, uint32_t nanos)
{
	int i;

	secs += 0x4000000000000000ull;
	for (i = 7; i >= 0; i--, secs >>= 8)
		ts[i] = (uint8_t)secs;
	for (i = 11; i >= 8; i--, nanos >>= 8)
		ts[i] = (uint8_t)nanos;
}

static void test_load_and_lookup(void **state)
{
	struct fx *fx = *state;
	struct rv_authkeys *ak = NULL;
	const char *name = NULL;
	char text[1024], err[256];

	snprintf(text, sizeof(text),
		 "# rvpn authorized keys\n"
		 "\n"
		 "   %s   alice laptop  \n"
		 "\t# indented comment\n"
		 "%s\r\n"
		 "%s # a trailing comment, no name\n",
		 fx->b64[0], fx->b64[1], fx->b64[2]);
	write_file(fx, text);
	assert_int_equal(rv_authkeys_load(fx->path, &ak, err, sizeof(err)), RV_OK);
	assert_int_equal(rv_authkeys_count(ak), 3);
	assert_string_equal(rv_authkeys_path(ak), fx->path);
	assert_int_equal(rv_authkeys_lookup(ak, fx->pub[0], &name), RV_OK);
	assert_string_equal(name, "alice laptop");
	assert_int_equal(rv_authkeys_lookup(ak, fx->pub[1], &name), RV_OK);
	assert_string_equal(name, "");
	assert_int_equal(rv_authkeys_lookup(ak, fx->pub[2], &name), RV_OK);
	assert_string_equal(name, "");
	assert_int_equal(rv_authkeys_lookup(ak, fx->pub[3], &name), RV_ERR_DENIED);
	rv_authkeys_free(ak);

	write_file(fx, "");
	assert_int_equal(rv_authkeys_load(fx->path, &ak, err, sizeof(err)), RV_OK);
	assert_int_equal(rv_authkeys_count(ak), 0);
	assert_int_equal(rv_authkeys_lookup(ak, fx->pub[0], NULL), RV_ERR_DENIED);
	rv_authkeys_free(ak);
}

static void expect_error(struct fx *fx, const char *text, int want, const char *where)
{
	struct rv_authkeys *ak = NULL;
	char err[256] = "";

	write_file(fx, text);
	assert_int_equal(rv_authkeys_load(fx->path, &ak, err, sizeof(err)), want);
	assert_null(ak);
	if (strstr(err, where) == NULL)
		fail_msg("error '%s' lacks '%s'", err, where);
}

static void test_bad_files(void **state)
{
	struct fx *fx = *state;
	char text[2048], where[200], longname[RV_AUTHKEY_NAME_MAX + 2];

	snprintf(text, sizeof(text), "# ok\n%s a\nnot-a-key b\n", fx->b64[0]);
	snprintf(where, sizeof(where), "%s:3:", fx->path);
	expect_error(fx, text, RV_ERR_CONFIG, where);

	snprintf(text, sizeof(text), "%s a\n%s b\n", fx->b64[0], fx->b64[0]);
	snprintf(where, sizeof(where), "%s:2: key listed twice", fx->path);
	expect_error(fx, text, RV_ERR_CONFIG, where);

	/* One character short, and one with a bad character. */
	snprintf(text, sizeof(text), "%.43s\n", fx->b64[0]);
	snprintf(where, sizeof(where), "%s:1:", fx->path);
	expect_error(fx, text, RV_ERR_CONFIG, where);
	snprintf(text, sizeof(text), "!%s\n", fx->b64[0] + 1);
	expect_error(fx, text, RV_ERR_CONFIG, where);

	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	snprintf(text, sizeof(text), "%s %s\n", fx->b64[0], longname);
	snprintf(where, sizeof(where), "%s:1: name longer", fx->path);
	expect_error(fx, text, RV_ERR_CONFIG, where);

	snprintf(text, sizeof(text), "\n\n%s x\x01y\n", fx->b64[0]);
	snprintf(where, sizeof(where), "%s:3: control", fx->path);
	expect_error(fx, text, RV_ERR_CONFIG, where);

	unlink(fx->path);
	{
		struct rv_authkeys *ak = NULL;
		char err[256] = "";

		assert_int_equal(rv_authkeys_load(fx->path, &ak, err, sizeof(err)),
				 RV_ERR_NOT_FOUND);
		assert_non_null(strstr(err, fx->path));
	}
}

static void test_long_line(void **state)
{
	struct fx *fx = *state;
	char *text = malloc(RV_AUTHKEYS_LINE_MAX + 64), where[200];

	assert_non_null(text);
	memset(text, '#', RV_AUTHKEYS_LINE_MAX + 10);
	text[RV_AUTHKEYS_LINE_MAX + 10] = '\n';
	text[RV_AUTHKEYS_LINE_MAX + 11] = '\0';
	snprintf(where, sizeof(where), "%s:1: line longer", fx->path);
	expect_error(fx, text, RV_ERR_CONFIG, where);
	free(text);
}

static void test_replay(void **state)
{
	struct fx *fx = *state;
	struct rv_authkeys *ak = NULL;
	uint8_t t1[RV_TAI64N_LEN], t2[RV_TAI64N_LEN], t3[RV_TAI64N_LEN];
	const char *name = NULL;
	char text[512];

	snprintf(text, sizeof(text), "%s alice\n%s bob\n", fx->b64[0], fx->b64[1]);
	write_file(fx, text);
	assert_int_equal(rv_authkeys_load(fx->path, &ak, NULL, 0), RV_OK);
	ts_of(t1, 1000, 5);
	ts_of(t2, 1000, 6);  /* nanoseconds break the tie */
	ts_of(t3, 999, 999999999);

	assert_int_equal(rv_authkeys_accept(ak, fx->pub[0], t1, &name), RV_OK);
	assert_string_equal(name, "alice");
	assert_int_equal(rv_authkeys_accept(ak, fx->pub[0], t1, NULL), RV_ERR_REPLAY);
	assert_int_equal(rv_authkeys_accept(ak, fx->pub[0], t3, NULL), RV_ERR_REPLAY);
	assert_int_equal(rv_authkeys_accept(ak, fx->pub[0], t2, NULL), RV_OK);
	assert_int_equal(rv_authkeys_accept(ak, fx->pub[0], t2, NULL), RV_ERR_REPLAY);
	/* Per key: bob's state is independent of alice's. */
	assert_int_equal(rv_authkeys_accept(ak, fx->pub[1], t3, NULL), RV_OK);
	assert_int_equal(rv_authkeys_accept(ak, fx->pub[3], t2, NULL), RV_ERR_DENIED);
	rv_authkeys_free(ak);
}

static void test_reload(void **state)
{
	struct fx *fx = *state;
	struct rv_authkeys *ak = NULL;
	uint8_t t1[RV_TAI64N_LEN], t2[RV_TAI64N_LEN];
	const char *name = NULL;
	char text[512], err[256];

	snprintf(text, sizeof(text), "%s alice\n%s bob\n", fx->b64[0], fx->b64[1]);
	write_file(fx, text);
	assert_int_equal(rv_authkeys_load(fx->path, &ak, NULL, 0), RV_OK);
	ts_of(t1, 2000, 0);
	ts_of(t2, 2001, 0);
	assert_int_equal(rv_authkeys_accept(ak, fx->pub[0], t1, NULL), RV_OK);
	assert_int_equal(rv_authkeys_accept(ak, fx->pub[1], t1, NULL), RV_OK);

	/* New file: bob removed, carol added, alice moved and renamed. */
	snprintf(text, sizeof(text), "%s carol\n# gone: bob\n%s alice2\n", fx->b64[2],
		 fx->b64[0]);
	write_file(fx, text);
	assert_int_equal(rv_authkeys_reload(ak, NULL, err, sizeof(err)), RV_OK);
	assert_int_equal(rv_authkeys_count(ak), 2);
	assert_int_equal(rv_authkeys_accept(ak, fx->pub[0], t1, &name), RV_ERR_REPLAY);
	assert_string_equal(name, "alice2");
	assert_int_equal(rv_authkeys_accept(ak, fx->pub[1], t2, NULL), RV_ERR_DENIED);
	assert_int_equal(rv_authkeys_accept(ak, fx->pub[2], t1, NULL), RV_OK);

	/* A vanished file keeps the old set (and its timestamps). */
	unlink(fx->path);
	assert_int_equal(rv_authkeys_reload(ak, NULL, err, sizeof(err)), RV_ERR_NOT_FOUND);
	assert_int_equal(rv_authkeys_count(ak), 2);
	assert_int_equal(rv_authkeys_accept(ak, fx->pub[2], t1, NULL), RV_ERR_REPLAY);
	assert_int_equal(rv_authkeys_accept(ak, fx->pub[0], t2, NULL), RV_OK);
	rv_authkeys_free(ak);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_load_and_lookup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
