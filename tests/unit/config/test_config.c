/* test_config.c - config file -> getopt_long arguments. */
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

#include "rv_config.h"
#include "rv_err.h"

static const struct option opts[] = {
	{"listen", required_argument, NULL, 'l'},
	{"key", required_argument, NULL, 'k'},
	{"allow", required_argument, NULL, 'A'},
	{"verbose", no_argument, NULL, 'v'},
	{"log", optional_argument, NULL, 'L'},
	{NULL, 0, NULL, 0},
};

struct fx {
	char dir[64];
	char path[128];
};

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	if (fx == NULL)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/rvpn-config-XXXXXX");
	if (mkdtemp(fx->dir) == NULL)
		return -1;
	snprintf(fx->path, sizeof(fx->path), "%s/server.conf", fx->dir);
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
	FILE *f = fopen(fx->path, "w");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
	/* chmod, not umask: the test must not depend on the caller's umask. */
	assert_int_equal(chmod(fx->path, 0644), 0);
}

static void test_good_file(void **state)
{
	struct fx *fx = *state;
	struct rv_config *cfg = NULL;
	char err[256] = "";
	char *argv[] = {"rvpn-server", "--listen", "127.0.0.1:9000", "-v", NULL};
	char **m = NULL;
	int mc = 0, c, verbose = 0, allows = 0;
	const char *listen = NULL, *key = NULL;

	write_file(fx, "# comment\n"
		       "; another\n"
		       "\n"
		       "listen = 0.0.0.0:443\n"
		       "key=/etc/rvpn/server.key\n"
		       "allow = 127.0.0.1 ; loopback for tests\n"
		       "allow = \"10.0.0.0/8:22\"\n"
		       "verbose = no\n"
		       "log = debug\n");
	assert_int_equal(rv_config_load(fx->path, opts, &cfg, err, sizeof(err)), RV_OK);
	assert_int_equal(cfg->argc, 9);
	assert_string_equal(cfg->argv[0], "--listen");
	assert_string_equal(cfg->argv[1], "0.0.0.0:443");
	assert_string_equal(cfg->argv[2], "--key");
	assert_string_equal(cfg->argv[3], "/etc/rvpn/server.key");
	assert_string_equal(cfg->argv[5], "127.0.0.1");
	assert_string_equal(cfg->argv[7], "10.0.0.0/8:22");
	assert_string_equal(cfg->argv[8], "--log=debug");

	/* Merged: file first, real command line after (and winning). */
	assert_int_equal(rv_config_merge_argv(cfg, 4, argv, &mc, &m), RV_OK);
	assert_int_equal(mc, 1 + 9 + 3);
	assert_null(m[mc]);
	assert_int_equal(rv_config_lineno(cfg, 1), 4);
	assert_int_equal(rv_config_lineno(cfg, 2), 4);
	assert_int_equal(rv_config_lineno(cfg, 7), 7);
	assert_int_equal(rv_config_lineno(cfg, 10), 0);
	optind = 0;
	while ((c = getopt_long(mc, m, "l:k:v", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			listen = optarg;
			break;
		case 'k':
			key = optarg;
			break;
		case 'A':
			allows++;
			break;
		case 'v':
			verbose++;
			break;
		case 'L':
			assert_string_equal(optarg, "debug");
			break;
		default:
			fail_msg("unexpected option %c", c);
		}
	}
	assert_string_equal(listen, "127.0.0.1:9000");
	assert_string_equal(key, "/etc/rvpn/server.key");
	assert_int_equal(allows, 2);
	assert_int_equal(verbose, 1);
	free(m);
	rv_config_free(cfg);

	write_file(fx, "verbose = yes\nlog =\n");
	assert_int_equal(rv_config_load(fx->path, opts, &cfg, err, sizeof(err)), RV_OK);
	assert_int_equal(cfg->argc, 2);
	assert_string_equal(cfg->argv[0], "--verbose");
	assert_string_equal(cfg->argv[1], "--log");
	rv_config_free(cfg);
}

static void expect_error(struct fx *fx, const char *text, int want, unsigned line,
			 const char *what)
{
	struct rv_config *cfg = NULL;
	char err[256] = "", where[200];

	write_file(fx, text);
	assert_int_equal(rv_config_load(fx->path, opts, &cfg, err, sizeof(err)), want);
	assert_null(cfg);
	snprintf(where, sizeof(where), "%s:%u: ", fx->path, line);
	if (strstr(err, where) == NULL || strstr(err, what) == NULL)
		fail_msg("error '%s' lacks '%s' or '%s'", err, where, what);
}

static void test_bad_files(void **state)
{
	struct fx *fx = *state;
	char longline[400];

	expect_error(fx, "listen = 1.2.3.4:1\n\nbogus = 1\n", RV_ERR_CONFIG, 3,
		     "unknown option 'bogus'");
	expect_error(fx, "# x\nkey =\n", RV_ERR_CONFIG, 2, "'key' needs a value");
	expect_error(fx, "verbose = maybe\n", RV_ERR_CONFIG, 1, "yes or no");
	expect_error(fx, "listen = a\nkey = b\njust words\n", RV_ERR_CONFIG, 3,
		     "expected 'name = value'");
	expect_error(fx, "[server]\nlisten = a\n", RV_ERR_CONFIG, 2, "sections");
	memset(longline, 'x', sizeof(longline));
	memcpy(longline, "key = ", 6);
	longline[sizeof(longline) - 2] = '\n';
	longline[sizeof(longline) - 1] = '\0';
	expect_error(fx, longline, RV_ERR_CONFIG, 1, "line longer");
	unlink(fx->path);
	{
		struct rv_config *cfg = NULL;
		char err[256] = "";

		assert_int_equal(rv_config_load(fx->path, opts, &cfg, err, sizeof(err)),
				 RV_ERR_NOT_FOUND);
		assert_non_null(strstr(err, fx->path));
	}
}

/* A NUL byte must be refused, never end a line early: fgets+strlen would see
 * a short line and read the rest of the physical line as a new one, so a
 * comment could hide a setting ("# \0...allow = 0.0.0.0/0"). */
static void test_nul_byte(void **state)
{
	static const char hidden_tail[] = "allow = 0.0.0.0/0\n";
	struct fx *fx = *state;
	struct rv_config *cfg = NULL;
	char text[256], err[256] = "", where[200];
	size_t len = 0;
	FILE *f;

	f = fopen(fx->path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite("key = k\0 junk\n", 1, 15, f), 15);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(fx->path, 0644), 0);
	assert_int_equal(rv_config_load(fx->path, opts, &cfg, err, sizeof(err)), RV_ERR_CONFIG);
	assert_null(cfg);
	snprintf(where, sizeof(where), "%s:1: ", fx->path);
	assert_non_null(strstr(err, where));
	assert_non_null(strstr(err, "NUL"));

	/* One physical comment line; its tail lands where inih's 200-byte
	 * line buffer would start a new line. */
	memcpy(text, "listen = a\n# comment ", 21);
	len = 21;
	text[len++] = '\0';
	memset(text + len, 'x', 188); /* "# comment \0" + 188 = 199 bytes */
	len += 188;
	memcpy(text + len, hidden_tail, sizeof(hidden_tail) - 1);
	len += sizeof(hidden_tail) - 1;
	f = fopen(fx->path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(fx->path, 0644), 0);
	err[0] = '\0';
	assert_int_equal(rv_config_load(fx->path, opts, &cfg, err, sizeof(err)), RV_ERR_CONFIG);
	assert_null(cfg);
	snprintf(where, sizeof(where), "%s:2: ", fx->path);
	if (strstr(err, where) == NULL || strstr(err, "NUL") == NULL)
		fail_msg("error '%s' lacks '%s' or 'NUL'", err, where);
}

/* StrictModes: a config file others may edit is refused (it names key
 * files and access rules), with the file and the fix in the message. */
static void test_writable_refused(void **state)
{
	struct fx *fx = *state;
	struct rv_config *cfg = NULL;
	char err[512] = "", want[200];

	write_file(fx, "listen = a\n");
	assert_int_equal(chmod(fx->path, 0664), 0);
	assert_int_equal(rv_config_load(fx->path, opts, &cfg, err, sizeof(err)),
			 RV_ERR_PERMISSION);
	assert_null(cfg);
	snprintf(want, sizeof(want), "config file %s is writable by group/others", fx->path);
	assert_non_null(strstr(err, want));
	snprintf(want, sizeof(want), "chmod go-w %s", fx->path);
	assert_non_null(strstr(err, want));
	assert_int_equal(chmod(fx->path, 0644), 0);
	assert_int_equal(chmod(fx->dir, 0777), 0);
	assert_int_equal(rv_config_load(fx->path, opts, &cfg, err, sizeof(err)),
			 RV_ERR_PERMISSION);
	snprintf(want, sizeof(want), "chmod go-w %s", fx->dir);
	assert_non_null(strstr(err, want));
	assert_int_equal(chmod(fx->dir, 0700), 0);
	assert_int_equal(rv_config_load(fx->path, opts, &cfg, err, sizeof(err)), RV_OK);
	rv_config_free(cfg);
}

static void test_merge_without_file(void **state)
{
	char *argv[] = {"prog", "-v", NULL};
	char **m = NULL;
	int mc = 0;

	(void)state;
	assert_int_equal(rv_config_merge_argv(NULL, 2, argv, &mc, &m), RV_OK);
	assert_int_equal(mc, 2);
	assert_string_equal(m[1], "-v");
	assert_null(m[2]);
	free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_good_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nul_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writable_refused, setup, teardown),
		cmocka_unit_test(test_merge_without_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
