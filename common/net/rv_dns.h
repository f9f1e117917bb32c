/* rv_dns.h - asynchronous name resolution for PROXY_CONNECT (c-ares over
 * rv_loop), with a small TTL-honouring cache.  Owner: server-libs.
 *
 * The event loop never blocks: c-ares sockets are rv_loop watchers and its
 * retransmission deadline is one rv_loop timer.  Each name is looked up
 * for A and AAAA at once (ares_getaddrinfo, AF_UNSPEC); the addresses come
 * back in RFC 6724 order (IPv6 first when this host can use it), which is
 * what rv_connect's Happy Eyeballs expects.
 *
 * Callbacks: never called from inside rv_dns_resolve (cache hits and IP
 * literals are delivered on a later loop iteration, so callers can store
 * the query handle first), and never after rv_dns_cancel or rv_dns_free.
 * After the callback returns, the query is freed by rv_dns: the handle is
 * dead (cancelling it from inside its own callback is a harmless no-op).
 * A callback may start new queries, cancel others, or free the resolver.
 *
 * Concurrent queries for the same name share one lookup.  Cache: positive
 * answers for min(TTL of the records, max_ttl_s) seconds (TTL 0 = not
 * cached), NXDOMAIN and no-address answers for neg_ttl_s seconds, at most
 * cache_max names (least recently used evicted first).  Names compare
 * case-insensitively; one trailing dot is ignored.
 */
#ifndef RV_DNS_H
#define RV_DNS_H

#include <stddef.h>
#include <stdint.h>

#include "rv_loop.h"
#include "rv_sockaddr.h"
#include "rv_wire.h"

enum rv_dns_limits {
	RV_DNS_MAX_ADDRS = 16,          /* addresses kept per name */
	RV_DNS_MAX_SERVERS = 8,
	RV_DNS_NAME_MAX = 253,
	RV_DNS_DEFAULT_TIMEOUT_MS = 2000, /* first try; c-ares doubles per round */
	RV_DNS_DEFAULT_TRIES = 3,
	RV_DNS_DEFAULT_CACHE_MAX = 1024,
	RV_DNS_DEFAULT_MAX_TTL_S = 3600,
	RV_DNS_DEFAULT_NEG_TTL_S = 30,
};

/* Zero-initialise, then set what you need: 0 means the default. */
struct rv_dns_config {
	/* "ADDR[:PORT]" IP literals, IPv6 with a port in brackets (--dns);
	 * none: the servers of /etc/resolv.conf. */
	const char *servers[RV_DNS_MAX_SERVERS];
	size_t n_servers;
	uint32_t timeout_ms;
	uint32_t tries;
	size_t cache_max;     /* (size_t)-1 disables the cache */
	uint32_t max_ttl_s;
	uint32_t neg_ttl_s;
	/* 1: never read /etc/hosts, never append resolv.conf search domains
	 * (tests; and predictable answers when --dns is given). */
	int dns_only;
};

struct rv_dns_result {
	enum rv_status status;   /* RV_STATUS_OK, or what PROXY_RESPONSE should say */
	int err;                 /* RV_OK or RV_ERR_* (see below) */
	const char *detail;      /* human text for the log ("domain name not found") */
	const struct rv_sockaddr *addrs; /* n addresses carrying the query's port */
	size_t n;                /* >= 1 when status is OK */
	uint32_t ttl_s;          /* remaining cache lifetime */
	int from_cache;          /* 1 if answered from the cache (or a literal) */
};
/* Status mapping (PROTOCOL.md section 11: a name that does not resolve is
 * status 4): NXDOMAIN or no A/AAAA record -> HOST_UNREACHABLE with
 * RV_ERR_NOT_FOUND; no answer in time -> HOST_UNREACHABLE with
 * RV_ERR_TIMEOUT; server failure/refusal/bad reply -> HOST_UNREACHABLE
 * with RV_ERR_IO; invalid name -> HOST_UNREACHABLE with RV_ERR_INVALID_ARG;
 * out of memory -> GENERAL_FAILURE with RV_ERR_NOMEM.
 * RFC 6761 special names never reach a server: "localhost" and
 * "*.localhost" (trailing dot or not) give 127.0.0.1 and ::1 (the caller's
 * access rules then judge them like any address); "invalid" and
 * "*.invalid" give NXDOMAIN (HOST_UNREACHABLE, RV_ERR_NOT_FOUND). */

struct rv_dns;
struct rv_dns_query;

/* res and everything it points to are valid during the call only. */
typedef void (*rv_dns_cb)(void *arg, const struct rv_dns_result *res);

/* err gets a message naming the bad --dns value on RV_ERR_CONFIG. */
int rv_dns_new(struct rv_loop *loop, const struct rv_dns_config *cfg, struct rv_dns **out,
	       char *err, size_t errlen);
/* Cancels every query (no callbacks).  NULL safe; callable from callbacks. */
void rv_dns_free(struct rv_dns *dns);

/* Resolve name (a host name or an IP literal, no brackets) for port.
 * *out (may be NULL if the caller never cancels) gets the handle.
 * Fails only for RV_ERR_NOMEM / RV_ERR_INVALID_ARG (NULL arguments); a bad
 * name is reported through the callback like any other failure. */
int rv_dns_resolve(struct rv_dns *dns, const char *name, uint16_t port, rv_dns_cb cb,
		   void *arg, struct rv_dns_query **out);
/* After this the callback is never called.  NULL safe. */
void rv_dns_cancel(struct rv_dns_query *q);

struct rv_dns_stats {
	uint64_t queries;     /* rv_dns_resolve calls */
	uint64_t cache_hits;  /* answered from the cache (positive or negative) */
	uint64_t lookups;     /* sent to c-ares */
	uint64_t coalesced;   /* joined a lookup already in flight */
	uint64_t failures;    /* answers with a non-OK status */
	size_t cache_entries;
};
void rv_dns_get_stats(const struct rv_dns *dns, struct rv_dns_stats *st);

/* Drop every cache entry (e.g. on SIGHUP). */
void rv_dns_cache_clear(struct rv_dns *dns);

#endif
