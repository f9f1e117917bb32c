/* rv_session_in.c - the session's intake: decrypt a received message
 * (strictly the peer's next one: anything else ends the session), parse
 * every frame before acting on any, validate, dispatch.  See rv_session.h.
 */
#include "rv_session.h"

#include <string.h>

#include "rv_err.h"
#include "rv_log.h"
#include "rv_session_int.h"

/* ---- intake ------------------------------------------------------------ */

static int rv_frame_has_stream(enum rv_frame_type t)
{
	return (t >= RV_FRAME_PROXY_CONNECT && t <= RV_FRAME_WINDOW_UPDATE) ||
	       t == RV_FRAME_REMOTE_CONNECT;
}

static int rv_frame_is_rfwd(enum rv_frame_type t)
{
	return t >= RV_FRAME_LISTEN && t <= RV_FRAME_REMOTE_CONNECT;
}

/* The id was opened by us (our space, PROTOCOL.md §7.1). */
static int rv_session_id_ours(const struct rv_session *s, uint32_t id)
{
	return (s->cfg.role == RV_SESSION_SERVER) == ((id & RV_STREAM_ID_SERVER) != 0);
}

/* Checks that need no state: a violation is a protocol error. */
static int rv_session_validate(const struct rv_session *s, const struct rv_frame *f)
{
	if (rv_frame_has_stream(f->type) && f->stream_id == 0)
		return RV_ERR_MALFORMED;
	if (f->type == RV_FRAME_PROXY_CONNECT &&
	    (s->cfg.role != RV_SESSION_SERVER || (f->stream_id & RV_STREAM_ID_SERVER) != 0))
		return RV_ERR_MALFORMED;
	/* Remote forwards only when agreed, each frame in its direction. */
	if (rv_frame_is_rfwd(f->type) && !s->cfg.remote_fwd)
		return RV_ERR_MALFORMED;
	if (f->type == RV_FRAME_LISTEN && s->cfg.role != RV_SESSION_SERVER)
		return RV_ERR_MALFORMED;
	if ((f->type == RV_FRAME_LISTEN_RESPONSE || f->type == RV_FRAME_REMOTE_CONNECT) &&
	    s->cfg.role != RV_SESSION_CLIENT)
		return RV_ERR_MALFORMED;
	/* A response answers a stream we opened: in our id space. */
	if (f->type == RV_FRAME_PROXY_RESPONSE && !rv_session_id_ours(s, f->stream_id))
		return RV_ERR_MALFORMED;
	if (f->type == RV_FRAME_WINDOW_UPDATE && f->u.window_update.credit == 0)
		return RV_ERR_MALFORMED;
	if (f->type == RV_FRAME_PROXY_DATA && f->u.data.len == 0)
		return RV_ERR_MALFORMED;
	/* Datagram frames only once agreed (§4.7); a reply's source is an IP. */
	if ((f->type == RV_FRAME_DATAGRAM || f->type == RV_FRAME_DATAGRAM_CLOSE) &&
	    !s->cfg.datagram)
		return RV_ERR_MALFORMED;
	if (f->type == RV_FRAME_DATAGRAM && s->cfg.role == RV_SESSION_CLIENT &&
	    f->u.datagram.addr.atyp == RV_ATYP_DOMAIN)
		return RV_ERR_MALFORMED;
	return RV_OK;
}

/* PROXY_CONNECT (server) or REMOTE_CONNECT (client): the peer opens a
 * stream in its id space; we are the side that connects. */
static int rv_session_on_connect(struct rv_session *s, const struct rv_frame *f)
{
	struct rv_frame r;
	struct rv_stream *st;
	int remote = f->type == RV_FRAME_REMOTE_CONNECT;
	uint32_t win = remote ? f->u.remote_connect.window : f->u.connect.window;
	int full = remote ? s->nremote >= s->cfg.max_remote_streams
			  : s->nstreams - s->nremote >= s->cfg.max_streams;

	if (f->stream_id <= s->last_peer_id) {
		rv_log_warn("%s: %s reuses stream id %u", s->name,
			    remote ? "REMOTE_CONNECT" : "PROXY_CONNECT", f->stream_id);
		return RV_ERR_MALFORMED;
	}
	s->last_peer_id = f->stream_id;
	memset(&r, 0, sizeof(r));
	r.type = RV_FRAME_PROXY_RESET;
	r.stream_id = f->stream_id;
	if (remote && s->cb.on_remote_connect == NULL)
		full = 1;
	if (!remote && s->cb.on_stream_connect == NULL)
		full = 1;
	if (s->state != RV_SESSION_OPEN || full) {
		rv_log_debug("%s: stream %u refused (%s)", s->name, f->stream_id,
			     s->state != RV_SESSION_OPEN ? "going away" : "stream limit");
		s->stats.streams_refused++;
		s->stats.streams_reset_sent++;
		r.u.reset.reason = RV_RESET_REFUSED_STREAM;
		return rv_session_queue_frame(s, &r, 0);
	}
	if (win == 0 || win > RV_STREAM_WINDOW_MAX) {
		rv_log_warn("%s: stream %u: window %u out of range", s->name, f->stream_id, win);
		s->stats.streams_reset_sent++;
		r.u.reset.reason = RV_RESET_PROTOCOL_ERROR;
		return rv_session_queue_frame(s, &r, 0);
	}
	/* A client's receive window on a server stream is the server's
	 * announced stream_window (our peer_window), known to both ends. */
	st = rv_stream_alloc(s, f->stream_id, remote ? s->cfg.peer_window : s->cfg.local_window,
			     win);
	if (st == NULL)
		return RV_ERR_NOMEM;
	rv_session_stream_link(s, st);
	rv_log_debug("%s: stream %u: %s", s->name, st->id, remote ? "REMOTE_CONNECT" : "CONNECT");
	if (remote)
		s->cb.on_remote_connect(s, st, f->u.remote_connect.req, &f->u.remote_connect.addr,
					s->cb.arg);
	else
		s->cb.on_stream_connect(s, st, &f->u.connect.addr, s->cb.arg);
	return RV_OK;
}

/* LISTEN / LISTEN_RESPONSE / LISTEN_CLOSE: to the owner. */
static int rv_session_on_listen(struct rv_session *s, const struct rv_frame *f)
{
	struct rv_frame r;

	if (f->type == RV_FRAME_LISTEN) {
		if (f->u.listen.req <= s->last_listen_req) {
			rv_log_warn("%s: LISTEN reuses request id %u", s->name, f->u.listen.req);
			return RV_ERR_MALFORMED;
		}
		s->last_listen_req = f->u.listen.req;
		if (s->cb.on_listen == NULL || s->state != RV_SESSION_OPEN) {
			memset(&r, 0, sizeof(r));
			r.type = RV_FRAME_LISTEN_RESPONSE;
			r.u.listen_response.req = f->u.listen.req;
			r.u.listen_response.status = RV_LISTEN_FAILED;
			return rv_session_queue_frame(s, &r, 1);
		}
	}
	if (s->cb.on_listen != NULL)
		s->cb.on_listen(s, f, s->cb.arg);
	return RV_OK;
}

static int rv_session_on_goaway(struct rv_session *s, const struct rv_frame *f)
{
	struct rv_stream *st, *next;

	rv_log_info("%s: peer sent GOAWAY (last stream %u, reason %d)", s->name,
		    f->u.goaway.last_stream, (int)f->u.goaway.reason);
	s->goaway_received = 1;
	s->goaway_last = f->u.goaway.last_stream;
	if (s->state == RV_SESSION_OPEN)
		s->state = RV_SESSION_GOAWAY;
	/* Our streams the peer never saw: fail them, retryable elsewhere
	 * (last_stream names our space, §7.1). */
	for (st = s->streams; st != NULL; st = next) {
		next = st->next;
		if (st->local_open && st->id > s->goaway_last && st->state == RV_STREAM_CONNECTING)
			rv_stream_fail_connecting(st, 1);
	}
	if (s->cb.on_goaway != NULL)
		s->cb.on_goaway(s, f->u.goaway.last_stream, f->u.goaway.reason, s->cb.arg);
	return RV_OK;
}

/* Frame for an id not in the table: closed earlier (ignore) or never
 * opened (protocol error). */
static int rv_session_unknown_stream(struct rv_session *s, const struct rv_frame *f)
{
	uint32_t highest = rv_session_id_ours(s, f->stream_id) ? s->next_id - 1 : s->last_peer_id;

	if (f->stream_id <= highest)
		return RV_OK;
	rv_log_warn("%s: frame type %d for stream %u never opened", s->name, (int)f->type,
		    f->stream_id);
	return RV_ERR_MALFORMED;
}

/* Server: an id above every one seen opens an association (the owner
 * creates it); ids are never reused, so the owner drops datagrams for an
 * id it has closed.  A CLOSE retires its id too.  The client passes all:
 * it knows which ids it opened. */
static int rv_session_on_datagram(struct rv_session *s, const struct rv_frame *f)
{
	uint32_t assoc = f->type == RV_FRAME_DATAGRAM ? f->u.datagram.assoc
						       : f->u.datagram_close.assoc;

	if (s->cfg.role == RV_SESSION_SERVER && assoc > s->last_assoc)
		s->last_assoc = assoc;
	if (f->type == RV_FRAME_DATAGRAM_CLOSE) {
		s->stats.dgram_closes_received++;
		if (s->cb.on_datagram_close != NULL)
			s->cb.on_datagram_close(s, assoc, (uint8_t)f->u.datagram_close.reason,
						s->cb.arg);
		return RV_OK;
	}
	s->stats.dgram_received++;
	s->stats.dgram_received_bytes += f->u.datagram.len;
	if (s->cb.on_datagram != NULL)
		s->cb.on_datagram(s, assoc, &f->u.datagram.addr, f->u.datagram.data,
				  f->u.datagram.len, s->cb.arg);
	return RV_OK;
}

/* A PONG's round trip: the last one for status, and the session's least
 * one for window growth: the path without the queue a bulk stream builds,
 * which would justify ever larger windows and so deeper queues.  The
 * least one never expires: a PING of a connection kept full reads the
 * queue, and one that expired would let the queue back in.  (A path that
 * got longer only grows windows more slowly; a new session measures it.)
 * The client's first PING goes before any stream; the server's after the
 * client's first message. */
static void rv_session_rtt_sample(struct rv_session *s, uint64_t rtt_us)
{
	if (rtt_us > UINT32_MAX)
		rtt_us = UINT32_MAX;
	s->stats.rtt_ms = (uint32_t)(rtt_us / 1000u);
	if (!s->rtt_valid || rtt_us < s->stats.rtt_min_us)
		s->stats.rtt_min_us = (uint32_t)rtt_us;
	s->rtt_valid = 1;
}

static int rv_session_dispatch(struct rv_session *s, const struct rv_frame *f)
{
	struct rv_stream *st;
	struct rv_frame r;

	switch (f->type) {
	case RV_FRAME_PING:
		/* Cap PONGs: a peer that pings but does not read cannot grow
		 * our queue. */
		if (s->prio.bytes >= RV_PLAINTEXT_MAX)
			return RV_OK;
		memset(&r, 0, sizeof(r));
		r.type = RV_FRAME_PONG;
		r.u.ping.opaque = f->u.ping.opaque;
		return rv_session_queue_frame(s, &r, 1);
	case RV_FRAME_PONG:
		if (s->ping_outstanding && f->u.ping.opaque == s->ping_opaque) {
			s->ping_outstanding = 0;
			s->stats.pongs_received++;
			rv_session_rtt_sample(s, rv_loop_now_us(s->loop) - s->ping_opaque);
		}
		return RV_OK;
	case RV_FRAME_GOAWAY:
		return rv_session_on_goaway(s, f);
	case RV_FRAME_PROXY_CONNECT:
	case RV_FRAME_REMOTE_CONNECT:
		return rv_session_on_connect(s, f);
	case RV_FRAME_LISTEN:
	case RV_FRAME_LISTEN_RESPONSE:
	case RV_FRAME_LISTEN_CLOSE:
		return rv_session_on_listen(s, f);
	case RV_FRAME_DATAGRAM:
	case RV_FRAME_DATAGRAM_CLOSE:
		return rv_session_on_datagram(s, f);
	default:
		break;
	}
	st = rv_session_stream_find(s, f->stream_id);
	if (st == NULL)
		return rv_session_unknown_stream(s, f);
	switch (f->type) {
	case RV_FRAME_PROXY_RESPONSE:
		return rv_stream_on_response(st, f->u.response.status, &f->u.response.bound);
	case RV_FRAME_PROXY_DATA:
		return rv_stream_on_data(st, f->u.data.data, f->u.data.len);
	case RV_FRAME_PROXY_FIN:
		return rv_stream_on_fin(st);
	case RV_FRAME_PROXY_RESET:
		return rv_stream_on_reset(st, f->u.reset.reason);
	case RV_FRAME_WINDOW_UPDATE:
		return rv_stream_on_window_update(st, f->u.window_update.credit);
	default:
		return RV_ERR_MALFORMED;
	}
}

/* f is a DATA frame: take the DATA frames right behind it for the same
 * stream along (up to RV_SESSION_DATA_BATCH), so one writev() delivers
 * them.  The same outcome as one at a time, fewer syscalls. */
static int rv_session_dispatch_data(struct rv_session *s, struct rv_buf *in,
				    const struct rv_frame *f)
{
	struct iovec iov[RV_SESSION_DATA_BATCH];
	struct rv_stream *st;
	struct rv_buf peek;
	struct rv_frame g;
	int n = 1;

	iov[0].iov_base = (void *)f->u.data.data;
	iov[0].iov_len = f->u.data.len;
	while (n < RV_SESSION_DATA_BATCH) {
		peek = *in; /* a view: copying it reads ahead without consuming */
		if (rv_frame_decode(&peek, &g) < 0 || g.type != RV_FRAME_PROXY_DATA ||
		    g.stream_id != f->stream_id)
			break;
		iov[n].iov_base = (void *)g.u.data.data;
		iov[n++].iov_len = g.u.data.len;
		*in = peek;
	}
	st = rv_session_stream_find(s, f->stream_id);
	if (st == NULL)
		return rv_session_unknown_stream(s, f);
	return rv_stream_on_data_v(st, iov, n);
}

/* A message that does not open is fatal, like a bad record MAC in TLS:
 * the transport is reliable and ordered, so a gap, a reorder, a replay or
 * a failed tag can only be tampering (or a broken peer), and carrying on
 * would hand the streams a byte sequence with a hole in it.  The session
 * ends, every stream is reset (the local socket sees an RST, never a clean
 * end of data) and the reason is logged once. */
static int rv_session_refuse(struct rv_session *s, int rc, size_t len)
{
	s->stats.msgs_dropped++;
	rv_log_warn("%s: transport message %llu (%zu bytes) refused: %s; ending the session "
		    "and resetting %u streams", s->name,
		    (unsigned long long)s->stats.msgs_in + 1, len, rv_err_str(rc), s->nstreams);
	return rv_session_fail(s, rc, RV_GOAWAY_PROTOCOL_ERROR);
}

int rv_session_on_message(struct rv_session *s, const uint8_t *msg, size_t len)
{
	struct rv_buf in;
	struct rv_frame f;
	int rc = RV_OK, nframes = 0;

	if (s == NULL || (msg == NULL && len > 0))
		return RV_ERR_INVALID_ARG;
	if (s->state == RV_SESSION_CLOSED || s->free_pending)
		return RV_ERR_CLOSED;
	rv_session_enter(s);
	rv_buf_reset(&s->rxplain);
	if (len > RV_MSG_MAX) {
		rc = rv_session_refuse(s, RV_ERR_MALFORMED, len);
		goto out;
	}
	rc = rv_ratchet_decrypt(s->ratchet, msg, len, &s->rxplain);
	if (rc < 0) {
		rc = rv_session_refuse(s, rc, len);
		goto out;
	}
	s->stats.msgs_in++;
	s->stats.bytes_in += len;
	s->last_rx = rv_loop_now_ms(s->loop);
	/* Window growth needs the RTT: a side that sends no keepalive PINGs
	 * (the server) measures it once its peer has spoken, then every
	 * keepalive interval. */
	if (s->cfg.window_growth && s->cfg.keepalive_interval_ms == 0 && !s->ping_outstanding &&
	    (s->stats.pings_sent == 0 ||
	     s->last_rx - s->last_ping >= RV_KEEPALIVE_DEFAULT_S * 1000u))
		rv_session_send_ping(s);
	/* A server's outbox may have waited for this first message. */
	if (!s->wire_ready &&
	    (s->prio.head != NULL || s->data.head != NULL || s->dgram.head != NULL ||
	     s->light.head != NULL)) {
		s->want_write_signalled = 0;
		rv_session_signal_write(s);
	}
	/* Pass 1: the whole message must parse before anything happens. */
	rv_buf_init_view(&in, rv_buf_ptr(&s->rxplain), rv_buf_len(&s->rxplain));
	while (rv_buf_len(&in) > 0) {
		rc = rv_frame_decode(&in, &f);
		if (rc == RV_OK)
			rc = rv_session_validate(s, &f);
		if (rc < 0) {
			rv_log_warn("%s: malformed frame %d in message: %s", s->name, nframes,
				    rv_err_str(rc));
			rc = rv_session_fail(s, RV_ERR_MALFORMED, RV_GOAWAY_PROTOCOL_ERROR);
			goto out;
		}
		nframes++;
	}
	if (nframes == 0) {
		rv_log_warn("%s: message without frames", s->name);
		rc = rv_session_fail(s, RV_ERR_MALFORMED, RV_GOAWAY_PROTOCOL_ERROR);
		goto out;
	}
	/* Pass 2: dispatch. */
	rv_buf_init_view(&in, rv_buf_ptr(&s->rxplain), rv_buf_len(&s->rxplain));
	while (rv_buf_len(&in) > 0 && s->state != RV_SESSION_CLOSED && !s->free_pending) {
		if (rv_frame_decode(&in, &f) < 0)
			break; /* cannot happen: pass 1 decoded it */
		if (f.type == RV_FRAME_PROXY_DATA)
			rc = rv_session_dispatch_data(s, &in, &f);
		else
			rc = rv_session_dispatch(s, &f);
		if (rc < 0) {
			rc = rv_session_fail(s, rc == RV_ERR_NOMEM ? RV_ERR_NOMEM : RV_ERR_MALFORMED,
					     RV_GOAWAY_PROTOCOL_ERROR);
			goto out;
		}
	}
	/* Handled, its data written on: the peer and the app work, we would
	 * wait.  The next message's keys cost nothing on its arrival. */
	if (s->state != RV_SESSION_CLOSED && !s->free_pending)
		rv_ratchet_prepare(s->ratchet, rv_loop_now_ms(s->loop));
	rc = RV_OK;
out:
	rv_session_leave(s);
	return rc;
}
