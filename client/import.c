/* import.c - rvpn-client import: rvpn:// URL (given, or found in a file such
 * as the saved output of `rvpn-server add-client`) -> client config file
 * (default ~/.config/rvpn/client.conf) and private key file (next to it,
 * NAME.key for NAME.conf, mode 0600).  Nothing is overwritten without
 * --force; both files are written to a temporary name, fsync'd and then
 * linked (or, with --force, renamed) into place. */
#include "import.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "rv_buf.h"
#include "rv_cliparse.h"
#include "rv_clienturl.h"
#include "rv_err.h"
#include "rv_keys.h"

enum rv_import_limits {
	RV_IMPORT_INPUT_MAX = 64 * 1024, /* a file or stdin holding the URL */
	RV_IMPORT_PATH_MAX = PATH_MAX,
};

#define RV_IMPORT_DEFAULT_SOCKS "127.0.0.1:1080"

static void rv_import_usage(FILE *f)
{
	fprintf(f,
		"usage: rvpn-client import URL|FILE|- [-o FILE] [--socks [BIND:]PORT] [--force]\n"
		"\n"
		"Writes the client config for an rvpn:// URL (from rvpn-server add-client; FILE\n"
		"or '-' (stdin) may hold it among other text) to FILE (default\n"
		"~/.config/rvpn/client.conf, directory mode 0700) and the private key in the\n"
		"URL next to it (client.key for client.conf, mode 0600).\n"
		"\n"
		"  -o FILE               config file to write\n"
		"  --socks [BIND:]PORT   the SOCKS5 address in the config (default %s)\n"
		"  --force               replace existing files\n",
		RV_IMPORT_DEFAULT_SOCKS);
}

/* Read up to RV_IMPORT_INPUT_MAX bytes of path ("-": stdin) into b. */
static int rv_import_read(const char *path, struct rv_buf *b)
{
	uint8_t chunk[4096];
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	size_t n;
	int r = RV_OK;

	if (f == NULL) {
		fprintf(stderr, "rvpn-client import: %s: %s\n", path, strerror(errno));
		return RV_ERR_NOT_FOUND;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (rv_buf_put(b, chunk, n) != RV_OK) {
			fprintf(stderr, "rvpn-client import: %s: larger than %d bytes\n", path,
				RV_IMPORT_INPUT_MAX);
			r = RV_ERR_LIMIT;
			break;
		}
	}
	if (r == RV_OK && ferror(f)) {
		fprintf(stderr, "rvpn-client import: %s: read error\n", path);
		r = RV_ERR_IO;
	}
	if (f != stdin)
		fclose(f);
	sodium_memzero(chunk, sizeof(chunk));
	return r;
}

/* The first "rvpn://..." token (up to whitespace or a quote) in b that
 * parses; u gets it.  err keeps the last parse error. */
static int rv_import_find_url(const struct rv_buf *b, struct rv_clienturl *u, char *err,
			      size_t errlen)
{
	const char *s = (const char *)rv_buf_ptr(b);
	size_t n = rv_buf_len(b), i, j;
	int r = RV_ERR_NOT_FOUND;

	for (i = 0; i + 7 <= n; i++) {
		if (strncasecmp(s + i, "rvpn://", 7) != 0)
			continue;
		for (j = i; j < n && s[j] > ' ' && s[j] != '\'' && s[j] != '"' && s[j] != 0x7f;
		     j++)
			;
		r = rv_clienturl_parse(s + i, j - i, u, err, errlen);
		if (r == RV_OK)
			return RV_OK;
		i = j - 1;
	}
	return r;
}

static int rv_import_mkdir(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0700) == 0)
		return RV_OK;
	if (errno == EEXIST && stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
		return RV_OK;
	fprintf(stderr, "rvpn-client import: cannot create %s: %s\n", dir, strerror(errno));
	return RV_ERR_IO;
}

/* Write data to path with mode: a temporary file, fsync, then link (no
 * overwrite) or rename (force) into place. */
static int rv_import_write(const char *path, const char *data, mode_t mode, int force)
{
	char tmp[RV_IMPORT_PATH_MAX + 32];
	size_t len = strlen(data), off = 0;
	int fd, r = RV_ERR_IO;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= sizeof(tmp))
		return RV_ERR_INVALID_ARG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0) {
		fprintf(stderr, "rvpn-client import: cannot create %s: %s\n", tmp, strerror(errno));
		return RV_ERR_IO;
	}
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	if (off != len || fchmod(fd, mode) != 0 || fsync(fd) != 0) {
		fprintf(stderr, "rvpn-client import: cannot write %s: %s\n", tmp, strerror(errno));
		close(fd);
		goto out;
	}
	if (close(fd) != 0)
		goto out;
	if (force ? rename(tmp, path) != 0 : link(tmp, path) != 0) {
		fprintf(stderr, "rvpn-client import: cannot write %s: %s%s\n", path, strerror(errno),
			errno == EEXIST ? " (use --force to replace it)" : "");
		goto out;
	}
	r = RV_OK;
out:
	(void)unlink(tmp); /* after link(); ENOENT after rename() */
	return r;
}

/* dir + "/" + file, or just file when it is absolute. */
static int rv_import_abs(const char *file, char *out, size_t outlen)
{
	char cwd[RV_IMPORT_PATH_MAX];

	if (file[0] == '/')
		return (size_t)snprintf(out, outlen, "%s", file) < outlen ? RV_OK : RV_ERR_LIMIT;
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return RV_ERR_IO;
	return (size_t)snprintf(out, outlen, "%s/%s", cwd, file) < outlen ? RV_OK : RV_ERR_LIMIT;
}

int rv_client_cmd_import(int argc, char **argv)
{
	struct rv_clienturl u;
	struct rv_cli_sockaddr sa;
	struct rv_buf in;
	char conf[RV_IMPORT_PATH_MAX], key[RV_IMPORT_PATH_MAX], dir[RV_IMPORT_PATH_MAX];
	char ws[RV_CLIENTURL_WS_SIZE], spub[RV_KEY_B64_SIZE], cpriv[RV_KEY_B64_SIZE + 1];
	char err[512], text[RV_IMPORT_PATH_MAX + 1024];
	const char *src = NULL, *out = NULL, *socks = RV_IMPORT_DEFAULT_SOCKS, *home;
	size_t l;
	struct stat st;
	int i, r, force = 0, code = 1;

	memset(&u, 0, sizeof(u));
	rv_buf_init(&in, RV_IMPORT_INPUT_MAX);
	cpriv[0] = '\0';
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			rv_import_usage(stdout);
			code = 0;
			goto out;
		} else if (strcmp(argv[i], "--force") == 0) {
			force = 1;
		} else if ((strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--socks") == 0) &&
			   i + 1 < argc) {
			if (argv[i][1] == 'o')
				out = argv[++i];
			else
				socks = argv[++i];
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			fprintf(stderr, "rvpn-client import: unknown option or missing value: %s\n",
				argv[i]);
			rv_import_usage(stderr);
			code = 2;
			goto out;
		} else if (src == NULL) {
			src = argv[i];
		} else {
			fprintf(stderr, "rvpn-client import: one URL or FILE only\n");
			code = 2;
			goto out;
		}
	}
	if (src == NULL) {
		rv_import_usage(stderr);
		code = 2;
		goto out;
	}
	if (rv_cliparse_listen("--socks", socks, "127.0.0.1", &sa, err, sizeof(err)) != RV_OK) {
		fprintf(stderr, "rvpn-client import: %s\n", err);
		code = 2;
		goto out;
	}
	/* The URL: the argument itself, or the first one in the file. */
	if (strncasecmp(src, "rvpn://", 7) != 0) {
		if (rv_import_read(src, &in) != RV_OK)
			goto out;
		r = rv_import_find_url(&in, &u, err, sizeof(err));
		if (r == RV_ERR_NOT_FOUND) {
			fprintf(stderr, "rvpn-client import: %s holds no rvpn:// URL (from "
				"rvpn-server add-client)\n", src);
			goto out;
		}
	} else {
		r = rv_clienturl_parse(src, strlen(src), &u, err, sizeof(err));
	}
	if (r != RV_OK) {
		fprintf(stderr, "rvpn-client import: %s\n", err);
		goto out;
	}
	/* Where: -o FILE, or ~/.config/rvpn/client.conf. */
	if (out == NULL) {
		home = getenv("HOME");
		if (home == NULL || home[0] != '/') {
			fprintf(stderr, "rvpn-client import: HOME is not set; use -o FILE\n");
			goto out;
		}
		if ((size_t)snprintf(dir, sizeof(dir), "%s/.config", home) >= sizeof(dir) ||
		    rv_import_mkdir(dir) != RV_OK)
			goto out;
		if ((size_t)snprintf(dir, sizeof(dir), "%s/.config/rvpn", home) >= sizeof(dir) ||
		    rv_import_mkdir(dir) != RV_OK)
			goto out;
		if ((size_t)snprintf(conf, sizeof(conf), "%s/client.conf", dir) >= sizeof(conf))
			goto out;
	} else if (rv_import_abs(out, conf, sizeof(conf)) != RV_OK) {
		fprintf(stderr, "rvpn-client import: -o: path too long\n");
		goto out;
	}
	l = strlen(conf);
	if (l > 5 && strcmp(conf + l - 5, ".conf") == 0)
		l -= 5;
	if ((size_t)snprintf(key, sizeof(key), "%.*s.key", (int)l, conf) >= sizeof(key)) {
		fprintf(stderr, "rvpn-client import: -o: path too long\n");
		goto out;
	}
	/* Refuse before writing anything. */
	if (!force && (stat(conf, &st) == 0 || (u.has_key && stat(key, &st) == 0))) {
		fprintf(stderr, "rvpn-client import: %s exists; use --force to replace it\n",
			stat(conf, &st) == 0 ? conf : key);
		goto out;
	}
	if (u.has_key) {
		rv_key_to_base64(u.client_priv, cpriv);
		l = strlen(cpriv);
		cpriv[l] = '\n';
		cpriv[l + 1] = '\0';
		if (rv_import_write(key, cpriv, 0600, force) != RV_OK)
			goto out;
	}
	rv_clienturl_ws_url(&u, ws, sizeof(ws));
	rv_key_to_base64(u.server_pub, spub);
	if ((size_t)snprintf(text, sizeof(text),
			     "# rvpn-client configuration%s%s, written by rvpn-client import\n"
			     "url = %s\nserver-key = %s\nkey = %s\nsocks = %s\n",
			     u.name[0] != '\0' ? " for client " : "", u.name, ws, spub, key,
			     socks) >= sizeof(text) ||
	    rv_import_write(conf, text, 0600, force) != RV_OK) {
		if (u.has_key && !force)
			(void)unlink(key); /* do not leave half an import */
		goto out;
	}
	printf("wrote %s\n", conf);
	if (u.has_key)
		printf("wrote %s (the private key, mode 0600)\n", key);
	else
		printf("the URL holds no private key: put this client's key in %s (mode 0600)\n",
		       key);
	printf("start the tunnel:  rvpn-client -k %s -s %s -D %s %s\n", key, spub, socks, ws);
	code = 0;
out:
	sodium_memzero(cpriv, sizeof(cpriv));
	rv_clienturl_wipe(&u);
	rv_buf_cleanup(&in);
	return code;
}
