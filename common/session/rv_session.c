/* rv_session.c - session life cycle: entry guard and deferred free, stream
 * table, keepalive and idle ticks, GOAWAY and fatal errors, client stream
 * open.  Outbox: rv_session_out.c; intake: rv_session_in.c; per-stream
 * relay: rv_stream.c.  See rv_session.h for the contract.
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
		free(s->buckets);
		rv_buf_cleanup(&s->wire);
		rv_buf_cleanup(&s->rxplain);
		free(s);
	}
}

/* ---- stream table ---------------------------------------------------- */

static uint32_t rv_session_bucket(const struct rv_session *s, uint32_t id)
{
	return (id * 2654435761u) & (s->nbuckets - 1); /* Knuth multiplicative */
}

/* Double the table when it holds as many streams as buckets: lookups stay
 * O(1) at any stream count, the rehash is amortised O(1) per insert.  Out
 * of memory the chains just get longer. */
static void rv_session_table_grow(struct rv_session *s)
{
	uint32_t n = s->nbuckets * 2, i;
	struct rv_stream **nb, **old = s->buckets, *st, *next;
	uint32_t oldn = s->nbuckets;

	if (n > (1u << 24))
		return;
	nb = calloc(n, sizeof(*nb));
	if (nb == NULL)
		return;
	s->buckets = nb;
	s->nbuckets = n;
	for (i = 0; i < oldn; i++) {
		for (st = old[i]; st != NULL; st = next) {
			uint32_t b = rv_session_bucket(s, st->id);

			next = st->hnext;
			st->hnext = nb[b];
			nb[b] = st;
		}
	}
	free(old);
}

void rv_session_stream_link(struct rv_session *s, struct rv_stream *st)
{
	uint32_t b;

	if (s->nstreams >= s->nbuckets)
		rv_session_table_grow(s);
	b = rv_session_bucket(s, st->id);
	st->hnext = s->buckets[b];
	s->buckets[b] = st;
	if (st->id & RV_STREAM_ID_SERVER) {
		s->nremote++;
		s->stats.remote_streams_opened++;
	}
	st->next = NULL;
	st->prev = s->streams_tail;
	if (s->streams_tail != NULL)
		s->streams_tail->next = st;
	else
		s->streams = st;
	s->streams_tail = st;
	s->nstreams++;
	s->stats.streams_opened++;
}

static void rv_session_list_remove(struct rv_session *s, struct rv_stream *st)
{
	if (st->prev != NULL)
		st->prev->next = st->next;
	else
		s->streams = st->next;
	if (st->next != NULL)
		st->next->prev = st->prev;
	else
		s->streams_tail = st->prev;
	st->prev = st->next = NULL;
}

void rv_session_stream_unlink(struct rv_session *s, struct rv_stream *st)
{
	struct rv_stream **pp = &s->buckets[rv_session_bucket(s, st->id)];

	for (; *pp != NULL; pp = &(*pp)->hnext) {
		if (*pp == st) {
			*pp = st->hnext;
			break;
		}
	}
	rv_session_unblock(s, st);
	rv_session_unhold(s, st);
	rv_session_list_remove(s, st);
	st->next = s->dead;
	s->dead = st;
	s->nstreams--;
	if (st->id & RV_STREAM_ID_SERVER)
		s->nremote--;
	s->stats.streams_closed++;
}

struct rv_stream *rv_session_stream_find(struct rv_session *s, uint32_t id)
{
	struct rv_stream *st;

	st = s->buckets[rv_session_bucket(s, id)];
	while (st != NULL && st->id != id)
		st = st->hnext;
	return st;
}

void rv_session_stream_touch(struct rv_session *s, struct rv_stream *st)
{
	st->last_activity = rv_loop_now_ms(s->loop);
	if (st->state == RV_STREAM_CLOSED || s->streams_tail == st)
		return;
	rv_session_list_remove(s, st);
	st->prev = s->streams_tail;
	s->streams_tail->next = st; /* not empty: st was in it, not last */
	s->streams_tail = st;
}

void rv_session_block(struct rv_session *s, struct rv_stream *st)
{
	if (st->blocked)
		return;
	st->blocked = 1;
	st->bprev = NULL;
	st->bnext = s->blocked;
	if (s->blocked != NULL)
		s->blocked->bprev = st;
	s->blocked = st;
}

void rv_session_unblock(struct rv_session *s, struct rv_stream *st)
{
	if (!st->blocked)
		return;
	if (st->bprev != NULL)
		st->bprev->bnext = st->bnext;
	else
		s->blocked = st->bnext;
	if (st->bnext != NULL)
		st->bnext->bprev = st->bprev;
	st->bprev = st->bnext = NULL;
	st->blocked = 0;
}

void rv_session_hold(struct rv_session *s, struct rv_stream *st)
{
	if (st->held || st->state == RV_STREAM_CLOSED)
		return;
	st->held = 1;
	st->kprev = NULL;
	st->knext = s->held;
	if (s->held != NULL)
		s->held->kprev = st;
	s->held = st;
}

void rv_session_unhold(struct rv_session *s, struct rv_stream *st)
{
	if (!st->held)
		return;
	if (st->kprev != NULL)
		st->kprev->knext = st->knext;
	else
		s->held = st->knext;
	if (st->knext != NULL)
		st->knext->kprev = st->kprev;
	st->kprev = st->knext = NULL;
	st->held = 0;
}

/* ---- life cycle ------------------------------------------------------- */

static void rv_session_tick(struct rv_loop_timer *t, void *arg);

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

uint32_t rv_session_credit_bound(const struct rv_session_config *c)
{
	if (!c->window_growth)
		return RV_STREAM_WINDOW_MAX; /* per stream: its own window is less */
	return c->window_large ? RV_STREAM_WINDOW_LARGE_MAX : RV_STREAM_WINDOW_MAX;
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
	if (c->max_remote_streams == 0)
		c->max_remote_streams = RV_REMOTE_STREAMS_DEFAULT;
	if (c->keepalive_interval_ms == 0 && c->role == RV_SESSION_CLIENT)
		c->keepalive_interval_ms = RV_KEEPALIVE_DEFAULT_S * 1000u;
	if (c->keepalive_timeout_ms == 0)
		c->keepalive_timeout_ms = RV_KEEPALIVE_TIMEOUT_DEFAULT_S * 1000u;
	if (c->idle_timeout_ms == 0)
		c->idle_timeout_ms = RV_STREAM_IDLE_TIMEOUT_DEFAULT_S * 1000u;
	if (!c->window_growth)
		c->window_large = 0;
	if (c->max_window == 0 || c->max_window > rv_session_credit_bound(c))
		c->max_window = rv_session_credit_bound(c);
	if (c->window_budget == 0)
		c->window_budget = RV_SESSION_WINDOW_BUDGET_DEFAULT;
	if (c->max_message == 0 || c->max_message > RV_MSG_MAX)
		c->max_message = RV_MSG_MAX;
	if (c->datagram_queue == 0)
		c->datagram_queue = RV_DGRAM_QUEUE_DEFAULT;
	if (c->high_water == 0)
		c->high_water = RV_WS_SEND_HIGH_WATER;
	if (c->low_water == 0 || c->low_water > c->high_water)
		c->low_water = c->high_water < RV_WS_SEND_LOW_WATER ? c->high_water / 4
								     : RV_WS_SEND_LOW_WATER;
	if (c->input_stop <= c->high_water)
		c->input_stop = c->high_water < RV_WS_SEND_HIGH_WATER ? 2 * c->high_water
								      : RV_WS_INPUT_STOP;
}

size_t rv_session_min_message(void)
{
	return RV_TRANSPORT_OVERHEAD + RV_FRAME_HDR_LEN + RV_FRAME_CONNECT_FIXED_LEN + 1 +
	       RV_DOMAIN_MAX;
}

int rv_session_new(struct rv_loop *loop, const struct rv_session_config *cfg,
		   struct rv_ratchet *ratchet, const struct rv_session_callbacks *cb,
		   struct rv_session **out)
{
	struct rv_session *s = NULL;
	int rc = RV_ERR_INVALID_ARG;

	if (loop == NULL || cfg == NULL || ratchet == NULL || out == NULL ||
	    (cfg->role != RV_SESSION_CLIENT && cfg->role != RV_SESSION_SERVER) ||
	    cfg->headroom > 1024 ||
	    (cfg->max_message != 0 && cfg->max_message < rv_session_min_message()))
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
	s->own_pool.budget = s->cfg.window_budget;
	s->pool = s->cfg.window_pool != NULL ? s->cfg.window_pool : &s->own_pool;
	s->plain_max = s->cfg.max_message - RV_TRANSPORT_OVERHEAD;
	s->buckets = calloc(RV_SESSION_BUCKETS_MIN, sizeof(*s->buckets));
	if (s->buckets == NULL)
		goto out;
	s->nbuckets = RV_SESSION_BUCKETS_MIN;
	rv_buf_init(&s->wire, s->cfg.headroom + RV_MSG_MAX);
	rv_buf_init(&s->rxplain, RV_MSG_MAX);
	s->state = RV_SESSION_OPEN;
	s->next_id = s->cfg.role == RV_SESSION_SERVER ? RV_STREAM_ID_SERVER | 1u : 1u;
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
		free(s->buckets);
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
		if (st->state == RV_STREAM_CONNECTING && st->local_open)
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
	rv_chunkq_free(&s->dgram);
	rv_chunkq_free(&s->light);
	rv_chunkq_free(&s->data);
	rv_session_trim_spares(s, 0);
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
		rv_chunkq_free(&s->light);
		rv_chunkq_free(&s->data);
		rv_chunkq_free(&s->dgram);
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

void rv_session_reset_streams(struct rv_session *s, enum rv_reset_reason reason)
{
	struct rv_stream *st;

	if (s == NULL || s->state == RV_SESSION_CLOSED)
		return;
	rv_session_enter(s);
	while ((st = s->streams) != NULL) {
		if (st->state == RV_STREAM_CONNECTING && st->local_open)
			rv_stream_fail_connecting(st, 1);
		else
			rv_stream_close(st, 1, reason, 1);
	}
	rv_session_leave(s);
}

/* ---- keepalive and idle ------------------------------------------------ */

void rv_session_send_ping(struct rv_session *s)
{
	uint64_t now = rv_loop_now_ms(s->loop);
	struct rv_frame f;

	memset(&f, 0, sizeof(f));
	f.type = RV_FRAME_PING;
	f.u.ping.opaque = rv_loop_now_us(s->loop); /* the send time: the PONG's round trip */
	if (rv_session_queue_frame(s, &f, 1) == RV_OK) {
		s->ping_opaque = f.u.ping.opaque;
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
	if (s->prio.head == NULL && s->data.head == NULL && s->dgram.head == NULL &&
	    s->light.head == NULL)
		rv_session_trim_spares(s, 1);
	/* Streams quiet for a tick give back their drained fd buffers: only
	 * those holding one are visited. */
	for (st = s->held; st != NULL; st = next) {
		next = st->knext;
		s->stats.tick_streams_visited++;
		if (now - st->last_activity < rv_session_tick_ms(&s->cfg))
			continue;
		rv_stream_trim(st);
	}
	if (s->cfg.idle_timeout_ms != UINT32_MAX) {
		/* Least recently active first: stop at the first live one. */
		for (st = s->streams; st != NULL; st = next) {
			next = st->next;
			if (now - st->last_activity < s->cfg.idle_timeout_ms)
				break;
			rv_stream_check_idle(st, now, s->cfg.idle_timeout_ms);
		}
	}
	rv_loop_timer_set(t, rv_session_tick_ms(&s->cfg));
out:
	rv_session_leave(s);
}

/* ---- opening a stream ------------------------------------------------- */

/* Create the stream for f (a CONNECT or REMOTE_CONNECT for stream
 * s->next_id, built by the caller), queue f and link the stream, which then
 * owns fd; on failure nothing is left and the caller keeps fd.  Called
 * between rv_session_enter and rv_session_leave. */
static int rv_session_stream_start(struct rv_session *s, const struct rv_frame *f, int fd,
				   uint32_t peer_window, const void *early, size_t early_len,
				   void *user, struct rv_stream **out)
{
	struct rv_stream *st = NULL;
	int rc = RV_ERR_INVALID_ARG;

	if (rv_frame_encoded_len(f) == 0)
		goto out;
	rc = RV_ERR_NOMEM;
	st = rv_stream_alloc(s, s->next_id, s->cfg.local_window, peer_window);
	if (st == NULL)
		goto out;
	st->user = user;
	st->local_open = 1;
	if (early_len > 0 && (rc = rv_buf_put(&st->early, early, early_len)) < 0)
		goto out;
	rc = rv_stream_attach_fd(st, fd);
	if (rc < 0)
		goto out;
	rc = rv_session_queue_frame(s, f, 1);
	if (rc < 0) {
		st->fd_owned = 0; /* the caller keeps fd on failure */
		goto out;
	}
	/* From here the stream exists and owns fd. */
	s->next_id++;
	rv_session_stream_link(s, st);
	*out = st;
	st = NULL;
	rc = RV_OK;
out:
	if (st != NULL)
		rv_stream_destroy(st);
	return rc;
}

/* ---- client: open ------------------------------------------------------ */

int rv_session_stream_open(struct rv_session *s, int fd, const struct rv_addr *dst,
			   const void *early, size_t early_len, void *user,
			   struct rv_stream **out)
{
	struct rv_frame f;
	int rc;

	if (s == NULL || fd < 0 || dst == NULL || out == NULL ||
	    early_len > RV_FRAME_DATA_MAX || (early == NULL && early_len > 0))
		return RV_ERR_INVALID_ARG;
	if (s->cfg.role != RV_SESSION_CLIENT)
		return RV_ERR_STATE;
	if (s->state != RV_SESSION_OPEN || s->free_pending)
		return RV_ERR_CLOSED;
	if (s->nstreams - s->nremote >= s->cfg.max_streams || s->next_id >= RV_STREAM_ID_SERVER - 1)
		return RV_ERR_LIMIT;
	rv_session_enter(s);
	memset(&f, 0, sizeof(f));
	f.type = RV_FRAME_PROXY_CONNECT;
	f.stream_id = s->next_id;
	f.u.connect.addr = *dst;
	f.u.connect.window = s->cfg.local_window;
	rc = rv_session_stream_start(s, &f, fd, s->cfg.peer_window, early, early_len, user, out);
	if (rc == RV_OK)
		rv_log_debug("%s: stream %u: CONNECT sent", s->name, (*out)->id);
	rv_session_leave(s);
	return rc;
}

/* ---- remote forwards --------------------------------------------------- */

int rv_session_stream_open_remote(struct rv_session *s, int fd, uint32_t req,
				  const struct rv_addr *addr, const void *early,
				  size_t early_len, void *user, struct rv_stream **out)
{
	struct rv_frame f;
	int rc;

	if (s == NULL || fd < 0 || addr == NULL || out == NULL || req == 0 ||
	    early_len > RV_FRAME_DATA_MAX || (early == NULL && early_len > 0))
		return RV_ERR_INVALID_ARG;
	if (!s->cfg.remote_fwd)
		return RV_ERR_UNSUPPORTED;
	if (s->cfg.role != RV_SESSION_SERVER)
		return RV_ERR_STATE;
	if (s->state != RV_SESSION_OPEN || s->free_pending)
		return RV_ERR_CLOSED;
	if (s->nremote >= s->cfg.max_remote_streams || s->next_id == UINT32_MAX)
		return RV_ERR_LIMIT;
	rv_session_enter(s);
	memset(&f, 0, sizeof(f));
	f.type = RV_FRAME_REMOTE_CONNECT;
	f.stream_id = s->next_id;
	f.u.remote_connect.addr = *addr;
	f.u.remote_connect.window = s->cfg.local_window;
	f.u.remote_connect.req = req;
	/* The client grants the stream_window we announced (PROTOCOL.md
	 * "Remote forwards"): our local window is also our initial credit. */
	rc = rv_session_stream_start(s, &f, fd, s->cfg.local_window, early, early_len, user, out);
	if (rc == RV_OK)
		rv_log_debug("%s: stream %u: REMOTE_CONNECT sent (listener %u)", s->name,
			     (*out)->id, req);
	rv_session_leave(s);
	return rc;
}

int rv_session_send_listen(struct rv_session *s, const struct rv_frame *f)
{
	int rc;

	if (s == NULL || f == NULL || rv_frame_encoded_len(f) == 0)
		return RV_ERR_INVALID_ARG;
	if (!s->cfg.remote_fwd)
		return RV_ERR_UNSUPPORTED;
	switch (f->type) {
	case RV_FRAME_LISTEN:
		if (s->cfg.role != RV_SESSION_CLIENT)
			return RV_ERR_STATE;
		if (s->state != RV_SESSION_OPEN)
			return RV_ERR_CLOSED;
		break;
	case RV_FRAME_LISTEN_RESPONSE:
		if (s->cfg.role != RV_SESSION_SERVER)
			return RV_ERR_STATE;
		break;
	case RV_FRAME_LISTEN_CLOSE:
		break;
	default:
		return RV_ERR_STATE;
	}
	if (s->state == RV_SESSION_CLOSED || s->free_pending)
		return RV_ERR_CLOSED;
	rv_session_enter(s);
	rc = rv_session_queue_frame(s, f, 1);
	rv_session_leave(s);
	return rc;
}

int rv_session_remote_fwd(const struct rv_session *s)
{
	return s != NULL && s->cfg.remote_fwd;
}

uint32_t rv_session_remote_stream_count(const struct rv_session *s)
{
	return s == NULL ? 0 : s->nremote;
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
	st->window_grown_bytes = s->window_grown;
}

void rv_session_get_ratchet_stats(const struct rv_session *s, struct rv_ratchet_stats *st)
{
	if (st == NULL)
		return;
	memset(st, 0, sizeof(*st));
	if (s != NULL && s->ratchet != NULL)
		rv_ratchet_get_stats(s->ratchet, st);
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
