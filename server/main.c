/* main.c - rvpn-server entry point: subcommands, options, run. */
#include <stdio.h>

#include <libwebsockets.h>
#include <sodium.h>

#include "options.h"
#include "rv_keycmd.h"
#include "rv_log.h"
#include "server.h"

int main(int argc, char **argv)
{
	struct rv_server_opts opts;
	char extra[64];
	int code = 1;

	if (rv_keycmd_dispatch(argc, argv, "rvpn-server", &code))
		return code;
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
	code = rv_server_run(&opts) == 0 ? 0 : 1;
out:
	rv_server_opts_free(&opts);
	return code;
}
