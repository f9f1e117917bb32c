/* rv_dns.c - c-ares on rv_loop, lookup coalescing, TTL cache.
 * Owner: server-libs.
 *
 * Structure: a query (caller's handle) waits on a lookup (one c-ares
 * ares_getaddrinfo per name in flight).  When the lookup completes, its
 * waiters get copies of the result and move to the ready list; a 0 ms
 * timer delivers the ready list.  User callbacks therefore never run
 * inside c-ares or inside rv_dns_resolve, which keeps re-entrancy simple.
 */
#include "rv_dns.h"

#include <ares.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rv_err.h"
#include "rv_log.h"

enum rv_dns_query_state {
	RV_DNS_Q_WAITING = 1,    /* on a lookup's waiter list */
	RV_DNS_Q_READY = 2,      /* result attached, on the ready list */
	RV_DNS_Q_DELIVERING = 3, /* callback running; freed afterwards */
};

enum { RV_DNS_BUCKETS = 256 };

struct rv_dns_lookup;

struct rv_dns_query {
	struct rv_dns *dns;
	enum rv_dns_query_state state;
	struct rv_dns_lookup *lk; /* WAITING only */
	struct rv_dns_query *prev, *next;
	uint16_t port;
	rv_dns_cb cb;
	void *arg;
	struct rv_dns_result res;
	struct rv_sockaddr addrs[RV_DNS_MAX_ADDRS];
};

struct rv_dns_lookup {
	struct rv_dns *dns;
	char name[RV_DNS_NAME_MAX + 1];
	struct rv_dns_lookup *prev, *next; /* in-flight list */
	struct rv_dns_query *waiters;
	int orphaned; /* resolver being destroyed: just free on callback */
};

struct rv_dns_entry {
	char name[RV_DNS_NAME_MAX + 1];
	uint32_t hash;
	enum rv_status status;
	int err;
	const char *detail;
	struct rv_sockaddr addrs[RV_DNS_MAX_ADDRS]; /* port 0 */
	size_t n;
	uint64_t expires_ms;
	struct rv_dns_entry *hnext;
	struct rv_dns_entry *lru_prev, *lru_next; /* head = most recent */
};

struct rv_dns_sock {
	struct rv_dns *dns;
	int fd;
	struct rv_loop_fd *w;
	struct rv_dns_sock *next;
};

struct rv_dns {
	struct rv_loop *loop;
	ares_channel ch;
	int ch_ok;
	int lib_ok;
	struct rv_loop_timer *ares_timer, *deliver_timer;
	struct rv_dns_sock *socks;
	struct rv_dns_lookup *inflight;
	struct rv_dns_query *ready_head, *ready_tail;
	size_t ready_count;
	struct rv_dns_entry *buckets[RV_DNS_BUCKETS];
	struct rv_dns_entry *lru_head, *lru_tail;
	size_t cache_count, cache_max;
	uint32_t max_ttl_s, neg_ttl_s;
	int delivering, free_pending;
	struct rv_dns_stats st;
};

/* ---- small helpers -------------------------------------------------- */

static uint32_t name_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

/* Lower-case, drop one trailing dot, check LDH-ish syntax (underscores are
 * allowed: they exist in real names).  Returns 0 or RV_ERR_INVALID_ARG. */
static int name_normalize(const char *in, char out[RV_DNS_NAME_MAX + 1])
{
	size_t len = strlen(in), i, label = 0;

	if (len > 0 && in[len - 1] == '.')
		len--;
	if (len == 0 || len > RV_DNS_NAME_MAX)
		return RV_ERR_INVALID_ARG;
	for (i = 0; i < len; i++) {
		char c = in[i];

		if (c == '.') {
			if (label == 0)
				return RV_ERR_INVALID_ARG;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
			   c == '_') {
			label++;
		} else if (c >= 'A' && c <= 'Z') {
			c = (char)(c - 'A' + 'a');
			label++;
		} else {
			return RV_ERR_INVALID_ARG;
		}
		if (label > 63)
			return RV_ERR_INVALID_ARG;
		out[i] = c;
	}
	out[len] = '\0';
	return RV_OK;
}

/* norm is name or ends in "." name (RFC 6761 special-use names). */
static int name_under(const char *norm, const char *name)
{
	size_t n = strlen(norm), m = strlen(name);

	if (n == m)
		return strcmp(norm, name) == 0;
	return n > m && norm[n - m - 1] == '.' && strcmp(norm + n - m, name) == 0;
}

static void ready_push(struct rv_dns *dns, struct rv_dns_query *q)
{
	q->state = RV_DNS_Q_READY;
	q->lk = NULL;
	q->next = NULL;
	q->prev = dns->ready_tail;
	if (dns->ready_tail != NULL)
		dns->ready_tail->next = q;
	else
		dns->ready_head = q;
	dns->ready_tail = q;
	dns->ready_count++;
	rv_loop_timer_set(dns->deliver_timer, 0);
}

static void ready_unlink(struct rv_dns *dns, struct rv_dns_query *q)
{
	if (q->prev != NULL)
		q->prev->next = q->next;
	else
		dns->ready_head = q->next;
	if (q->next != NULL)
		q->next->prev = q->prev;
	else
		dns->ready_tail = q->prev;
	q->prev = q->next = NULL;
	dns->ready_count--;
}

static void waiter_unlink(struct rv_dns_query *q)
{
	if (q->prev != NULL)
		q->prev->next = q->next;
	else
		q->lk->waiters = q->next;
	if (q->next != NULL)
		q->next->prev = q->prev;
	q->prev = q->next = NULL;
	q->lk = NULL;
}

/* Fill q's result from addresses without port (or a failure). */
static void query_set_result(struct rv_dns_query *q, enum rv_status status, int err,
			     const char *detail, const struct rv_sockaddr *addrs, size_t n,
			     uint32_t ttl_s, int from_cache)
{
	size_t i;

	for (i = 0; i < n && i < RV_DNS_MAX_ADDRS; i++) {
		q->addrs[i] = addrs[i];
		rv_sockaddr_set_port(&q->addrs[i], q->port);
	}
	q->res.status = status;
	q->res.err = err;
	q->res.detail = detail;
	q->res.addrs = q->addrs;
	q->res.n = i;
	q->res.ttl_s = ttl_s;
	q->res.from_cache = from_cache;
	if (status != RV_STATUS_OK)
		q->dns->st.failures++;
}

/* ---- cache ---------------------------------------------------------- */

static void lru_unlink(struct rv_dns *dns, struct rv_dns_entry *e)
{
	if (e->lru_prev != NULL)
		e->lru_prev->lru_next = e->lru_next;
	else
		dns->lru_head = e->lru_next;
	if (e->lru_next != NULL)
		e->lru_next->lru_prev = e->lru_prev;
	else
		dns->lru_tail = e->lru_prev;
	e->lru_prev = e->lru_next = NULL;
}

static void lru_push_front(struct rv_dns *dns, struct rv_dns_entry *e)
{
	e->lru_prev = NULL;
	e->lru_next = dns->lru_head;
	if (dns->lru_head != NULL)
		dns->lru_head->lru_prev = e;
	else
		dns->lru_tail = e;
	dns->lru_head = e;
}

static void cache_remove(struct rv_dns *dns, struct rv_dns_entry *e)
{
	struct rv_dns_entry **pp = &dns->buckets[e->hash % RV_DNS_BUCKETS];

	while (*pp != NULL && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp == e)
		*pp = e->hnext;
	lru_unlink(dns, e);
	dns->cache_count--;
	free(e);
}

static struct rv_dns_entry *cache_find(struct rv_dns *dns, const char *name)
{
	uint32_t h = name_hash(name);
	struct rv_dns_entry *e = dns->buckets[h % RV_DNS_BUCKETS];
	uint64_t now = rv_loop_now_ms(dns->loop);

	for (; e != NULL; e = e->hnext) {
		if (e->hash != h || strcmp(e->name, name) != 0)
			continue;
		if (now >= e->expires_ms) {
			cache_remove(dns, e);
			return NULL;
		}
		lru_unlink(dns, e);
		lru_push_front(dns, e);
		return e;
	}
	return NULL;
}

static void cache_put(struct rv_dns *dns, const char *name, enum rv_status status, int err,
		      const char *detail, const struct rv_sockaddr *addrs, size_t n,
		      uint32_t ttl_s)
{
	struct rv_dns_entry *e;
	uint32_t h;

	if (dns->cache_max == 0 || ttl_s == 0)
		return;
	e = cache_find(dns, name);
	if (e != NULL)
		cache_remove(dns, e);
	while (dns->cache_count >= dns->cache_max && dns->lru_tail != NULL)
		cache_remove(dns, dns->lru_tail);
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return; /* caching is an optimisation */
	h = name_hash(name);
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->hash = h;
	e->status = status;
	e->err = err;
	e->detail = detail;
	if (n > 0)
		memcpy(e->addrs, addrs, n * sizeof(addrs[0]));
	e->n = n;
	e->expires_ms = rv_loop_now_ms(dns->loop) + (uint64_t)ttl_s * 1000;
	e->hnext = dns->buckets[h % RV_DNS_BUCKETS];
	dns->buckets[h % RV_DNS_BUCKETS] = e;
	lru_push_front(dns, e);
	dns->cache_count++;
}

void rv_dns_cache_clear(struct rv_dns *dns)
{
	if (dns == NULL)
		return;
	while (dns->lru_head != NULL)
		cache_remove(dns, dns->lru_head);
}

/* ---- c-ares <-> rv_loop --------------------------------------------- */

static void update_timer(struct rv_dns *dns)
{
	struct timeval tv, *tvp;

	tvp = ares_timeout(dns->ch, NULL, &tv);
	if (tvp == NULL) {
		rv_loop_timer_stop(dns->ares_timer);
		return;
	}
	rv_loop_timer_set(dns->ares_timer,
			  (uint64_t)tvp->tv_sec * 1000 + ((uint64_t)tvp->tv_usec + 999) / 1000);
}

static void sock_cb(struct rv_loop_fd *w, int fd, unsigned revents, void *arg)
{
	struct rv_dns_sock *s = arg;
	struct rv_dns *dns = s->dns; /* s may be freed inside ares_process_fd */

	(void)w;
	ares_process_fd(dns->ch,
			(revents & (RV_LOOP_READ | RV_LOOP_ERROR)) ? fd : ARES_SOCKET_BAD,
			(revents & RV_LOOP_WRITE) ? fd : ARES_SOCKET_BAD);
	update_timer(dns);
}

static void ares_timer_cb(struct rv_loop_timer *t, void *arg)
{
	struct rv_dns *dns = arg;

	(void)t;
	ares_process_fd(dns->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	update_timer(dns);
}

static void sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
	struct rv_dns *dns = data;
	struct rv_dns_sock **pp = &dns->socks, *s;
	unsigned ev = (readable ? RV_LOOP_READ : 0) | (writable ? RV_LOOP_WRITE : 0);

	while (*pp != NULL && (*pp)->fd != fd)
		pp = &(*pp)->next;
	s = *pp;
	if (ev == 0) {
		if (s != NULL) {
			*pp = s->next;
			rv_loop_fd_del(s->w);
			free(s);
		}
		return;
	}
	if (s != NULL) {
		if (rv_loop_fd_set_events(s->w, ev) != RV_OK)
			rv_log_error("dns: cannot watch resolver socket %d", fd);
		return;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		rv_log_error("dns: out of memory watching resolver socket");
		return; /* the query will time out */
	}
	s->dns = dns;
	s->fd = fd;
	if (rv_loop_fd_add(dns->loop, fd, ev, sock_cb, s, &s->w) != RV_OK) {
		rv_log_error("dns: cannot watch resolver socket %d", fd);
		free(s);
		return;
	}
	s->next = dns->socks;
	dns->socks = s;
}

/* ---- lookups -------------------------------------------------------- */

static void lookup_unlink(struct rv_dns *dns, struct rv_dns_lookup *lk)
{
	if (lk->prev != NULL)
		lk->prev->next = lk->next;
	else if (dns->inflight == lk)
		dns->inflight = lk->next;
	if (lk->next != NULL)
		lk->next->prev = lk->prev;
	lk->prev = lk->next = NULL;
}

static void map_status(int status, size_t n, enum rv_status *st, int *err, const char **detail)
{
	*detail = ares_strerror(status);
	switch (status) {
	case ARES_SUCCESS:
		if (n > 0) {
			*st = RV_STATUS_OK;
			*err = RV_OK;
		} else {
			*st = RV_STATUS_HOST_UNREACHABLE;
			*err = RV_ERR_NOT_FOUND;
			*detail = "no address records";
		}
		break;
	case ARES_ENOTFOUND:
	case ARES_ENODATA:
	case ARES_ENONAME:
		*st = RV_STATUS_HOST_UNREACHABLE;
		*err = RV_ERR_NOT_FOUND;
		break;
	case ARES_ETIMEOUT:
		*st = RV_STATUS_HOST_UNREACHABLE;
		*err = RV_ERR_TIMEOUT;
		break;
	case ARES_EBADNAME:
		*st = RV_STATUS_HOST_UNREACHABLE;
		*err = RV_ERR_INVALID_ARG;
		break;
	case ARES_ENOMEM:
		*st = RV_STATUS_GENERAL_FAILURE;
		*err = RV_ERR_NOMEM;
		break;
	default: /* SERVFAIL, REFUSED, ECONNREFUSED, bad response, ... */
		/* PROTOCOL.md section 11: a DNS failure is "host unreachable". */
		*st = RV_STATUS_HOST_UNREACHABLE;
		*err = RV_ERR_IO;
		break;
	}
}

static void lookup_cb(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
	struct rv_dns_lookup *lk = arg;
	struct rv_dns *dns = lk->dns;
	struct rv_sockaddr addrs[RV_DNS_MAX_ADDRS];
	struct rv_dns_query *q;
	size_t n = 0, i;
	int64_t ttl = -1;
	enum rv_status st;
	int err;
	const char *detail;

	(void)timeouts;
	if (lk->orphaned) {
		ares_freeaddrinfo(ai);
		free(lk);
		return;
	}
	if (status == ARES_SUCCESS && ai != NULL) {
		const struct ares_addrinfo_node *nd;
		const struct ares_addrinfo_cname *cn;

		for (nd = ai->nodes; nd != NULL && n < RV_DNS_MAX_ADDRS; nd = nd->ai_next) {
			struct rv_sockaddr sa;
			int dup = 0;

			if (rv_sockaddr_from_sys(&sa, nd->ai_addr, nd->ai_addrlen) != RV_OK)
				continue;
			rv_sockaddr_set_port(&sa, 0);
			for (i = 0; i < n && !dup; i++)
				dup = rv_sockaddr_equal(&addrs[i], &sa);
			if (dup)
				continue;
			addrs[n++] = sa;
			if (ttl < 0 || nd->ai_ttl < ttl)
				ttl = nd->ai_ttl;
		}
		for (cn = ai->cnames; cn != NULL; cn = cn->next)
			if (ttl < 0 || cn->ttl < ttl)
				ttl = cn->ttl;
	}
	ares_freeaddrinfo(ai);
	if (ttl < 0)
		ttl = 0;
	if (ttl > dns->max_ttl_s)
		ttl = dns->max_ttl_s;
	map_status(status, n, &st, &err, &detail);
	if (st == RV_STATUS_OK)
		cache_put(dns, lk->name, st, err, detail, addrs, n, (uint32_t)ttl);
	else if (err == RV_ERR_NOT_FOUND)
		cache_put(dns, lk->name, st, err, detail, NULL, 0, dns->neg_ttl_s);
	rv_log_debug("dns: %s: %s, %zu address(es), ttl %lld", lk->name, detail, n,
		     (long long)ttl);
	while ((q = lk->waiters) != NULL) {
		waiter_unlink(q);
		query_set_result(q, st, err, detail, addrs, n,
				 st == RV_STATUS_OK ? (uint32_t)ttl : 0, 0);
		ready_push(dns, q);
	}
	lookup_unlink(dns, lk);
	free(lk);
}

static void dns_destroy(struct rv_dns *dns);

static void deliver_cb(struct rv_loop_timer *t, void *arg)
{
	struct rv_dns *dns = arg;
	size_t budget = dns->ready_count; /* queries added meanwhile wait a turn */
	struct rv_dns_query *q;

	(void)t;
	dns->delivering = 1;
	while (budget-- > 0 && !dns->free_pending && (q = dns->ready_head) != NULL) {
		ready_unlink(dns, q);
		q->state = RV_DNS_Q_DELIVERING;
		q->cb(q->arg, &q->res);
		free(q);
	}
	dns->delivering = 0;
	if (dns->free_pending) {
		dns_destroy(dns);
		return;
	}
	if (dns->ready_head != NULL)
		rv_loop_timer_set(dns->deliver_timer, 0);
}

int rv_dns_resolve(struct rv_dns *dns, const char *name, uint16_t port, rv_dns_cb cb,
		   void *arg, struct rv_dns_query **out)
{
	struct ares_addrinfo_hints hints;
	struct rv_dns_query *q;
	struct rv_dns_lookup *lk;
	struct rv_dns_entry *e;
	struct rv_sockaddr lit;
	char norm[RV_DNS_NAME_MAX + 1];
	int new_lookup = 0;

	if (out != NULL)
		*out = NULL;
	if (dns == NULL || name == NULL || cb == NULL || dns->free_pending)
		return RV_ERR_INVALID_ARG;
	q = calloc(1, sizeof(*q));
	if (q == NULL)
		return RV_ERR_NOMEM;
	q->dns = dns;
	q->port = port;
	q->cb = cb;
	q->arg = arg;
	if (out != NULL)
		*out = q;
	dns->st.queries++;

	if (rv_sockaddr_from_literal(name, 0, &lit) == RV_OK) {
		query_set_result(q, RV_STATUS_OK, RV_OK, "IP literal", &lit, 1, 0, 1);
		ready_push(dns, q);
		return RV_OK;
	}
	if (name_normalize(name, norm) != RV_OK) {
		query_set_result(q, RV_STATUS_HOST_UNREACHABLE, RV_ERR_INVALID_ARG,
				 "invalid host name", NULL, 0, 0, 0);
		ready_push(dns, q);
		return RV_OK;
	}
	/* RFC 6761 section 6.3 and 6.4: answered here, never asked of a server
	 * (a resolver could map "localhost" anywhere). */
	if (name_under(norm, "localhost")) {
		struct rv_sockaddr lo[2];
		static const uint8_t v6lo[16] = {[15] = 1};
		static const uint8_t v4lo[4] = {127, 0, 0, 1};

		rv_sockaddr_from_ip(&lo[0], AF_INET, v4lo, 0);
		rv_sockaddr_from_ip(&lo[1], AF_INET6, v6lo, 0);
		query_set_result(q, RV_STATUS_OK, RV_OK, "localhost (RFC 6761)", lo, 2, 0, 1);
		ready_push(dns, q);
		return RV_OK;
	}
	if (name_under(norm, "invalid")) {
		query_set_result(q, RV_STATUS_HOST_UNREACHABLE, RV_ERR_NOT_FOUND,
				 "domain name not found (.invalid, RFC 6761)", NULL, 0, 0, 1);
		ready_push(dns, q);
		return RV_OK;
	}
	e = cache_find(dns, norm);
	if (e != NULL) {
		uint64_t now = rv_loop_now_ms(dns->loop);

		dns->st.cache_hits++;
		query_set_result(q, e->status, e->err, e->detail, e->addrs, e->n,
				 e->status == RV_STATUS_OK ?
					 (uint32_t)((e->expires_ms - now) / 1000) : 0,
				 1);
		ready_push(dns, q);
		return RV_OK;
	}
	for (lk = dns->inflight; lk != NULL; lk = lk->next) {
		if (strcmp(lk->name, norm) == 0)
			break;
	}
	q->state = RV_DNS_Q_WAITING;
	if (lk != NULL) {
		dns->st.coalesced++;
	} else {
		new_lookup = 1;
		lk = calloc(1, sizeof(*lk));
		if (lk == NULL) {
			free(q);
			if (out != NULL)
				*out = NULL;
			return RV_ERR_NOMEM;
		}
		lk->dns = dns;
		memcpy(lk->name, norm, sizeof(lk->name));
		lk->next = dns->inflight;
		if (dns->inflight != NULL)
			dns->inflight->prev = lk;
		dns->inflight = lk;
	}
	q->lk = lk;
	q->next = lk->waiters;
	if (lk->waiters != NULL)
		lk->waiters->prev = q;
	lk->waiters = q;
	if (new_lookup) {
		/* First waiter: start the lookup.  The callback may run right
		 * here (e.g. a bad name); it only moves q to the ready list. */
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		dns->st.lookups++;
		ares_getaddrinfo(dns->ch, lk->name, NULL, &hints, lookup_cb, lk);
		update_timer(dns);
	}
	return RV_OK;
}

void rv_dns_cancel(struct rv_dns_query *q)
{
	if (q == NULL)
		return;
	switch (q->state) {
	case RV_DNS_Q_WAITING:
		/* The lookup goes on and fills the cache for the next asker. */
		waiter_unlink(q);
		free(q);
		break;
	case RV_DNS_Q_READY:
		ready_unlink(q->dns, q);
		free(q);
		break;
	case RV_DNS_Q_DELIVERING:
	default:
		break; /* freed when its callback returns */
	}
}

/* ---- life cycle ------------------------------------------------------ */

static int set_servers(struct rv_dns *dns, const struct rv_dns_config *cfg, char *err,
		       size_t errlen)
{
	struct ares_addr_port_node nodes[RV_DNS_MAX_SERVERS];
	size_t i;
	int r;

	if (cfg->n_servers > RV_DNS_MAX_SERVERS) {
		snprintf(err, errlen, "too many DNS servers (at most %d)", RV_DNS_MAX_SERVERS);
		return RV_ERR_CONFIG;
	}
	memset(nodes, 0, sizeof(nodes));
	for (i = 0; i < cfg->n_servers; i++) {
		struct rv_sockaddr sa;
		char why[160];

		if (cfg->servers[i] == NULL ||
		    rv_sockaddr_parse(cfg->servers[i], 53, 0, &sa, why, sizeof(why)) != RV_OK) {
			snprintf(err, errlen, "%s",
				 cfg->servers[i] == NULL ? "missing value" : why);
			return RV_ERR_CONFIG;
		}
		nodes[i].family = rv_sockaddr_family(&sa);
		if (nodes[i].family == AF_INET)
			memcpy(&nodes[i].addr.addr4, &sa.u.in.sin_addr, 4);
		else
			memcpy(&nodes[i].addr.addr6, &sa.u.in6.sin6_addr, 16);
		nodes[i].udp_port = nodes[i].tcp_port = rv_sockaddr_port(&sa);
		nodes[i].next = i + 1 < cfg->n_servers ? &nodes[i + 1] : NULL;
	}
	if (cfg->n_servers == 0)
		return RV_OK;
	r = ares_set_servers_ports(dns->ch, nodes);
	if (r != ARES_SUCCESS) {
		snprintf(err, errlen, "cannot use DNS servers: %s", ares_strerror(r));
		return RV_ERR_CONFIG;
	}
	return RV_OK;
}

int rv_dns_new(struct rv_loop *loop, const struct rv_dns_config *cfg, struct rv_dns **out,
	       char *err, size_t errlen)
{
	static const struct rv_dns_config defaults;
	struct ares_options o;
	struct rv_dns *dns;
	char dummy[8];
	int mask, r, ret;

	if (err == NULL || errlen == 0) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	err[0] = '\0';
	if (loop == NULL || out == NULL)
		return RV_ERR_INVALID_ARG;
	*out = NULL;
	if (cfg == NULL)
		cfg = &defaults;
	dns = calloc(1, sizeof(*dns));
	if (dns == NULL)
		return RV_ERR_NOMEM;
	dns->loop = loop;
	dns->cache_max = cfg->cache_max == 0 ? RV_DNS_DEFAULT_CACHE_MAX :
			 cfg->cache_max == (size_t)-1 ? 0 : cfg->cache_max;
	dns->max_ttl_s = cfg->max_ttl_s ? cfg->max_ttl_s : RV_DNS_DEFAULT_MAX_TTL_S;
	dns->neg_ttl_s = cfg->neg_ttl_s ? cfg->neg_ttl_s : RV_DNS_DEFAULT_NEG_TTL_S;

	ret = rv_loop_timer_new(loop, ares_timer_cb, dns, &dns->ares_timer);
	if (ret == RV_OK)
		ret = rv_loop_timer_new(loop, deliver_cb, dns, &dns->deliver_timer);
	if (ret != RV_OK)
		goto out;
	r = ares_library_init(ARES_LIB_INIT_ALL);
	if (r != ARES_SUCCESS) {
		snprintf(err, errlen, "c-ares: %s", ares_strerror(r));
		ret = RV_ERR_INTERNAL;
		goto out;
	}
	dns->lib_ok = 1;
	memset(&o, 0, sizeof(o));
	mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
	o.sock_state_cb = sock_state_cb;
	o.sock_state_cb_data = dns;
	o.timeout = (int)(cfg->timeout_ms ? cfg->timeout_ms : RV_DNS_DEFAULT_TIMEOUT_MS);
	o.tries = (int)(cfg->tries ? cfg->tries : RV_DNS_DEFAULT_TRIES);
	if (cfg->dns_only) {
		mask |= ARES_OPT_LOOKUPS | ARES_OPT_FLAGS;
		o.lookups = (char *)"b";
		o.flags = ARES_FLAG_NOSEARCH;
	}
	r = ares_init_options(&dns->ch, &o, mask);
	if (r != ARES_SUCCESS) {
		snprintf(err, errlen, "c-ares: cannot initialise: %s", ares_strerror(r));
		ret = r == ARES_ENOMEM ? RV_ERR_NOMEM : RV_ERR_CONFIG;
		goto out;
	}
	dns->ch_ok = 1;
	ret = set_servers(dns, cfg, err, errlen);
	if (ret != RV_OK)
		goto out;
	*out = dns;
	dns = NULL;
out:
	if (dns != NULL)
		dns_destroy(dns);
	return ret;
}

static void dns_destroy(struct rv_dns *dns)
{
	struct rv_dns_query *q;
	struct rv_dns_lookup *lk;
	struct rv_dns_sock *s;

	while ((q = dns->ready_head) != NULL) {
		ready_unlink(dns, q);
		free(q);
	}
	while ((lk = dns->inflight) != NULL) {
		while ((q = lk->waiters) != NULL) {
			waiter_unlink(q);
			free(q);
		}
		lookup_unlink(dns, lk);
		lk->orphaned = 1; /* freed by its callback inside ares_destroy */
	}
	if (dns->ch_ok)
		ares_destroy(dns->ch); /* closes sockets via sock_state_cb */
	while ((s = dns->socks) != NULL) {
		dns->socks = s->next;
		rv_loop_fd_del(s->w);
		free(s);
	}
	rv_dns_cache_clear(dns);
	rv_loop_timer_free(dns->ares_timer);
	rv_loop_timer_free(dns->deliver_timer);
	if (dns->lib_ok)
		ares_library_cleanup();
	free(dns);
}

void rv_dns_free(struct rv_dns *dns)
{
	if (dns == NULL)
		return;
	if (dns->delivering) {
		dns->free_pending = 1; /* deliver_cb finishes the job */
		return;
	}
	dns_destroy(dns);
}

void rv_dns_get_stats(const struct rv_dns *dns, struct rv_dns_stats *st)
{
	if (st == NULL)
		return;
	memset(st, 0, sizeof(*st));
	if (dns == NULL)
		return;
	*st = dns->st;
	st->cache_entries = dns->cache_count;
}
