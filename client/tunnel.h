/* tunnel.h - the client's WebSocket to rvpn-server (owner: client helper):
 * lws client connection, Noise IK handshake with the pinned server key,
 * the session on top, keepalive (by the session) and reconnection with
 * exponential backoff and jitter.  One log line per state change.
 *
 * After a GOAWAY from the server the tunnel holds two WebSockets: the old
 * one drains its streams (until they end, the server's drain limit or an
 * error) while a new one is opened at once for new streams.  At most one
 * drains: a GOAWAY on the new one before the old one finished closes the
 * old one.  The state below is the new (current) one's.
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
};
void rv_tunnel_get_info(const struct rv_tunnel *t, struct rv_tunnel_info *out);
/* Protocol table entry for the client vhost.  rx/tx sizes: whole
 * messages per read and write (see ../shared/notes/libwebsockets-mbedtls.md). */
int rv_tunnel_lws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
			   void *in, size_t len);
#define RV_TUNNEL_PROTOCOL                                                          \
	{ RV_WS_SUBPROTOCOL, rv_tunnel_lws_callback, 0, RV_MSG_MAX + 14, 0, NULL, \
	  RV_MSG_MAX + 14 }

#endif
