/* rv_session.c - session core: outbox and sealing, message intake and frame
 * dispatch, keepalive, GOAWAY, limits.  Per-stream relay is in rv_stream.c.
 * See rv_session.h for the contract.
 */
#include "rv_session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rv_err.h"
#include "rv_log.h"
#include "rv_session_int.h"

/* ---- entry guard ---------------------------------------------------- */

static void rv_session_teardown(struct rv_session *s);

void rv_session_enter(struct rv_session *s)
{
	s->depth++;
}

static void rv_session_notify_closed(struct rv_session *s, int err)
{
	if (s->closed_notified)
		return;
	s->closed_notified = 1;
	if (s->cb.on_closed != NULL)
		s->cb.on_closed(s, err, s->cb.arg);
}

static void rv_session_reap(struct rv_session *s)
{
	while (s->dead != NULL) {
		struct rv_stream *st = s->dead;

		s->dead = st->next;
		rv_stream_destroy(st);
	}
}

/* Leaving the outermost entry point: finish deferred work (drained GOAWAY,
 * deferred free, freeing closed streams) while nobody holds pointers. */
void rv_session_leave(struct rv_session *s)
{
	if (s->depth == 1) {
		if (!s->free_pending && s->state == RV_SESSION_GOAWAY && s->nstreams == 0) {
			rv_log_info("%s: all streams drained after GOAWAY, closing", s->name);
			s->state = RV_SESSION_CLOSED;
			rv_session_notify_closed(s, RV_ERR_CLOSED);
		}
		if (s->free_pending)
			rv_session_teardown(s);
		rv_session_reap(s);
	}
	s->depth--;
	if (s->depth == 0 && s->free_pending) {
		rv_buf_cleanup(&s->wire);
		rv_buf_cleanup(&s->rxplain);
		free(s);
	}
}

/* ---- stream table ---------------------------------------------------- */

static unsigned rv_session_bucket(uint32_t id)
{
	return (id * 2654435761u) >> 24; /* Knuth multiplicative, 8 bits */
}

void rv_session_stream_link(struct rv_session *s, struct rv_stream *st)
{
	unsigned b = rv_session_bucket(st->id);

	st->hnext = s->buckets[b];
	s->buckets[b] = st;
	st->prev = NULL;
	st->next = s->streams;
	if (s->streams != NULL)
		s->streams->prev = st;
	s->streams = st;
	s->nstreams++;
	s->stats.streams_opened++;
}

void rv_session_stream_unlink(struct rv_session *s, struct rv_stream *st)
{
	struct rv_stream **pp = &s->buckets[rv_session_bucket(st->id)];

	for (; *pp != NULL; pp = &(*pp)->hnext) {
		if (*pp == st) {
			*pp = st->hnext;
			break;
		}
	}
	if (st->prev != NULL)
		st->prev->next = st->next;
	else
		s->streams = st->next;
	if (st->next != NULL)
		st->next->prev = st->prev;
	st->prev = NULL;
	st->next = s->dead;
	s->dead = st;
	s->nstreams--;
	s->stats.streams_closed++;
}

struct rv_stream *rv_session_stream_find(struct rv_session *s, uint32_t id)
{
	struct rv_stream *st = s->buckets[rv_session_bucket(id)];

	while (st != NULL && st->id != id)
		st = st->hnext;
	return st;
}

/* ---- outbox ----------------------------------------------------------- */

size_t rv_session_send_queue_bytes(const struct rv_session *s)
{
	if (s == NULL)
		return 0;
	return s->prio.bytes + s->data.bytes + (s->wire_ready ? rv_buf_len(&s->wire) : 0);
}

static void rv_session_signal_write(struct rv_session *s)
{
	/* Signal on the empty -> non-empty edge; the owner keeps asking for
	 * WRITEABLE while next_message returns 1. */
	if (s->want_write_signalled)
		return;
	s->want_write_signalled = 1;
	if (s->cb.on_want_write != NULL)
		s->cb.on_want_write(s, s->cb.arg);
}

static struct rv_chunk *rv_session_chunk_get(struct rv_session *s)
{
	struct rv_chunk *c = s->spare;

	if (c != NULL) {
		s->spare = NULL;
		rv_buf_reset(&c->b);
		c->next = NULL;
		return c;
	}
	c = calloc(1, sizeof(*c));
	if (c != NULL)
		rv_buf_init(&c->b, RV_PLAINTEXT_MAX);
	return c;
}

static void rv_session_chunk_put(struct rv_session *s, struct rv_chunk *c)
{
	if (s->spare == NULL) {
		s->spare = c;
		return;
	}
	rv_buf_cleanup(&c->b);
	free(c);
}

/* Tail chunk of q with room for len more bytes (a new one if needed). */
static struct rv_chunk *rv_session_tail_for(struct rv_session *s, struct rv_chunkq *q, size_t len)
{
	struct rv_chunk *c = q->tail;

	if (c != NULL && rv_buf_room(&c->b) >= len)
		return c;
	c = rv_session_chunk_get(s);
	if (c == NULL)
		return NULL;
	if (q->tail != NULL)
		q->tail->next = c;
	else
		q->head = c;
	q->tail = c;
	return c;
}

int rv_session_queue_frame(struct rv_session *s, const struct rv_frame *f, int prio)
{
	struct rv_chunkq *q = prio ? &s->prio : &s->data;
	size_t len = rv_frame_encoded_len(f);
	struct rv_chunk *c;
	int rc;

	if (len == 0)
		return RV_ERR_INTERNAL;
	c = rv_session_tail_for(s, q, len);
	if (c == NULL)
		return RV_ERR_NOMEM;
	rc = rv_frame_encode(&c->b, f);
	if (rc < 0) {
		rv_log_error("%s: frame type %d not encodable: %s", s->name, (int)f->type,
			     rv_err_str(rc));
		return rc;
	}
	q->bytes += len;
	rv_session_signal_write(s);
	rv_session_check_water(s);
	return RV_OK;
}

/* Largest DATA payload (<= max) worth putting in the current data chunk:
 * a smaller read that fills the chunk beats starting a new message with a
 * mostly empty one; below 1 KiB of room, a new chunk is better. */
size_t rv_session_data_fit(const struct rv_session *s, size_t max)
{
	const struct rv_chunk *c = s->data.tail;
	size_t room, hdr = RV_FRAME_HDR_LEN + 4;

	if (c == NULL)
		return max;
	room = rv_buf_room(&c->b);
	if (room >= hdr + max || room < hdr + 1024)
		return max;
	return room - hdr;
}

/* DATA is built in place (type u8 | length u16 | stream u32 | data) so a
 * read() lands directly in the chunk: no copy. */
int rv_session_data_reserve(struct rv_session *s, uint32_t stream_id, size_t max, uint8_t **body)
{
	size_t flen = RV_FRAME_HDR_LEN + 4 + max;
	struct rv_chunk *c;
	uint8_t *p;
	int rc;

	if (max == 0 || max > RV_FRAME_DATA_MAX)
		return RV_ERR_INVALID_ARG;
	c = rv_session_tail_for(s, &s->data, flen);
	if (c == NULL)
		return RV_ERR_NOMEM;
	rc = rv_buf_reserve(&c->b, flen, &p);
	if (rc < 0)
		return rc;
	p[0] = RV_FRAME_PROXY_DATA;
	p[3] = (uint8_t)(stream_id >> 24);
	p[4] = (uint8_t)(stream_id >> 16);
	p[5] = (uint8_t)(stream_id >> 8);
	p[6] = (uint8_t)stream_id;
	*body = p + RV_FRAME_HDR_LEN + 4;
	return RV_OK;
}

void rv_session_data_commit(struct rv_session *s, size_t max, size_t used)
{
	struct rv_chunk *c = s->data.tail;
	size_t flen = RV_FRAME_HDR_LEN + 4 + max;
	uint8_t *p;

	if (used == 0) {
		(void)rv_buf_unput(&c->b, flen);
		return;
	}
	(void)rv_buf_unput(&c->b, max - used);
	p = (uint8_t *)rv_buf_ptr(&c->b) + rv_buf_len(&c->b) - (RV_FRAME_HDR_LEN + 4 + used);
	p[1] = (uint8_t)((4 + used) >> 8);
	p[2] = (uint8_t)(4 + used);
	s->data.bytes += RV_FRAME_HDR_LEN + 4 + used;
	s->stats.data_out += used;
	rv_session_signal_write(s);
	rv_session_check_water(s);
}

static void rv_session_set_paused(struct rv_session *s, int paused)
{
	struct rv_stream *st, *next;

	s->paused = paused;
	if (paused)
		s->stats.watermark_pauses++;
	rv_log_debug("%s: send queue %zu bytes: %s local reads", s->name,
		     rv_session_send_queue_bytes(s), paused ? "pausing" : "resuming");
	for (st = s->streams; st != NULL; st = next) {
		next = st->next;
		if (!paused)
			rv_stream_pump_early(st);
		if (st->state != RV_STREAM_CLOSED)
			rv_stream_update_events(st);
	}
}

void rv_session_check_water(struct rv_session *s)
{
	size_t q = rv_session_send_queue_bytes(s);

	if (!s->paused && q > s->cfg.high_water)
		rv_session_set_paused(s, 1);
	else if (s->paused && q <= s->cfg.low_water)
		rv_session_set_paused(s, 0);
}

/* Move the whole head chunk of q into dst if it fits (frames stay whole). */
static void rv_session_merge_head(struct rv_session *s, struct rv_buf *dst, struct rv_chunkq *q)
{
	struct rv_chunk *c = q->head;
	size_t len;

	if (c == NULL)
		return;
	len = rv_buf_len(&c->b);
	if (len > rv_buf_room(dst) || rv_buf_put(dst, rv_buf_ptr(&c->b), len) < 0)
		return;
	q->head = c->next;
	if (q->head == NULL)
		q->tail = NULL;
	q->bytes -= len;
	rv_session_chunk_put(s, c);
}

int rv_session_next_message(struct rv_session *s, uint8_t **msg, size_t *len)
{
	struct rv_chunkq *q;
	struct rv_chunk *c;
	uint8_t *hr;
	int rc;

	if (s == NULL || msg == NULL || len == NULL)
		return RV_ERR_INVALID_ARG;
	while (!s->wire_ready) {
		q = s->prio.head != NULL ? &s->prio : &s->data;
		c = q->head;
		if (c == NULL) {
			s->want_write_signalled = 0;
			return 0;
		}
		q->head = c->next;
		if (q->head == NULL)
			q->tail = NULL;
		q->bytes -= rv_buf_len(&c->b);
		if (rv_buf_len(&c->b) == 0) {
			/* a DATA reservation whose read found nothing */
			rv_session_chunk_put(s, c);
			continue;
		}
		/* Control frames ride along with the next DATA chunk if both fit
		 * in one message: fewer, fuller messages. */
		if (q == &s->prio)
			rv_session_merge_head(s, &c->b, &s->data);
		rv_buf_reset(&s->wire);
		rc = rv_buf_reserve(&s->wire, s->cfg.headroom, &hr);
		if (rc == RV_OK)
			rc = rv_ratchet_encrypt(s->ratchet, rv_loop_now_ms(s->loop), rv_buf_ptr(&c->b),
						rv_buf_len(&c->b), &s->wire);
		if (rc == RV_ERR_STATE) {
			/* Bob cannot send before Alice's first message: keep
			 * the frames (now all control-first) and wait. */
			rv_buf_reset(&s->wire);
			c->next = s->prio.head;
			s->prio.head = c;
			if (s->prio.tail == NULL)
				s->prio.tail = c;
			s->prio.bytes += rv_buf_len(&c->b);
			s->want_write_signalled = 0;
			return 0;
		}
		rv_session_chunk_put(s, c);
		if (rc < 0) {
			rv_log_error("%s: sealing a message failed: %s", s->name, rv_err_str(rc));
			rv_session_enter(s);
			rv_session_fail(s, RV_ERR_INTERNAL, RV_GOAWAY_PROTOCOL_ERROR);
			rv_session_leave(s);
			return rc;
		}
		s->wire_ready = 1;
	}
	*msg = (uint8_t *)rv_buf_ptr(&s->wire) + s->cfg.headroom;
	*len = rv_buf_len(&s->wire) - s->cfg.headroom;
	return 1;
}

void rv_session_message_sent(struct rv_session *s)
{
	if (s == NULL || !s->wire_ready)
		return;
	rv_session_enter(s);
	s->stats.msgs_out++;
	s->stats.bytes_out += rv_buf_len(&s->wire) - s->cfg.headroom;
	s->wire_ready = 0;
	if (s->prio.head == NULL && s->data.head == NULL)
		s->want_write_signalled = 0;
	rv_session_check_water(s);
	rv_session_leave(s);
}

/* ---- life cycle ------------------------------------------------------- */

static void rv_session_tick(struct rv_loop_timer *t, void *arg);
static void rv_session_send_ping(struct rv_session *s);

static uint32_t rv_session_tick_ms(const struct rv_session_config *c)
{
	uint32_t ms = 1000;

	if (c->keepalive_interval_ms != 0 && c->keepalive_interval_ms / 2 < ms)
		ms = c->keepalive_interval_ms / 2;
	if (c->keepalive_timeout_ms != UINT32_MAX && c->keepalive_timeout_ms / 4 < ms)
		ms = c->keepalive_timeout_ms / 4;
	if (c->idle_timeout_ms != UINT32_MAX && c->idle_timeout_ms / 4 < ms)
		ms = c->idle_timeout_ms / 4;
	return ms < 5 ? 5 : ms;
}

static void rv_session_config_defaults(struct rv_session_config *c)
{
	if (c->local_window == 0)
		c->local_window = RV_STREAM_WINDOW_DEFAULT;
	if (c->local_window > RV_STREAM_WINDOW_MAX)
		c->local_window = RV_STREAM_WINDOW_MAX;
	if (c->peer_window == 0)
		c->peer_window = RV_STREAM_WINDOW_DEFAULT;
	if (c->peer_window > RV_STREAM_WINDOW_MAX)
		c->peer_window = RV_STREAM_WINDOW_MAX;
	if (c->max_streams == 0)
		c->max_streams = RV_MAX_STREAMS_DEFAULT;
	if (c->keepalive_interval_ms == 0 && c->role == RV_SESSION_CLIENT)
		c->keepalive_interval_ms = RV_KEEPALIVE_DEFAULT_S * 1000u;
	if (c->keepalive_timeout_ms == 0)
		c->keepalive_timeout_ms = RV_KEEPALIVE_TIMEOUT_DEFAULT_S * 1000u;
	if (c->idle_timeout_ms == 0)
		c->idle_timeout_ms = RV_STREAM_IDLE_TIMEOUT_DEFAULT_S * 1000u;
	if (c->high_water == 0)
		c->high_water = RV_WS_SEND_HIGH_WATER;
	if (c->low_water == 0 || c->low_water > c->high_water)
		c->low_water = c->high_water < RV_WS_SEND_LOW_WATER ? c->high_water / 4
								     : RV_WS_SEND_LOW_WATER;
}

int rv_session_new(struct rv_loop *loop, const struct rv_session_config *cfg,
		   struct rv_ratchet *ratchet, const struct rv_session_callbacks *cb,
		   struct rv_session **out)
{
	struct rv_session *s = NULL;
	int rc = RV_ERR_INVALID_ARG;

	if (loop == NULL || cfg == NULL || ratchet == NULL || out == NULL ||
	    (cfg->role != RV_SESSION_CLIENT && cfg->role != RV_SESSION_SERVER) ||
	    cfg->headroom > 1024)
		goto out;
	rc = RV_ERR_NOMEM;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		goto out;
	s->loop = loop;
	s->cfg = *cfg;
	rv_session_config_defaults(&s->cfg);
	if (cb != NULL)
		s->cb = *cb;
	snprintf(s->name, sizeof(s->name), "%s",
		 cfg->name != NULL ? cfg->name
				   : cfg->role == RV_SESSION_CLIENT ? "session(client)" : "session(server)");
	s->cfg.name = s->name;
	rv_buf_init(&s->wire, s->cfg.headroom + RV_MSG_MAX);
	rv_buf_init(&s->rxplain, RV_MSG_MAX);
	s->state = RV_SESSION_OPEN;
	s->next_id = 1;
	s->last_rx = s->last_ping = rv_loop_now_ms(loop);
	rc = rv_loop_timer_new(loop, rv_session_tick, s, &s->tick);
	if (rc < 0)
		goto out;
	rv_loop_timer_set(s->tick, rv_session_tick_ms(&s->cfg));
	s->ratchet = ratchet;
	ratchet = NULL;
	/* The client speaks first: a PING right away lets the server's
	 * ratchet (Bob) start sending and measures the round trip. */
	if (s->cfg.role == RV_SESSION_CLIENT) {
		struct rv_session_callbacks none = s->cb;

		s->cb.on_want_write = NULL; /* no callbacks from _new */
		rv_session_send_ping(s);
		s->cb = none;
	}
	*out = s;
	s = NULL;
	rc = RV_OK;
out:
	if (s != NULL) {
		rv_buf_cleanup(&s->wire);
		rv_buf_cleanup(&s->rxplain);
		free(s);
	}
	rv_ratchet_free(ratchet);
	return rc;
}

static void rv_session_close_all_streams(struct rv_session *s)
{
	struct rv_stream *st;

	/* Streams close in any order; each close unlinks itself. */
	while ((st = s->streams) != NULL) {
		if (st->state == RV_STREAM_CONNECTING && s->cfg.role == RV_SESSION_CLIENT)
			rv_stream_fail_connecting(st, 1);
		else
			rv_stream_close(st, 0, RV_RESET_SHUTDOWN, 1);
	}
}

static void rv_chunkq_free(struct rv_chunkq *q)
{
	while (q->head != NULL) {
		struct rv_chunk *c = q->head;

		q->head = c->next;
		rv_buf_cleanup(&c->b);
		free(c);
	}
	q->tail = NULL;
	q->bytes = 0;
}

/* Runs once, at depth 1, from rv_session_leave. */
static void rv_session_teardown(struct rv_session *s)
{
	if (s->ratchet == NULL)
		return;
	s->state = RV_SESSION_CLOSED;
	s->closed_notified = 1; /* the owner is freeing: no on_closed */
	rv_session_close_all_streams(s);
	rv_session_reap(s);
	rv_loop_timer_free(s->tick);
	s->tick = NULL;
	rv_chunkq_free(&s->prio);
	rv_chunkq_free(&s->data);
	if (s->spare != NULL) {
		rv_buf_cleanup(&s->spare->b);
		free(s->spare);
		s->spare = NULL;
	}
	s->wire_ready = 0;
	rv_ratchet_free(s->ratchet);
	s->ratchet = NULL;
}

void rv_session_free(struct rv_session *s)
{
	if (s == NULL || s->free_pending)
		return;
	rv_session_enter(s);
	s->free_pending = 1;
	rv_session_leave(s);
}

/* A fatal error: tell the peer (GOAWAY), abort every stream, tell the
 * owner.  Queued messages stay available so the GOAWAY can go out. */
int rv_session_fail(struct rv_session *s, int err, enum rv_goaway_reason reason)
{
	struct rv_frame f;

	if (s->state == RV_SESSION_CLOSED)
		return err;
	if (!s->goaway_sent) {
		memset(&f, 0, sizeof(f));
		f.type = RV_FRAME_GOAWAY;
		f.u.goaway.last_stream = s->last_peer_id;
		f.u.goaway.reason = reason;
		s->goaway_sent = 1;
		/* Nothing else matters now: drop queued data first. */
		rv_chunkq_free(&s->data);
		(void)rv_session_queue_frame(s, &f, 1);
	}
	rv_log_warn("%s: session closed: %s", s->name, rv_err_str(err));
	s->state = RV_SESSION_CLOSED;
	rv_session_close_all_streams(s);
	rv_session_notify_closed(s, err);
	return err;
}

int rv_session_goaway(struct rv_session *s, enum rv_goaway_reason reason)
{
	struct rv_frame f;
	int rc = RV_OK;

	if (s == NULL)
		return RV_ERR_INVALID_ARG;
	if (s->state == RV_SESSION_CLOSED)
		return RV_ERR_CLOSED;
	rv_session_enter(s);
	if (!s->goaway_sent) {
		memset(&f, 0, sizeof(f));
		f.type = RV_FRAME_GOAWAY;
		f.u.goaway.last_stream = s->last_peer_id;
		f.u.goaway.reason = reason;
		s->goaway_sent = 1;
		rc = rv_session_queue_frame(s, &f, 1);
		rv_log_info("%s: sending GOAWAY (last stream %u), %u streams draining", s->name,
			    s->last_peer_id, s->nstreams);
	}
	s->state = RV_SESSION_GOAWAY;
	rv_session_leave(s);
	return rc;
}

/* ---- keepalive and idle ------------------------------------------------ */

static void rv_session_send_ping(struct rv_session *s)
{
	uint64_t now = rv_loop_now_ms(s->loop);
	struct rv_frame f;

	memset(&f, 0, sizeof(f));
	f.type = RV_FRAME_PING;
	f.u.ping.opaque = now;
	if (rv_session_queue_frame(s, &f, 1) == RV_OK) {
		s->ping_opaque = now;
		s->ping_outstanding = 1;
		s->stats.pings_sent++;
	}
	s->last_ping = now;
}

static void rv_session_tick(struct rv_loop_timer *t, void *arg)
{
	struct rv_session *s = arg;
	uint64_t now = rv_loop_now_ms(s->loop);
	struct rv_stream *st, *next;

	rv_session_enter(s);
	if (s->state == RV_SESSION_CLOSED || s->free_pending)
		goto out;
	if (s->cfg.keepalive_timeout_ms != UINT32_MAX &&
	    now - s->last_rx >= s->cfg.keepalive_timeout_ms) {
		rv_log_warn("%s: nothing received for %llu ms: peer is gone", s->name,
			    (unsigned long long)(now - s->last_rx));
		rv_session_fail(s, RV_ERR_TIMEOUT, RV_GOAWAY_IDLE);
		goto out;
	}
	if (s->cfg.keepalive_interval_ms != 0 &&
	    now - s->last_ping >= s->cfg.keepalive_interval_ms)
		rv_session_send_ping(s);
	if (s->cfg.idle_timeout_ms != UINT32_MAX) {
		for (st = s->streams; st != NULL; st = next) {
			next = st->next;
			rv_stream_check_idle(st, now, s->cfg.idle_timeout_ms);
		}
	}
	rv_loop_timer_set(t, rv_session_tick_ms(&s->cfg));
out:
	rv_session_leave(s);
}

/* ---- intake ------------------------------------------------------------ */

static int rv_frame_has_stream(enum rv_frame_type t)
{
	return t >= RV_FRAME_PROXY_CONNECT && t <= RV_FRAME_WINDOW_UPDATE;
}

/* Checks that need no state: a violation is a protocol error. */
static int rv_session_validate(const struct rv_session *s, const struct rv_frame *f)
{
	if (rv_frame_has_stream(f->type) && f->stream_id == 0)
		return RV_ERR_MALFORMED;
	if (f->type == RV_FRAME_PROXY_CONNECT && s->cfg.role != RV_SESSION_SERVER)
		return RV_ERR_MALFORMED;
	if (f->type == RV_FRAME_PROXY_RESPONSE && s->cfg.role != RV_SESSION_CLIENT)
		return RV_ERR_MALFORMED;
	if (f->type == RV_FRAME_WINDOW_UPDATE && f->u.window_update.credit == 0)
		return RV_ERR_MALFORMED;
	if (f->type == RV_FRAME_PROXY_DATA && f->u.data.len == 0)
		return RV_ERR_MALFORMED;
	return RV_OK;
}

static int rv_session_on_connect(struct rv_session *s, const struct rv_frame *f)
{
	struct rv_frame r;
	struct rv_stream *st;
	uint32_t win = f->u.connect.window;

	if (f->stream_id <= s->last_peer_id) {
		rv_log_warn("%s: PROXY_CONNECT reuses stream id %u", s->name, f->stream_id);
		return RV_ERR_MALFORMED;
	}
	s->last_peer_id = f->stream_id;
	memset(&r, 0, sizeof(r));
	r.type = RV_FRAME_PROXY_RESET;
	r.stream_id = f->stream_id;
	if (s->state != RV_SESSION_OPEN || s->nstreams >= s->cfg.max_streams ||
	    s->cb.on_stream_connect == NULL) {
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
	st = rv_stream_alloc(s, f->stream_id, s->cfg.local_window, win);
	if (st == NULL)
		return RV_ERR_NOMEM;
	rv_session_stream_link(s, st);
	rv_log_debug("%s: stream %u: CONNECT", s->name, st->id);
	s->cb.on_stream_connect(s, st, &f->u.connect.addr, s->cb.arg);
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
	/* Our streams the peer never saw: fail them, retryable elsewhere. */
	if (s->cfg.role == RV_SESSION_CLIENT) {
		for (st = s->streams; st != NULL; st = next) {
			next = st->next;
			if (st->id > s->goaway_last && st->state == RV_STREAM_CONNECTING)
				rv_stream_fail_connecting(st, 1);
		}
	}
	if (s->cb.on_goaway != NULL)
		s->cb.on_goaway(s, f->u.goaway.last_stream, f->u.goaway.reason, s->cb.arg);
	return RV_OK;
}

/* Frame for an id not in the table: closed earlier (ignore) or never
 * opened (protocol error). */
static int rv_session_unknown_stream(struct rv_session *s, const struct rv_frame *f)
{
	uint32_t highest = s->cfg.role == RV_SESSION_CLIENT ? s->next_id - 1 : s->last_peer_id;

	if (f->stream_id <= highest)
		return RV_OK;
	rv_log_warn("%s: frame type %d for stream %u never opened", s->name, (int)f->type,
		    f->stream_id);
	return RV_ERR_MALFORMED;
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
			s->stats.rtt_ms = (uint32_t)(rv_loop_now_ms(s->loop) - s->ping_opaque);
		}
		return RV_OK;
	case RV_FRAME_GOAWAY:
		return rv_session_on_goaway(s, f);
	case RV_FRAME_PROXY_CONNECT:
		return rv_session_on_connect(s, f);
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

static void rv_session_log_drop(struct rv_session *s, int rc, size_t len)
{
	uint64_t n = ++s->stats.msgs_dropped;

	/* A flood of garbage must not become a flood of log lines. */
	if (n <= 10 || n % 1000 == 0)
		rv_log_warn("%s: dropped undecryptable message (%zu bytes): %s [%llu dropped]",
			    s->name, len, rv_err_str(rc), (unsigned long long)n);
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
		rv_session_log_drop(s, RV_ERR_MALFORMED, len);
		goto out;
	}
	rc = rv_ratchet_decrypt(s->ratchet, msg, len, &s->rxplain);
	if (rc < 0) {
		rv_session_log_drop(s, rc, len);
		rc = RV_OK;
		goto out;
	}
	s->stats.msgs_in++;
	s->stats.bytes_in += len;
	s->last_rx = rv_loop_now_ms(s->loop);
	/* A server's outbox may have waited for this first message. */
	if (!s->wire_ready && (s->prio.head != NULL || s->data.head != NULL)) {
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
		rc = rv_session_dispatch(s, &f);
		if (rc < 0) {
			rc = rv_session_fail(s, rc == RV_ERR_NOMEM ? RV_ERR_NOMEM : RV_ERR_MALFORMED,
					     RV_GOAWAY_PROTOCOL_ERROR);
			goto out;
		}
	}
	rc = RV_OK;
out:
	rv_session_leave(s);
	return rc;
}

/* ---- client: open ------------------------------------------------------ */

int rv_session_stream_open(struct rv_session *s, int fd, const struct rv_addr *dst,
			   const void *early, size_t early_len, void *user,
			   struct rv_stream **out)
{
	struct rv_stream *st = NULL;
	struct rv_frame f;
	int rc = RV_ERR_INVALID_ARG;

	if (s == NULL || fd < 0 || dst == NULL || out == NULL ||
	    early_len > RV_FRAME_DATA_MAX || (early == NULL && early_len > 0))
		return RV_ERR_INVALID_ARG;
	if (s->cfg.role != RV_SESSION_CLIENT)
		return RV_ERR_STATE;
	if (s->state != RV_SESSION_OPEN || s->free_pending)
		return RV_ERR_CLOSED;
	if (s->nstreams >= s->cfg.max_streams || s->next_id == UINT32_MAX)
		return RV_ERR_LIMIT;
	rv_session_enter(s);
	memset(&f, 0, sizeof(f));
	f.type = RV_FRAME_PROXY_CONNECT;
	f.stream_id = s->next_id;
	f.u.connect.addr = *dst;
	f.u.connect.window = s->cfg.local_window;
	if (rv_frame_encoded_len(&f) == 0)
		goto out;
	rc = RV_ERR_NOMEM;
	st = rv_stream_alloc(s, s->next_id, s->cfg.local_window, s->cfg.peer_window);
	if (st == NULL)
		goto out;
	st->user = user;
	if (early_len > 0 && (rc = rv_buf_put(&st->early, early, early_len)) < 0)
		goto out;
	rc = rv_stream_attach_fd(st, fd);
	if (rc < 0)
		goto out;
	rc = rv_session_queue_frame(s, &f, 1);
	if (rc < 0) {
		st->fd_owned = 0; /* the caller keeps fd on failure */
		goto out;
	}
	/* From here the stream exists and owns fd. */
	s->next_id++;
	rv_session_stream_link(s, st);
	rv_log_debug("%s: stream %u: CONNECT sent", s->name, st->id);
	*out = st;
	st = NULL;
	rc = RV_OK;
out:
	if (st != NULL)
		rv_stream_destroy(st);
	rv_session_leave(s);
	return rc;
}

/* ---- queries ----------------------------------------------------------- */

enum rv_session_state rv_session_get_state(const struct rv_session *s)
{
	return s == NULL ? RV_SESSION_STATE_INVALID : s->state;
}

enum rv_session_role rv_session_get_role(const struct rv_session *s)
{
	return s == NULL ? RV_SESSION_ROLE_INVALID : s->cfg.role;
}

void rv_session_get_stats(const struct rv_session *s, struct rv_session_stats *st)
{
	if (s == NULL || st == NULL)
		return;
	*st = s->stats;
	st->streams_active = s->nstreams;
}

uint32_t rv_session_stream_count(const struct rv_session *s)
{
	return s == NULL ? 0 : s->nstreams;
}

const char *rv_session_state_str(enum rv_session_state st)
{
	switch (st) {
	case RV_SESSION_OPEN:
		return "open";
	case RV_SESSION_GOAWAY:
		return "going-away";
	case RV_SESSION_CLOSED:
		return "closed";
	default:
		return "invalid";
	}
}
