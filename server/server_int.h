/* server_int.h - state shared by the server's files (server.c: process and
 * lws context; http.c: the decoy web site and upgrade filter; conn.c: one
 * WebSocket client connection). */
#ifndef RV_SERVER_INT_H
#define RV_SERVER_INT_H

#include <libwebsockets.h>

#include "options.h"
#include "perkey.h"
#include "rv_authkeys.h"
#include "rv_dial.h"
#include "rv_dns.h"
#include "rv_handshake.h"
#include "rv_keys.h"
#include "rv_loop.h"
#include "rv_pool.h"
#include "rv_session.h"

enum rv_server_state {
	RV_SERVER_STATE_INVALID = 0,
	RV_SERVER_RUNNING = 1,
	RV_SERVER_DRAINING = 2, /* SIGTERM: GOAWAY sent, no new clients */
	RV_SERVER_STOPPING = 3, /* leave the service loop */
};

enum rv_conn_state {
	RV_CONN_STATE_INVALID = 0,
	RV_CONN_HANDSHAKE = 1, /* waiting for Noise message 1 */
	RV_CONN_OPEN = 2,      /* session relaying */
	RV_CONN_CLOSING = 3,   /* flush what is queued, then close */
};

struct rv_server;

/* Per-WebSocket user data (lws allocates and zeroes it). */
struct rv_conn {
	enum rv_conn_state state;
	struct rv_server *srv;
	struct lws *wsi;
	struct rv_conn *prev, *next;   /* srv->conns */
	struct rv_handshake hs;
	struct rv_session *sess;
	struct rv_buf rx;              /* one WebSocket message being assembled */
	struct rv_buf hs_reply;        /* handshake message 2, until written */
	char peer[64];                 /* address for log lines */
	char name[RV_AUTHKEY_NAME_MAX + 1];
	int counted;                   /* holds one of srv->n_sessions */
	int authenticated;             /* a transport message decrypted */
	struct rv_perkey *pk;          /* the client key's accounting (1 ref) */
	struct rv_conn *pk_next, *pk_prev; /* pk->conns */
	int rx_enabled;                /* what we last told lws_rx_flow_control */
	int budget_stopped;            /* the key holds more than its buffer budget */
	lws_sorted_usec_list_t sul_budget;
	/* Session end (conn.c: revocation, shutdown, summary). */
	uint8_t pub[RV_KEY_LEN];       /* the key it authenticated with */
	lws_usec_t t_open;             /* session start (lws_now_usecs) */
	const char *end_reason;        /* static text for the summary line */
	int revoked;                   /* GOAWAY(REVOKED) sent */
	lws_sorted_usec_list_t sul_end; /* revocation grace */
};

struct rv_server {
	enum rv_server_state state;
	struct rv_server_opts *opts;
	struct lws_context *ctx;
	struct lws_vhost *vh;
	struct rv_loop *loop;
	struct rv_keypair key;
	struct rv_authkeys *authkeys;
	struct rv_dns *dns;
	struct rv_pool *pool;
	struct rv_dialer dialer;
	struct rv_conn *conns;
	uint32_t n_sessions;
	struct rv_perkey_table perkeys;
	uint32_t streams_active;       /* connecting or open, every session */
	uint64_t fd_limit;             /* RLIMIT_NOFILE soft limit, read once */
	uint64_t streams_refused_fds, streams_refused_key;
	uint64_t sessions_total, handshakes_failed;
	lws_sorted_usec_list_t sul_drain;
};

extern const struct lws_protocols rv_server_http_protocol;
extern const struct lws_protocols rv_server_ws_protocol;

/* The server behind a wsi (vhost user pointer). */
static inline struct rv_server *rv_server_from_wsi(struct lws *wsi)
{
	return lws_get_vhost_user(lws_get_vhost(wsi));
}

/* conn.c's interface to server.c (calls go one way: server.c -> conn.c;
 * conn.c only reads and updates the shared struct rv_server above). */
/* Ask every session to wind down with GOAWAY. */
void rv_server_conns_goaway(struct rv_server *srv);
/* While draining: once the last connection is gone, stop the service loop. */
void rv_server_conns_check_drained(struct rv_server *srv);
/* After an authorized_keys reload: sessions whose key is gone get
 * GOAWAY(REVOKED), no new streams, and are closed (streams reset) after
 * RV_SERVER_REVOKE_GRACE_S.  Returns how many were revoked now. */
unsigned rv_server_conns_revoke(struct rv_server *srv);
/* Drain limit: reset every stream (SHUTDOWN), flush, close with 1000. */
void rv_server_conns_shutdown(struct rv_server *srv);

enum rv_server_end_limits {
	RV_SERVER_REVOKE_GRACE_S = 2,  /* revoked session: GOAWAY to close */
	RV_SERVER_FLUSH_S = 3,         /* after the drain limit: close frames */
};

#endif
