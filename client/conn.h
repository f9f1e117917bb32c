/* conn.h - one accepted local connection of rvpn-client (owner: client
 * helper).  A SOCKS connection negotiates first (socks.c); a -L connection
 * starts with its target known.  Then it waits (bounded) for the tunnel and
 * becomes a stream of the session, which owns the fd from then on.
 *
 *   NEGOTIATING (SOCKS only) -> WAITING -> CONNECTING -> OPEN -> freed in
 *   on_stream_closed; a retryable failure (session died before answering)
 *   takes the fd back: CONNECTING -> WAITING.  Any state before OPEN may
 *   go to CLOSING (failure reply flushed, then closed).
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

enum rv_conn_kind {
	RV_CONN_KIND_INVALID = 0,
	RV_CONN_SOCKS = 1,
	RV_CONN_FORWARD = 2,
};

enum rv_conn_state {
	RV_CONN_STATE_INVALID = 0,
	RV_CONN_NEGOTIATING = 1, /* SOCKS greeting/auth/request */
	RV_CONN_WAITING = 2,     /* in the wait queue: no tunnel / no slot */
	RV_CONN_CONNECTING = 3,  /* stream opened, PROXY_RESPONSE pending */
	RV_CONN_OPEN = 4,        /* relaying; the session owns the fd */
	RV_CONN_CLOSING = 5,     /* flushing a failure reply, then close */
};

struct rv_conn {
	struct rv_client *cl;
	enum rv_conn_kind kind;
	enum rv_conn_state state;
	int fd;                   /* -1 once the session owns it */
	struct rv_loop_fd *w;
	struct rv_loop_timer *timer;
	struct rv_socks5 socks;
	struct rv_buf in;         /* SOCKS input; afterwards early data */
	struct rv_buf out;        /* replies we write ourselves */
	struct rv_addr dst;
	uint64_t wait_deadline;   /* loop ms: give up waiting after this */
	struct rv_stream *st;
	char peer[RV_CLI_ADDRSTR_MAX];
	struct sockaddr_storage peer_sa;       /* source, for authlimit.c */
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

/* socks.c */
int rv_socks_start(struct rv_conn *c);

#endif
