/* udp.c - SOCKS5 UDP ASSOCIATE and -L udp over the tunnel's datagrams
 * (see udp.h). */
#include "udp.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "conn.h"
#include "rv_addr.h"
#include "rv_err.h"
#include "rv_log.h"
#include "rv_socks5.h"
#include "rv_socks5_udp.h"
#include "tunnel.h"

enum {
	RV_UDP_SWEEP_MS = 1000,       /* idle, wait and linger checks */
	RV_UDP_READ_BATCH = 64,       /* datagrams per readiness callback */
	RV_UDP_DNS_PORT = 53,
	RV_UDP_DNS_IDLE_MAX_S = 10,   /* -L udp to port 53: one query, one answer */
	/* Receive buffer: the largest UDP payload plus a SOCKS header. */
	RV_UDP_BUF = RV_SOCKS5_UDP_HEADER_MAX + RV_SOCKS5_UDP_PAYLOAD_MAX + 1,
};

enum rv_udp_kind {
	RV_UDP_KIND_INVALID = 0,
	RV_UDP_SOCKS = 1,
	RV_UDP_FORWARD = 2,
};

enum rv_udp_state {
	RV_UDP_STATE_INVALID = 0,
	RV_UDP_WAITING = 1, /* SOCKS: no tunnel yet */
	RV_UDP_OPEN = 2,
	RV_UDP_CLOSING = 3, /* SOCKS: refusal written, waiting for EOF */
};

struct rv_udp_fwd;

struct rv_udp_assoc {
	struct rv_udp *u;
	enum rv_udp_kind kind;
	enum rv_udp_state state;
	uint32_t id;             /* on the session of generation gen; 0: none */
	uint64_t gen;
	uint64_t last_ms;        /* last datagram either way (or start) */
	uint64_t deadline_ms;    /* WAITING / CLOSING: give up then */
	uint32_t idle_ms;
	/* FORWARD: the source; SOCKS: the app's address (IP from the control
	 * connection; the port once known). */
	struct sockaddr_storage src;
	socklen_t src_len;
	int src_port_known;
	/* SOCKS: control connection and relay socket (owned). */
	int ctl_fd;
	struct rv_loop_fd *ctl_w;
	int fd;
	struct rv_loop_fd *w;
	/* FORWARD: its socket (not owned). */
	struct rv_udp_fwd *fwd;
	char peer[RV_CLI_ADDRSTR_MAX];
	struct rv_udp_assoc *prev, *next; /* u->head: most recently used first */
};

/* One -L udp socket. */
struct rv_udp_fwd {
	struct rv_udp *u;
	int fd;
	struct rv_loop_fd *w;
	struct rv_addr target;
	uint32_t idle_ms;
	char name[RV_CLI_ADDRSTR_MAX];
	struct rv_udp_fwd *next;
};

struct rv_udp {
	struct rv_client *cl;
	struct rv_udp_assoc *head, *tail;
	size_t n_assoc;
	struct rv_udp_fwd *fwds;
	struct rv_loop_timer *sweep;
	/* Session generation: bumped on every session up; ids restart. */
	uint64_t gen;
	struct rv_session *session;
	uint32_t next_id;
	uint64_t warned_gen;     /* "the server does not offer UDP" logged */
	struct rv_udp_stats st;
	struct rv_client_ratelog log_refused, log_drop;
	uint8_t *buf;            /* RV_UDP_BUF */
};

/* ---- addresses ---------------------------------------------------- */

/* ::ffff:a.b.c.d (a dual-stack listener) as plain IPv4. */
static void rv_udp_unmap(struct sockaddr_storage *ss, socklen_t *len)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
	struct sockaddr_in s4;

	if (ss->ss_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
		return;
	memset(&s4, 0, sizeof(s4));
	s4.sin_family = AF_INET;
	s4.sin_port = s6->sin6_port;
	memcpy(&s4.sin_addr, &s6->sin6_addr.s6_addr[12], 4);
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, &s4, sizeof(s4));
	*len = sizeof(s4);
}

static int rv_udp_same_ip(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return 0;
	if (a->ss_family == AF_INET)
		return memcmp(&((const struct sockaddr_in *)a)->sin_addr,
			      &((const struct sockaddr_in *)b)->sin_addr, 4) == 0;
	if (a->ss_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
			      &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
	return 0;
}

static uint16_t rv_udp_port(const struct sockaddr_storage *a)
{
	return a->ss_family == AF_INET ? ntohs(((const struct sockaddr_in *)a)->sin_port) :
					 ntohs(((const struct sockaddr_in6 *)a)->sin6_port);
}

static int rv_udp_same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	return rv_udp_same_ip(a, b) && rv_udp_port(a) == rv_udp_port(b);
}

static void rv_udp_to_rv_addr(const struct sockaddr_storage *ss, struct rv_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;

		rv_addr_set_ipv4(out, (const uint8_t *)&s4->sin_addr, ntohs(s4->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

		rv_addr_set_ipv6(out, s6->sin6_addr.s6_addr, ntohs(s6->sin6_port));
	}
}

/* ---- the association list (LRU) ------------------------------------ */

static void rv_udp_unlink(struct rv_udp_assoc *a)
{
	struct rv_udp *u = a->u;

	if (a->prev != NULL)
		a->prev->next = a->next;
	else
		u->head = a->next;
	if (a->next != NULL)
		a->next->prev = a->prev;
	else
		u->tail = a->prev;
	a->prev = a->next = NULL;
}

static void rv_udp_push_front(struct rv_udp_assoc *a)
{
	struct rv_udp *u = a->u;

	a->prev = NULL;
	a->next = u->head;
	if (u->head != NULL)
		u->head->prev = a;
	else
		u->tail = a;
	u->head = a;
}

static void rv_udp_touch(struct rv_udp_assoc *a)
{
	a->last_ms = rv_loop_now_ms(a->u->cl->loop);
	if (a->u->head != a) {
		rv_udp_unlink(a);
		rv_udp_push_front(a);
	}
}

/* The session this association's id belongs to, if it is still the
 * current one and up; else NULL. */
static struct rv_session *rv_udp_session_of(const struct rv_udp_assoc *a)
{
	struct rv_udp *u = a->u;
	struct rv_session *s = rv_tunnel_session(u->cl->tunnel);

	if (a->id == 0 || a->gen != u->gen || s == NULL || s != u->session)
		return NULL;
	return s;
}

/* Frees a; tells the session (DATAGRAM_CLOSE reason) when reason != 0
 * and the association still lives there. */
static void rv_udp_assoc_free(struct rv_udp_assoc *a, uint8_t reason)
{
	struct rv_udp *u = a->u;
	struct rv_session *s = reason != 0 ? rv_udp_session_of(a) : NULL;

	if (s != NULL)
		(void)rv_session_datagram_close(s, a->id, reason);
	rv_udp_unlink(a);
	u->n_assoc--;
	u->st.assoc_active = u->n_assoc;
	rv_loop_fd_del(a->w);
	rv_loop_fd_del(a->ctl_w);
	if (a->fd >= 0)
		close(a->fd);
	if (a->ctl_fd >= 0)
		close(a->ctl_fd);
	free(a);
}

static struct rv_udp_assoc *rv_udp_assoc_new(struct rv_udp *u, enum rv_udp_kind kind)
{
	struct rv_udp_assoc *a = calloc(1, sizeof(*a));

	if (a == NULL)
		return NULL;
	a->u = u;
	a->kind = kind;
	a->fd = -1;
	a->ctl_fd = -1;
	a->last_ms = rv_loop_now_ms(u->cl->loop);
	a->idle_ms = u->cl->opts->udp_idle_s * 1000u;
	rv_udp_push_front(a);
	u->n_assoc++;
	u->st.assoc_active = u->n_assoc;
	return a;
}

/* An id on the current session (which must be up). */
static void rv_udp_assoc_bind(struct rv_udp_assoc *a)
{
	struct rv_udp *u = a->u;

	a->gen = u->gen;
	a->id = u->next_id++;
}

static void rv_udp_log_drop(struct rv_udp *u, const char *what, const char *peer)
{
	uint64_t n;

	if (rv_client_ratelog(u->cl, &u->log_drop, &n))
		rv_log_debug("udp %s: datagram dropped: %s (%llu more drops since the last "
			     "message)", peer, what, (unsigned long long)n);
}

/* ---- to the tunnel --------------------------------------------------- */

/* One datagram of association a to dst. */
static void rv_udp_send_up(struct rv_udp_assoc *a, const struct rv_addr *dst,
			   const uint8_t *data, size_t len)
{
	struct rv_udp *u = a->u;
	struct rv_session *s = rv_udp_session_of(a);
	int ret;

	if (s == NULL) {
		u->st.dropped_no_tunnel++;
		return;
	}
	if (len > RV_DATAGRAM_MAX) {
		u->st.dropped_bad++;
		rv_udp_log_drop(u, "larger than a tunnel datagram (16384 bytes)", a->peer);
		return;
	}
	ret = rv_session_datagram_send(s, a->id, dst, data, len);
	if (ret == RV_OK) {
		u->st.dgram_up++;
		u->st.bytes_up += len;
		rv_udp_touch(a);
	} else if (ret == RV_ERR_LIMIT) {
		u->st.dropped_queue++;
	} else {
		u->st.dropped_bad++;
		rv_udp_log_drop(u, rv_err_str(ret), a->peer);
	}
}

/* ---- SOCKS5 UDP ASSOCIATE ------------------------------------------- */

/* Write the reply on the control connection (at most 22 bytes into an
 * empty socket: all or nothing).  0 or -1. */
static int rv_udp_socks_reply(struct rv_udp_assoc *a, enum rv_status st,
			      const struct rv_addr *bound)
{
	uint8_t mem[RV_SOCKS5_REPLY_MAX];
	struct rv_buf b;
	ssize_t n;
	int ret = -1;

	rv_buf_init(&b, sizeof(mem));
	if (rv_socks5_build_reply(&b, st, bound) != RV_OK)
		goto out;
	do {
		n = send(a->ctl_fd, rv_buf_ptr(&b), rv_buf_len(&b), MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n == (ssize_t)rv_buf_len(&b))
		ret = 0;
out:
	rv_buf_cleanup(&b);
	return ret;
}

static void rv_udp_on_ctl_io(struct rv_loop_fd *w, int fd, unsigned ev, void *arg);

/* Refuse with a SOCKS5 reply, then wait (bounded) for the app to close;
 * at the association limit close at once (a flood must not hold more). */
static void rv_udp_socks_refuse(struct rv_udp_assoc *a, enum rv_status st, const char *why,
				int linger)
{
	struct rv_udp *u = a->u;
	uint64_t n;

	u->st.assoc_refused++;
	if (rv_client_ratelog(u->cl, &u->log_refused, &n))
		rv_log_info("socks %s: UDP ASSOCIATE refused: %s (%llu more refusals since the "
			    "last message)", a->peer, why, (unsigned long long)n);
	if (rv_udp_socks_reply(a, st, NULL) != 0 || !linger) {
		rv_udp_assoc_free(a, 0);
		return;
	}
	shutdown(a->ctl_fd, SHUT_WR);
	a->state = RV_UDP_CLOSING;
	a->deadline_ms = rv_loop_now_ms(u->cl->loop) + RV_CLIENT_LINGER_MS;
	rv_loop_fd_del(a->w);
	a->w = NULL;
	if (a->fd >= 0) {
		close(a->fd);
		a->fd = -1;
	}
}

static void rv_udp_on_socks_dgram(struct rv_loop_fd *w, int fd, unsigned ev, void *arg)
{
	struct rv_udp_assoc *a = arg;
	struct rv_udp *u = a->u;
	int i;

	(void)w;
	(void)ev;
	for (i = 0; i < RV_UDP_READ_BATCH; i++) {
		struct sockaddr_storage from;
		socklen_t flen = sizeof(from);
		struct rv_buf in;
		struct rv_addr dst;
		ssize_t n;
		int ret;

		n = recvfrom(fd, u->buf, RV_UDP_BUF, MSG_TRUNC, (struct sockaddr *)&from, &flen);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return; /* EAGAIN, or an ICMP error from an earlier send */
		}
		rv_udp_unmap(&from, &flen);
		/* RFC 1928: only from the app that asked (its IP; its port once
		 * known). */
		if (!rv_udp_same_ip(&from, &a->src) ||
		    (a->src_port_known && rv_udp_port(&from) != rv_udp_port(&a->src))) {
			u->st.dropped_bad++;
			rv_udp_log_drop(u, "not from the SOCKS client's address", a->peer);
			continue;
		}
		if (!a->src_port_known) {
			a->src = from;
			a->src_len = flen;
			a->src_port_known = 1;
		}
		if ((size_t)n > RV_UDP_BUF) {
			u->st.dropped_bad++;
			continue;
		}
		rv_buf_init_view(&in, u->buf, (size_t)n);
		ret = rv_socks5_udp_parse(&in, &dst, NULL);
		if (ret != RV_OK) {
			u->st.dropped_bad++;
			rv_udp_log_drop(u, ret == RV_ERR_UNSUPPORTED ?
					"fragmented (FRAG != 0: not reassembled) or unknown "
					"address type" : "not a valid SOCKS5 UDP header", a->peer);
			rv_buf_cleanup(&in);
			continue;
		}
		rv_udp_send_up(a, &dst, rv_buf_ptr(&in), rv_buf_len(&in));
		rv_buf_cleanup(&in);
	}
}

/* Answer a SOCKS association once the tunnel is up: open it (relay socket
 * on the control connection's local IP) or refuse it. */
static void rv_udp_socks_answer(struct rv_udp_assoc *a)
{
	struct rv_udp *u = a->u;
	struct sockaddr_storage local;
	socklen_t llen = sizeof(local);
	struct rv_addr bound;

	if (!rv_tunnel_datagram_agreed(u->cl->tunnel)) {
		rv_udp_socks_refuse(a, RV_STATUS_COMMAND_NOT_SUPPORTED,
				    "the server does not offer UDP", 1);
		return;
	}
	if (getsockname(a->ctl_fd, (struct sockaddr *)&local, &llen) != 0)
		goto fail;
	rv_udp_unmap(&local, &llen);
	if (local.ss_family == AF_INET)
		((struct sockaddr_in *)&local)->sin_port = 0;
	else
		((struct sockaddr_in6 *)&local)->sin6_port = 0;
	a->fd = socket(local.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (a->fd < 0 || bind(a->fd, (struct sockaddr *)&local, llen) != 0)
		goto fail;
	llen = sizeof(local);
	if (getsockname(a->fd, (struct sockaddr *)&local, &llen) != 0)
		goto fail;
	if (rv_loop_fd_add(u->cl->loop, a->fd, RV_LOOP_READ, rv_udp_on_socks_dgram, a, &a->w) !=
	    RV_OK)
		goto fail;
	rv_udp_to_rv_addr(&local, &bound);
	if (rv_udp_socks_reply(a, RV_STATUS_OK, &bound) != 0) {
		rv_udp_assoc_free(a, 0);
		return;
	}
	rv_udp_assoc_bind(a);
	a->state = RV_UDP_OPEN;
	rv_udp_touch(a);
	u->st.assoc_opened++;
	rv_log_debug("udp assoc %u: SOCKS %s, relay port %u", a->id, a->peer,
		     (unsigned)bound.port);
	return;
fail:
	rv_log_warn("socks %s: UDP ASSOCIATE: cannot open a relay socket: %s", a->peer,
		    strerror(errno));
	rv_udp_socks_refuse(a, RV_STATUS_GENERAL_FAILURE, "no relay socket", 1);
}

/* Control connection: anything but EOF is ignored (bounded reads). */
static void rv_udp_on_ctl_io(struct rv_loop_fd *w, int fd, unsigned ev, void *arg)
{
	struct rv_udp_assoc *a = arg;
	uint8_t sink[512];
	ssize_t n;

	(void)w;
	(void)ev;
	do {
		n = recv(fd, sink, sizeof(sink), 0);
	} while (n < 0 && errno == EINTR);
	if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)))
		return;
	if (a->state == RV_UDP_OPEN)
		rv_log_debug("udp assoc %u: SOCKS %s: control connection closed", a->id, a->peer);
	rv_udp_assoc_free(a, RV_DGRAM_CLOSE_NORMAL);
}

static int rv_udp_make_room(struct rv_udp *u);

void rv_udp_socks_take(struct rv_udp *u, int fd, const struct rv_addr *req,
		       const struct sockaddr_storage *peer_sa, const char *peer)
{
	struct rv_udp_assoc *a;
	socklen_t len = sizeof(*peer_sa);
	int room;

	if (u == NULL || u->cl->draining) {
		close(fd);
		return;
	}
	/* At the limit a -L udp source may make way; SOCKS ones never do. */
	room = rv_udp_make_room(u);
	a = rv_udp_assoc_new(u, RV_UDP_SOCKS);
	if (a == NULL) {
		close(fd);
		return;
	}
	a->ctl_fd = fd;
	a->src = *peer_sa;
	rv_udp_unmap(&a->src, &len);
	a->src_len = len;
	/* A port in the request is where the app will send from (RFC 1928). */
	if (req->port != 0) {
		if (a->src.ss_family == AF_INET)
			((struct sockaddr_in *)&a->src)->sin_port = htons(req->port);
		else
			((struct sockaddr_in6 *)&a->src)->sin6_port = htons(req->port);
		a->src_port_known = 1;
	}
	snprintf(a->peer, sizeof(a->peer), "%s", peer);
	a->state = RV_UDP_WAITING;
	a->deadline_ms = rv_loop_now_ms(u->cl->loop) + RV_CLIENT_WAIT_MS;
	if (rv_loop_fd_add(u->cl->loop, fd, RV_LOOP_READ, rv_udp_on_ctl_io, a, &a->ctl_w) !=
	    RV_OK) {
		rv_udp_assoc_free(a, 0);
		return;
	}
	if (!room) {
		rv_udp_socks_refuse(a, RV_STATUS_GENERAL_FAILURE,
				    "at the UDP association limit (--udp-max-assoc)", 0);
		return;
	}
	if (u->session != NULL && rv_tunnel_session(u->cl->tunnel) == u->session)
		rv_udp_socks_answer(a);
	/* else: answered by rv_udp_on_up or the sweep's deadline. */
}

/* ---- -L udp ---------------------------------------------------------- */

/* The server refused UDP: say so once per session. */
static int rv_udp_fwd_usable(struct rv_udp *u)
{
	if (u->session == NULL || rv_tunnel_session(u->cl->tunnel) != u->session)
		return 0;
	if (rv_tunnel_datagram_agreed(u->cl->tunnel))
		return 1;
	if (u->warned_gen != u->gen) {
		u->warned_gen = u->gen;
		rv_log_warn("-L udp: the server does not offer UDP (an older server, or started "
			    "with --no-udp): datagrams are dropped");
	}
	return 0;
}

static struct rv_udp_assoc *rv_udp_fwd_find(struct rv_udp_fwd *f,
					    const struct sockaddr_storage *from)
{
	struct rv_udp_assoc *a;

	/* Bounded by --udp-max-assoc. */
	for (a = f->u->head; a != NULL; a = a->next)
		if (a->kind == RV_UDP_FORWARD && a->fwd == f && rv_udp_same_addr(&a->src, from))
			return a;
	return NULL;
}

/* At the limit: the least recently used -L udp source goes. */
static int rv_udp_make_room(struct rv_udp *u)
{
	struct rv_udp_assoc *a;

	if (u->n_assoc < u->cl->opts->udp_max_assoc)
		return 1;
	for (a = u->tail; a != NULL; a = a->prev)
		if (a->kind == RV_UDP_FORWARD)
			break;
	if (a == NULL)
		return 0;
	rv_log_debug("udp assoc %u: -L udp source %s evicted (limit %u)", a->id, a->peer,
		     u->cl->opts->udp_max_assoc);
	u->st.assoc_evicted++;
	rv_udp_assoc_free(a, RV_DGRAM_CLOSE_NORMAL);
	return 1;
}

static void rv_udp_on_fwd_dgram(struct rv_loop_fd *w, int fd, unsigned ev, void *arg)
{
	struct rv_udp_fwd *f = arg;
	struct rv_udp *u = f->u;
	int i;

	(void)w;
	(void)ev;
	for (i = 0; i < RV_UDP_READ_BATCH; i++) {
		struct sockaddr_storage from;
		socklen_t flen = sizeof(from);
		struct rv_udp_assoc *a;
		ssize_t n;

		n = recvfrom(fd, u->buf, RV_UDP_BUF, MSG_TRUNC, (struct sockaddr *)&from, &flen);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		if (!rv_udp_fwd_usable(u)) {
			u->st.dropped_no_tunnel++;
			continue;
		}
		if ((size_t)n > RV_DATAGRAM_MAX) {
			u->st.dropped_bad++;
			rv_udp_log_drop(u, "larger than a tunnel datagram (16384 bytes)", f->name);
			continue;
		}
		a = rv_udp_fwd_find(f, &from);
		if (a == NULL) {
			if (!rv_udp_make_room(u)) {
				u->st.dropped_local++;
				continue;
			}
			a = rv_udp_assoc_new(u, RV_UDP_FORWARD);
			if (a == NULL) {
				u->st.dropped_local++;
				continue;
			}
			a->fwd = f;
			a->src = from;
			a->src_len = flen;
			a->src_port_known = 1;
			a->idle_ms = f->idle_ms;
			a->state = RV_UDP_OPEN;
			rv_cli_sockaddr_str((const struct sockaddr *)&from, a->peer, sizeof(a->peer));
			rv_udp_assoc_bind(a);
			u->st.assoc_opened++;
			rv_log_debug("udp assoc %u: -L udp %s from %s", a->id, f->name, a->peer);
		}
		rv_udp_send_up(a, &f->target, u->buf, (size_t)n);
	}
}

static int rv_udp_fwd_open(struct rv_udp *u, const struct rv_cli_forward *cf)
{
	const struct rv_cli_sockaddr *sa = &cf->bind;
	struct sockaddr_in v4;
	struct rv_udp_fwd *f;
	char tgt[RV_ADDR_STRLEN];
	int zero = 0, one = 1;

	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return RV_ERR_NOMEM;
	f->u = u;
	f->target = cf->target;
	f->idle_ms = u->cl->opts->udp_idle_s * 1000u;
	if (f->target.port == RV_UDP_DNS_PORT && f->idle_ms > RV_UDP_DNS_IDLE_MAX_S * 1000u)
		f->idle_ms = RV_UDP_DNS_IDLE_MAX_S * 1000u;
	rv_cli_sockaddr_str((const struct sockaddr *)&sa->ss, f->name, sizeof(f->name));
	f->fd = socket(sa->ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (f->fd >= 0 && sa->ss.ss_family == AF_INET6)
		(void)setsockopt(f->fd, IPPROTO_IPV6, IPV6_V6ONLY, sa->wildcard ? &zero : &one,
				 sizeof(int));
	if (f->fd < 0 && sa->wildcard && errno == EAFNOSUPPORT) {
		/* No IPv6: "every interface" is 0.0.0.0. */
		memset(&v4, 0, sizeof(v4));
		v4.sin_family = AF_INET;
		v4.sin_port = ((const struct sockaddr_in6 *)&sa->ss)->sin6_port;
		f->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (f->fd >= 0 && bind(f->fd, (struct sockaddr *)&v4, sizeof(v4)) != 0)
			goto fail;
	} else if (f->fd >= 0 && bind(f->fd, (const struct sockaddr *)&sa->ss, sa->len) != 0) {
		goto fail;
	}
	if (f->fd < 0)
		goto fail;
	if (rv_loop_fd_add(u->cl->loop, f->fd, RV_LOOP_READ, rv_udp_on_fwd_dgram, f, &f->w) !=
	    RV_OK)
		goto fail;
	f->next = u->fwds;
	u->fwds = f;
	rv_log_info("forwarding UDP %s to %s (via the server)", f->name,
		    rv_addr_str(&f->target, tgt, sizeof(tgt)));
	return RV_OK;
fail:
	rv_log_error("-L udp:%s: cannot bind: %s", f->name, strerror(errno));
	if (f->fd >= 0)
		close(f->fd);
	free(f);
	return RV_ERR_IO;
}

static void rv_udp_fwds_close(struct rv_udp *u)
{
	while (u->fwds != NULL) {
		struct rv_udp_fwd *f = u->fwds;

		u->fwds = f->next;
		rv_loop_fd_del(f->w);
		close(f->fd);
		free(f);
	}
}

/* ---- from the tunnel ------------------------------------------------- */

static struct rv_udp_assoc *rv_udp_find_id(struct rv_udp *u, struct rv_session *s,
					   uint32_t id)
{
	struct rv_udp_assoc *a;

	if (s != u->session || s == NULL || id == 0)
		return NULL;
	for (a = u->head; a != NULL; a = a->next)
		if (a->id == id && a->gen == u->gen && a->state == RV_UDP_OPEN)
			return a;
	return NULL;
}

void rv_udp_on_datagram(struct rv_client *cl, struct rv_session *s, uint32_t assoc,
			const struct rv_addr *peer, const uint8_t *data, size_t len)
{
	struct rv_udp *u = cl->udp;
	struct rv_udp_assoc *a = u != NULL ? rv_udp_find_id(u, s, assoc) : NULL;
	struct rv_buf out;
	ssize_t n;

	if (a == NULL)
		return; /* closed here already: the server learns it from our CLOSE */
	if (a->kind == RV_UDP_SOCKS) {
		/* The SOCKS5 UDP header, then the payload, in one datagram. */
		uint8_t hdr[RV_SOCKS5_UDP_HEADER_MAX];
		struct iovec iov[2];
		struct msghdr mh;

		rv_buf_init(&out, sizeof(hdr));
		if (rv_socks5_udp_build(&out, peer) != RV_OK) {
			rv_buf_cleanup(&out);
			u->st.dropped_bad++;
			return;
		}
		memcpy(hdr, rv_buf_ptr(&out), rv_buf_len(&out));
		iov[0].iov_base = hdr;
		iov[0].iov_len = rv_buf_len(&out);
		iov[1].iov_base = (void *)data;
		iov[1].iov_len = len;
		rv_buf_cleanup(&out);
		memset(&mh, 0, sizeof(mh));
		mh.msg_name = &a->src;
		mh.msg_namelen = a->src_len;
		mh.msg_iov = iov;
		mh.msg_iovlen = 2;
		do {
			n = sendmsg(a->fd, &mh, MSG_DONTWAIT);
		} while (n < 0 && errno == EINTR);
	} else {
		do {
			n = sendto(a->fwd->fd, data, len, MSG_DONTWAIT,
				   (const struct sockaddr *)&a->src, a->src_len);
		} while (n < 0 && errno == EINTR);
	}
	if (n < 0) {
		/* Full socket buffer: drop, as UDP would. */
		u->st.dropped_local++;
		return;
	}
	u->st.dgram_down++;
	u->st.bytes_down += len;
	rv_udp_touch(a);
}

void rv_udp_on_datagram_close(struct rv_client *cl, struct rv_session *s, uint32_t assoc,
			      uint8_t reason)
{
	struct rv_udp *u = cl->udp;
	struct rv_udp_assoc *a = u != NULL ? rv_udp_find_id(u, s, assoc) : NULL;

	if (a == NULL)
		return;
	if (reason == RV_DGRAM_CLOSE_LIMIT || reason == RV_DGRAM_CLOSE_DENIED)
		rv_log_rl(RV_LOG_INFO, "udp %s: the server refused the association: %s", a->peer,
			  reason == RV_DGRAM_CLOSE_LIMIT ? "its association limit is reached" :
							   "UDP is not allowed for this client");
	else
		rv_log_debug("udp assoc %u: %s: closed by the server (reason %u)", a->id, a->peer,
			     (unsigned)reason);
	rv_udp_assoc_free(a, 0);
}

/* ---- life cycle ------------------------------------------------------- */

static void rv_udp_on_sweep(struct rv_loop_timer *t, void *arg)
{
	struct rv_udp *u = arg;
	uint64_t now = rv_loop_now_ms(u->cl->loop);
	struct rv_udp_assoc *a, *next;

	for (a = u->head; a != NULL; a = next) {
		next = a->next;
		switch (a->state) {
		case RV_UDP_WAITING:
			if (now >= a->deadline_ms)
				rv_udp_socks_refuse(a, RV_STATUS_GENERAL_FAILURE,
						    "no tunnel in time", 1);
			break;
		case RV_UDP_CLOSING:
			if (now >= a->deadline_ms)
				rv_udp_assoc_free(a, 0);
			break;
		case RV_UDP_OPEN:
			if (rv_udp_session_of(a) == NULL) {
				rv_log_debug("udp assoc %u: %s: the tunnel session ended", a->id,
					     a->peer);
				rv_udp_assoc_free(a, 0);
			} else if (now - a->last_ms >= a->idle_ms) {
				rv_log_debug("udp assoc %u: %s: idle for %u s", a->id, a->peer,
					     a->idle_ms / 1000);
				rv_udp_assoc_free(a, RV_DGRAM_CLOSE_IDLE_TIMEOUT);
			}
			break;
		default:
			rv_udp_assoc_free(a, 0);
			break;
		}
	}
	rv_loop_timer_set(t, RV_UDP_SWEEP_MS);
}

void rv_udp_on_up(struct rv_udp *u)
{
	struct rv_udp_assoc *a, *next;

	if (u == NULL)
		return;
	u->gen++;
	u->session = rv_tunnel_session(u->cl->tunnel);
	u->next_id = 1;
	for (a = u->head; a != NULL; a = next) {
		next = a->next;
		if (a->state == RV_UDP_OPEN)
			rv_udp_assoc_free(a, 0); /* its session is gone or draining */
	}
	for (a = u->head; a != NULL; a = next) {
		next = a->next;
		if (a->state == RV_UDP_WAITING && u->session != NULL)
			rv_udp_socks_answer(a);
	}
	if (u->fwds != NULL && u->session != NULL)
		(void)rv_udp_fwd_usable(u);
}

int rv_udp_new(struct rv_client *cl, struct rv_udp **out)
{
	const struct rv_client_opts *o = cl->opts;
	struct rv_udp *u;
	size_t i;
	int ret = RV_ERR_NOMEM;

	*out = NULL;
	u = calloc(1, sizeof(*u));
	if (u == NULL)
		return RV_ERR_NOMEM;
	u->cl = cl;
	u->next_id = 1;
	u->buf = malloc(RV_UDP_BUF);
	if (u->buf == NULL ||
	    (ret = rv_loop_timer_new(cl->loop, rv_udp_on_sweep, u, &u->sweep)) != RV_OK)
		goto fail;
	rv_loop_timer_set(u->sweep, RV_UDP_SWEEP_MS);
	for (i = 0; i < o->n_udp_fwd; i++)
		if ((ret = rv_udp_fwd_open(u, &o->udp_fwd[i])) != RV_OK)
			goto fail;
	*out = u;
	return RV_OK;
fail:
	rv_udp_free(u);
	return ret;
}

void rv_udp_drain(struct rv_udp *u)
{
	if (u == NULL)
		return;
	rv_udp_fwds_close(u);
	while (u->head != NULL)
		rv_udp_assoc_free(u->head, RV_DGRAM_CLOSE_SHUTDOWN);
}

void rv_udp_free(struct rv_udp *u)
{
	if (u == NULL)
		return;
	rv_udp_fwds_close(u);
	while (u->head != NULL)
		rv_udp_assoc_free(u->head, 0);
	rv_loop_timer_free(u->sweep);
	free(u->buf);
	free(u);
}

void rv_udp_get_stats(const struct rv_udp *u, struct rv_udp_stats *out)
{
	if (u == NULL) {
		memset(out, 0, sizeof(*out));
		return;
	}
	*out = u->st;
}
