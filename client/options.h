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
#include "rv_wire.h"

struct rv_acl;

/* -R [BIND:]PORT:HOST:HOSTPORT (forward) or -R [BIND:]PORT (dynamic). */
struct rv_client_rfwd_spec {
	struct rv_addr bind;   /* IPv4/IPv6 literal with the port; "*": 0.0.0.0 */
	int dynamic;           /* SOCKS5 on the server, targets checked by remote_acl */
	struct rv_addr target; /* forward: where the client connects */
	const char *text;      /* as given, for messages */
};

enum rv_client_opt_limits {
	RV_CLIENT_MAX_SOCKS = 16,    /* -D listeners */
	RV_CLIENT_MAX_FORWARDS = 64, /* -L listeners */
	RV_CLIENT_MAX_RFWD = RV_LISTENERS_MAX_DEFAULT, /* -R: what a server grants */
	RV_CLIENT_SOCKS_USER_MAX = 255,
	RV_CLIENT_SOCKS_DEFAULT_PORT = 1080,
	RV_CLIENT_MAX_SERVERS = 16,  /* server URLs (failover, tunnel.c) */
	RV_CLIENT_SERVER_TEXT_MAX = 6 + 2 + RV_CLI_HOST_MAX + 6 + RV_CLI_PATH_MAX + 1,
	/* UDP (udp.c): associations at once (SOCKS5 UDP ASSOCIATE and -L udp
	 * sources together) and their idle timeout. */
	RV_CLIENT_UDP_ASSOC_DEFAULT = 64,
	RV_CLIENT_UDP_ASSOC_MAX = 4096,
	RV_CLIENT_UDP_IDLE_DEFAULT_S = 60,
	RV_CLIENT_UDP_IDLE_MAX_S = 3600,
};

/* --pick: which server carries the tunnel (tunnel.c). */
enum rv_client_pick {
	RV_CLIENT_PICK_FIRST = 0, /* the first healthy one in the given order */
	RV_CLIENT_PICK_RTT = 1,   /* lowest handshake round trip at (re)connect */
};

/* One server URL: ws://, wss:// (key from -s) or rvpn://KEY@HOST... (its
 * own key; see PROTOCOL.md "Client URL"). */
struct rv_client_server {
	struct rv_cli_url url;
	char text[RV_CLIENT_SERVER_TEXT_MAX]; /* ws(s)://host:port/path, for logs */
	unsigned char server_pub[32];
	int own_key;                          /* server_pub came with the URL */
};
#define RV_CLIENT_DEFAULT_BIND "127.0.0.1"

struct rv_client_opts {
	const char *key_file;
	struct rv_keypair kp;                 /* loaded from key_file */
	/* Server URLs in the order given (the command line's replace the
	 * config's); url, url_text and server_pub are servers[0]'s, for code
	 * that names one server. */
	struct rv_client_server servers[RV_CLIENT_MAX_SERVERS];
	size_t n_servers;
	enum rv_client_pick pick;
	int any_wss;              /* some server is wss:// */
	unsigned char server_pub[32];
	struct rv_cli_url url;
	const char *url_text;
	struct rv_cli_sockaddr socks[RV_CLIENT_MAX_SOCKS];
	size_t n_socks;
	struct rv_cli_forward fwd[RV_CLIENT_MAX_FORWARDS];
	size_t n_fwd;
	struct rv_client_rfwd_spec rfwd[RV_CLIENT_MAX_RFWD];
	size_t n_rfwd;
	/* --remote-allow RULE (rv_acl syntax): targets a dynamic -R may reach
	 * through this client; none: nothing.  NULL until the first rule. */
	struct rv_acl *remote_acl;
	int remote_allow_any;    /* --remote-allow any */
	struct rv_cli_forward udp_fwd[RV_CLIENT_MAX_FORWARDS]; /* -L udp:... */
	size_t n_udp_fwd;
	unsigned udp_max_assoc;  /* --udp-max-assoc */
	unsigned udp_idle_s;     /* --udp-timeout */
	const char *ca_file;     /* NULL: system CA bundle */
	int insecure_tls;
	/* --optimistic (conn.c): reply and send before PROXY_RESPONSE. */
	int optimistic;
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
	/* -W HOST:PORT (stdio.c): one stream over stdin/stdout, no listeners. */
	const char *stdio_text;
	struct rv_addr stdio_target;
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
