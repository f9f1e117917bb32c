/* rv_pool.c - warm pre-connect pool.  Owner: server-libs.
 *
 * Each spare sits on two lists: its destination's (take pops the newest,
 * the least likely to have been closed by the far end) and the pool-wide
 * one in connect order (the oldest is at the head, so one timer set for
 * head + idle_timeout covers every idle expiry).  Each spare is also an
 * rv_loop read watcher: a target that speaks or hangs up on a connection
 * nobody asked for yet is one the pool must leave alone (blacklist).
 */
#include "rv_pool.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rv_connect.h"
#include "rv_err.h"
#include "rv_log.h"

enum { RV_POOL_BUCKETS = 256 };

struct rv_pool_dest;

struct rv_pool_spare {
	struct rv_pool_dest *d;
	int fd;
	struct rv_loop_fd *w; /* read watcher: the target spoke or closed */
	uint64_t since_ms;
	struct rv_sockaddr local, peer;
	struct rv_pool_spare *dprev, *dnext; /* destination list */
	struct rv_pool_spare *gprev, *gnext; /* pool list, oldest first */
};

struct rv_pool_conn {
	struct rv_pool_dest *d;
	struct rv_connect *c;
	struct rv_pool_conn *prev, *next;
};

struct rv_pool_dest {
	struct rv_pool *pool;
	char key[RV_POOL_KEY_MAX];
	uint32_t hash;
	uint64_t req_ms[RV_POOL_MAX_HOT_REQUESTS]; /* ring of request times */
	unsigned req_head, req_count;
	struct rv_sockaddr addrs[RV_CONNECT_MAX_ADDRS];
	size_t naddrs;
	struct rv_pool_spare *sp_head, *sp_tail;
	size_t nspares;
	struct rv_pool_conn *conns;
	size_t nconns;
	uint64_t retry_after_ms;
	uint64_t connect_us;    /* last noted resolve+connect time of a miss */
	int connect_known;
	struct rv_pool_dest *hnext;
	struct rv_pool_dest *lru_prev, *lru_next; /* head = most recent */
};

struct rv_pool {
	struct rv_loop *loop;
	struct rv_pool_config cfg;
	struct rv_pool_dest *buckets[RV_POOL_BUCKETS];
	struct rv_pool_dest *lru_head, *lru_tail;
	struct rv_pool_spare *g_head, *g_tail;
	size_t ndests, nspares, nconns;
	struct rv_loop_timer *idle_timer;
	struct rv_pool_stats st;
	/* Blacklist: 64-bit key hashes, a ring (oldest overwritten). */
	uint64_t bl[RV_POOL_BLACKLIST_MAX];
	size_t bl_n, bl_next;
};

static uint64_t key_hash64(const char *s)
{
	uint64_t h = 14695981039346656037ull;

	for (; *s != '\0'; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	return h;
}

/* The port at the end of a key ("...:443"); 0 if none. */
static uint16_t key_port(const char *key)
{
	const char *c = strrchr(key, ':');
	unsigned long v = 0;

	if (c == NULL || c[1] == '\0')
		return 0;
	for (c++; *c != '\0'; c++) {
		if (*c < '0' || *c > '9' || v > 65535)
			return 0;
		v = v * 10 + (unsigned long)(*c - '0');
	}
	return v > 65535 ? 0 : (uint16_t)v;
}

static int bl_has(const struct rv_pool *p, uint64_t h)
{
	size_t i;

	for (i = 0; i < p->bl_n; i++)
		if (p->bl[i] == h)
			return 1;
	return 0;
}

static void bl_add(struct rv_pool *p, uint64_t h)
{
	if (bl_has(p, h))
		return;
	p->bl[p->bl_next] = h;
	p->bl_next = (p->bl_next + 1) % RV_POOL_BLACKLIST_MAX;
	if (p->bl_n < RV_POOL_BLACKLIST_MAX)
		p->bl_n++;
	p->st.blacklisted++;
}

static uint32_t key_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

int rv_pool_key(const struct rv_addr *a, char out[RV_POOL_KEY_MAX])
{
	char ip[INET6_ADDRSTRLEN];
	size_t i;

	if (a == NULL || out == NULL)
		return RV_ERR_INVALID_ARG;
	switch (a->atyp) {
	case RV_ATYP_IPV4:
		inet_ntop(AF_INET, a->ip, ip, sizeof(ip));
		snprintf(out, RV_POOL_KEY_MAX, "%s:%u", ip, (unsigned)a->port);
		return RV_OK;
	case RV_ATYP_IPV6:
		inet_ntop(AF_INET6, a->ip, ip, sizeof(ip));
		snprintf(out, RV_POOL_KEY_MAX, "[%s]:%u", ip, (unsigned)a->port);
		return RV_OK;
	case RV_ATYP_DOMAIN:
		if (a->domain_len == 0 || memchr(a->domain, '\0', a->domain_len) != NULL)
			return RV_ERR_INVALID_ARG;
		for (i = 0; i < a->domain_len; i++) {
			char c = a->domain[i];

			out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
		}
		/* One trailing dot names the same host. */
		if (i > 1 && out[i - 1] == '.')
			i--;
		snprintf(out + i, RV_POOL_KEY_MAX - i, ":%u", (unsigned)a->port);
		return RV_OK;
	default:
		return RV_ERR_INVALID_ARG;
	}
}

/* ---- spares ----------------------------------------------------------- */

static void rearm(struct rv_pool *p)
{
	uint64_t now, due;

	if (p->g_head == NULL) {
		rv_loop_timer_stop(p->idle_timer);
		return;
	}
	now = rv_loop_now_ms(p->loop);
	due = p->g_head->since_ms + p->cfg.idle_timeout_ms;
	rv_loop_timer_set(p->idle_timer, due > now ? due - now : 0);
}

static void spare_unlink(struct rv_pool *p, struct rv_pool_spare *s)
{
	struct rv_pool_dest *d = s->d;

	if (s->dprev != NULL)
		s->dprev->dnext = s->dnext;
	else
		d->sp_head = s->dnext;
	if (s->dnext != NULL)
		s->dnext->dprev = s->dprev;
	else
		d->sp_tail = s->dprev;
	if (s->gprev != NULL)
		s->gprev->gnext = s->gnext;
	else
		p->g_head = s->gnext;
	if (s->gnext != NULL)
		s->gnext->gprev = s->gprev;
	else
		p->g_tail = s->gprev;
	d->nspares--;
	p->nspares--;
}

static void spare_evict(struct rv_pool *p, struct rv_pool_spare *s)
{
	spare_unlink(p, s);
	rv_loop_fd_del(s->w);
	close(s->fd);
	free(s);
	p->st.evictions++;
}

static void dest_blacklist(struct rv_pool *p, struct rv_pool_dest *d, const char *why);

/* The target sent data or closed a spare nobody uses yet. */
static void spare_event(struct rv_loop_fd *w, int fd, unsigned revents, void *arg)
{
	struct rv_pool_spare *s = arg;
	struct rv_pool *p = s->d->pool;

	(void)w;
	(void)fd;
	(void)revents;
	p->st.target_spoke++;
	dest_blacklist(p, s->d, "the target sent data or closed an unused connection");
}

static void spare_add(struct rv_pool_dest *d, int fd, const struct rv_sockaddr *local,
		      const struct rv_sockaddr *peer)
{
	struct rv_pool *p = d->pool;
	struct rv_pool_spare *s = calloc(1, sizeof(*s));

	if (s == NULL) {
		close(fd);
		return;
	}
	s->d = d;
	s->fd = fd;
	if (rv_loop_fd_add(p->loop, fd, RV_LOOP_READ, spare_event, s, &s->w) != RV_OK) {
		/* Unwatched spares could go stale unseen: do without. */
		close(fd);
		free(s);
		return;
	}
	s->since_ms = rv_loop_now_ms(p->loop);
	s->local = *local;
	s->peer = *peer;
	s->dprev = d->sp_tail;
	if (d->sp_tail != NULL)
		d->sp_tail->dnext = s;
	else
		d->sp_head = s;
	d->sp_tail = s;
	s->gprev = p->g_tail;
	if (p->g_tail != NULL)
		p->g_tail->gnext = s;
	else
		p->g_head = s;
	p->g_tail = s;
	d->nspares++;
	p->nspares++;
	rearm(p);
}

/* Untouched since connect?  Waiting data (a greeting, stale by now), a
 * half-close, a hang-up or an error all say no. */
static int spare_untouched(int fd)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN | POLLRDHUP};
	int n;

	do
		n = poll(&pfd, 1, 0);
	while (n < 0 && errno == EINTR);
	return n == 0;
}

static void idle_cb(struct rv_loop_timer *t, void *arg)
{
	struct rv_pool *p = arg;
	uint64_t now = rv_loop_now_ms(p->loop);

	(void)t;
	while (p->g_head != NULL && p->g_head->since_ms + p->cfg.idle_timeout_ms <= now)
		spare_evict(p, p->g_head);
	rearm(p);
}

/* ---- destinations ------------------------------------------------------ */

static void lru_unlink(struct rv_pool *p, struct rv_pool_dest *d)
{
	if (d->lru_prev != NULL)
		d->lru_prev->lru_next = d->lru_next;
	else
		p->lru_head = d->lru_next;
	if (d->lru_next != NULL)
		d->lru_next->lru_prev = d->lru_prev;
	else
		p->lru_tail = d->lru_prev;
	d->lru_prev = d->lru_next = NULL;
}

static void lru_front(struct rv_pool *p, struct rv_pool_dest *d)
{
	d->lru_prev = NULL;
	d->lru_next = p->lru_head;
	if (p->lru_head != NULL)
		p->lru_head->lru_prev = d;
	else
		p->lru_tail = d;
	p->lru_head = d;
}

static void conn_unlink(struct rv_pool_conn *pc)
{
	struct rv_pool_dest *d = pc->d;

	if (pc->prev != NULL)
		pc->prev->next = pc->next;
	else
		d->conns = pc->next;
	if (pc->next != NULL)
		pc->next->prev = pc->prev;
	d->nconns--;
	d->pool->nconns--;
}

static void dest_free(struct rv_pool *p, struct rv_pool_dest *d)
{
	struct rv_pool_dest **pp = &p->buckets[d->hash % RV_POOL_BUCKETS];
	struct rv_pool_conn *pc;

	while (*pp != NULL && *pp != d)
		pp = &(*pp)->hnext;
	if (*pp == d)
		*pp = d->hnext;
	lru_unlink(p, d);
	while (d->sp_head != NULL)
		spare_evict(p, d->sp_head);
	while ((pc = d->conns) != NULL) {
		conn_unlink(pc);
		rv_connect_cancel(pc->c);
		free(pc);
	}
	p->ndests--;
	free(d);
}

static void dest_blacklist(struct rv_pool *p, struct rv_pool_dest *d, const char *why)
{
	rv_log_info("pool: not pre-connecting to %s any more: %s", d->key, why);
	bl_add(p, key_hash64(d->key));
	dest_free(p, d); /* closes its spares, cancels its pre-connects */
	rearm(p);
}

static struct rv_pool_dest *dest_get(struct rv_pool *p, const char *key, int create)
{
	uint32_t h = key_hash(key);
	struct rv_pool_dest *d;

	for (d = p->buckets[h % RV_POOL_BUCKETS]; d != NULL; d = d->hnext) {
		if (d->hash == h && strcmp(d->key, key) == 0) {
			lru_unlink(p, d);
			lru_front(p, d);
			return d;
		}
	}
	if (!create || strlen(key) >= RV_POOL_KEY_MAX)
		return NULL;
	if (p->ndests >= p->cfg.max_dests && p->lru_tail != NULL)
		dest_free(p, p->lru_tail);
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return NULL;
	d->pool = p;
	snprintf(d->key, sizeof(d->key), "%s", key);
	d->hash = h;
	d->hnext = p->buckets[h % RV_POOL_BUCKETS];
	p->buckets[h % RV_POOL_BUCKETS] = d;
	lru_front(p, d);
	p->ndests++;
	rearm(p); /* an evicted destination may have taken spares with it */
	return d;
}

static int dest_hot(const struct rv_pool *p, const struct rv_pool_dest *d, uint64_t now)
{
	unsigned n = p->cfg.hot_requests;

	/* After a full ring, req_head indexes the oldest of the last n. */
	return d->req_count >= n && now - d->req_ms[d->req_head] <= p->cfg.window_ms;
}

static void conn_done(void *arg, const struct rv_connect_result *res)
{
	struct rv_pool_conn *pc = arg;
	struct rv_pool_dest *d = pc->d;
	struct rv_pool *p = d->pool;

	conn_unlink(pc);
	free(pc);
	if (res->status == RV_STATUS_OK) {
		spare_add(d, res->fd, &res->local, &res->peer);
		return;
	}
	p->st.preconnect_failures++;
	d->retry_after_ms = rv_loop_now_ms(p->loop) + RV_POOL_RETRY_MS;
	rv_log_debug("pool: pre-connect to %s failed (status %d)", d->key, (int)res->status);
}

static void refill(struct rv_pool *p, struct rv_pool_dest *d)
{
	uint64_t now = rv_loop_now_ms(p->loop);
	struct rv_connect_opts o;

	if (d->naddrs == 0 || now < d->retry_after_ms || !dest_hot(p, d, now))
		return;
	memset(&o, 0, sizeof(o));
	o.timeout_ms = p->cfg.connect_timeout_ms;
	o.nodelay = p->cfg.nodelay;
	while (d->nspares + d->nconns < p->cfg.per_dest &&
	       p->nspares + p->nconns < p->cfg.max_spares) {
		struct rv_pool_conn *pc = calloc(1, sizeof(*pc));

		if (pc == NULL)
			return;
		pc->d = d;
		if (rv_connect_start(p->loop, d->addrs, d->naddrs, &o, conn_done, pc, &pc->c) !=
		    RV_OK) {
			free(pc);
			return;
		}
		pc->next = d->conns;
		if (d->conns != NULL)
			d->conns->prev = pc;
		d->conns = pc;
		d->nconns++;
		p->nconns++;
		p->st.preconnects++;
	}
}

/* ---- API ---------------------------------------------------------------- */

int rv_pool_new(struct rv_loop *loop, const struct rv_pool_config *cfg, struct rv_pool **out)
{
	struct rv_pool *p;
	int ret;

	if (loop == NULL || out == NULL)
		return RV_ERR_INVALID_ARG;
	*out = NULL;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return RV_ERR_NOMEM;
	p->loop = loop;
	if (cfg != NULL)
		p->cfg = *cfg;
	if (p->cfg.per_dest == 0)
		p->cfg.per_dest = RV_POOL_DEFAULT_PER_DEST;
	if (p->cfg.max_spares == 0)
		p->cfg.max_spares = RV_POOL_DEFAULT_MAX_SPARES;
	if (p->cfg.hot_requests == 0)
		p->cfg.hot_requests = RV_POOL_DEFAULT_HOT_REQUESTS;
	if (p->cfg.hot_requests > RV_POOL_MAX_HOT_REQUESTS)
		p->cfg.hot_requests = RV_POOL_MAX_HOT_REQUESTS;
	if (p->cfg.window_ms == 0)
		p->cfg.window_ms = RV_POOL_DEFAULT_WINDOW_MS;
	if (p->cfg.idle_timeout_ms == 0 || p->cfg.idle_timeout_ms > RV_POOL_SPARE_MAX_MS)
		p->cfg.idle_timeout_ms = RV_POOL_DEFAULT_IDLE_MS;
	if (p->cfg.n_ports == 0) {
		p->cfg.ports[0] = 80;
		p->cfg.ports[1] = 443;
		p->cfg.n_ports = 2;
	} else if (p->cfg.n_ports > RV_POOL_MAX_PORTS) {
		free(p);
		return RV_ERR_INVALID_ARG;
	}
	if (p->cfg.max_dests == 0)
		p->cfg.max_dests = RV_POOL_DEFAULT_MAX_DESTS;
	ret = rv_loop_timer_new(loop, idle_cb, p, &p->idle_timer);
	if (ret != RV_OK) {
		free(p);
		return ret;
	}
	*out = p;
	return RV_OK;
}

void rv_pool_free(struct rv_pool *p)
{
	if (p == NULL)
		return;
	while (p->lru_head != NULL)
		dest_free(p, p->lru_head);
	rv_loop_timer_free(p->idle_timer);
	free(p);
}

int rv_pool_take(struct rv_pool *p, const char *key, int *fd, struct rv_sockaddr *local,
		 struct rv_sockaddr *peer)
{
	struct rv_pool_dest *d;
	struct rv_pool_spare *s;
	uint64_t now;

	if (p == NULL || key == NULL || fd == NULL)
		return RV_ERR_INVALID_ARG;
	*fd = -1;
	if (!rv_pool_port_wanted(p, key_port(key)) || rv_pool_blacklisted(p, key))
		return RV_ERR_NOT_FOUND; /* not the pool's business: no count */
	p->st.requests++;
	d = dest_get(p, key, 1);
	if (d == NULL) {
		p->st.misses++;
		return RV_ERR_NOMEM;
	}
	now = rv_loop_now_ms(p->loop);
	d->req_ms[d->req_head] = now;
	d->req_head = (d->req_head + 1) % p->cfg.hot_requests;
	if (d->req_count < p->cfg.hot_requests)
		d->req_count++;
	if ((s = d->sp_tail) != NULL) {
		if (!spare_untouched(s->fd)) {
			p->st.dead++;
			p->st.target_spoke++;
			dest_blacklist(p, d, "the target sent data or closed an unused connection");
			p->st.misses++;
			return RV_ERR_NOT_FOUND;
		}
		spare_unlink(p, s);
		rv_loop_fd_del(s->w);
		*fd = s->fd;
		if (local != NULL)
			*local = s->local;
		if (peer != NULL)
			*peer = s->peer;
		free(s);
		p->st.hits++;
		if (d->connect_known)
			p->st.saved_us += d->connect_us;
		else if (p->st.miss_connects > 0)
			p->st.saved_us += p->st.miss_connect_us / p->st.miss_connects;
		rearm(p);
		refill(p, d);
		return RV_OK;
	}
	p->st.misses++;
	rearm(p);
	refill(p, d);
	return RV_ERR_NOT_FOUND;
}

int rv_pool_learn(struct rv_pool *p, const char *key, const struct rv_sockaddr *addrs,
		  size_t n)
{
	struct rv_pool_dest *d;
	size_t i;

	if (p == NULL || key == NULL || (addrs == NULL && n > 0))
		return RV_ERR_INVALID_ARG;
	if (!rv_pool_port_wanted(p, key_port(key)) || rv_pool_blacklisted(p, key))
		return RV_OK; /* never pre-connected */
	d = dest_get(p, key, 1);
	if (d == NULL)
		return RV_ERR_NOMEM;
	if (n > RV_CONNECT_MAX_ADDRS)
		n = RV_CONNECT_MAX_ADDRS;
	for (i = 0; i < n; i++)
		if (rv_sockaddr_family(&addrs[i]) == AF_UNSPEC)
			return RV_ERR_INVALID_ARG;
	if (n > 0)
		memcpy(d->addrs, addrs, n * sizeof(addrs[0]));
	d->naddrs = n;
	refill(p, d);
	return RV_OK;
}

int rv_pool_port_wanted(const struct rv_pool *p, uint16_t port)
{
	size_t i;

	if (p == NULL || port == 0)
		return 0;
	for (i = 0; i < p->cfg.n_ports; i++)
		if (p->cfg.ports[i] == port)
			return 1;
	return 0;
}

int rv_pool_blacklisted(const struct rv_pool *p, const char *key)
{
	return p != NULL && key != NULL && bl_has(p, key_hash64(key));
}

void rv_pool_note_connect(struct rv_pool *p, const char *key, uint64_t us)
{
	struct rv_pool_dest *d;

	if (p == NULL || key == NULL || !rv_pool_port_wanted(p, key_port(key)) ||
	    rv_pool_blacklisted(p, key))
		return; /* not one of the pool's misses */
	p->st.miss_connects++;
	p->st.miss_connect_us += us;
	d = dest_get(p, key, 0);
	if (d != NULL) {
		d->connect_us = us;
		d->connect_known = 1;
	}
}

void rv_pool_get_stats(const struct rv_pool *p, struct rv_pool_stats *st)
{
	if (st == NULL)
		return;
	memset(st, 0, sizeof(*st));
	if (p == NULL)
		return;
	*st = p->st;
	st->spares = p->nspares;
	st->connecting = p->nconns;
	st->dests = p->ndests;
}

const char *rv_pool_stats_str(const struct rv_pool *p, char *out, size_t outlen)
{
	struct rv_pool_stats st;

	rv_pool_get_stats(p, &st);
	snprintf(out, outlen,
		 "pool: %llu requests, %llu hits (%.1f%%), %llu misses, %.2f ms saved per hit "
		 "(miss connect %.2f ms avg), %llu pre-connects (%llu failed), %llu evictions "
		 "(%llu dead, %llu touched by target), %llu blacklisted, %zu spares now",
		 (unsigned long long)st.requests, (unsigned long long)st.hits,
		 st.requests ? 100.0 * (double)st.hits / (double)st.requests : 0.0,
		 (unsigned long long)st.misses,
		 st.hits ? (double)st.saved_us / 1000.0 / (double)st.hits : 0.0,
		 st.miss_connects ?
			 (double)st.miss_connect_us / 1000.0 / (double)st.miss_connects : 0.0,
		 (unsigned long long)st.preconnects, (unsigned long long)st.preconnect_failures,
		 (unsigned long long)st.evictions, (unsigned long long)st.dead,
		 (unsigned long long)st.target_spoke, (unsigned long long)st.blacklisted,
		 st.spares);
	return out;
}
