/* options.c - rvpn-client command-line parsing (see options.h). */
#include "options.h"

#include <getopt.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "rv_ctl.h"
#include "rv_err.h"
#include "rv_keycmd.h"
#include "client.h"
#include "rv_wire.h"

enum { RV_OPT_CA = 0x100, RV_OPT_INSECURE, RV_OPT_SOCKS_AUTH, RV_OPT_ERRLEN = 512 };
/* live status (status.c) */
enum { RV_OPT_CONTROL = 0x180, RV_OPT_METRICS, RV_OPT_METRICS_ANY };

void rv_client_usage(FILE *out)
{
	fprintf(out,
		"usage: rvpn-client -k KEYFILE -s SERVER_PUBLIC_KEY [-D [BIND:]PORT]\n"
		"                   [-L [BIND:]PORT:HOST:HOSTPORT]... [--ca FILE | --insecure-tls]\n"
		"                   [--socks-auth FILE] [-v] URL\n"
		"       rvpn-client genkey | pubkey | --help | --version\n"
		"\n"
		"Tunnels local TCP connections through one WebSocket to rvpn-server.\n"
		"\n"
		"  URL                 ws://HOST[:PORT][/PATH] or wss://HOST[:PORT][/PATH]\n"
		"                      (ports 80/443 by default; PATH defaults to %s)\n"
		"  -k KEYFILE          this client's private key (from genkey; mode 0600)\n"
		"  -s SERVER_KEY       the server's public key (base64, or a file holding it);\n"
		"                      the tunnel is refused unless the server proves it\n"
		"  -D [BIND:]PORT      SOCKS5 proxy (CONNECT; IPv4, IPv6, names resolved by the\n"
		"                      server).  BIND defaults to %s; '*' means every interface.\n"
		"                      May be repeated.  Without -D and -L: -D %s:%d\n"
		"  -L [BIND:]PORT:HOST:HOSTPORT\n"
		"                      forward connections to local PORT to HOST:HOSTPORT as\n"
		"                      seen from the server.  May be repeated.\n"
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
		"  -v                  debug logging (per-stream lines); -vv adds libwebsockets'\n"
		"  -h, --help          this text\n"
		"  -V, --version       version\n"
		"\n"
		"Subcommands:\n"
		"  genkey              print a new private key\n"
		"  pubkey              read a private key on stdin, print its public key\n"
		"  import URL|FILE [-o FILE]  write a client config from an rvpn:// URL\n"
		"  status [--json] [--control PATH]\n"
		"                      show the running client's tunnel, streams and counters\n"
		"\n"
		"The tunnel is kept up with keepalives (a dead one is noticed within %d s) and\n"
		"re-established with exponential backoff.  Meanwhile new local connections wait\n"
		"up to %d s for it, then proceed or get a SOCKS5 failure reply.\n",
		RV_WS_DEFAULT_PATH, RV_CLIENT_DEFAULT_BIND, RV_CLIENT_DEFAULT_BIND,
		RV_CLIENT_SOCKS_DEFAULT_PORT, RV_KEEPALIVE_TIMEOUT_DEFAULT_S, RV_CLIENT_WAIT_MS / 1000);
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
static int rv_client_load_server_key(struct rv_client_opts *o, const char *arg)
{
	char buf[256];
	size_t len = 0;

	if (rv_key_from_base64(arg, strlen(arg), o->server_pub) == RV_OK)
		return RV_OK;
	if (rv_client_read_small_file(arg, buf, sizeof(buf), &len, 0) == RV_OK &&
	    rv_key_from_base64(buf, len, o->server_pub) == RV_OK)
		return RV_OK;
	fprintf(stderr, "rvpn-client: -s: '%s' is neither a base64 public key (44 characters) "
			"nor a readable file holding one\n", arg);
	return RV_ERR_CONFIG;
}

static int rv_client_load_socks_auth(struct rv_client_opts *o, const char *path)
{
	char buf[2 * RV_CLIENT_SOCKS_USER_MAX + 8];
	size_t len = 0;
	char *colon;
	int ret;

	ret = rv_client_read_small_file(path, buf, sizeof(buf), &len, 1);
	if (ret != RV_OK) {
		fprintf(stderr, "rvpn-client: --socks-auth: %s: %s\n", path,
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
		fprintf(stderr, "rvpn-client: --socks-auth: %s: expected one line 'user:password' "
				"(both non-empty)\n", path);
		goto out;
	}
	*colon = '\0';
	if (strlen(buf) > RV_CLIENT_SOCKS_USER_MAX || strlen(colon + 1) > RV_CLIENT_SOCKS_USER_MAX) {
		fprintf(stderr, "rvpn-client: --socks-auth: %s: user and password are limited to "
				"255 bytes each (RFC 1929)\n", path);
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

enum rv_client_parse_result rv_client_opts_parse(struct rv_client_opts *o, int argc,
						 char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "ca", required_argument, NULL, RV_OPT_CA },
		{ "insecure-tls", no_argument, NULL, RV_OPT_INSECURE },
		{ "socks-auth", required_argument, NULL, RV_OPT_SOCKS_AUTH },
		{ "control", required_argument, NULL, RV_OPT_CONTROL },
		{ "metrics", required_argument, NULL, RV_OPT_METRICS },
		{ "metrics-any", no_argument, NULL, RV_OPT_METRICS_ANY },
		{ NULL, 0, NULL, 0 },
	};
	char err[RV_OPT_ERRLEN];
	const char *server_key = NULL, *socks_auth = NULL;
	int c;

	memset(o, 0, sizeof(*o));
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":hVvk:s:D:L:", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			rv_client_usage(stdout);
			return RV_CLIENT_PARSE_EXIT_OK;
		case 'V':
			return RV_CLIENT_PARSE_VERSION;
		case 'v':
			o->verbose++;
			break;
		case 'k':
			o->key_file = optarg;
			break;
		case 's':
			server_key = optarg;
			break;
		case 'D':
			if (o->n_socks == RV_CLIENT_MAX_SOCKS) {
				fprintf(stderr, "rvpn-client: -D: at most %d SOCKS listeners\n",
					RV_CLIENT_MAX_SOCKS);
				return RV_CLIENT_PARSE_EXIT_ERR;
			}
			if (rv_cliparse_listen("-D", optarg, RV_CLIENT_DEFAULT_BIND,
					       &o->socks[o->n_socks], err, sizeof(err)) != RV_OK) {
				fprintf(stderr, "rvpn-client: %s\n", err);
				return RV_CLIENT_PARSE_EXIT_ERR;
			}
			o->n_socks++;
			break;
		case 'L':
			if (o->n_fwd == RV_CLIENT_MAX_FORWARDS) {
				fprintf(stderr, "rvpn-client: -L: at most %d forwards\n",
					RV_CLIENT_MAX_FORWARDS);
				return RV_CLIENT_PARSE_EXIT_ERR;
			}
			if (rv_cliparse_forward("-L", optarg, RV_CLIENT_DEFAULT_BIND,
						&o->fwd[o->n_fwd], err, sizeof(err)) != RV_OK) {
				fprintf(stderr, "rvpn-client: %s\n", err);
				return RV_CLIENT_PARSE_EXIT_ERR;
			}
			o->n_fwd++;
			break;
		case RV_OPT_CA:
			o->ca_file = optarg;
			break;
		case RV_OPT_INSECURE:
			o->insecure_tls = 1;
			break;
		case RV_OPT_SOCKS_AUTH:
			socks_auth = optarg;
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
		default:
			fprintf(stderr, "rvpn-client: unknown option '%s' (see --help)\n",
				argv[optind - 1]);
			return RV_CLIENT_PARSE_EXIT_ERR;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "rvpn-client: missing the server URL (ws://... or wss://...; "
				"see --help)\n");
		return RV_CLIENT_PARSE_EXIT_ERR;
	}
	if (optind + 1 < argc) {
		fprintf(stderr, "rvpn-client: unexpected argument '%s' after the URL\n",
			argv[optind + 1]);
		return RV_CLIENT_PARSE_EXIT_ERR;
	}
	o->url_text = argv[optind];
	if (rv_cliparse_url("URL", o->url_text, &o->url, err, sizeof(err)) != RV_OK) {
		fprintf(stderr, "rvpn-client: %s\n", err);
		return RV_CLIENT_PARSE_EXIT_ERR;
	}
	if (o->metrics != NULL &&
	    rv_ctl_parse_metrics_addr(o->metrics, o->metrics_any, &o->metrics_sa,
				      &o->metrics_salen, err, sizeof(err)) != RV_OK) {
		fprintf(stderr, "rvpn-client: --metrics: %s\n", err);
		return RV_CLIENT_PARSE_EXIT_ERR;
	}
	if (o->key_file == NULL) {
		fprintf(stderr, "rvpn-client: missing -k KEYFILE (make one with: umask 077; "
				"rvpn-client genkey > client.key)\n");
		return RV_CLIENT_PARSE_EXIT_ERR;
	}
	if (server_key == NULL) {
		fprintf(stderr, "rvpn-client: missing -s SERVER_PUBLIC_KEY (on the server: "
				"rvpn-server pubkey < server.key)\n");
		return RV_CLIENT_PARSE_EXIT_ERR;
	}
	if (o->ca_file != NULL && o->insecure_tls) {
		fprintf(stderr, "rvpn-client: --ca and --insecure-tls exclude each other\n");
		return RV_CLIENT_PARSE_EXIT_ERR;
	}
	if (o->url.scheme == RV_CLI_URL_WS && (o->ca_file != NULL || o->insecure_tls))
		fprintf(stderr, "rvpn-client: note: %s is a ws:// URL; --ca/--insecure-tls only "
				"apply to wss://\n", o->url_text);
	if (rv_key_load_private_file(o->key_file, &o->kp, err, sizeof(err)) != RV_OK) {
		fprintf(stderr, "rvpn-client: -k: %s\n", err);
		return RV_CLIENT_PARSE_EXIT_ERR;
	}
	if (rv_client_load_server_key(o, server_key) != RV_OK)
		return RV_CLIENT_PARSE_EXIT_ERR;
	if (socks_auth != NULL && rv_client_load_socks_auth(o, socks_auth) != RV_OK)
		return RV_CLIENT_PARSE_EXIT_ERR;
	if (o->n_socks == 0 && o->n_fwd == 0) {
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
}
