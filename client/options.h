/* options.h - rvpn-client command line and config file (owner: client
 * helper).  -c FILE (default ~/.config/rvpn/client.conf when it exists,
 * --no-config to skip) holds the same options as "name = value" lines, the
 * command line after it.  Strings point into argv or the loaded config: the
 * struct owns the config and the merged argv until rv_client_opts_wipe(). */
#ifndef RV_CLIENT_OPTIONS_H
#define RV_CLIENT_OPTIONS_H

#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>

#include "rv_cliparse.h"
#include "rv_config.h"
#include "rv_keys.h"

enum rv_client_opt_limits {
	RV_CLIENT_MAX_SOCKS = 16,    /* -D listeners */
	RV_CLIENT_MAX_FORWARDS = 64, /* -L listeners */
	RV_CLIENT_SOCKS_USER_MAX = 255,
	RV_CLIENT_SOCKS_DEFAULT_PORT = 1080,
	/* UDP (udp.c): associations at once (SOCKS5 UDP ASSOCIATE and -L udp
	 * sources together) and their idle timeout. */
	RV_CLIENT_UDP_ASSOC_DEFAULT = 64,
	RV_CLIENT_UDP_ASSOC_MAX = 4096,
	RV_CLIENT_UDP_IDLE_DEFAULT_S = 60,
	RV_CLIENT_UDP_IDLE_MAX_S = 3600,
};
#define RV_CLIENT_DEFAULT_BIND "127.0.0.1"

struct rv_client_opts {
	const char *key_file;
	struct rv_keypair kp;                 /* loaded from key_file */
	unsigned char server_pub[32];
	struct rv_cli_url url;
	const char *url_text;
	struct rv_cli_sockaddr socks[RV_CLIENT_MAX_SOCKS];
	size_t n_socks;
	struct rv_cli_forward fwd[RV_CLIENT_MAX_FORWARDS];
	size_t n_fwd;
	struct rv_cli_forward udp_fwd[RV_CLIENT_MAX_FORWARDS]; /* -L udp:... */
	size_t n_udp_fwd;
	unsigned udp_max_assoc;  /* --udp-max-assoc */
	unsigned udp_idle_s;     /* --udp-timeout */
	const char *ca_file;     /* NULL: system CA bundle */
	int insecure_tls;
	int verbose;             /* -v: debug; -vv: also libwebsockets' log */
	/* --socks-auth FILE ("user:password"): RFC 1929 required on -D ports. */
	char socks_user[RV_CLIENT_SOCKS_USER_MAX + 1];
	char socks_pass[RV_CLIENT_SOCKS_USER_MAX + 1];
	int socks_auth;
	/* live status (status.c): --control PATH (NULL: default, "none": off),
	 * --metrics ADDR:PORT (NULL: off; parsed into metrics_sa), --metrics-any */
	const char *control;
	const char *metrics;
	int metrics_any;
	struct sockaddr_storage metrics_sa;
	socklen_t metrics_salen;
	struct rv_config *config; /* -c FILE; NULL when none was read */
	char **merged_argv;       /* config arguments + command line */
};
#define RV_CLIENT_CONFIG_DEFAULT ".config/rvpn/client.conf" /* under $HOME */

enum rv_client_parse_result {
	RV_CLIENT_PARSE_RUN = 0,
	RV_CLIENT_PARSE_EXIT_OK = 1,  /* --help / --version printed */
	RV_CLIENT_PARSE_EXIT_ERR = 2, /* usage or config error, message printed: exit 2 */
	RV_CLIENT_PARSE_VERSION = 3,  /* --version: the caller prints it */
};

/* Parses the config file and argv (after rv_keycmd_dispatch), loads the key
 * files, prints errors naming the flag/value and, for values from the
 * config, "FILE:LINE".  Wipe with rv_client_opts_wipe(). */
enum rv_client_parse_result rv_client_opts_parse(struct rv_client_opts *o, int argc,
						 char **argv);
void rv_client_opts_wipe(struct rv_client_opts *o);
void rv_client_usage(FILE *out);

#endif
