/* main.c - rvpn-client entry point (owner: client helper): subcommands,
 * options, then the client run loop (client.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>
#include <sodium.h>

#include "client.h"
#include "import.h"
#include "options.h"
#include "rv_ctl.h"
#include "rv_keycmd.h"
#include "rv_log.h"

int main(int argc, char **argv)
{
	struct rv_client_opts opts;
	int code = 1;

	if (rv_keycmd_dispatch(argc, argv, "rvpn-client", &code))
		return code;
	if (argc >= 2 && strcmp(argv[1], "import") == 0)
		return sodium_init() < 0 ? 1 : rv_client_cmd_import(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "status") == 0)
		return rv_ctl_cmd_status("rvpn-client", "client", argc - 1, argv + 1);
	if (sodium_init() < 0) {
		fprintf(stderr, "rvpn-client: libsodium failed to initialise\n");
		return 1;
	}
	switch (rv_client_opts_parse(&opts, argc, argv)) {
	case RV_CLIENT_PARSE_RUN:
		break;
	case RV_CLIENT_PARSE_EXIT_OK:
		code = 0;
		goto out;
	case RV_CLIENT_PARSE_VERSION: {
		char extra[64];

		snprintf(extra, sizeof(extra), "libwebsockets %s", lws_get_library_version());
		rv_keycmd_print_version(stdout, "rvpn-client", extra);
		code = 0;
		goto out;
	}
	default:
		code = 2;
		goto out;
	}
	if (opts.stdio_text != NULL) {
		/* -W: stderr is ssh's terminal: warnings and errors only. */
		rv_log_init("rvpn-client", opts.verbose > 0 ? RV_LOG_DEBUG : RV_LOG_WARN);
		code = rv_client_run_stdio(&opts);
		goto out;
	}
	rv_log_init("rvpn-client", opts.verbose > 0 ? RV_LOG_DEBUG : RV_LOG_INFO);
	code = rv_client_run(&opts) == 0 ? 0 : 1;
out:
	rv_client_opts_wipe(&opts);
	return code;
}
