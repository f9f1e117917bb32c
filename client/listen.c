/* listen.c - -D / -L listening sockets and accept (see listen.h). */
#include "listen.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "rv_addr.h"
#include "rv_err.h"
#include "rv_log.h"

enum {
	RV_LISTEN_BACKLOG = 512,
	RV_LISTEN_ACCEPT_BATCH = 64,  /* per readiness callback */
	RV_LISTEN_PAUSE_MS = 500,     /* after EMFILE/ENFILE */
};

struct rv_listener {
	struct rv_client *cl;
	enum rv_conn_kind kind;
	int fd;
	struct rv_loop_fd *w;
	struct rv_loop_timer *pause;
	struct rv_addr target; /* -L */
	char name[RV_CLI_ADDRSTR_MAX];
	struct rv_listener *next;
};

static void rv_listener_resume(struct rv_loop_timer *t, void *arg)
{
	struct rv_listener *l = arg;

	(void)t;
	(void)rv_loop_fd_set_events(l->w, RV_LOOP_READ);
}

static void rv_listener_on_accept(struct rv_loop_fd *w, int fd, unsigned ev, void *arg)
{
	struct rv_listener *l = arg;
	struct sockaddr_storage ss;
	char peer[RV_CLI_ADDRSTR_MAX];
	int i;

	(void)w;
	(void)ev;
	for (i = 0; i < RV_LISTEN_ACCEPT_BATCH; i++) {
		socklen_t len = sizeof(ss);
		int c = accept4(fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				/* Level-triggered: pause rather than spin. */
				rv_log_warn("%s: accept: %s; pausing %d ms", l->name,
					    strerror(errno), RV_LISTEN_PAUSE_MS);
				(void)rv_loop_fd_set_events(l->w, 0);
				rv_loop_timer_set(l->pause, RV_LISTEN_PAUSE_MS);
			}
			return;
		}
		rv_cli_sockaddr_str((struct sockaddr *)&ss, peer, sizeof(peer));
		rv_conn_accept(l->cl, c, l->kind, l->kind == RV_CONN_FORWARD ? &l->target : NULL,
			       peer, (const struct sockaddr *)&ss, len);
	}
}

static int rv_listener_open(struct rv_client *cl, const struct rv_cli_sockaddr *sa,
			    enum rv_conn_kind kind, const struct rv_addr *target)
{
	struct rv_listener *l;
	struct rv_cli_sockaddr v4;
	char tgt[RV_ADDR_STRLEN];
	int fd = -1, one = 1, zero = 0, ret = RV_ERR_IO;

	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return RV_ERR_NOMEM;
	l->cl = cl;
	l->kind = kind;
	l->fd = -1;
	if (target != NULL)
		l->target = *target;
	rv_cli_sockaddr_str((const struct sockaddr *)&sa->ss, l->name, sizeof(l->name));
	fd = socket(sa->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 && sa->wildcard && errno == EAFNOSUPPORT) {
		/* No IPv6 on this machine: "every interface" is 0.0.0.0. */
		struct sockaddr_in *s4 = (struct sockaddr_in *)&v4.ss;

		memset(&v4, 0, sizeof(v4));
		s4->sin_family = AF_INET;
		s4->sin_addr.s_addr = htonl(INADDR_ANY);
		s4->sin_port = ((const struct sockaddr_in6 *)&sa->ss)->sin6_port;
		v4.len = sizeof(*s4);
		sa = &v4;
		rv_cli_sockaddr_str((const struct sockaddr *)&sa->ss, l->name, sizeof(l->name));
		fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	}
	if (fd < 0) {
		rv_log_error("%s %s: socket: %s", kind == RV_CONN_SOCKS ? "-D" : "-L", l->name,
			     strerror(errno));
		goto fail;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* Accepted sockets inherit it (Linux): no setsockopt per connection. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (sa->ss.ss_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, sa->wildcard ? &zero : &one,
				 sizeof(int));
	if (bind(fd, (const struct sockaddr *)&sa->ss, sa->len) != 0 ||
	    listen(fd, RV_LISTEN_BACKLOG) != 0) {
		rv_log_error("%s %s: cannot listen: %s", kind == RV_CONN_SOCKS ? "-D" : "-L",
			     l->name, strerror(errno));
		goto fail;
	}
	l->fd = fd;
	fd = -1;
	if ((ret = rv_loop_timer_new(cl->loop, rv_listener_resume, l, &l->pause)) != RV_OK ||
	    (ret = rv_loop_fd_add(cl->loop, l->fd, RV_LOOP_READ, rv_listener_on_accept, l,
				  &l->w)) != RV_OK)
		goto fail;
	l->next = cl->listeners;
	cl->listeners = l;
	if (kind == RV_CONN_SOCKS)
		rv_log_info("proxy (SOCKS5, SOCKS4/4a, HTTP; PAC at /proxy.pac) listening on %s%s",
			    l->name, cl->socks_cfg.require_auth ?
			    " (username/password required; SOCKS4 refused)" : "");
	else
		rv_log_info("forwarding %s to %s (via the server)", l->name,
			    rv_addr_str(&l->target, tgt, sizeof(tgt)));
	return RV_OK;
fail:
	if (fd >= 0)
		close(fd);
	if (l->fd >= 0)
		close(l->fd);
	rv_loop_timer_free(l->pause);
	free(l);
	return ret == RV_OK ? RV_ERR_IO : ret;
}

int rv_listeners_open(struct rv_client *cl)
{
	const struct rv_client_opts *o = cl->opts;
	size_t i;
	int ret;

	for (i = 0; i < o->n_socks; i++)
		if ((ret = rv_listener_open(cl, &o->socks[i], RV_CONN_SOCKS, NULL)) != RV_OK)
			return ret;
	for (i = 0; i < o->n_fwd; i++)
		if ((ret = rv_listener_open(cl, &o->fwd[i].bind, RV_CONN_FORWARD,
					    &o->fwd[i].target)) != RV_OK)
			return ret;
	return RV_OK;
}

void rv_listeners_close(struct rv_client *cl)
{
	while (cl->listeners != NULL) {
		struct rv_listener *l = cl->listeners;

		cl->listeners = l->next;
		rv_loop_fd_del(l->w);
		rv_loop_timer_free(l->pause);
		close(l->fd);
		free(l);
	}
}
