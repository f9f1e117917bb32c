/* rv_config.h - configuration files of both programs (/etc/rvpn/server.conf,
 * /etc/rvpn/client-NAME.conf, ~/.config/rvpn/client.conf), read with inih.
 * Owner: server-libs; rv_config_argv_load: client helper.
 *
 * Every line is "name = value" where name is a long command-line option
 * without its dashes, so the file and the command line never drift apart:
 *     # /etc/rvpn/server.conf
 *     listen = 0.0.0.0:443
 *     key = /etc/rvpn/server.key
 *     authorized-keys = /etc/rvpn/authorized_keys
 *     allow = 127.0.0.1          ; repeatable options may repeat
 *     allow = 10.0.0.0/8:22
 *     dns = 1.1.1.1
 *     verbose = yes              ; options without a value: yes/no
 * A value "credential:NAME" becomes "$CREDENTIALS_DIRECTORY/NAME" (the
 * files systemd's LoadCredential= hands a service); NAME is one path
 * component.  Nothing else in a value is expanded.
 * Comments: lines starting with '#' or ';', and " ;" inline.  A value in
 * double quotes has them removed.  No [sections].  Lines may be at most
 * 198 bytes (inih's line buffer); longer ones are an error, never split.
 *
 * The file becomes a list of command-line arguments ("--listen",
 * "0.0.0.0:443", ...) checked against the program's getopt_long table
 * (unknown names, a missing value or a bad yes/no are errors naming
 * "FILE:LINE").  rv_config_merge_argv() puts them before the real command
 * line, so the program parses both with its one getopt_long loop and the
 * command line wins for single-valued options.  rv_config_lineno() maps an
 * argument back to its line for value errors found later.
 */
#ifndef RV_CONFIG_H
#define RV_CONFIG_H

#include <getopt.h>
#include <stddef.h>

enum rv_config_limits {
	RV_CONFIG_LINE_MAX = 1024, /* value buffer; inih's own limit is lower */
	RV_CONFIG_MAX_ARGS = 4096,
	RV_CONFIG_CRED_NAME_MAX = 255, /* credential:NAME, like a file name */
};

struct rv_config {
	char *path;
	int argc;          /* entries in argv (no program name) */
	char **argv;       /* "--name" [, "value"] ... ; owned */
	unsigned *lineno;  /* line of argv[i] */
};

/* longopts: the program's getopt_long table (terminated by a zero entry).
 * Errors: RV_ERR_NOT_FOUND / RV_ERR_PERMISSION / RV_ERR_IO (open; PERMISSION
 * also when the file or its directory is group/other-writable, see
 * rv_file_check_modes), RV_ERR_INVALID_ARG (not a regular file),
 * RV_ERR_CONFIG (content; err = "FILE:LINE: ..."), RV_ERR_NOMEM, RV_ERR_LIMIT. */
int rv_config_load(const char *path, const struct option *longopts, struct rv_config **out,
		   char *err, size_t errlen);
void rv_config_free(struct rv_config *cfg); /* NULL safe */

/* New argv: argv[0], the file's arguments, then argv[1..argc).  The array
 * is malloc'd (free() it; strings are borrowed from cfg and argv) and
 * NULL-terminated.  cfg may be NULL (plain copy). */
int rv_config_merge_argv(const struct rv_config *cfg, int argc, char **argv, int *out_argc,
			 char ***out_argv);

/* The whole front end of both programs: finds "-c FILE" / "--config FILE" /
 * "--config=FILE" and "--no-config" in argv (before any "--"); without -c
 * and --no-config, default_path (may be NULL) is used when it exists.
 * Loads the file and merges it (rv_config_merge_argv).  On success *cfg
 * (NULL when no file was read) and *out_argv belong to the caller (free
 * with rv_config_free / free).  On error err says why ("FILE:LINE: ..."
 * for content) and nothing is allocated. */
int rv_config_argv_load(int argc, char **argv, const struct option *longopts,
			const char *default_path, struct rv_config **cfg, int *out_argc,
			char ***out_argv, char *err, size_t errlen);

/* "credential:NAME" -> "$CREDENTIALS_DIRECTORY/NAME" and "~/P" -> "$HOME/P"
 * into out; any other value is copied unchanged.  RV_ERR_CONFIG (bad NAME, no such variable),
 * RV_ERR_NO_SPACE (out too small). */
int rv_config_resolve_value(const char *value, char *out, size_t outlen, char *err,
			    size_t errlen);

/* Line of merged argument index i (as in rv_config_merge_argv's output),
 * or 0 if it came from the real command line. */
unsigned rv_config_lineno(const struct rv_config *cfg, int i);

#endif
