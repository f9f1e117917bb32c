/* conn.c - one client WebSocket on the server: Noise handshake with
 * authorization and replay check, then an rv_session whose PROXY_CONNECTs
 * are dialed with rv_dial.  Any handshake failure closes without a word. */
#include <string.h>

#include "rv_addr.h"
#include "rv_err.h"
#include "rv_log.h"
#include "rv_stream.h"
#include "rv_wire.h"
#include "server_int.h"

static void rv_conn_close_soon(struct rv_conn *c)
{
	if (c->state == RV_CONN_CLOSING)
		return;
	c->state = RV_CONN_CLOSING;
	/* Flush what is queued (a GOAWAY), then close from WRITEABLE. */
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, 3);
	lws_callback_on_writable(c->wsi);
}

/* ---- session callbacks --------------------------------------------- */

static void rv_conn_on_want_write(struct rv_session *s, void *arg)
{
	struct rv_conn *c = arg;

	(void)s;
	lws_callback_on_writable(c->wsi);
}

static void rv_conn_on_closed(struct rv_session *s, int err, void *arg)
{
	struct rv_conn *c = arg;

	(void)s;
	rv_log_info("client %s (%s): session ended: %s", c->name, c->peer, rv_err_str(err));
	rv_conn_close_soon(c);
}

static void rv_conn_on_dialed(void *arg, const struct rv_dial_result *res)
{
	struct rv_stream *st = arg;
	struct rv_addr bound;
	char peer[RV_SOCKADDR_STRLEN];

	rv_stream_set_user(st, NULL);
	rv_log_debug("stream %u: %s %s (%s)%s", rv_stream_id(st),
		     res->status == RV_STATUS_OK ? "connected to" : "failed for",
		     rv_sockaddr_str(&res->peer, 1, peer), res->detail,
		     res->from_pool ? " [pool]" : "");
	if (res->status != RV_STATUS_OK) {
		rv_stream_reject(st, res->status);
		return;
	}
	memset(&bound, 0, sizeof(bound));
	if (rv_sockaddr_to_addr(&res->local, &bound) != RV_OK)
		bound.atyp = RV_ATYP_IPV4; /* 0.0.0.0:0: unknown */
	if (rv_stream_accept(st, res->fd, &bound) != RV_OK)
		rv_log_debug("stream %u: gone before accept", rv_stream_id(st));
}

static void rv_conn_on_stream_connect(struct rv_session *s, struct rv_stream *st,
				      const struct rv_addr *dst, void *arg)
{
	struct rv_conn *c = arg;
	struct rv_dial *dial = NULL;
	char where[RV_ADDR_STRLEN];
	int r;

	(void)s;
	rv_log_debug("client %s: stream %u: connect %s", c->name, rv_stream_id(st),
		     rv_addr_str(dst, where, sizeof(where)));
	r = rv_dial_start(&c->srv->dialer, dst, rv_conn_on_dialed, st, &dial);
	if (r != RV_OK) {
		rv_stream_reject(st, RV_STATUS_GENERAL_FAILURE);
		return;
	}
	rv_stream_set_user(st, dial);
}

static void rv_conn_on_stream_closed(struct rv_stream *st, void *arg)
{
	(void)arg;
	/* A dial still running for this stream must never report. */
	rv_dial_cancel(rv_stream_get_user(st));
	rv_stream_set_user(st, NULL);
}

static const struct rv_session_callbacks rv_conn_session_cb = {
	.on_want_write = rv_conn_on_want_write,
	.on_closed = rv_conn_on_closed,
	.on_stream_connect = rv_conn_on_stream_connect,
	.on_stream_closed = rv_conn_on_stream_closed,
};

/* ---- handshake ----------------------------------------------------- */

static int rv_conn_handshake(struct rv_conn *c, const uint8_t *msg, size_t len)
{
	struct rv_server *srv = c->srv;
	struct rv_hs_server_params params;
	struct rv_session_config cfg;
	struct rv_session_callbacks cb = rv_conn_session_cb;
	struct rv_ratchet *ratchet = NULL;
	const char *name = NULL;
	char pub[RV_KEY_B64_SIZE];
	int r;

	r = rv_handshake_server_read_init(&c->hs, &srv->key, msg, len);
	if (r != RV_OK) {
		rv_log_rl(RV_LOG_INFO, "%s: handshake failed: %s", c->peer, rv_err_str(r));
		goto out;
	}
	rv_key_to_base64(c->hs.peer_static, pub);
	r = rv_authkeys_accept(srv->authkeys, c->hs.peer_static, c->hs.tai64n, &name);
	if (r != RV_OK) {
		rv_log_rl(RV_LOG_WARN, "%s: client key %s refused: %s", c->peer, pub,
			    r == RV_ERR_REPLAY ? "replayed or old timestamp" : "not authorized");
		goto out;
	}
	snprintf(c->name, sizeof(c->name), "%s", name != NULL && name[0] ? name : pub);
	memset(&params, 0, sizeof(params));
	params.keepalive_s = RV_KEEPALIVE_DEFAULT_S;
	params.max_streams = srv->opts->max_streams;
	params.stream_window = srv->opts->stream_window;
	params.max_message = RV_MSG_MAX;
	r = rv_handshake_server_respond(&c->hs, &params, RV_RATCHET_DEFAULT_INTERVAL_MS,
					&c->hs_reply, &ratchet);
	if (r != RV_OK) {
		rv_log_info("%s: handshake failed: %s", c->peer, rv_err_str(r));
		goto out;
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.role = RV_SESSION_SERVER;
	cfg.local_window = srv->opts->stream_window;
	cfg.max_streams = srv->opts->max_streams;
	cfg.idle_timeout_ms = srv->opts->idle_timeout_s * 1000u;
	cfg.headroom = LWS_PRE;
	cfg.name = c->name;
	cb.arg = c;
	r = rv_session_new(srv->loop, &cfg, ratchet, &cb, &c->sess);
	ratchet = NULL; /* owned by the session, also on failure */
	if (r != RV_OK)
		goto out;
	c->state = RV_CONN_OPEN;
	rv_preauth_set_state(rv_preauth_of(srv, c->wsi), RV_PREAUTH_HANDSHAKE,
			     RV_HANDSHAKE_TIMEOUT_S);
	/* The handshake timeout stays armed until the first transport message
	 * authenticates: a peer that stops after message 1 is not kept. */
	srv->sessions_total++;
	rv_log_info("client %s (%s) connected", c->name, c->peer);
	lws_callback_on_writable(c->wsi);
out:
	rv_handshake_wipe(&c->hs);
	if (r != RV_OK)
		srv->handshakes_failed++;
	return r;
}

/* ---- WebSocket protocol -------------------------------------------- */

static int rv_conn_on_established(struct rv_conn *c, struct lws *wsi)
{
	struct rv_server *srv = rv_server_from_wsi(wsi);
	struct rv_preauth *p = rv_preauth_of(srv, wsi);

	memset(c, 0, sizeof(*c)); /* c->srv == NULL: CLOSED does nothing */
	/* No session slot yet: it is counted once the peer authenticates
	 * (rv_conn_on_authenticated); until then the pre-auth slot and its
	 * deadlines bound what a stranger holds. */
	if (srv->state != RV_SERVER_RUNNING || p == NULL)
		return -1;
	rv_preauth_set_state(p, RV_PREAUTH_WS, RV_PREAUTH_MSG1_TIMEOUT_S);
	c->srv = srv;
	c->wsi = wsi;
	c->state = RV_CONN_HANDSHAKE;
	rv_buf_init(&c->rx, RV_MSG_MAX);
	rv_buf_init(&c->hs_reply, RV_MSG_MAX);
	lws_get_peer_simple(wsi, c->peer, sizeof(c->peer));
	snprintf(c->name, sizeof(c->name), "?");
	c->next = srv->conns;
	if (srv->conns != NULL)
		srv->conns->prev = c;
	srv->conns = c;
	lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, RV_HANDSHAKE_TIMEOUT_S);
	return 0;
}

/* The first transport message decrypted: the peer holds an authorized key
 * and is live.  Only now does it take a session slot. */
static int rv_conn_on_authenticated(struct rv_conn *c, struct lws *wsi)
{
	struct rv_server *srv = c->srv;

	c->authenticated = 1;
	lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
	rv_preauth_release(rv_preauth_of(srv, wsi));
	if (srv->n_sessions >= srv->opts->max_sessions) {
		rv_log_rl(RV_LOG_WARN, "client %s (%s) refused: %u clients connected "
			  "(--max-sessions)", c->name, c->peer, srv->n_sessions);
		return -1;
	}
	srv->n_sessions++;
	c->counted = 1;
	return 0;
}

static void rv_conn_on_closed_wsi(struct rv_conn *c)
{
	struct rv_server *srv = c->srv;

	if (srv == NULL)
		return; /* never established */
	if (c->sess != NULL) {
		struct rv_session_stats st;

		rv_session_get_stats(c->sess, &st);
		rv_log_info("client %s (%s) disconnected: %llu streams, %llu bytes up, "
			    "%llu bytes down", c->name, c->peer,
			    (unsigned long long)st.streams_opened,
			    (unsigned long long)st.data_in, (unsigned long long)st.data_out);
	}
	c->state = RV_CONN_CLOSING; /* no close_soon from session callbacks */
	rv_session_free(c->sess);
	c->sess = NULL;
	rv_handshake_wipe(&c->hs);
	rv_buf_cleanup(&c->rx);
	rv_buf_cleanup(&c->hs_reply);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else if (srv->conns == c)
		srv->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	if (c->counted)
		srv->n_sessions--;
	c->counted = 0;
	c->srv = NULL;
	rv_server_conns_check_drained(srv);
}

static int rv_conn_on_receive(struct rv_conn *c, struct lws *wsi, const void *in, size_t len)
{
	int r;

	if (c->state == RV_CONN_CLOSING)
		return 0;
	if (!lws_frame_is_binary(wsi))
		return -1;
	if (rv_buf_put(&c->rx, in, len) != RV_OK)
		return -1; /* larger than RV_MSG_MAX: not ours */
	if (!lws_is_final_fragment(wsi))
		return 0;
	if (c->state == RV_CONN_HANDSHAKE) {
		r = rv_conn_handshake(c, rv_buf_ptr(&c->rx), rv_buf_len(&c->rx));
		rv_buf_reset(&c->rx);
		return r == RV_OK ? 0 : -1;
	}
	r = rv_session_on_message(c->sess, rv_buf_ptr(&c->rx), rv_buf_len(&c->rx));
	rv_buf_reset(&c->rx);
	if (r == RV_OK && !c->authenticated) {
		struct rv_session_stats st;

		rv_session_get_stats(c->sess, &st);
		if (st.msgs_in > 0) /* counts authenticated messages only */
			return rv_conn_on_authenticated(c, wsi);
	}
	return 0; /* a dead session has called on_closed */
}

static int rv_conn_on_writeable(struct rv_conn *c, struct lws *wsi)
{
	uint8_t *msg;
	size_t len;
	int r;

	if (rv_buf_len(&c->hs_reply) > 0) {
		uint8_t frame[LWS_PRE + RV_HS_RESP_MSG_LEN];

		len = rv_buf_len(&c->hs_reply);
		if (len > RV_HS_RESP_MSG_LEN)
			return -1;
		memcpy(frame + LWS_PRE, rv_buf_ptr(&c->hs_reply), len);
		rv_buf_reset(&c->hs_reply);
		if (lws_write(wsi, frame + LWS_PRE, len, LWS_WRITE_BINARY) < (int)len)
			return -1;
		lws_callback_on_writable(wsi);
		return 0;
	}
	if (c->sess == NULL)
		return c->state == RV_CONN_CLOSING ? -1 : 0;
	r = rv_session_next_message(c->sess, &msg, &len);
	if (r < 0)
		return -1;
	if (r == 0)
		return c->state == RV_CONN_CLOSING ? -1 : 0;
	if (lws_write(wsi, msg, len, LWS_WRITE_BINARY) < (int)len)
		return -1;
	rv_session_message_sent(c->sess);
	lws_callback_on_writable(wsi);
	return 0;
}

static int rv_conn_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
			    void *in, size_t len)
{
	struct rv_conn *c = user;

	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		return rv_conn_on_established(c, wsi);
	case LWS_CALLBACK_RECEIVE:
		return rv_conn_on_receive(c, wsi, in, len);
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return rv_conn_on_writeable(c, wsi);
	case LWS_CALLBACK_CLOSED:
		rv_conn_on_closed_wsi(c);
		return 0;
	default:
		return 0;
	}
}

const struct lws_protocols rv_server_ws_protocol = {
	.name = RV_WS_SUBPROTOCOL,
	.callback = rv_conn_callback,
	.per_session_data_size = sizeof(struct rv_conn),
	.rx_buffer_size = RV_MSG_MAX + 16,
	.tx_packet_size = RV_MSG_MAX + 16,
};

void rv_server_conns_goaway(struct rv_server *srv)
{
	struct rv_conn *c;

	for (c = srv->conns; c != NULL; c = c->next) {
		if (c->state == RV_CONN_OPEN && c->sess != NULL)
			rv_session_goaway(c->sess, RV_GOAWAY_SHUTDOWN);
		else if (c->state == RV_CONN_HANDSHAKE)
			rv_conn_close_soon(c);
	}
}

void rv_server_conns_check_drained(struct rv_server *srv)
{
	if (srv->state == RV_SERVER_DRAINING && srv->conns == NULL)
		srv->state = RV_SERVER_STOPPING;
}
