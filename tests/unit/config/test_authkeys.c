/* test_authkeys.c - authorized-keys file, replay timestamps, atomic reload,
 * lenient reload with its add/remove diff, strict modes, persisted replay
 * floors. */
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
#include <sodium.h>

#include "rv_authkeys.h"
#include "rv_err.h"
#include "rv_keys.h"
#include "rv_replaystate.h"

struct fx {
	char dir[64];
	char path[128];
	char state[128];
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
	snprintf(fx->state, sizeof(fx->state), "%s/replay-state", fx->dir);
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
	unlink(fx->state);
	chmod(fx->dir, 0700);
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
	/* chmod, not umask: the test must not depend on the caller's umask. */
	assert_int_equal(chmod(tmp, 0644), 0);
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

/* A bad line on reload is skipped (and named); the rest takes effect, so
 * a removal always does.  The diff names what changed. */
static void test_reload_bad_lines(void **state)
{
	struct fx *fx = *state;
	struct rv_authkeys *ak = NULL;
	struct rv_authkeys_change chg;
	char text[1024], err[256] = "", want[64];

	snprintf(text, sizeof(text), "%s alice\n%s bob\n%s carol\n", fx->b64[0], fx->b64[1],
		 fx->b64[2]);
	write_file(fx, text);
	assert_int_equal(rv_authkeys_load(fx->path, &ak, err, sizeof(err)), RV_OK);

	/* bob removed; a garbage line, a repeated key and dave added. */
	snprintf(text, sizeof(text), "%s alice\ngarbage here\n%s carol\n%s carol again\n%s dave\n",
		 fx->b64[0], fx->b64[2], fx->b64[2], fx->b64[3]);
	write_file(fx, text);
	assert_int_equal(rv_authkeys_reload(ak, &chg, err, sizeof(err)), RV_OK);
	assert_int_equal(rv_authkeys_count(ak), 3);
	assert_int_equal(rv_authkeys_lookup(ak, fx->pub[1], NULL), RV_ERR_DENIED);
	assert_int_equal(rv_authkeys_lookup(ak, fx->pub[3], NULL), RV_OK);
	assert_int_equal(chg.added, 1);
	assert_int_equal(chg.removed, 1);
	assert_int_equal(chg.skipped, 2);
	snprintf(want, sizeof(want), "+dave (%.8s)", fx->b64[3]);
	assert_non_null(strstr(chg.text, want));
	snprintf(want, sizeof(want), "-bob (%.8s)", fx->b64[1]);
	assert_non_null(strstr(chg.text, want));
	assert_null(strstr(chg.text, "alice"));

	/* Every line bad: everybody is removed. */
	write_file(fx, "nope\n");
	assert_int_equal(rv_authkeys_reload(ak, &chg, err, sizeof(err)), RV_OK);
	assert_int_equal(rv_authkeys_count(ak), 0);
	assert_int_equal(chg.removed, 3);
	assert_int_equal(chg.skipped, 1);
	rv_authkeys_free(ak);
}

/* The diff text is bounded and says it was cut. */
static void test_reload_diff_truncated(void **state)
{
	struct fx *fx = *state;
	struct rv_authkeys *ak = NULL;
	struct rv_authkeys_change chg;
	char *text = malloc(64 * 128), err[256];
	size_t i, len = 0;

	assert_non_null(text);
	write_file(fx, "");
	assert_int_equal(rv_authkeys_load(fx->path, &ak, err, sizeof(err)), RV_OK);
	for (i = 0; i < 64; i++) {
		struct rv_keypair kp;
		char b64[RV_KEY_B64_SIZE];

		assert_int_equal(rv_keypair_generate(&kp), RV_OK);
		rv_key_to_base64(kp.pub, b64);
		len += (size_t)snprintf(text + len, 128, "%s client-number-%zu\n", b64, i);
	}
	write_file(fx, text);
	assert_int_equal(rv_authkeys_reload(ak, &chg, err, sizeof(err)), RV_OK);
	assert_int_equal(chg.added, 64);
	assert_true(strlen(chg.text) < sizeof(chg.text));
	assert_non_null(strstr(chg.text, "..."));
	rv_authkeys_free(ak);
	free(text);
}

/* StrictModes: a group/other-writable file (or directory) is refused at
 * load and at reload (the old set stays). */
static void test_writable_refused(void **state)
{
	struct fx *fx = *state;
	struct rv_authkeys *ak = NULL;
	char text[512], err[512] = "", want[300];

	snprintf(text, sizeof(text), "%s alice\n", fx->b64[0]);
	write_file(fx, text);
	assert_int_equal(chmod(fx->path, 0664), 0);
	assert_int_equal(rv_authkeys_load(fx->path, &ak, err, sizeof(err)), RV_ERR_PERMISSION);
	assert_null(ak);
	snprintf(want, sizeof(want), "chmod go-w %s", fx->path);
	assert_non_null(strstr(err, want));
	assert_int_equal(chmod(fx->path, 0646), 0);
	assert_int_equal(rv_authkeys_load(fx->path, &ak, err, sizeof(err)), RV_ERR_PERMISSION);

	/* The directory: writable by others without the sticky bit. */
	assert_int_equal(chmod(fx->path, 0644), 0);
	assert_int_equal(chmod(fx->dir, 0777), 0);
	assert_int_equal(rv_authkeys_load(fx->path, &ak, err, sizeof(err)), RV_ERR_PERMISSION);
	snprintf(want, sizeof(want), "chmod go-w %s", fx->dir);
	assert_non_null(strstr(err, want));
	assert_int_equal(chmod(fx->dir, 01777), 0); /* sticky, as /tmp: fine */
	assert_int_equal(rv_authkeys_load(fx->path, &ak, err, sizeof(err)), RV_OK);
	assert_int_equal(chmod(fx->dir, 0700), 0);

	/* Reload of a group-writable file: refused, old set in force. */
	snprintf(text, sizeof(text), "%s bob\n", fx->b64[1]);
	write_file(fx, text);
	assert_int_equal(chmod(fx->path, 0620), 0);
	assert_int_equal(rv_authkeys_reload(ak, NULL, err, sizeof(err)), RV_ERR_PERMISSION);
	assert_int_equal(rv_authkeys_lookup(ak, fx->pub[0], NULL), RV_OK);
	assert_int_equal(rv_authkeys_lookup(ak, fx->pub[1], NULL), RV_ERR_DENIED);
	rv_authkeys_free(ak);
}

/* With a state file a restart does not reopen the replay window. */
static void test_replay_across_restart(void **state)
{
	struct fx *fx = *state;
	struct rv_authkeys *ak = NULL;
	uint8_t t1[RV_TAI64N_LEN], t2[RV_TAI64N_LEN], t3[RV_TAI64N_LEN], t4[RV_TAI64N_LEN];
	char text[512], err[512] = "";
	struct stat st;

	snprintf(text, sizeof(text), "%s alice\n%s bob\n", fx->b64[0], fx->b64[1]);
	write_file(fx, text);
	ts_of(t1, 5000, 0);
	ts_of(t2, 5000 + RV_REPLAY_RESERVE_S, 0);     /* within the reserve */
	ts_of(t3, 5000 + RV_REPLAY_RESERVE_S, 1);     /* just past it */
	ts_of(t4, 9000, 0);

	/* Without a state file (the old behaviour) a restart forgets. */
	assert_int_equal(rv_authkeys_load(fx->path, &ak, NULL, 0), RV_OK);
	assert_int_equal(rv_authkeys_accept(ak, fx->pub[0], t1, NULL), RV_OK);
	rv_authkeys_free(ak);
	assert_int_equal(rv_authkeys_load(fx->path, &ak, NULL, 0), RV_OK);
	assert_int_equal(rv_authkeys_accept(ak, fx->pub[0], t1, NULL), RV_OK);
	rv_authkeys_free(ak);

	assert_int_equal(rv_authkeys_load(fx->path, &ak, NULL, 0), RV_OK);
	assert_int_equal(rv_authkeys_set_state_file(ak, fx->state, err, sizeof(err)), RV_OK);
	assert_int_equal(stat(fx->state, &st), 0);
	assert_int_equal(st.st_mode & 077, 0);
	assert_int_equal(rv_authkeys_accept(ak, fx->pub[0], t1, NULL), RV_OK);
	assert_int_equal(rv_authkeys_accept(ak, fx->pub[0], t1, NULL), RV_ERR_REPLAY);
	rv_authkeys_free(ak);

	/* "Restart": the persisted floor refuses t1 and anything up to it. */
	assert_int_equal(rv_authkeys_load(fx->path, &ak, NULL, 0), RV_OK);
	assert_int_equal(rv_authkeys_set_state_file(ak, fx->state, err, sizeof(err)), RV_OK);
	assert_int_equal(rv_authkeys_accept(ak, fx->pub[0], t1, NULL), RV_ERR_REPLAY);
	assert_int_equal(rv_authkeys_accept(ak, fx->pub[0], t2, NULL), RV_ERR_REPLAY);
	/* Other keys are unaffected. */
	assert_int_equal(rv_authkeys_accept(ak, fx->pub[1], t1, NULL), RV_OK);
	/* Past the floor: accepted, floor moves (written: the write before
	 * this one was for bob, a different key, so no rate limit). */
	assert_int_equal(rv_authkeys_accept(ak, fx->pub[0], t3, NULL), RV_OK);
	/* The same key moving its floor again at once: rate limited. */
	assert_int_equal(rv_authkeys_accept(ak, fx->pub[0], t4, NULL), RV_ERR_LIMIT);
	rv_authkeys_free(ak);

	assert_int_equal(rv_authkeys_load(fx->path, &ak, NULL, 0), RV_OK);
	assert_int_equal(rv_authkeys_set_state_file(ak, fx->state, err, sizeof(err)), RV_OK);
	assert_int_equal(rv_authkeys_accept(ak, fx->pub[0], t3, NULL), RV_ERR_REPLAY);
	assert_int_equal(rv_authkeys_accept(ak, fx->pub[1], t1, NULL), RV_ERR_REPLAY);
	assert_int_equal(rv_authkeys_accept(ak, fx->pub[0], t4, NULL), RV_OK);
	rv_authkeys_free(ak);

	/* A corrupt state file is an error naming the line. */
	{
		FILE *f = fopen(fx->state, "w");

		assert_non_null(f);
		fputs("# rvpn\nnot a state line\n", f);
		fclose(f);
		assert_int_equal(chmod(fx->state, 0600), 0);
	}
	assert_int_equal(rv_authkeys_load(fx->path, &ak, NULL, 0), RV_OK);
	assert_int_equal(rv_authkeys_set_state_file(ak, fx->state, err, sizeof(err)),
			 RV_ERR_CONFIG);
	snprintf(text, sizeof(text), "%s:2:", fx->state);
	assert_non_null(strstr(err, text));
	/* An unwritable state directory is found at start. */
	assert_int_equal(rv_authkeys_set_state_file(ak, "/nonexistent-rvpn/replay-state", err,
						    sizeof(err)), RV_ERR_IO);
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
		cmocka_unit_test_setup_teardown(test_reload_bad_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload_diff_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writable_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replay_across_restart, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
