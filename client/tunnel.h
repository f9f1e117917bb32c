/* tunnel.h - the client's WebSockets to rvpn-server (owner: client helper):
 * lws client connections, Noise IK handshakes with the pinned server keys,
 * the sessions on top, keepalive (by the session), failover between the
 * server URLs and reconnection with exponential backoff and jitter.  One
 * log line per state change.
 *
 * Servers: one entry per URL (opts->servers), each with its own state
 * (UNKNOWN -> HEALTHY / FAILED; FAILED is held off for a while, doubling
 * per consecutive failure, then UNKNOWN again).  The live tunnel is one
 * link (WebSocket + session) to one server, chosen by --pick:
 *   first: the first server in order that is not FAILED; when an earlier
 *          one's hold-off ends, a link to it is tried in the background
 *          and, once up, takes the new streams while the old link drains
 *          (no stream is cut by the return);
 *   rtt:   links to every candidate at once; the lowest handshake round
 *          trip wins (the others are closed).  Re-evaluated on reconnect.
 * When the live link dies (close, keepalive, handshake or TLS failure,
 * GOAWAY) its server is marked FAILED and the next one is tried at once;
 * only when every server has failed in a row does the backoff apply.
 *
 * After a GOAWAY (or a return to a preferred server) the old link drains
 * its streams (until they end, the server's drain limit or an error) while
 * new streams use the new one.  At most one drains: a GOAWAY on the new one
 * before the old one finished closes the old one.  Links are bounded:
 * one per server plus two.  enum rv_tunnel_state is the tunnel as a whole.
 */
#ifndef RV_CLIENT_TUNNEL_H
#define RV_CLIENT_TUNNEL_H

#include <libwebsockets.h>

#include "client.h"
#include "rv_session.h"

enum rv_tunnel_state {
	RV_TUNNEL_STATE_INVALID = 0,
	RV_TUNNEL_CONNECTING = 1,  /* TCP / TLS / WebSocket upgrade */
	RV_TUNNEL_HANDSHAKING = 2, /* Noise message 1 sent, waiting for 2 */
	RV_TUNNEL_UP = 3,          /* session open: streams may be opened */
	RV_TUNNEL_BACKOFF = 4,     /* down, reconnect timer armed */
	RV_TUNNEL_STOPPED = 5,     /* shutting down */
};

/* What the tunnel tells the layer above it (conn.c, wired by client.c), so
 * tunnel.c never calls into conn.c: calls go conn.c -> tunnel.c only. */
struct rv_tunnel_hooks {
	/* The session is up: streams may be opened. */
	void (*on_up)(struct rv_client *cl);
	void (*on_stream_response)(struct rv_stream *st, enum rv_status status,
				   const struct rv_addr *bound);
	void (*on_stream_closed)(struct rv_stream *st);
	/* Optional (-W): the tunnel went down, with the reason that is logged;
	 * called before its session's streams are reset. */
	void (*on_down)(struct rv_client *cl, const char *reason);
	/* Remote forwards (optional): a session is up (remote_fwd: agreed), a
	 * LISTEN_RESPONSE / LISTEN_CLOSE, a server stream to connect, and
	 * on_stream_closed for server streams (ids with RV_STREAM_ID_SERVER). */
	void (*on_session_up)(struct rv_client *cl, struct rv_session *s, int remote_fwd);
	void (*on_listen)(struct rv_client *cl, struct rv_session *s, const struct rv_frame *f);
	void (*on_remote_connect)(struct rv_client *cl, struct rv_session *s,
				  struct rv_stream *st, uint32_t req, const struct rv_addr *addr);
	void (*on_remote_closed)(struct rv_stream *st);
	/* Datagrams (udp.c); s tells the sessions apart. */
	void (*on_datagram)(struct rv_client *cl, struct rv_session *s, uint32_t assoc,
			    const struct rv_addr *peer, const uint8_t *data, size_t len);
	void (*on_datagram_close)(struct rv_client *cl, struct rv_session *s, uint32_t assoc,
				  uint8_t reason);
};

/* hooks is borrowed and must outlive the tunnel. */
int rv_tunnel_new(struct rv_client *cl, const struct rv_tunnel_hooks *hooks,
		  struct rv_tunnel **out);
/* Closes the WebSocket and frees the session (its streams are reset). */
void rv_tunnel_free(struct rv_tunnel *t);
/* SIGTERM: no more reconnects or new streams; GOAWAY on every open
 * session, whose streams go on draining.  Idempotent. */
void rv_tunnel_shutdown(struct rv_tunnel *t);
/* 1 when no stream is left on any WebSocket and nothing is left to write
 * (*streams: how many are left). */
int rv_tunnel_drained(const struct rv_tunnel *t, uint32_t *streams);
/* The session if the tunnel is up and takes new streams, else NULL. */
struct rv_session *rv_tunnel_session(struct rv_tunnel *t);
enum rv_tunnel_state rv_tunnel_get_state(const struct rv_tunnel *t);
/* 1 if the server agreed datagrams (RV_CAP_DATAGRAM) on the current
 * session. */
int rv_tunnel_datagram_agreed(const struct rv_tunnel *t);
/* Read-only snapshot for status.c (sessions borrowed, valid until the
 * next loop iteration). */
struct rv_tunnel_info {
	enum rv_tunnel_state state;
	uint64_t attempts;                 /* connection attempts so far */
	uint64_t up_since_ms;              /* loop ms the session came up, 0: not up */
	const struct rv_session *session;  /* current, or NULL */
	const struct rv_session *draining; /* after a GOAWAY, or NULL */
	size_t n_servers;
	int live;                          /* index of the live server, -1: none */
	uint64_t failovers;                /* live server changed since start */
};
void rv_tunnel_get_info(const struct rv_tunnel *t, struct rv_tunnel_info *out);

/* One server entry's state (see the top of this file). */
enum rv_tunnel_server_state {
	RV_TUNNEL_SERVER_INVALID = 0,
	RV_TUNNEL_SERVER_UNKNOWN = 1, /* not tried yet, or its hold-off is over */
	RV_TUNNEL_SERVER_HEALTHY = 2, /* its last link came up */
	RV_TUNNEL_SERVER_FAILED = 3,  /* last link failed: held off until retry */
};
struct rv_tunnel_server_info {
	const char *url;                  /* borrowed from the options */
	enum rv_tunnel_server_state state;
	const char *health;               /* "unknown" / "healthy" / "failed" */
	int live;                         /* carries new streams */
	int draining;                     /* an old link to it drains */
	int connecting;                   /* a link to it is being set up */
	uint32_t rtt_us;                  /* last handshake round trip, 0: none */
	uint64_t failures;                /* since start */
	uint32_t fail_streak;             /* in a row */
	uint64_t retry_in_ms;             /* FAILED: hold-off left */
	const char *last_error;           /* "" if none */
};
/* RV_OK, or RV_ERR_INVALID_ARG when i >= n_servers.  Strings borrowed
 * until the next loop iteration. */
int rv_tunnel_get_server(const struct rv_tunnel *t, size_t i, struct rv_tunnel_server_info *out);
/* Protocol table entry for the client vhost.  rx/tx sizes: whole
 * messages per read and write (see ../shared/notes/libwebsockets-mbedtls.md). */
int rv_tunnel_lws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
			   void *in, size_t len);
#define RV_TUNNEL_PROTOCOL                                                          \
	{ RV_WS_SUBPROTOCOL, rv_tunnel_lws_callback, 0, RV_MSG_MAX + 14, 0, NULL, \
	  RV_MSG_MAX + 14 }

#endif
