/* admin.c - rvpn-server add-client / list-clients / remove-client /
 * show-config (see admin.h). */
#include "admin.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <qrencode.h>
#include <sodium.h>

#include "options.h"
#include "rv_authkeys_edit.h"
#include "rv_cliparse.h"
#include "rv_clienturl.h"
#include "rv_err.h"
#include "rv_keypath.h"
#include "rv_keys.h"

extern char **environ;

enum rv_admin_limits {
	RV_ADMIN_MAX_PIDS = 72,       /* rvpn-server processes (workers too) */
	RV_ADMIN_MAX_INODES = 16,     /* listening sockets on the port */
	RV_ADMIN_PROC_MAX = 1 << 20,  /* /proc entries looked at */
	RV_ADMIN_QR_MARGIN = 2,       /* quiet zone, modules */
};

#define RV_ADMIN_DEFAULT_CONFIG "/etc/rvpn/server.conf"
#define RV_ADMIN_CLIENT_KEY "~/.config/rvpn/client.key"
#define RV_ADMIN_CLIENT_SOCKS "127.0.0.1:1080"

enum rv_admin_cmd {
	RV_ADMIN_ADD = 0,
	RV_ADMIN_LIST = 1,
	RV_ADMIN_REMOVE = 2,
	RV_ADMIN_SHOW = 3,
};

/* The subcommand's own options, taken out before the server's parser sees
 * the rest. */
struct rv_admin_args {
	enum rv_admin_cmd cmd;
	const char *name;        /* add-client / remove-client NAME */
	const char *public_key;  /* --public-key KEY */
	const char *url;         /* --url ws(s)://HOST[:PORT][/PATH] */
	int no_reload, no_qr;
	int argc;                /* argv[0] + server options */
	char **argv;
};

static void rv_admin_usage(FILE *f)
{
	fprintf(f,
		"usage: rvpn-server add-client NAME [--public-key KEY] [--url ws[s]://HOST[:PORT]]\n"
		"                  [--no-reload] [--no-qr] [SERVER OPTIONS]\n"
		"       rvpn-server remove-client NAME [--no-reload] [SERVER OPTIONS]\n"
		"       rvpn-server list-clients [SERVER OPTIONS]\n"
		"       rvpn-server show-config [SERVER OPTIONS]\n"
		"\n"
		"SERVER OPTIONS are the server's own (-c CONFIG, or -k KEY -a AUTHORIZED_KEYS,\n"
		"...); without -c, -k and -a, -c " RV_ADMIN_DEFAULT_CONFIG " is used.\n"
		"NAME: 1 to 64 of A-Z a-z 0-9 . _ @ -\n"
		"\n"
		"  add-client     make a key pair for NAME (or take its --public-key), add it to\n"
		"                 authorized_keys, reload the server and print the client's\n"
		"                 config, its rvpn:// URL and a QR code of the URL\n"
		"  remove-client  remove NAME from authorized_keys and reload (its sessions end)\n"
		"  list-clients   names and keys in authorized_keys\n"
		"  show-config    every option's effective value and where it came from\n");
}

static int rv_admin_has_server_file_opt(int argc, char **argv)
{
	static const char *const opts[] = {"-c", "-k", "-a", "--config", "--key",
					   "--authorized-keys"};
	int i;
	size_t j;

	for (i = 1; i < argc; i++)
		for (j = 0; j < sizeof(opts) / sizeof(opts[0]); j++)
			if (strncmp(argv[i], opts[j], strlen(opts[j])) == 0)
				return 1; /* -cFILE, --config, --key=..., --authorized-keys */
	return 0;
}

/* argv: rvpn-server CMD [NAME] args...  Fills a; a->argv is malloc'd.
 * Returns 0 to go on, 1 out of memory, 2 usage error, 3 help printed. */
static int rv_admin_split(int argc, char **argv, struct rv_admin_args *a)
{
	int i, need_name = a->cmd == RV_ADMIN_ADD || a->cmd == RV_ADMIN_REMOVE;
	int first = 2;

	if (argc > 2 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
		rv_admin_usage(stdout);
		return 3;
	}
	if (need_name) {
		if (argc < 3 || argv[2][0] == '-') {
			fprintf(stderr, "rvpn-server %s: the client NAME comes first\n", argv[1]);
			rv_admin_usage(stderr);
			return 2;
		}
		a->name = argv[2];
		first = 3;
		if (!rv_clienturl_name_valid(a->name, strlen(a->name))) {
			fprintf(stderr, "rvpn-server %s: '%s' is not a client name (1 to %d of "
				"A-Z a-z 0-9 . _ @ -)\n", argv[1], a->name, RV_CLIENTURL_NAME_MAX);
			return 2;
		}
	}
	/* argv[0], the server options, maybe "-c DEFAULT", NULL. */
	a->argv = calloc((size_t)argc + 3, sizeof(char *));
	if (a->argv == NULL)
		return 1;
	a->argv[a->argc++] = argv[0];
	for (i = first; i < argc; i++) {
		const char *s = argv[i];
		int add_only = a->cmd == RV_ADMIN_ADD;
		int takes_value = (add_only && (strcmp(s, "--public-key") == 0 ||
						strcmp(s, "--url") == 0));

		if (takes_value) {
			if (i + 1 >= argc) {
				fprintf(stderr, "rvpn-server %s: %s needs a value\n", argv[1], s);
				return 2;
			}
			if (strcmp(s, "--url") == 0)
				a->url = argv[++i];
			else
				a->public_key = argv[++i];
		} else if (add_only && strncmp(s, "--url=", 6) == 0) {
			a->url = s + 6;
		} else if (add_only && strncmp(s, "--public-key=", 13) == 0) {
			a->public_key = s + 13;
		} else if (add_only && strcmp(s, "--no-qr") == 0) {
			a->no_qr = 1;
		} else if ((a->cmd == RV_ADMIN_ADD || a->cmd == RV_ADMIN_REMOVE) &&
			   strcmp(s, "--no-reload") == 0) {
			a->no_reload = 1;
		} else {
			a->argv[a->argc++] = argv[i];
		}
	}
	if (!rv_admin_has_server_file_opt(a->argc, a->argv) &&
	    access(RV_ADMIN_DEFAULT_CONFIG, F_OK) == 0) {
		a->argv[a->argc++] = (char *)"-c";
		a->argv[a->argc++] = (char *)RV_ADMIN_DEFAULT_CONFIG;
	}
	return 0;
}

/* ------------------------------------------------------------ reload */

/* Inodes of listening TCP sockets on port (from /proc/net/tcp and tcp6). */
static size_t rv_admin_listen_inodes(uint16_t port, unsigned long *inodes, size_t max)
{
	static const char *const files[] = {"/proc/net/tcp", "/proc/net/tcp6"};
	char line[512];
	size_t n = 0, i;

	for (i = 0; i < 2; i++) {
		FILE *f = fopen(files[i], "r");

		if (f == NULL)
			continue;
		while (n < max && fgets(line, sizeof(line), f) != NULL) {
			char local[64], st[8];
			unsigned long inode;
			unsigned lport;
			char *colon;

			/* sl local rem st tx:rx tr:tm retrnsmt uid timeout inode */
			if (sscanf(line, " %*s %63s %*s %7s %*s %*s %*s %*s %*s %lu", local, st,
				   &inode) != 3)
				continue;
			colon = strrchr(local, ':');
			if (colon == NULL || strcmp(st, "0A") != 0 ||
			    sscanf(colon + 1, "%x", &lport) != 1 || lport != port || inode == 0)
				continue;
			inodes[n++] = inode;
		}
		fclose(f);
	}
	return n;
}

static int rv_admin_pid_is_server(long pid)
{
	char path[64], comm[32] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
	f = fopen(path, "r");
	if (f == NULL)
		return 0;
	if (fgets(comm, sizeof(comm), f) == NULL)
		comm[0] = '\0';
	fclose(f);
	comm[strcspn(comm, "\n")] = '\0';
	return strcmp(comm, "rvpn-server") == 0;
}

static int rv_admin_pid_has_inode(long pid, const unsigned long *inodes, size_t n)
{
	char path[64], link[64], want[40];
	struct dirent *de;
	DIR *d;
	size_t i;
	int hit = 0;

	snprintf(path, sizeof(path), "/proc/%ld/fd", pid);
	d = opendir(path);
	if (d == NULL)
		return 0;
	while (!hit && (de = readdir(d)) != NULL) {
		char fdpath[160];
		ssize_t l;

		if (de->d_name[0] == '.')
			continue;
		snprintf(fdpath, sizeof(fdpath), "%s/%.64s", path, de->d_name);
		l = readlink(fdpath, link, sizeof(link) - 1);
		if (l <= 0)
			continue;
		link[l] = '\0';
		for (i = 0; i < n && !hit; i++) {
			snprintf(want, sizeof(want), "socket:[%lu]", inodes[i]);
			hit = strcmp(link, want) == 0;
		}
	}
	closedir(d);
	return hit;
}

/* rvpn-server processes that own a listening socket on port. */
static size_t rv_admin_find_servers(uint16_t port, pid_t *pids, size_t max)
{
	unsigned long inodes[RV_ADMIN_MAX_INODES];
	size_t ni = rv_admin_listen_inodes(port, inodes, RV_ADMIN_MAX_INODES), n = 0, seen = 0;
	struct dirent *de;
	DIR *d;

	if (ni == 0)
		return 0;
	d = opendir("/proc");
	if (d == NULL)
		return 0;
	while (n < max && seen++ < RV_ADMIN_PROC_MAX && (de = readdir(d)) != NULL) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);

		if (*end != '\0' || pid <= 0 || pid == (long)getpid())
			continue;
		if (rv_admin_pid_is_server(pid) && rv_admin_pid_has_inode(pid, inodes, ni))
			pids[n++] = (pid_t)pid;
	}
	closedir(d);
	return n;
}

/* The parent of pid from /proc/PID/stat ("pid (comm) state ppid ..."; comm
 * may hold spaces and parentheses, so parse after the last ')'), or -1. */
static long rv_admin_ppid(pid_t pid)
{
	char path[64], buf[512], *rp;
	long ppid = -1;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	rp = strrchr(buf, ')');
	if (rp == NULL || sscanf(rp + 1, " %*c %ld", &ppid) != 1)
		return -1;
	return ppid;
}

/* Drops the workers of a supervisor that is in the list too: it reloads
 * them (a SIGHUP to each would reload every one again). */
static size_t rv_admin_drop_workers(pid_t *pids, size_t n)
{
	size_t i, j, out = 0;

	for (i = 0; i < n; i++) {
		long pp = rv_admin_ppid(pids[i]);
		int child = 0;

		for (j = 0; j < n && !child; j++)
			child = j != i && (long)pids[j] == pp;
		if (!child)
			pids[out++] = pids[i];
	}
	return out;
}

static int rv_admin_run(char *const argv[])
{
	pid_t pid;
	int st;

	if (posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ) != 0)
		return -1;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Tell the running server to re-read authorized_keys.  Prints what it did
 * (stderr); returns 0 if a server was reloaded, 1 if the admin must. */
static int rv_admin_reload(const struct rv_server_opts *o)
{
	static char *const active[] = {"systemctl", "is-active", "--quiet", "rvpn-server", NULL};
	static char *const reload[] = {"systemctl", "reload", "rvpn-server", NULL};
	pid_t pids[RV_ADMIN_MAX_PIDS];
	size_t n = rv_admin_find_servers(o->listen_port, pids, RV_ADMIN_MAX_PIDS), i, ok = 0;

	n = rv_admin_drop_workers(pids, n);

	for (i = 0; i < n; i++) {
		if (kill(pids[i], SIGHUP) == 0) {
			fprintf(stderr, "rvpn-server: reloaded the running server (pid %ld, "
				"listening on %s)\n", (long)pids[i], o->listen);
			ok++;
		} else {
			fprintf(stderr, "rvpn-server: cannot signal pid %ld: %s\n",
				(long)pids[i], strerror(errno));
		}
	}
	if (ok > 0)
		return 0;
	if (n == 0 && access("/run/systemd/system", F_OK) == 0 && rv_admin_run(active) == 0) {
		if (rv_admin_run(reload) == 0) {
			fprintf(stderr, "rvpn-server: reloaded rvpn-server.service\n");
			return 0;
		}
	}
	fprintf(stderr, "rvpn-server: no running rvpn-server found on %s; if one runs, make it "
		"re-read %s with:\n    kill -HUP <its pid>    (or: systemctl reload rvpn-server)\n",
		o->listen, o->authorized_keys);
	return 1;
}

/* ------------------------------------------------------------ add-client */

/* Light modules as blocks (for dark terminals), two rows per text line. */
static int rv_admin_print_qr(FILE *out, const char *text)
{
	QRcode *qr = QRcode_encodeString(text, 0, QR_ECLEVEL_L, QR_MODE_8, 1);
	int w, x, y, m = RV_ADMIN_QR_MARGIN;

	if (qr == NULL)
		return RV_ERR_NOMEM;
	w = qr->width;
	fprintf(out, "# QR code of the URL (version %d, %dx%d modules, %d lines):\n", qr->version,
		w, w, (w + 2 * m + 1) / 2);
	for (y = -m; y < w + m; y += 2) {
		for (x = -m; x < w + m; x++) {
			int top = x >= 0 && x < w && y >= 0 && y < w && (qr->data[y * w + x] & 1);
			int bot = x >= 0 && x < w && y + 1 >= 0 && y + 1 < w &&
				  (qr->data[(y + 1) * w + x] & 1);

			fputs(top ? (bot ? " " : "\u2584") : (bot ? "\u2580" : "\u2588"), out);
		}
		fputc('\n', out);
	}
	QRcode_free(qr);
	return RV_OK;
}

/* Host, port, TLS and maybe path of the URL clients use. */
static int rv_admin_client_endpoint(const struct rv_admin_args *a, const struct rv_server_opts *o,
				    struct rv_clienturl *u)
{
	struct rv_cli_url cu;
	char err[300], host[256];
	const char *slash;

	if (a->url != NULL) {
		if (rv_cliparse_url("--url", a->url, &cu, err, sizeof(err)) != RV_OK) {
			fprintf(stderr, "rvpn-server add-client: %s\n", err);
			return RV_ERR_CONFIG;
		}
		if (strlen(cu.host) > RV_CLIENTURL_HOST_MAX) {
			fprintf(stderr, "rvpn-server add-client: --url: host too long\n");
			return RV_ERR_CONFIG;
		}
		snprintf(u->host, sizeof(u->host), "%.253s", cu.host);
		u->host_is_ipv6 = cu.host_is_ipv6;
		u->port = cu.port;
		u->tls = cu.scheme == RV_CLI_URL_WSS;
		if (strlen(cu.path) > RV_CLIENTURL_PATH_MAX) {
			fprintf(stderr, "rvpn-server add-client: --url: path too long\n");
			return RV_ERR_CONFIG;
		}
		/* A path written in --url (e.g. a reverse proxy's location) wins;
		 * rv_cliparse_url fills in its own default when there is none. */
		slash = strstr(a->url, "://");
		slash = slash != NULL ? strchr(slash + 3, '/') : NULL;
		if (slash != NULL && strcmp(slash, "/") != 0)
			snprintf(u->path, sizeof(u->path), "%.255s", cu.path);
		return RV_OK;
	}
	if (o->listen_host[0] != '\0') {
		snprintf(u->host, sizeof(u->host), "%s", o->listen_host);
		u->host_is_ipv6 = strchr(o->listen_host, ':') != NULL;
	} else {
		if (gethostname(host, sizeof(host)) != 0)
			snprintf(host, sizeof(host), "HOST");
		host[sizeof(host) - 1] = '\0';
		snprintf(u->host, sizeof(u->host), "%.253s", host);
	}
	u->port = o->listen_port;
	u->tls = o->cert_file != NULL;
	fprintf(stderr, "rvpn-server add-client: note: no --url given, so the client URL uses "
		"%s%s%s:%u from the listen address (%s).\n    Replace it with the address clients "
		"reach (behind a reverse proxy: its wss:// URL), or run again with --url.\n",
		u->host_is_ipv6 ? "[" : "", u->host, u->host_is_ipv6 ? "]" : "", (unsigned)u->port,
		o->listen);
	return RV_OK;
}

static void rv_admin_print_client(FILE *out, const struct rv_admin_args *a,
				  const struct rv_clienturl *u, const char *url,
				  const uint8_t server_pub[RV_KEY_LEN])
{
	char ws[RV_CLIENTURL_WS_SIZE], b64[RV_KEY_B64_SIZE];

	rv_clienturl_ws_url(u, ws, sizeof(ws));
	fprintf(out, "# rvpn-client configuration for \"%s\" (from rvpn-server add-client).\n"
		"# On the client, either run:  rvpn-client import 'URL'  (the URL is below)\n"
		"# or save these lines as ~/.config/rvpn/client.conf%s\n",
		u->name, u->has_key ? " and the private key as the key file:" : ":");
	fprintf(out, "url = %s\n", ws);
	rv_key_to_base64(server_pub, b64);
	fprintf(out, "server-key = %s\n", b64);
	fprintf(out, "key = %s\n", RV_ADMIN_CLIENT_KEY);
	fprintf(out, "socks = %s\n", RV_ADMIN_CLIENT_SOCKS);
	if (u->has_key) {
		rv_key_to_base64(u->client_priv, b64);
		fprintf(out, "# Private key of \"%s\": the line between the markers goes into %s\n"
			"# (mode 0600; '~/' in a config value is the home of the user running the client).\n"
			"# -----BEGIN RVPN CLIENT PRIVATE KEY-----\n# %s\n"
			"# -----END RVPN CLIENT PRIVATE KEY-----\n", u->name, RV_ADMIN_CLIENT_KEY, b64);
		sodium_memzero(b64, sizeof(b64));
	} else {
		fprintf(out, "# No private key here: the client keeps the one that belongs to\n"
			"# --public-key %s; put it in %s (mode 0600).\n", a->public_key,
			RV_ADMIN_CLIENT_KEY);
	}
	fprintf(out, "\n# The same as one URL%s:\n%s\n\n",
		u->has_key ? " (it holds the private key: share it like a password)" : "", url);
}

static int rv_admin_add(const struct rv_admin_args *a, const struct rv_server_opts *o)
{
	struct rv_keypair server_kp, client_kp;
	struct rv_clienturl u;
	char err[512], url[RV_CLIENTURL_SIZE], path[RV_KEYPATH_SIZE];
	int code = 1, r;

	memset(&u, 0, sizeof(u));
	memset(&client_kp, 0, sizeof(client_kp));
	memset(&server_kp, 0, sizeof(server_kp));
	if (rv_key_load_private_file(o->key_file, &server_kp, err, sizeof(err)) != RV_OK) {
		fprintf(stderr, "rvpn-server add-client: %s\n", err);
		goto out;
	}
	if (a->public_key != NULL) {
		if (rv_key_from_base64(a->public_key, strlen(a->public_key), client_kp.pub) !=
		    RV_OK) {
			fprintf(stderr, "rvpn-server add-client: --public-key: '%s' is not a "
				"base64 public key (%d characters, from rvpn-client pubkey)\n",
				a->public_key, RV_KEY_B64_LEN);
			goto out;
		}
	} else if (rv_keypair_generate(&client_kp) != RV_OK) {
		fprintf(stderr, "rvpn-server add-client: cannot generate a key pair\n");
		goto out;
	} else {
		memcpy(u.client_priv, client_kp.priv, RV_KEY_LEN);
		u.has_key = 1;
	}
	memcpy(u.server_pub, server_kp.pub, RV_KEY_LEN);
	snprintf(u.name, sizeof(u.name), "%s", a->name);
	if (o->path != NULL) {
		snprintf(u.path, sizeof(u.path), "%s", o->path);
	} else {
		if (rv_keypath_derive(server_kp.priv, path) != RV_OK)
			goto out;
		snprintf(u.path, sizeof(u.path), "%s", path);
	}
	if (rv_admin_client_endpoint(a, o, &u) != RV_OK)
		goto out;
	/* Everything the client needs is known before the file changes. */
	if (rv_clienturl_build(&u, url, sizeof(url)) != RV_OK) {
		fprintf(stderr, "rvpn-server add-client: the path '%s' or host '%s' cannot be put "
			"in an rvpn:// URL (path: letters, digits and -._~!$&'()*+,;=:@/)\n",
			u.path, u.host);
		goto out;
	}
	r = rv_authkeys_edit_add(o->authorized_keys, client_kp.pub, a->name, err, sizeof(err));
	if (r != RV_OK) {
		fprintf(stderr, "rvpn-server add-client: %s: %s\n", o->authorized_keys, err);
		goto out;
	}
	fprintf(stderr, "rvpn-server: added client \"%s\" to %s\n", a->name, o->authorized_keys);
	if (!a->no_reload)
		rv_admin_reload(o);
	rv_admin_print_client(stdout, a, &u, url, server_kp.pub);
	if (!a->no_qr && rv_admin_print_qr(stdout, url) != RV_OK)
		fprintf(stderr, "rvpn-server add-client: cannot make the QR code\n");
	code = fflush(stdout) == 0 ? 0 : 1;
out:
	sodium_memzero(url, sizeof(url));
	rv_clienturl_wipe(&u);
	rv_keypair_wipe(&client_kp);
	rv_keypair_wipe(&server_kp);
	return code;
}

/* ------------------------------------------------------------ list / remove */

static int rv_admin_list(const struct rv_server_opts *o)
{
	struct rv_authkeys_line l;
	struct rv_buf b;
	char err[512], b64[RV_KEY_B64_SIZE];
	unsigned lineno = 0;
	size_t keys = 0, bad = 0;
	int r, code = 1;

	rv_buf_init(&b, RV_AUTHKEYS_EDIT_FILE_MAX);
	if (rv_authkeys_edit_read(o->authorized_keys, &b, err, sizeof(err)) != RV_OK) {
		fprintf(stderr, "rvpn-server list-clients: %s\n", err);
		goto out;
	}
	printf("%-32s %-12s %s\n", "NAME", "KEY", "LINE");
	while ((r = rv_authkeys_edit_next(&b, &l)) > 0) {
		lineno++;
		if (l.kind == RV_AKLINE_BAD) {
			bad++;
			printf("%-32s %-12s %u (not a key line: the server skips it)\n", "-", "-",
			       lineno);
		}
		if (l.kind != RV_AKLINE_KEY)
			continue;
		keys++;
		rv_key_to_base64(l.pub, b64);
		printf("%-32s %.8s...  %u\n", l.name[0] != '\0' ? l.name : "(no name)", b64, lineno);
	}
	if (r < 0) {
		fprintf(stderr, "rvpn-server list-clients: %s: line %u is longer than %d bytes\n",
			o->authorized_keys, lineno + 1, RV_AUTHKEYS_LINE_MAX);
		goto out;
	}
	printf("# %zu client(s) in %s%s\n", keys, o->authorized_keys,
	       bad > 0 ? "; some lines are skipped by the server" : "");
	code = 0;
out:
	rv_buf_cleanup(&b);
	return code;
}

static int rv_admin_remove(const struct rv_admin_args *a, const struct rv_server_opts *o)
{
	char err[512];
	size_t n = 0;

	if (rv_authkeys_edit_remove(o->authorized_keys, a->name, &n, err, sizeof(err)) != RV_OK) {
		fprintf(stderr, "rvpn-server remove-client: %s: %s\n", o->authorized_keys, err);
		return 1;
	}
	fprintf(stderr, "rvpn-server: removed client \"%s\" (%zu line%s) from %s\n", a->name, n,
		n == 1 ? "" : "s", o->authorized_keys);
	if (!a->no_reload)
		rv_admin_reload(o);
	return 0;
}

/* ------------------------------------------------------------ show-config */

/* The server's options as show-config knows them (options.c has the
 * authoritative table; an option missing here is still shown, marked). */
struct rv_admin_opt {
	const char *name;
	char short_opt;
	int has_arg;
	int multi; /* repeatable: every occurrence counts */
};

static const struct rv_admin_opt rv_admin_opts[] = {
	{"config", 'c', 1, 0},
	{"listen", 'l', 1, 0},
	{"key", 'k', 1, 0},
	{"authorized-keys", 'a', 1, 0},
	{"cert", 0, 1, 0},
	{"cert-key", 0, 1, 0},
	{"path", 0, 1, 0},
	{"allow", 0, 1, 1},
	{"deny", 0, 1, 1},
	{"dns", 0, 1, 1},
	{"max-sessions", 0, 1, 0},
	{"max-streams", 0, 1, 0},
	{"max-sessions-per-key", 0, 1, 0},
	{"max-streams-per-key", 0, 1, 0},
	{"max-buffer-per-key", 0, 1, 0},
	{"window", 0, 1, 0},
	{"window-budget", 0, 1, 0},
	{"connect-timeout", 0, 1, 0},
	{"idle-timeout", 0, 1, 0},
	{"drain-timeout", 0, 1, 0},
	{"state-dir", 0, 1, 0},
	{"pool", 0, 1, 0},
	{"pool-max", 0, 1, 0},
	{"pool-idle", 0, 1, 0},
	{"no-udp", 0, 0, 0},
	{"udp-max-assoc", 0, 1, 0},
	{"udp-idle", 0, 1, 0},
	{"verbose", 'v', 0, 0},
};
enum { RV_ADMIN_NOPTS = sizeof(rv_admin_opts) / sizeof(rv_admin_opts[0]) };

struct rv_admin_seen {
	int opt;           /* index in rv_admin_opts, -1: unknown to us */
	const char *name;  /* as written (unknown options) */
	size_t name_len;
	const char *value; /* NULL for flags */
	int index;         /* in the merged argv */
};

/* getopt_long also takes unambiguous prefixes ("--max-sess"). */
static int rv_admin_find_long(const char *name, size_t len)
{
	int i, hit = -1, hits = 0;

	for (i = 0; i < RV_ADMIN_NOPTS; i++) {
		if (strlen(rv_admin_opts[i].name) == len &&
		    strncmp(rv_admin_opts[i].name, name, len) == 0)
			return i;
		if (strncmp(rv_admin_opts[i].name, name, len) == 0) {
			hit = i;
			hits++;
		}
	}
	return hits == 1 ? hit : -1;
}

/* Options in argv, at most cap of them (a short-option cluster like "-vvv"
 * is several). */
static size_t rv_admin_scan(int argc, char **argv, struct rv_admin_seen *seen, size_t cap)
{
	size_t n = 0;
	int i;

	for (i = 1; i < argc && n < cap; i++) {
		const char *s = argv[i];

		if (strcmp(s, "--") == 0 || s[0] != '-' || s[1] == '\0')
			break;
		if (s[1] == '-') {
			const char *eq = strchr(s + 2, '=');
			size_t len = eq != NULL ? (size_t)(eq - s - 2) : strlen(s + 2);
			int k = rv_admin_find_long(s + 2, len), has_arg;

			has_arg = k >= 0 ? rv_admin_opts[k].has_arg
					 : (eq != NULL || (i + 1 < argc && argv[i + 1][0] != '-'));
			seen[n] = (struct rv_admin_seen){ k, s + 2, len, NULL, i };
			if (eq != NULL)
				seen[n].value = eq + 1;
			else if (has_arg && i + 1 < argc)
				seen[n].value = argv[++i];
			n++;
			continue;
		}
		for (s++; *s != '\0' && n < cap; s++) {
			int k;

			for (k = 0; k < RV_ADMIN_NOPTS; k++)
				if (rv_admin_opts[k].short_opt == *s)
					break;
			seen[n] = (struct rv_admin_seen){ k < RV_ADMIN_NOPTS ? k : -1, s, 1, NULL, i };
			if (k < RV_ADMIN_NOPTS && rv_admin_opts[k].has_arg) {
				if (s[1] != '\0')
					seen[n].value = s + 1;
				else if (i + 1 < argc)
					seen[n].value = argv[++i];
				n++;
				break;
			}
			n++;
		}
	}
	return n;
}

static void rv_admin_source(const struct rv_server_opts *o, int index, char *buf, size_t len)
{
	unsigned line = rv_config_lineno(o->config, index);

	if (line > 0)
		snprintf(buf, len, "%s:%u", o->config->path, line);
	else
		snprintf(buf, len, "command line");
}

/* The effective value of an option nobody set. */
static void rv_admin_default(const struct rv_server_opts *o, const char *name, char *buf,
			     size_t len)
{
	static const struct { const char *name; size_t off; } nums[] = {
		{"max-sessions", offsetof(struct rv_server_opts, max_sessions)},
		{"max-streams", offsetof(struct rv_server_opts, max_streams)},
		{"max-sessions-per-key", offsetof(struct rv_server_opts, max_sessions_per_key)},
		{"max-streams-per-key", offsetof(struct rv_server_opts, max_streams_per_key)},
		{"max-buffer-per-key", offsetof(struct rv_server_opts, max_buffer_per_key)},
		{"window", offsetof(struct rv_server_opts, stream_window)},
		{"window-budget", offsetof(struct rv_server_opts, window_budget)},
		{"connect-timeout", offsetof(struct rv_server_opts, connect_timeout_s)},
		{"idle-timeout", offsetof(struct rv_server_opts, idle_timeout_s)},
		{"drain-timeout", offsetof(struct rv_server_opts, drain_timeout_s)},
		{"pool", offsetof(struct rv_server_opts, pool_per_dest)},
		{"pool-max", offsetof(struct rv_server_opts, pool_max)},
		{"pool-idle", offsetof(struct rv_server_opts, pool_idle_s)},
	};
	struct rv_keypair kp;
	char path[RV_KEYPATH_SIZE];
	size_t i;

	for (i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		if (strcmp(nums[i].name, name) == 0) {
			uint32_t v;

			memcpy(&v, (const char *)o + nums[i].off, sizeof(v));
			snprintf(buf, len, "%u", (unsigned)v);
			return;
		}
	}
	if (strcmp(name, "listen") == 0) {
		snprintf(buf, len, "%s", o->listen != NULL ? o->listen : "");
	} else if (strcmp(name, "path") == 0) {
		if (rv_key_load_private_file(o->key_file, &kp, NULL, 0) == RV_OK &&
		    rv_keypath_derive(kp.priv, path) == RV_OK)
			snprintf(buf, len, "%s", path);
		else
			snprintf(buf, len, "(derived from the key, which cannot be read here)");
		rv_keypair_wipe(&kp);
	} else if (strcmp(name, "allow") == 0) {
		snprintf(buf, len, "(none)");
	} else if (strcmp(name, "deny") == 0) {
		snprintf(buf, len, "(none; loopback, private, link-local, CGNAT, multicast and "
			 "unique-local are denied by default)");
	} else if (strcmp(name, "dns") == 0) {
		snprintf(buf, len, "(the servers in /etc/resolv.conf)");
	} else if (strcmp(name, "verbose") == 0) {
		snprintf(buf, len, "no");
	} else if (strcmp(name, "state-dir") == 0) {
		snprintf(buf, len, "(none: replay state in memory only)");
	} else {
		snprintf(buf, len, "(none)");
	}
}

static void rv_admin_print_opt(const char *name, const char *value, const char *src,
			       const char *note)
{
	char lhs[512];

	snprintf(lhs, sizeof(lhs), "%s = %s", name, value);
	printf("%-44s # %s%s\n", lhs, src, note);
}

static int rv_admin_show(const struct rv_server_opts *o)
{
	struct rv_admin_seen *seen;
	char src[1100], note[1200], val[256];
	size_t n, i, j, cap;
	int argc = 0, k;

	while (o->merged_argv[argc] != NULL)
		argc++;
	for (i = 0, cap = 1; i < (size_t)argc; i++)
		cap += strlen(o->merged_argv[i]) + 1;
	seen = calloc(cap, sizeof(*seen));
	if (seen == NULL)
		return 1;
	n = rv_admin_scan(argc, o->merged_argv, seen, cap);
	printf("# rvpn-server effective configuration: %s%s and the command line;\n"
	       "# after each value, where it came from\n",
	       o->config != NULL ? "config file " : "no config file",
	       o->config != NULL ? o->config->path : "");
	for (k = 1; k < RV_ADMIN_NOPTS; k++) { /* 0 is config itself */
		const struct rv_admin_opt *d = &rv_admin_opts[k];
		size_t last = n, count = 0;

		for (i = 0; i < n; i++) {
			if (seen[i].opt != k)
				continue;
			count++;
			last = i;
			if (d->multi) {
				rv_admin_source(o, seen[i].index, src, sizeof(src));
				rv_admin_print_opt(d->name, seen[i].value ? seen[i].value : "", src,
						   "");
			}
		}
		if (d->multi && count > 0)
			continue;
		if (count == 0) {
			rv_admin_default(o, d->name, val, sizeof(val));
			rv_admin_print_opt(d->name, val, "default", "");
			continue;
		}
		rv_admin_source(o, seen[last].index, src, sizeof(src));
		note[0] = '\0';
		if (!d->has_arg && count > 1)
			snprintf(note, sizeof(note), " (given %zu times)", count);
		for (j = 0; j < last && d->has_arg; j++) {
			if (seen[j].opt == k) {
				char old[1100];

				rv_admin_source(o, seen[j].index, old, sizeof(old));
				snprintf(note, sizeof(note), " (overrides %s)", old);
			}
		}
		rv_admin_print_opt(d->name, d->has_arg ? (seen[last].value ? seen[last].value : "")
						       : "yes", src, note);
	}
	for (i = 0; i < n; i++) {
		char nm[128];

		if (seen[i].opt >= 0)
			continue;
		snprintf(nm, sizeof(nm), "%.*s", (int)seen[i].name_len, seen[i].name);
		rv_admin_source(o, seen[i].index, src, sizeof(src));
		rv_admin_print_opt(nm, seen[i].value ? seen[i].value : "yes", src,
				   " (an option show-config does not know)");
	}
	free(seen);
	return fflush(stdout) == 0 ? 0 : 1;
}

/* ------------------------------------------------------------ dispatch */

int rv_server_admin_dispatch(int argc, char **argv, int *exit_code)
{
	static const char *const names[] = {"add-client", "list-clients", "remove-client",
					    "show-config"};
	struct rv_admin_args a;
	struct rv_server_opts o;
	size_t i;
	int r;

	if (argc < 2)
		return 0;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(argv[1], names[i]) == 0)
			break;
	if (i == sizeof(names) / sizeof(names[0]))
		return 0;
	memset(&a, 0, sizeof(a));
	a.cmd = (enum rv_admin_cmd)i;
	*exit_code = 1;
	if (sodium_init() < 0)
		return 1;
	r = rv_admin_split(argc, argv, &a);
	if (r != 0) {
		*exit_code = r == 3 ? 0 : r;
		free(a.argv);
		return 1;
	}
	switch (rv_server_opts_parse(&o, a.argc, a.argv)) {
	case RV_SERVER_PARSE_RUN:
		break;
	case RV_SERVER_PARSE_EXIT_OK:
	case RV_SERVER_PARSE_VERSION:
		*exit_code = 0;
		goto out;
	default:
		*exit_code = 2;
		goto out;
	}
	switch (a.cmd) {
	case RV_ADMIN_ADD:
		*exit_code = rv_admin_add(&a, &o);
		break;
	case RV_ADMIN_LIST:
		*exit_code = rv_admin_list(&o);
		break;
	case RV_ADMIN_REMOVE:
		*exit_code = rv_admin_remove(&a, &o);
		break;
	case RV_ADMIN_SHOW:
		*exit_code = rv_admin_show(&o);
		break;
	}
out:
	rv_server_opts_free(&o);
	free(a.argv);
	return 1;
}
