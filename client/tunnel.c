/* tunnel.c - the WebSocket to rvpn-server, the Noise handshake and the
 * session on top; reconnection with backoff (see tunnel.h). */
#include "tunnel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "lws_loop.h"
#include "rv_err.h"
#include "rv_handshake.h"
#include "rv_log.h"
#include "rv_sockopt.h"
#include "rv_stream.h"
#include "rv_wire.h"
#include "tls_ip.h"
#include "tls_suite.h"

/* Backoff base delays; lws adds up to jitter_percent on top.  The last
 * entry repeats forever (conceal_count: never give up).  Stays below
 * RV_CLIENT_WAIT_MS so a waiting local connection sees at least one try. */
static const uint32_t rv_tunnel_backoff_ms[] = { 100, 250, 500, 1000, 2000, 4000, 8000 };
static const lws_retry_bo_t rv_tunnel_retry = {
	.retry_ms_table = rv_tunnel_backoff_ms,
	.retry_ms_table_count = LWS_ARRAY_SIZE(rv_tunnel_backoff_ms),
	.conceal_count = LWS_RETRY_CONCEAL_ALWAYS,
	/* Liveness is the session's keepalive, not lws' own PINGs. */
	.secs_since_valid_ping = 0,
	.secs_since_valid_hangup = 0,
	.jitter_percent = 25,
};

enum {
	RV_TUNNEL_WRITES_PER_CALLBACK = 8,
	/* Optional features this client offers (RV_CAP_FEATURES_ bits,
	 * PROTOCOL.md §4.7). */
	RV_TUNNEL_FEATURES = RV_CAP_DATAGRAM,
	/* Never slower than this at noticing a dead tunnel. */
	RV_TUNNEL_KEEPALIVE_MAX_MS = RV_KEEPALIVE_DEFAULT_S * 1000,
	RV_TUNNEL_DEAD_AFTER_MS = RV_KEEPALIVE_TIMEOUT_DEFAULT_S * 1000,
	RV_TUNNEL_HOST_MAX = RV_CLI_HOST_MAX + 16,
	/* A failed connect that took this long was a timeout, not a refusal. */
	RV_TUNNEL_CONNECT_SLOW_MS = 3000,
	/* A failed server is held off this long, doubling per failure in a
	 * row up to the max, before it is a candidate again. */
	RV_TUNNEL_HOLDOFF_MS = 3000,
	RV_TUNNEL_HOLDOFF_MAX_MS = 30000,
	/* rtt: once one probe is up, the others get this long to finish. */
	RV_TUNNEL_RTT_WINDOW_MS = 1000,
	RV_TUNNEL_REASON_MAX = 160,
};

/* One link's life: a free slot, then connecting, handshaking, up; after a
 * GOAWAY or a hand-over it drains.  QUEUED: waiting for another TLS
 * connect to finish (tls_ip.c's address check is process-wide). */
enum rv_tunnel_link_state {
	RV_LINK_IDLE = 0,
	RV_LINK_QUEUED = 1,
	RV_LINK_CONNECTING = 2,
	RV_LINK_HANDSHAKING = 3,
	RV_LINK_UP = 4,
	RV_LINK_DRAINING = 5,
};

struct rv_tunnel_server {
	struct rv_tunnel *t;
	const struct rv_client_server *cfg;
	size_t idx;
	enum rv_tunnel_server_state state;
	lws_sorted_usec_list_t sul_holdoff;
	uint64_t failures;
	uint32_t fail_streak;
	uint32_t rtt_us;         /* last handshake round trip, 0: none */
	uint64_t retry_ms;       /* FAILED: loop ms the hold-off ends */
	int tried;               /* attempted in the current round */
	int host_is_ip;          /* URL host is an IP literal */
	char host_hdr[RV_TUNNEL_HOST_MAX];
	char last_error[RV_TUNNEL_REASON_MAX];
};

/* One WebSocket to one server and the session on it.  The tunnel's links:
 * cur (new streams use it), old (draining), the others are attempts. */
struct rv_tunnel_link {
	struct rv_tunnel *t;
	enum rv_tunnel_link_state state;
	struct rv_tunnel_server *srv;
	struct lws *wsi;
	struct rv_session *session;
	struct rv_buf rx;   /* one WebSocket message being reassembled */
	int rx_partial;
	char close_reason[160];
	struct rv_handshake hs;
	uint8_t hs_msg[LWS_PRE + RV_HS_INIT_MSG_LEN];
	int hs_sent;
	uint64_t hs_sent_us;         /* lws_now_usecs() when message 1 left */
	uint64_t connect_ms;         /* loop ms of the connect */
	uint8_t features;            /* agreed in the handshake (RV_CAP_ bits) */
	const char *tls_suite;       /* wss: mbedTLS's suite name (static); ws: NULL */
	struct rv_sockopt_lowat lowat; /* the WebSocket's TCP_NOTSENT_LOWAT */
	lws_sorted_usec_list_t sul_hs_timeout;
};

struct rv_tunnel {
	struct rv_client *cl;
	const struct rv_tunnel_hooks *hooks;
	enum rv_tunnel_state state;  /* of the tunnel as a whole */
	struct rv_tunnel_server *srv;
	size_t n_srv;
	struct rv_tunnel_link *links;
	size_t n_links;              /* n_srv + 2 */
	struct rv_tunnel_link *cur;  /* up, carries new streams; or NULL */
	struct rv_tunnel_link *old;  /* draining, or NULL */
	lws_sorted_usec_list_t sul_retry; /* next round of attempts */
	lws_sorted_usec_list_t sul_pick;  /* rtt: end of the probe window */
	uint16_t retry_count;
	uint64_t attempts;
	uint64_t failovers;          /* the live server changed */
	const struct rv_tunnel_server *last_live;
	uint64_t up_since_ms;        /* loop ms cur came up (status.c) */
	int stopping;                /* rv_tunnel_shutdown: no reconnects */
	char why_next[2 * RV_TUNNEL_REASON_MAX + 64]; /* why the next attempt is made */
};

static const char *rv_tunnel_health_str(enum rv_tunnel_server_state st)
{
	switch (st) {
	case RV_TUNNEL_SERVER_UNKNOWN:
		return "unknown";
	case RV_TUNNEL_SERVER_HEALTHY:
		return "healthy";
	case RV_TUNNEL_SERVER_FAILED:
		return "failed";
	default:
		return "invalid";
	}
}

enum rv_tunnel_state rv_tunnel_get_state(const struct rv_tunnel *t)
{
	return t->state;
}

void rv_tunnel_get_info(const struct rv_tunnel *t, struct rv_tunnel_info *out)
{
	memset(out, 0, sizeof(*out));
	out->live = -1;
	if (t == NULL)
		return;
	out->state = t->state;
	out->attempts = t->attempts;
	out->up_since_ms = t->cur != NULL ? t->up_since_ms : 0;
	out->session = t->cur != NULL ? t->cur->session : NULL;
	out->draining = t->old != NULL ? t->old->session : NULL;
	out->n_servers = t->n_srv;
	out->live = t->cur != NULL ? (int)t->cur->srv->idx : -1;
	out->failovers = t->failovers;
}

int rv_tunnel_get_server(const struct rv_tunnel *t, size_t i, struct rv_tunnel_server_info *out)
{
	const struct rv_tunnel_server *sv;
	uint64_t now;
	size_t k;

	memset(out, 0, sizeof(*out));
	if (t == NULL || i >= t->n_srv)
		return RV_ERR_INVALID_ARG;
	sv = &t->srv[i];
	now = rv_loop_now_ms(t->cl->loop);
	out->url = sv->cfg->text;
	out->state = sv->state;
	out->health = rv_tunnel_health_str(sv->state);
	out->live = t->cur != NULL && t->cur->srv == sv;
	out->draining = t->old != NULL && t->old->srv == sv;
	for (k = 0; k < t->n_links; k++) {
		const struct rv_tunnel_link *l = &t->links[k];

		if (l->srv == sv && l->state >= RV_LINK_QUEUED && l->state <= RV_LINK_HANDSHAKING)
			out->connecting = 1;
	}
	out->rtt_us = sv->rtt_us;
	out->failures = sv->failures;
	out->fail_streak = sv->fail_streak;
	out->retry_in_ms = sv->state == RV_TUNNEL_SERVER_FAILED && sv->retry_ms > now ?
				   sv->retry_ms - now : 0;
	out->last_error = sv->last_error;
	return RV_OK;
}

int rv_tunnel_datagram_agreed(const struct rv_tunnel *t)
{
	return t != NULL && t->cur != NULL && t->cur->session != NULL &&
	       (t->cur->features & RV_CAP_DATAGRAM) != 0;
}

struct rv_session *rv_tunnel_session(struct rv_tunnel *t)
{
	if (t == NULL || t->stopping || t->cur == NULL || t->cur->state != RV_LINK_UP ||
	    t->cur->session == NULL || rv_session_get_state(t->cur->session) != RV_SESSION_OPEN)
		return NULL;
	return t->cur->session;
}

static void rv_tunnel_round(lws_sorted_usec_list_t *sul);
static void rv_tunnel_link_connect(struct rv_tunnel_link *l);

/* Close the link's WebSocket (on the next service pass; its callbacks are
 * ignored from now on), free its session (streams reset) and its slot. */
static void rv_tunnel_link_close(struct rv_tunnel_link *l)
{
	struct rv_session *s = l->session;
	struct rv_tunnel *t = l->t;

	if (l->wsi != NULL) {
		lws_set_timeout(l->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
		l->wsi = NULL;
	}
	lws_sul_cancel(&l->sul_hs_timeout);
	rv_handshake_wipe(&l->hs);
	l->hs_sent = 0;
	l->session = NULL;
	/* A free slot holds no buffer memory. */
	rv_buf_cleanup(&l->rx);
	rv_buf_init(&l->rx, RV_MSG_MAX);
	l->rx_partial = 0;
	l->close_reason[0] = '\0';
	l->state = RV_LINK_IDLE;
	l->srv = NULL;
	if (t->cur == l)
		t->cur = NULL;
	if (t->old == l)
		t->old = NULL;
	rv_session_free(s);
}

/* Links being set up (queued, connecting, handshaking). */
static size_t rv_tunnel_pending(const struct rv_tunnel *t)
{
	size_t i, n = 0;

	for (i = 0; i < t->n_links; i++)
		if (t->links[i].state >= RV_LINK_QUEUED && t->links[i].state <= RV_LINK_HANDSHAKING)
			n++;
	return n;
}

/* Close every link that is neither cur nor old (attempts, probes). */
static void rv_tunnel_close_attempts(struct rv_tunnel *t)
{
	size_t i;

	for (i = 0; i < t->n_links; i++) {
		struct rv_tunnel_link *l = &t->links[i];

		if (l->state == RV_LINK_IDLE || l == t->cur || l == t->old)
			continue;
		/* Not a failure of its server: it stays a candidate. */
		l->srv->tried = 0;
		rv_tunnel_link_close(l);
	}
}

/* The draining WebSocket is finished (drained, failed or closed). */
static void rv_tunnel_old_done(struct rv_tunnel *t, const char *how)
{
	struct rv_tunnel_link *l = t->old;

	if (l == NULL)
		return;
	t->old = NULL;
	rv_log_info("tunnel: the previous WebSocket (to %s) %s", l->srv->cfg->text, how);
	rv_tunnel_link_close(l);
}

static void rv_tunnel_on_holdoff(lws_sorted_usec_list_t *sul);

/* Marks sv FAILED and arms its hold-off; returns the hold-off in ms. */
static uint64_t rv_tunnel_server_failed(struct rv_tunnel_server *sv, const char *reason)
{
	struct rv_tunnel *t = sv->t;
	uint64_t hold = RV_TUNNEL_HOLDOFF_MS;
	uint32_t i;

	sv->failures++;
	if (sv->fail_streak < UINT32_MAX)
		sv->fail_streak++;
	for (i = 1; i < sv->fail_streak && hold < RV_TUNNEL_HOLDOFF_MAX_MS; i++)
		hold *= 2;
	if (hold > RV_TUNNEL_HOLDOFF_MAX_MS)
		hold = RV_TUNNEL_HOLDOFF_MAX_MS;
	sv->state = RV_TUNNEL_SERVER_FAILED;
	sv->retry_ms = rv_loop_now_ms(t->cl->loop) + hold;
	snprintf(sv->last_error, sizeof(sv->last_error), "%s", reason);
	lws_sul_schedule(t->cl->ctx, 0, &sv->sul_holdoff, rv_tunnel_on_holdoff,
			 (lws_usec_t)hold * LWS_US_PER_MS);
	return hold;
}

/* A server that is not live and has no link being set up. */
static int rv_tunnel_server_idle(const struct rv_tunnel_server *sv)
{
	const struct rv_tunnel *t = sv->t;
	size_t i;

	for (i = 0; i < t->n_links; i++)
		if (t->links[i].srv == sv && t->links[i].state != RV_LINK_DRAINING)
			return 0;
	return 1;
}

/* A free link slot to sv, started (or queued).  NULL only if the slots
 * ran out, which the sizing (one per server plus two) rules out. */
static struct rv_tunnel_link *rv_tunnel_link_start(struct rv_tunnel *t,
						   struct rv_tunnel_server *sv)
{
	size_t i;

	for (i = 0; i < t->n_links; i++) {
		struct rv_tunnel_link *l = &t->links[i];

		if (l->state != RV_LINK_IDLE)
			continue;
		l->srv = sv;
		l->state = RV_LINK_QUEUED;
		sv->tried = 1;
		rv_tunnel_link_connect(l);
		return l;
	}
	rv_log_error("tunnel: no free link for %s", sv->cfg->text);
	return NULL;
}

/* first: an earlier server than the live one is a candidate again: try it
 * in the background; rv_tunnel_link_up hands over when it is up. */
static void rv_tunnel_consider_return(struct rv_tunnel *t)
{
	size_t i;

	if (t->cl->opts->pick != RV_CLIENT_PICK_FIRST || t->stopping || t->cl->draining ||
	    t->cur == NULL || t->old != NULL || rv_tunnel_pending(t) > 0)
		return;
	for (i = 0; i < t->cur->srv->idx; i++) {
		struct rv_tunnel_server *sv = &t->srv[i];

		if (sv->state == RV_TUNNEL_SERVER_FAILED || !rv_tunnel_server_idle(sv))
			continue;
		snprintf(t->why_next, sizeof(t->why_next), "preferred over %.200s: checking whether "
			 "it is back", t->cur->srv->cfg->text);
		(void)rv_tunnel_link_start(t, sv);
		return;
	}
}

static void rv_tunnel_on_holdoff(lws_sorted_usec_list_t *sul)
{
	struct rv_tunnel_server *sv = lws_container_of(sul, struct rv_tunnel_server, sul_holdoff);

	if (sv->state != RV_TUNNEL_SERVER_FAILED)
		return;
	sv->state = RV_TUNNEL_SERVER_UNKNOWN;
	rv_tunnel_consider_return(sv->t);
}

/* The next server to try in this round (first: in order; rtt: all of
 * them, see rv_tunnel_round): not FAILED ones first, then FAILED ones.
 * NULL when every server was tried in this round. */
static struct rv_tunnel_server *rv_tunnel_next_candidate(struct rv_tunnel *t, int failed_too)
{
	size_t i;

	for (i = 0; i < t->n_srv; i++) {
		struct rv_tunnel_server *sv = &t->srv[i];

		if (!sv->tried && rv_tunnel_server_idle(sv) &&
		    (failed_too || sv->state != RV_TUNNEL_SERVER_FAILED))
			return sv;
	}
	return NULL;
}

/* No live link and nothing pending: start the next attempt(s) now, or,
 * when every server has failed in this round, back off. */
static void rv_tunnel_round(lws_sorted_usec_list_t *sul)
{
	struct rv_tunnel *t = lws_container_of(sul, struct rv_tunnel, sul_retry);
	struct rv_tunnel_server *sv;
	unsigned delay;
	char conceal;
	size_t i;
	int started = 0;

	if (t->stopping || t->cur != NULL || rv_tunnel_pending(t) > 0)
		return;
	if (t->cl->opts->pick == RV_CLIENT_PICK_RTT && t->n_srv > 1) {
		/* Probe every healthy candidate at once; failed ones only if
		 * there is none. */
		int failed_too = rv_tunnel_next_candidate(t, 0) == NULL;

		while ((sv = rv_tunnel_next_candidate(t, failed_too)) != NULL) {
			if (started == 0)
				rv_log_info("tunnel: measuring the handshake round trip to every "
					    "candidate server (--pick rtt)%s%s",
					    t->why_next[0] != '\0' ? "; " : "", t->why_next);
			if (rv_tunnel_link_start(t, sv) == NULL)
				break;
			started++;
		}
	} else {
		sv = rv_tunnel_next_candidate(t, 0);
		if (sv == NULL)
			sv = rv_tunnel_next_candidate(t, 1);
		if (sv != NULL && rv_tunnel_link_start(t, sv) != NULL)
			started++;
	}
	if (started > 0) {
		t->why_next[0] = '\0';
		return;
	}
	/* Every server failed in a row: a new round after the backoff. */
	for (i = 0; i < t->n_srv; i++)
		t->srv[i].tried = 0;
	t->state = RV_TUNNEL_BACKOFF;
	delay = lws_retry_get_delay_ms(t->cl->ctx, &rv_tunnel_retry, &t->retry_count, &conceal);
	if (t->n_srv > 1)
		rv_log_info("tunnel: every server failed (%zu); trying them again in %u ms",
			    t->n_srv, delay);
	else
		rv_log_info("tunnel: reconnecting in %u ms", delay);
	snprintf(t->why_next, sizeof(t->why_next), "after the backoff");
	lws_sul_schedule(t->cl->ctx, 0, &t->sul_retry, rv_tunnel_round,
			 (lws_usec_t)delay * LWS_US_PER_MS);
}

/* From the loop, not from inside an lws or session callback. */
static void rv_tunnel_round_soon(struct rv_tunnel *t)
{
	lws_sul_schedule(t->cl->ctx, 0, &t->sul_retry, rv_tunnel_round, 1);
}

static void rv_tunnel_pick(struct rv_tunnel *t);
static void rv_tunnel_kick_queued(struct rv_tunnel *t);

static int rv_tunnel_all_failed(const struct rv_tunnel *t)
{
	size_t i;

	for (i = 0; i < t->n_srv; i++)
		if (t->srv[i].state != RV_TUNNEL_SERVER_FAILED)
			return 0;
	return 1;
}

/* A link failed before or after it came up: close it; its server is
 * marked FAILED (unless it was only draining) and, when it was the live
 * one or the last attempt, the next server is tried at once. */
static void rv_tunnel_link_fail(struct rv_tunnel_link *l, const char *reason)
{
	struct rv_tunnel *t = l->t;
	struct rv_tunnel_server *sv = l->srv;
	int was_live = l == t->cur, was_return = t->cur != NULL && l != t->cur;
	char how[RV_TUNNEL_REASON_MAX + 32];
	uint64_t hold;

	if (l->state == RV_LINK_IDLE)
		return;
	if (l == t->old) {
		snprintf(how, sizeof(how), "failed while draining: %s", reason);
		rv_tunnel_old_done(t, how);
		return;
	}
	rv_log_debug("tunnel: link to %s leaving its state %d", sv->cfg->text, (int)l->state);
	if (t->stopping) {
		rv_log_info("tunnel down (%s): %s", sv->cfg->text, reason);
		rv_tunnel_link_close(l);
		if (t->cur == NULL && t->old == NULL)
			t->state = RV_TUNNEL_STOPPED;
		return;
	}
	hold = rv_tunnel_server_failed(sv, reason);
	if (t->n_srv > 1)
		snprintf(how, sizeof(how), " (unhealthy for %llu s, %u failure(s) in a row)",
			 (unsigned long long)(hold / 1000), sv->fail_streak);
	else
		how[0] = '\0';
	rv_log_info("%s: %s: %s%s", was_live ? "tunnel down" : "tunnel", sv->cfg->text, reason,
		    how);
	/* on_down: the live tunnel is gone, or no server is left to try in
	 * this round (-W gives up with this reason rather than wait). */
	if (t->hooks->on_down != NULL && !was_return && (was_live || rv_tunnel_all_failed(t)))
		t->hooks->on_down(t->cl, reason);
	rv_tunnel_link_close(l);
	rv_tunnel_kick_queued(t); /* l may have held the TLS turn */
	if (was_live)
		sv->tried = 1; /* the others first; alone: the backoff applies */
	if (was_return)
		return; /* the live link goes on; the hold-off timer retries */
	if (was_live) {
		/* Attempts still pending (first: a return check) start over. */
		rv_tunnel_close_attempts(t);
		t->state = RV_TUNNEL_CONNECTING;
		if (t->n_srv > 1)
			snprintf(t->why_next, sizeof(t->why_next), "failover: %.200s failed (%.100s)",
				 sv->cfg->text, reason);
	} else if (rv_tunnel_pending(t) > 0) {
		return; /* rtt: other probes still running */
	} else if (t->cl->opts->pick == RV_CLIENT_PICK_RTT) {
		size_t i;

		for (i = 0; i < t->n_links; i++)
			if (t->links[i].state == RV_LINK_UP && &t->links[i] != t->cur &&
			    &t->links[i] != t->old) {
				rv_tunnel_pick(t);
				return;
			}
	}
	if (!was_live && t->n_srv > 1)
		snprintf(t->why_next, sizeof(t->why_next), "%.200s failed", sv->cfg->text);
	rv_tunnel_round_soon(t);
}

static void rv_tunnel_on_hs_timeout(lws_sorted_usec_list_t *sul)
{
	struct rv_tunnel_link *l = lws_container_of(sul, struct rv_tunnel_link, sul_hs_timeout);

	if (l->state == RV_LINK_HANDSHAKING)
		rv_tunnel_link_fail(l, "no handshake answer from the server in time");
}

/* host:port of the link's URL, for messages ([v6]:port). */
static const char *rv_tunnel_addr_str(const struct rv_tunnel_server *sv)
{
	static char out[RV_TUNNEL_HOST_MAX + 16];
	const struct rv_cli_url *u = &sv->cfg->url;

	snprintf(out, sizeof(out), u->host_is_ipv6 ? "[%s]:%u" : "%s:%u", u->host,
		 (unsigned)u->port);
	return out;
}

/* The address tls_ip.c must find in the server's certificate, or NULL. */
static const char *rv_tunnel_tls_ip(const struct rv_tunnel_server *sv)
{
	if (sv->cfg->url.scheme != RV_CLI_URL_WSS || sv->t->cl->opts->insecure_tls ||
	    !sv->host_is_ip)
		return NULL;
	return sv->cfg->url.host;
}

/* 1 if another wss:// link is in its TLS handshake with a different
 * address expectation (tls_ip.c holds one at a time). */
static int rv_tunnel_tls_busy(const struct rv_tunnel_link *l)
{
	const struct rv_tunnel *t = l->t;
	const char *want = rv_tunnel_tls_ip(l->srv), *have;
	size_t i;

	if (l->srv->cfg->url.scheme != RV_CLI_URL_WSS)
		return 0;
	for (i = 0; i < t->n_links; i++) {
		const struct rv_tunnel_link *o = &t->links[i];

		if (o == l || o->state != RV_LINK_CONNECTING ||
		    o->srv->cfg->url.scheme != RV_CLI_URL_WSS)
			continue;
		have = rv_tunnel_tls_ip(o->srv);
		if ((want == NULL) != (have == NULL) ||
		    (want != NULL && strcmp(want, have) != 0))
			return 1;
	}
	return 0;
}

/* A link left CONNECTING: start queued ones that may go now. */
static void rv_tunnel_kick_queued(struct rv_tunnel *t)
{
	size_t i;

	for (i = 0; i < t->n_links; i++)
		if (t->links[i].state == RV_LINK_QUEUED)
			rv_tunnel_link_connect(&t->links[i]);
}

static void rv_tunnel_link_connect(struct rv_tunnel_link *l)
{
	struct rv_tunnel *t = l->t;
	struct rv_tunnel_server *sv = l->srv;
	const struct rv_client_opts *o = t->cl->opts;
	const struct rv_cli_url *u = &sv->cfg->url;
	struct lws_client_connect_info i;

	if (l->state != RV_LINK_QUEUED || rv_tunnel_tls_busy(l))
		return;
	memset(&i, 0, sizeof(i));
	i.context = t->cl->ctx;
	i.vhost = t->cl->vh;
	i.address = u->host;
	i.port = u->port;
	i.path = u->path;
	i.host = sv->host_hdr;
	i.protocol = RV_WS_SUBPROTOCOL;
	i.local_protocol_name = RV_WS_SUBPROTOCOL;
	i.retry_and_idle_policy = &rv_tunnel_retry;
	if (u->scheme == RV_CLI_URL_WSS) {
		i.ssl_connection = LCCSCF_USE_SSL;
		if (o->insecure_tls)
			i.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED | LCCSCF_ALLOW_EXPIRED |
					    LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
					    LCCSCF_ALLOW_INSECURE;
		else if (sv->host_is_ip)
			/* Only the name check: tls_ip.c checks the address,
			 * the chain is verified as always. */
			i.ssl_connection |= LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK;
		rv_tls_ip_expect(rv_tunnel_tls_ip(sv));
	}
	t->attempts++;
	l->state = RV_LINK_CONNECTING;
	if (t->cur == NULL && t->state != RV_TUNNEL_HANDSHAKING)
		t->state = RV_TUNNEL_CONNECTING;
	if (t->n_srv > 1)
		rv_log_info("tunnel connecting to %s (server %zu of %zu, attempt %llu)%s%s",
			    sv->cfg->text, sv->idx + 1, t->n_srv, (unsigned long long)t->attempts,
			    t->why_next[0] != '\0' ? ": " : "", t->why_next);
	else
		rv_log_info("tunnel connecting to %s (attempt %llu)", sv->cfg->text,
			    (unsigned long long)t->attempts);
	l->connect_ms = rv_loop_now_ms(t->cl->loop);
	l->wsi = lws_client_connect_via_info(&i);
	if (l->wsi == NULL) {
		char why[2 * RV_TUNNEL_HOST_MAX + 256];

		/* lws resolves the name inside the call: a NULL for a name is
		 * almost always one that does not resolve. */
		if (sv->host_is_ip)
			snprintf(why, sizeof(why), "cannot connect to %s: libwebsockets could "
				 "not start the connection (out of descriptors or memory?)",
				 rv_tunnel_addr_str(sv));
		else
			snprintf(why, sizeof(why), "cannot connect to %s: the name %s does not "
				 "resolve (check the URL's host name and this machine's DNS)",
				 rv_tunnel_addr_str(sv), u->host);
		rv_tunnel_link_fail(l, why);
	}
}

/* The session's outbox passed its input mark (the server sends without
 * reading our answers): stop reading the WebSocket until it drains. */
static void rv_tunnel_on_input_flow(struct rv_session *s, int enable, void *arg)
{
	struct rv_tunnel_link *l = arg;

	(void)s;
	if (l->wsi != NULL)
		lws_rx_flow_control(l->wsi, enable);
}

static void rv_tunnel_on_want_write(struct rv_session *s, void *arg)
{
	struct rv_tunnel_link *l = arg;

	(void)s;
	/* Also fires inside rv_session_new (first PING), before state UP. */
	if (l->wsi != NULL)
		lws_callback_on_writable(l->wsi);
}

static void rv_tunnel_on_closed(struct rv_session *s, int err, void *arg)
{
	struct rv_tunnel_link *l = arg;
	struct rv_tunnel *t = l->t;
	char why[96];

	if (s != l->session)
		return;
	if (t->stopping) {
		/* Our GOAWAY drained: keep the session until its last messages
		 * are written (rv_tunnel_drained), then the client exits. */
		rv_log_debug("tunnel: session closed while stopping (%s)", rv_err_str(err));
		return;
	}
	if (l == t->old) {
		rv_tunnel_old_done(t, err == RV_ERR_CLOSED ? "drained (all its streams ended)" :
							       "failed while draining");
		rv_tunnel_consider_return(t);
		return;
	}
	if (err == RV_ERR_TIMEOUT)
		snprintf(why, sizeof(why), "nothing heard from the server for %d s (keepalive)",
			 RV_TUNNEL_DEAD_AFTER_MS / 1000);
	else if (err == RV_ERR_CLOSED)
		snprintf(why, sizeof(why), "the server is going away (GOAWAY)");
	else
		snprintf(why, sizeof(why), "session failed: %s", rv_err_str(err));
	rv_tunnel_link_fail(l, why);
}

static void rv_tunnel_on_stream_response(struct rv_stream *st, enum rv_status status,
					 const struct rv_addr *bound, void *arg)
{
	struct rv_tunnel_link *l = arg;

	l->t->hooks->on_stream_response(st, status, bound);
}

static void rv_tunnel_on_stream_closed(struct rv_stream *st, void *arg)
{
	struct rv_tunnel_link *l = arg;

	if ((rv_stream_id(st) & RV_STREAM_ID_SERVER) != 0) {
		if (l->t->hooks->on_remote_closed != NULL)
			l->t->hooks->on_remote_closed(st);
		return;
	}
	l->t->hooks->on_stream_closed(st);
}

/* Remote forwards (PROTOCOL.md "Remote forwards"): to the hooks. */
static void rv_tunnel_on_listen(struct rv_session *s, const struct rv_frame *f, void *arg)
{
	struct rv_tunnel_link *l = arg;

	if (l->t->hooks->on_listen != NULL)
		l->t->hooks->on_listen(l->t->cl, s, f);
}

static void rv_tunnel_on_remote_connect(struct rv_session *s, struct rv_stream *st, uint32_t req,
					const struct rv_addr *addr, void *arg)
{
	struct rv_tunnel_link *l = arg;

	if (l->t->hooks->on_remote_connect != NULL)
		l->t->hooks->on_remote_connect(l->t->cl, s, st, req, addr);
	else
		(void)rv_stream_reject(st, RV_STATUS_NOT_ALLOWED);
}

static void rv_tunnel_on_datagram(struct rv_session *s, uint32_t assoc,
				  const struct rv_addr *peer, const uint8_t *data, size_t len,
				  void *arg)
{
	struct rv_tunnel_link *l = arg;

	if (l->t->hooks->on_datagram != NULL)
		l->t->hooks->on_datagram(l->t->cl, s, assoc, peer, data, len);
}

static void rv_tunnel_on_datagram_close(struct rv_session *s, uint32_t assoc, uint8_t reason,
					void *arg)
{
	struct rv_tunnel_link *l = arg;

	if (l->t->hooks->on_datagram_close != NULL)
		l->t->hooks->on_datagram_close(l->t->cl, s, assoc, reason);
}

/* l becomes the draining link (the one draining before, if any, is
 * closed: never more than one). */
static void rv_tunnel_set_old(struct rv_tunnel *t, struct rv_tunnel_link *l)
{
	if (t->old != NULL) {
		rv_log_warn("tunnel: another hand-over while the previous WebSocket still "
			    "drains: closing that one (%u stream(s) reset)",
			    rv_session_stream_count(t->old->session));
		rv_tunnel_old_done(t, "was closed early");
	}
	if (t->cur == l)
		t->cur = NULL;
	t->old = l;
	l->state = RV_LINK_DRAINING;
}

/* GOAWAY on the current WebSocket: it becomes the draining one and the
 * server is held off; a new WebSocket opens at once (to the next server,
 * or the same one when it is the only one); new streams wait for it. */
static void rv_tunnel_on_goaway(struct rv_session *s, uint32_t last_stream,
				enum rv_goaway_reason reason, void *arg)
{
	struct rv_tunnel_link *l = arg;
	struct rv_tunnel *t = l->t;
	struct rv_tunnel_server *sv = l->srv;

	/* Fatal reasons close the connection now: the ordinary failover
	 * follows. */
	if (l != t->cur || s != l->session || t->stopping || l->state != RV_LINK_UP ||
	    reason != RV_GOAWAY_SHUTDOWN)
		return;
	rv_log_info("tunnel: %s is going away (GOAWAY, reason %d, last stream %u): "
		    "%u stream(s) finish on this WebSocket, opening a new one for new streams",
		    sv->cfg->text, (int)reason, last_stream, rv_session_stream_count(s));
	rv_tunnel_close_attempts(t);
	rv_tunnel_set_old(t, l);
	t->state = RV_TUNNEL_CONNECTING;
	t->retry_count = 0;
	(void)rv_tunnel_server_failed(sv, "it sent GOAWAY (shutting down)");
	/* Not "tried": with no other server it is reconnected at once. */
	if (t->n_srv > 1)
		snprintf(t->why_next, sizeof(t->why_next), "failover: %.200s sent GOAWAY",
			 sv->cfg->text);
	rv_tunnel_round_soon(t);
}

static const char *rv_tunnel_aead_str(enum rv_aead a)
{
	return a == RV_AEAD_AES256GCM ? "AES-256-GCM" : "ChaCha20-Poly1305";
}

/* l's handshake finished and its session is up. */
static void rv_tunnel_server_up(struct rv_tunnel_link *l, uint32_t rtt_us)
{
	struct rv_tunnel_server *sv = l->srv;

	lws_sul_cancel(&sv->sul_holdoff);
	sv->state = RV_TUNNEL_SERVER_HEALTHY;
	sv->fail_streak = 0;
	sv->retry_ms = 0;
	sv->rtt_us = rtt_us > 0 ? rtt_us : 1;
	sv->last_error[0] = '\0';
	l->state = RV_LINK_UP;
}

/* l carries the new streams from now on. */
static void rv_tunnel_make_live(struct rv_tunnel *t, struct rv_tunnel_link *l, const char *why)
{
	size_t i;

	if (t->cur != NULL) {
		/* Hand-over: the old link's streams finish on it; our GOAWAY
		 * makes its session close once they are gone. */
		struct rv_tunnel_link *prev = t->cur;

		rv_log_info("tunnel: new streams go to %s (%s); %u stream(s) finish on %s",
			    l->srv->cfg->text, why, rv_session_stream_count(prev->session),
			    prev->srv->cfg->text);
		rv_tunnel_set_old(t, prev);
		t->cur = l;
		(void)rv_session_goaway(prev->session, RV_GOAWAY_SHUTDOWN);
	} else {
		t->cur = l;
	}
	if (t->n_srv > 1)
		rv_log_info("tunnel up on %s (server %zu of %zu: %s; handshake round trip %.1f ms)",
			    l->srv->cfg->text, l->srv->idx + 1, t->n_srv, why,
			    l->srv->rtt_us / 1000.0);
	if (t->last_live != NULL && t->last_live != l->srv)
		t->failovers++;
	t->last_live = l->srv;
	t->state = RV_TUNNEL_UP;
	t->up_since_ms = rv_loop_now_ms(t->cl->loop);
	t->retry_count = 0;
	t->why_next[0] = '\0';
	for (i = 0; i < t->n_srv; i++)
		t->srv[i].tried = 0;
	lws_sul_cancel(&t->sul_retry);
	lws_sul_cancel(&t->sul_pick);
	lws_callback_on_writable(l->wsi);
	if (t->hooks->on_session_up != NULL)
		t->hooks->on_session_up(t->cl, l->session,
				       (l->features & RV_CAP_REMOTE_FWD) != 0);
	t->hooks->on_up(t->cl);
}

/* rtt: the up probe with the lowest handshake round trip becomes live,
 * the others are closed. */
static void rv_tunnel_pick(struct rv_tunnel *t)
{
	struct rv_tunnel_link *best = NULL;
	char why[RV_TUNNEL_REASON_MAX];
	size_t i, n = 0;

	lws_sul_cancel(&t->sul_pick);
	if (t->cur != NULL)
		return;
	for (i = 0; i < t->n_links; i++) {
		struct rv_tunnel_link *l = &t->links[i];

		if (l->state != RV_LINK_UP || l == t->old)
			continue;
		n++;
		if (best == NULL || l->srv->rtt_us < best->srv->rtt_us)
			best = l;
	}
	if (best == NULL)
		return;
	t->cur = best;
	rv_tunnel_close_attempts(t);
	t->cur = NULL;
	snprintf(why, sizeof(why), "lowest handshake round trip of %zu server(s) up", n);
	rv_tunnel_make_live(t, best, why);
}

static void rv_tunnel_on_pick_timer(lws_sorted_usec_list_t *sul)
{
	rv_tunnel_pick(lws_container_of(sul, struct rv_tunnel, sul_pick));
}

/* Where a link that just came up goes. */
static void rv_tunnel_link_up(struct rv_tunnel_link *l)
{
	struct rv_tunnel *t = l->t;

	if (t->cur != NULL) {
		/* first: an earlier server is back: hand over to it. */
		rv_tunnel_make_live(t, l, "preferred (earlier in the list) and healthy again");
		return;
	}
	if (t->cl->opts->pick != RV_CLIENT_PICK_RTT || t->n_srv == 1) {
		rv_tunnel_make_live(t, l, l->srv->idx == 0 ? "first in the list" :
				    "first healthy one in the list");
		return;
	}
	if (rv_tunnel_pending(t) == 0)
		rv_tunnel_pick(t);
	else if (lws_dll2_is_detached(&t->sul_pick.list))
		lws_sul_schedule(t->cl->ctx, 0, &t->sul_pick, rv_tunnel_on_pick_timer,
				 (lws_usec_t)RV_TUNNEL_RTT_WINDOW_MS * LWS_US_PER_MS);
}

static int rv_tunnel_on_hs_response(struct rv_tunnel_link *l, const uint8_t *msg, size_t len)
{
	struct rv_tunnel *t = l->t;
	struct rv_session_callbacks cb = {
		.on_want_write = rv_tunnel_on_want_write,
		.on_input_flow = rv_tunnel_on_input_flow,
		.on_closed = rv_tunnel_on_closed,
		.on_stream_response = rv_tunnel_on_stream_response,
		.on_stream_closed = rv_tunnel_on_stream_closed,
		.on_goaway = rv_tunnel_on_goaway,
		.on_listen = rv_tunnel_on_listen,
		.on_remote_connect = rv_tunnel_on_remote_connect,
		.on_datagram = rv_tunnel_on_datagram,
		.on_datagram_close = rv_tunnel_on_datagram_close,
		.arg = l,
	};
	struct rv_session_config cfg;
	struct rv_hs_server_params p;
	struct rv_ratchet *r = NULL;
	uint64_t rtt_us = (uint64_t)lws_now_usecs() - l->hs_sent_us;
	char why[128];
	uint32_t ka;
	int ret;

	ret = rv_handshake_client_finish(&l->hs, msg, len, RV_RATCHET_DEFAULT_INTERVAL_MS, &r, &p);
	rv_handshake_wipe(&l->hs);
	if (ret != RV_OK) {
		rv_tunnel_link_fail(l, "handshake failed: the server did not prove the key given "
				       "with -s (wrong key, or not an rvpn server)");
		return -1;
	}
	/* The server suggests the PING interval; we keep our own upper bound
	 * so a dead tunnel is always noticed within RV_TUNNEL_DEAD_AFTER_MS. */
	ka = p.keepalive_s > 0 ? (uint32_t)p.keepalive_s * 1000u : RV_TUNNEL_KEEPALIVE_MAX_MS;
	if (ka > RV_TUNNEL_KEEPALIVE_MAX_MS)
		ka = RV_TUNNEL_KEEPALIVE_MAX_MS;
	memset(&cfg, 0, sizeof(cfg));
	cfg.role = RV_SESSION_CLIENT;
	cfg.peer_window = p.stream_window;
	cfg.max_streams = p.max_streams;
	cfg.window_growth = p.window_growth; /* both ends agreed: PROTOCOL.md §8.1 */
	cfg.window_large = p.window_large;
	cfg.keepalive_interval_ms = ka;
	cfg.keepalive_timeout_ms = RV_TUNNEL_DEAD_AFTER_MS;
	cfg.headroom = LWS_PRE;
	/* Never send a message larger than the server accepts. */
	cfg.max_message = p.max_message;
	cfg.name = "tunnel";
	cfg.remote_fwd = (p.features & RV_CAP_REMOTE_FWD) != 0;
	cfg.datagram = (p.features & RV_CAP_DATAGRAM) != 0;
	l->features = p.features;
	if (p.max_message < rv_session_min_message()) {
		rv_ratchet_free(r);
		snprintf(why, sizeof(why), "the server's max_message (%u bytes) is smaller than "
			 "this client can work with (%zu)", p.max_message, rv_session_min_message());
		rv_tunnel_link_fail(l, why);
		return -1;
	}
	ret = rv_session_new(t->cl->loop, &cfg, r, &cb, &l->session);
	if (ret != RV_OK) {
		rv_tunnel_link_fail(l, "cannot create the session");
		return -1;
	}
	lws_sul_cancel(&l->sul_hs_timeout);
	rv_tunnel_server_up(l, rtt_us > UINT32_MAX ? UINT32_MAX : (uint32_t)rtt_us);
	/* Several servers: "tunnel up" is logged when one becomes live. */
	rv_log_info("%s%s (%s, server allows %u streams, window %u bytes, messages up to %u "
		    "bytes)", t->n_srv > 1 ? "tunnel: handshake done with " : "tunnel up",
		    t->n_srv > 1 ? l->srv->cfg->text : "", rv_tunnel_aead_str(p.aead),
		    p.max_streams, p.stream_window, p.max_message);
	if (l->tls_suite != NULL)
		rv_log_info("tunnel: TLS suite %s (%s)", l->tls_suite, l->srv->cfg->text);
	rv_tunnel_link_up(l);
	return 0;
}

static int rv_tunnel_on_established(struct rv_tunnel_link *l)
{
	struct rv_tunnel *t = l->t;
	struct rv_buf out;
	int ret;

	rv_buf_init(&out, RV_HS_INIT_MSG_LEN);
	ret = rv_handshake_client_start(&l->hs, &t->cl->opts->kp, l->srv->cfg->server_pub,
					RV_TUNNEL_FEATURES |
					(t->cl->opts->n_rfwd > 0 ? RV_CAP_REMOTE_FWD : 0), &out);
	if (ret == RV_OK && rv_buf_len(&out) == RV_HS_INIT_MSG_LEN)
		memcpy(l->hs_msg + LWS_PRE, rv_buf_ptr(&out), RV_HS_INIT_MSG_LEN);
	else
		ret = ret == RV_OK ? RV_ERR_INTERNAL : ret;
	rv_buf_cleanup(&out);
	if (ret != RV_OK) {
		rv_tunnel_link_fail(l, "cannot build the handshake message");
		return -1;
	}
	l->state = RV_LINK_HANDSHAKING;
	if (t->cur == NULL)
		t->state = RV_TUNNEL_HANDSHAKING;
	l->hs_sent = 0;
	rv_log_info("tunnel handshaking%s%s", t->n_srv > 1 ? " with " : "",
		    t->n_srv > 1 ? l->srv->cfg->text : "");
	lws_sul_schedule(t->cl->ctx, 0, &l->sul_hs_timeout, rv_tunnel_on_hs_timeout,
			 (lws_usec_t)RV_HANDSHAKE_TIMEOUT_S * LWS_US_PER_SEC);
	lws_callback_on_writable(l->wsi);
	rv_tunnel_kick_queued(t);
	return 0;
}

static int rv_tunnel_on_writeable(struct rv_tunnel_link *l)
{
	struct lws *wsi = l->wsi;
	int i;

	if (l->state == RV_LINK_HANDSHAKING) {
		if (l->hs_sent)
			return 0;
		l->hs_sent_us = (uint64_t)lws_now_usecs();
		if (lws_write(wsi, l->hs_msg + LWS_PRE, RV_HS_INIT_MSG_LEN, LWS_WRITE_BINARY) <
		    (int)RV_HS_INIT_MSG_LEN) {
			rv_tunnel_link_fail(l, "write failed");
			return -1;
		}
		l->hs_sent = 1;
		return 0;
	}
	if ((l->state != RV_LINK_UP && l->state != RV_LINK_DRAINING) || l->session == NULL)
		return 0;
	for (i = 0; i < RV_TUNNEL_WRITES_PER_CALLBACK; i++) {
		uint8_t *msg;
		size_t len;
		int r = rv_session_next_message(l->session, &msg, &len);

		if (r < 0) {
			rv_tunnel_link_fail(l, "cannot seal a message");
			return -1;
		}
		if (r == 0)
			return 0;
		if (lws_write(wsi, msg, len, LWS_WRITE_BINARY) < (int)len) {
			rv_tunnel_link_fail(l, "write failed");
			return -1;
		}
		rv_session_message_sent(l->session);
		/* Poll for room only when there is more to write: a round
		 * trip's one message then costs no extra syscall. */
		if (l->session == NULL || l->wsi != wsi || !rv_session_wants_write(l->session) ||
		    lws_send_pipe_choked(wsi))
			break;
	}
	if (l->wsi != wsi)
		return -1;
	if (l->session != NULL && rv_session_wants_write(l->session)) {
		lws_callback_on_writable(wsi);
		/* A sender with a backlog: the mark follows the path. */
		(void)rv_sockopt_lowat_retune(lws_get_socket_fd(wsi), &l->lowat, lws_now_usecs());
	}
	return 0;
}

static int rv_tunnel_on_receive(struct rv_tunnel_link *l, const void *in, size_t len)
{
	struct lws *wsi = l->wsi;

	if (!lws_frame_is_binary(wsi)) {
		rv_tunnel_link_fail(l, "protocol error: the server sent a text message");
		return -1;
	}
	if (rv_buf_len(&l->rx) == 0 && l->state != RV_LINK_HANDSHAKING &&
	    lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0 &&
	    len <= RV_MSG_MAX) {
		/* A whole message in one callback (the usual case: the rx
		 * buffer holds RV_MSG_MAX): open it where lws put it, without
		 * a copy into l->rx. */
		l->rx_partial = 0;
		if (l->session != NULL)
			(void)rv_session_on_message(l->session, in, len);
		return l->wsi == wsi ? 0 : -1;
	}
	if (rv_buf_put(&l->rx, in, len) != RV_OK) {
		rv_tunnel_link_fail(l, "protocol error: message larger than the protocol allows");
		return -1;
	}
	if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) > 0) {
		l->rx_partial = 1;
		return 0;
	}
	l->rx_partial = 0;
	if (l->state == RV_LINK_HANDSHAKING) {
		int r = rv_tunnel_on_hs_response(l, rv_buf_ptr(&l->rx), rv_buf_len(&l->rx));

		rv_buf_reset(&l->rx);
		return r;
	}
	if (l->session != NULL)
		(void)rv_session_on_message(l->session, rv_buf_ptr(&l->rx), rv_buf_len(&l->rx));
	rv_buf_reset(&l->rx);
	/* The session may have died inside (then this WebSocket is closed). */
	return l->wsi == wsi ? 0 : -1;
}

/* X509_V_ERR_* numbers lws puts in its message (the mbedTLS wrapper's
 * x509_vfy.h, OpenSSL's numbering). */
enum rv_tunnel_x509_err {
	RV_X509_NOT_YET_VALID = 9,
	RV_X509_EXPIRED = 10,
	RV_X509_INVALID_CA = 24,
	RV_X509_HOSTNAME_MISMATCH = 62,
	RV_X509_IP_MISMATCH = 64,
};

/* A hint naming the real problem of a TLS failure (lws' own text is
 * "server's cert didn't look good ... X509_V_ERR = N" or an mbedTLS
 * error code). */
static void rv_tunnel_tls_hint(const struct rv_tunnel_server *sv, const char *msg, char *hint,
			       size_t len)
{
	const struct rv_client_opts *o = sv->t->cl->opts;
	const char *host = sv->cfg->url.host;
	const char *ca = o->ca_file != NULL ? o->ca_file : "the system CA bundle";
	const char *p = strstr(msg, "X509_V_ERR = ");
	int code = p != NULL ? atoi(p + 13) : -1;

	if (code == RV_X509_IP_MISMATCH || rv_tls_ip_mismatch_seen())
		snprintf(hint, len, " (the server's certificate does not name %s: its IP "
			 "addresses are %s; it needs subjectAltName IP:%s)",
			 host, rv_tls_ip_seen_sans(), host);
	else if (code == RV_X509_HOSTNAME_MISMATCH)
		snprintf(hint, len, " (the server's certificate does not name %s: it needs "
			 "subjectAltName DNS:%s)", host, host);
	else if (code == RV_X509_INVALID_CA)
		snprintf(hint, len, " (the server's certificate is not signed by a CA in %s: "
			 "trust its CA with --ca FILE, or use --insecure-tls)", ca);
	else if (code == RV_X509_EXPIRED || code == RV_X509_NOT_YET_VALID)
		snprintf(hint, len, " (the server's certificate %s: check its dates and this "
			 "machine's clock)", code == RV_X509_EXPIRED ? "has expired" :
								  "is not valid yet");
	else if (strstr(msg, "cert") != NULL)
		snprintf(hint, len, " (trust the server's CA with --ca FILE, or use "
			 "--insecure-tls)");
	else if (strstr(msg, "mbedtls connect") != NULL)
		snprintf(hint, len, " (no TLS there: is it a plain ws:// server? then use ws://)");
	else
		hint[0] = '\0';
}

/* lws' reason, trimmed (it may end in a newline), with a hint. */
static void rv_tunnel_connect_error(const struct rv_tunnel_link *l, char *out, size_t outlen,
				    const void *in)
{
	const struct rv_tunnel_server *sv = l->srv;
	enum rv_cli_url_scheme scheme = sv->cfg->url.scheme;
	const char *msg = in != NULL ? in : "unknown error";
	size_t n = strlen(msg);
	char hint[1024];

	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r' || msg[n - 1] == ' '))
		n--;
	hint[0] = '\0';
	if (scheme == RV_CLI_URL_WSS)
		rv_tunnel_tls_hint(sv, msg, hint, sizeof(hint));
	if (hint[0] == '\0' && strstr(msg, "not 101") != NULL)
		snprintf(hint, sizeof(hint), " (not an rvpn WebSocket there: check the URL's "
			 "path)");
	if (hint[0] == '\0' && scheme == RV_CLI_URL_WS && strcmp(msg, "read failed") == 0)
		snprintf(hint, sizeof(hint), " (the server dropped the WebSocket upgrade: is it "
			 "a wss:// server? then use wss://)");
	if (strcmp(msg, "Unable to connect") == 0) {
		/* lws keeps no errno here (it read SO_ERROR and closed the
		 * socket): tell a timeout from a quick refusal by the time. */
		uint64_t ms = rv_loop_now_ms(sv->t->cl->loop) - l->connect_ms;

		if (ms >= RV_TUNNEL_CONNECT_SLOW_MS)
			snprintf(out, outlen, "cannot connect to %s: no answer within %llu s "
				 "(timed out: a firewall dropping packets, or the wrong address?)",
				 rv_tunnel_addr_str(sv), (unsigned long long)(ms / 1000));
		else
			snprintf(out, outlen, "cannot connect to %s: connection refused or no "
				 "route (is rvpn-server running and listening there? check -l on "
				 "the server)", rv_tunnel_addr_str(sv));
		return;
	}
	snprintf(out, outlen, "cannot connect to %s: %.*s%s", rv_tunnel_addr_str(sv), (int)n,
		 msg, hint);
}

/* Which of the tunnel's WebSockets wsi is (NULL: none, e.g. one we
 * already let go). */
static struct rv_tunnel_link *rv_tunnel_link_of(struct rv_tunnel *t, struct lws *wsi)
{
	size_t i;

	if (t == NULL || wsi == NULL)
		return NULL;
	for (i = 0; i < t->n_links; i++)
		if (t->links[i].state != RV_LINK_IDLE && t->links[i].wsi == wsi)
			return &t->links[i];
	return NULL;
}

int rv_tunnel_lws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
			      void *in, size_t len)
{
	struct rv_client *cl;
	struct rv_tunnel *t;
	struct rv_tunnel_link *l;
	char why[sizeof(l->close_reason) + 1400];

	(void)user;
	/* protocols[0]: lws reports its sockets here */
	if (RV_LWS_LOOP_IS_POLL_REASON(reason))
		return rv_lws_loop_poll_reason(wsi, reason, in);
	cl = lws_context_user(lws_get_context(wsi));
	t = cl != NULL ? cl->tunnel : NULL;
	l = rv_tunnel_link_of(t, wsi);
	switch (reason) {
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		if (l == NULL)
			return 0;
		l->wsi = NULL;
		rv_tunnel_connect_error(l, why, sizeof(why), in);
		rv_tunnel_link_fail(l, why);
		return 0;
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		if (l == NULL || l->state != RV_LINK_CONNECTING)
			return -1;
		/* Bulk data queued in the kernel delays datagrams and small
		 * replies (rv_sockopt.h).  Not fatal: only latency suffers. */
		if (rv_sockopt_lowat_init(lws_get_socket_fd(wsi), &l->lowat, lws_now_usecs()) != RV_OK)
			rv_log_debug("tunnel: cannot set TCP_NOTSENT_LOWAT on the WebSocket");
		l->tls_suite = lws_is_ssl(wsi) ? rv_tls_suite_take(lws_get_socket_fd(wsi)) : NULL;
		return rv_tunnel_on_established(l);
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		if (l == NULL)
			return 0;
		return rv_tunnel_on_writeable(l);
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (l == NULL)
			return 0;
		return rv_tunnel_on_receive(l, in, len);
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (l != NULL && len >= 2) {
			const uint8_t *p = in;

			snprintf(l->close_reason, sizeof(l->close_reason),
				 " (close code %u)", ((unsigned)p[0] << 8) | p[1]);
		}
		return 0;
	case LWS_CALLBACK_CLIENT_CLOSED:
	case LWS_CALLBACK_WSI_DESTROY:
		if (l == NULL)
			return 0;
		l->wsi = NULL;
		snprintf(why, sizeof(why), "%s%s",
			 l->state == RV_LINK_HANDSHAKING ?
				 "the server closed the connection during the handshake (is this "
				 "client's public key in its authorized keys, and is -s its key?)" :
				 "connection closed",
			 l->close_reason);
		l->close_reason[0] = '\0';
		if (l == t->old)
			rv_tunnel_old_done(t, rv_session_stream_count(l->session) == 0 ?
						      "closed (drained)" : "closed while draining");
		else
			rv_tunnel_link_fail(l, why);
		return 0;
	default:
		return 0;
	}
}

int rv_tunnel_new(struct rv_client *cl, const struct rv_tunnel_hooks *hooks,
		  struct rv_tunnel **out)
{
	struct rv_tunnel *t = calloc(1, sizeof(*t));
	const struct rv_client_opts *o = cl->opts;
	uint8_t ip[RV_TLS_IP_MAX];
	size_t i, iplen;
	int def;

	if (t == NULL)
		return RV_ERR_NOMEM;
	t->n_srv = o->n_servers;
	t->n_links = t->n_srv + 2;
	t->srv = calloc(t->n_srv, sizeof(*t->srv));
	t->links = calloc(t->n_links, sizeof(*t->links));
	if (t->srv == NULL || t->links == NULL || t->n_srv == 0) {
		i = t->n_srv;
		free(t->srv);
		free(t->links);
		free(t);
		return i == 0 ? RV_ERR_INVALID_ARG : RV_ERR_NOMEM;
	}
	t->cl = cl;
	t->hooks = hooks;
	t->state = RV_TUNNEL_BACKOFF;
	for (i = 0; i < t->n_links; i++) {
		t->links[i].t = t;
		rv_buf_init(&t->links[i].rx, RV_MSG_MAX);
	}
	for (i = 0; i < t->n_srv; i++) {
		struct rv_tunnel_server *sv = &t->srv[i];
		const struct rv_cli_url *u = &o->servers[i].url;

		sv->t = t;
		sv->idx = i;
		sv->cfg = &o->servers[i];
		sv->state = RV_TUNNEL_SERVER_UNKNOWN;
		def = u->port == (u->scheme == RV_CLI_URL_WSS ? 443 : 80);
		if (u->host_is_ipv6 && def)
			snprintf(sv->host_hdr, sizeof(sv->host_hdr), "[%s]", u->host);
		else if (u->host_is_ipv6)
			snprintf(sv->host_hdr, sizeof(sv->host_hdr), "[%s]:%u", u->host,
				 (unsigned)u->port);
		else if (def)
			snprintf(sv->host_hdr, sizeof(sv->host_hdr), "%s", u->host);
		else
			snprintf(sv->host_hdr, sizeof(sv->host_hdr), "%s:%u", u->host,
				 (unsigned)u->port);
		sv->host_is_ip = rv_tls_ip_parse(u->host, ip, &iplen);
	}
	if (t->n_srv > 1)
		rv_log_info("tunnel: %zu servers, choosing %s", t->n_srv,
			    o->pick == RV_CLIENT_PICK_RTT ? "the lowest handshake round trip "
							    "(--pick rtt)" :
							    "the first healthy one in order");
	*out = t;
	cl->tunnel = t;
	/* First attempt right away, from the event loop. */
	rv_tunnel_round_soon(t);
	return RV_OK;
}

void rv_tunnel_free(struct rv_tunnel *t)
{
	size_t i;

	if (t == NULL)
		return;
	t->state = RV_TUNNEL_STOPPED;
	t->stopping = 1;
	lws_sul_cancel(&t->sul_retry);
	lws_sul_cancel(&t->sul_pick);
	for (i = 0; i < t->n_srv; i++)
		lws_sul_cancel(&t->srv[i].sul_holdoff);
	for (i = 0; i < t->n_links; i++) {
		struct rv_tunnel_link *l = &t->links[i];

		lws_sul_cancel(&l->sul_hs_timeout);
		rv_handshake_wipe(&l->hs);
		rv_session_free(l->session);
		l->session = NULL;
		l->wsi = NULL; /* lws_context_destroy closes it */
		rv_buf_cleanup(&l->rx);
	}
	t->cur = NULL;
	t->old = NULL;
	t->cl->tunnel = NULL;
	free(t->links);
	free(t->srv);
	free(t);
}

void rv_tunnel_shutdown(struct rv_tunnel *t)
{
	size_t i;

	if (t == NULL || t->stopping)
		return;
	t->stopping = 1;
	lws_sul_cancel(&t->sul_retry);
	lws_sul_cancel(&t->sul_pick);
	for (i = 0; i < t->n_srv; i++)
		lws_sul_cancel(&t->srv[i].sul_holdoff);
	/* Links not carrying streams have nothing to drain. */
	rv_tunnel_close_attempts(t);
	t->state = t->cur != NULL ? RV_TUNNEL_UP : RV_TUNNEL_STOPPED;
	for (i = 0; i < t->n_links; i++) {
		struct rv_tunnel_link *l = &t->links[i];

		if (l->session != NULL &&
		    rv_session_get_state(l->session) == RV_SESSION_OPEN)
			(void)rv_session_goaway(l->session, RV_GOAWAY_SHUTDOWN);
	}
}

int rv_tunnel_drained(const struct rv_tunnel *t, uint32_t *streams)
{
	uint32_t n = 0;
	size_t i;
	int busy = 0;

	if (t != NULL) {
		for (i = 0; i < t->n_links; i++) {
			const struct rv_tunnel_link *l = &t->links[i];

			if (l->session == NULL)
				continue;
			n += rv_session_stream_count(l->session);
			if (l->wsi != NULL && rv_session_send_queue_bytes(l->session) > 0)
				busy = 1;
		}
	}
	if (streams != NULL)
		*streams = n;
	return n == 0 && !busy;
}
