/* options.h - rvpn-server command line and config file (-c FILE: the same
 * options as "name = value" lines, command line wins).  Strings point into
 * argv or the loaded config; the struct owns the config, the merged argv
 * and the acl until rv_server_opts_free(). */
#ifndef RV_SERVER_OPTIONS_H
#define RV_SERVER_OPTIONS_H

#include <stdint.h>
#include <sys/socket.h>

#include "rv_acl.h"
#include "rv_config.h"
#include "rv_dns.h"
#include "rv_pool.h"

/* Per-key defaults: one key (one user's device) cannot take the server. */
enum rv_server_perkey_defaults {
	RV_SERVER_MAX_SESSIONS_PER_KEY = 8,
	RV_SERVER_MAX_STREAMS_PER_KEY = 1024,
	RV_SERVER_MAX_BUFFER_PER_KEY = 64 * 1024 * 1024,
};
enum { RV_SERVER_STATE_DIR_MAX = 1024 };

enum rv_server_parse_result {
	RV_SERVER_PARSE_ERROR = 0,
	RV_SERVER_PARSE_RUN = 1,
	RV_SERVER_PARSE_EXIT_OK = 2, /* --help printed */
	RV_SERVER_PARSE_VERSION = 3,
};

struct rv_server_opts {
	const char *listen;          /* ADDR:PORT text, validated */
	char listen_host[64];        /* for lws: IP literal, "" = any */
	uint16_t listen_port;
	const char *key_file;
	const char *authorized_keys;
	const char *cert_file, *cert_key_file;
	const char *path;            /* WebSocket path */
	struct rv_acl *acl;
	const char *dns_servers[RV_DNS_MAX_SERVERS];
	size_t n_dns;
	uint32_t max_sessions;
	uint32_t max_streams;
	uint32_t max_sessions_per_key;
	uint32_t max_streams_per_key;
	uint32_t max_buffer_per_key;  /* bytes held in user space for one key */
	uint32_t stream_window;
	uint32_t window_budget;      /* growth per key beyond stream_window; 0: off */
	uint32_t connect_timeout_s;
	uint32_t idle_timeout_s;
	uint32_t drain_timeout_s;    /* SIGTERM: how long streams may drain */
	int no_udp;                  /* --no-udp: do not agree to datagrams */
	uint32_t udp_max_assoc;      /* UDP associations per session */
	uint32_t udp_idle_s;         /* association idle timeout */
	const char *state_dir;       /* replay state; NULL = memory only */
	uint32_t pool_per_dest;      /* K spares per destination (0 = no pool) */
	uint32_t pool_max;           /* global cap on spares */
	uint32_t pool_idle_s;        /* capped at RV_POOL_SPARE_MAX_MS */
	uint16_t pool_ports[RV_POOL_MAX_PORTS]; /* --pool-ports; none given: 80,443 */
	size_t n_pool_ports;
	int pool_ports_none;         /* --pool-ports none: no pool */
	uint32_t workers;            /* processes serving (--workers; 1: no supervisor) */
	int verbose;
	/* live status (status.c): --control PATH (NULL: default, "none": off),
	 * --metrics ADDR:PORT (NULL: off; parsed into metrics_sa), --metrics-any */
	const char *control;
	const char *metrics;
	int metrics_any;
	struct sockaddr_storage metrics_sa;
	socklen_t metrics_salen;
	struct rv_config *config;    /* -c FILE; strings above may point into it */
	char **merged_argv;          /* config arguments + command line */
};

enum rv_server_parse_result rv_server_opts_parse(struct rv_server_opts *o, int argc,
						 char **argv);
void rv_server_opts_free(struct rv_server_opts *o);

#endif
