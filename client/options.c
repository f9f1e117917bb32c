/* options.c - rvpn-client command-line parsing (see options.h). */
#include "options.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "rv_ctl.h"
#include "rv_err.h"
#include "rv_keycmd.h"
#include "client.h"
#include "rv_wire.h"

enum {
	RV_OPT_CA = 0x100,
	RV_OPT_INSECURE,
	RV_OPT_SOCKS_AUTH,
	RV_OPT_URL,
	RV_OPT_NO_CONFIG,
	RV_OPT_CONTROL,   /* live status (status.c) */
	RV_OPT_METRICS,
	RV_OPT_METRICS_ANY,
	RV_OPT_UDP_MAX_ASSOC, /* UDP (udp.c) */
	RV_OPT_UDP_TIMEOUT,
	RV_OPT_ERRLEN = 512,
	RV_OPT_PATH_MAX = 4096,
};

/* Every option has a long name: it is also its config file key. */
static const struct option rv_client_longopts[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "no-config", no_argument, NULL, RV_OPT_NO_CONFIG },
	{ "key", required_argument, NULL, 'k' },
	{ "server-key", required_argument, NULL, 's' },
	{ "socks", required_argument, NULL, 'D' },
	{ "forward", required_argument, NULL, 'L' },
	{ "url", required_argument, NULL, RV_OPT_URL },
	{ "ca", required_argument, NULL, RV_OPT_CA },
	{ "insecure-tls", no_argument, NULL, RV_OPT_INSECURE },
	{ "socks-auth", required_argument, NULL, RV_OPT_SOCKS_AUTH },
	{ "control", required_argument, NULL, RV_OPT_CONTROL },
	{ "metrics", required_argument, NULL, RV_OPT_METRICS },
	{ "metrics-any", no_argument, NULL, RV_OPT_METRICS_ANY },
	{ "udp-max-assoc", required_argument, NULL, RV_OPT_UDP_MAX_ASSOC },
	{ "udp-timeout", required_argument, NULL, RV_OPT_UDP_TIMEOUT },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

void rv_client_usage(FILE *out)
{
	fprintf(out,
		"usage: rvpn-client [-c CONFIG | --no-config] -k KEYFILE -s SERVER_PUBLIC_KEY\n"
		"                   [-D [BIND:]PORT]... [-L [BIND:]PORT:HOST:HOSTPORT]...\n"
		"                   [--ca FILE | --insecure-tls] [--socks-auth FILE] [-v] URL\n"
		"       rvpn-client genkey | pubkey [-k KEYFILE] | --help | --version\n"
		"\n"
		"Tunnels local TCP connections through one WebSocket to rvpn-server.\n"
		"\n"
		"  -c, --config FILE   read options from FILE, one 'name = value' per line (the\n"
		"                      long option names; -D/-L are socks/forward and repeat);\n"
		"                      default ~/%s when it exists\n"
		"      --no-config     do not read the default config file\n"
		"  URL, --url URL      ws://HOST[:PORT][/PATH] or wss://HOST[:PORT][/PATH]\n"
		"                      (ports 80/443 by default; PATH defaults to %s)\n"
		"  -k, --key KEYFILE   this client's private key (from genkey; mode 0600)\n"
		"  -s, --server-key KEY  the server's public key (base64, or a file holding\n"
		"                      it); the tunnel is refused unless the server proves it\n"
		"  -D, --socks [BIND:]PORT  SOCKS5 proxy (CONNECT; IPv4, IPv6, names resolved by the\n"
		"                      server).  BIND defaults to %s; '*' means every interface.\n"
		"                      May be repeated.  Without -D and -L: -D %s:%d\n"
		"  -L, --forward [BIND:]PORT:HOST:HOSTPORT\n"
		"                      forward connections to local PORT to HOST:HOSTPORT as\n"
		"                      seen from the server.  May be repeated.\n"
		"  -L udp:[BIND:]PORT:HOST:HOSTPORT\n"
		"                      UDP: datagrams to local PORT go to HOST:HOSTPORT as seen\n"
		"                      from the server, replies come back (one association per\n"
		"                      source).  The -D port also takes SOCKS5 UDP ASSOCIATE.\n"
		"  --udp-max-assoc N   UDP associations at once (default %d; more are refused,\n"
		"                      -L udp evicts its least recently used source)\n"
		"  --udp-timeout SECONDS  an association idle this long ends (default %d; at\n"
		"                      most 10 for -L udp to port 53)\n"
		"  --ca FILE           trust the CA certificates in FILE for wss:// (default: the\n"
		"                      system bundle /etc/ssl/certs/ca-certificates.crt)\n"
		"  --insecure-tls      do not verify the server's TLS certificate (the Noise\n"
		"                      handshake still authenticates the server's key)\n"
		"  --socks-auth FILE   require SOCKS5 username/password (RFC 1929); FILE holds\n"
		"                      one line 'user:password' and must not be group/world-readable\n"
		"  --control PATH|none control socket for 'status' (default $RUNTIME_DIRECTORY/\n"
		"                      control, $XDG_RUNTIME_DIR/rvpn/client.sock or\n"
		"                      /run/rvpn/client.sock)\n"
		"  --metrics ADDR:PORT serve Prometheus metrics at http://ADDR:PORT/metrics\n"
		"                      (default off; loopback only unless --metrics-any)\n"
		"  --metrics-any       allow --metrics on a non-loopback address\n"
		"  -v, --verbose       debug logging (per-stream lines); -vv adds libwebsockets'\n"
		"                      own log\n"
		"  -h, --help          this text\n"
		"  -V, --version       version\n"
		"\n"
		"Subcommands:\n"
		"  genkey              print a new private key\n"
		"  pubkey [-k FILE]    read a private key (stdin or FILE), print its public key\n"
		"  import URL|FILE [-o FILE]  write a client config from an rvpn:// URL\n"
		"  status [--json] [--control PATH]\n"
		"                      show the running client's tunnel, streams and counters\n"
		"\n"
		"Exit status: 0 clean exit, 2 usage or configuration error (bad option, value,\n"
		"config file or key file), 1 start-up failure (e.g. a port cannot be bound).\n"
		"An unreachable server is not a failure: the client keeps retrying.\n"
		"The tunnel is kept up with keepalives (a dead one is noticed within %d s) and\n"
		"re-established with exponential backoff.  Meanwhile new local connections wait\n"
		"up to %d s for it, then proceed or get a SOCKS5 failure reply.\n",
		RV_CLIENT_CONFIG_DEFAULT, RV_WS_DEFAULT_PATH, RV_CLIENT_DEFAULT_BIND, RV_CLIENT_DEFAULT_BIND,
		RV_CLIENT_SOCKS_DEFAULT_PORT, RV_CLIENT_UDP_ASSOC_DEFAULT, RV_CLIENT_UDP_IDLE_DEFAULT_S,
		RV_KEEPALIVE_TIMEOUT_DEFAULT_S, RV_CLIENT_WAIT_MS / 1000);
}

static int rv_client_read_small_file(const char *path, char *buf, size_t size, size_t *len,
				     int private_file)
{
	struct stat st;
	FILE *f;
	size_t n;
	int ret = RV_ERR_IO;

	f = fopen(path, "r");
	if (f == NULL)
		return RV_ERR_NOT_FOUND;
	if (private_file && (fstat(fileno(f), &st) != 0 || (st.st_mode & 077) != 0)) {
		ret = RV_ERR_PERMISSION;
		goto out;
	}
	n = fread(buf, 1, size, f);
	if (ferror(f))
		goto out;
	if (n == size) {
		ret = RV_ERR_LIMIT;
		goto out;
	}
	buf[n] = '\0';
	*len = n;
	ret = RV_OK;
out:
	fclose(f);
	return ret;
}

/* -s accepts the key itself or a file holding it. */
static int rv_client_load_server_key(struct rv_client_opts *o, const char *arg, char *err,
				     size_t errlen)
{
	char buf[256];
	size_t len = 0;

	if (rv_key_from_base64(arg, strlen(arg), o->server_pub) == RV_OK)
		return RV_OK;
	if (rv_client_read_small_file(arg, buf, sizeof(buf), &len, 0) == RV_OK &&
	    rv_key_from_base64(buf, len, o->server_pub) == RV_OK)
		return RV_OK;
	rv_err_set(err, errlen, "-s: '%s' is neither a base64 public key (44 characters) "
		   "nor a readable file holding one", arg);
	return RV_ERR_CONFIG;
}

static int rv_client_load_socks_auth(struct rv_client_opts *o, const char *path, char *err,
				     size_t errlen)
{
	char buf[2 * RV_CLIENT_SOCKS_USER_MAX + 8];
	size_t len = 0;
	char *colon;
	int ret;

	ret = rv_client_read_small_file(path, buf, sizeof(buf), &len, 1);
	if (ret != RV_OK) {
		rv_err_set(err, errlen, "--socks-auth: %s: %s", path,
			ret == RV_ERR_PERMISSION ? "readable by group or others (chmod 600 it)" :
			ret == RV_ERR_NOT_FOUND	 ? "cannot open it" :
			ret == RV_ERR_LIMIT	 ? "too long" : "cannot read it");
		goto out;
	}
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		buf[--len] = '\0';
	colon = strchr(buf, ':');
	ret = RV_ERR_CONFIG;
	if (colon == NULL || colon == buf || colon[1] == '\0' || strchr(buf, '\n') != NULL) {
		rv_err_set(err, errlen, "--socks-auth: %s: expected one line 'user:password' "
			   "(both non-empty)", path);
		goto out;
	}
	*colon = '\0';
	if (strlen(buf) > RV_CLIENT_SOCKS_USER_MAX || strlen(colon + 1) > RV_CLIENT_SOCKS_USER_MAX) {
		rv_err_set(err, errlen, "--socks-auth: %s: user and password are limited to "
			   "255 bytes each (RFC 1929)", path);
		goto out;
	}
	strcpy(o->socks_user, buf);
	strcpy(o->socks_pass, colon + 1);
	o->socks_auth = 1;
	ret = RV_OK;
out:
	sodium_memzero(buf, sizeof(buf));
	return ret;
}

/* "rvpn-client: [FILE:LINE: ]MSG": idx is the merged argv index of the
 * option's value (0: none / the command line). */
static void rv_client_fail(const struct rv_client_opts *o, int idx, const char *msg)
{
	unsigned line = rv_config_lineno(o->config, idx);

	if (line > 0)
		fprintf(stderr, "rvpn-client: %s:%u: %s\n", o->config->path, line, msg);
	else
		fprintf(stderr, "rvpn-client: %s\n", msg);
}

/* ~/.config/rvpn/client.conf, or NULL without $HOME. */
static const char *rv_client_default_config(char *buf, size_t size)
{
	const char *home = getenv("HOME");
	int n;

	if (home == NULL || home[0] != '/')
		return NULL;
	n = snprintf(buf, size, "%s/%s", home, RV_CLIENT_CONFIG_DEFAULT);
	return n > 0 && (size_t)n < size ? buf : NULL;
}

/* A repeatable or flag option from getopt_long. */
static int rv_client_opt(struct rv_client_opts *o, int c, const char *arg, char *err,
			 size_t errlen)
{
	switch (c) {
	case 'v':
		o->verbose++;
		return RV_OK;
	case 'D':
		if (o->n_socks == RV_CLIENT_MAX_SOCKS) {
			rv_err_set(err, errlen, "-D: at most %d SOCKS listeners",
				   RV_CLIENT_MAX_SOCKS);
			return RV_ERR_LIMIT;
		}
		if (rv_cliparse_listen("-D", arg, RV_CLIENT_DEFAULT_BIND, &o->socks[o->n_socks],
				       err, errlen) != RV_OK)
			return RV_ERR_CONFIG;
		o->n_socks++;
		return RV_OK;
	case 'L':
		if (strncmp(arg, "udp:", 4) == 0) {
			if (o->n_udp_fwd == RV_CLIENT_MAX_FORWARDS) {
				rv_err_set(err, errlen, "-L udp: at most %d UDP forwards",
					   RV_CLIENT_MAX_FORWARDS);
				return RV_ERR_LIMIT;
			}
			if (rv_cliparse_forward("-L udp", arg + 4, RV_CLIENT_DEFAULT_BIND,
						&o->udp_fwd[o->n_udp_fwd], err, errlen) != RV_OK)
				return RV_ERR_CONFIG;
			o->n_udp_fwd++;
			return RV_OK;
		}
		if (o->n_fwd == RV_CLIENT_MAX_FORWARDS) {
			rv_err_set(err, errlen, "-L: at most %d forwards", RV_CLIENT_MAX_FORWARDS);
			return RV_ERR_LIMIT;
		}
		if (rv_cliparse_forward("-L", arg, RV_CLIENT_DEFAULT_BIND, &o->fwd[o->n_fwd],
					err, errlen) != RV_OK)
			return RV_ERR_CONFIG;
		o->n_fwd++;
		return RV_OK;
	case RV_OPT_INSECURE:
		o->insecure_tls = 1;
		return RV_OK;
	case RV_OPT_UDP_MAX_ASSOC:
	case RV_OPT_UDP_TIMEOUT: {
		unsigned max = c == RV_OPT_UDP_MAX_ASSOC ? RV_CLIENT_UDP_ASSOC_MAX :
							  RV_CLIENT_UDP_IDLE_MAX_S;
		char *end = NULL;
		unsigned long v;

		errno = 0;
		v = strtoul(arg, &end, 10);
		if (arg[0] < '0' || arg[0] > '9' || errno != 0 || end == arg || *end != '\0' ||
		    v < 1 || v > max) {
			rv_err_set(err, errlen, "--%s: '%s' is not a number from 1 to %u",
				   c == RV_OPT_UDP_MAX_ASSOC ? "udp-max-assoc" : "udp-timeout",
				   arg, max);
			return RV_ERR_CONFIG;
		}
		if (c == RV_OPT_UDP_MAX_ASSOC)
			o->udp_max_assoc = (unsigned)v;
		else
			o->udp_idle_s = (unsigned)v;
		return RV_OK;
	}
	default:
		rv_err_set(err, errlen, "internal: option %d", c);
		return RV_ERR_INTERNAL;
	}
}

enum rv_client_parse_result rv_client_opts_parse(struct rv_client_opts *o, int argc,
						 char **argv)
{
	char err[RV_OPT_ERRLEN], defpath[RV_OPT_PATH_MAX];
	const char *server_key = NULL, *socks_auth = NULL;
	int c, idx, key_idx = 0, server_key_idx = 0, socks_auth_idx = 0, url_idx = 0;
	int ca_idx = 0;

	memset(o, 0, sizeof(*o));
	o->udp_max_assoc = RV_CLIENT_UDP_ASSOC_DEFAULT;
	o->udp_idle_s = RV_CLIENT_UDP_IDLE_DEFAULT_S;
	if (rv_config_argv_load(argc, argv, rv_client_longopts,
				rv_client_default_config(defpath, sizeof(defpath)), &o->config,
				&argc, &o->merged_argv, err, sizeof(err)) != RV_OK) {
		fprintf(stderr, "rvpn-client: %s\n", err);
		return RV_CLIENT_PARSE_EXIT_ERR;
	}
	argv = o->merged_argv;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":hVvc:k:s:D:L:", rv_client_longopts, NULL)) != -1) {
		idx = optind - 1; /* the value (or the flag itself) */
		switch (c) {
		case 'h':
			rv_client_usage(stdout);
			return RV_CLIENT_PARSE_EXIT_OK;
		case 'V':
			return RV_CLIENT_PARSE_VERSION;
		case 'c':
			/* Read above; a -c the scan did not see (e.g. "-vc FILE") or a
			 * second one would be silently ignored. */
			if (o->config == NULL || strcmp(optarg, o->config->path) != 0) {
				fprintf(stderr, "rvpn-client: give one -c FILE, on its own "
						"(not combined with other flags)\n");
				return RV_CLIENT_PARSE_EXIT_ERR;
			}
			break;
		case RV_OPT_NO_CONFIG:
			break; /* read above */
		case 'k':
			o->key_file = optarg;
			key_idx = idx;
			break;
		case 's':
			server_key = optarg;
			server_key_idx = idx;
			break;
		case RV_OPT_URL:
			o->url_text = optarg;
			url_idx = idx;
			break;
		case RV_OPT_CA:
			o->ca_file = optarg;
			ca_idx = idx;
			break;
		case RV_OPT_SOCKS_AUTH:
			socks_auth = optarg;
			socks_auth_idx = idx;
			break;
		case RV_OPT_CONTROL:
			o->control = optarg;
			break;
		case RV_OPT_METRICS:
			o->metrics = optarg;
			break;
		case RV_OPT_METRICS_ANY:
			o->metrics_any = 1;
			break;
		case ':':
			fprintf(stderr, "rvpn-client: option '%s' needs a value\n", argv[optind - 1]);
			return RV_CLIENT_PARSE_EXIT_ERR;
		case '?':
			fprintf(stderr, "rvpn-client: unknown option '%s' (see --help)\n",
				argv[optind - 1]);
			return RV_CLIENT_PARSE_EXIT_ERR;
		default:
			if (rv_client_opt(o, c, optarg, err, sizeof(err)) != RV_OK) {
				rv_client_fail(o, idx, err);
				return RV_CLIENT_PARSE_EXIT_ERR;
			}
			break;
		}
	}
	/* A URL on the command line wins over "url =" in the config. */
	if (optind < argc) {
		o->url_text = argv[optind];
		url_idx = optind;
	}
	if (o->url_text == NULL) {
		fprintf(stderr, "rvpn-client: missing the server URL (ws://... or wss://...; "
				"or 'url = ...' in the config; see --help)\n");
		return RV_CLIENT_PARSE_EXIT_ERR;
	}
	if (optind + 1 < argc) {
		fprintf(stderr, "rvpn-client: unexpected argument '%s' after the URL\n",
			argv[optind + 1]);
		return RV_CLIENT_PARSE_EXIT_ERR;
	}
	if (rv_cliparse_url("URL", o->url_text, &o->url, err, sizeof(err)) != RV_OK) {
		rv_client_fail(o, url_idx, err);
		return RV_CLIENT_PARSE_EXIT_ERR;
	}
	if (o->metrics != NULL &&
	    rv_ctl_parse_metrics_addr(o->metrics, o->metrics_any, &o->metrics_sa,
				      &o->metrics_salen, err, sizeof(err)) != RV_OK) {
		fprintf(stderr, "rvpn-client: --metrics: %s\n", err);
		return RV_CLIENT_PARSE_EXIT_ERR;
	}
	if (o->key_file == NULL) {
		fprintf(stderr, "rvpn-client: missing -k KEYFILE (make one with: mkdir -p -m 700 "
				"~/.config/rvpn; (umask 077; rvpn-client genkey > "
				"~/.config/rvpn/client.key))\n");
		return RV_CLIENT_PARSE_EXIT_ERR;
	}
	if (server_key == NULL) {
		fprintf(stderr, "rvpn-client: missing -s SERVER_PUBLIC_KEY (on the server: "
				"rvpn-server pubkey -k server.key)\n");
		return RV_CLIENT_PARSE_EXIT_ERR;
	}
	if (o->ca_file != NULL && o->insecure_tls) {
		rv_client_fail(o, ca_idx, "--ca and --insecure-tls exclude each other");
		return RV_CLIENT_PARSE_EXIT_ERR;
	}
	if (o->ca_file != NULL) {
		/* Loaded later by TLS; an unreadable one is a config error (exit 2). */
		FILE *f = fopen(o->ca_file, "re");

		if (f == NULL) {
			snprintf(err, sizeof(err), "--ca: %.400s: %s", o->ca_file, strerror(errno));
			rv_client_fail(o, ca_idx, err);
			return RV_CLIENT_PARSE_EXIT_ERR;
		}
		fclose(f);
	}
	if (o->url.scheme == RV_CLI_URL_WS && (o->ca_file != NULL || o->insecure_tls))
		fprintf(stderr, "rvpn-client: note: %s is a ws:// URL; --ca/--insecure-tls only "
				"apply to wss://\n", o->url_text);
	if (rv_key_load_private_file(o->key_file, &o->kp, err, sizeof(err)) != RV_OK) {
		char msg[RV_OPT_ERRLEN + 8];

		snprintf(msg, sizeof(msg), "-k: %s", err);
		rv_client_fail(o, key_idx, msg);
		return RV_CLIENT_PARSE_EXIT_ERR;
	}
	if (rv_client_load_server_key(o, server_key, err, sizeof(err)) != RV_OK) {
		rv_client_fail(o, server_key_idx, err);
		return RV_CLIENT_PARSE_EXIT_ERR;
	}
	if (socks_auth != NULL &&
	    rv_client_load_socks_auth(o, socks_auth, err, sizeof(err)) != RV_OK) {
		rv_client_fail(o, socks_auth_idx, err);
		return RV_CLIENT_PARSE_EXIT_ERR;
	}
	if (o->n_socks == 0 && o->n_fwd == 0 && o->n_udp_fwd == 0) {
		char port[8];

		snprintf(port, sizeof(port), "%d", RV_CLIENT_SOCKS_DEFAULT_PORT);
		if (rv_cliparse_listen("-D", port, RV_CLIENT_DEFAULT_BIND, &o->socks[0], err,
				       sizeof(err)) != RV_OK) {
			fprintf(stderr, "rvpn-client: %s\n", err);
			return RV_CLIENT_PARSE_EXIT_ERR;
		}
		o->n_socks = 1;
	}
	return RV_CLIENT_PARSE_RUN;
}

void rv_client_opts_wipe(struct rv_client_opts *o)
{
	rv_keypair_wipe(&o->kp);
	sodium_memzero(o->socks_pass, sizeof(o->socks_pass));
	sodium_memzero(o->socks_user, sizeof(o->socks_user));
	free(o->merged_argv);
	o->merged_argv = NULL;
	rv_config_free(o->config);
	o->config = NULL;
}
