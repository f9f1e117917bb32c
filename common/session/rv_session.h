/* rv_session.h - the transport-agnostic tunnel core shared by rvpn-client
 * and rvpn-server: one session per WebSocket, after the handshake.
 *
 * A session owns
 *   - the Double Ratchet (handed over by rv_session_new, freed with it);
 *   - the ordered outbox: frames are queued as plaintext and sealed only in
 *     rv_session_next_message(), which hands out exactly that message; the
 *     owner writes it and calls rv_session_message_sent().  Encryption order
 *     is therefore send order by construction;
 *   - the stream table and every stream's local fd (see rv_stream.h);
 *   - keepalive (PING every keepalive_interval_ms; dead when nothing at all
 *     was received for keepalive_timeout_ms), GOAWAY, limits, statistics.
 *
 * Owner's duties (client and server programs):
 *   - feed every received WebSocket binary message to rv_session_on_message;
 *   - when on_want_write fires (or whenever convenient), ask the WebSocket
 *     for a WRITEABLE callback; in it call rv_session_next_message(), write
 *     the message (the rv_session_config.headroom bytes before *msg are
 *     writable scratch space, e.g. LWS_PRE), then rv_session_message_sent();
 *     with lws: one lws_write per WRITEABLE, and ask for the next WRITEABLE
 *     while rv_session_send_queue_bytes() > 0;
 *   - when on_closed fires: the session is dead (protocol error, a message
 *     that did not open, keepalive timeout, or GOAWAY drained).  Drain rv_session_next_message() if the
 *     WebSocket is still usable (a GOAWAY may be queued), then close the
 *     WebSocket and rv_session_free() the session.
 *
 * Watermarks: rv_session_send_queue_bytes() counts plaintext queued but not
 * yet written.  Above config.high_water the session stops reading every
 * local fd; below config.low_water it resumes.  Above config.input_stop
 * (only control frames answering the peer's input get there: a peer that
 * floods CONNECTs or PINGs and never reads) it asks the owner to stop
 * reading the WebSocket (on_input_flow) until low water.  Control frames (WINDOW_UPDATE, PING/PONG, CONNECT,
 * RESPONSE, GOAWAY, DATAGRAM_CLOSE) go out ahead of queued DATA; FIN and RESET stay in
 * order with their stream's DATA.  Datagrams (config.datagram) go after
 * control frames and ahead of DATA, from a queue of at most
 * config.datagram_queue bytes (full: new ones are dropped).
 *
 * Memory bound per session (whatever a slow side does):
 *   outbox   <= input_stop + one message's answers; below that:
 *            <= high_water + 4 * RV_FRAME_DATA_MAX (one batch of reads
 *               past the mark) + a few control frames per stream (CONNECT or
 *               RESPONSE, FIN, RESET, and WINDOW_UPDATEs: credit is only
 *               returned for data the peer sent, which needs credit, in
 *               steps of half the announced window: at most 2 x window /
 *               announced window of them, 2 without window growth)
 *               + PONGs (dropped while control frames exceed
 *               RV_PLAINTEXT_MAX);
 *   streams  <= max_streams * (local_window + RV_FRAME_DATA_MAX bytes of
 *               data for the local fd + sizeof(struct) ~ 300 bytes);
 *   datagrams <= config.datagram_queue (+ one chunk's slack);
 *   receive  one RV_MSG_MAX plaintext buffer, one sealed RV_MSG_MAX message.
 * With the defaults (1 MiB, 1024 streams x 512 KiB) the stream part is
 * reached only if every stream's local reader stops; lower local_window or
 * max_streams to lower the bound.  Window growth adds at most the pool's
 * budget (windows grow only while their reader keeps up, so the grown part
 * is held only by a reader that stops after going fast).
 *
 * Callbacks run from inside session entry points (rv_session_on_message,
 * loop callbacks, rv_session_free).  The owner may call any session or
 * stream function from a callback, including rv_session_free(): freeing is
 * deferred until the outermost session call returns.
 *
 * Not thread-safe: one loop thread per session.
 */
#ifndef RV_SESSION_H
#define RV_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "rv_frame.h"
#include "rv_loop.h"
#include "rv_ratchet.h"
#include "rv_wire.h"

struct rv_session;
struct rv_stream;

enum rv_session_role {
	RV_SESSION_ROLE_INVALID = 0,
	RV_SESSION_CLIENT = 1, /* opens streams (SOCKS / -L side) */
	RV_SESSION_SERVER = 2, /* accepts streams, connects targets */
};

enum rv_session_state {
	RV_SESSION_STATE_INVALID = 0,
	RV_SESSION_OPEN = 1,    /* relaying, new streams allowed */
	RV_SESSION_GOAWAY = 2,  /* GOAWAY sent or received: no new streams,
				 * existing ones drain */
	RV_SESSION_CLOSED = 3,  /* dead: on_closed has been called */
};

struct rv_session_callbacks {
	/* The outbox went from empty to non-empty: request a WRITEABLE. */
	void (*on_want_write)(struct rv_session *s, void *arg);
	/* The session died.  err: RV_ERR_TIMEOUT (keepalive), RV_ERR_MALFORMED
	 * (peer protocol error, or a message too large or badly framed),
	 * RV_ERR_AUTH / RV_ERR_ORDER / RV_ERR_REPLAY / RV_ERR_UNSUPPORTED /
	 * RV_ERR_CRYPTO (a transport message did not open: see rv_ratchet.h),
	 * RV_ERR_CLOSED (GOAWAY and no streams left), RV_ERR_NOMEM/
	 * RV_ERR_INTERNAL.  Every stream has been reset (local sockets closed
	 * with an RST) before this is called.  Called at most once. */
	void (*on_closed)(struct rv_session *s, int err, void *arg);
	/* Server: the peer asked for a stream to dst.  Resolve/connect (may be
	 * asynchronous), then rv_stream_accept() or rv_stream_reject().  If the
	 * stream dies first (peer RESET, session freed) on_stream_closed fires
	 * and the owner must abandon the attempt. */
	void (*on_stream_connect)(struct rv_session *s, struct rv_stream *st,
				  const struct rv_addr *dst, void *arg);
	/* Client: the outcome of rv_session_stream_open, exactly once per
	 * stream (unless the owner reset the stream first).  status OK: bound is
	 * the server's bound address; the owner may rv_stream_write_local() its
	 * SOCKS success reply, relaying starts when the callback returns.
	 * Otherwise (bound NULL) the stream closes when the callback returns;
	 * the owner may queue a failure reply with rv_stream_write_local() (sent
	 * best effort) or take the fd back with rv_stream_detach_fd() - e.g. if
	 * rv_stream_retryable(st), to retry the request on a new session. */
	void (*on_stream_response)(struct rv_stream *st, enum rv_status status,
				   const struct rv_addr *bound, void *arg);
	/* Every stream, exactly once, just before it is freed and its fd closed
	 * (fd still open here unless detached).  Do not use st afterwards. */
	void (*on_stream_closed)(struct rv_stream *st, void *arg);
	/* Stop (enable 0) or resume (1) reading the WebSocket: the outbox
	 * passed config.input_stop (a peer that sends without reading), or fell
	 * back to low water.  With lws: lws_rx_flow_control(wsi, enable). */
	void (*on_input_flow)(struct rv_session *s, int enable, void *arg);
	/* The peer sent GOAWAY (informational; the session handles it). */
	void (*on_goaway)(struct rv_session *s, uint32_t last_stream,
			  enum rv_goaway_reason reason, void *arg);
	/* Remote forwards (config.remote_fwd only; PROTOCOL.md "Remote
	 * forwards").  A LISTEN (server), LISTEN_RESPONSE (client) or
	 * LISTEN_CLOSE (both) arrived; the session checked its direction and,
	 * for LISTEN, that req grows.  The server owner answers every LISTEN
	 * with rv_session_send_listen(LISTEN_RESPONSE); with no callback the
	 * session answers RV_LISTEN_FAILED itself. */
	void (*on_listen)(struct rv_session *s, const struct rv_frame *f, void *arg);
	/* Client: the server opened stream st (REMOTE_CONNECT) from listener
	 * req with address addr.  As on_stream_connect: rv_stream_accept() or
	 * rv_stream_reject(), possibly later.  With no callback the stream is
	 * refused (RESET REFUSED_STREAM). */
	void (*on_remote_connect)(struct rv_session *s, struct rv_stream *st, uint32_t req,
				  const struct rv_addr *addr, void *arg);
	/* Datagrams (config.datagram; PROTOCOL.md §6.11, §8A).  A DATAGRAM
	 * for association assoc: peer is the destination (server) or the
	 * reply's source, always an IP (client); data is valid only during
	 * the call, len 0..RV_DATAGRAM_MAX.  Server: the session passes only
	 * ids the id rules allow (a new id greater than every id seen, or one
	 * seen before: the owner drops those it has closed; the session tracks
	 * no associations).  Client: any id; the owner drops unknown ones. */
	void (*on_datagram)(struct rv_session *s, uint32_t assoc, const struct rv_addr *peer,
			    const uint8_t *data, size_t len, void *arg);
	/* The peer closed association assoc (reason: enum rv_dgram_close_reason). */
	void (*on_datagram_close)(struct rv_session *s, uint32_t assoc, uint8_t reason, void *arg);
	void *arg;
};

/* Window bytes granted beyond the announced windows (window growth), shared
 * by the sessions that point at it (the server: all sessions of one key).
 * The owner keeps it alive until those sessions are freed. */
struct rv_window_pool {
	size_t budget;
	size_t used;
};

/* Zero fields take the defaults named in brackets. */
struct rv_session_config {
	enum rv_session_role role;
	/* Receive window we grant per stream [RV_STREAM_WINDOW_DEFAULT].
	 * Server: the stream_window it announced in the handshake. */
	uint32_t local_window;
	/* Client: the server's stream_window from the handshake (our initial
	 * send credit per stream) [RV_STREAM_WINDOW_DEFAULT].  Server: unused
	 * (each PROXY_CONNECT carries the client's window). */
	uint32_t peer_window;
	/* Server: streams the peer may have open; client: streams we open
	 * (the server's announced max_streams) [RV_MAX_STREAMS_DEFAULT]. */
	uint32_t max_streams;
	/* PING interval; 0 = send no PINGs (the server answers only)
	 * [client: RV_KEEPALIVE_DEFAULT_S s, server: 0]. */
	uint32_t keepalive_interval_ms;
	/* Dead when nothing was received for this long
	 * [RV_KEEPALIVE_TIMEOUT_DEFAULT_S s]; UINT32_MAX disables. */
	uint32_t keepalive_timeout_ms;
	/* Stream with no traffic either way for this long is reset
	 * [RV_STREAM_IDLE_TIMEOUT_DEFAULT_S s]; UINT32_MAX disables. */
	uint32_t idle_timeout_ms;
	size_t high_water;  /* [RV_WS_SEND_HIGH_WATER] */
	size_t low_water;   /* [RV_WS_SEND_LOW_WATER] */
	size_t input_stop;  /* [RV_WS_INPUT_STOP]; > high_water */
	size_t headroom;    /* scratch bytes before each message [0]; LWS_PRE */
	/* Both ends agreed on window growth in the handshake (PROTOCOL.md
	 * §8.1): as a receiver, a stream's window doubles (up to max_window)
	 * when the peer moved half of it through us within 2 RTT while the
	 * local reader kept up; as a sender, credit up to RV_STREAM_WINDOW_MAX
	 * is accepted.  0: fixed windows, as with older peers. */
	int window_growth;
	/* Large windows agreed too (only with window_growth): both bounds
	 * above are RV_STREAM_WINDOW_LARGE_MAX instead. */
	int window_large;
	/* Cap on our own receive windows [the credit bound above]. */
	uint32_t max_window;
	/* Growth is paid from *window_pool if set, else from a pool of the
	 * session's own of window_budget bytes [RV_SESSION_WINDOW_BUDGET_DEFAULT]. */
	struct rv_window_pool *window_pool;
	size_t window_budget;
	/* Largest sealed message this side may send [RV_MSG_MAX]; the client
	 * passes the server's max_message.  At least rv_session_min_message()
	 * (rv_session_new fails otherwise). */
	size_t max_message;
	/* Both ends agreed on remote forwards (RV_HS_REMOTE_FWD): frames 12..15
	 * and server-opened streams; 0: they are protocol errors. */
	int remote_fwd;
	/* Server-opened streams at once: the server opens no more, the client
	 * refuses more [RV_REMOTE_STREAMS_DEFAULT]. */
	uint32_t max_remote_streams;
	/* RV_CAP_DATAGRAM was agreed in the handshake: DATAGRAM frames may be
	 * sent and received.  0: they are a protocol error. */
	int datagram;
	/* Bytes of DATAGRAM frames queued before new ones are dropped
	 * [RV_DGRAM_QUEUE_DEFAULT]. */
	size_t datagram_queue;
	const char *name;   /* log prefix, e.g. peer address [role name] */
};

struct rv_session_stats {
	uint64_t msgs_out, msgs_in;      /* transport messages */
	uint64_t bytes_out, bytes_in;    /* WebSocket payload bytes */
	uint64_t msgs_dropped;           /* refused (0 or 1: the first ends the session) */
	uint64_t data_out, data_in;      /* stream payload bytes */
	uint64_t streams_opened, streams_closed, streams_refused;
	uint64_t streams_reset_sent, streams_reset_received;
	uint64_t pings_sent, pongs_received;
	uint32_t rtt_ms;                 /* last PING round trip */
	uint32_t rtt_min_us;             /* least PING round trip (window growth) */
	uint32_t streams_active;
	uint64_t watermark_pauses;       /* times the high water mark was hit */
	uint64_t streams_resumed;        /* streams woken on leaving high water:
					  * only those the pause held back */
	uint64_t window_grows;           /* receive windows doubled */
	uint64_t tick_streams_visited;   /* streams the tick looked at to free a
					  * drained buffer: only those holding one */
	uint64_t window_grown_bytes;     /* now granted beyond the announced windows */
	uint64_t remote_streams_opened;  /* server-opened streams (either side) */
	/* Datagrams (payload bytes in *_bytes). */
	uint64_t dgram_sent, dgram_sent_bytes;          /* queued for the peer */
	uint64_t dgram_received, dgram_received_bytes;  /* handed to on_datagram */
	uint64_t dgram_dropped_queue;    /* send queue full */
	uint64_t dgram_dropped_long;     /* too long for a frame / message */
	uint64_t dgram_closes_sent, dgram_closes_received;
};

/* Takes ownership of ratchet (also on failure: it is freed).  Calls no
 * callback.  A client session starts with a PING queued (it lets the
 * server's ratchet start sending): request a WRITEABLE after creating it. */
int rv_session_new(struct rv_loop *loop, const struct rv_session_config *cfg,
		   struct rv_ratchet *ratchet, const struct rv_session_callbacks *cb,
		   struct rv_session **out);
/* Closes every stream (on_stream_response with GENERAL_FAILURE/retryable
 * for client streams still connecting, then on_stream_closed; their fds are
 * closed with an abortive RST unless detached) and frees everything.  NULL
 * safe; from inside a callback the free is deferred. */
void rv_session_free(struct rv_session *s);

/* One received WebSocket message.  Returns 0 when it was handled, or a
 * negative error when the session died because of it (on_closed has been
 * called).  A message that does not open (forged, out of order, replayed,
 * truncated, too large) is fatal: the session sends GOAWAY(PROTOCOL_ERROR),
 * resets every stream and logs the reason once. */
int rv_session_on_message(struct rv_session *s, const uint8_t *msg, size_t len);

/* Next sealed message to send: 1 and (*msg, *len) set, or 0 if nothing is
 * queued, or a negative error.  The same message is returned again until
 * rv_session_message_sent(); config.headroom bytes before *msg may be
 * overwritten by the transport. */
int rv_session_next_message(struct rv_session *s, uint8_t **msg, size_t *len);
void rv_session_message_sent(struct rv_session *s);
/* Plaintext and sealed bytes not yet written (the watermark quantity). */
size_t rv_session_send_queue_bytes(const struct rv_session *s);
/* 1 while the owner must keep asking for WRITEABLE (something is queued
 * since the last on_want_write); 0 once next_message or message_sent found
 * every queue empty: the next frame queued calls on_want_write again. */
int rv_session_wants_write(const struct rv_session *s);
/* Everything this session holds in user space for its peer and its local
 * sockets: the send queue plus data waiting for slow local fds. */
size_t rv_session_buffered_bytes(const struct rv_session *s);
/* 1 while the session asks its owner not to read the WebSocket. */
int rv_session_input_stopped(const struct rv_session *s);

/* Send GOAWAY and stop taking new streams; existing ones drain.  When the
 * last stream is gone on_closed(RV_ERR_CLOSED) fires.  Idempotent. */
int rv_session_goaway(struct rv_session *s, enum rv_goaway_reason reason);

/* Reset every stream now: PROXY_RESET(reason) queued for each (in order
 * after its queued DATA), fds closed abortively, on_stream_closed for each.
 * The session stays usable so the RESETs can be written; after a GOAWAY
 * on_closed(RV_ERR_CLOSED) follows since no stream is left.  Server
 * shutdown/revocation at the end of its grace time. */
void rv_session_reset_streams(struct rv_session *s, enum rv_reset_reason reason);

/* Client: open a stream for the connected local socket fd to dst: queues
 * PROXY_CONNECT.  The session owns fd from now on (closes it; see
 * rv_stream_detach_fd); pass it non-blocking (else one F_SETFL more).  Nothing is read from fd before the response.
 * early/early_len: bytes the owner already read from fd past the SOCKS
 * request (at most RV_FRAME_DATA_MAX), sent first once the stream is open.
 * RV_ERR_LIMIT at max_streams, RV_ERR_CLOSED after GOAWAY or death (fd
 * still the caller's on any failure). */
int rv_session_stream_open(struct rv_session *s, int fd, const struct rv_addr *dst,
			   const void *early, size_t early_len, void *user,
			   struct rv_stream **out);

/* Server, remote forwards: open a stream toward the client for the
 * accepted local socket fd (queues REMOTE_CONNECT(req, addr)), like
 * rv_session_stream_open on a client: on_stream_response reports the
 * client's PROXY_RESPONSE.  RV_ERR_UNSUPPORTED unless config.remote_fwd,
 * RV_ERR_STATE on a client, RV_ERR_LIMIT at max_remote_streams,
 * RV_ERR_CLOSED after GOAWAY (fd still the caller's on any failure). */
int rv_session_stream_open_remote(struct rv_session *s, int fd, uint32_t req,
				  const struct rv_addr *addr, const void *early,
				  size_t early_len, void *user, struct rv_stream **out);
/* Queue a LISTEN (client), LISTEN_RESPONSE (server) or LISTEN_CLOSE
 * (both) frame.  RV_ERR_UNSUPPORTED unless config.remote_fwd,
 * RV_ERR_STATE for a frame of the wrong type or direction, RV_ERR_CLOSED
 * once the session is dead (a LISTEN also after GOAWAY). */
int rv_session_send_listen(struct rv_session *s, const struct rv_frame *f);
/* Remote forwards agreed on this session (config.remote_fwd). */
int rv_session_remote_fwd(const struct rv_session *s);
/* Live server-opened streams. */
uint32_t rv_session_remote_stream_count(const struct rv_session *s);
/* Queue one datagram for association assoc (client: destination peer, any
 * address type; server: the reply's source, an IP).  It leaves in the next
 * message, ahead of queued stream DATA.  RV_OK; RV_ERR_LIMIT: dropped, the
 * datagram queue is full (counted); RV_ERR_STATE: datagrams not agreed, or
 * the session is closing; RV_ERR_INVALID_ARG: assoc 0, bad address, or too
 * long (over RV_DATAGRAM_MAX or the peer's max_message; counted). */
int rv_session_datagram_send(struct rv_session *s, uint32_t assoc, const struct rv_addr *peer,
			     const uint8_t *data, size_t len);
/* Queue DATAGRAM_CLOSE(assoc, reason) (control priority).  RV_ERR_STATE
 * if datagrams are not agreed or the session is closed. */
int rv_session_datagram_close(struct rv_session *s, uint32_t assoc, uint8_t reason);

/* Smallest config.max_message a session works with: the outer overhead
 * plus the largest control frame (a CONNECT to a 255-byte name). */
size_t rv_session_min_message(void);
/* The most credit a sender may hold on one stream under cfg (PROTOCOL.md
 * §8, §8.1): RV_STREAM_WINDOW_MAX, or RV_STREAM_WINDOW_LARGE_MAX with
 * large windows agreed. */
uint32_t rv_session_credit_bound(const struct rv_session_config *cfg);

enum rv_session_state rv_session_get_state(const struct rv_session *s);
enum rv_session_role rv_session_get_role(const struct rv_session *s);
void rv_session_get_stats(const struct rv_session *s, struct rv_session_stats *st);
/* Read-only: the ratchet's counters (DH steps); zeroes if s is NULL. */
void rv_session_get_ratchet_stats(const struct rv_session *s, struct rv_ratchet_stats *st);
uint32_t rv_session_stream_count(const struct rv_session *s);
const char *rv_session_state_str(enum rv_session_state st);

#endif
