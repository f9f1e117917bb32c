/* rv_pool.c - warm pre-connect pool.  Owner: server-libs.
 *
 * Each spare sits on two lists: its destination's (take pops the newest,
 * the least likely to have been closed by the far end) and the pool-wide
 * one in connect order (the oldest is at the head, so one timer set for
 * head + idle_timeout covers every idle expiry).
 */
#include "rv_pool.h"

#include <arpa/inet.h>
#include <errno.h>
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
};

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
	close(s->fd);
	free(s);
	p->st.evictions++;
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

/* Still connected?  "Would block" or waiting data: yes.  EOF/error: no. */
static int spare_alive(int fd)
{
	char b;
	ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);

	if (n > 0)
		return 1;
	return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
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
	if (p->cfg.idle_timeout_ms == 0)
		p->cfg.idle_timeout_ms = RV_POOL_DEFAULT_IDLE_MS;
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
	while ((s = d->sp_tail) != NULL) {
		if (!spare_alive(s->fd)) {
			p->st.dead++;
			spare_evict(p, s);
			continue;
		}
		spare_unlink(p, s);
		*fd = s->fd;
		if (local != NULL)
			*local = s->local;
		if (peer != NULL)
			*peer = s->peer;
		free(s);
		p->st.hits++;
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
		 "pool: %llu requests, %llu hits (%.1f%%), %llu misses, %llu evictions "
		 "(%llu dead), %llu pre-connects (%llu failed), %zu spares now",
		 (unsigned long long)st.requests, (unsigned long long)st.hits,
		 st.requests ? 100.0 * (double)st.hits / (double)st.requests : 0.0,
		 (unsigned long long)st.misses, (unsigned long long)st.evictions,
		 (unsigned long long)st.dead, (unsigned long long)st.preconnects,
		 (unsigned long long)st.preconnect_failures, st.spares);
	return out;
}
