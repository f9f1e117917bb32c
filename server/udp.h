/* udp.h - the server's side of datagrams (PROTOCOL.md §6.11, §6.12, §8A):
 * per session, a table of UDP associations, each with one unconnected,
 * non-blocking UDP socket per address family it used, watched on the loop.
 *
 * Owner: each struct rv_conn with datagrams agreed owns one struct rv_udp
 * (rv_udp_new after the session, rv_udp_free before the session is freed).
 * The table owns its associations, their sockets, pending datagrams and DNS
 * queries.  Server-wide counters live in struct rv_server (srv->udp).
 *
 * Bounds: associations per session (--udp-max-assoc) and, with the streams,
 * per key (--max-streams-per-key) and descriptors; per association
 * RV_UDP_PENDING_MAX datagrams waiting for a name (RV_UDP_PENDING_BYTES of
 * payload per session), RV_UDP_PEERS_MAX
 * addresses replies are accepted from, RV_UDP_NAME_CACHE names; replies are
 * queued in the session's bounded datagram queue.  Beyond any bound a
 * datagram is dropped and counted.
 */
#ifndef RV_SERVER_UDP_H
#define RV_SERVER_UDP_H

#include <stddef.h>
#include <stdint.h>

#include "rv_frame.h"

enum rv_udp_limits {
	RV_UDP_PENDING_MAX = 8,       /* datagrams waiting for DNS, per association */
	RV_UDP_PENDING_BYTES = 256 * 1024, /* their payload bytes, per session */
	RV_UDP_PEERS_MAX = 16,        /* reply sources remembered, per association */
	RV_UDP_NAME_CACHE = 4,        /* resolved names, per association */
	RV_UDP_NAME_TTL_MS = 30000,   /* at most; the DNS answer's TTL if shorter */
	RV_UDP_READS_PER_EVENT = 16,  /* recvfrom per readiness event */
	RV_UDP_MAX_ASSOC_LIMIT = 4096,
};

/* Server-wide counters (status, metrics). */
struct rv_udp_counters {
	uint32_t assocs_active;
	uint32_t fds;                 /* UDP sockets open */
	uint64_t assocs_total;
	uint64_t assocs_refused;      /* limit (session, key, descriptors) */
	uint64_t assocs_idle_closed;
	uint64_t dgrams_out, bytes_out; /* sent to destinations */
	uint64_t dgrams_in, bytes_in;   /* replies queued for clients */
	uint64_t dropped_denied;      /* destination refused by the access rules */
	uint64_t dropped_resolve;     /* name did not resolve */
	uint64_t dropped_pending;     /* too many waiting for DNS */
	uint64_t dropped_closed;      /* for a closed or refused association */
	uint64_t dropped_foreign;     /* reply from an address not sent to */
	uint64_t dropped_send;        /* sendto failed, reply too long, queue full */
};

struct rv_server;
struct rv_conn;
struct rv_udp;

int rv_udp_new(struct rv_server *srv, struct rv_conn *c, struct rv_udp **out);
/* Closes every association (no frames: the session is ending). NULL safe. */
void rv_udp_free(struct rv_udp *u);
/* The session's on_datagram / on_datagram_close, forwarded by conn.c. */
void rv_udp_on_datagram(struct rv_udp *u, uint32_t assoc, const struct rv_addr *dst,
			const uint8_t *data, size_t len);
void rv_udp_on_close(struct rv_udp *u, uint32_t assoc, uint8_t reason);
uint32_t rv_udp_count(const struct rv_udp *u);

#endif
