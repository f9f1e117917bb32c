/* test_authkeys_edit.c - editing authorized_keys: lines classified as the
 * server reads them, add/remove keep every other byte (comments, bad lines,
 * CRLF, a last line without '\n'), duplicates and bad names refused, file
 * edits atomic with mode kept and no temp file left, concurrent adders
 * (processes) all land, and the result loads with rv_authkeys_load. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "rv_authkeys.h"
#include "rv_authkeys_edit.h"
#include "rv_buf.h"
#include "rv_err.h"
#include "rv_keys.h"

struct fx {
	char dir[64];
	char path[128];
};

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	if (fx == NULL || sodium_init() < 0)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/rvpn-akedit-XXXXXX");
	if (mkdtemp(fx->dir) == NULL)
		return -1;
	snprintf(fx->path, sizeof(fx->path), "%s/authorized_keys", fx->dir);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	char tmp[160];

	unlink(fx->path);
	snprintf(tmp, sizeof(tmp), "%s.tmp", fx->path);
	unlink(tmp);
	rmdir(fx->dir);
	free(fx);
	return 0;
}

static int group_setup(void **state)
{
	(void)state;
	return sodium_init() < 0 ? -1 : 0;
}

static void key_b64(uint8_t seed, uint8_t pub[RV_KEY_LEN], char b64[RV_KEY_B64_SIZE])
{
	memset(pub, seed, RV_KEY_LEN);
	rv_key_to_base64(pub, b64);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static char *read_text(const char *path)
{
	struct rv_buf b;
	char *s;

	rv_buf_init(&b, RV_AUTHKEYS_EDIT_FILE_MAX);
	assert_int_equal(rv_authkeys_edit_read(path, &b, NULL, 0), RV_OK);
	s = strndup((const char *)rv_buf_ptr(&b), rv_buf_len(&b));
	rv_buf_cleanup(&b);
	assert_non_null(s);
	return s;
}

static void test_classify(void **state)
{
	uint8_t pub[RV_KEY_LEN];
	char b64[RV_KEY_B64_SIZE], text[512];
	struct rv_authkeys_line l;
	struct rv_buf b;
	static const enum rv_authkeys_line_kind want[] = {
		RV_AKLINE_COMMENT, RV_AKLINE_BLANK, RV_AKLINE_KEY, RV_AKLINE_KEY,
		RV_AKLINE_KEY, RV_AKLINE_BAD, RV_AKLINE_BAD, RV_AKLINE_KEY,
	};
	size_t i = 0;
	int r;

	(void)state;
	key_b64(7, pub, b64);
	snprintf(text, sizeof(text),
		 "# comment\n"
		 "   \t\n"
		 "%s alice\n"
		 "%s   spaced name  \r\n"
		 "%s # only a comment\n"
		 "notakey bob\n"
		 "%s 0123456789012345678901234567890123456789012345678901234567890123X\n"
		 "%s",
		 b64, b64, b64, b64, b64);
	rv_buf_init_view(&b, text, strlen(text));
	while ((r = rv_authkeys_edit_next(&b, &l)) > 0) {
		assert_true(i < sizeof(want) / sizeof(want[0]));
		assert_int_equal(l.kind, want[i]);
		if (i == 2)
			assert_string_equal(l.name, "alice");
		if (i == 3)
			assert_string_equal(l.name, "spaced name");
		if (i == 4 || i == 7)
			assert_string_equal(l.name, "");
		if (l.kind == RV_AKLINE_KEY)
			assert_memory_equal(l.pub, pub, RV_KEY_LEN);
		i++;
	}
	assert_int_equal(r, 0);
	assert_int_equal(i, sizeof(want) / sizeof(want[0]));
}

static void test_add_text_keeps_everything(void **state)
{
	uint8_t pa[RV_KEY_LEN], pb[RV_KEY_LEN];
	char ba[RV_KEY_B64_SIZE], bb[RV_KEY_B64_SIZE], in[512], want[640], err[256];
	struct rv_buf out;

	(void)state;
	key_b64(1, pa, ba);
	key_b64(2, pb, bb);
	/* CRLF, a bad line, a comment and no final newline: all kept. */
	snprintf(in, sizeof(in), "# keys\r\n%s alice\r\nbroken line\n\n#x", ba);
	rv_buf_init(&out, 4096);
	assert_int_equal(rv_authkeys_edit_add_text((const uint8_t *)in, strlen(in), pb, "bob",
						   &out, err, sizeof(err)), RV_OK);
	snprintf(want, sizeof(want), "%s\n%s bob\n", in, bb);
	assert_int_equal(rv_buf_len(&out), strlen(want));
	assert_memory_equal(rv_buf_ptr(&out), want, strlen(want));
	rv_buf_reset(&out);
	/* Empty file. */
	assert_int_equal(rv_authkeys_edit_add_text(NULL, 0, pb, "bob", &out, err, sizeof(err)),
			 RV_OK);
	snprintf(want, sizeof(want), "%s bob\n", bb);
	assert_memory_equal(rv_buf_ptr(&out), want, strlen(want));
	rv_buf_reset(&out);
	/* Duplicate name, duplicate key, bad names: refused, out untouched. */
	assert_int_equal(rv_authkeys_edit_add_text((const uint8_t *)in, strlen(in), pb, "alice",
						   &out, err, sizeof(err)), RV_ERR_DENIED);
	assert_non_null(strstr(err, "alice"));
	assert_int_equal(rv_authkeys_edit_add_text((const uint8_t *)in, strlen(in), pa, "carol",
						   &out, err, sizeof(err)), RV_ERR_DENIED);
	assert_non_null(strstr(err, "line 2"));
	assert_int_equal(rv_authkeys_edit_add_text((const uint8_t *)in, strlen(in), pb, "a b",
						   &out, err, sizeof(err)), RV_ERR_INVALID_ARG);
	assert_int_equal(rv_authkeys_edit_add_text((const uint8_t *)in, strlen(in), pb, "",
						   &out, err, sizeof(err)), RV_ERR_INVALID_ARG);
	assert_int_equal(rv_authkeys_edit_add_text((const uint8_t *)in, strlen(in), pb,
						   "#x", &out, err, sizeof(err)),
			 RV_ERR_INVALID_ARG);
	assert_int_equal(rv_buf_len(&out), 0);
	/* Output cap: refused as a limit, out untouched. */
	rv_buf_cleanup(&out);
	rv_buf_init(&out, strlen(in) + 10);
	assert_int_equal(rv_authkeys_edit_add_text((const uint8_t *)in, strlen(in), pb, "bob",
						   &out, err, sizeof(err)), RV_ERR_LIMIT);
	assert_int_equal(rv_buf_len(&out), 0);
	rv_buf_cleanup(&out);
}

static void test_remove_text(void **state)
{
	uint8_t pa[RV_KEY_LEN], pb[RV_KEY_LEN];
	char ba[RV_KEY_B64_SIZE], bb[RV_KEY_B64_SIZE], in[512], want[512], err[256];
	struct rv_buf out;
	size_t n;

	(void)state;
	key_b64(1, pa, ba);
	key_b64(2, pb, bb);
	snprintf(in, sizeof(in), "# a\n%s alice\n  # alice\n%s bob\nbad alice\n%s alice", ba, bb,
		 bb);
	rv_buf_init(&out, 4096);
	assert_int_equal(rv_authkeys_edit_remove_text((const uint8_t *)in, strlen(in), "alice",
						      &out, &n, err, sizeof(err)), RV_OK);
	assert_int_equal(n, 2);
	snprintf(want, sizeof(want), "# a\n  # alice\n%s bob\nbad alice\n", bb);
	assert_int_equal(rv_buf_len(&out), strlen(want));
	assert_memory_equal(rv_buf_ptr(&out), want, strlen(want));
	rv_buf_reset(&out);
	assert_int_equal(rv_authkeys_edit_remove_text((const uint8_t *)in, strlen(in), "carol",
						      &out, &n, err, sizeof(err)),
			 RV_ERR_NOT_FOUND);
	assert_int_equal(n, 0);
	assert_int_equal(rv_buf_len(&out), 0);
	assert_int_equal(rv_authkeys_edit_remove_text((const uint8_t *)in, strlen(in), "a/b",
						      &out, &n, err, sizeof(err)),
			 RV_ERR_INVALID_ARG);
	rv_buf_cleanup(&out);
}

/* Every prefix of a file (cut mid-line, mid-key, mid-CRLF) is a file of its
 * own: add keeps it byte for byte and ends the last line first. */
static void test_every_prefix(void **state)
{
	uint8_t pa[RV_KEY_LEN], pb[RV_KEY_LEN];
	char ba[RV_KEY_B64_SIZE], bb[RV_KEY_B64_SIZE], in[256], err[256];
	struct rv_buf out;
	size_t i, len, nl;

	(void)state;
	key_b64(1, pa, ba);
	key_b64(2, pb, bb);
	snprintf(in, sizeof(in), "# keys\r\n%s alice\r\nbroken\n", ba);
	len = strlen(in);
	rv_buf_init(&out, 4096);
	for (i = 0; i <= len; i++) {
		rv_buf_reset(&out);
		assert_int_equal(rv_authkeys_edit_add_text((const uint8_t *)in, i, pb, "bob", &out,
							   err, sizeof(err)), RV_OK);
		nl = i > 0 && in[i - 1] != '\n';
		assert_int_equal(rv_buf_len(&out), i + nl + RV_KEY_B64_LEN + 5);
		assert_memory_equal(rv_buf_ptr(&out), in, i);
		assert_memory_equal(rv_buf_ptr(&out) + i + nl, bb, RV_KEY_B64_LEN);
	}
	rv_buf_cleanup(&out);
}

static void test_long_line(void **state)
{
	char in[RV_AUTHKEYS_LINE_MAX + 8], err[256];
	uint8_t pb[RV_KEY_LEN];
	char bb[RV_KEY_B64_SIZE];
	struct rv_buf out;
	size_t n;

	(void)state;
	key_b64(2, pb, bb);
	memset(in, '#', sizeof(in));
	in[sizeof(in) - 1] = '\n';
	rv_buf_init(&out, 1 << 20);
	assert_int_equal(rv_authkeys_edit_add_text((const uint8_t *)in, sizeof(in), pb, "bob",
						   &out, err, sizeof(err)), RV_ERR_LIMIT);
	assert_int_equal(rv_authkeys_edit_remove_text((const uint8_t *)in, sizeof(in), "bob",
						      &out, &n, err, sizeof(err)), RV_ERR_LIMIT);
	assert_int_equal(rv_buf_len(&out), 0);
	rv_buf_cleanup(&out);
}

static void test_file_edit_mode_kept(void **state)
{
	struct fx *fx = *state;
	uint8_t pa[RV_KEY_LEN], pb[RV_KEY_LEN];
	char ba[RV_KEY_B64_SIZE], bb[RV_KEY_B64_SIZE], want[512], err[256], tmp[160];
	struct rv_authkeys *ak = NULL;
	struct stat st;
	size_t n;
	char *got;

	key_b64(1, pa, ba);
	key_b64(2, pb, bb);
	snprintf(want, sizeof(want), "# server keys\n%s alice\n", ba);
	write_file(fx->path, want, 0640);
	assert_int_equal(rv_authkeys_edit_add(fx->path, pb, "bob", err, sizeof(err)), RV_OK);
	got = read_text(fx->path);
	snprintf(want, sizeof(want), "# server keys\n%s alice\n%s bob\n", ba, bb);
	assert_string_equal(got, want);
	free(got);
	assert_int_equal(stat(fx->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	snprintf(tmp, sizeof(tmp), "%s.tmp", fx->path);
	assert_int_equal(access(tmp, F_OK), -1);
	assert_int_equal(rv_authkeys_load(fx->path, &ak, err, sizeof(err)), RV_OK);
	assert_int_equal(rv_authkeys_count(ak), 2);
	assert_int_equal(rv_authkeys_lookup(ak, pb, NULL), RV_OK);
	rv_authkeys_free(ak);
	/* A refused add leaves the file exactly as it was. */
	assert_int_equal(rv_authkeys_edit_add(fx->path, pa, "again", err, sizeof(err)),
			 RV_ERR_DENIED);
	got = read_text(fx->path);
	assert_string_equal(got, want);
	free(got);
	assert_int_equal(rv_authkeys_edit_remove(fx->path, "alice", &n, err, sizeof(err)), RV_OK);
	assert_int_equal(n, 1);
	got = read_text(fx->path);
	snprintf(want, sizeof(want), "# server keys\n%s bob\n", bb);
	assert_string_equal(got, want);
	free(got);
	assert_int_equal(stat(fx->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(rv_authkeys_edit_remove(fx->path, "alice", &n, err, sizeof(err)),
			 RV_ERR_NOT_FOUND);
	unlink(fx->path);
	assert_int_equal(rv_authkeys_edit_add(fx->path, pb, "bob", err, sizeof(err)),
			 RV_ERR_NOT_FOUND);
	assert_int_equal(access(fx->path, F_OK), -1); /* never created */
}

/* Several processes add at once: every line lands (the lock serializes the
 * read-modify-rename), the comment stays, the file loads. */
static void test_concurrent_adders(void **state)
{
	enum { N = 8 };
	struct fx *fx = *state;
	struct rv_authkeys *ak = NULL;
	pid_t pids[N];
	char err[256], *got;
	int i, status;

	write_file(fx->path, "# concurrent\n", 0644);
	for (i = 0; i < N; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			uint8_t pub[RV_KEY_LEN];
			char b64[RV_KEY_B64_SIZE], name[16];

			key_b64((uint8_t)(10 + i), pub, b64);
			snprintf(name, sizeof(name), "c%d", i);
			_exit(rv_authkeys_edit_add(fx->path, pub, name, NULL, 0) == RV_OK ? 0 : 1);
		}
	}
	for (i = 0; i < N; i++) {
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	assert_int_equal(rv_authkeys_load(fx->path, &ak, err, sizeof(err)), RV_OK);
	assert_int_equal(rv_authkeys_count(ak), N);
	rv_authkeys_free(ak);
	got = read_text(fx->path);
	assert_true(strncmp(got, "# concurrent\n", 13) == 0);
	free(got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_add_text_keeps_everything),
		cmocka_unit_test(test_remove_text),
		cmocka_unit_test(test_every_prefix),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test_setup_teardown(test_file_edit_mode_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_adders, setup, teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
