/* rv_ctl_cmd.c - the control socket's path and the "status" subcommand
 * (client side of the control socket; see rv_ctl.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "rv_ctl.h"
#include "rv_err.h"
#include "rv_log.h"

int rv_ctl_default_path(const char *name, char *out, size_t outlen)
{
	const char *rt = getenv("RUNTIME_DIRECTORY"), *xdg = getenv("XDG_RUNTIME_DIR");
	int n;

	/* systemd may list several directories, separated by ':'. */
	if (rt != NULL && rt[0] == '/')
		n = snprintf(out, outlen, "%.*s/control", (int)strcspn(rt, ":"), rt);
	else if (xdg != NULL && xdg[0] == '/')
		n = snprintf(out, outlen, "%s/rvpn/%s.sock", xdg, name);
	else if (geteuid() == 0)
		n = snprintf(out, outlen, "/run/rvpn/%s.sock", name);
	else
		return RV_ERR_NOT_FOUND;
	if (n < 0 || (size_t)n >= outlen || (size_t)n >= RV_CTL_PATH_MAX)
		return RV_ERR_NO_SPACE;
	return RV_OK;
}

int rv_ctl_make_parent(const char *path)
{
	char dir[RV_CTL_PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t n;

	if (slash == NULL || slash == path)
		return RV_OK;
	n = (size_t)(slash - path);
	if (n >= sizeof(dir))
		return RV_ERR_NO_SPACE;
	memcpy(dir, path, n);
	dir[n] = '\0';
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return RV_ERR_IO;
	return RV_OK;
}

static uint64_t rv_ctl_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Wait for ev on fd until deadline: 0, RV_ERR_TIMEOUT or RV_ERR_IO. */
static int rv_ctl_wait(int fd, short ev, uint64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = ev };
	uint64_t now;
	int r;

	for (;;) {
		now = rv_ctl_mono_ms();
		if (now >= deadline)
			return RV_ERR_TIMEOUT;
		r = poll(&pfd, 1, (int)(deadline - now));
		if (r > 0)
			return RV_OK;
		if (r == 0)
			return RV_ERR_TIMEOUT;
		if (errno != EINTR)
			return RV_ERR_IO;
	}
}

int rv_ctl_query(const char *path, const char *request, struct rv_buf *out)
{
	struct sockaddr_un sa;
	uint64_t deadline = rv_ctl_mono_ms() + RV_CTL_QUERY_TIMEOUT_MS;
	size_t off = 0, len = strlen(request);
	uint8_t chunk[4096];
	int fd, r;
	ssize_t n;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path))
		return RV_ERR_INVALID_ARG;
	memcpy(sa.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return RV_ERR_IO;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		r = errno == ENOENT || errno == ECONNREFUSED || errno == ENOTDIR ? RV_ERR_NOT_FOUND :
			errno == EACCES ? RV_ERR_PERMISSION : RV_ERR_IO;
		goto out;
	}
	while (off < len) {
		if ((r = rv_ctl_wait(fd, POLLOUT, deadline)) != RV_OK)
			goto out;
		n = send(fd, request + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			r = RV_ERR_IO;
			goto out;
		}
		off += n > 0 ? (size_t)n : 0;
	}
	for (;;) {
		if ((r = rv_ctl_wait(fd, POLLIN, deadline)) != RV_OK)
			goto out;
		n = recv(fd, chunk, sizeof(chunk), MSG_DONTWAIT);
		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			r = RV_ERR_IO;
			goto out;
		}
		if ((r = rv_buf_put(out, chunk, (size_t)n)) != RV_OK)
			goto out;
	}
	r = RV_OK;
out:
	close(fd);
	return r;
}

static void rv_ctl_cmd_usage(FILE *f, const char *prog)
{
	fprintf(f, "usage: %s status [--json] [--control PATH]\n", prog);
}

int rv_ctl_cmd_status(const char *prog, const char *name, int argc, char **argv)
{
	char path[RV_CTL_PATH_MAX], tried[3][RV_CTL_PATH_MAX];
	const char *control = NULL;
	struct rv_buf ans;
	size_t n_tried = 0, i;
	int json = 0, code = 1, r = RV_ERR_NOT_FOUND;

	for (i = 1; i < (size_t)argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = 1;
		} else if (strcmp(argv[i], "--control") == 0 && i + 1 < (size_t)argc) {
			control = argv[++i];
		} else if (strncmp(argv[i], "--control=", 10) == 0) {
			control = argv[i] + 10;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			rv_ctl_cmd_usage(stdout, prog);
			return 0;
		} else {
			rv_ctl_cmd_usage(stderr, prog);
			return 2;
		}
	}
	/* Without --control: where a run from this shell would put it, then
	 * where the packaged service (RuntimeDirectory=rvpn) puts the server's. */
	if (control != NULL) {
		snprintf(tried[n_tried++], RV_CTL_PATH_MAX, "%s", control);
	} else {
		if (rv_ctl_default_path(name, path, sizeof(path)) == RV_OK)
			snprintf(tried[n_tried++], RV_CTL_PATH_MAX, "%s", path);
		if (strcmp(name, "server") == 0)
			snprintf(tried[n_tried++], RV_CTL_PATH_MAX, "/run/rvpn/control");
	}
	if (n_tried == 0) {
		fprintf(stderr, "%s: no control socket path (no XDG_RUNTIME_DIR); use --control "
			"PATH\n", prog);
		return 1;
	}
	rv_buf_init(&ans, RV_CTL_ANSWER_MAX + 512);
	for (i = 0; i < n_tried; i++) {
		rv_buf_reset(&ans);
		r = rv_ctl_query(tried[i], json ? "status json\n" : "status\n", &ans);
		if (r != RV_ERR_NOT_FOUND)
			break;
	}
	if (r == RV_OK) {
		if (fwrite(rv_buf_ptr(&ans), 1, rv_buf_len(&ans), stdout) == rv_buf_len(&ans) &&
		    fflush(stdout) == 0)
			code = 0;
	} else if (r == RV_ERR_NOT_FOUND) {
		fprintf(stderr, "%s is not running (no control socket at %s%s%s)\n", prog,
			tried[0], n_tried > 1 ? " or " : "", n_tried > 1 ? tried[1] : "");
	} else if (r == RV_ERR_PERMISSION) {
		fprintf(stderr, "%s: %s: permission denied (the control socket belongs to the "
			"user running %s)\n", prog, tried[i < n_tried ? i : 0], prog);
	} else {
		fprintf(stderr, "%s: no answer on %s: %s\n", prog, tried[i < n_tried ? i : 0],
			rv_err_str(r));
	}
	rv_buf_cleanup(&ans);
	return code;
}

/* 1 for 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104. */
static int rv_ctl_is_loopback(const struct sockaddr_storage *ss)
{
	const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

	if (ss->ss_family == AF_INET)
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
		return 1;
	return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && in6->sin6_addr.s6_addr[12] == 127;
}

int rv_ctl_parse_metrics_addr(const char *text, int allow_any, struct sockaddr_storage *ss,
			      socklen_t *len, char *err, size_t errlen)
{
	char host[64];
	const char *colon, *h = text;
	size_t hlen;
	unsigned long port;
	char *end;

	memset(ss, 0, sizeof(*ss));
	if (text[0] == '[') {
		const char *rb = strchr(text, ']');

		if (rb == NULL || rb[1] != ':')
			goto bad;
		h = text + 1;
		hlen = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(text, ':');
		if (colon == NULL || memchr(text, ':', (size_t)(colon - text)) != NULL)
			goto bad;
		hlen = (size_t)(colon - text);
	}
	if (hlen == 0 || hlen >= sizeof(host) || colon[1] < '0' || colon[1] > '9')
		goto bad;
	port = strtoul(colon + 1, &end, 10);
	if (*end != '\0' || port == 0 || port > 65535)
		goto bad;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
		ss->ss_family = AF_INET;
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
		*len = sizeof(struct sockaddr_in);
	} else if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
		ss->ss_family = AF_INET6;
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
		*len = sizeof(struct sockaddr_in6);
	} else {
		goto bad;
	}
	if (!allow_any && !rv_ctl_is_loopback(ss)) {
		snprintf(err, errlen, "'%s' is not a loopback address (the metrics are not "
			 "authenticated; add --metrics-any to serve them there anyway)", text);
		return RV_ERR_DENIED;
	}
	return RV_OK;
bad:
	snprintf(err, errlen, "'%s' is not ADDR:PORT (an IP address; IPv6 as [ADDR]:PORT)",
		 text);
	return RV_ERR_CONFIG;
}

int rv_ctl_open_service(struct rv_loop *loop, const char *prog_name, const char *control,
			const char *metrics, const struct sockaddr *msa, socklen_t msalen,
			rv_ctl_answer_cb cb, void *arg, struct rv_ctl **ctl,
			struct rv_ctl **mctl)
{
	char path[RV_CTL_PATH_MAX], err[256];
	const char *p = control;
	int r = RV_OK;

	*ctl = *mctl = NULL;
	if (p == NULL) {
		if (rv_ctl_default_path(prog_name, path, sizeof(path)) == RV_OK) {
			p = path;
			(void)rv_ctl_make_parent(p);
		} else {
			rv_log_warn("no control socket ('status' will not work): no "
				    "XDG_RUNTIME_DIR and not root; use --control PATH");
		}
	}
	if (p != NULL && strcmp(p, "none") != 0) {
		r = rv_ctl_open_unix(loop, p, cb, arg, ctl, err, sizeof(err));
		if (r != RV_OK && control == NULL) {
			/* The default path is a convenience: a second instance
			 * of the same user runs on, without 'status'. */
			rv_log_warn("no control socket ('status' will not work for this "
				    "instance): %s", err);
			r = RV_OK;
		} else if (r != RV_OK) {
			rv_log_error("control socket: %s", err);
			return r;
		} else {
			rv_log_info("control socket %s (rvpn-%s status)", p, prog_name);
		}
	}
	if (metrics != NULL) {
		r = rv_ctl_open_http(loop, msa, msalen, cb, arg, mctl, err, sizeof(err));
		if (r != RV_OK) {
			rv_log_error("--metrics %s: %s", metrics, err);
			rv_ctl_free(*ctl);
			*ctl = NULL;
			return r;
		}
		rv_log_info("metrics at http://%s/metrics", metrics);
	}
	return RV_OK;
}
