/* server_int.h - state shared by the server's files (server.c: process and
 * lws context; http.c: the decoy web site and upgrade filter; conn.c: one
 * WebSocket client connection). */
#ifndef RV_SERVER_INT_H
#define RV_SERVER_INT_H

#include <sys/socket.h>

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
#include "rv_sockopt.h"
#include "udp.h"

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
struct rv_rfwd;
struct rv_worker;

/* The server's edge: what a stranger can make us hold before it proves it
 * has an authorized key (see preauth.c, listen.c). */
enum rv_server_edge_limits {
	RV_PREAUTH_MAX = 512,          /* pre-auth connections in all */
	RV_PREAUTH_PER_SOURCE = 16,    /* per IPv4 address / IPv6 /64 (per worker) */
	RV_PREAUTH_WORKER_MIN = 64,    /* a worker's share of RV_PREAUTH_MAX, at least */
	RV_PREAUTH_HTTP_TIMEOUT_S = 5, /* TLS + HTTP request (upgrade) */
	RV_PREAUTH_MSG1_TIMEOUT_S = 5, /* upgraded, waiting for Noise message 1 */
	RV_ACCEPT_BATCH = 32,          /* accepts per readiness event */
	RV_ACCEPT_PAUSE_MS = 250,      /* out of descriptors: stop accepting */
};

enum rv_preauth_state {
	RV_PREAUTH_FREE = 0,
	RV_PREAUTH_HTTP = 1,      /* accepted: TLS, HTTP request */
	RV_PREAUTH_WS = 2,        /* upgraded: waiting for Noise message 1 */
	RV_PREAUTH_HANDSHAKE = 3, /* message 2 sent: waiting for the first
				   * transport message to authenticate */
};

/* One accepted connection that has not authenticated yet.  The server owns
 * the table; the wsi's opaque user data points here until release. */
struct rv_preauth {
	enum rv_preauth_state state;
	struct rv_server *srv;
	struct lws *wsi;
	uint8_t src[16];                  /* IPv4 as ::ffff:a.b.c.d */
	int answer;                       /* http.c: decoy status to send, 0 = none */
	int answer_head;                  /* http.c: HEAD, headers only */
	struct rv_buf *head;              /* http.c: request bytes lws gave up on */
	struct rv_preauth *prev, *next;   /* srv->preauth_old .. _new */
	lws_sorted_usec_list_t sul;       /* deadline of this state */
};

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
	struct rv_sockopt_lowat lowat; /* the WebSocket's TCP_NOTSENT_LOWAT */
	lws_sorted_usec_list_t sul_budget;
	/* Session end (conn.c: revocation, shutdown, summary). */
	uint8_t pub[RV_KEY_LEN];       /* the key it authenticated with */
	lws_usec_t t_open;             /* session start (lws_now_usecs) */
	const char *end_reason;        /* static text for the summary line */
	int revoked;                   /* GOAWAY(REVOKED) sent */
	lws_sorted_usec_list_t sul_end; /* revocation grace */
	struct rv_rfwd *rfwd;          /* remote forwards (rfwd.c); NULL if not agreed */
	struct rv_udp *udp;            /* datagrams agreed: associations (udp.c) */
	int slot_held;                 /* workers: the supervisor counts one
					* session of the key in key_slot */
	uint32_t key_slot;
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
	uint64_t data_in_ended, data_out_ended; /* stream bytes of ended sessions (status.c) */
	struct rv_udp_counters udp;    /* udp.c */
	lws_sorted_usec_list_t sul_drain;
	/* edge (listen.c, preauth.c) */
	struct rv_listener *listener;
	struct rv_preauth *preauth;       /* preauth_max slots */
	uint32_t preauth_max;             /* RV_PREAUTH_MAX, or a worker's share */
	struct rv_preauth *preauth_old, *preauth_new; /* in accept order */
	uint32_t n_preauth;
	char default_path[32];            /* derived from the key (rv_keypath) */
	struct rv_worker *worker;         /* --workers > 1: this worker; NULL: alone */
	struct rv_loop_fd *worker_w;      /* its channel on the loop */
};

#define RV_SERVER_HTTP_RAW_PROTOCOL "http-fallback"

extern const struct lws_protocols rv_server_http_protocol;
extern const struct lws_protocols rv_server_http_raw_protocol;
extern const struct lws_protocols rv_server_ws_protocol;

/* The server behind a wsi (vhost user pointer). */
static inline struct rv_server *rv_server_from_wsi(struct lws *wsi)
{
	return lws_get_vhost_user(lws_get_vhost(wsi));
}

/* listen.c: the listening socket, bound exactly to opts->listen, accepting
 * into lws (adopted sockets) with pre-auth admission and a pause when out
 * of descriptors.  0 or RV_ERR_*, message logged. */
int rv_server_listen_open(struct rv_server *srv);
void rv_server_listen_close(struct rv_server *srv);

/* preauth.c: pre-auth connection accounting.  admit: a slot for a new
 * connection from src (evicting the oldest when all are taken), NULL when
 * its source is over its cap.  attach: the wsi lws made for it (arms the
 * HTTP deadline).  upgraded / handshaken: later states with their own
 * deadlines.  release: done (authenticated or closed); NULL safe. */
int rv_preauth_init(struct rv_server *srv);
void rv_preauth_cleanup(struct rv_server *srv);
struct rv_preauth *rv_preauth_admit(struct rv_server *srv, const struct sockaddr *sa);
void rv_preauth_attach(struct rv_preauth *p, struct lws *wsi);
struct rv_preauth *rv_preauth_of(struct rv_server *srv, struct lws *wsi);
void rv_preauth_set_state(struct rv_preauth *p, enum rv_preauth_state state, unsigned timeout_s);
void rv_preauth_release(struct rv_preauth *p);

/* tls_check.c: the certificate matches its key (refuse) and is in its
 * validity period (warn).  0 or RV_ERR_CONFIG, message logged. */
int rv_server_tls_check(const char *cert_file, const char *key_file);

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
/* 1 if one more descriptor (a stream's target, a UDP socket) fits in the
 * descriptor limit with the reserve kept. */
int rv_conn_fd_room(struct rv_server *srv);
/* The streams and UDP associations of the connection's key after adding
 * delta (+1, -1 or 0): with workers, in every worker (the shared counter;
 * the caller still updates its rv_perkey); alone, pk->streams +
 * pk->udp_assocs as the caller left them (delta ignored). */
uint32_t rv_conn_key_count(struct rv_conn *c, int delta);

enum rv_server_end_limits {
	RV_SERVER_REVOKE_GRACE_S = 2,  /* revoked session: GOAWAY to close */
	RV_SERVER_FLUSH_S = 3,         /* after the drain limit: close frames */
};

#endif
