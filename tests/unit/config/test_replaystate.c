/* test_replaystate.c - the replay state file: line parser (every prefix
 * of a valid input needs more), read/write round trip, corrupt files named
 * by line, bounds, modes, TAI64N arithmetic. */
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

#include "rv_buf.h"
#include "rv_err.h"
#include "rv_keys.h"
#include "rv_replaystate.h"

struct fx {
	char dir[64];
	char path[128];
};

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	if (fx == NULL || sodium_init() < 0)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/rvpn-replaystate-XXXXXX");
	if (mkdtemp(fx->dir) == NULL)
		return -1;
	snprintf(fx->path, sizeof(fx->path), "%s/replay-state", fx->dir);
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

static void put_file(const struct fx *fx, const char *text, mode_t mode)
{
	FILE *f = fopen(fx->path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(fx->path, mode), 0);
}

static void make_entry(struct rv_replay_entry *e, uint8_t seed)
{
	struct rv_keypair kp;
	size_t i;

	assert_int_equal(rv_keypair_generate(&kp), RV_OK);
	memcpy(e->pub, kp.pub, RV_KEY_LEN);
	rv_keypair_wipe(&kp);
	for (i = 0; i < RV_TAI64N_LEN; i++)
		e->ts[i] = (uint8_t)(seed + i * 17);
	e->ts[0] = 0x40;
}

static void entry_line(const struct rv_replay_entry *e, char *out, size_t outlen)
{
	char b64[RV_KEY_B64_SIZE];
	size_t i, n;

	rv_key_to_base64(e->pub, b64);
	n = (size_t)snprintf(out, outlen, "%s ", b64);
	for (i = 0; i < RV_TAI64N_LEN; i++)
		n += (size_t)snprintf(out + n, outlen - n, "%02X", e->ts[i]);
	snprintf(out + n, outlen - n, "\n");
}

static void test_parse_prefixes(void **state)
{
	struct rv_replay_entry e, got;
	char line[RV_REPLAYSTATE_LINE_MAX + 8];
	struct rv_buf b;
	size_t len, i;
	int is_entry = -1;

	(void)state;
	make_entry(&e, 3);
	entry_line(&e, line, sizeof(line));
	len = strlen(line);
	assert_int_equal(len, RV_REPLAYSTATE_LINE_MAX + 1);
	for (i = 0; i < len; i++) {
		rv_buf_init_view(&b, line, i);
		assert_int_equal(rv_replaystate_parse_line(&b, &got, &is_entry), RV_ERR_NEED_MORE);
		assert_int_equal(rv_buf_len(&b), i); /* unchanged */
	}
	rv_buf_init_view(&b, line, len);
	assert_int_equal(rv_replaystate_parse_line(&b, &got, &is_entry), (int)len);
	assert_int_equal(is_entry, 1);
	assert_memory_equal(got.pub, e.pub, RV_KEY_LEN);
	assert_memory_equal(got.ts, e.ts, RV_TAI64N_LEN); /* upper-case hex too */
	assert_int_equal(rv_buf_len(&b), 0);

	rv_buf_init_view(&b, "# c\n", 4);
	assert_int_equal(rv_replaystate_parse_line(&b, &got, &is_entry), 4);
	assert_int_equal(is_entry, 0);
}

static void test_parse_bad(void **state)
{
	struct rv_replay_entry e, got;
	char line[RV_REPLAYSTATE_LINE_MAX + 8], bad[RV_REPLAYSTATE_LINE_MAX + 8];
	static const size_t spots[] = {0, 10, RV_KEY_B64_LEN, RV_KEY_B64_LEN + 1,
				       RV_REPLAYSTATE_LINE_MAX - 1};
	struct rv_buf b;
	size_t i;
	int is_entry;

	(void)state;
	make_entry(&e, 9);
	entry_line(&e, line, sizeof(line));
	for (i = 0; i < sizeof(spots) / sizeof(spots[0]); i++) {
		memcpy(bad, line, sizeof(line));
		bad[spots[i]] = '!';
		rv_buf_init_view(&b, bad, strlen(bad));
		assert_int_equal(rv_replaystate_parse_line(&b, &got, &is_entry), RV_ERR_MALFORMED);
		assert_int_equal(rv_buf_len(&b), strlen(bad));
	}
	/* Blank line, short line, extra space, over-long line without newline. */
	rv_buf_init_view(&b, "\n", 1);
	assert_int_equal(rv_replaystate_parse_line(&b, &got, &is_entry), RV_ERR_MALFORMED);
	rv_buf_init_view(&b, line + 1, strlen(line) - 1);
	assert_int_equal(rv_replaystate_parse_line(&b, &got, &is_entry), RV_ERR_MALFORMED);
	memset(bad, '#', sizeof(bad));
	rv_buf_init_view(&b, bad, sizeof(bad));
	assert_int_equal(rv_replaystate_parse_line(&b, &got, &is_entry), RV_ERR_MALFORMED);
	rv_buf_init_view(&b, "#\x01\n", 3);
	assert_int_equal(rv_replaystate_parse_line(&b, &got, &is_entry), RV_ERR_MALFORMED);
}

static void test_round_trip(void **state)
{
	struct fx *fx = *state;
	struct rv_replay_entry e[3], *got = NULL;
	char err[512] = "";
	struct stat st;
	size_t n = 99, i;

	/* Missing file: nothing accepted yet. */
	assert_int_equal(rv_replaystate_read(fx->path, 3, &got, &n, err, sizeof(err)), RV_OK);
	assert_int_equal(n, 0);
	free(got);
	for (i = 0; i < 3; i++)
		make_entry(&e[i], (uint8_t)(i * 40));
	assert_int_equal(rv_replaystate_write(fx->path, e, 3, err, sizeof(err)), RV_OK);
	assert_int_equal(stat(fx->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(rv_replaystate_read(fx->path, 3, &got, &n, err, sizeof(err)), RV_OK);
	assert_int_equal(n, 3);
	assert_memory_equal(got, e, sizeof(e));
	free(got);
	/* More lines than keys: the file is not ours. */
	assert_int_equal(rv_replaystate_read(fx->path, 2, &got, &n, err, sizeof(err)),
			 RV_ERR_LIMIT);
	assert_null(got);
	/* Overwrite with fewer; no temp file left behind. */
	assert_int_equal(rv_replaystate_write(fx->path, e, 1, err, sizeof(err)), RV_OK);
	assert_int_equal(rv_replaystate_read(fx->path, 3, &got, &n, err, sizeof(err)), RV_OK);
	assert_int_equal(n, 1);
	free(got);
	{
		char tmp[160];

		snprintf(tmp, sizeof(tmp), "%s.tmp", fx->path);
		assert_int_not_equal(access(tmp, F_OK), 0);
	}
}

static void test_corrupt_and_modes(void **state)
{
	struct fx *fx = *state;
	struct rv_replay_entry e, *got = NULL;
	char line[RV_REPLAYSTATE_LINE_MAX + 8], text[512], err[512], want[200];
	size_t n;

	make_entry(&e, 1);
	entry_line(&e, line, sizeof(line));
	snprintf(text, sizeof(text), "# h\n%sgarbage\n", line);
	put_file(fx, text, 0600);
	assert_int_equal(rv_replaystate_read(fx->path, 5, &got, &n, err, sizeof(err)),
			 RV_ERR_CONFIG);
	snprintf(want, sizeof(want), "%s:3:", fx->path);
	assert_non_null(strstr(err, want));
	/* Truncated last line (no newline). */
	snprintf(text, sizeof(text), "# h\n%.*s", (int)strlen(line) - 1, line);
	put_file(fx, text, 0600);
	assert_int_equal(rv_replaystate_read(fx->path, 5, &got, &n, err, sizeof(err)),
			 RV_ERR_CONFIG);
	snprintf(want, sizeof(want), "%s:2: truncated", fx->path);
	assert_non_null(strstr(err, want));
	/* Group-writable: refused. */
	snprintf(text, sizeof(text), "%s", line);
	put_file(fx, text, 0660);
	assert_int_equal(rv_replaystate_read(fx->path, 5, &got, &n, err, sizeof(err)),
			 RV_ERR_PERMISSION);
	assert_non_null(strstr(err, "chmod go-w"));
	assert_null(got);
}

static void test_tai64n_add(void **state)
{
	uint8_t t[RV_TAI64N_LEN] = {0x40, 0, 0, 0, 0, 0, 0, 0xff, 1, 2, 3, 4};
	uint8_t max[RV_TAI64N_LEN];

	(void)state;
	rv_tai64n_add_s(t, 2);
	assert_int_equal(t[6], 1);
	assert_int_equal(t[7], 1);
	assert_int_equal(t[11], 4); /* nanoseconds untouched */
	memset(max, 0xff, sizeof(max));
	memcpy(t, max, sizeof(t));
	t[7] = 0xfe;
	rv_tai64n_add_s(t, 10);
	assert_memory_equal(t, max, 8); /* saturates */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_prefixes),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_and_modes, setup, teardown),
		cmocka_unit_test(test_tai64n_add),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
