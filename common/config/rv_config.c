/* rv_config.c - "name = value" file -> getopt_long arguments, via inih.
 * Owner: server-libs. */
#include "rv_config.h"

#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "rv_err.h"
#include "rv_keys.h"

#define RV_CONFIG_CRED_PREFIX "credential:"

struct parse_ctx {
	struct rv_config *cfg;
	const struct option *longopts;
	FILE *f;
	unsigned line;     /* lines read so far = line of the current entry */
	int cap;
	int err;           /* first error (RV_OK while none) */
	unsigned err_line;
	char msg[256];
};

static void ctx_fail(struct parse_ctx *c, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void ctx_fail(struct parse_ctx *c, int err, const char *fmt, ...)
{
	va_list ap;

	if (c->err != RV_OK)
		return;
	c->err = err;
	c->err_line = c->line;
	va_start(ap, fmt);
	vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
	va_end(ap);
}

/* An fgets that counts lines and refuses over-long ones (inih would split
 * them into bogus lines) and NUL bytes (inih would end the line there and
 * fgets would return the rest of it as the next one). */
static char *reader(char *str, int num, void *stream)
{
	struct parse_ctx *c = stream;
	int len = 0, ch = EOF;

	if (c->err != RV_OK || num < 2)
		return NULL; /* stop at the first error */
	while (len < num - 1 && (ch = getc(c->f)) != EOF) {
		str[len++] = (char)ch;
		if (ch == '\n')
			break;
	}
	if (len == 0)
		return NULL;
	str[len] = '\0';
	c->line++;
	if (memchr(str, '\0', (size_t)len) != NULL) {
		ctx_fail(c, RV_ERR_CONFIG, "NUL byte in line");
		return NULL;
	}
	if (len == num - 1 && str[len - 1] != '\n' && !feof(c->f)) {
		ctx_fail(c, RV_ERR_CONFIG, "line longer than %d bytes", num - 2);
		return NULL;
	}
	return str;
}

static int push(struct parse_ctx *c, const char *s)
{
	struct rv_config *cfg = c->cfg;

	if (cfg->argc == c->cap) {
		int ncap = c->cap ? c->cap * 2 : 16;
		char **na;
		unsigned *nl;

		if (cfg->argc >= RV_CONFIG_MAX_ARGS) {
			ctx_fail(c, RV_ERR_LIMIT, "more than %d settings", RV_CONFIG_MAX_ARGS / 2);
			return RV_ERR_LIMIT;
		}
		na = realloc(cfg->argv, (size_t)ncap * sizeof(*na));
		if (na == NULL)
			goto nomem;
		cfg->argv = na;
		nl = realloc(cfg->lineno, (size_t)ncap * sizeof(*nl));
		if (nl == NULL)
			goto nomem;
		cfg->lineno = nl;
		c->cap = ncap;
	}
	cfg->argv[cfg->argc] = strdup(s);
	if (cfg->argv[cfg->argc] == NULL)
		goto nomem;
	cfg->lineno[cfg->argc] = c->line;
	cfg->argc++;
	return RV_OK;
nomem:
	ctx_fail(c, RV_ERR_NOMEM, "out of memory");
	return RV_ERR_NOMEM;
}

static int parse_bool(const char *v, int *out)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};
	size_t i;

	for (i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = 1;
			return RV_OK;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = 0;
			return RV_OK;
		}
	}
	return RV_ERR_CONFIG;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse_ctx *c = user;
	const struct option *o;
	char flag[128], val[RV_CONFIG_LINE_MAX + 1];
	size_t vlen = strlen(value);

	if (c->err != RV_OK)
		return 0;
	if (section[0] != '\0') {
		ctx_fail(c, RV_ERR_CONFIG, "sections ([%s]) are not used", section);
		return 0;
	}
	for (o = c->longopts; o->name != NULL; o++)
		if (strcmp(o->name, name) == 0)
			break;
	if (o->name == NULL || strcmp(name, "config") == 0 || strcmp(name, "no-config") == 0 ||
	    strcmp(name, "help") == 0 || strcmp(name, "version") == 0) {
		ctx_fail(c, RV_ERR_CONFIG, "unknown option '%s'", name);
		return 0;
	}
	if (vlen >= sizeof(val)) {
		ctx_fail(c, RV_ERR_CONFIG, "value too long");
		return 0;
	}
	memcpy(val, value, vlen + 1);
	if (vlen >= 2 && val[0] == '"' && val[vlen - 1] == '"') {
		memmove(val, val + 1, vlen - 2);
		val[vlen - 2] = '\0';
	}
	if (strncmp(val, RV_CONFIG_CRED_PREFIX, strlen(RV_CONFIG_CRED_PREFIX)) == 0 ||
	    strncmp(val, "~/", 2) == 0) {
		char cred[RV_CONFIG_LINE_MAX + 1], why[200];
		int r = rv_config_resolve_value(val, cred, sizeof(cred), why, sizeof(why));

		if (r != RV_OK) {
			ctx_fail(c, RV_ERR_CONFIG, "option '%s': %s", name, why);
			return 0;
		}
		memcpy(val, cred, strlen(cred) + 1);
	}
	snprintf(flag, sizeof(flag), "--%s", name);
	if (o->has_arg == no_argument) {
		int on = 0;

		if (parse_bool(val, &on) != RV_OK) {
			ctx_fail(c, RV_ERR_CONFIG, "option '%s' takes yes or no, not '%s'", name,
				 val);
			return 0;
		}
		return on ? push(c, flag) == RV_OK : 1;
	}
	if (val[0] == '\0' && o->has_arg == required_argument) {
		ctx_fail(c, RV_ERR_CONFIG, "option '%s' needs a value", name);
		return 0;
	}
	if (o->has_arg == optional_argument) {
		/* getopt_long only sees an optional value in the same word. */
		char joined[sizeof(flag) + sizeof(val) + 1];

		snprintf(joined, sizeof(joined), "%s=%s", flag, val);
		return push(c, val[0] != '\0' ? joined : flag) == RV_OK;
	}
	return push(c, flag) == RV_OK && push(c, val) == RV_OK;
}

int rv_config_load(const char *path, const struct option *longopts, struct rv_config **out,
		   char *err, size_t errlen)
{
	struct parse_ctx c;
	int r, ret;

	if (path == NULL || longopts == NULL || out == NULL)
		return RV_ERR_INVALID_ARG;
	*out = NULL;
	memset(&c, 0, sizeof(c));
	c.longopts = longopts;
	c.cfg = calloc(1, sizeof(*c.cfg));
	if (c.cfg == NULL || (c.cfg->path = strdup(path)) == NULL) {
		ret = RV_ERR_NOMEM;
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	c.f = fopen(path, "re");
	if (c.f == NULL) {
		int e = errno;

		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "config file %s: %s", path, strerror(e));
		ret = e == ENOENT ? RV_ERR_NOT_FOUND :
		      (e == EACCES || e == EPERM) ? RV_ERR_PERMISSION : RV_ERR_IO;
		goto out;
	}
	/* The config names the key files and rules: refuse one others may edit. */
	ret = rv_file_check_modes(fileno(c.f), path, "config file", err, errlen);
	if (ret != RV_OK)
		goto out;
	r = ini_parse_stream(reader, &c, handler, &c);
	if (c.err == RV_OK && ferror(c.f))
		ctx_fail(&c, RV_ERR_IO, "read error");
	if (c.err == RV_OK && r > 0) {
		/* inih's own syntax error (no handler call), at line r. */
		c.err = RV_ERR_CONFIG;
		c.err_line = (unsigned)r;
		snprintf(c.msg, sizeof(c.msg), "expected 'name = value'");
	} else if (c.err == RV_OK && r < 0) {
		ctx_fail(&c, RV_ERR_NOMEM, "out of memory");
	}
	ret = c.err;
	if (ret != RV_OK && err != NULL && errlen > 0)
		snprintf(err, errlen, "%s:%u: %s", path, c.err_line, c.msg);
out:
	if (c.f != NULL)
		fclose(c.f);
	if (ret != RV_OK) {
		rv_config_free(c.cfg);
		return ret;
	}
	*out = c.cfg;
	return RV_OK;
}

void rv_config_free(struct rv_config *cfg)
{
	int i;

	if (cfg == NULL)
		return;
	for (i = 0; i < cfg->argc; i++)
		free(cfg->argv[i]);
	free(cfg->argv);
	free(cfg->lineno);
	free(cfg->path);
	free(cfg);
}

int rv_config_merge_argv(const struct rv_config *cfg, int argc, char **argv, int *out_argc,
			 char ***out_argv)
{
	int n = cfg != NULL ? cfg->argc : 0, i, k = 0;
	char **m;

	if (argc < 1 || argv == NULL || out_argc == NULL || out_argv == NULL)
		return RV_ERR_INVALID_ARG;
	m = calloc((size_t)(argc + n + 1), sizeof(*m));
	if (m == NULL)
		return RV_ERR_NOMEM;
	m[k++] = argv[0];
	for (i = 0; i < n; i++)
		m[k++] = cfg->argv[i];
	for (i = 1; i < argc; i++)
		m[k++] = argv[i];
	m[k] = NULL;
	*out_argc = k;
	*out_argv = m;
	return RV_OK;
}

unsigned rv_config_lineno(const struct rv_config *cfg, int i)
{
	if (cfg == NULL || i < 1 || i > cfg->argc)
		return 0;
	return cfg->lineno[i - 1];
}

int rv_config_resolve_value(const char *value, char *out, size_t outlen, char *err,
			    size_t errlen)
{
	size_t plen = strlen(RV_CONFIG_CRED_PREFIX);
	const char *name, *dir;
	int n;

	if (value == NULL || out == NULL || outlen == 0)
		return RV_ERR_INVALID_ARG;
	if (strncmp(value, "~/", 2) == 0) {
		/* A config file printed on one machine (add-client) names the
		 * key as ~/...: the home of whoever runs the client. */
		const char *home = getenv("HOME");

		if (home == NULL || home[0] != '/') {
			rv_err_set(err, errlen, "'%s' needs $HOME (not set or not absolute)", value);
			return RV_ERR_CONFIG;
		}
		n = snprintf(out, outlen, "%s/%s", home, value + 2);
		if (n < 0 || (size_t)n >= outlen) {
			rv_err_set(err, errlen, "'%s': the path is too long", value);
			return RV_ERR_NO_SPACE;
		}
		return RV_OK;
	}
	if (strncmp(value, RV_CONFIG_CRED_PREFIX, plen) != 0) {
		if (strlen(value) >= outlen) {
			rv_err_set(err, errlen, "value too long");
			return RV_ERR_NO_SPACE;
		}
		memcpy(out, value, strlen(value) + 1);
		return RV_OK;
	}
	name = value + plen;
	/* One path component: a credential cannot point outside its directory. */
	if (name[0] == '\0' || strchr(name, '/') != NULL || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0 || strlen(name) > RV_CONFIG_CRED_NAME_MAX) {
		rv_err_set(err, errlen, "'%s': NAME must be a file name (no '/')", value);
		return RV_ERR_CONFIG;
	}
	dir = getenv("CREDENTIALS_DIRECTORY");
	if (dir == NULL || dir[0] != '/') {
		rv_err_set(err, errlen, "'%s' needs $CREDENTIALS_DIRECTORY (set by systemd's "
			   "LoadCredential=); it is not set or not an absolute path", value);
		return RV_ERR_CONFIG;
	}
	n = snprintf(out, outlen, "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= outlen) {
		rv_err_set(err, errlen, "'%s': $CREDENTIALS_DIRECTORY/%s is too long", value, name);
		return RV_ERR_NO_SPACE;
	}
	return RV_OK;
}

/* -c/--config and --no-config, before getopt runs over the merged list. */
static int rv_config_find_arg(int argc, char **argv, const char **path, int *no_config,
			      char *err, size_t errlen)
{
	int i;

	*path = NULL;
	*no_config = 0;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "--no-config") == 0) {
			*no_config = 1;
		} else if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) {
			if (i + 1 >= argc) {
				rv_err_set(err, errlen, "option '%s' needs a file name", argv[i]);
				return RV_ERR_CONFIG;
			}
			*path = argv[++i];
		} else if (strncmp(argv[i], "--config=", 9) == 0) {
			*path = argv[i] + 9;
		} else if (strncmp(argv[i], "-c", 2) == 0) {
			*path = argv[i] + 2; /* -cFILE */
		}
	}
	if (*path != NULL && *no_config) {
		rv_err_set(err, errlen, "-c/--config and --no-config exclude each other");
		return RV_ERR_CONFIG;
	}
	return RV_OK;
}

int rv_config_argv_load(int argc, char **argv, const struct option *longopts,
			const char *default_path, struct rv_config **cfg, int *out_argc,
			char ***out_argv, char *err, size_t errlen)
{
	const char *path;
	struct stat st;
	int no_config, r;

	if (argc < 1 || argv == NULL || longopts == NULL || cfg == NULL || out_argc == NULL ||
	    out_argv == NULL)
		return RV_ERR_INVALID_ARG;
	*cfg = NULL;
	r = rv_config_find_arg(argc, argv, &path, &no_config, err, errlen);
	if (r != RV_OK)
		return r;
	/* The default file is optional; an explicit one must exist. */
	if (path == NULL && !no_config && default_path != NULL &&
	    (stat(default_path, &st) == 0 || errno != ENOENT))
		path = default_path;
	if (path != NULL) {
		r = rv_config_load(path, longopts, cfg, err, errlen);
		if (r != RV_OK)
			return r;
	}
	r = rv_config_merge_argv(*cfg, argc, argv, out_argc, out_argv);
	if (r != RV_OK) {
		rv_err_set(err, errlen, "out of memory");
		rv_config_free(*cfg);
		*cfg = NULL;
	}
	return r;
}
