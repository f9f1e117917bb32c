/* tunnel.c - the WebSocket to rvpn-server, the Noise handshake and the
 * session on top; reconnection with backoff (see tunnel.h). */
#include "tunnel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "rv_err.h"
#include "rv_handshake.h"
#include "rv_log.h"
#include "rv_wire.h"

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
	/* Never slower than this at noticing a dead tunnel. */
	RV_TUNNEL_KEEPALIVE_MAX_MS = RV_KEEPALIVE_DEFAULT_S * 1000,
	RV_TUNNEL_DEAD_AFTER_MS = RV_KEEPALIVE_TIMEOUT_DEFAULT_S * 1000,
	RV_TUNNEL_HOST_MAX = RV_CLI_HOST_MAX + 16,
};

struct rv_tunnel {
	struct rv_client *cl;
	const struct rv_tunnel_hooks *hooks;
	enum rv_tunnel_state state;
	struct lws *wsi;
	lws_sorted_usec_list_t sul_retry;
	lws_sorted_usec_list_t sul_hs_timeout;
	uint16_t retry_count;
	uint64_t attempts;
	struct rv_handshake hs;
	uint8_t hs_msg[LWS_PRE + RV_HS_INIT_MSG_LEN];
	int hs_sent;
	struct rv_session *session;
	struct rv_buf rx;   /* one WebSocket message being reassembled */
	int rx_partial;
	char host_hdr[RV_TUNNEL_HOST_MAX];
	char close_reason[160];
};

static const char *rv_tunnel_state_str(enum rv_tunnel_state st)
{
	switch (st) {
	case RV_TUNNEL_CONNECTING:
		return "connecting";
	case RV_TUNNEL_HANDSHAKING:
		return "handshaking";
	case RV_TUNNEL_UP:
		return "up";
	case RV_TUNNEL_BACKOFF:
		return "down";
	case RV_TUNNEL_STOPPED:
		return "stopped";
	default:
		return "invalid";
	}
}

enum rv_tunnel_state rv_tunnel_get_state(const struct rv_tunnel *t)
{
	return t->state;
}

struct rv_session *rv_tunnel_session(struct rv_tunnel *t)
{
	if (t == NULL || t->state != RV_TUNNEL_UP || t->session == NULL ||
	    rv_session_get_state(t->session) != RV_SESSION_OPEN)
		return NULL;
	return t->session;
}

static void rv_tunnel_connect(lws_sorted_usec_list_t *sul);

/* Drop the session (its streams are reset; those still waiting for an
 * answer go back to the wait queue) and arm the reconnect timer. */
static void rv_tunnel_down(struct rv_tunnel *t, const char *reason)
{
	struct rv_session *s = t->session;
	char conceal;
	unsigned delay;

	if (t->state == RV_TUNNEL_BACKOFF || t->state == RV_TUNNEL_STOPPED)
		return;
	rv_log_debug("tunnel: leaving state %s", rv_tunnel_state_str(t->state));
	lws_sul_cancel(&t->sul_hs_timeout);
	rv_handshake_wipe(&t->hs);
	t->hs_sent = 0;
	t->session = NULL;
	t->state = RV_TUNNEL_BACKOFF;
	rv_buf_reset(&t->rx);
	t->rx_partial = 0;
	if (t->wsi != NULL) {
		/* Closed on the next service pass; its callbacks are ignored. */
		lws_set_timeout(t->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
		t->wsi = NULL;
	}
	delay = lws_retry_get_delay_ms(t->cl->ctx, &rv_tunnel_retry, &t->retry_count, &conceal);
	rv_log_info("tunnel down: %s; reconnecting in %u ms", reason, delay);
	rv_session_free(s);
	lws_sul_schedule(t->cl->ctx, 0, &t->sul_retry, rv_tunnel_connect,
			 (lws_usec_t)delay * LWS_US_PER_MS);
}

static void rv_tunnel_on_hs_timeout(lws_sorted_usec_list_t *sul)
{
	struct rv_tunnel *t = lws_container_of(sul, struct rv_tunnel, sul_hs_timeout);

	if (t->state == RV_TUNNEL_HANDSHAKING)
		rv_tunnel_down(t, "no handshake answer from the server in time");
}

static void rv_tunnel_connect(lws_sorted_usec_list_t *sul)
{
	struct rv_tunnel *t = lws_container_of(sul, struct rv_tunnel, sul_retry);
	const struct rv_client_opts *o = t->cl->opts;
	struct lws_client_connect_info i;

	if (t->state == RV_TUNNEL_STOPPED)
		return;
	memset(&i, 0, sizeof(i));
	i.context = t->cl->ctx;
	i.vhost = t->cl->vh;
	i.address = o->url.host;
	i.port = o->url.port;
	i.path = o->url.path;
	i.host = t->host_hdr;
	i.protocol = RV_WS_SUBPROTOCOL;
	i.local_protocol_name = RV_WS_SUBPROTOCOL;
	i.retry_and_idle_policy = &rv_tunnel_retry;
	i.userdata = t;
	if (o->url.scheme == RV_CLI_URL_WSS) {
		i.ssl_connection = LCCSCF_USE_SSL;
		if (o->insecure_tls)
			i.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED | LCCSCF_ALLOW_EXPIRED |
					    LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
					    LCCSCF_ALLOW_INSECURE;
	}
	t->attempts++;
	t->state = RV_TUNNEL_CONNECTING;
	rv_log_info("tunnel connecting to %s (attempt %llu)", o->url_text,
		    (unsigned long long)t->attempts);
	t->wsi = lws_client_connect_via_info(&i);
	if (t->wsi == NULL)
		rv_tunnel_down(t, "could not start the connection");
}

/* The session's outbox passed its input mark (the server sends without
 * reading our answers): stop reading the WebSocket until it drains. */
static void rv_tunnel_on_input_flow(struct rv_session *s, int enable, void *arg)
{
	struct rv_tunnel *t = arg;

	(void)s;
	if (t->wsi != NULL)
		lws_rx_flow_control(t->wsi, enable);
}

static void rv_tunnel_on_want_write(struct rv_session *s, void *arg)
{
	struct rv_tunnel *t = arg;

	(void)s;
	/* Also fires inside rv_session_new (first PING), before state UP. */
	if (t->wsi != NULL)
		lws_callback_on_writable(t->wsi);
}

static void rv_tunnel_on_closed(struct rv_session *s, int err, void *arg)
{
	struct rv_tunnel *t = arg;
	char why[96];

	if (s != t->session)
		return;
	if (err == RV_ERR_TIMEOUT)
		snprintf(why, sizeof(why), "nothing heard from the server for %d s (keepalive)",
			 RV_TUNNEL_DEAD_AFTER_MS / 1000);
	else if (err == RV_ERR_CLOSED)
		snprintf(why, sizeof(why), "the server is going away (GOAWAY)");
	else
		snprintf(why, sizeof(why), "session failed: %s", rv_err_str(err));
	rv_tunnel_down(t, why);
}

static void rv_tunnel_on_stream_response(struct rv_stream *st, enum rv_status status,
					 const struct rv_addr *bound, void *arg)
{
	struct rv_tunnel *t = arg;

	t->hooks->on_stream_response(st, status, bound);
}

static void rv_tunnel_on_stream_closed(struct rv_stream *st, void *arg)
{
	struct rv_tunnel *t = arg;

	t->hooks->on_stream_closed(st);
}

static void rv_tunnel_on_goaway(struct rv_session *s, uint32_t last_stream,
				enum rv_goaway_reason reason, void *arg)
{
	(void)s;
	(void)arg;
	rv_log_debug("tunnel: the server sent GOAWAY (reason %d, last stream %u); existing "
		    "streams drain, new ones wait for a new tunnel", (int)reason, last_stream);
}

static const char *rv_tunnel_aead_str(enum rv_aead a)
{
	return a == RV_AEAD_AES256GCM ? "AES-256-GCM" : "ChaCha20-Poly1305";
}

static int rv_tunnel_on_hs_response(struct rv_tunnel *t, const uint8_t *msg, size_t len)
{
	struct rv_session_callbacks cb = {
		.on_want_write = rv_tunnel_on_want_write,
		.on_input_flow = rv_tunnel_on_input_flow,
		.on_closed = rv_tunnel_on_closed,
		.on_stream_response = rv_tunnel_on_stream_response,
		.on_stream_closed = rv_tunnel_on_stream_closed,
		.on_goaway = rv_tunnel_on_goaway,
		.arg = t,
	};
	struct rv_session_config cfg;
	struct rv_hs_server_params p;
	struct rv_ratchet *r = NULL;
	uint32_t ka;
	int ret;

	ret = rv_handshake_client_finish(&t->hs, msg, len, RV_RATCHET_DEFAULT_INTERVAL_MS, &r, &p);
	rv_handshake_wipe(&t->hs);
	if (ret != RV_OK) {
		rv_tunnel_down(t, "handshake failed: the server did not prove the key given "
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
	cfg.keepalive_interval_ms = ka;
	cfg.keepalive_timeout_ms = RV_TUNNEL_DEAD_AFTER_MS;
	cfg.headroom = LWS_PRE;
	cfg.name = "tunnel";
	ret = rv_session_new(t->cl->loop, &cfg, r, &cb, &t->session);
	if (ret != RV_OK) {
		rv_tunnel_down(t, "cannot create the session");
		return -1;
	}
	lws_sul_cancel(&t->sul_hs_timeout);
	t->state = RV_TUNNEL_UP;
	t->retry_count = 0;
	rv_log_info("tunnel up (%s, server allows %u streams, window %u bytes)",
		    rv_tunnel_aead_str(p.aead), p.max_streams, p.stream_window);
	lws_callback_on_writable(t->wsi);
	t->hooks->on_up(t->cl);
	return 0;
}

static int rv_tunnel_on_established(struct rv_tunnel *t)
{
	struct rv_buf out;
	int ret;

	rv_buf_init(&out, RV_HS_INIT_MSG_LEN);
	ret = rv_handshake_client_start(&t->hs, &t->cl->opts->kp, t->cl->opts->server_pub, &out);
	if (ret == RV_OK && rv_buf_len(&out) == RV_HS_INIT_MSG_LEN)
		memcpy(t->hs_msg + LWS_PRE, rv_buf_ptr(&out), RV_HS_INIT_MSG_LEN);
	else
		ret = ret == RV_OK ? RV_ERR_INTERNAL : ret;
	rv_buf_cleanup(&out);
	if (ret != RV_OK) {
		rv_tunnel_down(t, "cannot build the handshake message");
		return -1;
	}
	t->state = RV_TUNNEL_HANDSHAKING;
	t->hs_sent = 0;
	rv_log_info("tunnel handshaking");
	lws_sul_schedule(t->cl->ctx, 0, &t->sul_hs_timeout, rv_tunnel_on_hs_timeout,
			 (lws_usec_t)RV_HANDSHAKE_TIMEOUT_S * LWS_US_PER_SEC);
	lws_callback_on_writable(t->wsi);
	return 0;
}

static int rv_tunnel_on_writeable(struct rv_tunnel *t)
{
	int i;

	if (t->state == RV_TUNNEL_HANDSHAKING) {
		if (t->hs_sent)
			return 0;
		if (lws_write(t->wsi, t->hs_msg + LWS_PRE, RV_HS_INIT_MSG_LEN, LWS_WRITE_BINARY) <
		    (int)RV_HS_INIT_MSG_LEN) {
			rv_tunnel_down(t, "write failed");
			return -1;
		}
		t->hs_sent = 1;
		return 0;
	}
	if (t->state != RV_TUNNEL_UP || t->session == NULL)
		return 0;
	for (i = 0; i < RV_TUNNEL_WRITES_PER_CALLBACK; i++) {
		uint8_t *msg;
		size_t len;
		int r = rv_session_next_message(t->session, &msg, &len);

		if (r < 0) {
			rv_tunnel_down(t, "cannot seal a message");
			return -1;
		}
		if (r == 0)
			return 0;
		if (lws_write(t->wsi, msg, len, LWS_WRITE_BINARY) < (int)len) {
			rv_tunnel_down(t, "write failed");
			return -1;
		}
		rv_session_message_sent(t->session);
		if (t->session == NULL || lws_send_pipe_choked(t->wsi))
			break;
	}
	if (t->session != NULL && rv_session_send_queue_bytes(t->session) > 0)
		lws_callback_on_writable(t->wsi);
	return 0;
}

static int rv_tunnel_on_receive(struct rv_tunnel *t, const void *in, size_t len)
{
	struct lws *wsi = t->wsi;

	if (!lws_frame_is_binary(wsi)) {
		rv_tunnel_down(t, "protocol error: the server sent a text message");
		return -1;
	}
	if (rv_buf_put(&t->rx, in, len) != RV_OK) {
		rv_tunnel_down(t, "protocol error: message larger than the protocol allows");
		return -1;
	}
	if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) > 0) {
		t->rx_partial = 1;
		return 0;
	}
	t->rx_partial = 0;
	if (t->state == RV_TUNNEL_HANDSHAKING) {
		int r = rv_tunnel_on_hs_response(t, rv_buf_ptr(&t->rx), rv_buf_len(&t->rx));

		rv_buf_reset(&t->rx);
		return r;
	}
	if (t->state == RV_TUNNEL_UP && t->session != NULL)
		(void)rv_session_on_message(t->session, rv_buf_ptr(&t->rx), rv_buf_len(&t->rx));
	rv_buf_reset(&t->rx);
	/* The session may have died inside (then the tunnel is down). */
	return t->state == RV_TUNNEL_BACKOFF ? -1 : 0;
}

/* lws' reason, trimmed (it may end in a newline), with a hint for TLS. */
static void rv_tunnel_connect_error(char *out, size_t outlen, const void *in,
				    enum rv_cli_url_scheme scheme)
{
	const char *msg = in != NULL ? in : "unknown error";
	size_t n = strlen(msg);
	const char *hint = "";

	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r' || msg[n - 1] == ' '))
		n--;
	if (scheme == RV_CLI_URL_WSS && strstr(msg, "cert") != NULL)
		hint = " (trust the server's CA with --ca FILE, or use --insecure-tls)";
	else if (strstr(msg, "not 101") != NULL)
		hint = " (not an rvpn WebSocket there: check the URL's path)";
	snprintf(out, outlen, "cannot connect: %.*s%s", (int)n, msg, hint);
}

int rv_tunnel_lws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
			      void *in, size_t len)
{
	struct rv_client *cl = lws_context_user(lws_get_context(wsi));
	struct rv_tunnel *t = cl != NULL ? cl->tunnel : NULL;
	char why[sizeof(t->close_reason) + 160];

	(void)user;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		if (t == NULL || wsi != t->wsi)
			return 0;
		t->wsi = NULL;
		rv_tunnel_connect_error(why, sizeof(why), in, t->cl->opts->url.scheme);
		rv_tunnel_down(t, why);
		return 0;
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		if (t == NULL || wsi != t->wsi)
			return -1;
		return rv_tunnel_on_established(t);
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		if (t == NULL || wsi != t->wsi)
			return 0;
		return rv_tunnel_on_writeable(t);
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (t == NULL || wsi != t->wsi)
			return 0;
		return rv_tunnel_on_receive(t, in, len);
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (t != NULL && wsi == t->wsi && len >= 2) {
			const uint8_t *p = in;

			snprintf(t->close_reason, sizeof(t->close_reason),
				 " (close code %u)", ((unsigned)p[0] << 8) | p[1]);
		}
		return 0;
	case LWS_CALLBACK_CLIENT_CLOSED:
	case LWS_CALLBACK_WSI_DESTROY:
		if (t == NULL || wsi != t->wsi)
			return 0;
		t->wsi = NULL;
		snprintf(why, sizeof(why), "%s%s",
			 t->state == RV_TUNNEL_HANDSHAKING ?
				 "the server closed the connection during the handshake (is this "
				 "client's public key in its authorized keys, and is -s its key?)" :
				 "connection closed",
			 t->close_reason);
		t->close_reason[0] = '\0';
		rv_tunnel_down(t, why);
		return 0;
	default:
		return 0;
	}
}

int rv_tunnel_new(struct rv_client *cl, const struct rv_tunnel_hooks *hooks,
		  struct rv_tunnel **out)
{
	struct rv_tunnel *t = calloc(1, sizeof(*t));
	const struct rv_cli_url *u = &cl->opts->url;
	int def;

	if (t == NULL)
		return RV_ERR_NOMEM;
	t->cl = cl;
	t->hooks = hooks;
	t->state = RV_TUNNEL_BACKOFF;
	rv_buf_init(&t->rx, RV_MSG_MAX);
	def = u->port == (u->scheme == RV_CLI_URL_WSS ? 443 : 80);
	if (u->host_is_ipv6 && def)
		snprintf(t->host_hdr, sizeof(t->host_hdr), "[%s]", u->host);
	else if (u->host_is_ipv6)
		snprintf(t->host_hdr, sizeof(t->host_hdr), "[%s]:%u", u->host, (unsigned)u->port);
	else if (def)
		snprintf(t->host_hdr, sizeof(t->host_hdr), "%s", u->host);
	else
		snprintf(t->host_hdr, sizeof(t->host_hdr), "%s:%u", u->host, (unsigned)u->port);
	*out = t;
	cl->tunnel = t;
	/* First attempt right away, from the event loop. */
	lws_sul_schedule(cl->ctx, 0, &t->sul_retry, rv_tunnel_connect, 1);
	return RV_OK;
}

void rv_tunnel_free(struct rv_tunnel *t)
{
	if (t == NULL)
		return;
	t->state = RV_TUNNEL_STOPPED;
	lws_sul_cancel(&t->sul_retry);
	lws_sul_cancel(&t->sul_hs_timeout);
	rv_handshake_wipe(&t->hs);
	rv_session_free(t->session);
	t->session = NULL;
	t->wsi = NULL; /* lws_context_destroy closes it */
	rv_buf_cleanup(&t->rx);
	t->cl->tunnel = NULL;
	free(t);
}
