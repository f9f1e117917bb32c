/* listen.c - the listening socket.
 *
 * We bind it ourselves rather than through the vhost's iface: lws 4.1.6
 * opens an IPv6 socket whenever IPv6 is compiled in and writes an IPv4
 * literal into the IPv4 field of that IPv6 address (interface_to_sa), so
 * "127.0.0.1" silently became "::", every address.  Owning accept() also
 * lets us admit a connection before lws sees it (pre-auth caps, preauth.c)
 * and pause accepting when out of descriptors instead of spinning on
 * EMFILE.  Accepted sockets are adopted into the vhost (which has no
 * listener of its own: CONTEXT_PORT_NO_LISTEN_SERVER), TLS included. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rv_err.h"
#include "rv_log.h"
#include "rv_sockaddr.h"
#include "server.h"
#include "server_int.h"
#include "worker.h"

enum rv_listener_state {
	RV_LISTENER_STATE_INVALID = 0,
	RV_LISTENER_ACCEPTING = 1,
	RV_LISTENER_PAUSED = 2, /* out of descriptors: not watching for a moment */
	RV_LISTENER_DEFERRING = 3, /* workers: an idler worker should accept */
};

struct rv_listener {
	enum rv_listener_state state;
	struct rv_server *srv;
	int fd;
	struct rv_loop_fd *w;
	struct rv_loop_timer *resume;
	uint64_t pauses;        /* in this episode */
	int deferred;           /* deferred once: accept whatever is left */
	uint64_t refused_source;
};

static const char *rv_listen_peer_str(const struct sockaddr *sa, char who[RV_SOCKADDR_STRLEN])
{
	struct rv_sockaddr rsa;

	if (rv_sockaddr_from_sys(&rsa, sa, sa->sa_family == AF_INET6 ?
				 sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in)) != RV_OK)
		memset(&rsa, 0, sizeof(rsa));
	return rv_sockaddr_str(&rsa, 0, who);
}

static void rv_listen_adopt(struct rv_listener *l, int fd, const struct sockaddr *sa)
{
	struct rv_server *srv = l->srv;
	struct rv_preauth *p;
	lws_adopt_desc_t d;
	struct lws *wsi;
	char who[RV_SOCKADDR_STRLEN];
	unsigned char first;

	p = rv_preauth_admit(srv, sa);
	if (p == NULL) {
		l->refused_source++;
		rv_log_rl(RV_LOG_WARN, "%s: more than %u connections waiting to authenticate "
			  "from this source: closing the new one", rv_listen_peer_str(sa, who),
			  (unsigned)RV_PREAUTH_PER_SOURCE);
		close(fd);
		return;
	}
	/* What a TLS listener got already (lws may fail it during adoption). */
	if (srv->opts->cert_file == NULL ||
	    recv(fd, &first, 1, MSG_PEEK | MSG_DONTWAIT) != 1)
		first = 0;
	memset(&d, 0, sizeof(d));
	d.vh = srv->vh;
	d.type = LWS_ADOPT_SOCKET | LWS_ADOPT_HTTP;
	if (srv->opts->cert_file != NULL)
		d.type |= LWS_ADOPT_ALLOW_SSL;
	d.fd.sockfd = fd;
	wsi = lws_adopt_descriptor_vhost_via_info(&d); /* closes fd on failure */
	if (wsi == NULL) {
		rv_preauth_release(p);
		if (first >= 'A' && first <= 'Z')
			rv_log_rl(RV_LOG_INFO, "%s: plain HTTP (no TLS) to this wss:// listener: is "
				  "the client using ws://? it must use wss://",
				  rv_listen_peer_str(sa, who));
		else
			rv_log_rl(RV_LOG_WARN, "libwebsockets could not take a new connection");
		return;
	}
	rv_preauth_attach(p, wsi);
}

static void rv_listen_on_ready(struct rv_loop_fd *w, int fd, unsigned revents, void *arg);

static void rv_listen_on_resume(struct rv_loop_timer *t, void *arg)
{
	struct rv_listener *l = arg;

	int deferred = l->state == RV_LISTENER_DEFERRING;

	(void)t;
	l->state = RV_LISTENER_ACCEPTING;
	rv_loop_fd_set_events(l->w, RV_LOOP_READ);
	if (deferred) {
		/* Take what the idler worker left, once; if it took everything
		 * (EAGAIN) the next connection is weighed again. */
		l->deferred = 1;
		rv_listen_on_ready(l->w, l->fd, RV_LOOP_READ, l);
	}
}

static void rv_listen_pause(struct rv_listener *l, int err)
{
	if (l->pauses++ == 0)
		rv_log_warn("accept: %s: not accepting for %u ms at a time until descriptors "
			    "are free again", strerror(err), (unsigned)RV_ACCEPT_PAUSE_MS);
	l->state = RV_LISTENER_PAUSED;
	rv_loop_fd_set_events(l->w, 0);
	rv_loop_timer_set(l->resume, RV_ACCEPT_PAUSE_MS);
}

static void rv_listen_on_ready(struct rv_loop_fd *w, int fd, unsigned revents, void *arg)
{
	struct rv_listener *l = arg;
	struct sockaddr_storage ss;
	socklen_t sl;
	int i, c;

	(void)w;
	(void)fd; /* the loop's dup: accept on ours */
	(void)revents;
	/* Workers share this socket and all wake for a connection: the one
	 * holding the fewest takes it, the others step back briefly and then
	 * take what is still waiting (so a stuck worker delays nobody long). */
	for (i = 0; i < RV_ACCEPT_BATCH && l->state == RV_LISTENER_ACCEPTING; i++) {
		if (l->srv->worker != NULL && !l->deferred &&
		    rv_worker_busier(l->srv->worker, l->srv->n_preauth + l->srv->n_sessions)) {
			l->state = RV_LISTENER_DEFERRING;
			rv_loop_fd_set_events(l->w, 0);
			rv_loop_timer_set(l->resume, RV_WORKER_DEFER_MS);
			return;
		}
		sl = sizeof(ss);
		c = accept4(l->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (c < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				l->deferred = 0; /* the idler one took it */
				return;
			}
			if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				rv_listen_pause(l, errno);
				return;
			}
			rv_log_rl(RV_LOG_WARN, "accept: %s", strerror(errno));
			return;
		}
		if (l->pauses > 0) {
			rv_log_info("accepting again after %llu pause(s) for descriptors",
				    (unsigned long long)l->pauses);
			l->pauses = 0;
		}
		if (l->srv->state != RV_SERVER_RUNNING) {
			close(c);
			continue;
		}
		rv_listen_adopt(l, c, (struct sockaddr *)&ss);
	}
}

int rv_server_listen_bind(const struct rv_server_opts *o, int *out)
{
	struct rv_sockaddr sa;
	char err[160], ip[RV_SOCKADDR_STRLEN];
	int fd = -1, one = 1, zero = 0, r = RV_ERR_IO;

	if (rv_sockaddr_parse(o->listen, 0, 0, &sa, err, sizeof(err)) != RV_OK) {
		rv_log_error("-l %s: %s", o->listen, err);
		return RV_ERR_CONFIG;
	}
	rv_sockaddr_str(&sa, 0, ip);
	fd = socket(rv_sockaddr_family(&sa), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rv_log_error("cannot listen on %s: socket: %s", o->listen, strerror(errno));
		goto out;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* [::] means every address, IPv4 too, whatever the sysctl says; a
	 * specific IPv6 address means only that one. */
	if (rv_sockaddr_family(&sa) == AF_INET6) {
		int v6only = !IN6_IS_ADDR_UNSPECIFIED(&sa.u.in6.sin6_addr);

		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, v6only ? &one : &zero,
				 sizeof(one));
	}
	if (bind(fd, &sa.u.sa, sa.len) != 0) {
		if (errno == EADDRNOTAVAIL)
			rv_log_error("cannot listen on %s: the host has no address %s",
				     o->listen, ip);
		else if (errno == EADDRINUSE)
			rv_log_error("cannot listen on %s: the address is already in use "
				     "(another server is running there)", o->listen);
		else if (errno == EACCES)
			rv_log_error("cannot listen on %s: permission denied (ports below "
				     "1024 need CAP_NET_BIND_SERVICE)", o->listen);
		else
			rv_log_error("cannot listen on %s: %s", o->listen, strerror(errno));
		r = errno == EADDRNOTAVAIL ? RV_ERR_CONFIG : RV_ERR_IO;
		goto out;
	}
	if (listen(fd, SOMAXCONN) != 0) {
		rv_log_error("cannot listen on %s: %s", o->listen, strerror(errno));
		goto out;
	}
	memset(&sa, 0, sizeof(sa));
	sa.len = sizeof(sa.u);
	if (getsockname(fd, &sa.u.sa, &sa.len) != 0) {
		rv_log_error("getsockname: %s", strerror(errno));
		goto out;
	}
	rv_log_info("listening on %s (bound to %s)", o->listen, rv_sockaddr_str(&sa, 1, ip));
	*out = fd;
	fd = -1;
	r = RV_OK;
out:
	if (fd >= 0)
		close(fd);
	return r;
}

int rv_server_listen_open(struct rv_server *srv)
{
	struct rv_listener *l;
	int r;

	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return RV_ERR_NOMEM;
	l->srv = srv;
	l->fd = -1;
	srv->listener = l;
	if (srv->worker != NULL) {
		/* The supervisor bound it; every worker accepts on it.  Known
		 * idle from now on, so busier workers leave connections to us. */
		l->fd = srv->worker->listen_fd;
		srv->worker->listen_fd = -1;
		(void)rv_worker_busier(srv->worker, 0);
	} else {
		r = rv_server_listen_bind(srv->opts, &l->fd);
		if (r != RV_OK)
			return r;
	}
	r = rv_loop_timer_new(srv->loop, rv_listen_on_resume, l, &l->resume);
	if (r != RV_OK)
		return r;
	r = rv_loop_fd_add(srv->loop, l->fd, RV_LOOP_READ, rv_listen_on_ready, l, &l->w);
	if (r != RV_OK)
		return r;
	l->state = RV_LISTENER_ACCEPTING;
	return RV_OK;
}

void rv_server_listen_close(struct rv_server *srv)
{
	struct rv_listener *l = srv->listener;

	if (l == NULL)
		return;
	rv_loop_fd_del(l->w);
	rv_loop_timer_free(l->resume);
	if (l->fd >= 0)
		close(l->fd);
	free(l);
	srv->listener = NULL;
}
