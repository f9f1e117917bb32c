/* conn.c - one client WebSocket on the server: Noise handshake with
 * authorization and replay check, then an rv_session whose PROXY_CONNECTs
 * are dialed with rv_dial.  Any handshake failure closes without a word. */
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "rv_addr.h"
#include "rv_err.h"
#include "rv_log.h"
#include "rv_sockopt.h"
#include "rv_stream.h"
#include "rv_wire.h"
#include "rfwd.h"
#include "server_int.h"
#include "worker.h"

static void rv_conn_close_soon(struct rv_conn *c)
{
	if (c->state == RV_CONN_CLOSING)
		return;
	c->state = RV_CONN_CLOSING;
	/* Flush what is queued (a GOAWAY), then close from WRITEABLE. */
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, 3);
	lws_callback_on_writable(c->wsi);
}

/* ---- resource bounds ------------------------------------------------- */

enum rv_conn_bounds {
	/* Descriptors kept out of the stream budget: listeners, DNS, logs,
	 * pre-authentication connections, the pool's spares are added. */
	RV_CONN_FD_RESERVE = 64 + RV_PREAUTH_MAX,
	/* While a key is over its buffer budget, re-check this often. */
	RV_CONN_BUDGET_RECHECK_US = 100 * LWS_US_PER_MS,
};

/* Read the WebSocket only if the session and the key's budget allow. */
static void rv_conn_update_rx(struct rv_conn *c)
{
	int enable = !c->budget_stopped && !(c->sess != NULL && rv_session_input_stopped(c->sess));

	if (enable != c->rx_enabled && c->state != RV_CONN_CLOSING) {
		c->rx_enabled = enable;
		lws_rx_flow_control(c->wsi, enable);
	}
}

/* Bytes held in user space for every session of this connection's key. */
static size_t rv_conn_key_buffered(const struct rv_conn *c)
{
	const struct rv_conn *x;
	size_t n = 0;

	for (x = c->pk != NULL ? c->pk->conns : NULL; x != NULL; x = x->pk_next)
		n += rv_session_buffered_bytes(x->sess);
	return n;
}

static void rv_conn_on_budget_timer(lws_sorted_usec_list_t *sul)
{
	struct rv_conn *c = lws_container_of(sul, struct rv_conn, sul_budget);
	size_t budget = c->srv->opts->max_buffer_per_key;

	/* Resume below 3/4 so a key at the edge does not flap every message. */
	if (rv_conn_key_buffered(c) <= budget / 4 * 3) {
		c->budget_stopped = 0;
		rv_conn_update_rx(c);
		return;
	}
	lws_sul_schedule(lws_get_context(c->wsi), 0, &c->sul_budget, rv_conn_on_budget_timer,
			 RV_CONN_BUDGET_RECHECK_US);
}

static void rv_conn_check_budget(struct rv_conn *c)
{
	if (c->pk == NULL || c->budget_stopped ||
	    rv_conn_key_buffered(c) <= c->srv->opts->max_buffer_per_key)
		return;
	rv_log_debug("client %s: %zu bytes buffered for this key (limit %u): not reading",
		     c->name, rv_conn_key_buffered(c), c->srv->opts->max_buffer_per_key);
	c->budget_stopped = 1;
	rv_conn_update_rx(c);
	lws_sul_schedule(lws_get_context(c->wsi), 0, &c->sul_budget, rv_conn_on_budget_timer,
			 RV_CONN_BUDGET_RECHECK_US);
}

/* 1 if one more stream (its target socket: the loop watches it without a
 * descriptor of its own) fits in the descriptor limit with the reserve
 * kept: refuse before EMFILE. */
int rv_conn_fd_room(struct rv_server *srv)
{
	uint64_t need;

	if (srv->fd_limit == 0) {
		struct rlimit rl;

		srv->fd_limit = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
					? (uint64_t)rl.rlim_cur : 1024;
	}
	need = (uint64_t)srv->streams_active + 1 + srv->n_sessions + srv->opts->pool_max +
	       srv->udp.fds + RV_CONN_FD_RESERVE;
	return need <= srv->fd_limit;
}

uint32_t rv_conn_key_count(struct rv_conn *c, int delta)
{
	if (c->slot_held)
		return delta == 0 ? rv_worker_key_streams(c->srv->worker, c->key_slot) :
		       rv_worker_key_streams_add(c->srv->worker, c->key_slot, delta);
	return c->pk != NULL ? c->pk->streams + c->pk->udp_assocs : 0;
}

static void rv_conn_pk_unlink(struct rv_conn *c)
{
	struct rv_server *srv = c->srv;

	if (c->pk == NULL)
		return;
	if (c->pk_prev != NULL)
		c->pk_prev->pk_next = c->pk_next;
	else
		c->pk->conns = c->pk_next;
	if (c->pk_next != NULL)
		c->pk_next->pk_prev = c->pk_prev;
	c->pk_next = c->pk_prev = NULL;
	c->pk->refs--;
	rv_perkey_put(&srv->perkeys, c->pk);
	c->pk = NULL;
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
	/* Listeners go with the session (PROTOCOL.md "Remote forwards"). */
	rv_rfwd_free(c->rfwd);
	c->rfwd = NULL;
	rv_log_info("client %s (%s): session ended: %s", c->name, c->peer, rv_err_str(err));
	if (c->end_reason == NULL)
		c->end_reason = err == RV_ERR_CLOSED ? "GOAWAY drained" :
				err == RV_ERR_TIMEOUT ? "keepalive timeout" :
				err == RV_ERR_MALFORMED ? "protocol error" : "session error";
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
	if (rv_stream_accept(st, res->fd, &bound) != RV_OK) {
		/* E.g. no descriptor for the loop's watcher: the target socket
		 * stays ours, and the client must still get its answer. */
		rv_log_debug("stream %u: cannot relay the connected target", rv_stream_id(st));
		close(res->fd);
		(void)rv_stream_reject(st, RV_STATUS_GENERAL_FAILURE);
	}
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
	/* Counted here, released in rv_conn_on_stream_closed (exactly once). */
	c->srv->streams_active++;
	if (c->pk != NULL)
		c->pk->streams++;
	if (c->pk != NULL && (c->slot_held ? rv_conn_key_count(c, 1) : c->pk->streams) >
			     c->srv->opts->max_streams_per_key) {
		c->srv->streams_refused_key++;
		rv_log_debug("client %s: stream %u refused: %u streams for this key", c->name,
			     rv_stream_id(st), c->srv->opts->max_streams_per_key);
		rv_stream_reject(st, RV_STATUS_GENERAL_FAILURE);
		return;
	}
	if (!rv_conn_fd_room(c->srv)) {
		c->srv->streams_refused_fds++;
		rv_log_rl(RV_LOG_WARN, "descriptor budget reached (%u streams, limit %llu): refusing "
				    "new streams until some end", c->srv->streams_active - 1,
				    (unsigned long long)c->srv->fd_limit);
		rv_stream_reject(st, RV_STATUS_GENERAL_FAILURE);
		return;
	}
	r = rv_dial_start(&c->srv->dialer, dst, rv_conn_on_dialed, st, &dial);
	if (r != RV_OK) {
		rv_stream_reject(st, RV_STATUS_GENERAL_FAILURE);
		return;
	}
	rv_stream_set_user(st, dial);
}

static void rv_conn_on_stream_closed(struct rv_stream *st, void *arg)
{
	struct rv_conn *c = arg;

	c->srv->streams_active--;
	if (c->pk != NULL) {
		c->pk->streams--;
		(void)rv_conn_key_count(c, -1);
	}
	if (rv_stream_id(st) & RV_STREAM_ID_SERVER)
		return; /* remote forward: no dial (rfwd.c) */
	/* A dial still running for this stream must never report. */
	rv_dial_cancel(rv_stream_get_user(st));
	rv_stream_set_user(st, NULL);
}

static void rv_conn_on_input_flow(struct rv_session *s, int enable, void *arg)
{
	(void)s;
	(void)enable;
	rv_conn_update_rx(arg);
}

/* ---- remote forwards (rfwd.c) ------------------------------------- */

static void rv_conn_on_listen(struct rv_session *s, const struct rv_frame *f, void *arg)
{
	struct rv_conn *c = arg;
	struct rv_frame a;

	if (c->rfwd != NULL) {
		rv_rfwd_on_listen(c->rfwd, f);
		return;
	}
	if (f->type != RV_FRAME_LISTEN)
		return;
	memset(&a, 0, sizeof(a));
	a.type = RV_FRAME_LISTEN_RESPONSE;
	a.u.listen_response.req = f->u.listen.req;
	a.u.listen_response.status = RV_LISTEN_FAILED;
	(void)rv_session_send_listen(s, &a);
}

static void rv_conn_on_stream_response(struct rv_stream *st, enum rv_status status,
				       const struct rv_addr *bound, void *arg)
{
	struct rv_conn *c = arg;

	if (c->rfwd != NULL)
		rv_rfwd_on_stream_response(c->rfwd, st, status, bound);
}

static int rv_conn_rfwd_room(void *arg)
{
	struct rv_conn *c = arg;

	return (c->pk == NULL || (c->slot_held ? rv_conn_key_count(c, 0) : c->pk->streams) <
				 c->srv->opts->max_streams_per_key) &&
	       rv_conn_fd_room(c->srv);
}

static void rv_conn_rfwd_opened(void *arg)
{
	struct rv_conn *c = arg;

	/* Released in rv_conn_on_stream_closed, like a dialed stream. */
	c->srv->streams_active++;
	if (c->pk != NULL) {
		c->pk->streams++;
		(void)rv_conn_key_count(c, 1);
	}
}

static void rv_conn_on_datagram(struct rv_session *s, uint32_t assoc, const struct rv_addr *peer,
				const uint8_t *data, size_t len, void *arg)
{
	struct rv_conn *c = arg;

	(void)s;
	if (c->udp != NULL && c->state == RV_CONN_OPEN)
		rv_udp_on_datagram(c->udp, assoc, peer, data, len);
}

static void rv_conn_on_datagram_close(struct rv_session *s, uint32_t assoc, uint8_t reason,
				      void *arg)
{
	struct rv_conn *c = arg;

	(void)s;
	if (c->udp != NULL)
		rv_udp_on_close(c->udp, assoc, reason);
}

static const struct rv_session_callbacks rv_conn_session_cb = {
	.on_listen = rv_conn_on_listen,
	.on_stream_response = rv_conn_on_stream_response,
	.on_datagram = rv_conn_on_datagram,
	.on_datagram_close = rv_conn_on_datagram_close,
	.on_input_flow = rv_conn_on_input_flow,
	.on_want_write = rv_conn_on_want_write,
	.on_closed = rv_conn_on_closed,
	.on_stream_connect = rv_conn_on_stream_connect,
	.on_stream_closed = rv_conn_on_stream_closed,
};

/* ---- handshake ----------------------------------------------------- */

/* Authorization and replay check.  Workers ask the supervisor, which holds
 * the replay state and counts the key's sessions in every worker; the name
 * comes from our own copy of authorized_keys. */
static int rv_conn_admit(struct rv_conn *c, const char **name,
			 enum rv_worker_admit_what *what, uint32_t *count)
{
	struct rv_server *srv = c->srv;
	struct rv_worker *w = srv->worker;
	int r;

	*what = RV_ADMIT_AUTHKEYS;
	if (w == NULL)
		return rv_authkeys_accept(srv->authkeys, c->hs.peer_static, c->hs.tai64n, name);
	r = rv_authkeys_lookup(srv->authkeys, c->hs.peer_static, name);
	if (r != RV_OK)
		return r;
	r = rv_worker_admit(w, c->hs.peer_static, c->hs.tai64n, &c->key_slot, what, count);
	/* Messages that came in meanwhile: the main loop handles them after
	 * this pass. */
	if (r == RV_OK)
		c->slot_held = 1;
	return r;
}

static int rv_conn_handshake(struct rv_conn *c, const uint8_t *msg, size_t len)
{
	struct rv_server *srv = c->srv;
	struct rv_hs_server_params params;
	struct rv_session_config cfg;
	struct rv_session_callbacks cb = rv_conn_session_cb;
	struct rv_ratchet *ratchet = NULL;
	const char *name = NULL;
	char pub[RV_KEY_B64_SIZE];
	struct rv_perkey *pk;
	struct rv_permit_listen perm;
	enum rv_worker_admit_what what;
	uint32_t count = 0;
	int r;

	r = rv_handshake_server_read_init(&c->hs, &srv->key, msg, len);
	if (r != RV_OK) {
		rv_log_rl(RV_LOG_INFO, "%s: handshake failed: %s", c->peer, rv_err_str(r));
		goto out;
	}
	rv_key_to_base64(c->hs.peer_static, pub);
	r = rv_conn_admit(c, &name, &what, &count);
	if (r == RV_ERR_LIMIT && what == RV_ADMIT_PER_KEY) {
		rv_log_rl(RV_LOG_WARN, "client %s (%s) refused: %u sessions for this key already "
			  "(--max-sessions-per-key)", name != NULL && name[0] ? name : pub, c->peer,
			  count);
		goto out;
	}
	if (r == RV_ERR_LIMIT && what == RV_ADMIT_SLOTS) {
		rv_log_rl(RV_LOG_WARN, "%s: client key %s refused: every key slot is taken",
			  c->peer, pub);
		goto out;
	}
	if (r == RV_ERR_REPLAY) {
		rv_log_rl(RV_LOG_WARN, "%s: replayed handshake refused: client key %s sent a timestamp not "
			    "newer than the last one accepted (or the persisted floor)", c->peer,
			    pub);
		goto out;
	}
	if (r != RV_OK) {
		rv_log_rl(RV_LOG_WARN, "%s: client key %s refused: %s", c->peer, pub,
			    r == RV_ERR_DENIED ? "not authorized" :
			    r == RV_ERR_LIMIT ? "handshakes too fast for the replay state" :
			    rv_err_str(r));
		goto out;
	}
	memcpy(c->pub, c->hs.peer_static, RV_KEY_LEN);
	snprintf(c->name, sizeof(c->name), "%s", name != NULL && name[0] ? name : pub);
	pk = rv_perkey_get(&srv->perkeys, c->hs.peer_static);
	if (pk == NULL) {
		r = RV_ERR_NOMEM;
		goto out;
	}
	/* Workers: the supervisor counted this key's sessions (rv_conn_admit). */
	if (srv->worker == NULL && pk->refs >= srv->opts->max_sessions_per_key) {
		rv_log_rl(RV_LOG_WARN, "client %s (%s) refused: %u sessions for this key already "
			    "(--max-sessions-per-key)", c->name, c->peer, pk->refs);
		rv_perkey_put(&srv->perkeys, pk);
		r = RV_ERR_LIMIT;
		goto out;
	}
	/* Held until the connection closes (rv_conn_on_closed_wsi). */
	pk->refs++;
	c->pk = pk;
	c->pk_next = pk->conns;
	if (pk->conns != NULL)
		pk->conns->pk_prev = c;
	pk->conns = c;
	memset(&params, 0, sizeof(params));
	params.keepalive_s = RV_KEEPALIVE_DEFAULT_S;
	params.max_streams = srv->opts->max_streams;
	params.stream_window = srv->opts->stream_window;
	params.max_message = RV_MSG_MAX;
	/* Optional features offered (PROTOCOL.md §4.7); respond keeps those
	 * the client also offered.  Remote forwards only to keys allowed to
	 * listen somewhere. */
	params.features = srv->opts->no_udp ? 0 : RV_CAP_DATAGRAM;
	if (rv_authkeys_permit_listen(srv->authkeys, c->hs.peer_static, &perm) == RV_OK &&
	    perm.n > 0)
		params.features |= RV_CAP_REMOTE_FWD;
	r = rv_handshake_server_respond(&c->hs, &params, RV_RATCHET_DEFAULT_INTERVAL_MS,
					&c->hs_reply, &ratchet);
	if (r != RV_OK) {
		rv_log_rl(RV_LOG_INFO, "%s: handshake failed: %s", c->peer, rv_err_str(r));
		goto out;
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.role = RV_SESSION_SERVER;
	cfg.local_window = srv->opts->stream_window;
	cfg.max_streams = srv->opts->max_streams;
	/* Window growth agreed with the client (params.window_growth): we
	 * accept its grown credit; ours is paid from the key's pool, whose
	 * budget (0: we never grow) stays within the key's buffer budget. */
	pk->window_pool.budget = srv->opts->window_budget < srv->opts->max_buffer_per_key
					 ? srv->opts->window_budget : srv->opts->max_buffer_per_key;
	cfg.window_growth = params.window_growth;
	cfg.window_large = params.window_large;
	cfg.window_pool = &pk->window_pool;
	cfg.idle_timeout_ms = srv->opts->idle_timeout_s * 1000u;
	cfg.headroom = LWS_PRE;
	cfg.name = c->name;
	cfg.remote_fwd = (params.features & RV_CAP_REMOTE_FWD) != 0;
	cfg.datagram = (params.features & RV_CAP_DATAGRAM) != 0;
	cb.arg = c;
	r = rv_session_new(srv->loop, &cfg, ratchet, &cb, &c->sess);
	ratchet = NULL; /* owned by the session, also on failure */
	if (r != RV_OK)
		goto out;
	if (cfg.remote_fwd) {
		struct rv_rfwd_hooks h = { .stream_room = rv_conn_rfwd_room,
					   .stream_opened = rv_conn_rfwd_opened, .arg = c };

		/* Without it every LISTEN is answered FAILED (rv_conn_on_listen). */
		if (rv_rfwd_new(srv->loop, c->sess, &perm, c->name, &h, &c->rfwd) != RV_OK)
			c->rfwd = NULL;
	}
	if (cfg.datagram) {
		r = rv_udp_new(srv, c, &c->udp);
		if (r != RV_OK)
			goto out;
	}
	c->state = RV_CONN_OPEN;
	rv_preauth_set_state(rv_preauth_of(srv, c->wsi), RV_PREAUTH_HANDSHAKE,
			     RV_HANDSHAKE_TIMEOUT_S);
	/* The handshake timeout stays armed until the first transport message
	 * authenticates: a peer that stops after message 1 is not kept. */
	srv->sessions_total++;
	c->t_open = lws_now_usecs();
	rv_log_info("client %s (%s) connected", c->name, c->peer);
	lws_callback_on_writable(c->wsi);
out:
	rv_handshake_wipe(&c->hs);
	if (r != RV_OK)
		srv->handshakes_failed++;
	return r;
}

/* ---- session end: revocation, shutdown, summary --------------------- */

static void rv_conn_log_summary(struct rv_conn *c)
{
	struct rv_session_stats st;
	lws_usec_t dt = c->t_open ? lws_now_usecs() - c->t_open : 0;

	rv_session_get_stats(c->sess, &st);
	c->srv->data_in_ended += st.data_in;
	c->srv->data_out_ended += st.data_out;
	rv_log_info("client %s (%s) disconnected after %llu.%01llu s: %llu streams, "
		    "%llu bytes up, %llu bytes down; end: %s", c->name, c->peer,
		    (unsigned long long)(dt / LWS_US_PER_SEC),
		    (unsigned long long)(dt % LWS_US_PER_SEC / 100000),
		    (unsigned long long)st.streams_opened, (unsigned long long)st.data_in,
		    (unsigned long long)st.data_out,
		    c->end_reason != NULL ? c->end_reason : "connection closed");
}

/* Reset what is left (RESET(SHUTDOWN) queued per stream), flush, close. */
static void rv_conn_end_now(struct rv_conn *c, const char *why)
{
	if (c->state != RV_CONN_CLOSING)
		c->end_reason = why;
	if (c->sess != NULL)
		rv_session_reset_streams(c->sess, RV_RESET_SHUTDOWN);
	rv_conn_close_soon(c);
}

static void rv_conn_on_grace_over(lws_sorted_usec_list_t *sul)
{
	struct rv_conn *c = lws_container_of(sul, struct rv_conn, sul_end);

	if (c->srv == NULL || c->state == RV_CONN_CLOSING)
		return;
	rv_log_info("client %s (%s): revocation grace over, resetting %u stream(s)", c->name,
		    c->peer, c->sess != NULL ? rv_session_stream_count(c->sess) : 0);
	rv_conn_end_now(c, "key revoked");
}

static void rv_conn_revoke(struct rv_conn *c)
{
	char pub[RV_KEY_B64_SIZE];

	rv_key_to_base64(c->pub, pub);
	rv_log_warn("client %s (%s): key %.8s... no longer authorized: GOAWAY(REVOKED), "
		    "closing within %d s", c->name, c->peer, pub, RV_SERVER_REVOKE_GRACE_S);
	c->revoked = 1;
	c->end_reason = "key revoked";
	/* GOAWAY: PROXY_CONNECTs from now on are refused at once. */
	(void)rv_session_goaway(c->sess, RV_GOAWAY_REVOKED);
	rv_rfwd_close_listeners(c->rfwd, RV_LISTEN_CLOSE_SHUTDOWN);
	if (c->state != RV_CONN_CLOSING)
		lws_sul_schedule(lws_get_context(c->wsi), 0, &c->sul_end, rv_conn_on_grace_over,
				 (lws_usec_t)RV_SERVER_REVOKE_GRACE_S * LWS_US_PER_SEC);
}

unsigned rv_server_conns_revoke(struct rv_server *srv)
{
	struct rv_conn *c, *next;
	unsigned n = 0;

	for (c = srv->conns; c != NULL; c = next) {
		next = c->next;
		if (c->state != RV_CONN_OPEN || c->sess == NULL || c->revoked)
			continue;
		if (rv_authkeys_lookup(srv->authkeys, c->pub, NULL) == RV_OK)
			continue;
		rv_conn_revoke(c);
		n++;
	}
	return n;
}

void rv_server_conns_shutdown(struct rv_server *srv)
{
	struct rv_conn *c, *next;

	for (c = srv->conns; c != NULL; c = next) {
		next = c->next;
		rv_conn_end_now(c, "server shutdown");
	}
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
	c->rx_enabled = 1;
	rv_buf_init(&c->rx, RV_MSG_MAX);
	rv_buf_init(&c->hs_reply, RV_MSG_MAX);
	lws_get_peer_simple(wsi, c->peer, sizeof(c->peer));
	/* Our listener accepts and lws adopts: lws sets TCP_NODELAY only on
	 * sockets it accepts itself.  With Nagle a response's small last TLS
	 * record waited for the client's delayed ACK (~40 ms). */
	if (rv_sockopt_set_nodelay(lws_get_socket_fd(wsi)) != RV_OK)
		rv_log_debug("%s: cannot set TCP_NODELAY on the WebSocket", c->peer);
	/* Bulk data queued in the kernel delays datagrams and small replies. */
	if (rv_sockopt_lowat_init(lws_get_socket_fd(wsi), &c->lowat, lws_now_usecs()) != RV_OK)
		rv_log_debug("%s: cannot set TCP_NOTSENT_LOWAT on the WebSocket", c->peer);
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
	if (srv->worker != NULL) {
		/* Every worker's sessions count against --max-sessions. */
		uint32_t all = rv_worker_sessions_add(srv->worker, 1);

		if (all > srv->opts->max_sessions) {
			(void)rv_worker_sessions_add(srv->worker, -1);
			rv_log_rl(RV_LOG_WARN, "client %s (%s) refused: %u clients connected "
				  "(--max-sessions)", c->name, c->peer, all - 1);
			return -1;
		}
	} else if (srv->n_sessions >= srv->opts->max_sessions) {
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
	lws_sul_cancel(&c->sul_end);
	if (c->sess != NULL)
		rv_conn_log_summary(c);
	c->state = RV_CONN_CLOSING; /* no close_soon from session callbacks */
	lws_sul_cancel(&c->sul_budget);
	rv_rfwd_free(c->rfwd);
	c->rfwd = NULL;
	rv_udp_free(c->udp); /* before the session and the key entry */
	c->udp = NULL;
	rv_session_free(c->sess); /* closes streams: their key counts drop */
	c->sess = NULL;
	rv_conn_pk_unlink(c);
	if (c->slot_held) {
		rv_worker_release(srv->worker, c->key_slot);
		c->slot_held = 0;
	}
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
	if (c->counted) {
		srv->n_sessions--;
		if (srv->worker != NULL)
			(void)rv_worker_sessions_add(srv->worker, -1);
	}
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
	if (r == RV_OK)
		rv_conn_check_budget(c);
	if (r == RV_OK && !c->authenticated) {
		struct rv_session_stats st;

		rv_session_get_stats(c->sess, &st);
		if (st.msgs_in > 0) /* counts authenticated messages only */
			return rv_conn_on_authenticated(c, wsi);
	}
	return 0; /* a dead session has called on_closed */
}

/* Everything queued is written: end the WebSocket with a close frame (the
 * lws way: set the reason, return -1 from WRITEABLE). */
static int rv_conn_close_ws(struct rv_conn *c, struct lws *wsi)
{
	static const char revoked[] = "key revoked";

	if (c->revoked)
		lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION,
				 (unsigned char *)revoked, sizeof(revoked) - 1);
	else
		lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
	return -1;
}

static int rv_conn_on_writeable(struct rv_conn *c, struct lws *wsi)
{
	uint8_t *msg;
	size_t len;
	int r, more;

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
		return c->state == RV_CONN_CLOSING ? rv_conn_close_ws(c, wsi) : 0;
	if (lws_write(wsi, msg, len, LWS_WRITE_BINARY) < (int)len)
		return -1;
	rv_session_message_sent(c->sess);
	/* Only while more is queued: a WRITEABLE with nothing to send costs a
	 * service pass (the next frame queued asks again). */
	more = c->sess != NULL && rv_session_wants_write(c->sess);
	if (c->sess == NULL || more || c->state == RV_CONN_CLOSING)
		lws_callback_on_writable(wsi);
	/* A sender with a backlog: the mark follows the path (rv_sockopt.h). */
	if (more)
		(void)rv_sockopt_lowat_retune(lws_get_socket_fd(wsi), &c->lowat, lws_now_usecs());
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
		if (c->state == RV_CONN_OPEN && c->sess != NULL) {
			c->end_reason = "server shutdown, streams drained";
			rv_session_goaway(c->sess, RV_GOAWAY_SHUTDOWN);
			rv_rfwd_close_listeners(c->rfwd, RV_LISTEN_CLOSE_SHUTDOWN);
		}
		else if (c->state == RV_CONN_HANDSHAKE)
			rv_conn_close_soon(c);
	}
}

void rv_server_conns_check_drained(struct rv_server *srv)
{
	if (srv->state == RV_SERVER_DRAINING && srv->conns == NULL)
		srv->state = RV_SERVER_STOPPING;
}
