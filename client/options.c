/* options.c - rvpn-client command-line parsing (see options.h). */
#include "options.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <sodium.h>

#include "rv_clienturl.h"
#include "rv_acl.h"
#include "rv_addr.h"
#include "rv_ctl.h"
#include "rv_err.h"
#include "rv_sockaddr.h"
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
	RV_OPT_PICK,      /* several servers (tunnel.c) */
	RV_OPT_REMOTE_ALLOW,
	RV_OPT_UDP_MAX_ASSOC, /* UDP (udp.c) */
	RV_OPT_UDP_TIMEOUT,
	RV_OPT_OPTIMISTIC, /* conn.c */
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
	{ "stdio", required_argument, NULL, 'W' },
	{ "remote", required_argument, NULL, 'R' },
	{ "remote-allow", required_argument, NULL, RV_OPT_REMOTE_ALLOW },
	{ "url", required_argument, NULL, RV_OPT_URL },
	{ "pick", required_argument, NULL, RV_OPT_PICK },
	{ "ca", required_argument, NULL, RV_OPT_CA },
	{ "insecure-tls", no_argument, NULL, RV_OPT_INSECURE },
	{ "socks-auth", required_argument, NULL, RV_OPT_SOCKS_AUTH },
	{ "optimistic", no_argument, NULL, RV_OPT_OPTIMISTIC },
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
		"                   [-R [BIND:]PORT[:HOST:HOSTPORT]]... [--remote-allow RULE]...\n"
		"                   [--ca FILE | --insecure-tls] [--socks-auth FILE] [--optimistic]\n"
		"                   [--pick first|rtt] [-v] URL [URL]...\n"
		"       rvpn-client -W HOST:PORT [-c CONFIG] [-k KEYFILE -s KEY] [-v] [URL]...\n"
		"       rvpn-client genkey | pubkey [-k KEYFILE] | --help | --version\n"
		"\n"
		"Tunnels local TCP connections through one WebSocket to rvpn-server.\n"
		"\n"
		"  -c, --config FILE   read options from FILE, one 'name = value' per line (the\n"
		"                      long option names; -D/-L are socks/forward and repeat);\n"
		"                      default ~/%s when it exists\n"
		"      --no-config     do not read the default config file\n"
		"  URL, --url URL      ws://HOST[:PORT][/PATH] or wss://HOST[:PORT][/PATH]\n"
		"                      (ports 80/443 by default; PATH defaults to %s),\n"
		"                      or rvpn://SERVERKEY@HOST[:PORT]/PATH[?tls=0|1] (carries\n"
		"                      its own server key).  Up to %d; repeat for a fleet:\n"
		"                      the client fails over between them\n"
		"      --pick first|rtt  with several URLs: the first healthy one in order\n"
		"                      (default; goes back to an earlier one once it is healthy\n"
		"                      again), or the lowest handshake round trip (measured\n"
		"                      against every server at each (re)connect)\n"
		"  -k, --key KEYFILE   this client's private key (from genkey; mode 0600)\n"
		"  -s, --server-key KEY  the server's public key (base64, or a file holding\n"
		"                      it); the tunnel is refused unless the server proves it.\n"
		"                      Applies to every ws(s):// URL (not needed when every URL\n"
		"                      is an rvpn:// one)\n"
		"  -D, --socks [BIND:]PORT  SOCKS5 proxy (CONNECT; IPv4, IPv6, names resolved by the\n"
		"                      server).  BIND defaults to %s; '*' means every interface.\n"
		"                      May be repeated.  Without -D and -L: -D %s:%d\n"
		"  -L, --forward [BIND:]PORT:HOST:HOSTPORT\n"
		"                      forward connections to local PORT to HOST:HOSTPORT as\n"
		"                      seen from the server.  May be repeated.\n"
		"  -W, --stdio HOST:PORT  stdio mode, for ssh's ProxyCommand: carry one\n"
		"                      connection to HOST:PORT over stdin/stdout, then exit (no\n"
		"                      -D/-L ports, the config's are ignored; only warnings and\n"
		"                      errors on stderr unless -v).\n"
		"                      Exit 0 when both directions ended, 255 if the tunnel or\n"
		"                      the connection failed (e.g. -W %%h:%%p in ProxyCommand)\n"
		"  -R, --remote [BIND:]PORT:HOST:HOSTPORT\n"
		"                      ask the server to listen on BIND:PORT (default %s;\n"
		"                      '*': every interface; PORT 0: the server picks one, see\n"
		"                      'status') and forward its connections to\n"
		"                      HOST:HOSTPORT as seen from this client.  The server's\n"
		"                      authorized_keys must permit it (permit-listen=).\n"
		"  -R, --remote [BIND:]PORT  the same as a SOCKS5 port on the server whose\n"
		"                      connections exit here, to targets --remote-allow allows\n"
		"  --remote-allow RULE targets a dynamic -R may reach from this client:\n"
		"                      ADDR[/LEN][:PORTS] or [ADDR[/LEN]]:PORTS, or 'any'.\n"
		"                      Default: none (every target refused)\n"
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
		"  --optimistic        answer a SOCKS or HTTP CONNECT request at once and send\n"
		"                      what the program writes (within 3 ms) with the stream's\n"
		"                      request, and -L data likewise: one round trip less per\n"
		"                      new connection (as shadowsocks does).  A destination the\n"
		"                      server cannot reach then shows as a reset connection\n"
		"                      instead of a SOCKS/HTTP error.  Default off\n"
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
		RV_CLIENT_CONFIG_DEFAULT, RV_WS_DEFAULT_PATH, RV_CLIENT_MAX_SERVERS,
		RV_CLIENT_DEFAULT_BIND, RV_CLIENT_DEFAULT_BIND, RV_CLIENT_SOCKS_DEFAULT_PORT,
		RV_CLIENT_DEFAULT_BIND, RV_CLIENT_UDP_ASSOC_DEFAULT, RV_CLIENT_UDP_IDLE_DEFAULT_S,
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

/* -W HOST:PORT (HOST a name, an IPv4 literal or [IPv6]): the -L parser's
 * HOST:HOSTPORT half, behind a placeholder bind port.  -D/-L on the command
 * line are an error; the config's socks/forward lines are ignored, so one
 * config serves both modes (cmd_ports: those from the command line). */
static int rv_client_parse_stdio(struct rv_client_opts *o, int cmd_ports, char *err,
				 size_t errlen)
{
	struct rv_cli_forward fwd;
	char spec[RV_CLI_ADDRSTR_MAX + 8];
	size_t n = strlen(o->stdio_text);

	if (cmd_ports > 0) {
		rv_err_set(err, errlen, "-W: stdio mode opens no ports: drop -D/-L/-R, or run a "
			   "second client for them");
		return RV_ERR_CONFIG;
	}
	o->n_socks = 0;
	o->n_fwd = 0;
	o->n_rfwd = 0;
	o->n_udp_fwd = 0;
	if (n == 0 || n > RV_CLI_ADDRSTR_MAX || o->stdio_text[0] == ':') {
		rv_err_set(err, errlen, "-W: '%.300s': expected HOST:PORT", o->stdio_text);
		return RV_ERR_CONFIG;
	}
	snprintf(spec, sizeof(spec), "1:%s", o->stdio_text);
	if (rv_cliparse_forward("-W", spec, RV_CLIENT_DEFAULT_BIND, &fwd, err, errlen) != RV_OK) {
		rv_err_set(err, errlen, "-W: '%.300s': expected HOST:PORT (HOST a name, an IPv4 "
			   "address or [IPv6]; PORT 1-65535)", o->stdio_text);
		return RV_ERR_CONFIG;
	}
	o->stdio_target = fwd.target;
	return RV_OK;
}

/* One server URL (ws://, wss:// or rvpn://KEY@...) appended to o->servers. */
static int rv_client_add_server(struct rv_client_opts *o, const char *text, char *err,
				size_t errlen)
{
	struct rv_client_server *sv;
	struct rv_clienturl cu;
	size_t i;
	int ret = RV_OK;

	if (o->n_servers == RV_CLIENT_MAX_SERVERS) {
		rv_err_set(err, errlen, "at most %d server URLs", RV_CLIENT_MAX_SERVERS);
		return RV_ERR_LIMIT;
	}
	sv = &o->servers[o->n_servers];
	memset(sv, 0, sizeof(*sv));
	if (strncasecmp(text, "rvpn://", 7) == 0) {
		memset(&cu, 0, sizeof(cu));
		ret = rv_clienturl_parse(text, strlen(text), &cu, err, errlen);
		if (ret == RV_OK && cu.has_key) {
			/* A private key in argv is visible to every local user. */
			rv_err_set(err, errlen, "URL '%.64s...' carries this client's private key "
				   "(key=): as a server URL give it without key= (or use "
				   "'rvpn-client import' for it)", text);
			ret = RV_ERR_CONFIG;
		}
		if (ret == RV_OK && rv_clienturl_ws_url(&cu, sv->text, sizeof(sv->text)) != RV_OK) {
			rv_err_set(err, errlen, "URL '%.200s': cannot convert it", text);
			ret = RV_ERR_CONFIG;
		}
		if (ret == RV_OK) {
			memcpy(sv->server_pub, cu.server_pub, sizeof(sv->server_pub));
			sv->own_key = 1;
		}
		rv_clienturl_wipe(&cu);
		if (ret != RV_OK)
			return RV_ERR_CONFIG;
	} else if (snprintf(sv->text, sizeof(sv->text), "%s", text) >= (int)sizeof(sv->text)) {
		rv_err_set(err, errlen, "URL '%.200s...': too long", text);
		return RV_ERR_CONFIG;
	}
	if (rv_cliparse_url("URL", sv->text, &sv->url, err, errlen) != RV_OK)
		return RV_ERR_CONFIG;
	for (i = 0; i < o->n_servers; i++) {
		const struct rv_cli_url *a = &o->servers[i].url, *b = &sv->url;

		if (a->scheme == b->scheme && a->port == b->port && strcmp(a->host, b->host) == 0 &&
		    strcmp(a->path, b->path) == 0) {
			rv_err_set(err, errlen, "URL '%.200s' is given twice", sv->text);
			return RV_ERR_CONFIG;
		}
	}
	o->any_wss |= sv->url.scheme == RV_CLI_URL_WSS;
	o->n_servers++;
	return RV_OK;
}

/* Server URLs as seen in argv: text and merged argv index (for FILE:LINE). */
struct rv_client_urlargs {
	const char *text[RV_CLIENT_MAX_SERVERS];
	int idx[RV_CLIENT_MAX_SERVERS];
	size_t n;
};

static int rv_client_urlargs_push(struct rv_client_urlargs *u, const char *text, int idx,
				  char *err, size_t errlen)
{
	if (u->n == RV_CLIENT_MAX_SERVERS) {
		rv_err_set(err, errlen, "at most %d server URLs", RV_CLIENT_MAX_SERVERS);
		return RV_ERR_LIMIT;
	}
	u->text[u->n] = text;
	u->idx[u->n] = idx;
	u->n++;
	return RV_OK;
}

/* The servers from the command line, or else from the config; the key of
 * -s for every URL that does not carry its own. */
static int rv_client_servers(struct rv_client_opts *o, const struct rv_client_urlargs *u,
			     const char *server_key, int server_key_idx)
{
	char err[RV_OPT_ERRLEN];
	size_t i;

	for (i = 0; i < u->n; i++) {
		if (rv_client_add_server(o, u->text[i], err, sizeof(err)) != RV_OK) {
			rv_client_fail(o, u->idx[i], err);
			return RV_ERR_CONFIG;
		}
	}
	if (server_key != NULL && rv_client_load_server_key(o, server_key, err,
							    sizeof(err)) != RV_OK) {
		rv_client_fail(o, server_key_idx, err);
		return RV_ERR_CONFIG;
	}
	for (i = 0; i < o->n_servers; i++) {
		if (o->servers[i].own_key)
			continue;
		if (server_key == NULL) {
			fprintf(stderr, "rvpn-client: missing -s SERVER_PUBLIC_KEY for %s (on the "
					"server: rvpn-server pubkey -k server.key; or give the URL as "
					"rvpn://KEY@HOST...)\n", o->servers[i].text);
			return RV_ERR_CONFIG;
		}
		memcpy(o->servers[i].server_pub, o->server_pub, sizeof(o->server_pub));
	}
	memcpy(o->server_pub, o->servers[0].server_pub, sizeof(o->server_pub));
	o->url = o->servers[0].url;
	o->url_text = o->servers[0].text;
	return RV_OK;
}

/* The bind address of -R as a wire address (wildcard: 0.0.0.0). */
static int rv_client_rfwd_bind(const struct rv_cli_sockaddr *b, struct rv_addr *out)
{
	struct rv_sockaddr sa;

	if (rv_sockaddr_from_sys(&sa, (const struct sockaddr *)&b->ss, b->len) != RV_OK ||
	    rv_sockaddr_to_addr(&sa, out) != RV_OK)
		return RV_ERR_CONFIG;
	if (b->wildcard) {
		static const uint8_t any[4];

		rv_addr_set_ipv4(out, any, out->port);
	}
	return RV_OK;
}

/* -R may ask for port 0 (the server picks one, PROTOCOL.md §6.13), which
 * the shared -D/-L parsers refuse: if the bind port's field (the last of
 * [BIND:]PORT, the third from last of [BIND:]PORT:HOST:HOSTPORT) is "0",
 * out gets arg with a placeholder port 1 there and 1 is returned. */
static int rv_client_remote_port0(const char *arg, char *out, size_t outlen)
{
	const char *field[5];
	size_t flen[5], n = 0, i;
	const char *start = arg;
	int depth = 0;

	for (const char *p = arg;; p++) {
		if (*p == '[') {
			depth++;
		} else if (*p == ']') {
			depth--;
		} else if (*p == '\0' || (*p == ':' && depth == 0)) {
			if (n == 5)
				return 0;
			field[n] = start;
			flen[n++] = (size_t)(p - start);
			if (*p == '\0')
				break;
			start = p + 1;
		}
	}
	if (n == 5)
		return 0;
	i = n <= 2 ? n - 1 : n - 3;
	if (flen[i] != 1 || field[i][0] != '0' || strlen(arg) >= outlen)
		return 0;
	memcpy(out, arg, strlen(arg) + 1);
	out[field[i] - arg] = '1';
	return 1;
}

static int rv_client_opt_remote(struct rv_client_opts *o, const char *arg, char *err,
				size_t errlen)
{
	struct rv_client_rfwd_spec *r = &o->rfwd[o->n_rfwd];
	struct rv_cli_forward f;
	struct rv_cli_sockaddr l;
	char ferr[RV_OPT_ERRLEN], port0[RV_OPT_ERRLEN];
	const char *text = arg;
	int any_port = 0;

	if (o->n_rfwd == RV_CLIENT_MAX_RFWD) {
		rv_err_set(err, errlen, "-R: at most %d remote forwards", RV_CLIENT_MAX_RFWD);
		return RV_ERR_LIMIT;
	}
	memset(r, 0, sizeof(*r));
	r->text = arg;
	if (rv_client_remote_port0(arg, port0, sizeof(port0))) {
		text = port0;
		any_port = 1;
	}
	if (rv_cliparse_forward("-R", text, RV_CLIENT_DEFAULT_BIND, &f, ferr, sizeof(ferr)) ==
	    RV_OK) {
		r->target = f.target;
		if (rv_client_rfwd_bind(&f.bind, &r->bind) != RV_OK)
			goto bad;
	} else if (rv_cliparse_listen("-R", text, RV_CLIENT_DEFAULT_BIND, &l, err, errlen) ==
		   RV_OK) {
		r->dynamic = 1;
		if (rv_client_rfwd_bind(&l, &r->bind) != RV_OK)
			goto bad;
	} else {
		if (any_port)
			rv_err_set(err, errlen, "-R: '%s' is not [BIND:]PORT:HOST:HOSTPORT or "
				   "[BIND:]PORT", arg);
		else
			rv_err_set(err, errlen, "%s (or [BIND:]PORT for a dynamic forward)", ferr);
		return RV_ERR_CONFIG;
	}
	if (any_port)
		r->bind.port = 0;
	o->n_rfwd++;
	return RV_OK;
bad:
	rv_err_set(err, errlen, "-R: '%s': bad bind address", arg);
	return RV_ERR_CONFIG;
}

/* --remote-allow: allow rules over a deny of everything (the most specific
 * rule decides, rv_acl.h), or "any". */
static int rv_client_opt_remote_allow(struct rv_client_opts *o, const char *arg, char *err,
				      size_t errlen)
{
	char aerr[RV_OPT_ERRLEN];

	if (strcmp(arg, "any") == 0) {
		o->remote_allow_any = 1;
		return RV_OK;
	}
	if (o->remote_acl == NULL) {
		if (rv_acl_new(0, &o->remote_acl) != RV_OK ||
		    rv_acl_add(o->remote_acl, RV_ACL_DENY, "0.0.0.0/0", aerr, sizeof(aerr)) != RV_OK ||
		    rv_acl_add(o->remote_acl, RV_ACL_DENY, "::/0", aerr, sizeof(aerr)) != RV_OK) {
			rv_err_set(err, errlen, "--remote-allow: out of memory");
			return RV_ERR_NOMEM;
		}
	}
	if (rv_acl_add(o->remote_acl, RV_ACL_ALLOW, arg, aerr, sizeof(aerr)) != RV_OK) {
		rv_err_set(err, errlen, "--remote-allow: %s", aerr);
		return RV_ERR_CONFIG;
	}
	return RV_OK;
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
	case 'R':
		return rv_client_opt_remote(o, arg, err, errlen);
	case RV_OPT_REMOTE_ALLOW:
		return rv_client_opt_remote_allow(o, arg, err, errlen);
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
	int c, idx, key_idx = 0, server_key_idx = 0, socks_auth_idx = 0;
	int ca_idx = 0, stdio_idx = 0, cmd_ports = 0;
	/* --url from the config, and URLs from the command line (which win). */
	struct rv_client_urlargs cfg_urls, cli_urls;

	memset(o, 0, sizeof(*o));
	memset(&cfg_urls, 0, sizeof(cfg_urls));
	memset(&cli_urls, 0, sizeof(cli_urls));
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
	while ((c = getopt_long(argc, argv, ":hVvc:k:s:D:L:W:R:", rv_client_longopts, NULL)) != -1) {
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
			if (rv_client_urlargs_push(rv_config_lineno(o->config, idx) > 0 ?
							   &cfg_urls : &cli_urls,
						   optarg, idx, err, sizeof(err)) != RV_OK) {
				rv_client_fail(o, idx, err);
				return RV_CLIENT_PARSE_EXIT_ERR;
			}
			break;
		case RV_OPT_PICK:
			if (strcmp(optarg, "first") == 0) {
				o->pick = RV_CLIENT_PICK_FIRST;
			} else if (strcmp(optarg, "rtt") == 0) {
				o->pick = RV_CLIENT_PICK_RTT;
			} else {
				snprintf(err, sizeof(err), "--pick: '%.64s' is neither 'first' nor "
					 "'rtt'", optarg);
				rv_client_fail(o, idx, err);
				return RV_CLIENT_PARSE_EXIT_ERR;
			}
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
		case RV_OPT_OPTIMISTIC:
			o->optimistic = 1;
			break;
		case 'W':
			o->stdio_text = optarg;
			stdio_idx = idx;
			break;
		case ':':
			fprintf(stderr, "rvpn-client: option '%s' needs a value\n", argv[optind - 1]);
			return RV_CLIENT_PARSE_EXIT_ERR;
		case '?':
			fprintf(stderr, "rvpn-client: unknown option '%s' (see --help)\n",
				argv[optind - 1]);
			return RV_CLIENT_PARSE_EXIT_ERR;
		default:
			if ((c == 'D' || c == 'L' || c == 'R') && rv_config_lineno(o->config, idx) == 0)
				cmd_ports++;
			if (rv_client_opt(o, c, optarg, err, sizeof(err)) != RV_OK) {
				rv_client_fail(o, idx, err);
				return RV_CLIENT_PARSE_EXIT_ERR;
			}
			break;
		}
	}
	/* URLs on the command line replace the config's "url =" lines. */
	for (; optind < argc; optind++) {
		if (rv_client_urlargs_push(&cli_urls, argv[optind], optind, err,
					   sizeof(err)) != RV_OK) {
			fprintf(stderr, "rvpn-client: %s\n", err);
			return RV_CLIENT_PARSE_EXIT_ERR;
		}
	}
	if (cli_urls.n == 0 && cfg_urls.n == 0) {
		fprintf(stderr, "rvpn-client: missing the server URL (ws://... or wss://...; "
				"or 'url = ...' in the config; see --help)\n");
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
	if (rv_client_servers(o, cli_urls.n > 0 ? &cli_urls : &cfg_urls, server_key,
			      server_key_idx) != RV_OK)
		return RV_CLIENT_PARSE_EXIT_ERR;
	if (!o->any_wss && (o->ca_file != NULL || o->insecure_tls))
		fprintf(stderr, "rvpn-client: note: %s is a ws:// URL; --ca/--insecure-tls only "
				"apply to wss://\n", o->url_text);
	if (rv_key_load_private_file(o->key_file, &o->kp, err, sizeof(err)) != RV_OK) {
		char msg[RV_OPT_ERRLEN + 8];

		snprintf(msg, sizeof(msg), "-k: %s", err);
		rv_client_fail(o, key_idx, msg);
		return RV_CLIENT_PARSE_EXIT_ERR;
	}
	if (socks_auth != NULL &&
	    rv_client_load_socks_auth(o, socks_auth, err, sizeof(err)) != RV_OK) {
		rv_client_fail(o, socks_auth_idx, err);
		return RV_CLIENT_PARSE_EXIT_ERR;
	}
	if (o->stdio_text != NULL && rv_config_lineno(o->config, stdio_idx) > 0) {
		rv_client_fail(o, stdio_idx, "stdio: -W belongs on the command line (ssh's "
			       "ProxyCommand), not in a config file");
		return RV_CLIENT_PARSE_EXIT_ERR;
	}
	if (o->stdio_text != NULL) {
		if (rv_client_parse_stdio(o, cmd_ports, err, sizeof(err)) != RV_OK) {
			rv_client_fail(o, stdio_idx, err);
			return RV_CLIENT_PARSE_EXIT_ERR;
		}
		return RV_CLIENT_PARSE_RUN; /* no default -D */
	}
	if (o->n_socks == 0 && o->n_fwd == 0 && o->n_rfwd == 0 && o->n_udp_fwd == 0) {
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
	rv_acl_free(o->remote_acl);
	o->remote_acl = NULL;
}
