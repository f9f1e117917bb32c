/* rfwd.c - remote forwards on the server (see rfwd.h). */
#include "rfwd.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rv_addr.h"
#include "rv_err.h"
#include "rv_log.h"
#include "rv_sockaddr.h"
#include "rv_socks5.h"

enum rv_rfwd_listener_state {
	RV_RFWD_LISTENER_INVALID = 0,
	RV_RFWD_LISTENING = 1,
	RV_RFWD_PAUSED = 2, /* no room: not accepting until the resume timer */
};

struct rv_rfwd_listener {
	struct rv_rfwd *r;
	enum rv_rfwd_listener_state state;
	uint32_t req;
	enum rv_listen_kind kind;
	int fd;
	struct rv_loop_fd *w;
	char where[RV_ADDR_STRLEN];
	struct rv_rfwd_listener *next;
};

/* An accepted connection on a SOCKS listener, before its stream exists. */
struct rv_rfwd_socks {
	struct rv_rfwd *r;
	uint32_t req;
	int fd;
	struct rv_loop_fd *w;
	struct rv_socks5 s;
	struct rv_buf in, out;
	uint64_t deadline;
	struct rv_rfwd_socks *prev, *next;
};

struct rv_rfwd {
	struct rv_loop *loop;
	struct rv_session *sess;
	struct rv_permit_listen perm;
	struct rv_rfwd_hooks hooks;
	char name[64];
	struct rv_rfwd_listener *listeners;
	unsigned nlisteners;
	struct rv_rfwd_socks *socks;
	unsigned nsocks;
	struct rv_loop_timer *timer; /* resume paused listeners, SOCKS deadlines */
	int paused;
};

/* user pointer of server streams from a SOCKS listener: the reply is ours. */
static const int rv_rfwd_socks_tag;
static const struct rv_socks5_config rv_rfwd_socks_cfg = { .require_auth = 0 };

static int rv_rfwd_room(struct rv_rfwd *r)
{
	if (rv_session_get_state(r->sess) != RV_SESSION_OPEN)
		return 0;
	if (rv_session_remote_stream_count(r->sess) + r->nsocks >= RV_REMOTE_STREAMS_DEFAULT)
		return 0;
	return r->hooks.stream_room == NULL || r->hooks.stream_room(r->hooks.arg);
}

static void rv_rfwd_arm(struct rv_rfwd *r)
{
	uint64_t ms = RV_RFWD_RESUME_MS;

	if (!r->paused && r->nsocks == 0)
		return;
	if (!r->paused)
		ms = 1000; /* SOCKS deadlines only */
	rv_loop_timer_set(r->timer, ms);
}

static void rv_rfwd_pause(struct rv_rfwd *r)
{
	struct rv_rfwd_listener *l;

	if (!r->paused)
		rv_log_debug("%s: remote forwards: no room for more streams, not accepting",
			     r->name);
	r->paused = 1;
	for (l = r->listeners; l != NULL; l = l->next) {
		if (l->state == RV_RFWD_LISTENING)
			(void)rv_loop_fd_set_events(l->w, 0);
		l->state = RV_RFWD_PAUSED;
	}
	rv_rfwd_arm(r);
}

static void rv_rfwd_resume(struct rv_rfwd *r)
{
	struct rv_rfwd_listener *l;

	r->paused = 0;
	for (l = r->listeners; l != NULL; l = l->next) {
		if (l->state == RV_RFWD_PAUSED)
			(void)rv_loop_fd_set_events(l->w, RV_LOOP_READ);
		l->state = RV_RFWD_LISTENING;
	}
}

/* ---- SOCKS front ------------------------------------------------------ */

static void rv_rfwd_socks_free(struct rv_rfwd_socks *k, int close_fd)
{
	struct rv_rfwd *r = k->r;

	if (k->prev != NULL)
		k->prev->next = k->next;
	else
		r->socks = k->next;
	if (k->next != NULL)
		k->next->prev = k->prev;
	r->nsocks--;
	rv_loop_fd_del(k->w);
	if (close_fd && k->fd >= 0)
		close(k->fd);
	rv_buf_cleanup(&k->in);
	rv_buf_cleanup(&k->out);
	free(k);
}

/* Send what out holds; 0 when all of it went, -1 on error or a short
 * write (replies before the stream are a few bytes: no queueing). */
static int rv_rfwd_socks_flush(struct rv_rfwd_socks *k)
{
	ssize_t n;

	if (rv_buf_len(&k->out) == 0)
		return 0;
	n = send(k->fd, rv_buf_ptr(&k->out), rv_buf_len(&k->out), MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n < 0 || (size_t)n != rv_buf_len(&k->out))
		return -1;
	rv_buf_reset(&k->out);
	return 0;
}

static void rv_rfwd_socks_io(struct rv_loop_fd *w, int fd, unsigned ev, void *arg)
{
	struct rv_rfwd_socks *k = arg;
	struct rv_rfwd *r = k->r;
	struct rv_stream *st;
	uint8_t *p;
	size_t room = RV_RFWD_SOCKS_BUF - rv_buf_len(&k->in);
	ssize_t n;
	int ret;

	(void)w;
	(void)ev;
	if (room == 0 || rv_buf_reserve(&k->in, room, &p) != RV_OK) {
		rv_rfwd_socks_free(k, 1);
		return;
	}
	n = recv(fd, p, room, MSG_DONTWAIT);
	rv_buf_unput(&k->in, room - (n > 0 ? (size_t)n : 0));
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
		rv_rfwd_socks_free(k, 1);
		return;
	}
	ret = rv_socks5_feed(&k->s, &k->in, &k->out);
	if (rv_rfwd_socks_flush(k) < 0 || (ret != RV_OK && ret != RV_ERR_NEED_MORE)) {
		rv_log_debug("%s: remote SOCKS: refused (%s)", r->name, rv_err_str(ret));
		rv_rfwd_socks_free(k, 1);
		return;
	}
	if (ret == RV_ERR_NEED_MORE)
		return;
	/* CONNECT parsed: the target goes to the client, the reply waits for
	 * its PROXY_RESPONSE.  Bytes after the request are early data. */
	rv_loop_fd_del(k->w);
	k->w = NULL;
	ret = rv_session_stream_open_remote(r->sess, k->fd, k->req, &k->s.dst, rv_buf_ptr(&k->in),
					    rv_buf_len(&k->in), (void *)&rv_rfwd_socks_tag, &st);
	if (ret != RV_OK) {
		rv_buf_reset(&k->out);
		(void)rv_socks5_build_reply(&k->out, RV_STATUS_GENERAL_FAILURE, NULL);
		(void)rv_rfwd_socks_flush(k);
		rv_rfwd_socks_free(k, 1);
		return;
	}
	if (r->hooks.stream_opened != NULL)
		r->hooks.stream_opened(r->hooks.arg);
	k->fd = -1; /* the session's now */
	rv_rfwd_socks_free(k, 0);
}

static void rv_rfwd_socks_start(struct rv_rfwd_listener *l, int fd)
{
	struct rv_rfwd *r = l->r;
	struct rv_rfwd_socks *k = calloc(1, sizeof(*k));

	if (k == NULL) {
		close(fd);
		return;
	}
	k->r = r;
	k->req = l->req;
	k->fd = fd;
	rv_socks5_init(&k->s, &rv_rfwd_socks_cfg);
	rv_buf_init(&k->in, RV_RFWD_SOCKS_BUF);
	rv_buf_init(&k->out, RV_SOCKS5_REPLY_MAX + 16);
	k->deadline = rv_loop_now_ms(r->loop) + RV_RFWD_SOCKS_TIMEOUT_MS;
	if (rv_loop_fd_add(r->loop, fd, RV_LOOP_READ, rv_rfwd_socks_io, k, &k->w) != RV_OK) {
		rv_buf_cleanup(&k->in);
		rv_buf_cleanup(&k->out);
		close(fd);
		free(k);
		return;
	}
	k->next = r->socks;
	if (r->socks != NULL)
		r->socks->prev = k;
	r->socks = k;
	r->nsocks++;
	rv_rfwd_arm(r);
}

/* ---- listeners --------------------------------------------------------- */

static void rv_rfwd_on_accept(struct rv_loop_fd *w, int fd, unsigned ev, void *arg)
{
	struct rv_rfwd_listener *l = arg;
	struct rv_rfwd *r = l->r;
	struct rv_sockaddr peer;
	struct sockaddr_storage ss;
	struct rv_addr addr;
	struct rv_stream *st;
	socklen_t sl;
	int cfd, ret;

	(void)w;
	(void)ev;
	for (int i = 0; i < RV_RFWD_ACCEPT_BATCH; i++) {
		if (!rv_rfwd_room(r) || (l->kind == RV_LISTEN_KIND_SOCKS &&
					 r->nsocks >= RV_RFWD_SOCKS_PENDING_MAX)) {
			rv_rfwd_pause(r);
			return;
		}
		sl = sizeof(ss);
		cfd = accept4(fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
				rv_rfwd_pause(r);
			return;
		}
		if (l->kind == RV_LISTEN_KIND_SOCKS) {
			rv_rfwd_socks_start(l, cfd);
			continue;
		}
		memset(&addr, 0, sizeof(addr));
		if (rv_sockaddr_from_sys(&peer, (struct sockaddr *)&ss, sl) != RV_OK ||
		    rv_sockaddr_to_addr(&peer, &addr) != RV_OK)
			addr.atyp = RV_ATYP_IPV4; /* 0.0.0.0:0: unknown */
		ret = rv_session_stream_open_remote(r->sess, cfd, l->req, &addr, NULL, 0, NULL, &st);
		if (ret != RV_OK) {
			rv_log_debug("%s: remote forward %s: cannot open a stream: %s", r->name,
				     l->where, rv_err_str(ret));
			close(cfd);
			if (ret == RV_ERR_LIMIT)
				rv_rfwd_pause(r);
			return;
		}
		if (r->hooks.stream_opened != NULL)
			r->hooks.stream_opened(r->hooks.arg);
	}
}

static void rv_rfwd_listener_close(struct rv_rfwd *r, struct rv_rfwd_listener *l)
{
	struct rv_rfwd_listener **pp;

	for (pp = &r->listeners; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == l) {
			*pp = l->next;
			break;
		}
	}
	r->nlisteners--;
	rv_loop_fd_del(l->w);
	close(l->fd);
	rv_log_info("%s: remote forward %s closed", r->name, l->where);
	free(l);
}

static enum rv_listen_status rv_rfwd_bind(struct rv_rfwd *r, const struct rv_frame *f,
					  uint16_t *port)
{
	const struct rv_addr *b = &f->u.listen.bind;
	struct rv_rfwd_listener *l = NULL;
	struct rv_sockaddr sa, got;
	enum rv_listen_status st = RV_LISTEN_FAILED;
	int fd = -1, one = 1, e;

	if (rv_sockaddr_from_addr(&sa, b) != RV_OK)
		return RV_LISTEN_BAD_ADDRESS;
	fd = socket(rv_sockaddr_family(&sa), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return RV_LISTEN_FAILED;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (rv_sockaddr_family(&sa) == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, &sa.u.sa, sa.len) < 0 || listen(fd, RV_RFWD_BACKLOG) < 0) {
		e = errno;
		st = e == EADDRINUSE ? RV_LISTEN_IN_USE :
		     e == EADDRNOTAVAIL || e == EAFNOSUPPORT ? RV_LISTEN_BAD_ADDRESS :
		     e == EACCES ? RV_LISTEN_DENIED : RV_LISTEN_FAILED;
		goto out;
	}
	got.len = sizeof(got.u);
	if (getsockname(fd, &got.u.sa, &got.len) < 0)
		goto out;
	l = calloc(1, sizeof(*l));
	if (l == NULL)
		goto out;
	l->r = r;
	l->req = f->u.listen.req;
	l->kind = f->u.listen.kind;
	l->fd = fd;
	l->state = r->paused ? RV_RFWD_PAUSED : RV_RFWD_LISTENING;
	*port = rv_sockaddr_port(&got);
	rv_sockaddr_str(&got, 1, l->where);
	if (rv_loop_fd_add(r->loop, fd, r->paused ? 0 : RV_LOOP_READ, rv_rfwd_on_accept, l,
			   &l->w) != RV_OK)
		goto out;
	l->next = r->listeners;
	r->listeners = l;
	r->nlisteners++;
	rv_log_info("%s: remote forward listening on %s (%s)", r->name, l->where,
		    l->kind == RV_LISTEN_KIND_SOCKS ? "SOCKS5" : "forward");
	return RV_LISTEN_OK;
out:
	free(l);
	close(fd);
	return st;
}

static const char *rv_rfwd_status_str(enum rv_listen_status st)
{
	switch (st) {
	case RV_LISTEN_OK:
		return "ok";
	case RV_LISTEN_DENIED:
		return "not permitted for this key (permit-listen)";
	case RV_LISTEN_IN_USE:
		return "address in use";
	case RV_LISTEN_LIMIT:
		return "too many listeners";
	case RV_LISTEN_BAD_ADDRESS:
		return "not a bindable address";
	default:
		return "failed";
	}
}

void rv_rfwd_on_listen(struct rv_rfwd *r, const struct rv_frame *f)
{
	struct rv_rfwd_listener *l;
	struct rv_frame a;
	char where[RV_ADDR_STRLEN];
	uint16_t port = 0;

	if (f->type == RV_FRAME_LISTEN_CLOSE) {
		for (l = r->listeners; l != NULL; l = l->next) {
			if (l->req == f->u.listen_close.req) {
				rv_rfwd_listener_close(r, l);
				break;
			}
		}
		return;
	}
	if (f->type != RV_FRAME_LISTEN)
		return;
	memset(&a, 0, sizeof(a));
	a.type = RV_FRAME_LISTEN_RESPONSE;
	a.u.listen_response.req = f->u.listen.req;
	rv_addr_str(&f->u.listen.bind, where, sizeof(where));
	if (r->nlisteners >= RV_LISTENERS_MAX_DEFAULT)
		a.u.listen_response.status = RV_LISTEN_LIMIT;
	else if (f->u.listen.bind.atyp != RV_ATYP_IPV4 && f->u.listen.bind.atyp != RV_ATYP_IPV6)
		a.u.listen_response.status = RV_LISTEN_BAD_ADDRESS;
	else if (rv_permit_listen_check(&r->perm, &f->u.listen.bind) != RV_OK)
		a.u.listen_response.status = RV_LISTEN_DENIED;
	else
		a.u.listen_response.status = rv_rfwd_bind(r, f, &port);
	a.u.listen_response.port = a.u.listen_response.status == RV_LISTEN_OK ? port : 0;
	if (a.u.listen_response.status != RV_LISTEN_OK)
		rv_log_warn("%s: remote forward on %s refused: %s", r->name, where,
			    rv_rfwd_status_str(a.u.listen_response.status));
	(void)rv_session_send_listen(r->sess, &a);
}

void rv_rfwd_on_stream_response(struct rv_rfwd *r, struct rv_stream *st, enum rv_status status,
				const struct rv_addr *bound)
{
	struct rv_buf out;

	(void)r;
	if (rv_stream_get_user(st) != &rv_rfwd_socks_tag)
		return;
	rv_buf_init(&out, RV_SOCKS5_REPLY_MAX);
	if (rv_socks5_build_reply(&out, status, status == RV_STATUS_OK ? bound : NULL) == RV_OK)
		(void)rv_stream_write_local(st, rv_buf_ptr(&out), rv_buf_len(&out));
	rv_buf_cleanup(&out);
}

/* ---- life cycle --------------------------------------------------------- */

static void rv_rfwd_on_timer(struct rv_loop_timer *t, void *arg)
{
	struct rv_rfwd *r = arg;
	struct rv_rfwd_socks *k, *next;
	uint64_t now = rv_loop_now_ms(r->loop);

	(void)t;
	for (k = r->socks; k != NULL; k = next) {
		next = k->next;
		if (now >= k->deadline) {
			rv_log_debug("%s: remote SOCKS: negotiation timed out", r->name);
			rv_rfwd_socks_free(k, 1);
		}
	}
	if (r->paused && rv_rfwd_room(r))
		rv_rfwd_resume(r);
	rv_rfwd_arm(r);
}

int rv_rfwd_new(struct rv_loop *loop, struct rv_session *sess, const struct rv_permit_listen *perm,
		const char *name, const struct rv_rfwd_hooks *hooks, struct rv_rfwd **out)
{
	struct rv_rfwd *r;
	int rc;

	if (loop == NULL || sess == NULL || perm == NULL || out == NULL)
		return RV_ERR_INVALID_ARG;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return RV_ERR_NOMEM;
	r->loop = loop;
	r->sess = sess;
	r->perm = *perm;
	if (hooks != NULL)
		r->hooks = *hooks;
	snprintf(r->name, sizeof(r->name), "client %s", name != NULL ? name : "?");
	rc = rv_loop_timer_new(loop, rv_rfwd_on_timer, r, &r->timer);
	if (rc != RV_OK) {
		free(r);
		return rc;
	}
	*out = r;
	return RV_OK;
}

void rv_rfwd_free(struct rv_rfwd *r)
{
	if (r == NULL)
		return;
	while (r->listeners != NULL)
		rv_rfwd_listener_close(r, r->listeners);
	while (r->socks != NULL)
		rv_rfwd_socks_free(r->socks, 1);
	rv_loop_timer_free(r->timer);
	free(r);
}

void rv_rfwd_close_listeners(struct rv_rfwd *r, enum rv_listen_close_reason reason)
{
	struct rv_frame f;

	if (r == NULL)
		return;
	while (r->listeners != NULL) {
		memset(&f, 0, sizeof(f));
		f.type = RV_FRAME_LISTEN_CLOSE;
		f.u.listen_close.req = r->listeners->req;
		f.u.listen_close.reason = reason;
		(void)rv_session_send_listen(r->sess, &f);
		rv_rfwd_listener_close(r, r->listeners);
	}
	while (r->socks != NULL)
		rv_rfwd_socks_free(r->socks, 1);
}

unsigned rv_rfwd_listener_count(const struct rv_rfwd *r)
{
	return r == NULL ? 0 : r->nlisteners;
}
