/* rv_session_out.c - the session's outbox: control and data frame queues
 * of plaintext, watermarks, and sealing in rv_session_next_message() so
 * that encryption order is send order.  See rv_session.h.
 */
#include "rv_session.h"

#include <stdlib.h>
#include <string.h>

#include "rv_err.h"
#include "rv_log.h"
#include "rv_session_int.h"

/* ---- outbox ----------------------------------------------------------- */

size_t rv_session_send_queue_bytes(const struct rv_session *s)
{
	if (s == NULL)
		return 0;
	return s->prio.bytes + s->dgram.bytes + s->light.bytes + s->data.bytes +
	       (s->wire_ready ? rv_buf_len(&s->wire) : 0);
}

int rv_session_wants_write(const struct rv_session *s)
{
	return s != NULL && s->want_write_signalled;
}

void rv_session_signal_write(struct rv_session *s)
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
		s->spare = c->next;
		s->nspare--;
		rv_buf_reset(&c->b);
		c->next = NULL;
		return c;
	}
	c = calloc(1, sizeof(*c));
	if (c != NULL)
		rv_buf_init(&c->b, s->plain_max); /* one chunk = one message */
	return c;
}

static void rv_session_chunk_put(struct rv_session *s, struct rv_chunk *c)
{
	if (s->nspare < RV_SESSION_SPARE_MAX) {
		c->next = s->spare;
		s->spare = c;
		s->nspare++;
		return;
	}
	rv_buf_cleanup(&c->b);
	free(c);
}

void rv_session_trim_spares(struct rv_session *s, unsigned keep)
{
	struct rv_chunk *c;

	while (s->nspare > keep && (c = s->spare) != NULL) {
		s->spare = c->next;
		s->nspare--;
		rv_buf_cleanup(&c->b);
		free(c);
	}
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

/* Stream frames go to the light queue unless st already has bulk queued
 * or a light budget's worth: O(1), and a stream's frames stay in order
 * because light always leaves first (see rv_session_next_message). */
static struct rv_chunkq *rv_session_stream_q(struct rv_session *s, struct rv_stream *st)
{
	if (st != NULL && (st->q_bulk > 0 || st->q_light >= RV_SESSION_LIGHT_MAX))
		return &s->data;
	return &s->light;
}

static void rv_session_q_count(struct rv_session *s, struct rv_stream *st,
			       const struct rv_chunkq *q, size_t len)
{
	if (st == NULL)
		return;
	if (q == &s->light)
		st->q_light += len;
	else
		st->q_bulk += len;
}

/* A chunk of stream frames leaves q: take its frames off their streams'
 * counts (one lookup per frame). */
static void rv_session_chunk_uncount(struct rv_session *s, const struct rv_chunk *c,
				     const struct rv_chunkq *q)
{
	const uint8_t *p = rv_buf_ptr(&c->b), *end = p + rv_buf_len(&c->b);
	struct rv_stream *st;
	size_t flen, *n;
	uint32_t id;

	while (end - p >= RV_FRAME_HDR_LEN + 4) {
		flen = RV_FRAME_HDR_LEN + ((size_t)p[1] << 8 | p[2]);
		id = (uint32_t)p[3] << 24 | (uint32_t)p[4] << 16 | (uint32_t)p[5] << 8 | p[6];
		st = rv_session_stream_find(s, id);
		if (st != NULL) {
			n = q == &s->light ? &st->q_light : &st->q_bulk;
			*n = *n > flen ? *n - flen : 0;
		}
		p += flen;
	}
}

int rv_session_queue_frame(struct rv_session *s, const struct rv_frame *f, int prio)
{
	struct rv_stream *st = prio ? NULL : rv_session_stream_find(s, f->stream_id);
	struct rv_chunkq *q = prio ? &s->prio : rv_session_stream_q(s, st);
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
	rv_session_q_count(s, st, q, len);
	rv_session_signal_write(s);
	rv_session_check_water(s);
	return RV_OK;
}

/* Largest DATA payload (<= max) worth putting in the current data chunk:
 * a smaller read that fills the chunk beats starting a new message with a
 * mostly empty one; below 1 KiB of room, a new chunk is better. */
size_t rv_session_data_fit(struct rv_session *s, uint32_t stream_id, size_t max)
{
	const struct rv_chunk *c =
		rv_session_stream_q(s, rv_session_stream_find(s, stream_id))->tail;
	size_t room, hdr = RV_FRAME_HDR_LEN + 4;

	/* A frame never spans messages: cap it to what one message holds. */
	if (max > s->plain_max - hdr)
		max = s->plain_max - hdr;
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
	s->resv_st = rv_session_stream_find(s, stream_id);
	s->resv_q = rv_session_stream_q(s, s->resv_st);
	c = rv_session_tail_for(s, s->resv_q, flen);
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
	struct rv_chunk *c = s->resv_q->tail;
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
	s->resv_q->bytes += RV_FRAME_HDR_LEN + 4 + used;
	rv_session_q_count(s, s->resv_st, s->resv_q, RV_FRAME_HDR_LEN + 4 + used);
	s->stats.data_out += used;
	rv_session_signal_write(s);
	rv_session_check_water(s);
}

/* Several DATA frames for one stream, back to back in one chunk (one
 * message), so a single readv() fills up to a whole message: fewer
 * syscalls per byte, and still no copy.  Frames never span messages. */
int rv_session_data_reserve_v(struct rv_session *s, uint32_t stream_id, size_t max,
			      struct iovec *iov, int niov)
{
	const size_t hdr = RV_FRAME_HDR_LEN + 4;
	struct rv_chunk *c;
	size_t room, left = max, total = 0, m;
	uint8_t *p;
	int k = 0, i, rc;

	if (max == 0 || niov <= 0 || iov == NULL)
		return RV_ERR_INVALID_ARG;
	/* Same choice as rv_session_data_fit: fill the tail unless under
	 * 1 KiB of it is left. */
	s->resv_st = rv_session_stream_find(s, stream_id);
	s->resv_q = rv_session_stream_q(s, s->resv_st);
	c = rv_session_tail_for(s, s->resv_q, hdr + (max < 1024 ? max : 1024));
	if (c == NULL)
		return RV_ERR_NOMEM;
	room = rv_buf_room(&c->b);
	while (k < niov && left > 0 && room > hdr) {
		m = left < RV_FRAME_DATA_MAX ? left : RV_FRAME_DATA_MAX;
		if (m > room - hdr)
			m = room - hdr;
		iov[k++].iov_len = m;
		total += hdr + m;
		room -= hdr + m;
		left -= m;
	}
	if (k == 0)
		return RV_ERR_INTERNAL;
	rc = rv_buf_reserve(&c->b, total, &p);
	if (rc < 0)
		return rc;
	for (i = 0; i < k; i++) {
		p[0] = RV_FRAME_PROXY_DATA;
		p[3] = (uint8_t)(stream_id >> 24);
		p[4] = (uint8_t)(stream_id >> 16);
		p[5] = (uint8_t)(stream_id >> 8);
		p[6] = (uint8_t)stream_id;
		iov[i].iov_base = p + hdr;
		p += hdr + iov[i].iov_len;
	}
	return k;
}

/* The first used bytes landed in iov[0..n): keep the frames they fill
 * (the last one shortened), drop the rest.  Nothing was queued since the
 * reservation, so the frames are still the tail chunk's last bytes. */
void rv_session_data_commit_v(struct rv_session *s, const struct iovec *iov, int n, size_t used)
{
	const size_t hdr = RV_FRAME_HDR_LEN + 4;
	struct rv_chunk *c = s->resv_q->tail;
	size_t reserved = 0, kept = 0, left = used, take;
	uint8_t *p;
	int i;

	for (i = 0; i < n; i++) {
		reserved += hdr + iov[i].iov_len;
		if (left == 0)
			continue;
		take = left < iov[i].iov_len ? left : iov[i].iov_len;
		p = (uint8_t *)iov[i].iov_base - hdr;
		p[1] = (uint8_t)((4 + take) >> 8);
		p[2] = (uint8_t)(4 + take);
		kept += hdr + take;
		left -= take;
	}
	(void)rv_buf_unput(&c->b, reserved - kept);
	if (used == 0)
		return;
	s->resv_q->bytes += kept;
	rv_session_q_count(s, s->resv_st, s->resv_q, kept);
	s->stats.data_out += used;
	rv_session_signal_write(s);
	rv_session_check_water(s);
}

/* Pausing touches no stream: each one notices on its next read and parks
 * itself on s->blocked (rv_stream_update_events).  Resuming visits only
 * those, until the queue passes high water again. */
static void rv_session_set_paused(struct rv_session *s, int paused)
{
	struct rv_stream *st;

	s->paused = paused;
	if (paused)
		s->stats.watermark_pauses++;
	rv_log_debug("%s: send queue %zu bytes: %s local reads", s->name,
		     rv_session_send_queue_bytes(s), paused ? "pausing" : "resuming");
	while (!s->paused && (st = s->blocked) != NULL) {
		rv_session_unblock(s, st);
		s->stats.streams_resumed++;
		rv_stream_pump_early(st);
		if (st->state != RV_STREAM_CLOSED)
			rv_stream_update_events(st);
	}
}

static void rv_session_set_input(struct rv_session *s, int stopped)
{
	s->input_stopped = stopped;
	rv_log_debug("%s: send queue %zu bytes: %s the WebSocket", s->name,
		     rv_session_send_queue_bytes(s), stopped ? "not reading" : "reading");
	if (s->cb.on_input_flow != NULL)
		s->cb.on_input_flow(s, !stopped, s->cb.arg);
}

void rv_session_check_water(struct rv_session *s)
{
	size_t q = rv_session_send_queue_bytes(s);

	if (!s->paused && q > s->cfg.high_water)
		rv_session_set_paused(s, 1);
	else if (s->paused && q <= s->cfg.low_water)
		rv_session_set_paused(s, 0);
	if (!s->input_stopped && q > s->cfg.input_stop && s->state != RV_SESSION_CLOSED)
		rv_session_set_input(s, 1);
	else if (s->input_stopped && q <= s->cfg.low_water)
		rv_session_set_input(s, 0);
}

size_t rv_session_buffered_bytes(const struct rv_session *s)
{
	return s == NULL ? 0 : rv_session_send_queue_bytes(s) + s->held_local;
}

int rv_session_input_stopped(const struct rv_session *s)
{
	return s != NULL && s->input_stopped;
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
	if (q == &s->light || q == &s->data)
		rv_session_chunk_uncount(s, c, q);
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
		/* Control frames, then datagrams, then light stream frames,
		 * then bulk: a datagram never waits behind bulk DATA
		 * (PROTOCOL.md §8A), nor does a stream with little queued. */
		q = s->prio.head != NULL    ? &s->prio
		    : s->dgram.head != NULL ? &s->dgram
		    : s->light.head != NULL ? &s->light
					    : &s->data;
		c = q->head;
		if (c == NULL) {
			s->want_write_signalled = 0;
			return 0;
		}
		q->head = c->next;
		if (q->head == NULL)
			q->tail = NULL;
		q->bytes -= rv_buf_len(&c->b);
		if (q == &s->light || q == &s->data)
			rv_session_chunk_uncount(s, c, q);
		if (rv_buf_len(&c->b) == 0) {
			/* a DATA reservation whose read found nothing */
			rv_session_chunk_put(s, c);
			continue;
		}
		/* The head chunks of the queues after q ride along if they fit
		 * in one message: fewer, fuller messages.  A queue is merged
		 * only once the ones before it are empty, so order holds. */
		if (q == &s->prio)
			rv_session_merge_head(s, &c->b, &s->dgram);
		if (q == &s->dgram || (q == &s->prio && s->dgram.head == NULL))
			rv_session_merge_head(s, &c->b, &s->light);
		if (q != &s->data && s->light.head == NULL &&
		    (q != &s->prio || s->dgram.head == NULL))
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
	if (s->prio.head == NULL && s->data.head == NULL && s->dgram.head == NULL &&
	    s->light.head == NULL)
		s->want_write_signalled = 0;
	rv_session_check_water(s);
	/* The message is on its way: the peer works, we would wait. */
	rv_ratchet_prepare(s->ratchet, rv_loop_now_ms(s->loop));
	rv_session_leave(s);
}

/* ---- datagrams (PROTOCOL.md §6.11, §6.12, §8A) --------------------------- */

static int rv_session_dgram_usable(const struct rv_session *s)
{
	return s->cfg.datagram && s->state == RV_SESSION_OPEN && !s->free_pending;
}

int rv_session_datagram_send(struct rv_session *s, uint32_t assoc, const struct rv_addr *peer,
			     const uint8_t *data, size_t len)
{
	struct rv_chunk *c;
	struct rv_frame f;
	size_t flen;
	int rc;

	if (s == NULL || peer == NULL || (data == NULL && len > 0) || assoc == 0)
		return RV_ERR_INVALID_ARG;
	/* A reply's source is an IP: the client would take a name as a
	 * protocol error. */
	if (s->cfg.role == RV_SESSION_SERVER && peer->atyp == RV_ATYP_DOMAIN)
		return RV_ERR_INVALID_ARG;
	if (!rv_session_dgram_usable(s))
		return RV_ERR_STATE;
	memset(&f, 0, sizeof(f));
	f.type = RV_FRAME_DATAGRAM;
	f.u.datagram.assoc = assoc;
	f.u.datagram.addr = *peer;
	f.u.datagram.data = data;
	f.u.datagram.len = len;
	flen = rv_frame_encoded_len(&f);
	/* A frame never spans messages: one that does not fit is too long. */
	if (flen == 0 || flen > s->plain_max) {
		if (len > RV_DATAGRAM_MAX || flen > s->plain_max)
			s->stats.dgram_dropped_long++;
		return RV_ERR_INVALID_ARG;
	}
	/* Not flow controlled: the queue bound is what holds them. */
	if (s->dgram.bytes + flen > s->cfg.datagram_queue) {
		s->stats.dgram_dropped_queue++;
		return RV_ERR_LIMIT;
	}
	c = rv_session_tail_for(s, &s->dgram, flen);
	if (c == NULL)
		return RV_ERR_NOMEM;
	rc = rv_frame_encode(&c->b, &f);
	if (rc < 0)
		return rc;
	s->dgram.bytes += flen;
	s->stats.dgram_sent++;
	s->stats.dgram_sent_bytes += len;
	rv_session_enter(s);
	rv_session_signal_write(s);
	rv_session_check_water(s);
	rv_session_leave(s);
	return RV_OK;
}

int rv_session_datagram_close(struct rv_session *s, uint32_t assoc, uint8_t reason)
{
	struct rv_frame f;
	int rc;

	if (s == NULL || assoc == 0 || reason < RV_DGRAM_CLOSE_NORMAL ||
	    reason > RV_DGRAM_CLOSE_SHUTDOWN)
		return RV_ERR_INVALID_ARG;
	if (!s->cfg.datagram || s->state == RV_SESSION_CLOSED || s->free_pending)
		return RV_ERR_STATE;
	memset(&f, 0, sizeof(f));
	f.type = RV_FRAME_DATAGRAM_CLOSE;
	f.u.datagram_close.assoc = assoc;
	f.u.datagram_close.reason = (enum rv_dgram_close_reason)reason;
	rv_session_enter(s);
	rc = rv_session_queue_frame(s, &f, 1);
	if (rc == RV_OK)
		s->stats.dgram_closes_sent++;
	rv_session_leave(s);
	return rc;
}
