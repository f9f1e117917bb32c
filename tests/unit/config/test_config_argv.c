/* test_config_argv.c - rv_config_argv_load (the -c / --no-config / default
 * file front end both programs use) and the credential:NAME rule. */
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
	{"config", required_argument, NULL, 'c'},
	{"no-config", no_argument, NULL, 'N'},
	{"key", required_argument, NULL, 'k'},
	{"socks", required_argument, NULL, 'D'},
	{"verbose", no_argument, NULL, 'v'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

struct fx {
	char dir[64];
	char path[128];  /* the -c file */
	char dflt[128];  /* the default file */
};

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	if (fx == NULL)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/rvpn-cfgargv-XXXXXX");
	if (mkdtemp(fx->dir) == NULL)
		return -1;
	snprintf(fx->path, sizeof(fx->path), "%s/given.conf", fx->dir);
	snprintf(fx->dflt, sizeof(fx->dflt), "%s/default.conf", fx->dir);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	unlink(fx->path);
	unlink(fx->dflt);
	rmdir(fx->dir);
	free(fx);
	unsetenv("CREDENTIALS_DIRECTORY");
	return 0;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, 0644), 0);
}

/* Runs rv_config_argv_load and joins the merged argv (after argv[0]) with
 * spaces into out; returns its result. */
static int load(int argc, char **argv, const char *dflt, char *out, size_t outlen,
		struct rv_config **cfg_out, char *err, size_t errlen)
{
	struct rv_config *cfg = NULL;
	char **m = NULL;
	int mc = 0, r, i;

	out[0] = '\0';
	r = rv_config_argv_load(argc, argv, opts, dflt, &cfg, &mc, &m, err, errlen);
	if (r != RV_OK) {
		assert_null(cfg);
		return r;
	}
	assert_non_null(m);
	assert_ptr_equal(m[0], argv[0]);
	assert_null(m[mc]);
	for (i = 1; i < mc; i++) {
		strncat(out, m[i], outlen - strlen(out) - 1);
		if (i + 1 < mc)
			strncat(out, " ", outlen - strlen(out) - 1);
	}
	free(m);
	if (cfg_out != NULL)
		*cfg_out = cfg;
	else
		rv_config_free(cfg);
	return RV_OK;
}

static void test_given_file_first_then_command_line(void **state)
{
	struct fx *fx = *state;
	struct rv_config *cfg = NULL;
	char out[512], err[256];
	char *argv[] = {"prog", "-c", fx->path, "-D", "2000", NULL};

	write_file(fx->path, "key = /k\nsocks = 1000\nsocks = 1001\nverbose = yes\n");
	write_file(fx->dflt, "key = /default-key\n");
	assert_int_equal(load(5, argv, fx->dflt, out, sizeof(out), &cfg, err, sizeof(err)),
			 RV_OK);
	/* -c wins over the default; repeated keys stay repeated options. */
	assert_non_null(strstr(out, "--key /k --socks 1000 --socks 1001 --verbose -c "));
	assert_non_null(strstr(out, " -D 2000"));
	assert_null(strstr(out, "default-key"));
	/* The line of each merged argument, the command line has none. */
	assert_string_equal(cfg->path, fx->path);
	assert_int_equal(rv_config_lineno(cfg, 2), 1);
	assert_int_equal(rv_config_lineno(cfg, 4), 2);
	assert_int_equal(rv_config_lineno(cfg, 6), 3);
	assert_int_equal(rv_config_lineno(cfg, 7), 4);
	assert_int_equal(rv_config_lineno(cfg, 8), 0);
	rv_config_free(cfg);
}

static void test_config_forms(void **state)
{
	struct fx *fx = *state;
	char out[512], err[256], eq[160], joined[160];
	char *argv_eq[] = {"prog", eq, NULL};
	char *argv_joined[] = {"prog", joined, NULL};

	write_file(fx->path, "key = /k\n");
	snprintf(eq, sizeof(eq), "--config=%s", fx->path);
	assert_int_equal(load(2, argv_eq, NULL, out, sizeof(out), NULL, err, sizeof(err)), RV_OK);
	assert_non_null(strstr(out, "--key /k"));
	snprintf(joined, sizeof(joined), "-c%s", fx->path);
	assert_int_equal(load(2, argv_joined, NULL, out, sizeof(out), NULL, err, sizeof(err)),
			 RV_OK);
	assert_non_null(strstr(out, "--key /k"));
}

static void test_default_file(void **state)
{
	struct fx *fx = *state;
	char out[512], err[256];
	char *argv[] = {"prog", "-v", NULL};
	char *argv_no[] = {"prog", "--no-config", NULL};
	char *argv_after[] = {"prog", "--", "-c", "x", NULL};

	/* Absent default: plain copy, no error. */
	assert_int_equal(load(2, argv, fx->dflt, out, sizeof(out), NULL, err, sizeof(err)), RV_OK);
	assert_string_equal(out, "-v");
	write_file(fx->dflt, "key = /default-key\n");
	assert_int_equal(load(2, argv, fx->dflt, out, sizeof(out), NULL, err, sizeof(err)), RV_OK);
	assert_string_equal(out, "--key /default-key -v");
	/* --no-config skips it. */
	assert_int_equal(load(2, argv_no, fx->dflt, out, sizeof(out), NULL, err, sizeof(err)),
			 RV_OK);
	assert_string_equal(out, "--no-config");
	/* After "--" nothing is an option. */
	assert_int_equal(load(4, argv_after, NULL, out, sizeof(out), NULL, err, sizeof(err)),
			 RV_OK);
	assert_string_equal(out, "-- -c x");
	/* A default that exists but is bad is an error, not ignored. */
	write_file(fx->dflt, "nonsense = 1\n");
	assert_int_equal(load(2, argv, fx->dflt, out, sizeof(out), NULL, err, sizeof(err)),
			 RV_ERR_CONFIG);
	assert_non_null(strstr(err, ":1: unknown option 'nonsense'"));
	assert_int_equal(chmod(fx->dflt, 0666), 0);
	write_file(fx->dflt, "key = /k\n");
	assert_int_equal(chmod(fx->dflt, 0666), 0);
	assert_int_equal(load(2, argv, fx->dflt, out, sizeof(out), NULL, err, sizeof(err)),
			 RV_ERR_PERMISSION);
}

static void test_errors(void **state)
{
	struct fx *fx = *state;
	char out[512], err[256];
	char *argv_missing[] = {"prog", "-c", "/nonexistent/rvpn.conf", NULL};
	char *argv_noval[] = {"prog", "-c", NULL};
	char *argv_both[] = {"prog", "-c", fx->path, "--no-config", NULL};

	assert_int_equal(load(3, argv_missing, fx->dflt, out, sizeof(out), NULL, err, sizeof(err)),
			 RV_ERR_NOT_FOUND);
	assert_non_null(strstr(err, "/nonexistent/rvpn.conf"));
	assert_int_equal(load(2, argv_noval, NULL, out, sizeof(out), NULL, err, sizeof(err)),
			 RV_ERR_CONFIG);
	write_file(fx->path, "key = /k\n");
	assert_int_equal(load(4, argv_both, NULL, out, sizeof(out), NULL, err, sizeof(err)),
			 RV_ERR_CONFIG);
	/* The front-end options cannot be config keys. */
	write_file(fx->path, "key = /k\nhelp = yes\n");
	argv_missing[2] = fx->path;
	assert_int_equal(load(3, argv_missing, NULL, out, sizeof(out), NULL, err, sizeof(err)),
			 RV_ERR_CONFIG);
	assert_non_null(strstr(err, ":2: unknown option 'help'"));
	write_file(fx->path, "no-config = yes\n");
	assert_int_equal(load(3, argv_missing, NULL, out, sizeof(out), NULL, err, sizeof(err)),
			 RV_ERR_CONFIG);
	assert_non_null(strstr(err, ":1: unknown option 'no-config'"));
}

static void test_credential_values(void **state)
{
	struct fx *fx = *state;
	char out[512], err[256];
	char *argv[] = {"prog", "-c", fx->path, NULL};

	write_file(fx->path, "# unit\nkey = credential:client.key\nsocks = 1080\n");
	unsetenv("CREDENTIALS_DIRECTORY");
	assert_int_equal(load(3, argv, NULL, out, sizeof(out), NULL, err, sizeof(err)),
			 RV_ERR_CONFIG);
	assert_non_null(strstr(err, ":2: option 'key': 'credential:client.key' needs "
				    "$CREDENTIALS_DIRECTORY"));
	setenv("CREDENTIALS_DIRECTORY", "/run/credentials/rvpn-client@x.service", 1);
	assert_int_equal(load(3, argv, NULL, out, sizeof(out), NULL, err, sizeof(err)), RV_OK);
	assert_non_null(strstr(out, "--key /run/credentials/rvpn-client@x.service/client.key "
				    "--socks 1080"));
	/* Quoted values too (quotes go first). */
	write_file(fx->path, "key = \"credential:k\"\n");
	assert_int_equal(load(3, argv, NULL, out, sizeof(out), NULL, err, sizeof(err)), RV_OK);
	assert_non_null(strstr(out, "--key /run/credentials/rvpn-client@x.service/k"));
	/* NAME is one path component. */
	write_file(fx->path, "socks = 1\nkey = credential:../etc/shadow\n");
	assert_int_equal(load(3, argv, NULL, out, sizeof(out), NULL, err, sizeof(err)),
			 RV_ERR_CONFIG);
	assert_non_null(strstr(err, ":2: option 'key'"));
	write_file(fx->path, "key = credential:\n");
	assert_int_equal(load(3, argv, NULL, out, sizeof(out), NULL, err, sizeof(err)),
			 RV_ERR_CONFIG);
	write_file(fx->path, "key = credential:..\n");
	assert_int_equal(load(3, argv, NULL, out, sizeof(out), NULL, err, sizeof(err)),
			 RV_ERR_CONFIG);
	/* A relative $CREDENTIALS_DIRECTORY is refused. */
	setenv("CREDENTIALS_DIRECTORY", "relative", 1);
	write_file(fx->path, "key = credential:k\n");
	assert_int_equal(load(3, argv, NULL, out, sizeof(out), NULL, err, sizeof(err)),
			 RV_ERR_CONFIG);
}

static void test_resolve_value(void **state)
{
	char out[32], err[128];

	(void)state;
	/* ~/ is the home of whoever runs the program (add-client prints it). */
	setenv("HOME", "/home/u", 1);
	assert_int_equal(rv_config_resolve_value("~/.config/rvpn/k", out, sizeof(out), err,
						 sizeof(err)), RV_OK);
	assert_string_equal(out, "/home/u/.config/rvpn/k");
	setenv("HOME", "relative", 1);
	assert_int_equal(rv_config_resolve_value("~/k", out, sizeof(out), err, sizeof(err)),
			 RV_ERR_CONFIG);
	setenv("HOME", "/home/u", 1);
	assert_int_equal(rv_config_resolve_value("~other/k", out, sizeof(out), err, sizeof(err)),
			 RV_OK);
	assert_string_equal(out, "~other/k");
	assert_int_equal(rv_config_resolve_value("/plain/path", out, sizeof(out), err,
						 sizeof(err)), RV_OK);
	assert_string_equal(out, "/plain/path");
	setenv("CREDENTIALS_DIRECTORY", "/c", 1);
	assert_int_equal(rv_config_resolve_value("credential:a", out, sizeof(out), err,
						 sizeof(err)), RV_OK);
	assert_string_equal(out, "/c/a");
	/* Too long for out: refused, never cut. */
	assert_int_equal(rv_config_resolve_value("credential:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
						 out, sizeof(out), err, sizeof(err)),
			 RV_ERR_NO_SPACE);
	assert_int_equal(rv_config_resolve_value("0123456789012345678901234567890123", out,
						 sizeof(out), err, sizeof(err)),
			 RV_ERR_NO_SPACE);
	assert_int_equal(rv_config_resolve_value(NULL, out, sizeof(out), err, sizeof(err)),
			 RV_ERR_INVALID_ARG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_given_file_first_then_command_line, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_config_forms, setup, teardown),
		cmocka_unit_test_setup_teardown(test_default_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_credential_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resolve_value, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
