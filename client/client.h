/* client.h - rvpn-client: the process-wide state shared by its modules
 * (owner: client helper).
 *
 *   client.c  run loop, lws context, signals, teardown
 *   listen.c  -D / -L listening sockets, accept
 *   mixed.c   -D: protocol detection, per-protocol replies
 *   socks.c   SOCKS5 negotiation on an accepted socket
 *   socks4.c  SOCKS4/4a negotiation
 *   httprelay.c  HTTP CONNECT, plain-HTTP proxying (the relay), /proxy.pac
 *   conn.c    local connections: waiting for the tunnel, stream open,
 *             SOCKS reply from PROXY_RESPONSE, bounded wait queue
 *   tunnel.c  the WebSocket (lws), Noise handshake, session, reconnect
 *   udp.c     SOCKS5 UDP ASSOCIATE and -L udp: datagram associations
 *   authlimit.c  failed SOCKS logins throttled per source
 *   tls_ip.c  TLS to an IP literal: the certificate's iPAddress SANs
 *   stdio.c   -W HOST:PORT: one stream over stdin/stdout (ssh ProxyCommand)
 */
#ifndef RV_CLIENT_H
#define RV_CLIENT_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "authlimit.h"
#include "options.h"
#include "rv_loop.h"
#include "rv_socks5.h"

struct lws_context;
struct lws_vhost;
struct rv_tunnel;
struct rv_listener;
struct rv_conn;
struct rv_stdio;
struct rv_tunnel_hooks;
struct rv_client_rfwd;
struct rv_udp;

enum rv_client_limits {
	/* Local connections not (yet) relaying: SOCKS negotiation, waiting for
	 * the tunnel, flushing a failure reply.  At this cap a new connection
	 * evicts the oldest one still negotiating SOCKS (idle or slow sockets
	 * cannot starve real apps); connections with a complete request are
	 * never evicted: if every pending one has one, the new connection is
	 * closed (those are bounded by RV_CLIENT_WAIT_MS).  (Relaying ones are
	 * bounded by the server's max_streams.) */
	RV_CLIENT_MAX_LOCAL_CONNS = 1024,
	/* How long a local connection waits for the tunnel (or a free stream
	 * slot) before it gets a SOCKS failure. */
	RV_CLIENT_WAIT_MS = 15000,
	/* --optimistic: how long a new stream's request waits for the app's
	 * first bytes after our reply.  A program that speaks first writes
	 * them at once; one that waits for the server (SMTP, SSH's banner
	 * exchange aside) is delayed by this much, once. */
	RV_CLIENT_EARLY_MS = 3,
	/* SOCKS negotiation must finish within this time (an app sends its
	 * greeting and request at once; only an idle socket waits this long). */
	RV_CLIENT_SOCKS_TIMEOUT_MS = 10000,
	/* After a failure reply: wait this long for the peer to close. */
	RV_CLIENT_LINGER_MS = 2000,
	/* At most one warning per this interval about evicted or refused local
	 * connections (a flood must not flood the log). */
	RV_CLIENT_FLOOD_LOG_MS = 10000,
	/* SIGTERM/SIGINT: open streams may finish for this long. */
	RV_CLIENT_DRAIN_MS = 5000,
	/* -W: the tunnel must come up within RV_CLIENT_WAIT_MS, and the server
	 * answer the CONNECT within this (its connect timeout is 10 s). */
	RV_CLIENT_STDIO_ANSWER_MS = 30000,
	/* -W exit status for a tunnel or connection failure, as ssh's. */
	RV_CLIENT_STDIO_EXIT_FAIL = 255,
};

/* A rate-limited log line: at most one per RV_CLIENT_FLOOD_LOG_MS, with the
 * number suppressed since the last one (mixed.c: rv_client_ratelog). */
struct rv_client_ratelog {
	uint64_t last_ms;
	uint64_t suppressed;
};

struct rv_client {
	const struct rv_client_opts *opts;
	struct lws_context *ctx;
	struct lws_vhost *vh;
	struct rv_loop *loop;
	struct rv_socks5_config socks_cfg;
	struct rv_tunnel *tunnel;
	struct rv_client_rfwd *rfwd; /* -R (rfwd.c); NULL without -R */
	struct rv_listener *listeners;
	struct rv_udp *udp;   /* UDP associations, -L udp (udp.c) */
	/* Connections the client owns (not handed to a stream). */
	struct rv_conn *conns;
	size_t n_conns;
	size_t n_open;  /* of n_conns: relaying (state OPEN) */
	/* FIFO of connections waiting for the tunnel / a stream slot. */
	struct rv_conn *wait_head, *wait_tail;
	size_t n_waiting;
	/* FIFO (oldest first) of connections still negotiating SOCKS: the
	 * ones evicted when the pending cap is reached. */
	struct rv_conn *nego_head, *nego_tail;
	uint64_t n_evicted, n_refused; /* since the last flood warning */
	uint64_t flood_logged_ms;
	struct rv_authlimit authlimit;
	struct rv_client_ratelog log_unknown; /* -D: neither SOCKS nor HTTP */
	struct rv_client_ratelog log_socks4;  /* -D: SOCKS4 refused (--socks-auth) */
	/* First signal: draining (no listeners, GOAWAY, streams finish until
	 * drain_deadline); stop: leave the run loop now. */
	int draining;
	uint64_t drain_deadline;
	struct rv_loop_timer *drain_tick;
	struct rv_stdio *stdio;  /* -W mode, else NULL */
	volatile sig_atomic_t stop;
};

/* Runs until SIGINT/SIGTERM; 0 on a clean exit, negative RV_ERR_* if the
 * client could not start (listen, lws context). */
int rv_client_run(const struct rv_client_opts *opts);
/* -W HOST:PORT: the same run loop carrying one stream over stdin/stdout;
 * returns the exit status (0, 1 start-up failure, 255 tunnel or connection
 * failure). */
int rv_client_run_stdio(const struct rv_client_opts *opts);

/* stdio.c: start (checks stdin/stdout, arms the deadline; the stream is
 * opened once the tunnel is up), the tunnel hooks for this mode, and the
 * end: after rv_tunnel_free, frees the state and returns the exit status
 * (ret: the run loop's result). */
int rv_stdio_start(struct rv_client *cl);
const struct rv_tunnel_hooks *rv_stdio_hooks(void);
int rv_stdio_finish(struct rv_client *cl, int ret);

#endif
