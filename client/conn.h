/* conn.h - one accepted local connection of rvpn-client (owner: client
 * helper).  A -D connection negotiates first: mixed.c detects the protocol
 * (SOCKS5 in socks.c, SOCKS4/4a in socks4.c, HTTP in httprelay.c); a -L
 * connection starts with its target known.  Then it waits (bounded) for the
 * tunnel and becomes a stream of the session, which owns the fd from then on.
 *
 *   NEGOTIATING (-D only) [-> EARLY] -> WAITING -> CONNECTING -> OPEN -> freed in
 *   on_stream_closed; a retryable failure (session died before answering)
 *   takes the fd back: CONNECTING -> WAITING.  Any state before OPEN may
 *   go to CLOSING (failure reply flushed, then closed).  EARLY (--optimistic,
 *   tunnel up): a SOCKS or HTTP CONNECT request is answered at once, and
 *   the stream's request waits at most RV_CLIENT_EARLY_MS for the program's
 *   first bytes, so that they travel in the same message.
 *
 * Plain-HTTP proxying (absolute-URI requests) keeps the client's fd: the
 * conn goes NEGOTIATING -> RELAY and its struct rv_http_relay (httprelay.c)
 * reads requests and writes responses itself.  Each origin is a "leg": a
 * conn of kind HTTP_LEG over one end of a socketpair (the session owns the
 * other end as the stream's fd), with the usual WAITING -> CONNECTING ->
 * OPEN life, so the wait queue, retry and caps apply to it unchanged.
 */
#ifndef RV_CLIENT_CONN_H
#define RV_CLIENT_CONN_H

#include <stdint.h>
#include <sys/socket.h>

#include "client.h"
#include "rv_buf.h"
#include "rv_frame.h"
#include "rv_socks5.h"
#include "rv_stream.h"

enum rv_conn_sizes {
	/* Replies we write ourselves: SOCKS5/4 replies, the HTTP proxy's
	 * status answers and the PAC file (no bypass list: a few hundred
	 * bytes). */
	RV_CONN_OUT_MAX = 4096,
	RV_CONN_READ_CHUNK = 4096, /* per recv() while negotiating */
};

enum rv_conn_kind {
	RV_CONN_KIND_INVALID = 0,
	RV_CONN_SOCKS = 1,
	RV_CONN_FORWARD = 2,
	RV_CONN_HTTP_LEG = 3, /* one origin stream of an HTTP relay */
};

/* What a -D client speaks (mixed.c); decides the reply format. */
enum rv_conn_proto {
	RV_CONN_PROTO_NONE = 0,    /* not known yet (or -L, leg) */
	RV_CONN_PROTO_SOCKS5 = 1,
	RV_CONN_PROTO_SOCKS4 = 2,  /* SOCKS4 and SOCKS4a */
	RV_CONN_PROTO_HTTP = 3,    /* request head being read; local answers */
	RV_CONN_PROTO_CONNECT = 4, /* HTTP CONNECT: "200 Connection established" */
};

enum rv_conn_state {
	RV_CONN_STATE_INVALID = 0,
	RV_CONN_NEGOTIATING = 1, /* SOCKS greeting/auth/request */
	RV_CONN_WAITING = 2,     /* in the wait queue: no tunnel / no slot */
	RV_CONN_CONNECTING = 3,  /* stream opened, PROXY_RESPONSE pending */
	RV_CONN_OPEN = 4,        /* relaying; the session owns the fd */
	RV_CONN_CLOSING = 5,     /* flushing a failure reply, then close */
	RV_CONN_RELAY = 6,       /* HTTP relay: we keep the fd (httprelay.c) */
	RV_CONN_EARLY = 7,       /* --optimistic: replied, the request waits
				  * briefly for the app's first bytes */
};

struct rv_http_request;
struct rv_http_relay;

/* What a connection needs only until its stream is open: allocated with
 * the conn, freed (with the conn's timer) once the stream is open, so an
 * open connection does not carry it (710 bytes of each of 10,000 idle
 * streams). */
struct rv_conn_nego {
	struct rv_addr dst;              /* where the stream goes */
	struct rv_socks5 socks;          /* -D: SOCKS5 negotiation */
	struct sockaddr_storage peer_sa; /* -D: source, for authlimit.c */
};

struct rv_conn {
	struct rv_client *cl;
	enum rv_conn_kind kind;
	enum rv_conn_state state;
	enum rv_conn_proto proto;
	int fd;                   /* -1 once the session owns it */
	struct rv_loop_fd *w;
	struct rv_loop_timer *timer;
	struct rv_conn_nego *nego;    /* until the stream is open, then NULL */
	struct rv_http_request *http; /* PROTO_HTTP: the head being read */
	struct rv_http_relay *relay;  /* RELAY: the relay this conn runs */
	struct rv_http_relay *leg_of; /* HTTP_LEG: its relay (NULL: dropped) */
	int counted_open;             /* counted in cl->n_open */
	/* --optimistic: the success reply is out before PROXY_RESPONSE; a
	 * failure now resets the connection (no second reply). */
	int replied;
	struct rv_buf in;         /* SOCKS input; afterwards early data */
	struct rv_buf out;        /* replies we write ourselves */
	uint64_t wait_deadline;   /* loop ms: give up waiting after this */
	struct rv_stream *st;
	char peer[RV_CLI_ADDRSTR_MAX];
	struct rv_conn *prev, *next;           /* cl->conns */
	struct rv_conn *nego_prev, *nego_next; /* cl->nego_head FIFO */
	int in_nego;
	struct rv_conn *wait_next;             /* cl->wait_head FIFO */
	int in_wait;
};

/* Takes fd (accepted, non-blocking; sa/salen its peer).  Closes it on
 * failure, when the source is throttled (authlimit.c), or when the pending
 * cap is reached and no negotiating connection can be evicted. */
void rv_conn_accept(struct rv_client *cl, int fd, enum rv_conn_kind kind,
		    const struct rv_addr *target, const char *peer, const struct sockaddr *sa,
		    socklen_t salen);
/* SOCKS negotiation finished (or -L accepted): go to the tunnel. */
void rv_conn_start_stream(struct rv_conn *c);
/* Refuse: SOCKS reply (if status != OK and kind SOCKS), then close. */
void rv_conn_fail(struct rv_conn *c, enum rv_status status, const char *why);
void rv_conn_free(struct rv_conn *c);
/* Send what c->out holds: 1 when empty, 0 when the socket is full, -1 on
 * error. */
int rv_conn_flush(struct rv_conn *c);

/* The tunnel came up or a stream slot freed: start waiting connections. */
void rv_conn_dispatch_waiting(struct rv_client *cl);
/* Shutdown: close every connection the client still owns. */
void rv_conn_free_all(struct rv_client *cl);
/* Draining: refuse connections still negotiating or waiting (SOCKS
 * failure reply); those already handed to a stream continue. */
void rv_conn_drain(struct rv_client *cl);

/* Session callbacks for client streams (installed by tunnel.c). */
void rv_conn_on_stream_response(struct rv_stream *st, enum rv_status status,
				const struct rv_addr *bound);
void rv_conn_on_stream_closed(struct rv_stream *st);

/* Count c as relaying (not pending) or not: cl->n_open. */
void rv_conn_set_open(struct rv_conn *c, int open);
/* Put c in / take it out of the FIFO of evictable negotiating conns. */
void rv_conn_nego_link(struct rv_conn *c);
void rv_conn_nego_unlink(struct rv_conn *c);
/* Read what the socket has into c->in.  1: got bytes, 0: nothing now (or
 * c->in full), -1: EOF or error (c is still valid). */
int rv_conn_read(struct rv_conn *c);
/* A leg for an HTTP relay: a conn of kind HTTP_LEG over fd (one end of a
 * socketpair) to dst, not started (rv_conn_start_stream does that).
 * RV_ERR_LIMIT at the pending cap (fd closed either way on failure). */
int rv_conn_new_leg(struct rv_client *cl, int fd, const struct rv_addr *dst,
		    const char *peer, struct rv_http_relay *relay, struct rv_conn **out);

/* mixed.c: the -D port's protocol detection and per-protocol replies. */
int rv_mixed_start(struct rv_conn *c);
/* The reply to the app for the outcome of its stream (or of waiting for
 * the tunnel when tunnel_down), in c's protocol; nothing for PROTO_NONE.
 * bound may be NULL. */
int rv_mixed_build_reply(const struct rv_conn *c, enum rv_status st,
			 const struct rv_addr *bound, int tunnel_down, struct rv_buf *out);

/* 1 if a rate-limited line may be logged now; *suppressed: how many were
 * not since the last one (then reset). */
int rv_client_ratelog(struct rv_client *cl, struct rv_client_ratelog *rl, uint64_t *suppressed);

/* socks.c */
void rv_socks_on_io(struct rv_loop_fd *w, int fd, unsigned ev, void *arg);
void rv_socks_init(struct rv_conn *c);
/* socks4.c */
void rv_socks4_on_io(struct rv_loop_fd *w, int fd, unsigned ev, void *arg);

/* httprelay.c */
/* PROTO_HTTP negotiation: the first request head (fd watcher callback). */
void rv_http_on_io(struct rv_loop_fd *w, int fd, unsigned ev, void *arg);
/* The leg reports: its stream is open (OK), or failed (tunnel_down: it
 * gave up waiting for the tunnel), or it is being freed (gone). */
void rv_http_relay_leg_response(struct rv_http_relay *r, enum rv_status st, int tunnel_down);
void rv_http_relay_leg_gone(struct rv_http_relay *r);
/* rv_conn_free of the relay's conn: frees the relay (a leg we still own
 * the fd of is freed; an open one is detached and winds down). */
void rv_http_relay_free(struct rv_conn *c);
void rv_http_relay_on_timer(struct rv_conn *c);
/* SIGTERM: an idle relay closes now, a busy one after its response.  1 the
 * first time (something may have changed), then 0. */
int rv_http_relay_drain(struct rv_conn *c);

#endif
