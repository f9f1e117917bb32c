/* conn.c - local connections of rvpn-client: the bounded wait for the
 * tunnel, stream open, SOCKS reply from PROXY_RESPONSE (see conn.h). */
#include "conn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rv_addr.h"
#include "rv_err.h"
#include "rv_http_proxy.h"
#include "rv_log.h"
#include "rv_session.h"
#include "tunnel.h"

static const char *rv_conn_kind_str(const struct rv_conn *c)
{
	if (c->kind == RV_CONN_FORWARD)
		return "forward";
	if (c->kind == RV_CONN_HTTP_LEG)
		return "http";
	switch (c->proto) {
	case RV_CONN_PROTO_SOCKS4:
		return "socks4";
	case RV_CONN_PROTO_HTTP:
	case RV_CONN_PROTO_CONNECT:
		return "http";
	default:
		return "socks";
	}
}

/* rv_addr_str escapes: a SOCKS domain may hold any byte. */
static void rv_conn_dst_str(const struct rv_conn *c, char *out, size_t len)
{
	if (c->nego != NULL)
		rv_addr_str(&c->nego->dst, out, len);
	else
		snprintf(out, len, "?");
}

static const char *rv_conn_status_str(enum rv_status st)
{
	switch (st) {
	case RV_STATUS_OK:
		return "succeeded";
	case RV_STATUS_GENERAL_FAILURE:
		return "general failure";
	case RV_STATUS_NOT_ALLOWED:
		return "not allowed by the server's access rules (--allow/--deny)";
	case RV_STATUS_NET_UNREACHABLE:
		return "network unreachable";
	case RV_STATUS_HOST_UNREACHABLE:
		return "host unreachable / name does not resolve";
	case RV_STATUS_CONNECTION_REFUSED:
		return "connection refused";
	case RV_STATUS_TTL_EXPIRED:
		return "timed out (no answer from the destination)";
	case RV_STATUS_COMMAND_NOT_SUPPORTED:
		return "command not supported";
	case RV_STATUS_ATYP_NOT_SUPPORTED:
		return "address type not supported";
	default:
		return "unknown status";
	}
}

static void rv_conn_unwait(struct rv_conn *c)
{
	struct rv_client *cl = c->cl;
	struct rv_conn **pp;

	if (!c->in_wait)
		return;
	for (pp = &cl->wait_head; *pp != NULL; pp = &(*pp)->wait_next) {
		if (*pp == c) {
			*pp = c->wait_next;
			break;
		}
	}
	cl->wait_tail = NULL;
	for (pp = &cl->wait_head; *pp != NULL; pp = &(*pp)->wait_next)
		cl->wait_tail = *pp;
	c->wait_next = NULL;
	c->in_wait = 0;
	cl->n_waiting--;
}

void rv_conn_nego_link(struct rv_conn *c)
{
	struct rv_client *cl = c->cl;

	c->nego_next = NULL;
	c->nego_prev = cl->nego_tail;
	if (cl->nego_tail != NULL)
		cl->nego_tail->nego_next = c;
	else
		cl->nego_head = c;
	cl->nego_tail = c;
	c->in_nego = 1;
}

void rv_conn_nego_unlink(struct rv_conn *c)
{
	struct rv_client *cl = c->cl;

	if (!c->in_nego)
		return;
	if (c->nego_prev != NULL)
		c->nego_prev->nego_next = c->nego_next;
	else
		cl->nego_head = c->nego_next;
	if (c->nego_next != NULL)
		c->nego_next->nego_prev = c->nego_prev;
	else
		cl->nego_tail = c->nego_prev;
	c->nego_prev = c->nego_next = NULL;
	c->in_nego = 0;
}

void rv_conn_free(struct rv_conn *c)
{
	struct rv_client *cl;

	if (c == NULL)
		return;
	cl = c->cl;
	if (c->relay != NULL)
		rv_http_relay_free(c); /* may free a leg of ours: before unlinking c */
	if (c->leg_of != NULL) {
		struct rv_http_relay *r = c->leg_of;

		c->leg_of = NULL;
		rv_http_relay_leg_gone(r);
	}
	rv_conn_unwait(c);
	rv_conn_nego_unlink(c);
	rv_loop_fd_del(c->w);
	rv_loop_timer_free(c->timer);
	if (c->fd >= 0)
		close(c->fd);
	if (c->st != NULL)
		rv_stream_set_user(c->st, NULL);
	rv_buf_cleanup(&c->in);
	rv_buf_cleanup(&c->out);
	free(c->nego);
	if (c->http != NULL) {
		rv_http_request_wipe(c->http);
		free(c->http);
	}
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		cl->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	cl->n_conns--;
	if (c->counted_open)
		cl->n_open--;
	free(c);
}

static void rv_conn_on_timer(struct rv_loop_timer *t, void *arg);

/* One warning per RV_CLIENT_FLOOD_LOG_MS with the counts since the last. */
static void rv_conn_flood_log(struct rv_client *cl)
{
	uint64_t now = rv_loop_now_ms(cl->loop);

	if (cl->flood_logged_ms != 0 && now - cl->flood_logged_ms < RV_CLIENT_FLOOD_LOG_MS)
		return;
	cl->flood_logged_ms = now;
	rv_log_warn("local connections at the limit (%d pending): %llu unfinished SOCKS "
		    "negotiation(s) closed to make room, %llu new connection(s) refused",
		    RV_CLIENT_MAX_LOCAL_CONNS, (unsigned long long)cl->n_evicted,
		    (unsigned long long)cl->n_refused);
	cl->n_evicted = cl->n_refused = 0;
}

/* 1 if a pending slot is free (maybe by evicting the oldest negotiating
 * connection), 0 if the new connection must be refused. */
static int rv_conn_make_room(struct rv_client *cl)
{
	if (cl->n_conns - cl->n_open < RV_CLIENT_MAX_LOCAL_CONNS)
		return 1;
	if (cl->nego_head == NULL) {
		cl->n_refused++;
		rv_conn_flood_log(cl);
		return 0;
	}
	rv_log_debug("socks %s: evicted (still negotiating at the pending limit)",
		     cl->nego_head->peer);
	rv_conn_free(cl->nego_head);
	cl->n_evicted++;
	rv_conn_flood_log(cl);
	return 1;
}

void rv_conn_accept(struct rv_client *cl, int fd, enum rv_conn_kind kind,
		    const struct rv_addr *target, const char *peer, const struct sockaddr *sa,
		    socklen_t salen)
{
	struct rv_conn *c;

	if (cl->draining) {
		close(fd);
		return;
	}
	if (kind == RV_CONN_SOCKS && cl->socks_cfg.require_auth &&
	    rv_authlimit_blocked(&cl->authlimit, sa, peer)) {
		close(fd);
		return;
	}
	if (!rv_conn_make_room(cl)) {
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		close(fd);
		return;
	}
	c->cl = cl;
	c->kind = kind;
	c->fd = fd;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	c->nego = calloc(1, sizeof(*c->nego));
	if (c->nego == NULL) {
		free(c);
		close(fd);
		return;
	}
	if (salen > 0 && salen <= sizeof(c->nego->peer_sa))
		memcpy(&c->nego->peer_sa, sa, salen);
	rv_buf_init(&c->in, RV_FRAME_DATA_MAX);
	rv_buf_init(&c->out, RV_CONN_OUT_MAX);
	c->next = cl->conns;
	if (cl->conns != NULL)
		cl->conns->prev = c;
	cl->conns = c;
	cl->n_conns++;
	if (rv_loop_timer_new(cl->loop, rv_conn_on_timer, c, &c->timer) != RV_OK) {
		rv_conn_free(c);
		return;
	}
	if (kind == RV_CONN_FORWARD) {
		c->nego->dst = *target;
		rv_conn_start_stream(c);
		return;
	}
	c->state = RV_CONN_NEGOTIATING;
	rv_conn_nego_link(c);
	rv_loop_timer_set(c->timer, RV_CLIENT_SOCKS_TIMEOUT_MS);
	if (rv_mixed_start(c) != RV_OK)
		rv_conn_free(c);
}

void rv_conn_set_open(struct rv_conn *c, int open)
{
	if (open && !c->counted_open)
		c->cl->n_open++;
	else if (!open && c->counted_open)
		c->cl->n_open--;
	c->counted_open = open != 0;
}

int rv_conn_new_leg(struct rv_client *cl, int fd, const struct rv_addr *dst,
		    const char *peer, struct rv_http_relay *relay, struct rv_conn **out)
{
	struct rv_conn *c;

	*out = NULL;
	if (!rv_conn_make_room(cl)) {
		close(fd);
		return RV_ERR_LIMIT;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		close(fd);
		return RV_ERR_NOMEM;
	}
	c->cl = cl;
	c->kind = RV_CONN_HTTP_LEG;
	c->fd = fd;
	c->nego = calloc(1, sizeof(*c->nego));
	if (c->nego == NULL) {
		free(c);
		close(fd);
		return RV_ERR_NOMEM;
	}
	c->nego->dst = *dst;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	rv_buf_init(&c->in, RV_FRAME_DATA_MAX);
	rv_buf_init(&c->out, RV_CONN_OUT_MAX);
	c->next = cl->conns;
	if (cl->conns != NULL)
		cl->conns->prev = c;
	cl->conns = c;
	cl->n_conns++;
	if (rv_loop_timer_new(cl->loop, rv_conn_on_timer, c, &c->timer) != RV_OK) {
		rv_conn_free(c);
		return RV_ERR_NOMEM;
	}
	c->leg_of = relay;
	*out = c;
	return RV_OK;
}

int rv_conn_read(struct rv_conn *c)
{
	/* Through the stack: a greeting is a few bytes, and reserving a
	 * whole chunk in c->in held 4 KiB per negotiating connection (the
	 * peak of 10,000 streams opened at once). */
	uint8_t chunk[RV_CONN_READ_CHUNK];
	size_t want = rv_buf_room(&c->in);
	ssize_t n;

	if (want == 0)
		return 0;
	if (want > sizeof(chunk))
		want = sizeof(chunk);
	do {
		n = recv(c->fd, chunk, want, 0);
	} while (n < 0 && errno == EINTR);
	if (n > 0)
		return rv_buf_put(&c->in, chunk, (size_t)n) == RV_OK ? 1 : -1;
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	return -1;
}

int rv_conn_flush(struct rv_conn *c)
{
	while (rv_buf_len(&c->out) > 0) {
		ssize_t n = send(c->fd, rv_buf_ptr(&c->out), rv_buf_len(&c->out), MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0)
			return -1;
		(void)rv_buf_consume(&c->out, (size_t)n);
	}
	return 1;
}

/* CLOSING: flush the reply, shut our side, wait for the peer's EOF (a close
 * with unread input would send RST and could destroy the reply). */
static void rv_conn_on_closing_io(struct rv_loop_fd *w, int fd, unsigned ev, void *arg)
{
	struct rv_conn *c = arg;
	uint8_t sink[1024];
	int r;

	(void)w;
	r = rv_conn_flush(c);
	if (r < 0) {
		rv_conn_free(c);
		return;
	}
	if (r == 0) {
		(void)rv_loop_fd_set_events(c->w, RV_LOOP_WRITE);
		return;
	}
	if (ev & RV_LOOP_WRITE) {
		shutdown(fd, SHUT_WR);
		(void)rv_loop_fd_set_events(c->w, RV_LOOP_READ);
	}
	if (ev & (RV_LOOP_READ | RV_LOOP_ERROR)) {
		ssize_t n = recv(fd, sink, sizeof(sink), 0);

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
			rv_conn_free(c);
	}
}

void rv_conn_fail(struct rv_conn *c, enum rv_status status, const char *why)
{
	char dst[RV_ADDR_STRLEN];

	rv_conn_dst_str(c, dst, sizeof(dst));
	rv_log_debug("%s %s -> %s: %s", rv_conn_kind_str(c), c->peer,
		     c->nego != NULL && c->nego->dst.atyp != RV_ATYP_INVALID ? dst : "?", why);
	rv_conn_unwait(c);
	rv_conn_nego_unlink(c);
	rv_http_relay_free(c); /* a relay ends here: no more relaying */
	if (c->kind == RV_CONN_HTTP_LEG) {
		/* The relay answers its client; the leg itself just goes. */
		struct rv_http_relay *r = c->leg_of;
		int down = c->state == RV_CONN_WAITING;

		c->leg_of = NULL;
		rv_conn_free(c);
		if (r != NULL)
			rv_http_relay_leg_response(r, status == RV_STATUS_OK ?
						   RV_STATUS_GENERAL_FAILURE : status, down);
		return;
	}
	if (c->fd < 0) {
		rv_conn_free(c);
		return;
	}
	if (c->replied) {
		/* The program was told "connected": a reset, so it does not
		 * take the close for an empty answer. */
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };

		(void)setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		rv_conn_free(c);
		return;
	}
	if (status != RV_STATUS_OK &&
	    (c->state == RV_CONN_WAITING || c->state == RV_CONN_CONNECTING))
		(void)rv_mixed_build_reply(c, status, NULL, c->state == RV_CONN_WAITING, &c->out);
	rv_conn_set_open(c, 0);
	c->state = RV_CONN_CLOSING;
	rv_loop_fd_del(c->w);
	c->w = NULL;
	if (rv_loop_fd_add(c->cl->loop, c->fd, RV_LOOP_WRITE, rv_conn_on_closing_io, c, &c->w) !=
	    RV_OK) {
		rv_conn_free(c);
		return;
	}
	rv_loop_timer_set(c->timer, RV_CLIENT_LINGER_MS);
}

static void rv_conn_early_end(struct rv_conn *c);

static void rv_conn_on_timer(struct rv_loop_timer *t, void *arg)
{
	struct rv_conn *c = arg;

	(void)t;
	switch (c->state) {
	case RV_CONN_NEGOTIATING:
		rv_conn_fail(c, RV_STATUS_OK, "SOCKS negotiation timed out");
		break;
	case RV_CONN_RELAY:
		rv_http_relay_on_timer(c);
		break;
	case RV_CONN_EARLY:
		rv_conn_early_end(c); /* the app is silent: the request goes alone */
		break;
	case RV_CONN_WAITING:
		rv_log_info("%s %s: gave up after waiting %d ms for the tunnel",
			    rv_conn_kind_str(c), c->peer, RV_CLIENT_WAIT_MS);
		rv_conn_fail(c, RV_STATUS_GENERAL_FAILURE, "tunnel not available");
		break;
	default:
		rv_conn_free(c);
		break;
	}
}

static void rv_conn_wait(struct rv_conn *c)
{
	struct rv_client *cl = c->cl;
	uint64_t now = rv_loop_now_ms(cl->loop);

	if (c->state != RV_CONN_WAITING) {
		if (c->wait_deadline == 0)
			c->wait_deadline = now + RV_CLIENT_WAIT_MS;
		c->state = RV_CONN_WAITING;
		/* Not watched while waiting: early data stays in the socket. */
		rv_loop_fd_del(c->w);
		c->w = NULL;
	}
	if (now >= c->wait_deadline) {
		rv_conn_on_timer(c->timer, c);
		return;
	}
	rv_loop_timer_set(c->timer, c->wait_deadline - now);
	if (!c->in_wait) {
		c->in_wait = 1;
		c->wait_next = NULL;
		if (cl->wait_tail != NULL)
			cl->wait_tail->wait_next = c;
		else
			cl->wait_head = c;
		cl->wait_tail = c;
		cl->n_waiting++;
	}
}

/* The success reply for the conn's protocol, ahead of any relayed data. */
static int rv_conn_reply_ok(struct rv_conn *c, const struct rv_addr *bound)
{
	struct rv_buf rb;
	int r;

	rv_buf_init(&rb, RV_CONN_OUT_MAX);
	r = rv_mixed_build_reply(c, RV_STATUS_OK, bound, 0, &rb);
	if (r == RV_OK)
		r = rv_stream_write_local(c->st, rv_buf_ptr(&rb), rv_buf_len(&rb));
	rv_buf_cleanup(&rb);
	return r;
}

/* The bound address of an optimistic reply: nothing is bound yet. */
static void rv_conn_unbound(struct rv_addr *a)
{
	static const uint8_t any4[4];

	rv_addr_set_ipv4(a, any4, 0);
}

/* --optimistic (PROTOCOL.md §7.2): a -D request is answered now, with
 * 0.0.0.0:0 as the bound address, and the stream sends what the program
 * writes before PROXY_RESPONSE; a -L stream sends early too.  HTTP relay
 * legs wait for the response (the relay answers per request). */
static void rv_conn_go_optimistic(struct rv_conn *c)
{
	struct rv_addr none;

	if (!c->cl->opts->optimistic || (c->kind != RV_CONN_SOCKS && c->kind != RV_CONN_FORWARD))
		return;
	/* A forward's app may speak first; a SOCKS app waits for our reply. */
	if (rv_stream_set_optimistic(c->st, c->kind == RV_CONN_FORWARD) != RV_OK ||
	    c->kind != RV_CONN_SOCKS || c->replied)
		return;
	rv_conn_unbound(&none);
	/* Failing here leaves the reply to on_stream_response. */
	if (rv_conn_reply_ok(c, &none) == RV_OK)
		c->replied = 1;
}

/* 1 if the stream is open (or the conn is gone), 0 if it must keep waiting. */
static int rv_conn_try_open(struct rv_conn *c)
{
	struct rv_session *s = rv_tunnel_session(c->cl->tunnel);
	char dst[RV_ADDR_STRLEN];
	int ret;

	if (s == NULL)
		return 0;
	ret = rv_session_stream_open(s, c->fd, &c->nego->dst, rv_buf_ptr(&c->in), rv_buf_len(&c->in),
				     c, &c->st);
	if (ret == RV_ERR_LIMIT || ret == RV_ERR_CLOSED)
		return 0;
	if (ret != RV_OK) {
		rv_conn_fail(c, RV_STATUS_GENERAL_FAILURE, rv_err_str(ret));
		return 1;
	}
	rv_conn_unwait(c);
	rv_loop_timer_stop(c->timer);
	/* The stream took the fd over, with its place in the loop. */
	rv_loop_fd_del(c->w);
	c->w = NULL;
	c->fd = -1;
	c->state = RV_CONN_CONNECTING;
	rv_conn_dst_str(c, dst, sizeof(dst));
	rv_log_debug("stream %u: %s %s -> %s: connecting", rv_stream_id(c->st),
		     rv_conn_kind_str(c), c->peer, dst);
	rv_conn_go_optimistic(c);
	return 1;
}

/* RV_CONN_EARLY ends: the app wrote, closed, or stayed silent for
 * RV_CLIENT_EARLY_MS.  What it wrote (c->in) goes with the request. */
static void rv_conn_early_end(struct rv_conn *c)
{
	rv_loop_timer_stop(c->timer);
	if (!rv_conn_try_open(c))
		rv_conn_wait(c);
}

static void rv_conn_on_early_io(struct rv_loop_fd *w, int fd, unsigned ev, void *arg)
{
	struct rv_conn *c = arg;

	(void)w;
	(void)fd;
	(void)ev;
	/* Bytes, or an end (EOF, reset) the stream will read again: either
	 * way the request goes now.  Nothing (a spurious wake): keep waiting. */
	if (rv_conn_read(c) != 0)
		rv_conn_early_end(c);
}

/* --optimistic, -D: the success reply goes now, and the stream's request
 * waits (at most RV_CLIENT_EARLY_MS) for the program's first bytes so that
 * they go in the same message: one message and one wake-up of the server
 * fewer per connection, as ss-local does.  Not when the bytes are here
 * already (pipelined) or the tunnel is down (the reply then waits for a
 * session, as without --optimistic).  1 if the conn is in EARLY now (or
 * gone), 0 to open at once. */
static int rv_conn_early_start(struct rv_conn *c)
{
	struct rv_loop_fd *w = NULL;
	struct rv_addr none;

	if (!c->cl->opts->optimistic || c->kind != RV_CONN_SOCKS || c->replied ||
	    rv_buf_len(&c->in) > 0 || rv_buf_len(&c->out) > 0 ||
	    rv_tunnel_session(c->cl->tunnel) == NULL)
		return 0;
	rv_conn_unbound(&none);
	if (rv_mixed_build_reply(c, RV_STATUS_OK, &none, 0, &c->out) != RV_OK) {
		rv_buf_reset(&c->out);
		return 0;
	}
	/* A few bytes into a socket that has sent at most a greeting's
	 * reply: all of it goes, or the app is gone. */
	c->replied = 1;
	if (rv_conn_flush(c) != 1) {
		rv_conn_fail(c, RV_STATUS_GENERAL_FAILURE, "cannot write the reply");
		return 1;
	}
	/* The loop hands the fd's registration to the new watcher. */
	if (rv_loop_fd_add(c->cl->loop, c->fd, RV_LOOP_READ, rv_conn_on_early_io, c, &w) != RV_OK)
		return 0; /* open now; go_optimistic sees the reply is out */
	rv_loop_fd_del(c->w);
	c->w = w;
	c->state = RV_CONN_EARLY;
	rv_loop_timer_set(c->timer, RV_CLIENT_EARLY_MS);
	return 1;
}

void rv_conn_start_stream(struct rv_conn *c)
{
	rv_conn_nego_unlink(c);
	if (rv_conn_early_start(c))
		return;
	/* c->w stays until the stream has the fd: the loop hands the fd's
	 * registration over instead of removing and adding it. */
	if (!rv_conn_try_open(c))
		rv_conn_wait(c);
}

void rv_conn_dispatch_waiting(struct rv_client *cl)
{
	while (cl->wait_head != NULL) {
		struct rv_conn *c = cl->wait_head;

		if (!rv_conn_try_open(c))
			return;
		if (cl->wait_head == c) /* failed and freed would have unlinked it */
			rv_conn_unwait(c);
	}
}

void rv_conn_free_all(struct rv_client *cl)
{
	while (cl->conns != NULL)
		rv_conn_free(cl->conns);
}

void rv_conn_drain(struct rv_client *cl)
{
	struct rv_conn *c;

	/* Restart after every change: failing a relay's leg may close or
	 * free the relay's conn, which can be the next one in the list.
	 * Each restart follows a state change, so this ends. */
restart:
	for (c = cl->conns; c != NULL; c = c->next) {
		if (c->state == RV_CONN_NEGOTIATING) {
			rv_conn_free(c);
			goto restart;
		}
		if (c->state == RV_CONN_WAITING || c->state == RV_CONN_EARLY) {
			rv_conn_fail(c, RV_STATUS_GENERAL_FAILURE, "the client is shutting down");
			goto restart;
		}
		if (c->state == RV_CONN_RELAY && rv_http_relay_drain(c))
			goto restart;
	}
}

void rv_conn_on_stream_response(struct rv_stream *st, enum rv_status status,
				const struct rv_addr *bound)
{
	struct rv_conn *c = rv_stream_get_user(st);
	char dst[RV_ADDR_STRLEN], bnd[RV_ADDR_STRLEN];
	char why[96];
	int fd;

	if (c == NULL)
		return;
	rv_conn_dst_str(c, dst, sizeof(dst));
	if (status == RV_STATUS_OK) {
		c->state = RV_CONN_OPEN;
		rv_conn_set_open(c, 1);
		/* Open: neither is needed again (an open conn ends in
		 * on_stream_closed), and 10,000 idle streams carry neither. */
		free(c->nego);
		c->nego = NULL;
		rv_loop_timer_free(c->timer);
		c->timer = NULL;
		/* Early data now belongs to the stream; an open conn holds no
		 * buffer memory (thousands of idle streams). */
		rv_buf_cleanup(&c->in);
		rv_buf_init(&c->in, RV_FRAME_DATA_MAX);
		if (rv_buf_len(&c->out) == 0) {
			rv_buf_cleanup(&c->out);
			rv_buf_init(&c->out, RV_CONN_OUT_MAX);
		}
		rv_addr_str(bound, bnd, sizeof(bnd));
		rv_log_debug("stream %u: %s %s -> %s: open (server bound %s)", rv_stream_id(st),
			     rv_conn_kind_str(c), c->peer, dst, bnd);
		if (c->kind == RV_CONN_HTTP_LEG) {
			if (c->leg_of != NULL)
				rv_http_relay_leg_response(c->leg_of, RV_STATUS_OK, 0);
			return;
		}
		if (c->kind != RV_CONN_SOCKS || c->replied)
			return;
		if (rv_conn_reply_ok(c, bound) != RV_OK)
			rv_stream_reset(st, RV_RESET_LOCAL_ERROR);
		return;
	}
	if (c->cl->stop != 0)
		return; /* shutting down: the session closes the fd */
	fd = rv_stream_detach_fd(st);
	if (fd < 0)
		return;
	rv_stream_set_user(st, NULL);
	c->st = NULL;
	c->fd = fd;
	if (rv_stream_retryable(st) && !c->cl->draining) {
		rv_log_debug("stream %u: %s -> %s: tunnel lost before the answer, waiting for it "
			     "again", rv_stream_id(st), c->peer, dst);
		rv_conn_wait(c);
		return;
	}
	/* At the default level: otherwise a refused -L looks like a dead port.
	 * Limited: a local program can open failing streams in a loop. */
	rv_log_rl(RV_LOG_INFO, "%s %s -> %s: the server could not open it: %s",
		  rv_conn_kind_str(c), c->peer, dst, rv_conn_status_str(status));
	/* Our own graceful close, so the reply is not lost to an RST. */
	snprintf(why, sizeof(why), "stream %u: %s (status %d)", rv_stream_id(st),
		 rv_conn_status_str(status), (int)status);
	rv_conn_fail(c, status, why);
}

void rv_conn_on_stream_closed(struct rv_stream *st)
{
	struct rv_conn *c = rv_stream_get_user(st);
	struct rv_client *cl;
	uint64_t up = 0, down = 0;

	if (c == NULL)
		return;
	cl = c->cl;
	rv_stream_get_counts(st, &up, &down);
	if (c->state == RV_CONN_OPEN)
		rv_log_debug("stream %u: %s closed (%llu bytes up, %llu down%s)", rv_stream_id(st),
			     c->peer, (unsigned long long)up, (unsigned long long)down,
			     rv_stream_reset_reason(st) != RV_RESET_INVALID ? ", reset" : "");
	c->st = NULL;
	rv_conn_free(c);
	/* A stream slot is free: waiting connections may go. */
	if (cl->wait_head != NULL && cl->stop == 0)
		rv_conn_dispatch_waiting(cl);
}
