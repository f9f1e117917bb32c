/* fuzz_config.c - libFuzzer target for the config file reader
 * (rv_config_load, via inih).  Owner: fuzz-extra helper.
 *
 * The input is written to a memfd (created once, rewritten per input) and
 * loaded through /proc/self/fd/N with a small fixed getopt_long table.
 * Checks: only the documented results; a content error names "FILE:LINE";
 * on success the arguments are well formed ("--name" of a known option,
 * then a non-empty value for a required argument, "--name=value" for an
 * optional one), line numbers are ascending and within the file (a line
 * is never split into two), the merged argv keeps the order, and
 * getopt_long consumes every argument the file produced as exactly the
 * options it names.
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_memfile.h"
#include "rv_config.h"
#include "rv_err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { FZ_ERR_LEN = 512 };

static const struct option fz_opts[] = {
	{"listen", required_argument, NULL, 'l'},
	{"key", required_argument, NULL, 'k'},
	{"allow", required_argument, NULL, 'A'},
	{"deny", required_argument, NULL, 'D'},
	{"verbose", no_argument, NULL, 'v'},
	{"foreground", no_argument, NULL, 'f'},
	{"log", optional_argument, NULL, 'L'},
	{"config", required_argument, NULL, 'c'}, /* refused inside the file */
	{NULL, 0, NULL, 0},
};

static const struct option *fz_find(const char *name, size_t len)
{
	const struct option *o;

	for (o = fz_opts; o->name != NULL; o++)
		if (strlen(o->name) == len && memcmp(o->name, name, len) == 0)
			return o;
	return NULL;
}

/* Arguments are "--flag" [value] / "--flag=value"; returns options seen. */
static int fz_check_args(const struct rv_config *cfg, unsigned lines)
{
	int i = 0, nopts = 0;
	unsigned prev = 1;

	fz_check(cfg->argc >= 0 && cfg->argc <= RV_CONFIG_MAX_ARGS);
	while (i < cfg->argc) {
		const char *a = cfg->argv[i], *eq;
		const struct option *o;

		fz_check(a != NULL && strncmp(a, "--", 2) == 0);
		fz_check(cfg->lineno[i] >= prev && cfg->lineno[i] <= lines);
		prev = cfg->lineno[i];
		eq = strchr(a + 2, '=');
		o = fz_find(a + 2, eq != NULL ? (size_t)(eq - a - 2) : strlen(a + 2));
		fz_check(o != NULL && strcmp(o->name, "config") != 0);
		nopts++;
		i++;
		if (eq != NULL) {
			fz_check(o->has_arg == optional_argument && eq[1] != '\0');
		} else if (o->has_arg == required_argument) {
			fz_check(i < cfg->argc && cfg->argv[i][0] != '\0');
			fz_check(cfg->lineno[i] == cfg->lineno[i - 1]);
			i++;
		}
	}
	return nopts;
}

/* getopt_long must take every file argument as the option it names. */
static void fz_check_getopt(const struct rv_config *cfg, int nopts)
{
	char *argv0 = "fuzz_config", *argv[] = {argv0, "--verbose", NULL};
	char **m = NULL;
	int margc = 0, seen = 0, c, idx, i;

	fz_check(rv_config_merge_argv(cfg, 2, argv, &margc, &m) == RV_OK);
	fz_check(margc == cfg->argc + 2 && m[margc] == NULL && m[0] == argv0 &&
		 m[margc - 1] == argv[1]);
	for (i = 0; i < cfg->argc; i++) {
		fz_check(m[i + 1] == cfg->argv[i]);
		fz_check(rv_config_lineno(cfg, i + 1) == cfg->lineno[i]);
	}
	fz_check(rv_config_lineno(cfg, 0) == 0 && rv_config_lineno(cfg, margc - 1) == 0);

	opterr = 0;
	optind = 0; /* glibc: full re-initialisation */
	while ((c = getopt_long(margc, m, "+", fz_opts, &idx)) != -1) {
		fz_check(c != '?' && c != ':' && c != 'c');
		seen++;
	}
	fz_check(optind == margc && seen == nopts + 1);
	free(m);
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rv_config *cfg = NULL;
	char err[FZ_ERR_LEN];
	unsigned lines = 0;
	size_t i, plen;
	int ret, nopts;

	fz_check(fz_memfile_open("fuzz_config") == 0);
	/* Physical lines: a line number beyond them means a line was split. */
	for (i = 0; i < size; i++)
		lines += data[i] == '\n';
	if (size > 0 && data[size - 1] != '\n')
		lines++;
	fz_write(data, size);
	memset(err, 0, sizeof(err));
	ret = rv_config_load(fz_path, fz_opts, &cfg, err, sizeof(err));
	if (ret != RV_OK) {
		unsigned long line;
		char *end;

		fz_check(cfg == NULL);
		fz_check(ret == RV_ERR_CONFIG || ret == RV_ERR_LIMIT || ret == RV_ERR_NOMEM ||
			 ret == RV_ERR_IO);
		plen = strlen(fz_path);
		fz_check(strnlen(err, sizeof(err)) < sizeof(err));
		fz_check(strncmp(err, fz_path, plen) == 0 && err[plen] == ':');
		line = strtoul(err + plen + 1, &end, 10);
		fz_check(*end == ':' && line >= 1 && line <= (lines > 0 ? lines : 1));
		return 0;
	}
	fz_check(cfg != NULL && strcmp(cfg->path, fz_path) == 0);
	nopts = fz_check_args(cfg, lines);
	fz_check_getopt(cfg, nopts);
	rv_config_free(cfg);
	return 0;
}
