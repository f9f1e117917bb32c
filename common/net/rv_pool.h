/* rv_pool.h - warm pool of pre-connected target sockets for destinations
 * the server is asked for repeatedly.  Owner: server-libs.
 *
 * A pre-connect is a connection the target sees before anybody asked for
 * it, so the pool is careful about where it does that:
 *   - only ports where the client speaks first (default 80 and 443;
 *     cfg.ports): a server that greets (SMTP, SSH, FTP), a one-shot
 *     listener or a login timer never sees a spare unless configured;
 *   - a spare lives at most RV_POOL_SPARE_MAX_MS, then it is closed;
 *   - every spare is watched on the loop: if the target sends anything or
 *     closes it, the spare is dropped and the destination is blacklisted
 *     (never pooled again; RV_POOL_BLACKLIST_MAX most recent kept);
 *   - right before a hand-out, poll(POLLIN|POLLRDHUP) must say nothing
 *     happened on it; otherwise the same: drop and blacklist.
 *
 * Use from the PROXY_CONNECT path (rv_dial):
 *   1. rv_pool_port_wanted(port): skip the pool entirely for other ports.
 *   2. rv_pool_key() builds the key from the requested address (a domain
 *      name or an IP, plus port) before any DNS.
 *   3. rv_pool_take(key): counts the request; on a hit returns a connected
 *      socket that just passed the check above.  Answer PROXY_RESPONSE at
 *      once: no DNS, no connect.
 *   4. On a miss: resolve, filter with the ACL, connect as usual, call
 *      rv_pool_learn(key, allowed addresses) so the pool knows where the
 *      destination lives, and rv_pool_note_connect(key, us) with the time
 *      that resolve+connect took (what a hit saves; reported in the stats).
 * A destination is hot when it got at least hot_requests requests within
 * window_ms; the pool then keeps up to per_dest spares for it (pending
 * pre-connects included), refilling after learn and after every hit, never
 * more than max_spares over all destinations.  A failed pre-connect pauses
 * refills of that destination for RV_POOL_RETRY_MS.
 * Hits skip DNS and the ACL: the spare's address passed the ACL when it
 * was learned, at most RV_POOL_SPARE_MAX_MS (plus the DNS TTL) ago.
 */
#ifndef RV_POOL_H
#define RV_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "rv_frame.h"
#include "rv_loop.h"
#include "rv_sockaddr.h"

enum rv_pool_limits {
	RV_POOL_KEY_MAX = RV_DOMAIN_MAX + 9, /* "name:65535" or "[v6]:65535" + NUL */
	RV_POOL_MAX_HOT_REQUESTS = 8,
	RV_POOL_RETRY_MS = 5000,
	/* Longest life of a spare.  Shorter than the usual login/idle timers
	 * of servers (3 s and up), so the target does not close it under a
	 * client that was just handed it. */
	RV_POOL_SPARE_MAX_MS = 2000,
	RV_POOL_BLACKLIST_MAX = 1024, /* destinations never pooled again */
	RV_POOL_MAX_PORTS = 16,       /* entries of cfg.ports */
	/* defaults for a zeroed config */
	RV_POOL_DEFAULT_PER_DEST = 2,
	RV_POOL_DEFAULT_MAX_SPARES = 64,
	RV_POOL_DEFAULT_HOT_REQUESTS = 2,
	RV_POOL_DEFAULT_WINDOW_MS = 60000,
	RV_POOL_DEFAULT_IDLE_MS = RV_POOL_SPARE_MAX_MS,
	RV_POOL_DEFAULT_MAX_DESTS = 1024,
};

/* Zero-initialise; 0 means the default. */
struct rv_pool_config {
	size_t per_dest;             /* K */
	size_t max_spares;           /* global cap (spares + pre-connects) */
	unsigned hot_requests;       /* 1..RV_POOL_MAX_HOT_REQUESTS */
	uint32_t window_ms;
	uint32_t idle_timeout_ms;    /* capped at RV_POOL_SPARE_MAX_MS */
	uint32_t connect_timeout_ms; /* default RV_CONNECT_TIMEOUT_DEFAULT_S */
	size_t max_dests;            /* destinations tracked (LRU) */
	int nodelay;                 /* TCP_NODELAY on pooled sockets */
	/* Ports that may be pre-connected; n_ports == 0: 80 and 443. */
	uint16_t ports[RV_POOL_MAX_PORTS];
	size_t n_ports;
};

struct rv_pool_stats {
	uint64_t requests;    /* rv_pool_take calls */
	uint64_t hits;
	uint64_t misses;
	uint64_t evictions;   /* spares closed unused: idle timeout, dead, cap, shutdown */
	uint64_t dead;        /* of which found dead when checked */
	uint64_t preconnects; /* pre-connects started */
	uint64_t preconnect_failures;
	uint64_t target_spoke;   /* spares dropped: the target sent data or closed */
	uint64_t blacklisted;    /* destinations blacklisted (ever) */
	uint64_t miss_connects;  /* misses whose resolve+connect time was noted */
	uint64_t miss_connect_us; /* their total time */
	uint64_t saved_us;       /* estimated: each hit saves its destination's connect time */
	size_t spares;        /* now: ready sockets */
	size_t connecting;    /* now: pre-connects in flight */
	size_t dests;         /* now: destinations tracked */
};

struct rv_pool;

int rv_pool_new(struct rv_loop *loop, const struct rv_pool_config *cfg, struct rv_pool **out);
/* Closes every spare and cancels pre-connects.  NULL safe. */
void rv_pool_free(struct rv_pool *pool);

/* "example.com:443" (domain lower-cased), "1.2.3.4:80", "[::1]:80".
 * RV_ERR_INVALID_ARG for an unusable address. */
int rv_pool_key(const struct rv_addr *a, char out[RV_POOL_KEY_MAX]);

/* 1 if port is one the pool pre-connects to (cfg.ports). */
int rv_pool_port_wanted(const struct rv_pool *pool, uint16_t port);

/* RV_OK: hit, *fd is the caller's (non-blocking); local/peer (if not NULL)
 * get its addresses.  RV_ERR_NOT_FOUND: miss.  RV_ERR_NOMEM possible. */
int rv_pool_take(struct rv_pool *pool, const char *key, int *fd, struct rv_sockaddr *local,
		 struct rv_sockaddr *peer);

/* Where key connects to (up to RV_CONNECT_MAX_ADDRS, already allowed by the
 * ACL).  Starts pre-connects if key is hot. */
int rv_pool_learn(struct rv_pool *pool, const char *key, const struct rv_sockaddr *addrs,
		  size_t n);

/* A miss for key took us microseconds to resolve and connect (measured by
 * the caller). */
void rv_pool_note_connect(struct rv_pool *pool, const char *key, uint64_t us);

/* 1 if key is blacklisted (the target greeted or closed a spare). */
int rv_pool_blacklisted(const struct rv_pool *pool, const char *key);

void rv_pool_get_stats(const struct rv_pool *pool, struct rv_pool_stats *st);
/* One log line: "pool: 40 requests, 30 hits (75.0%), 10 misses, 12.5 ms
 * saved per hit (average miss resolve+connect), ..." */
const char *rv_pool_stats_str(const struct rv_pool *pool, char *out, size_t outlen);

#endif
