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
#include "tls_ip.h"

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
};

/* One WebSocket and the session on it.  The tunnel has two: cur (the one
 * new streams use) and, after a GOAWAY, old (draining its streams). */
struct rv_tunnel_link {
	struct rv_tunnel *t;
	struct lws *wsi;
	struct rv_session *session;
	struct rv_buf rx;   /* one WebSocket message being reassembled */
	int rx_partial;
	char close_reason[160];
	uint8_t features;   /* agreed in the handshake (RV_CAP_ bits) */
};

struct rv_tunnel {
	struct rv_client *cl;
	const struct rv_tunnel_hooks *hooks;
	enum rv_tunnel_state state;  /* of cur */
	struct rv_tunnel_link links[2];
	struct rv_tunnel_link *cur;  /* connecting / up */
	struct rv_tunnel_link *old;  /* draining after GOAWAY, or NULL */
	lws_sorted_usec_list_t sul_retry;
	lws_sorted_usec_list_t sul_hs_timeout;
	uint16_t retry_count;
	uint64_t attempts;
	uint64_t up_since_ms;        /* loop ms cur came up (status.c) */
	struct rv_handshake hs;
	uint8_t hs_msg[LWS_PRE + RV_HS_INIT_MSG_LEN];
	int hs_sent;
	int stopping;                /* rv_tunnel_shutdown: no reconnects */
	int host_is_ip;              /* URL host is an IP literal */
	uint64_t connect_ms;         /* loop ms of the last connect attempt */
	char host_hdr[RV_TUNNEL_HOST_MAX];
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

void rv_tunnel_get_info(const struct rv_tunnel *t, struct rv_tunnel_info *out)
{
	memset(out, 0, sizeof(*out));
	if (t == NULL)
		return;
	out->state = t->state;
	out->attempts = t->attempts;
	out->up_since_ms = t->state == RV_TUNNEL_UP ? t->up_since_ms : 0;
	out->session = t->cur != NULL ? t->cur->session : NULL;
	out->draining = t->old != NULL ? t->old->session : NULL;
}

int rv_tunnel_datagram_agreed(const struct rv_tunnel *t)
{
	return t != NULL && t->cur->session != NULL && (t->cur->features & RV_CAP_DATAGRAM) != 0;
}

struct rv_session *rv_tunnel_session(struct rv_tunnel *t)
{
	if (t == NULL || t->stopping || t->state != RV_TUNNEL_UP || t->cur->session == NULL ||
	    rv_session_get_state(t->cur->session) != RV_SESSION_OPEN)
		return NULL;
	return t->cur->session;
}

static void rv_tunnel_connect(lws_sorted_usec_list_t *sul);

/* Close the link's WebSocket (on the next service pass; its callbacks are
 * ignored from now on) and free its session (streams reset). */
static void rv_tunnel_link_close(struct rv_tunnel_link *l)
{
	struct rv_session *s = l->session;

	if (l->wsi != NULL) {
		lws_set_timeout(l->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
		l->wsi = NULL;
	}
	l->session = NULL;
	rv_buf_reset(&l->rx);
	l->rx_partial = 0;
	l->close_reason[0] = '\0';
	rv_session_free(s);
}

/* The draining WebSocket is finished (drained, failed or closed). */
static void rv_tunnel_old_done(struct rv_tunnel *t, const char *how)
{
	struct rv_tunnel_link *l = t->old;

	if (l == NULL)
		return;
	t->old = NULL;
	rv_log_info("tunnel: the previous WebSocket %s", how);
	rv_tunnel_link_close(l);
}

/* Drop the session (its streams are reset; those still waiting for an
 * answer go back to the wait queue) and arm the reconnect timer. */
static void rv_tunnel_down(struct rv_tunnel *t, const char *reason)
{
	char conceal;
	unsigned delay;

	if (t->state == RV_TUNNEL_BACKOFF || t->state == RV_TUNNEL_STOPPED)
		return;
	rv_log_debug("tunnel: leaving state %s", rv_tunnel_state_str(t->state));
	lws_sul_cancel(&t->sul_hs_timeout);
	rv_handshake_wipe(&t->hs);
	t->hs_sent = 0;
	if (t->stopping) {
		t->state = RV_TUNNEL_STOPPED;
		rv_log_info("tunnel down: %s", reason);
		rv_tunnel_link_close(t->cur);
		return;
	}
	t->state = RV_TUNNEL_BACKOFF;
	delay = lws_retry_get_delay_ms(t->cl->ctx, &rv_tunnel_retry, &t->retry_count, &conceal);
	rv_log_info("tunnel down: %s; reconnecting in %u ms", reason, delay);
	rv_tunnel_link_close(t->cur);
	lws_sul_schedule(t->cl->ctx, 0, &t->sul_retry, rv_tunnel_connect,
			 (lws_usec_t)delay * LWS_US_PER_MS);
}

static void rv_tunnel_on_hs_timeout(lws_sorted_usec_list_t *sul)
{
	struct rv_tunnel *t = lws_container_of(sul, struct rv_tunnel, sul_hs_timeout);

	if (t->state == RV_TUNNEL_HANDSHAKING)
		rv_tunnel_down(t, "no handshake answer from the server in time");
}

/* host:port of the URL, for messages ([v6]:port). */
static const char *rv_tunnel_addr_str(const struct rv_tunnel *t)
{
	static char out[RV_TUNNEL_HOST_MAX + 16];
	const struct rv_cli_url *u = &t->cl->opts->url;

	snprintf(out, sizeof(out), u->host_is_ipv6 ? "[%s]:%u" : "%s:%u", u->host,
		 (unsigned)u->port);
	return out;
}

static void rv_tunnel_connect(lws_sorted_usec_list_t *sul)
{
	struct rv_tunnel *t = lws_container_of(sul, struct rv_tunnel, sul_retry);
	const struct rv_client_opts *o = t->cl->opts;
	struct lws_client_connect_info i;

	if (t->state == RV_TUNNEL_STOPPED || t->stopping)
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
	if (o->url.scheme == RV_CLI_URL_WSS) {
		i.ssl_connection = LCCSCF_USE_SSL;
		if (o->insecure_tls)
			i.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED | LCCSCF_ALLOW_EXPIRED |
					    LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
					    LCCSCF_ALLOW_INSECURE;
		else if (t->host_is_ip)
			/* Only the name check: tls_ip.c checks the address,
			 * the chain is verified as always. */
			i.ssl_connection |= LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK;
	}
	t->attempts++;
	t->state = RV_TUNNEL_CONNECTING;
	rv_log_info("tunnel connecting to %s (attempt %llu)", o->url_text,
		    (unsigned long long)t->attempts);
	t->connect_ms = rv_loop_now_ms(t->cl->loop);
	t->cur->wsi = lws_client_connect_via_info(&i);
	if (t->cur->wsi == NULL) {
		char why[2 * RV_TUNNEL_HOST_MAX + 256];

		/* lws resolves the name inside the call: a NULL for a name is
		 * almost always one that does not resolve. */
		if (t->host_is_ip)
			snprintf(why, sizeof(why), "cannot connect to %s: libwebsockets could "
				 "not start the connection (out of descriptors or memory?)",
				 rv_tunnel_addr_str(t));
		else
			snprintf(why, sizeof(why), "cannot connect to %s: the name %s does not "
				 "resolve (check the URL's host name and this machine's DNS)",
				 rv_tunnel_addr_str(t), o->url.host);
		rv_tunnel_down(t, why);
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
		return;
	}
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
	struct rv_tunnel_link *l = arg;

	l->t->hooks->on_stream_response(st, status, bound);
}

static void rv_tunnel_on_stream_closed(struct rv_stream *st, void *arg)
{
	struct rv_tunnel_link *l = arg;

	l->t->hooks->on_stream_closed(st);
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

/* GOAWAY on the current WebSocket: it becomes the draining one and a new
 * WebSocket opens at once; new streams wait for it.  At most one drains: a
 * second GOAWAY before the first drained drops the older one. */
static void rv_tunnel_on_goaway(struct rv_session *s, uint32_t last_stream,
				enum rv_goaway_reason reason, void *arg)
{
	struct rv_tunnel_link *l = arg;
	struct rv_tunnel *t = l->t;

	/* Fatal reasons close the connection now: the ordinary reconnect
	 * (with backoff) follows. */
	if (l != t->cur || s != l->session || t->stopping || t->state != RV_TUNNEL_UP ||
	    reason != RV_GOAWAY_SHUTDOWN)
		return;
	if (t->old != NULL) {
		rv_log_warn("tunnel: a second GOAWAY while the previous WebSocket still drains: "
			    "closing that one (%u stream(s) reset)",
			    rv_session_stream_count(t->old->session));
		rv_tunnel_old_done(t, "was closed early");
	}
	rv_log_info("tunnel: the server is going away (GOAWAY, reason %d, last stream %u): "
		    "%u stream(s) finish on this WebSocket, opening a new one for new streams",
		    (int)reason, last_stream, rv_session_stream_count(s));
	t->old = l;
	t->cur = l == &t->links[0] ? &t->links[1] : &t->links[0];
	t->state = RV_TUNNEL_BACKOFF;
	t->retry_count = 0;
	/* From the loop, not from inside the session's callback. */
	lws_sul_schedule(t->cl->ctx, 0, &t->sul_retry, rv_tunnel_connect, 1);
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
		.on_datagram = rv_tunnel_on_datagram,
		.on_datagram_close = rv_tunnel_on_datagram_close,
		.arg = t->cur,
	};
	struct rv_session_config cfg;
	struct rv_hs_server_params p;
	struct rv_ratchet *r = NULL;
	char why[128];
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
	cfg.window_growth = p.window_growth; /* both ends agreed: PROTOCOL.md §8.1 */
	cfg.keepalive_interval_ms = ka;
	cfg.keepalive_timeout_ms = RV_TUNNEL_DEAD_AFTER_MS;
	cfg.headroom = LWS_PRE;
	/* Never send a message larger than the server accepts. */
	cfg.max_message = p.max_message;
	cfg.name = "tunnel";
	cfg.datagram = (p.features & RV_CAP_DATAGRAM) != 0;
	t->cur->features = p.features;
	if (p.max_message < rv_session_min_message()) {
		rv_ratchet_free(r);
		snprintf(why, sizeof(why), "the server's max_message (%u bytes) is smaller than "
			 "this client can work with (%zu)", p.max_message, rv_session_min_message());
		rv_tunnel_down(t, why);
		return -1;
	}
	ret = rv_session_new(t->cl->loop, &cfg, r, &cb, &t->cur->session);
	if (ret != RV_OK) {
		rv_tunnel_down(t, "cannot create the session");
		return -1;
	}
	lws_sul_cancel(&t->sul_hs_timeout);
	t->state = RV_TUNNEL_UP;
	t->up_since_ms = rv_loop_now_ms(t->cl->loop);
	t->retry_count = 0;
	rv_log_info("tunnel up (%s, server allows %u streams, window %u bytes, messages up to "
		    "%u bytes)", rv_tunnel_aead_str(p.aead), p.max_streams, p.stream_window,
		    p.max_message);
	lws_callback_on_writable(t->cur->wsi);
	t->hooks->on_up(t->cl);
	return 0;
}

static int rv_tunnel_on_established(struct rv_tunnel *t)
{
	struct rv_buf out;
	int ret;

	rv_buf_init(&out, RV_HS_INIT_MSG_LEN);
	ret = rv_handshake_client_start(&t->hs, &t->cl->opts->kp, t->cl->opts->server_pub,
					RV_TUNNEL_FEATURES, &out);
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
	lws_callback_on_writable(t->cur->wsi);
	return 0;
}

/* The link failed: the current one goes down (reconnect), the old one is
 * dropped. */
static void rv_tunnel_link_fail(struct rv_tunnel_link *l, const char *reason)
{
	struct rv_tunnel *t = l->t;
	char how[160];

	if (l == t->cur) {
		rv_tunnel_down(t, reason);
		return;
	}
	snprintf(how, sizeof(how), "failed while draining: %s", reason);
	rv_tunnel_old_done(t, how);
}

static int rv_tunnel_on_writeable(struct rv_tunnel_link *l)
{
	struct rv_tunnel *t = l->t;
	struct lws *wsi = l->wsi;
	int i;

	if (l == t->cur && t->state == RV_TUNNEL_HANDSHAKING) {
		if (t->hs_sent)
			return 0;
		if (lws_write(wsi, t->hs_msg + LWS_PRE, RV_HS_INIT_MSG_LEN, LWS_WRITE_BINARY) <
		    (int)RV_HS_INIT_MSG_LEN) {
			rv_tunnel_down(t, "write failed");
			return -1;
		}
		t->hs_sent = 1;
		return 0;
	}
	if ((l == t->cur && t->state != RV_TUNNEL_UP) || l->session == NULL)
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
		if (l->session == NULL || l->wsi != wsi || lws_send_pipe_choked(wsi))
			break;
	}
	if (l->wsi != wsi)
		return -1;
	if (l->session != NULL && rv_session_send_queue_bytes(l->session) > 0)
		lws_callback_on_writable(wsi);
	return 0;
}

static int rv_tunnel_on_receive(struct rv_tunnel_link *l, const void *in, size_t len)
{
	struct rv_tunnel *t = l->t;
	struct lws *wsi = l->wsi;

	if (!lws_frame_is_binary(wsi)) {
		rv_tunnel_link_fail(l, "protocol error: the server sent a text message");
		return -1;
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
	if (l == t->cur && t->state == RV_TUNNEL_HANDSHAKING) {
		int r = rv_tunnel_on_hs_response(t, rv_buf_ptr(&l->rx), rv_buf_len(&l->rx));

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
static void rv_tunnel_tls_hint(struct rv_tunnel *t, const char *msg, char *hint, size_t len)
{
	const struct rv_client_opts *o = t->cl->opts;
	const char *ca = o->ca_file != NULL ? o->ca_file : "the system CA bundle";
	const char *p = strstr(msg, "X509_V_ERR = ");
	int code = p != NULL ? atoi(p + 13) : -1;

	if (code == RV_X509_IP_MISMATCH || rv_tls_ip_mismatch_seen())
		snprintf(hint, len, " (the server's certificate does not name %s: its IP "
			 "addresses are %s; it needs subjectAltName IP:%s)",
			 o->url.host, rv_tls_ip_seen_sans(), o->url.host);
	else if (code == RV_X509_HOSTNAME_MISMATCH)
		snprintf(hint, len, " (the server's certificate does not name %s: it needs "
			 "subjectAltName DNS:%s)", o->url.host, o->url.host);
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
static void rv_tunnel_connect_error(struct rv_tunnel *t, char *out, size_t outlen,
				    const void *in)
{
	enum rv_cli_url_scheme scheme = t->cl->opts->url.scheme;
	const char *msg = in != NULL ? in : "unknown error";
	size_t n = strlen(msg);
	char hint[1024];

	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r' || msg[n - 1] == ' '))
		n--;
	hint[0] = '\0';
	if (scheme == RV_CLI_URL_WSS)
		rv_tunnel_tls_hint(t, msg, hint, sizeof(hint));
	if (hint[0] == '\0' && strstr(msg, "not 101") != NULL)
		snprintf(hint, sizeof(hint), " (not an rvpn WebSocket there: check the URL's "
			 "path)");
	if (hint[0] == '\0' && scheme == RV_CLI_URL_WS && strcmp(msg, "read failed") == 0)
		snprintf(hint, sizeof(hint), " (the server dropped the WebSocket upgrade: is it "
			 "a wss:// server? then use wss://)");
	if (strcmp(msg, "Unable to connect") == 0) {
		/* lws keeps no errno here (it read SO_ERROR and closed the
		 * socket): tell a timeout from a quick refusal by the time. */
		uint64_t ms = rv_loop_now_ms(t->cl->loop) - t->connect_ms;

		if (ms >= RV_TUNNEL_CONNECT_SLOW_MS)
			snprintf(out, outlen, "cannot connect to %s: no answer within %llu s "
				 "(timed out: a firewall dropping packets, or the wrong address?)",
				 rv_tunnel_addr_str(t), (unsigned long long)(ms / 1000));
		else
			snprintf(out, outlen, "cannot connect to %s: connection refused or no "
				 "route (is rvpn-server running and listening there? check -l on "
				 "the server)", rv_tunnel_addr_str(t));
		return;
	}
	snprintf(out, outlen, "cannot connect to %s: %.*s%s", rv_tunnel_addr_str(t), (int)n,
		 msg, hint);
}

/* Which of the tunnel's WebSockets wsi is (NULL: none, e.g. one we
 * already let go). */
static struct rv_tunnel_link *rv_tunnel_link_of(struct rv_tunnel *t, struct lws *wsi)
{
	if (t == NULL || wsi == NULL)
		return NULL;
	if (t->cur->wsi == wsi)
		return t->cur;
	if (t->old != NULL && t->old->wsi == wsi)
		return t->old;
	return NULL;
}

int rv_tunnel_lws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
			      void *in, size_t len)
{
	struct rv_client *cl = lws_context_user(lws_get_context(wsi));
	struct rv_tunnel *t = cl != NULL ? cl->tunnel : NULL;
	struct rv_tunnel_link *l = rv_tunnel_link_of(t, wsi);
	char why[sizeof(l->close_reason) + 1400];

	(void)user;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		if (l == NULL || l != t->cur)
			return 0;
		l->wsi = NULL;
		rv_tunnel_connect_error(t, why, sizeof(why), in);
		rv_tunnel_down(t, why);
		return 0;
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		if (l == NULL || l != t->cur)
			return -1;
		return rv_tunnel_on_established(t);
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
			 l == t->cur && t->state == RV_TUNNEL_HANDSHAKING ?
				 "the server closed the connection during the handshake (is this "
				 "client's public key in its authorized keys, and is -s its key?)" :
				 "connection closed",
			 l->close_reason);
		l->close_reason[0] = '\0';
		if (l == t->cur)
			rv_tunnel_down(t, why);
		else
			rv_tunnel_old_done(t, rv_session_stream_count(l->session) == 0 ?
						      "closed (drained)" : "closed while draining");
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
	uint8_t ip[RV_TLS_IP_MAX];
	size_t iplen;
	int def;

	if (t == NULL)
		return RV_ERR_NOMEM;
	t->cl = cl;
	t->hooks = hooks;
	t->state = RV_TUNNEL_BACKOFF;
	for (def = 0; def < 2; def++) {
		t->links[def].t = t;
		rv_buf_init(&t->links[def].rx, RV_MSG_MAX);
	}
	t->cur = &t->links[0];
	def = u->port == (u->scheme == RV_CLI_URL_WSS ? 443 : 80);
	if (u->host_is_ipv6 && def)
		snprintf(t->host_hdr, sizeof(t->host_hdr), "[%s]", u->host);
	else if (u->host_is_ipv6)
		snprintf(t->host_hdr, sizeof(t->host_hdr), "[%s]:%u", u->host, (unsigned)u->port);
	else if (def)
		snprintf(t->host_hdr, sizeof(t->host_hdr), "%s", u->host);
	else
		snprintf(t->host_hdr, sizeof(t->host_hdr), "%s:%u", u->host, (unsigned)u->port);
	t->host_is_ip = rv_tls_ip_parse(u->host, ip, &iplen);
	if (u->scheme == RV_CLI_URL_WSS && !cl->opts->insecure_tls && t->host_is_ip)
		rv_tls_ip_expect(u->host);
	*out = t;
	cl->tunnel = t;
	/* First attempt right away, from the event loop. */
	lws_sul_schedule(cl->ctx, 0, &t->sul_retry, rv_tunnel_connect, 1);
	return RV_OK;
}

void rv_tunnel_free(struct rv_tunnel *t)
{
	int i;

	if (t == NULL)
		return;
	t->state = RV_TUNNEL_STOPPED;
	t->stopping = 1;
	lws_sul_cancel(&t->sul_retry);
	lws_sul_cancel(&t->sul_hs_timeout);
	rv_handshake_wipe(&t->hs);
	for (i = 0; i < 2; i++) {
		rv_session_free(t->links[i].session);
		t->links[i].session = NULL;
		t->links[i].wsi = NULL; /* lws_context_destroy closes it */
		rv_buf_cleanup(&t->links[i].rx);
	}
	t->old = NULL;
	t->cl->tunnel = NULL;
	free(t);
}

void rv_tunnel_shutdown(struct rv_tunnel *t)
{
	struct rv_tunnel_link *l;
	int i;

	if (t == NULL || t->stopping)
		return;
	t->stopping = 1;
	lws_sul_cancel(&t->sul_retry);
	if (t->state != RV_TUNNEL_UP) {
		/* Not up: nothing to drain on cur. */
		lws_sul_cancel(&t->sul_hs_timeout);
		rv_handshake_wipe(&t->hs);
		rv_tunnel_link_close(t->cur);
	}
	t->state = t->state == RV_TUNNEL_UP ? RV_TUNNEL_UP : RV_TUNNEL_STOPPED;
	for (i = 0; i < 2; i++) {
		l = &t->links[i];
		if (l->session != NULL &&
		    rv_session_get_state(l->session) == RV_SESSION_OPEN)
			(void)rv_session_goaway(l->session, RV_GOAWAY_SHUTDOWN);
	}
}

int rv_tunnel_drained(const struct rv_tunnel *t, uint32_t *streams)
{
	uint32_t n = 0;
	int i, busy = 0;

	if (t != NULL) {
		for (i = 0; i < 2; i++) {
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
