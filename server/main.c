/* main.c - rvpn-server entry point: subcommands, options, run. */
#include <stdio.h>
#include <string.h>

#include <libwebsockets.h>
#include <sodium.h>

#include "admin.h"
#include "options.h"
#include "rv_ctl.h"
#include "rv_authkeys.h"
#include "rv_err.h"
#include "rv_keycmd.h"
#include "rv_keypath.h"
#include "rv_keys.h"
#include "rv_log.h"
#include "server.h"
#include "server_int.h"

/* rvpn-server url [ws[s]://HOST[:PORT]] < server.key: the default path a
 * client must use (derived from the key), or the whole client URL. */
static int rv_server_cmd_url(int argc, char **argv)
{
	char input[1025], path[RV_KEYPATH_SIZE];
	uint8_t priv[RV_KEY_LEN];
	const char *base = argc > 2 ? argv[2] : NULL;
	size_t n, blen;
	int code = 1;

	if (argc > 3 || (base != NULL && strncmp(base, "ws://", 5) != 0 &&
			 strncmp(base, "wss://", 6) != 0)) {
		fprintf(stderr, "usage: rvpn-server url [ws://HOST[:PORT] | wss://HOST[:PORT]] "
				"< server.key\n");
		return 2;
	}
	if (sodium_init() < 0)
		return 1;
	n = fread(input, 1, sizeof(input), stdin);
	if (n >= sizeof(input) || rv_key_from_base64(input, n, priv) != RV_OK) {
		fprintf(stderr, "rvpn-server url: standard input does not hold a private key "
				"(expected the server's key file, as printed by genkey)\n");
		goto out;
	}
	if (rv_keypath_derive(priv, path) != RV_OK)
		goto out;
	blen = base != NULL ? strlen(base) : 0;
	while (blen > 0 && base[blen - 1] == '/')
		blen--; /* "wss://host/" + "/path" */
	printf("%.*s%s\n", (int)blen, base != NULL ? base : "", path);
	code = fflush(stdout) == 0 ? 0 : 1;
out:
	sodium_memzero(input, sizeof(input));
	sodium_memzero(priv, sizeof(priv));
	return code;
}

/* Files named by the options are configuration: an unreadable, badly moded
 * or malformed one exits 2 (systemd's RestartPreventExitStatus=2) before
 * start-up, whose failures (e.g. cannot listen) exit 1. */
static int rv_server_check_files(const struct rv_server_opts *o)
{
	struct rv_keypair kp;
	struct rv_authkeys *ak = NULL;
	char err[512];

	if (rv_key_load_private_file(o->key_file, &kp, err, sizeof(err)) != RV_OK) {
		rv_log_error("%s", err);
		return RV_ERR_CONFIG;
	}
	rv_keypair_wipe(&kp);
	if (rv_authkeys_load(o->authorized_keys, &ak, err, sizeof(err)) != RV_OK) {
		rv_log_error("%s", err);
		return RV_ERR_CONFIG;
	}
	rv_authkeys_free(ak);
	if (o->cert_file != NULL && rv_server_tls_check(o->cert_file, o->cert_key_file) != RV_OK)
		return RV_ERR_CONFIG;
	return RV_OK;
}

int main(int argc, char **argv)
{
	struct rv_server_opts opts;
	char extra[64];
	int code = 1;

	if (rv_keycmd_dispatch(argc, argv, "rvpn-server", &code))
		return code;
	if (argc >= 2 && strcmp(argv[1], "url") == 0)
		return rv_server_cmd_url(argc, argv);
	if (rv_server_admin_dispatch(argc, argv, &code))
		return code;
	if (argc >= 2 && strcmp(argv[1], "status") == 0)
		return rv_ctl_cmd_status("rvpn-server", "server", argc - 1, argv + 1);
	if (sodium_init() < 0) {
		fprintf(stderr, "rvpn-server: libsodium failed to initialise\n");
		return 1;
	}
	switch (rv_server_opts_parse(&opts, argc, argv)) {
	case RV_SERVER_PARSE_RUN:
		break;
	case RV_SERVER_PARSE_EXIT_OK:
		code = 0;
		goto out;
	case RV_SERVER_PARSE_VERSION:
		snprintf(extra, sizeof(extra), "libwebsockets %s", lws_get_library_version());
		rv_keycmd_print_version(stdout, "rvpn-server", extra);
		code = 0;
		goto out;
	default:
		code = 2;
		goto out;
	}
	rv_log_init("rvpn-server", opts.verbose > 0 ? RV_LOG_DEBUG : RV_LOG_INFO);
	if (rv_server_check_files(&opts) != RV_OK) {
		code = 2;
		goto out;
	}
	code = rv_server_run(&opts) == 0 ? 0 : 1;
out:
	rv_server_opts_free(&opts);
	return code;
}
