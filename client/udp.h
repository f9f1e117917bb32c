/* udp.h - UDP on rvpn-client (owner: client helper): SOCKS5 UDP ASSOCIATE
 * on the -D port and -L udp:[BIND:]PORT:HOST:HOSTPORT, carried as
 * DATAGRAM frames of the session (PROTOCOL.md §6.11, §8A).
 *
 * An association is one SOCKS5 UDP ASSOCIATE (its TCP control connection
 * and its own UDP relay socket) or one source address of a -L udp socket.
 * Its id on the session is chosen here: 1, 2, 3 ... per session, never
 * reused; a new session (reconnect, GOAWAY hand-over) starts at 1 again
 * and ends every association of the previous one (SOCKS: the control
 * connection is closed, the app asks again; -L udp: the next datagram of
 * that source makes a new one).
 *
 *   SOCKS:   WAITING (no tunnel yet, <= RV_CLIENT_WAIT_MS) -> OPEN -> freed;
 *            refused: CLOSING (failure reply written, waiting for EOF,
 *            <= RV_CLIENT_LINGER_MS) -> freed.
 *   -L udp:  OPEN (made by a source's first datagram) -> freed.
 *
 * Bounds: --udp-max-assoc associations (at the limit the least recently
 * used -L udp source makes way; if every one is a SOCKS association, a new
 * ASSOCIATE is refused with reply 0x01 and closed at once, a new -L udp
 * source's datagram dropped), idle timeout
 * --udp-timeout (10 s at most for -L udp to port 53), datagram payload
 * RV_DATAGRAM_MAX.  Nothing is queued here: a datagram goes to the
 * session's bounded datagram queue or to the local socket at once, and is
 * dropped (counted) when either is full.
 *
 * The udp module owns every association, its sockets and the -L udp
 * sockets; the control connection's fd is taken over from conn.c. */
#ifndef RV_CLIENT_UDP_H
#define RV_CLIENT_UDP_H

#include <stdint.h>
#include <sys/socket.h>

#include "client.h"
#include "rv_frame.h"
#include "rv_session.h"

struct rv_udp;

/* Counters for status.c (since start). */
struct rv_udp_stats {
	uint64_t assoc_active;     /* now */
	uint64_t assoc_opened;     /* SOCKS accepted + -L udp sources */
	uint64_t assoc_refused;    /* SOCKS: limit, no UDP on the server, no tunnel */
	uint64_t assoc_evicted;    /* -L udp: least recently used, at the limit */
	uint64_t dgram_up, bytes_up;     /* to the tunnel */
	uint64_t dgram_down, bytes_down; /* to local apps */
	uint64_t dropped_no_tunnel;      /* tunnel down, or UDP not agreed */
	uint64_t dropped_queue;          /* session's datagram queue full */
	uint64_t dropped_bad;            /* bad SOCKS header, FRAG != 0, too long,
					  * wrong source */
	uint64_t dropped_local;          /* local socket full or failed */
};

/* Opens the -L udp sockets (logs and fails like listen.c). */
int rv_udp_new(struct rv_client *cl, struct rv_udp **out);
/* Closes everything without telling the session (teardown: the tunnel
 * is freed before).  NULL safe. */
void rv_udp_free(struct rv_udp *u);
/* SIGTERM: every association ends (DATAGRAM_CLOSE SHUTDOWN), the -L udp
 * sockets close. */
void rv_udp_drain(struct rv_udp *u);
/* A new session is up: associations of the previous one end, waiting
 * ASSOCIATEs are answered. */
void rv_udp_on_up(struct rv_udp *u);
/* socks.c: a SOCKS5 UDP ASSOCIATE was parsed on fd (the control
 * connection; its method reply is written).  Takes fd.  req: the
 * request's DST (the client's expected source, often 0.0.0.0:0). */
void rv_udp_socks_take(struct rv_udp *u, int fd, const struct rv_addr *req,
		       const struct sockaddr_storage *peer_sa, const char *peer);
/* The tunnel's session callbacks (tunnel.c via client.c's hooks). */
void rv_udp_on_datagram(struct rv_client *cl, struct rv_session *s, uint32_t assoc,
			const struct rv_addr *peer, const uint8_t *data, size_t len);
void rv_udp_on_datagram_close(struct rv_client *cl, struct rv_session *s, uint32_t assoc,
			      uint8_t reason);
void rv_udp_get_stats(const struct rv_udp *u, struct rv_udp_stats *out);

#endif
