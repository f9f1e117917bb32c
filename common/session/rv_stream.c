/* rv_stream.c - one stream of a session: local fd I/O, credit-based flow
 * control, half-close, reset.  See rv_stream.h; the session side (framing,
 * outbox) is rv_session.c.
 */
#include "rv_stream.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "rv_err.h"
#include "rv_log.h"
#include "rv_session_int.h"

/* The opener's side (client streams on the client, server streams on the
 * server): it waits for PROXY_RESPONSE; the other side connects. */
static int rv_stream_is_client(const struct rv_stream *st)
{
	return st->local_open;
}

/* Reset reason for a failing local fd: our side of the tunnel. */
static enum rv_reset_reason rv_stream_fd_error_reason(const struct rv_stream *st)
{
	return rv_stream_is_client(st) ? RV_RESET_LOCAL_ERROR : RV_RESET_TARGET_ERROR;
}

struct rv_stream *rv_stream_alloc(struct rv_session *s, uint32_t id, uint32_t local_window,
				  uint32_t peer_window)
{
	struct rv_stream *st = calloc(1, sizeof(*st));

	if (st == NULL)
		return NULL;
	st->sess = s;
	st->id = id;
	st->state = RV_STREAM_CONNECTING;
	st->istate = RV_STREAM_DIR_OPEN;
	st->ostate = RV_STREAM_DIR_OPEN;
	st->fd = -1;
	st->wfd = -1;
	st->local_window = local_window;
	st->base_window = local_window;
	st->epoch_start = rv_loop_now_us(s->loop);
	st->recv_credit = local_window;
	st->peer_window = peer_window;
	st->send_credit = peer_window;
	rv_buf_init(&st->early, RV_FRAME_DATA_MAX);
	/* Never more than the granted window, plus local (SOCKS) bytes. */
	rv_buf_init(&st->obuf, (size_t)local_window + RV_FRAME_DATA_MAX);
	st->last_activity = rv_loop_now_ms(s->loop);
	return st;
}

static void rv_stream_io_cb(struct rv_loop_fd *w, int fd, unsigned ev, void *arg);

/* Where data for the local side goes: fd, or a split stream's wfd. */
static int rv_stream_out_fd(const struct rv_stream *st)
{
	return st->split ? st->wfd : st->fd;
}

int rv_stream_attach_fd(struct rv_stream *st, int fd)
{
	int fl, rc, lowat = RV_SOCKET_NOTSENT_LOWAT;

	/* Owners' sockets are non-blocking already (accept4/socket flags):
	 * one F_GETFL checks, F_SETFL only when needed. */
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || ((fl & O_NONBLOCK) == 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)) {
		rv_log_warn("%s: stream %u: fd %d unusable: %m", st->sess->name, st->id, fd);
		return RV_ERR_IO;
	}
	/* Bounds the kernel's unsent backlog for a target or app that stops
	 * reading; fails harmlessly on non-TCP fds (tests use socketpairs). */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof(lowat));
	rc = rv_loop_fd_add(st->sess->loop, fd, 0, rv_stream_io_cb, st, &st->w);
	if (rc < 0)
		return rc;
	st->fd = fd;
	st->fd_owned = 1;
	st->events = 0;
	return RV_OK;
}

static void rv_stream_release_fd(struct rv_stream *st, int abort_fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	rv_loop_fd_del(st->w);
	st->w = NULL;
	rv_loop_fd_del(st->ww);
	st->ww = NULL;
	if (st->wfd >= 0) {
		if (abort_fd && st->wfd_sock)
			(void)setsockopt(st->wfd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(st->wfd);
	}
	st->wfd = -1;
	if (st->fd >= 0 && st->fd_owned) {
		/* Abortive close: the local peer sees a reset, not a clean
		 * end of data it might take for a complete transfer. */
		if (abort_fd)
			(void)setsockopt(st->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(st->fd);
	}
	st->fd = -1;
	st->fd_owned = 0;
}

void rv_stream_destroy(struct rv_stream *st)
{
	if (st == NULL)
		return;
	rv_stream_release_fd(st, 0);
	rv_buf_cleanup(&st->early);
	st->sess->pool->used -= st->local_window - st->base_window;
	st->sess->window_grown -= st->local_window - st->base_window;
	st->sess->held_local -= rv_buf_len(&st->obuf);
	rv_buf_cleanup(&st->obuf);
	free(st);
}

/* Free an emptied buffer: an idle stream holds no buffer memory. */
static void rv_stream_buf_release(struct rv_buf *b)
{
	size_t max = rv_buf_room(b);

	if (rv_buf_len(b) != 0)
		return;
	rv_buf_cleanup(b);
	rv_buf_init(b, max);
}

/* Does this stream relay now (read fd into DATA, write its local bytes):
 * once open, or before the response when optimistic (a client's;
 * PROTOCOL.md §7.2).  The peer's DATA still waits for the response. */
static int rv_stream_live(const struct rv_stream *st)
{
	return st->state == RV_STREAM_OPEN || (st->state == RV_STREAM_CONNECTING && st->optimistic);
}

/* The session pauses lazily (rv_session_out.c): a stream that would read
 * but for the high water mark drops its READ interest here and waits on
 * the session's paused list, the only streams visited on resume. */
void rv_stream_update_events(struct rv_stream *st)
{
	struct rv_session *s = st->sess;
	unsigned want = 0, wwant;
	int could_send = 0;

	if (st->w != NULL && rv_stream_live(st)) {
		could_send = st->istate == RV_STREAM_DIR_OPEN && st->send_credit > 0 &&
			     s->state != RV_SESSION_CLOSED;
		if (could_send && !s->paused && rv_buf_len(&st->early) == 0)
			want |= RV_LOOP_READ;
		if (rv_buf_len(&st->obuf) > 0)
			want |= RV_LOOP_WRITE;
	}
	if (could_send && s->paused)
		rv_session_block(s, st);
	else
		rv_session_unblock(s, st);
	if (st->split) {
		/* WRITE interest on wfd's own watcher. */
		wwant = st->ww != NULL ? want & RV_LOOP_WRITE : 0;
		want &= ~(unsigned)RV_LOOP_WRITE;
		if (st->ww != NULL && wwant != st->wevents &&
		    rv_loop_fd_set_events(st->ww, wwant) == RV_OK)
			st->wevents = wwant;
	}
	if (st->w != NULL && want != st->events) {
		if (rv_loop_fd_set_events(st->w, want) == RV_OK)
			st->events = want;
	}
}

void rv_stream_close(struct rv_stream *st, int send_reset, enum rv_reset_reason reason,
		     int abort_fd)
{
	struct rv_session *s = st->sess;
	struct rv_frame f;
	size_t n;
	ssize_t w;

	if (st->state == RV_STREAM_CLOSED)
		return;
	if (send_reset && s->state != RV_SESSION_CLOSED) {
		memset(&f, 0, sizeof(f));
		f.type = RV_FRAME_PROXY_RESET;
		f.stream_id = st->id;
		f.u.reset.reason = reason;
		if (rv_session_queue_frame(s, &f, 0) == RV_OK)
			s->stats.streams_reset_sent++;
		st->reset_reason = reason;
	}
	st->state = RV_STREAM_CLOSED;
	rv_session_stream_unlink(s, st);
	rv_log_debug("%s: stream %u closed%s%s (up %llu, down %llu bytes)", s->name, st->id,
		     st->reset_reason != RV_RESET_INVALID ? ", reset " : "",
		     st->reset_reason != RV_RESET_INVALID ? (send_reset ? "sent" : "received") : "",
		     (unsigned long long)st->up, (unsigned long long)st->down);
	st->in_final_cb = 1;
	if (s->cb.on_stream_closed != NULL)
		s->cb.on_stream_closed(st, s->cb.arg);
	st->in_final_cb = 0;
	/* Best effort for a pending local reply (e.g. SOCKS failure). */
	if (!abort_fd && rv_stream_out_fd(st) >= 0 && st->fd_owned && st->local_pending > 0) {
		n = st->local_pending;
		w = send(rv_stream_out_fd(st), rv_buf_ptr(&st->obuf), n, MSG_NOSIGNAL | MSG_DONTWAIT);
		(void)w;
	}
	rv_stream_release_fd(st, abort_fd);
}

/* Client stream that will never get a PROXY_RESPONSE: tell the owner. */
static void rv_stream_connect_failed(struct rv_stream *st, enum rv_status status, int retryable,
				     int send_reset, enum rv_reset_reason reason)
{
	struct rv_session *s = st->sess;

	st->retryable = retryable && !st->read_early;
	if (!st->response_done) {
		st->response_done = 1;
		st->in_final_cb = 1;
		if (s->cb.on_stream_response != NULL)
			s->cb.on_stream_response(st, status, NULL, s->cb.arg);
		st->in_final_cb = 0;
	}
	rv_stream_close(st, send_reset, reason, 0);
}

void rv_stream_fail_connecting(struct rv_stream *st, int retryable)
{
	rv_stream_connect_failed(st, RV_STATUS_GENERAL_FAILURE, retryable, 0, RV_RESET_INVALID);
}

static void rv_stream_maybe_finish(struct rv_stream *st)
{
	if (st->state == RV_STREAM_OPEN && st->istate == RV_STREAM_DIR_CLOSED &&
	    st->ostate == RV_STREAM_DIR_CLOSED)
		rv_stream_close(st, 0, RV_RESET_INVALID, 0);
}

/* Window growth (PROTOCOL.md §8.1), decided by the receiver alone, once
 * per epoch of half a window returned: the peer moved it through us
 * within 2 RTT (about a window per round trip: the window, not the path,
 * limits it) while the local reader kept up (little held for the fd: a
 * slow reader never grows a window).  Then the window doubles, up to
 * cfg.max_window and the pool's budget.  Returns the bytes to add.
 * RTT is the session's least one (stats.rtt_min_us): the last PING waited
 * behind the very queue that a larger window would deepen. */
static uint32_t rv_stream_growth(struct rv_stream *st, uint64_t now)
{
	const struct rv_session *s = st->sess;
	uint64_t rtt = s->stats.rtt_min_us > 0 ? s->stats.rtt_min_us : 1;
	size_t left = s->pool->budget > s->pool->used ? s->pool->budget - s->pool->used : 0;
	uint32_t grow = st->local_window;
	int fast;

	st->epoch_bytes += st->consumed;
	if (st->epoch_bytes < st->local_window / 2)
		return 0;
	fast = now - st->epoch_start <= 2 * rtt;
	st->epoch_start = now;
	st->epoch_bytes = 0;
	if (!fast || !s->cfg.window_growth || !s->rtt_valid ||
	    st->local_window >= s->cfg.max_window ||
	    rv_buf_len(&st->obuf) - st->local_pending > st->local_window / 4)
		return 0;
	if (grow > s->cfg.max_window - st->local_window)
		grow = s->cfg.max_window - st->local_window;
	if (grow > left)
		grow = (uint32_t)left;
	/* One WINDOW_UPDATE carries at most RV_STREAM_WINDOW_MAX: a large
	 * window grows by that much per epoch at most. */
	if (st->consumed >= RV_STREAM_WINDOW_MAX)
		return 0;
	if (grow > RV_STREAM_WINDOW_MAX - st->consumed)
		grow = RV_STREAM_WINDOW_MAX - st->consumed;
	return grow;
}

/* Return credit once half the announced window has been written to the
 * fd: few WINDOW_UPDATEs, and the peer never stalls on a full window (a
 * grown window still returns in these steps, so the peer's credit stays
 * near the whole window).  A grown window's extra credit rides on the
 * same update. */
static void rv_stream_maybe_grant(struct rv_stream *st)
{
	struct rv_session *s = st->sess;
	uint64_t now;
	uint32_t grow, give;
	struct rv_frame f;

	if (st->ostate != RV_STREAM_DIR_OPEN || st->consumed == 0 ||
	    st->consumed < st->base_window / 2 || s->state == RV_SESSION_CLOSED)
		return;
	now = rv_loop_now_us(s->loop);
	grow = rv_stream_growth(st, now);
	memset(&f, 0, sizeof(f));
	f.type = RV_FRAME_WINDOW_UPDATE;
	f.stream_id = st->id;
	/* A large window may have more returned than one update carries. */
	give = st->consumed < RV_STREAM_WINDOW_MAX ? st->consumed : RV_STREAM_WINDOW_MAX;
	f.u.window_update.credit = give + grow;
	if (rv_session_queue_frame(s, &f, 1) < 0)
		return;
	st->recv_credit += give + grow;
	st->consumed -= give;
	if (grow > 0) {
		st->local_window += grow;
		s->pool->used += grow;
		s->window_grown += grow;
		s->stats.window_grows++;
		/* The fd buffer holds at most the window (plus local bytes). */
		st->obuf.max_size = (size_t)st->local_window + RV_FRAME_DATA_MAX;
		rv_log_debug("%s: stream %u: window grown to %u bytes", s->name, st->id,
			     st->local_window);
	}
}

static void rv_stream_account_written(struct rv_stream *st, size_t n)
{
	size_t local = n < st->local_pending ? n : st->local_pending;

	st->local_pending -= local;
	st->consumed += (uint32_t)(n - local);
	st->down += n - local;
	if (n > 0)
		rv_session_stream_touch(st->sess, st);
}

static ssize_t rv_stream_send(int fd, const void *p, size_t len)
{
	ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);

	if (n < 0 && errno == ENOTSOCK)
		n = write(fd, p, len);
	return n;
}

static int rv_stream_would_block(void)
{
	return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

/* A split stream's half-close: never shutdown() on a pipe (it fails);
 * closing wfd is what gives its reader EOF. */
static void rv_stream_close_wfd(struct rv_stream *st)
{
	if (st->wfd_sock) {
		if (shutdown(st->wfd, SHUT_WR) < 0 && errno != ENOTCONN)
			rv_log_debug("%s: stream %u: shutdown: %m", st->sess->name, st->id);
		return;
	}
	rv_loop_fd_del(st->ww);
	st->ww = NULL;
	st->wevents = 0;
	close(st->wfd);
	st->wfd = -1;
}

static void rv_stream_shutdown_if_drained(struct rv_stream *st)
{
	if (st->ostate != RV_STREAM_DIR_DRAIN || rv_buf_len(&st->obuf) > 0 ||
	    rv_stream_out_fd(st) < 0 || st->state != RV_STREAM_OPEN)
		return;
	if (st->split)
		rv_stream_close_wfd(st);
	else if (shutdown(st->fd, SHUT_WR) < 0 && errno != ENOTCONN && errno != ENOTSOCK)
		rv_log_debug("%s: stream %u: shutdown: %m", st->sess->name, st->id);
	st->ostate = RV_STREAM_DIR_CLOSED;
	rv_stream_maybe_finish(st);
}

/* Write buffered bytes to fd.  May close the stream. */
static void rv_stream_flush(struct rv_stream *st)
{
	ssize_t n;

	while (rv_buf_len(&st->obuf) > 0) {
		n = rv_stream_send(rv_stream_out_fd(st), rv_buf_ptr(&st->obuf),
				   rv_buf_len(&st->obuf));
		if (n < 0) {
			if (rv_stream_would_block())
				break;
			rv_log_debug("%s: stream %u: write: %m", st->sess->name, st->id);
			rv_stream_close(st, 1, rv_stream_fd_error_reason(st), 1);
			return;
		}
		(void)rv_buf_consume(&st->obuf, (size_t)n);
		st->sess->held_local -= (size_t)n;
		rv_stream_account_written(st, (size_t)n);
	}
	/* A drained obuf keeps its memory while the stream is busy (freeing
	 * and regrowing it on every drain cost a wipe, copies and page
	 * faults per window); the tick frees it (rv_stream_trim) once the
	 * stream idles, visiting only streams on the held list. */
	if (rv_buf_len(&st->obuf) == 0 && st->obuf.data != NULL)
		rv_session_hold(st->sess, st);
	rv_stream_maybe_grant(st);
	rv_stream_shutdown_if_drained(st);
}

static void rv_stream_queue_fin(struct rv_stream *st)
{
	struct rv_frame f;

	memset(&f, 0, sizeof(f));
	f.type = RV_FRAME_PROXY_FIN;
	f.stream_id = st->id;
	st->istate = RV_STREAM_DIR_CLOSED;
	if (rv_session_queue_frame(st->sess, &f, 0) < 0)
		rv_stream_close(st, 1, RV_RESET_LOCAL_ERROR, 1);
}

/* Read from fd into DATA frames while credit and the watermark allow:
 * one readv() fills up to a message's worth of frames in place. */
static void rv_stream_read(struct rv_stream *st)
{
	struct rv_session *s = st->sess;
	struct iovec iov[RV_STREAM_READ_IOV];
	size_t max, want;
	ssize_t n;
	int i, k;

	for (i = 0; i < RV_STREAM_READS_PER_EVENT; i++) {
		if (!rv_stream_live(st) || st->istate != RV_STREAM_DIR_OPEN ||
		    st->send_credit == 0 || s->paused || s->state == RV_SESSION_CLOSED)
			return;
		max = st->send_credit;
		k = rv_session_data_reserve_v(s, st->id, max, iov, RV_STREAM_READ_IOV);
		if (k < 0) {
			rv_session_fail(s, k, RV_GOAWAY_PROTOCOL_ERROR);
			return;
		}
		n = k == 1 ? read(st->fd, iov[0].iov_base, iov[0].iov_len) : readv(st->fd, iov, k);
		rv_session_data_commit_v(s, iov, k, n > 0 ? (size_t)n : 0);
		if (n > 0) {
			if (st->state == RV_STREAM_CONNECTING)
				st->read_early = 1;
			st->send_credit -= (uint32_t)n;
			st->up += (uint64_t)n;
			rv_session_stream_touch(s, st);
			for (want = 0; k > 0; k--)
				want += iov[k - 1].iov_len;
			if ((size_t)n < want)
				return; /* drained for now */
			continue;
		}
		if (n == 0) {
			rv_log_debug("%s: stream %u: local EOF, sending FIN", s->name, st->id);
			rv_stream_queue_fin(st);
			rv_stream_maybe_finish(st);
			return;
		}
		if (rv_stream_would_block())
			return;
		rv_log_debug("%s: stream %u: read: %m", s->name, st->id);
		rv_stream_close(st, 1, rv_stream_fd_error_reason(st), 1);
		return;
	}
}

void rv_stream_pump_early(struct rv_stream *st)
{
	struct rv_session *s = st->sess;
	uint8_t *body;
	size_t n;

	while (rv_buf_len(&st->early) > 0 && rv_stream_live(st) &&
	       st->send_credit > 0 && !s->paused && s->state != RV_SESSION_CLOSED) {
		n = rv_buf_len(&st->early);
		if (n > st->send_credit)
			n = st->send_credit;
		n = rv_session_data_fit(s, st->id, n);
		if (rv_session_data_reserve(s, st->id, n, &body) < 0)
			return;
		memcpy(body, rv_buf_ptr(&st->early), n);
		rv_session_data_commit(s, n, n);
		(void)rv_buf_consume(&st->early, n);
		st->send_credit -= (uint32_t)n;
		st->up += n;
	}
	rv_stream_buf_release(&st->early);
}

static void rv_stream_io_cb(struct rv_loop_fd *w, int fd, unsigned ev, void *arg)
{
	struct rv_stream *st = arg;
	struct rv_session *s = st->sess;

	(void)w;
	(void)fd;
	rv_session_enter(s);
	if (rv_stream_live(st) && (ev & RV_LOOP_WRITE) != 0)
		rv_stream_flush(st);
	if (rv_stream_live(st) && (ev & RV_LOOP_READ) != 0)
		rv_stream_read(st);
	if (st->state != RV_STREAM_CLOSED)
		rv_stream_update_events(st);
	rv_session_leave(s);
}

/* ---- frames from the peer ---------------------------------------------- */

/* A stream-level violation: reset this stream, keep the session. */
static int rv_stream_violation(struct rv_stream *st, enum rv_reset_reason reason, const char *what)
{
	rv_log_warn("%s: stream %u: %s", st->sess->name, st->id, what);
	if (st->state == RV_STREAM_CONNECTING && rv_stream_is_client(st))
		rv_stream_connect_failed(st, RV_STATUS_GENERAL_FAILURE, 0, 1, reason);
	else
		rv_stream_close(st, 1, reason, 1);
	return RV_OK;
}

static ssize_t rv_stream_sendv(int fd, const struct iovec *iov, int niov)
{
	struct msghdr mh;
	ssize_t n;

	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = (struct iovec *)iov;
	mh.msg_iovlen = (size_t)niov;
	n = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n < 0 && errno == ENOTSOCK)
		n = writev(fd, iov, niov);
	return n;
}

int rv_stream_on_data_v(struct rv_stream *st, const struct iovec *iov, int niov)
{
	struct rv_session *s = st->sess;
	size_t len = 0, skip, part;
	ssize_t n = 0;
	int i, rc;

	for (i = 0; i < niov; i++)
		len += iov[i].iov_len;
	if (st->ostate != RV_STREAM_DIR_OPEN)
		return rv_stream_violation(st, RV_RESET_PROTOCOL_ERROR, "DATA after FIN");
	if (st->state == RV_STREAM_CONNECTING && rv_stream_is_client(st))
		return rv_stream_violation(st, RV_RESET_PROTOCOL_ERROR, "DATA before response");
	if (len > st->recv_credit)
		return rv_stream_violation(st, RV_RESET_FLOW_CONTROL, "peer exceeded its window");
	st->recv_credit -= (uint32_t)len;
	s->stats.data_in += len;
	/* Straight to the fd when nothing is queued ahead: no copy. */
	if (rv_buf_len(&st->obuf) == 0 && rv_stream_out_fd(st) >= 0 &&
	    st->state == RV_STREAM_OPEN) {
		n = niov == 1 ? rv_stream_send(rv_stream_out_fd(st), iov[0].iov_base, iov[0].iov_len)
			      : rv_stream_sendv(rv_stream_out_fd(st), iov, niov);
		if (n < 0) {
			if (!rv_stream_would_block()) {
				rv_log_debug("%s: stream %u: write: %m", s->name, st->id);
				rv_stream_close(st, 1, rv_stream_fd_error_reason(st), 1);
				return RV_OK;
			}
			n = 0;
		}
		rv_stream_account_written(st, (size_t)n);
	}
	/* The rest waits in obuf (bounded by the window, checked above). */
	for (i = 0, skip = (size_t)n; i < niov && (size_t)n < len; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		part = iov[i].iov_len - skip;
		rc = rv_buf_put(&st->obuf, (const uint8_t *)iov[i].iov_base + skip, part);
		if (rc < 0)
			return rc == RV_ERR_NOMEM ? rc : RV_ERR_INTERNAL;
		s->held_local += part;
		skip = 0;
	}
	if (st->state == RV_STREAM_OPEN) {
		rv_stream_maybe_grant(st);
		rv_stream_update_events(st);
	}
	return RV_OK;
}

int rv_stream_on_data(struct rv_stream *st, const uint8_t *p, size_t len)
{
	struct iovec iov = {.iov_base = (void *)p, .iov_len = len};

	return rv_stream_on_data_v(st, &iov, 1);
}

int rv_stream_on_fin(struct rv_stream *st)
{
	if (st->ostate != RV_STREAM_DIR_OPEN)
		return rv_stream_violation(st, RV_RESET_PROTOCOL_ERROR, "second FIN");
	if (st->state == RV_STREAM_CONNECTING && rv_stream_is_client(st))
		return rv_stream_violation(st, RV_RESET_PROTOCOL_ERROR, "FIN before response");
	rv_log_debug("%s: stream %u: FIN received", st->sess->name, st->id);
	st->ostate = RV_STREAM_DIR_DRAIN;
	rv_stream_shutdown_if_drained(st);
	return RV_OK;
}

int rv_stream_on_reset(struct rv_stream *st, enum rv_reset_reason reason)
{
	st->sess->stats.streams_reset_received++;
	st->reset_reason = reason;
	if (st->state == RV_STREAM_CONNECTING && rv_stream_is_client(st))
		rv_stream_connect_failed(st, RV_STATUS_GENERAL_FAILURE,
					 reason == RV_RESET_REFUSED_STREAM, 0, reason);
	else
		rv_stream_close(st, 0, reason, 1);
	return RV_OK;
}

int rv_stream_on_window_update(struct rv_stream *st, uint32_t credit)
{
	/* With window growth the receiver may raise our credit past the
	 * window it announced, never past the largest window. */
	uint32_t cap = st->sess->cfg.window_growth ? rv_session_credit_bound(&st->sess->cfg)
						   : st->peer_window;

	if ((uint64_t)st->send_credit + credit > cap)
		return rv_stream_violation(st, RV_RESET_FLOW_CONTROL, "credit beyond the window");
	st->send_credit += credit;
	rv_stream_pump_early(st);
	rv_stream_update_events(st);
	return RV_OK;
}

int rv_stream_on_response(struct rv_stream *st, enum rv_status status, const struct rv_addr *bound)
{
	struct rv_session *s = st->sess;

	if (st->state != RV_STREAM_CONNECTING)
		return rv_stream_violation(st, RV_RESET_PROTOCOL_ERROR, "second PROXY_RESPONSE");
	if (status != RV_STATUS_OK) {
		rv_log_debug("%s: stream %u: refused by server, status %d", s->name, st->id,
			     (int)status);
		rv_stream_connect_failed(st, status, 0, 0, RV_RESET_INVALID);
		return RV_OK;
	}
	st->state = RV_STREAM_OPEN;
	st->response_done = 1;
	rv_log_debug("%s: stream %u: open", s->name, st->id);
	if (s->cb.on_stream_response != NULL)
		s->cb.on_stream_response(st, RV_STATUS_OK, bound, s->cb.arg);
	if (st->state != RV_STREAM_OPEN)
		return RV_OK; /* the owner reset it */
	rv_stream_pump_early(st);
	rv_stream_flush(st);
	if (st->state == RV_STREAM_OPEN)
		rv_stream_update_events(st);
	return RV_OK;
}

void rv_stream_trim(struct rv_stream *st)
{
	rv_stream_buf_release(&st->obuf);
	/* Freed, or refilled (back on the list when it drains again). */
	rv_session_unhold(st->sess, st);
}

void rv_stream_check_idle(struct rv_stream *st, uint64_t now, uint32_t idle_ms)
{
	if (now - st->last_activity < idle_ms)
		return;
	rv_log_debug("%s: stream %u: idle for %llu ms, resetting", st->sess->name, st->id,
		     (unsigned long long)(now - st->last_activity));
	if (st->state == RV_STREAM_CONNECTING && rv_stream_is_client(st))
		rv_stream_connect_failed(st, RV_STATUS_TTL_EXPIRED, 0, 1, RV_RESET_IDLE_TIMEOUT);
	else
		rv_stream_close(st, 1, RV_RESET_IDLE_TIMEOUT, 1);
}

/* ---- owner API ---------------------------------------------------------- */

int rv_stream_accept(struct rv_stream *st, int fd, const struct rv_addr *bound)
{
	struct rv_session *s;
	struct rv_frame f;
	int rc;

	if (st == NULL || fd < 0 || bound == NULL)
		return RV_ERR_INVALID_ARG;
	s = st->sess;
	if (st->local_open || st->state != RV_STREAM_CONNECTING)
		return RV_ERR_STATE;
	memset(&f, 0, sizeof(f));
	f.type = RV_FRAME_PROXY_RESPONSE;
	f.stream_id = st->id;
	f.u.response.status = RV_STATUS_OK;
	f.u.response.bound = *bound;
	if (rv_frame_encoded_len(&f) == 0)
		return RV_ERR_INVALID_ARG;
	rv_session_enter(s);
	rc = rv_stream_attach_fd(st, fd);
	if (rc < 0)
		goto out;
	rc = rv_session_queue_frame(s, &f, 1);
	if (rc < 0) {
		st->fd_owned = 0; /* stays the caller's on failure */
		rv_stream_release_fd(st, 0);
		goto out;
	}
	st->state = RV_STREAM_OPEN;
	rv_session_stream_touch(s, st);
	rv_log_debug("%s: stream %u: target connected", s->name, st->id);
	rv_stream_flush(st); /* DATA/FIN that arrived while connecting */
	/* Most such data is gone at once: give its buffer back now rather
	 * than at the next tick (optimistic clients send with every CONNECT). */
	if (st->state == RV_STREAM_OPEN && rv_buf_len(&st->obuf) == 0)
		rv_stream_trim(st);
	if (st->state == RV_STREAM_OPEN)
		rv_stream_update_events(st);
out:
	rv_session_leave(s);
	return rc;
}

int rv_stream_reject(struct rv_stream *st, enum rv_status status)
{
	struct rv_session *s;
	struct rv_frame f;
	int rc;

	if (st == NULL || status == RV_STATUS_OK)
		return RV_ERR_INVALID_ARG;
	s = st->sess;
	if (st->local_open || st->state != RV_STREAM_CONNECTING)
		return RV_ERR_STATE;
	memset(&f, 0, sizeof(f));
	f.type = RV_FRAME_PROXY_RESPONSE;
	f.stream_id = st->id;
	f.u.response.status = status;
	f.u.response.bound.atyp = RV_ATYP_IPV4; /* 0.0.0.0:0 */
	rv_session_enter(s);
	rc = rv_session_queue_frame(s, &f, 1);
	rv_log_debug("%s: stream %u: rejected, status %d", s->name, st->id, (int)status);
	rv_stream_close(st, rc < 0, RV_RESET_TARGET_ERROR, 0);
	rv_session_leave(s);
	return rc;
}

void rv_stream_reset(struct rv_stream *st, enum rv_reset_reason reason)
{
	struct rv_session *s;

	if (st == NULL || st->state == RV_STREAM_CLOSED)
		return;
	s = st->sess;
	rv_session_enter(s);
	st->response_done = 1; /* the owner knows: no response callback */
	rv_stream_close(st, 1, reason, 1);
	rv_session_leave(s);
}

int rv_stream_write_local(struct rv_stream *st, const void *data, size_t len)
{
	ssize_t n = 0;
	int rc;

	if (st == NULL || (data == NULL && len > 0))
		return RV_ERR_INVALID_ARG;
	if (st->state == RV_STREAM_CLOSED)
		return RV_ERR_CLOSED;
	if (rv_buf_len(&st->obuf) != st->local_pending)
		return RV_ERR_STATE; /* relayed data already queued */
	if (st->local_pending + len > RV_FRAME_DATA_MAX)
		return RV_ERR_NO_SPACE;
	/* Nothing queued ahead: write straight to the fd, so a reply that
	 * fits (nearly always) allocates no buffer and needs no WRITE
	 * interest.  An error is left for the next flush to report. */
	if (rv_stream_live(st) && rv_buf_len(&st->obuf) == 0 && rv_stream_out_fd(st) >= 0 &&
	    len > 0) {
		n = rv_stream_send(rv_stream_out_fd(st), data, len);
		if (n < 0)
			n = 0;
		if (n > 0)
			rv_session_stream_touch(st->sess, st);
	}
	if ((size_t)n < len) {
		rc = rv_buf_put(&st->obuf, (const uint8_t *)data + n, len - (size_t)n);
		if (rc < 0)
			return rc;
		st->sess->held_local += len - (size_t)n;
		st->local_pending += len - (size_t)n;
	}
	if (rv_stream_live(st))
		rv_stream_update_events(st);
	return RV_OK;
}

int rv_stream_detach_fd(struct rv_stream *st)
{
	int fd;

	if (st == NULL || !st->in_final_cb || st->fd < 0 || !st->fd_owned || st->split)
		return -1;
	fd = st->fd;
	rv_loop_fd_del(st->w);
	st->w = NULL;
	st->fd_owned = 0;
	st->fd = -1;
	st->local_pending = 0;
	return fd;
}

int rv_stream_set_write_fd(struct rv_stream *st, int wfd)
{
	struct stat sb;
	int fl, rc;

	if (st == NULL || wfd < 0 || wfd == st->fd)
		return RV_ERR_INVALID_ARG;
	if (!rv_stream_is_client(st) || st->state != RV_STREAM_CONNECTING || st->split ||
	    st->fd < 0)
		return RV_ERR_STATE;
	if (fstat(wfd, &sb) != 0)
		return RV_ERR_IO;
	/* epoll cannot watch these: the stream would never be written. */
	if (S_ISREG(sb.st_mode) || S_ISDIR(sb.st_mode))
		return RV_ERR_INVALID_ARG;
	fl = fcntl(wfd, F_GETFL);
	if (fl < 0 || ((fl & O_NONBLOCK) == 0 && fcntl(wfd, F_SETFL, fl | O_NONBLOCK) < 0))
		return RV_ERR_IO;
	rc = rv_loop_fd_add(st->sess->loop, wfd, 0, rv_stream_io_cb, st, &st->ww);
	if (rc < 0)
		return rc;
	st->split = 1;
	st->wfd = wfd;
	st->wfd_sock = S_ISSOCK(sb.st_mode);
	st->wevents = 0;
	return RV_OK;
}

int rv_stream_set_optimistic(struct rv_stream *st, int read_now)
{
	struct rv_session *s;

	if (st == NULL || !rv_stream_is_client(st) || st->state != RV_STREAM_CONNECTING ||
	    st->sess->cfg.role != RV_SESSION_CLIENT)
		return RV_ERR_STATE;
	s = st->sess;
	rv_session_enter(s);
	st->optimistic = 1;
	rv_stream_pump_early(st);
	/* What the app already wrote goes in the CONNECT's message. */
	if (read_now && rv_buf_len(&st->early) == 0)
		rv_stream_read(st);
	if (st->state == RV_STREAM_CONNECTING)
		rv_stream_update_events(st);
	rv_session_leave(s);
	return RV_OK;
}

int rv_stream_retryable(const struct rv_stream *st)
{
	return st != NULL && st->retryable;
}

uint32_t rv_stream_id(const struct rv_stream *st)
{
	return st == NULL ? 0 : st->id;
}

int rv_stream_fd(const struct rv_stream *st)
{
	return st == NULL ? -1 : st->fd;
}

struct rv_session *rv_stream_session(const struct rv_stream *st)
{
	return st == NULL ? NULL : st->sess;
}

void *rv_stream_get_user(const struct rv_stream *st)
{
	return st == NULL ? NULL : st->user;
}

void rv_stream_set_user(struct rv_stream *st, void *user)
{
	if (st != NULL)
		st->user = user;
}

enum rv_stream_state rv_stream_get_state(const struct rv_stream *st)
{
	return st == NULL ? RV_STREAM_STATE_INVALID : st->state;
}

enum rv_stream_dir_state rv_stream_get_istate(const struct rv_stream *st)
{
	return st == NULL ? RV_STREAM_DIR_CLOSED : st->istate;
}

enum rv_stream_dir_state rv_stream_get_ostate(const struct rv_stream *st)
{
	return st == NULL ? RV_STREAM_DIR_CLOSED : st->ostate;
}

enum rv_reset_reason rv_stream_reset_reason(const struct rv_stream *st)
{
	return st == NULL ? RV_RESET_INVALID : st->reset_reason;
}

void rv_stream_get_counts(const struct rv_stream *st, uint64_t *up, uint64_t *down)
{
	if (up != NULL)
		*up = st == NULL ? 0 : st->up;
	if (down != NULL)
		*down = st == NULL ? 0 : st->down;
}

const char *rv_stream_state_str(enum rv_stream_state state)
{
	switch (state) {
	case RV_STREAM_CONNECTING:
		return "connecting";
	case RV_STREAM_OPEN:
		return "open";
	case RV_STREAM_CLOSED:
		return "closed";
	default:
		return "invalid";
	}
}
