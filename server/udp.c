/* udp.c - UDP associations of one session (see udp.h, PROTOCOL.md §8A).
 *
 * A datagram for a new association id (greater than every id seen) creates
 * the association; one for a smaller unknown id belongs to a closed one and
 * is dropped.  Destinations: IP literals are checked by the access rules at
 * once; names go through rv_dns (a few per association may wait; answers
 * are cached per association), and the first allowed address is used.
 * Replies are accepted only from addresses this association has sent to.
 */
#include "udp.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rv_acl.h"
#include "rv_addr.h"
#include "rv_err.h"
#include "rv_log.h"
#include "rv_sockaddr.h"
#include "server_int.h"

enum rv_udp_assoc_state {
	RV_UDP_ASSOC_INVALID = 0,
	RV_UDP_ASSOC_OPEN = 1,
	RV_UDP_ASSOC_CLOSED = 2, /* unlinked, freed at the end of the call */
};

struct rv_udp_assoc;

/* One datagram waiting for its destination name. */
struct rv_udp_pending {
	struct rv_udp_assoc *a;
	struct rv_dns_query *q;
	char name[RV_DOMAIN_MAX + 1];
	size_t len;
	struct rv_udp_pending *next;
	uint8_t data[]; /* len bytes */
};

struct rv_udp_name {
	char name[RV_DOMAIN_MAX + 1];  /* "" = unused */
	struct rv_sockaddr sa;         /* port ignored */
	uint64_t expires;
};

struct rv_udp_assoc {
	struct rv_udp *u;
	uint32_t id;
	enum rv_udp_assoc_state state;
	int fd4, fd6;
	struct rv_loop_fd *w4, *w6;
	uint64_t last_activity;
	struct rv_sockaddr peers[RV_UDP_PEERS_MAX]; /* ring of destinations */
	unsigned npeers, peer_next;
	struct rv_udp_name names[RV_UDP_NAME_CACHE];
	unsigned name_next;
	struct rv_udp_pending *pending;
	unsigned npending;
	struct rv_udp_assoc *next;
};

struct rv_udp {
	struct rv_server *srv;
	struct rv_conn *c;
	struct rv_udp_assoc *assocs;
	uint32_t n;
	uint32_t max_seen;               /* highest id seen (created or refused) */
	size_t pending_bytes;            /* payload waiting for DNS, all associations */
	struct rv_loop_timer *timer;     /* idle check */
};

static uint8_t rv_udp_rxbuf[RV_DATAGRAM_MAX + 1]; /* one loop thread */

static struct rv_udp_counters *rv_udp_ctr(struct rv_udp *u)
{
	return &u->srv->udp;
}

static uint64_t rv_udp_idle_ms(const struct rv_udp *u)
{
	return (uint64_t)u->srv->opts->udp_idle_s * 1000u;
}

static struct rv_udp_assoc *rv_udp_find(struct rv_udp *u, uint32_t id)
{
	struct rv_udp_assoc *a;

	for (a = u->assocs; a != NULL; a = a->next)
		if (a->id == id)
			return a;
	return NULL;
}

/* Earliest idle deadline; the timer is armed only while associations exist. */
static void rv_udp_arm(struct rv_udp *u)
{
	struct rv_udp_assoc *a;
	uint64_t now = rv_loop_now_ms(u->srv->loop), first = UINT64_MAX, due;

	for (a = u->assocs; a != NULL; a = a->next) {
		due = a->last_activity + rv_udp_idle_ms(u);
		if (due < first)
			first = due;
	}
	if (first == UINT64_MAX)
		rv_loop_timer_stop(u->timer);
	else
		rv_loop_timer_set(u->timer, first > now ? first - now : 0);
}

static void rv_udp_close_fd(struct rv_udp *u, int *fd, struct rv_loop_fd **w)
{
	if (*fd < 0)
		return;
	rv_loop_fd_del(*w);
	*w = NULL;
	close(*fd);
	*fd = -1;
	rv_udp_ctr(u)->fds--;
}

/* Unlink and free a; send_reason != 0 tells the client. */
static void rv_udp_assoc_close(struct rv_udp_assoc *a, uint8_t send_reason)
{
	struct rv_udp *u = a->u;
	struct rv_udp_assoc **pp;
	struct rv_udp_pending *p;

	a->state = RV_UDP_ASSOC_CLOSED;
	for (pp = &u->assocs; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == a) {
			*pp = a->next;
			break;
		}
	}
	u->n--;
	rv_udp_ctr(u)->assocs_active--;
	if (u->c->pk != NULL) {
		u->c->pk->udp_assocs--;
		(void)rv_conn_key_count(u->c, -1);
	}
	while ((p = a->pending) != NULL) {
		a->pending = p->next;
		rv_dns_cancel(p->q);
		u->pending_bytes -= p->len;
		free(p);
	}
	rv_udp_close_fd(u, &a->fd4, &a->w4);
	rv_udp_close_fd(u, &a->fd6, &a->w6);
	if (send_reason != 0 && u->c->sess != NULL)
		(void)rv_session_datagram_close(u->c->sess, a->id, send_reason);
	rv_log_debug("client %s: udp association %u closed", u->c->name, a->id);
	free(a);
}

static void rv_udp_on_timer(struct rv_loop_timer *t, void *arg)
{
	struct rv_udp *u = arg;
	struct rv_udp_assoc *a, *next;
	uint64_t now = rv_loop_now_ms(u->srv->loop);

	(void)t;
	for (a = u->assocs; a != NULL; a = next) {
		next = a->next;
		if (now - a->last_activity >= rv_udp_idle_ms(u)) {
			rv_udp_ctr(u)->assocs_idle_closed++;
			rv_udp_assoc_close(a, RV_DGRAM_CLOSE_IDLE_TIMEOUT);
		}
	}
	rv_udp_arm(u);
}

int rv_udp_new(struct rv_server *srv, struct rv_conn *c, struct rv_udp **out)
{
	struct rv_udp *u = calloc(1, sizeof(*u));
	int r;

	if (u == NULL)
		return RV_ERR_NOMEM;
	u->srv = srv;
	u->c = c;
	r = rv_loop_timer_new(srv->loop, rv_udp_on_timer, u, &u->timer);
	if (r != RV_OK) {
		free(u);
		return r;
	}
	*out = u;
	return RV_OK;
}

void rv_udp_free(struct rv_udp *u)
{
	if (u == NULL)
		return;
	while (u->assocs != NULL)
		rv_udp_assoc_close(u->assocs, 0);
	rv_loop_timer_free(u->timer);
	free(u);
}

uint32_t rv_udp_count(const struct rv_udp *u)
{
	return u == NULL ? 0 : u->n;
}

/* ---- replies ----------------------------------------------------------- */

static int rv_udp_peer_known(const struct rv_udp_assoc *a, const struct rv_sockaddr *sa)
{
	unsigned i;

	for (i = 0; i < a->npeers; i++)
		if (rv_sockaddr_equal(&a->peers[i], sa))
			return 1;
	return 0;
}

static void rv_udp_peer_add(struct rv_udp_assoc *a, const struct rv_sockaddr *sa)
{
	if (rv_udp_peer_known(a, sa))
		return;
	a->peers[a->peer_next] = *sa;
	a->peer_next = (a->peer_next + 1) % RV_UDP_PEERS_MAX;
	if (a->npeers < RV_UDP_PEERS_MAX)
		a->npeers++;
}

static void rv_udp_on_readable(struct rv_loop_fd *w, int fd, unsigned revents, void *arg)
{
	struct rv_udp_assoc *a = arg;
	struct rv_udp *u = a->u;
	struct rv_udp_counters *k = rv_udp_ctr(u);
	struct sockaddr_storage ss;
	struct rv_sockaddr src;
	struct rv_addr from;
	socklen_t sl;
	ssize_t n;
	int i, r;

	(void)w;
	(void)revents;
	for (i = 0; i < RV_UDP_READS_PER_EVENT; i++) {
		sl = sizeof(ss);
		n = recvfrom(fd, rv_udp_rxbuf, sizeof(rv_udp_rxbuf), MSG_TRUNC,
			     (struct sockaddr *)&ss, &sl);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			/* EAGAIN, or an ICMP error queued for an earlier send:
			 * UDP has no connection to lose. */
			return;
		}
		if (rv_sockaddr_from_sys(&src, (struct sockaddr *)&ss, sl) != RV_OK ||
		    !rv_udp_peer_known(a, &src)) {
			k->dropped_foreign++;
			continue;
		}
		if ((size_t)n > RV_DATAGRAM_MAX || rv_sockaddr_to_addr(&src, &from) != RV_OK) {
			k->dropped_send++;
			continue;
		}
		r = rv_session_datagram_send(u->c->sess, a->id, &from, rv_udp_rxbuf, (size_t)n);
		if (r != RV_OK) {
			k->dropped_send++; /* the session counts queue drops too */
			continue;
		}
		a->last_activity = rv_loop_now_ms(u->srv->loop);
		k->dgrams_in++;
		k->bytes_in += (uint64_t)n;
	}
}

/* ---- sending ----------------------------------------------------------- */

static int rv_udp_socket(struct rv_udp_assoc *a, int family)
{
	struct rv_udp *u = a->u;
	int *fd = family == AF_INET ? &a->fd4 : &a->fd6;
	struct rv_loop_fd **w = family == AF_INET ? &a->w4 : &a->w6;
	int one = 1;

	if (*fd >= 0)
		return *fd;
	*fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
	if (*fd < 0)
		return -1;
	if (family == AF_INET6)
		(void)setsockopt(*fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (rv_loop_fd_add(u->srv->loop, *fd, RV_LOOP_READ, rv_udp_on_readable, a, w) != RV_OK) {
		close(*fd);
		*fd = -1;
		return -1;
	}
	rv_udp_ctr(u)->fds++;
	return *fd;
}

/* Access rules, then sendto; every failure is a counted drop. */
static void rv_udp_send_to(struct rv_udp_assoc *a, const struct rv_sockaddr *sa,
			   const uint8_t *data, size_t len)
{
	struct rv_udp *u = a->u;
	struct rv_udp_counters *k = rv_udp_ctr(u);
	char where[RV_SOCKADDR_STRLEN];
	const char *rule = NULL;
	int fd;

	if (rv_acl_check(u->srv->opts->acl, sa, &rule) != RV_OK) {
		k->dropped_denied++;
		rv_log_rl(RV_LOG_INFO, "client %s: udp datagram to %s denied (%s)", u->c->name,
			  rv_sockaddr_str(sa, 1, where), rule != NULL ? rule : "invalid");
		return;
	}
	fd = rv_udp_socket(a, rv_sockaddr_family(sa));
	if (fd < 0 || sendto(fd, data, len, 0, &sa->u.sa, sa->len) < 0) {
		k->dropped_send++;
		rv_log_rl(RV_LOG_INFO, "client %s: udp datagram to %s not sent: %s", u->c->name,
			  rv_sockaddr_str(sa, 1, where), strerror(errno));
		return;
	}
	rv_udp_peer_add(a, sa);
	a->last_activity = rv_loop_now_ms(u->srv->loop);
	k->dgrams_out++;
	k->bytes_out += len;
}

static const struct rv_udp_name *rv_udp_name_find(struct rv_udp_assoc *a, const char *name)
{
	uint64_t now = rv_loop_now_ms(a->u->srv->loop);
	unsigned i;

	for (i = 0; i < RV_UDP_NAME_CACHE; i++)
		if (a->names[i].name[0] != '\0' && a->names[i].expires > now &&
		    strcasecmp(a->names[i].name, name) == 0)
			return &a->names[i];
	return NULL;
}

static void rv_udp_name_put(struct rv_udp_assoc *a, const char *name,
			    const struct rv_sockaddr *sa, uint32_t ttl_s)
{
	struct rv_udp_name *e = &a->names[a->name_next];
	uint64_t ttl = (uint64_t)ttl_s * 1000u;

	if (ttl == 0)
		return;
	a->name_next = (a->name_next + 1) % RV_UDP_NAME_CACHE;
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->sa = *sa;
	e->expires = rv_loop_now_ms(a->u->srv->loop) +
		     (ttl < RV_UDP_NAME_TTL_MS ? ttl : RV_UDP_NAME_TTL_MS);
}

static void rv_udp_on_resolved(void *arg, const struct rv_dns_result *res)
{
	struct rv_udp_pending *p = arg, **pp;
	struct rv_udp_assoc *a = p->a;
	struct rv_udp *u = a->u;
	struct rv_sockaddr addrs[RV_DNS_MAX_ADDRS];
	size_t n = 0;

	for (pp = &a->pending; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	}
	a->npending--;
	u->pending_bytes -= p->len;
	if (res->status == RV_STATUS_OK) {
		n = res->n < RV_DNS_MAX_ADDRS ? res->n : RV_DNS_MAX_ADDRS;
		memcpy(addrs, res->addrs, n * sizeof(addrs[0]));
		if (rv_acl_filter(u->srv->opts->acl, addrs, n) == 0) {
			/* every address denied: judge (and count) the first */
			rv_udp_send_to(a, &res->addrs[0], p->data, p->len);
		} else {
			rv_udp_name_put(a, p->name, &addrs[0], res->ttl_s);
			rv_udp_send_to(a, &addrs[0], p->data, p->len);
		}
	} else {
		rv_udp_ctr(u)->dropped_resolve++;
		rv_log_rl(RV_LOG_INFO, "client %s: udp destination name not resolved: %s",
			  u->c->name, res->detail != NULL ? res->detail : "failed");
	}
	free(p);
}

static void rv_udp_send_named(struct rv_udp_assoc *a, const struct rv_addr *dst,
			      const uint8_t *data, size_t len)
{
	struct rv_udp_counters *k = rv_udp_ctr(a->u);
	const struct rv_udp_name *e = rv_udp_name_find(a, dst->domain);
	struct rv_udp_pending *p;
	struct rv_sockaddr sa;

	if (e != NULL) {
		sa = e->sa;
		rv_sockaddr_set_port(&sa, dst->port);
		rv_udp_send_to(a, &sa, data, len);
		return;
	}
	if (a->npending >= RV_UDP_PENDING_MAX ||
	    a->u->pending_bytes + len > RV_UDP_PENDING_BYTES) {
		k->dropped_pending++;
		return;
	}
	p = calloc(1, sizeof(*p) + len);
	if (p == NULL) {
		k->dropped_pending++;
		return;
	}
	p->a = a;
	p->len = len;
	if (len > 0)
		memcpy(p->data, data, len);
	snprintf(p->name, sizeof(p->name), "%s", dst->domain);
	if (rv_dns_resolve(a->u->srv->dns, dst->domain, dst->port, rv_udp_on_resolved, p, &p->q) !=
	    RV_OK) {
		free(p);
		k->dropped_pending++;
		return;
	}
	p->next = a->pending;
	a->pending = p;
	a->npending++;
	a->u->pending_bytes += len;
	/* Waiting counts as activity: the answer (or its failure) comes within
	 * the resolver's timeout, well inside the idle time. */
	a->last_activity = rv_loop_now_ms(a->u->srv->loop);
}

/* ---- from the session ---------------------------------------------------- */

/* A new association, or 0 after refusing it (CLOSE(LIMIT) sent). */
static struct rv_udp_assoc *rv_udp_assoc_new(struct rv_udp *u, uint32_t id)
{
	struct rv_server *srv = u->srv;
	struct rv_perkey *pk = u->c->pk;
	struct rv_udp_assoc *a = NULL;
	const char *why = NULL;

	u->max_seen = id;
	if (u->n >= srv->opts->udp_max_assoc)
		why = "association limit (--udp-max-assoc)";
	else if (pk != NULL && rv_conn_key_count(u->c, 0) >= srv->opts->max_streams_per_key)
		why = "per-key limit (--max-streams-per-key)";
	else if (!rv_conn_fd_room(srv))
		why = "descriptor budget";
	else if ((a = calloc(1, sizeof(*a))) == NULL)
		why = "out of memory";
	if (why != NULL) {
		srv->udp.assocs_refused++;
		rv_log_rl(RV_LOG_INFO, "client %s: udp association %u refused: %s", u->c->name, id,
			  why);
		(void)rv_session_datagram_close(u->c->sess, id, RV_DGRAM_CLOSE_LIMIT);
		return NULL;
	}
	a->u = u;
	a->id = id;
	a->state = RV_UDP_ASSOC_OPEN;
	a->fd4 = a->fd6 = -1;
	a->last_activity = rv_loop_now_ms(srv->loop);
	a->next = u->assocs;
	u->assocs = a;
	u->n++;
	if (pk != NULL) {
		pk->udp_assocs++;
		(void)rv_conn_key_count(u->c, 1);
	}
	srv->udp.assocs_active++;
	srv->udp.assocs_total++;
	rv_log_debug("client %s: udp association %u opened", u->c->name, id);
	rv_udp_arm(u);
	return a;
}

void rv_udp_on_datagram(struct rv_udp *u, uint32_t assoc, const struct rv_addr *dst,
			const uint8_t *data, size_t len)
{
	struct rv_udp_assoc *a = rv_udp_find(u, assoc);
	struct rv_sockaddr sa;

	if (a == NULL) {
		if (assoc <= u->max_seen) {
			u->srv->udp.dropped_closed++;
			return;
		}
		a = rv_udp_assoc_new(u, assoc);
		if (a == NULL) {
			u->srv->udp.dropped_closed++;
			return;
		}
	}
	if (dst->atyp == RV_ATYP_DOMAIN) {
		rv_udp_send_named(a, dst, data, len);
		return;
	}
	if (rv_sockaddr_from_addr(&sa, dst) != RV_OK) {
		u->srv->udp.dropped_send++;
		return;
	}
	rv_udp_send_to(a, &sa, data, len);
}

void rv_udp_on_close(struct rv_udp *u, uint32_t assoc, uint8_t reason)
{
	struct rv_udp_assoc *a = rv_udp_find(u, assoc);

	(void)reason;
	if (assoc > u->max_seen)
		u->max_seen = assoc; /* retired before use */
	if (a != NULL) {
		rv_udp_assoc_close(a, 0);
		rv_udp_arm(u);
	}
}
