/* rv_ctl.c - the status service on the event loop (see rv_ctl.h). */
#include "rv_ctl.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "rv_err.h"
#include "rv_log.h"

enum rv_ctl_client_state {
	RV_CTL_CLIENT_FREE = 0,
	RV_CTL_CLIENT_READING = 1, /* waiting for the whole request */
	RV_CTL_CLIENT_WRITING = 2, /* answer queued, flushing */
};

/* The listener: read while a client slot is free. */
enum rv_ctl_state {
	RV_CTL_STATE_INVALID = 0, /* being set up */
	RV_CTL_ACCEPTING = 1,     /* listener watched for READ */
	RV_CTL_FULL = 2,          /* every slot taken: not watched */
};

struct rv_ctl;

struct rv_ctl_client {
	enum rv_ctl_client_state state;
	struct rv_ctl *ctl;
	int fd;
	struct rv_loop_fd *w;
	struct rv_loop_timer *timer;  /* read, then write deadline */
	struct rv_buf in;             /* request bytes so far */
	struct rv_buf out;            /* HTTP head (if any) and answer */
};

struct rv_ctl {
	enum rv_ctl_state state;
	enum rv_ctl_kind kind;
	struct rv_loop *loop;
	int lfd;
	struct rv_loop_fd *lw;
	rv_ctl_answer_cb cb;
	void *arg;
	uid_t owner;
	char path[RV_CTL_PATH_MAX];   /* Unix: the file we bound, "" if none */
	dev_t dev;
	ino_t ino;
	pid_t pid;                    /* the process that bound it */
	struct rv_ctl_client clients[RV_CTL_MAX_CLIENTS];
	uint32_t n_clients;
};

static void rv_ctl_on_listen(struct rv_loop_fd *w, int fd, unsigned ev, void *arg);

static void rv_ctl_client_close(struct rv_ctl_client *cc)
{
	struct rv_ctl *c = cc->ctl;

	if (cc->state == RV_CTL_CLIENT_FREE)
		return;
	rv_loop_fd_del(cc->w);
	rv_loop_timer_free(cc->timer);
	close(cc->fd);
	rv_buf_cleanup(&cc->in);
	rv_buf_cleanup(&cc->out);
	memset(cc, 0, sizeof(*cc));
	cc->fd = -1;
	c->n_clients--;
	if (c->state == RV_CTL_FULL && rv_loop_fd_set_events(c->lw, RV_LOOP_READ) == RV_OK)
		c->state = RV_CTL_ACCEPTING;
}

static void rv_ctl_on_timeout(struct rv_loop_timer *t, void *arg)
{
	struct rv_ctl_client *cc = arg;

	(void)t;
	rv_log_debug("status: a %s client timed out", cc->state == RV_CTL_CLIENT_READING ?
		     "silent" : "slow");
	rv_ctl_client_close(cc);
}

/* 1: all written, 0: socket full, -1: error. */
static int rv_ctl_client_flush(struct rv_ctl_client *cc)
{
	while (rv_buf_len(&cc->out) > 0) {
		ssize_t n = send(cc->fd, rv_buf_ptr(&cc->out), rv_buf_len(&cc->out),
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
		}
		(void)rv_buf_consume(&cc->out, (size_t)n);
	}
	return 1;
}

static const char *rv_ctl_http_status(int code)
{
	switch (code) {
	case 200:
		return "200 OK";
	case 404:
		return "404 Not Found";
	case 400:
		return "400 Bad Request";
	default:
		return "500 Internal Server Error";
	}
}

/* HTTP: head + body; the body already is in body. */
static int rv_ctl_http_wrap(struct rv_buf *out, int code, const struct rv_buf *body)
{
	char head[256];
	int n;

	n = snprintf(head, sizeof(head),
		     "HTTP/1.1 %s\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
		     "Content-Length: %zu\r\nConnection: close\r\n\r\n",
		     rv_ctl_http_status(code), rv_buf_len(body));
	if (n < 0 || (size_t)n >= sizeof(head))
		return RV_ERR_INTERNAL;
	if (rv_buf_put(out, head, (size_t)n) != RV_OK ||
	    rv_buf_put(out, rv_buf_ptr(body), rv_buf_len(body)) != RV_OK)
		return RV_ERR_NOMEM;
	return RV_OK;
}

/* Build the whole answer into cc->out. */
static int rv_ctl_client_answer(struct rv_ctl_client *cc, int parsed, enum rv_ctl_request req)
{
	struct rv_ctl *c = cc->ctl;
	struct rv_buf body;
	int code = 200, r = RV_OK;
	const char *msg = NULL;

	rv_buf_init(&body, RV_CTL_ANSWER_MAX);
	if (parsed < 0) {
		code = 400;
		msg = c->kind == RV_CTL_KIND_HTTP ? "bad request\n" :
			"error: unknown request (want: status, status json, metrics)\n";
	} else if (req == RV_CTL_REQ_NOT_FOUND) {
		code = 404;
		msg = "not found (try /metrics)\n";
	} else {
		r = c->cb(c->arg, req, &body);
		if (r != RV_OK) {
			rv_log_warn("status: cannot build the answer: %s", rv_err_str(r));
			rv_buf_reset(&body);
			code = 500;
			msg = "error: the answer could not be built\n";
		}
	}
	if (msg != NULL)
		r = rv_buf_put(&body, msg, strlen(msg));
	if (r == RV_OK) {
		if (c->kind == RV_CTL_KIND_HTTP)
			r = rv_ctl_http_wrap(&cc->out, code, &body);
		else
			r = rv_buf_put(&cc->out, rv_buf_ptr(&body), rv_buf_len(&body));
	}
	rv_buf_cleanup(&body);
	return r;
}

static void rv_ctl_on_client(struct rv_loop_fd *w, int fd, unsigned ev, void *arg)
{
	struct rv_ctl_client *cc = arg;
	enum rv_ctl_request req = RV_CTL_REQ_INVALID;
	uint8_t *dp;
	ssize_t n;
	size_t room;
	int r;

	(void)w;
	(void)ev; /* errors show as a failed recv/send */
	if (cc->state == RV_CTL_CLIENT_WRITING) {
		r = rv_ctl_client_flush(cc);
		if (r != 0) {
			if (r > 0)
				(void)shutdown(fd, SHUT_WR);
			rv_ctl_client_close(cc);
		}
		return;
	}
	room = rv_buf_room(&cc->in);
	if (room == 0 || rv_buf_reserve(&cc->in, room, &dp) != RV_OK) {
		rv_ctl_client_close(cc);
		return;
	}
	n = recv(fd, dp, room, MSG_DONTWAIT);
	(void)rv_buf_unput(&cc->in, room - (n > 0 ? (size_t)n : 0));
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) { /* gone before asking, or an error */
		rv_ctl_client_close(cc);
		return;
	}
	if (cc->ctl->kind == RV_CTL_KIND_HTTP)
		r = rv_ctl_parse_http(rv_buf_ptr(&cc->in), rv_buf_len(&cc->in), &req);
	else
		r = rv_ctl_parse_request(rv_buf_ptr(&cc->in), rv_buf_len(&cc->in), &req);
	if (r == RV_ERR_NEED_MORE)
		return;
	if (rv_ctl_client_answer(cc, r, req) != RV_OK) {
		rv_ctl_client_close(cc);
		return;
	}
	cc->state = RV_CTL_CLIENT_WRITING;
	rv_loop_timer_set(cc->timer, RV_CTL_WRITE_TIMEOUT_MS);
	r = rv_ctl_client_flush(cc);
	if (r != 0) {
		if (r > 0)
			(void)shutdown(fd, SHUT_WR);
		rv_ctl_client_close(cc);
		return;
	}
	if (rv_loop_fd_set_events(cc->w, RV_LOOP_WRITE) != RV_OK)
		rv_ctl_client_close(cc);
}

/* Unix: the peer runs as our uid or as root. */
static int rv_ctl_peer_allowed(struct rv_ctl *c, int fd)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (c->kind != RV_CTL_KIND_UNIX)
		return 1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0 || len != sizeof(cr))
		return 0;
	return cr.uid == c->owner || cr.uid == 0;
}

static int rv_ctl_client_start(struct rv_ctl *c, int fd)
{
	struct rv_ctl_client *cc = NULL;
	size_t i;
	int r;

	for (i = 0; i < RV_CTL_MAX_CLIENTS; i++) {
		if (c->clients[i].state == RV_CTL_CLIENT_FREE) {
			cc = &c->clients[i];
			break;
		}
	}
	if (cc == NULL)
		return RV_ERR_LIMIT;
	memset(cc, 0, sizeof(*cc));
	cc->ctl = c;
	cc->fd = fd;
	rv_buf_init(&cc->in, c->kind == RV_CTL_KIND_HTTP ? RV_CTL_HTTP_REQ_MAX : RV_CTL_REQ_MAX);
	rv_buf_init(&cc->out, RV_CTL_ANSWER_MAX + 512);
	r = rv_loop_timer_new(c->loop, rv_ctl_on_timeout, cc, &cc->timer);
	if (r == RV_OK)
		r = rv_loop_fd_add(c->loop, fd, RV_LOOP_READ, rv_ctl_on_client, cc, &cc->w);
	if (r != RV_OK) {
		rv_loop_timer_free(cc->timer);
		rv_buf_cleanup(&cc->in);
		rv_buf_cleanup(&cc->out);
		memset(cc, 0, sizeof(*cc));
		return r;
	}
	cc->state = RV_CTL_CLIENT_READING;
	rv_loop_timer_set(cc->timer, RV_CTL_READ_TIMEOUT_MS);
	c->n_clients++;
	return RV_OK;
}

static void rv_ctl_on_listen(struct rv_loop_fd *w, int fd, unsigned ev, void *arg)
{
	struct rv_ctl *c = arg;
	int cfd;

	(void)ev;
	while (c->n_clients < RV_CTL_MAX_CLIENTS) {
		cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				rv_log_debug("status: accept: %s", strerror(errno));
			return;
		}
		if (!rv_ctl_peer_allowed(c, cfd)) {
			rv_log_debug("status: refused a control client of another user");
			close(cfd);
			continue;
		}
		if (rv_ctl_client_start(c, cfd) != RV_OK)
			close(cfd);
	}
	/* All slots taken: leave the rest in the backlog until one frees. */
	if (rv_loop_fd_set_events(w, 0) == RV_OK)
		c->state = RV_CTL_FULL;
}

static int rv_ctl_new(struct rv_loop *loop, enum rv_ctl_kind kind, rv_ctl_answer_cb cb,
		      void *arg, struct rv_ctl **out)
{
	struct rv_ctl *c = calloc(1, sizeof(*c));
	size_t i;

	if (c == NULL)
		return RV_ERR_NOMEM;
	c->kind = kind;
	c->loop = loop;
	c->lfd = -1;
	c->cb = cb;
	c->arg = arg;
	c->owner = geteuid();
	c->pid = getpid();
	for (i = 0; i < RV_CTL_MAX_CLIENTS; i++)
		c->clients[i].fd = -1;
	*out = c;
	return RV_OK;
}

static int rv_ctl_watch(struct rv_ctl *c, char *err, size_t errlen)
{
	int r;

	if (listen(c->lfd, RV_CTL_BACKLOG) != 0) {
		snprintf(err, errlen, "listen: %s", strerror(errno));
		return RV_ERR_IO;
	}
	r = rv_loop_fd_add(c->loop, c->lfd, RV_LOOP_READ, rv_ctl_on_listen, c, &c->lw);
	if (r != RV_OK) {
		snprintf(err, errlen, "cannot watch the listener: %s", rv_err_str(r));
		return r;
	}
	c->state = RV_CTL_ACCEPTING;
	return RV_OK;
}

/* Someone answers at sa: 1, nothing (stale file): 0, unknown: -1. */
static int rv_ctl_unix_alive(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), r;

	if (fd < 0)
		return -1;
	r = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	if (r == 0)
		r = 1;
	else
		r = errno == ECONNREFUSED || errno == ENOENT ? 0 : -1;
	close(fd);
	return r;
}

/* Bind with umask 0177 (mode 0600); an existing socket file that nobody answers on is
 * replaced, a live one refused. */
static int rv_ctl_bind_unix(struct rv_ctl *c, const struct sockaddr_un *sa, char *err,
			    size_t errlen)
{
	struct stat st;
	mode_t old;
	int r, alive;

	old = umask(0177);
	r = bind(c->lfd, (const struct sockaddr *)sa, sizeof(*sa));
	umask(old);
	if (r == 0)
		return RV_OK;
	if (errno != EADDRINUSE) {
		snprintf(err, errlen, "%s: %s", sa->sun_path, strerror(errno));
		return errno == EACCES ? RV_ERR_PERMISSION : RV_ERR_IO;
	}
	if (lstat(sa->sun_path, &st) != 0 || !S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket", sa->sun_path);
		return RV_ERR_IO;
	}
	alive = rv_ctl_unix_alive(sa);
	if (alive != 0) {
		snprintf(err, errlen, alive > 0 ? "another instance is running (it answers on "
			 "%s); stop it or use --control" : "%s is in use", sa->sun_path);
		return RV_ERR_LIMIT;
	}
	if (unlink(sa->sun_path) != 0 && errno != ENOENT) {
		snprintf(err, errlen, "cannot replace the stale %s: %s", sa->sun_path,
			 strerror(errno));
		return RV_ERR_IO;
	}
	rv_log_info("status: replacing the stale control socket %s", sa->sun_path);
	old = umask(0177);
	r = bind(c->lfd, (const struct sockaddr *)sa, sizeof(*sa));
	umask(old);
	if (r != 0) {
		snprintf(err, errlen, "%s: %s", sa->sun_path, strerror(errno));
		return RV_ERR_IO;
	}
	return RV_OK;
}

int rv_ctl_open_unix(struct rv_loop *loop, const char *path, rv_ctl_answer_cb cb, void *arg,
		     struct rv_ctl **out, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	struct rv_ctl *c = NULL;
	struct stat st;
	int r;

	*out = NULL;
	if (loop == NULL || path == NULL || cb == NULL || path[0] == '\0') {
		snprintf(err, errlen, "no control socket path");
		return RV_ERR_INVALID_ARG;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "control socket path too long (at most %zu bytes): %s",
			 sizeof(sa.sun_path) - 1, path);
		return RV_ERR_INVALID_ARG;
	}
	memcpy(sa.sun_path, path, strlen(path));
	r = rv_ctl_new(loop, RV_CTL_KIND_UNIX, cb, arg, &c);
	if (r != RV_OK) {
		snprintf(err, errlen, "out of memory");
		return r;
	}
	c->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->lfd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		r = RV_ERR_IO;
		goto out;
	}
	r = rv_ctl_bind_unix(c, &sa, err, errlen);
	if (r != RV_OK)
		goto out;
	snprintf(c->path, sizeof(c->path), "%s", path);
	/* The umask made it 0600 (srw-------); check, never trust. */
	if (lstat(path, &st) != 0 || !S_ISSOCK(st.st_mode) || (st.st_mode & 0777) != 0600 ||
	    st.st_uid != geteuid()) {
		snprintf(err, errlen, "%s: not a private socket after bind", path);
		r = RV_ERR_PERMISSION;
		goto out;
	}
	c->dev = st.st_dev;
	c->ino = st.st_ino;
	r = rv_ctl_watch(c, err, errlen);
out:
	if (r != RV_OK) {
		rv_ctl_free(c);
		return r;
	}
	*out = c;
	return RV_OK;
}

int rv_ctl_open_http(struct rv_loop *loop, const struct sockaddr *sa, socklen_t salen,
		     rv_ctl_answer_cb cb, void *arg, struct rv_ctl **out, char *err,
		     size_t errlen)
{
	struct rv_ctl *c = NULL;
	int r, one = 1;

	*out = NULL;
	if (loop == NULL || sa == NULL || cb == NULL ||
	    (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)) {
		snprintf(err, errlen, "bad metrics address");
		return RV_ERR_INVALID_ARG;
	}
	r = rv_ctl_new(loop, RV_CTL_KIND_HTTP, cb, arg, &c);
	if (r != RV_OK) {
		snprintf(err, errlen, "out of memory");
		return r;
	}
	c->lfd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->lfd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		r = RV_ERR_IO;
		goto out;
	}
	(void)setsockopt(c->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (sa->sa_family == AF_INET6)
		(void)setsockopt(c->lfd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(c->lfd, sa, salen) != 0) {
		snprintf(err, errlen, "bind: %s", strerror(errno));
		r = RV_ERR_IO;
		goto out;
	}
	r = rv_ctl_watch(c, err, errlen);
out:
	if (r != RV_OK) {
		rv_ctl_free(c);
		return r;
	}
	*out = c;
	return RV_OK;
}

void rv_ctl_free(struct rv_ctl *c)
{
	struct stat st;
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < RV_CTL_MAX_CLIENTS; i++)
		rv_ctl_client_close(&c->clients[i]);
	rv_loop_fd_del(c->lw);
	if (c->lfd >= 0)
		close(c->lfd);
	/* Only our own file: another instance may have replaced it, and a
	 * forked child (rvpn-server's workers) closes its copy but leaves it. */
	if (c->path[0] != '\0' && c->pid == getpid() && lstat(c->path, &st) == 0 && st.st_dev == c->dev &&
	    st.st_ino == c->ino)
		(void)unlink(c->path);
	free(c);
}
