/* options.c - rvpn-server's command line (getopt_long), every error naming
 * the flag and the value. */
#include "options.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rv_ctl.h"
#include "rv_err.h"
#include "rv_sockaddr.h"
#include "rv_wire.h"
#include "udp.h"
#include "worker.h"

enum rv_server_longopt {
	OPT_CERT = 256,
	OPT_CERT_KEY,
	OPT_PATH,
	OPT_ALLOW,
	OPT_DENY,
	OPT_DNS,
	OPT_MAX_SESSIONS,
	OPT_MAX_STREAMS,
	OPT_MAX_SESSIONS_PER_KEY,
	OPT_MAX_STREAMS_PER_KEY,
	OPT_MAX_BUFFER_PER_KEY,
	OPT_WINDOW,
	OPT_WINDOW_BUDGET,
	OPT_CONNECT_TIMEOUT,
	OPT_IDLE_TIMEOUT,
	OPT_DRAIN_TIMEOUT,
	OPT_STATE_DIR,
	OPT_POOL,
	OPT_POOL_MAX,
	OPT_POOL_IDLE,
	OPT_POOL_PORTS,
	OPT_HELP,
	OPT_VERSION,
	OPT_CONTROL,
	OPT_METRICS,
	OPT_METRICS_ANY,
	OPT_NO_UDP,
	OPT_UDP_MAX_ASSOC,
	OPT_UDP_IDLE,
	OPT_WORKERS,
};


static const struct option rv_server_longopts[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "listen", required_argument, NULL, 'l' },
	{ "key", required_argument, NULL, 'k' },
	{ "authorized-keys", required_argument, NULL, 'a' },
	{ "cert", required_argument, NULL, OPT_CERT },
	{ "cert-key", required_argument, NULL, OPT_CERT_KEY },
	{ "path", required_argument, NULL, OPT_PATH },
	{ "allow", required_argument, NULL, OPT_ALLOW },
	{ "deny", required_argument, NULL, OPT_DENY },
	{ "dns", required_argument, NULL, OPT_DNS },
	{ "max-sessions", required_argument, NULL, OPT_MAX_SESSIONS },
	{ "max-streams", required_argument, NULL, OPT_MAX_STREAMS },
	{ "max-sessions-per-key", required_argument, NULL, OPT_MAX_SESSIONS_PER_KEY },
	{ "max-streams-per-key", required_argument, NULL, OPT_MAX_STREAMS_PER_KEY },
	{ "max-buffer-per-key", required_argument, NULL, OPT_MAX_BUFFER_PER_KEY },
	{ "window", required_argument, NULL, OPT_WINDOW },
	{ "window-budget", required_argument, NULL, OPT_WINDOW_BUDGET },
	{ "connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT },
	{ "idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT },
	{ "drain-timeout", required_argument, NULL, OPT_DRAIN_TIMEOUT },
	{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
	{ "pool", required_argument, NULL, OPT_POOL },
	{ "pool-max", required_argument, NULL, OPT_POOL_MAX },
	{ "pool-idle", required_argument, NULL, OPT_POOL_IDLE },
	{ "pool-ports", required_argument, NULL, OPT_POOL_PORTS },
	{ "control", required_argument, NULL, OPT_CONTROL },
	{ "metrics", required_argument, NULL, OPT_METRICS },
	{ "metrics-any", no_argument, NULL, OPT_METRICS_ANY },
	{ "no-udp", no_argument, NULL, OPT_NO_UDP },
	{ "udp-max-assoc", required_argument, NULL, OPT_UDP_MAX_ASSOC },
	{ "udp-idle", required_argument, NULL, OPT_UDP_IDLE },
	{ "workers", required_argument, NULL, OPT_WORKERS },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

/* One worker per online core, at most RV_WORKERS_MAX. */
static uint32_t rv_server_default_workers(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		return 1;
	return n > RV_WORKERS_MAX ? RV_WORKERS_MAX : (uint32_t)n;
}

static void rv_server_usage(FILE *f)
{
	fprintf(f,
		"usage: rvpn-server [-c CONFIG] [-l ADDR:PORT] -k KEYFILE -a AUTHORIZED_KEYS\n"
		"                   [--cert FILE --cert-key FILE] [--path /PATH]\n"
		"                   [--allow CIDR[:PORT[-PORT]]]... [--deny CIDR[:PORTS]]...\n"
		"                   [--dns ADDR[:PORT]]... [-v]\n"
		"       rvpn-server genkey | pubkey | url [BASE] | --help | --version\n"
		"       rvpn-server status [--json] [--control PATH]\n"
		"\n"
		"  -c, --config FILE          read options from FILE, one 'name = value' per line\n"
		"                             (long option names; the command line wins)\n"
		"  -l, --listen ADDR:PORT     listen address (default 127.0.0.1:8080 for plain ws,\n"
		"                             [::]:443 with --cert); IPv6 as [ADDR]:PORT\n"
		"  -k, --key FILE             server private key (mode 600; see genkey)\n"
		"  -a, --authorized-keys FILE client public keys, one per line with an optional\n"
		"                             name; re-read on SIGHUP\n"
		"      --cert FILE            TLS certificate chain (PEM): serve wss://\n"
		"      --cert-key FILE        TLS private key (PEM)\n"
		"                             without --cert: plain ws://, for use behind a\n"
		"                             TLS-terminating reverse proxy\n"
		"      --path /PATH           WebSocket path (default: a secret path derived\n"
		"                             from the key, see 'url'); everything else gets\n"
		"                             an ordinary 404\n"
		"      --allow CIDR[:PORTS]   allow targets (e.g. 127.0.0.1/32:8000-8100)\n"
		"      --deny CIDR[:PORTS]    deny targets; loopback, private, link-local, CGNAT,\n"
		"                             multicast, unique-local and this host's addresses\n"
		"                             are denied by default;\n"
		"                             the most specific rule wins\n"
		"      --dns ADDR[:PORT]      DNS server to ask (repeatable; default resolv.conf)\n"
		"      --max-sessions N       concurrent clients (default %d)\n"
		"      --max-streams N        streams per client (default %d)\n"
		"      --max-sessions-per-key N  sessions one client key may hold (default %d)\n"
		"      --max-streams-per-key N   streams of all sessions of one key (default %d)\n"
		"      --max-buffer-per-key BYTES  data held for one key's streams before its\n"
		"                             WebSockets are not read (default %d)\n"
		"      --window BYTES         per-stream receive window (default %d)\n"
		"      --window-budget BYTES  window growth: bytes one key's sessions may grant\n"
		"                             beyond --window on fast streams (default 64 MiB,\n"
		"                             at most --max-buffer-per-key; 0 disables growth)\n"
		"      --connect-timeout S    target connect timeout (default %d)\n"
		"      --idle-timeout S       idle stream timeout (default %d)\n"
		"      --drain-timeout S      on SIGTERM, how long streams may finish (default 10)\n"
		"      --no-udp               do not carry UDP datagrams for clients\n"
		"      --udp-max-assoc N      UDP associations per client session (default 64);\n"
		"                             they count as streams in --max-streams-per-key\n"
		"      --udp-idle S           close a UDP association idle this long (default 60)\n"
		"      --workers N|auto       processes serving clients, each session in one\n"
		"                             (default auto: one per CPU core; 1: a single\n"
		"                             process, no supervisor)\n"
		"      --state-dir DIR        keep replay-protection state in DIR/replay-state so\n"
		"                             a restart cannot reopen it (default: none, memory\n"
		"                             only; the packaged service uses /var/lib/rvpn)\n"
		"      --pool K               warm spare connections per busy destination\n"
		"                             (default 2, 0 disables pooling)\n"
		"      --pool-max N           spare connections in all (default 64)\n"
		"      --pool-idle S          close spares unused this long (default and most 2)\n"
		"      --pool-ports P,P...    ports to pre-connect to, where clients speak first\n"
		"                             (default 80,443; 'none' disables pooling)\n"
		"      --control PATH|none    control socket for 'status' (default\n"
		"                             $RUNTIME_DIRECTORY/control, $XDG_RUNTIME_DIR/rvpn/\n"
		"                             server.sock or /run/rvpn/server.sock)\n"
		"      --metrics ADDR:PORT    serve Prometheus metrics at http://ADDR:PORT/metrics\n"
		"                             (default off; loopback addresses only)\n"
		"      --metrics-any          allow --metrics on a non-loopback address\n"
		"  -v, --verbose              log per-stream events\n"
		"\n"
		"  genkey                     print a new private key\n"
		"  pubkey [-k FILE]           read a private key (stdin or FILE), print its public key\n"
		"  url [ws[s]://HOST[:PORT]]  read the server's private key on stdin, print the\n"
		"                             default path (or the client URL with it)\n"
		"  status [--json]            show the running server's sessions and counters\n"
		"  add-client NAME            authorize a new client; print its config, rvpn://\n"
		"                             URL and QR code (see add-client --help)\n"
		"  remove-client NAME         remove a client (its sessions end)\n"
		"  list-clients               the authorized clients\n"
		"  show-config                every option's value and where it came from\n",
		RV_MAX_SESSIONS_DEFAULT, RV_MAX_STREAMS_DEFAULT,
		RV_SERVER_MAX_SESSIONS_PER_KEY, RV_SERVER_MAX_STREAMS_PER_KEY,
		RV_SERVER_MAX_BUFFER_PER_KEY,
		RV_STREAM_WINDOW_DEFAULT, RV_CONNECT_TIMEOUT_DEFAULT_S,
		RV_STREAM_IDLE_TIMEOUT_DEFAULT_S);
}

static int rv_server_parse_uint(const char *flag, const char *text, uint32_t min,
				uint32_t max, uint32_t *out)
{
	char *end;
	unsigned long long v;

	if (text[0] < '0' || text[0] > '9')
		goto bad;
	v = strtoull(text, &end, 10);
	if (*end != '\0' || v < min || v > max)
		goto bad;
	*out = (uint32_t)v;
	return RV_OK;
bad:
	fprintf(stderr, "rvpn-server: %s: '%s' is not a number from %u to %u\n", flag, text,
		min, max);
	return RV_ERR_CONFIG;
}

/* "80,443" (at most RV_POOL_MAX_PORTS) or "none". */
static int rv_server_parse_pool_ports(struct rv_server_opts *o, const char *text)
{
	const char *p = text;

	o->n_pool_ports = 0;
	o->pool_ports_none = strcmp(text, "none") == 0;
	if (o->pool_ports_none)
		return RV_OK;
	for (;;) {
		char *end;
		unsigned long v;

		if (*p < '0' || *p > '9' || o->n_pool_ports == RV_POOL_MAX_PORTS)
			goto bad;
		v = strtoul(p, &end, 10);
		if (v == 0 || v > 65535 || (*end != ',' && *end != '\0'))
			goto bad;
		o->pool_ports[o->n_pool_ports++] = (uint16_t)v;
		if (*end == '\0')
			return RV_OK;
		p = end + 1;
	}
bad:
	fprintf(stderr, "rvpn-server: --pool-ports: '%s' is not 'none' or a list of up to %d "
		"ports 1..65535 joined by ','\n", text, RV_POOL_MAX_PORTS);
	return RV_ERR_CONFIG;
}

static int rv_server_parse_listen(struct rv_server_opts *o, const char *text)
{
	struct rv_sockaddr sa;
	char err[160], ip[RV_SOCKADDR_STRLEN];

	if (rv_sockaddr_parse(text, 0, 0, &sa, err, sizeof(err)) != RV_OK) {
		fprintf(stderr, "rvpn-server: -l: %s\n", err);
		return RV_ERR_CONFIG;
	}
	rv_sockaddr_str(&sa, 0, ip);
	/* lws listens on every address (dual stack) when iface is NULL. */
	if (strcmp(ip, "::") == 0 || strcmp(ip, "0.0.0.0") == 0)
		ip[0] = '\0';
	snprintf(o->listen_host, sizeof(o->listen_host), "%s", ip);
	o->listen_port = rv_sockaddr_port(&sa);
	o->listen = text;
	return RV_OK;
}

static int rv_server_load_config(struct rv_server_opts *o, int *argc, char ***argv)
{
	char err[512];
	int r;

	r = rv_config_argv_load(*argc, *argv, rv_server_longopts, NULL, &o->config, argc,
				&o->merged_argv, err, sizeof(err));
	if (r != RV_OK) {
		fprintf(stderr, "rvpn-server: %s\n", err);
		return r;
	}
	*argv = o->merged_argv;
	return RV_OK;
}

enum rv_server_parse_result rv_server_opts_parse(struct rv_server_opts *o, int argc,
						 char **argv)
{
	char err[256];
	int c, r = RV_OK, opt_index = 1;

	memset(o, 0, sizeof(*o));
	o->path = NULL; /* derived from the key at start (rv_keypath) */
	o->max_sessions = RV_MAX_SESSIONS_DEFAULT;
	o->max_streams = RV_MAX_STREAMS_DEFAULT;
	o->max_sessions_per_key = RV_SERVER_MAX_SESSIONS_PER_KEY;
	o->max_streams_per_key = RV_SERVER_MAX_STREAMS_PER_KEY;
	o->max_buffer_per_key = RV_SERVER_MAX_BUFFER_PER_KEY;
	o->stream_window = RV_STREAM_WINDOW_DEFAULT;
	o->window_budget = RV_SESSION_WINDOW_BUDGET_DEFAULT;
	o->connect_timeout_s = RV_CONNECT_TIMEOUT_DEFAULT_S;
	o->idle_timeout_s = RV_STREAM_IDLE_TIMEOUT_DEFAULT_S;
	o->drain_timeout_s = 10;
	o->workers = rv_server_default_workers();
	o->udp_max_assoc = RV_DGRAM_ASSOC_MAX_DEFAULT;
	o->udp_idle_s = RV_DGRAM_IDLE_TIMEOUT_DEFAULT_S;
	o->pool_per_dest = 2;
	o->pool_max = 64;
	o->pool_idle_s = RV_POOL_SPARE_MAX_MS / 1000;
	if (rv_acl_new(1, &o->acl) != RV_OK) {
		fprintf(stderr, "rvpn-server: out of memory\n");
		return RV_SERVER_PARSE_ERROR;
	}
	if (rv_server_load_config(o, &argc, &argv) != RV_OK)
		return RV_SERVER_PARSE_ERROR;
	optind = 1;
	while (r == RV_OK &&
	       (c = getopt_long(argc, argv, "c:l:k:a:v", rv_server_longopts, NULL)) != -1) {
		opt_index = optind - 1; /* the option's value (or the option) */
		switch (c) {
		case 'c':
			break; /* loaded above */
		case 'l':
			r = rv_server_parse_listen(o, optarg);
			break;
		case 'k':
			o->key_file = optarg;
			break;
		case 'a':
			o->authorized_keys = optarg;
			break;
		case OPT_CERT:
			o->cert_file = optarg;
			break;
		case OPT_CERT_KEY:
			o->cert_key_file = optarg;
			break;
		case OPT_PATH:
			if (optarg[0] != '/' || strlen(optarg) > 255 || strpbrk(optarg, " ?#")) {
				fprintf(stderr, "rvpn-server: --path: '%s' must start with '/' "
					"and hold no spaces, '?' or '#'\n", optarg);
				r = RV_ERR_CONFIG;
			}
			o->path = optarg;
			break;
		case OPT_ALLOW:
		case OPT_DENY:
			r = rv_acl_add(o->acl, c == OPT_ALLOW ? RV_ACL_ALLOW : RV_ACL_DENY, optarg,
				       err, sizeof(err));
			if (r != RV_OK)
				fprintf(stderr, "rvpn-server: %s: %s\n",
					c == OPT_ALLOW ? "--allow" : "--deny", err);
			break;
		case OPT_DNS:
			if (o->n_dns == RV_DNS_MAX_SERVERS) {
				fprintf(stderr, "rvpn-server: --dns: at most %d servers\n",
					RV_DNS_MAX_SERVERS);
				r = RV_ERR_CONFIG;
				break;
			}
			o->dns_servers[o->n_dns++] = optarg;
			break;
		case OPT_MAX_SESSIONS:
			r = rv_server_parse_uint("--max-sessions", optarg, 1, 100000, &o->max_sessions);
			break;
		case OPT_MAX_STREAMS:
			r = rv_server_parse_uint("--max-streams", optarg, 1, 65536, &o->max_streams);
			break;
		case OPT_MAX_SESSIONS_PER_KEY:
			r = rv_server_parse_uint("--max-sessions-per-key", optarg, 1, 100000,
						 &o->max_sessions_per_key);
			break;
		case OPT_MAX_STREAMS_PER_KEY:
			r = rv_server_parse_uint("--max-streams-per-key", optarg, 1, 1000000,
						 &o->max_streams_per_key);
			break;
		case OPT_MAX_BUFFER_PER_KEY:
			r = rv_server_parse_uint("--max-buffer-per-key", optarg, 1024 * 1024,
						 UINT32_MAX, &o->max_buffer_per_key);
			break;
		case OPT_WINDOW:
			r = rv_server_parse_uint("--window", optarg, RV_FRAME_DATA_MAX,
						 RV_STREAM_WINDOW_MAX, &o->stream_window);
			break;
		case OPT_WINDOW_BUDGET:
			r = rv_server_parse_uint("--window-budget", optarg, 0, UINT32_MAX,
						 &o->window_budget);
			break;
		case OPT_CONNECT_TIMEOUT:
			r = rv_server_parse_uint("--connect-timeout", optarg, 1, 600,
						 &o->connect_timeout_s);
			break;
		case OPT_IDLE_TIMEOUT:
			r = rv_server_parse_uint("--idle-timeout", optarg, 1, 86400 * 7,
						 &o->idle_timeout_s);
			break;
		case OPT_DRAIN_TIMEOUT:
			r = rv_server_parse_uint("--drain-timeout", optarg, 0, 3600,
						 &o->drain_timeout_s);
			break;
		case OPT_STATE_DIR:
			if (optarg[0] == '\0' || strlen(optarg) > RV_SERVER_STATE_DIR_MAX) {
				fprintf(stderr, "rvpn-server: --state-dir: '%s' must be a directory "
					"name of 1 to %d bytes\n", optarg, RV_SERVER_STATE_DIR_MAX);
				r = RV_ERR_CONFIG;
			}
			o->state_dir = optarg;
			break;
		case OPT_POOL:
			r = rv_server_parse_uint("--pool", optarg, 0, 64, &o->pool_per_dest);
			break;
		case OPT_POOL_MAX:
			r = rv_server_parse_uint("--pool-max", optarg, 0, 4096, &o->pool_max);
			break;
		case OPT_POOL_IDLE:
			r = rv_server_parse_uint("--pool-idle", optarg, 1, 3600, &o->pool_idle_s);
			break;
		case OPT_POOL_PORTS:
			r = rv_server_parse_pool_ports(o, optarg);
			break;
		case OPT_CONTROL:
			o->control = optarg;
			break;
		case OPT_METRICS:
			o->metrics = optarg;
			break;
		case OPT_METRICS_ANY:
			o->metrics_any = 1;
			break;
		case OPT_NO_UDP:
			o->no_udp = 1;
			break;
		case OPT_UDP_MAX_ASSOC:
			r = rv_server_parse_uint("--udp-max-assoc", optarg, 1, RV_UDP_MAX_ASSOC_LIMIT,
						 &o->udp_max_assoc);
			break;
		case OPT_UDP_IDLE:
			r = rv_server_parse_uint("--udp-idle", optarg, 1, 86400, &o->udp_idle_s);
			break;
		case OPT_WORKERS:
			if (strcmp(optarg, "auto") == 0)
				o->workers = rv_server_default_workers();
			else
				r = rv_server_parse_uint("--workers", optarg, 1, RV_WORKERS_MAX,
							 &o->workers);
			break;
		case 'v':
			o->verbose++;
			break;
		case OPT_HELP:
			rv_server_usage(stdout);
			return RV_SERVER_PARSE_EXIT_OK;
		case OPT_VERSION:
			return RV_SERVER_PARSE_VERSION;
		default:
			rv_server_usage(stderr);
			return RV_SERVER_PARSE_ERROR;
		}
	}
	if (r != RV_OK) {
		if (rv_config_lineno(o->config, opt_index) > 0)
			fprintf(stderr, "rvpn-server: (the value above is from %s line %u)\n",
				o->config->path, rv_config_lineno(o->config, opt_index));
		return RV_SERVER_PARSE_ERROR;
	}
	if (o->pool_ports_none)
		o->pool_per_dest = 0;
	if (optind < argc) {
		fprintf(stderr, "rvpn-server: unexpected argument '%s'\n", argv[optind]);
		return RV_SERVER_PARSE_ERROR;
	}
	if (o->key_file == NULL || o->authorized_keys == NULL) {
		fprintf(stderr, "rvpn-server: %s is required (see --help)\n",
			o->key_file == NULL ? "-k KEYFILE" : "-a AUTHORIZED_KEYS");
		return RV_SERVER_PARSE_ERROR;
	}
	if ((o->cert_file == NULL) != (o->cert_key_file == NULL)) {
		fprintf(stderr, "rvpn-server: --cert and --cert-key go together\n");
		return RV_SERVER_PARSE_ERROR;
	}
	if (o->metrics != NULL &&
	    rv_ctl_parse_metrics_addr(o->metrics, o->metrics_any, &o->metrics_sa,
				      &o->metrics_salen, err, sizeof(err)) != RV_OK) {
		fprintf(stderr, "rvpn-server: --metrics: %s\n", err);
		return RV_SERVER_PARSE_ERROR;
	}
	if (o->listen == NULL) {
		o->listen = o->cert_file != NULL ? "[::]:443" : "127.0.0.1:8080";
		if (rv_server_parse_listen(o, o->listen) != RV_OK)
			return RV_SERVER_PARSE_ERROR;
	}
	return RV_SERVER_PARSE_RUN;
}

void rv_server_opts_free(struct rv_server_opts *o)
{
	rv_acl_free(o->acl);
	o->acl = NULL;
	free(o->merged_argv);
	o->merged_argv = NULL;
	rv_config_free(o->config);
	o->config = NULL;
}
