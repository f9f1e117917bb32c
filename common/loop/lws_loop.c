/* lws_loop.c - rv_loop.h over libwebsockets 4.1.6.  See lws_loop.h.
 *
 * Facts from the lws 4.1.6 source this relies on:
 *   - closing a raw-file wsi (lib/core-net/close.c) calls RAW_CLOSE_FILE
 *     and then close()s wsi->desc, and a failed adoption closes the fd too:
 *     we adopt a dup(), never the caller's fd;
 *   - raw-file POLLOUT handling (roles/raw-file/ops-raw-file.c) clears
 *     POLLOUT *after* the WRITEABLE callback, so asking for writable from
 *     inside it is lost: the re-arm runs from a 0 us sul instead;
 *   - a wsi cannot be closed synchronously from inside its own callback:
 *     deletion detaches the watcher and kills the wsi with
 *     lws_set_timeout(LWS_TO_KILL_ASYNC) on the next service pass.
 */
#include "lws_loop.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rv_err.h"
#include "rv_log.h"

struct rv_lws_loop;

struct rv_loop_fd {
	struct rv_loop_obj obj; /* first: see rv_loop.h */
	struct rv_lws_loop *ll;
	int fd;                 /* the caller's */
	struct lws *wsi;        /* over a dup of fd; NULL once lws closed it */
	unsigned events;
	rv_loop_fd_cb cb;
	void *arg;
	int dispatching;
	int deleted;
	int hup;                /* lws closed the wsi on its own */
	lws_sorted_usec_list_t sul; /* WRITE re-arm, or the hang-up report */
	struct rv_loop_fd *prev, *next;
};

struct rv_loop_timer {
	struct rv_loop_obj obj; /* first: see rv_loop.h */
	struct rv_lws_loop *ll;
	lws_sorted_usec_list_t sul;
	rv_loop_timer_cb cb;
	void *arg;
	int dispatching;
	int deleted;
	struct rv_loop_timer *prev, *next;
};

struct rv_lws_loop {
	struct rv_loop loop;
	struct lws_context *ctx;
	struct lws_vhost *vh;
	struct rv_loop_fd *fds;
	struct rv_loop_timer *timers;
};

#define RV_CONTAINER_OF(p, type, member) ((type *)(void *)((char *)(p) - offsetof(type, member)))

static struct rv_lws_loop *rv_lws_loop_of(struct rv_loop *loop)
{
	return loop->impl;
}

static uint64_t rv_lws_loop_now_ms(struct rv_loop *loop)
{
	(void)loop;
	return (uint64_t)lws_now_usecs() / 1000u;
}

/* ---- fd watchers --------------------------------------------------------- */

static void rv_lws_fd_sul_cb(lws_sorted_usec_list_t *sul);

static void rv_lws_fd_schedule(struct rv_loop_fd *w)
{
	lws_sul_cancel(&w->sul);
	lws_sul_schedule(w->ll->ctx, 0, &w->sul, rv_lws_fd_sul_cb, 0);
}

/* Make lws's interest match w->events. */
static void rv_lws_fd_apply(struct rv_loop_fd *w)
{
	if (w->wsi == NULL) {
		if (w->hup && w->events != 0)
			rv_lws_fd_schedule(w); /* report the hang-up */
		return;
	}
	lws_rx_flow_control(w->wsi, (w->events & RV_LOOP_READ) ? 1 : 0);
	if (w->events & RV_LOOP_WRITE)
		lws_callback_on_writable(w->wsi);
	/* A WRITEABLE already requested cannot be withdrawn: it is ignored
	 * by the dispatch when WRITE is no longer wanted. */
}

static void rv_lws_fd_dispatch(struct rv_loop_fd *w, unsigned ev)
{
	ev &= w->events | RV_LOOP_ERROR;
	if (w->deleted || (ev & ~(unsigned)RV_LOOP_ERROR) == 0) {
		if (!w->deleted && w->wsi != NULL)
			rv_lws_fd_apply(w); /* e.g. RX we no longer want */
		return;
	}
	w->dispatching++;
	w->cb(w, w->fd, ev, w->arg);
	w->dispatching--;
	if (w->deleted) {
		if (w->dispatching == 0)
			free(w);
		return;
	}
	/* Level-triggered WRITE: lws drops POLLOUT after this callback
	 * returns, so re-arm from a sul. */
	if ((ev & RV_LOOP_WRITE) && (w->events & RV_LOOP_WRITE) && w->wsi != NULL)
		rv_lws_fd_schedule(w);
	/* A hung-up fd stays ready (data, then EOF or an error) and lws no
	 * longer polls it: keep reporting while the owner is interested, so
	 * a reader limited by credit drains it over several callbacks. */
	if (w->wsi == NULL && w->hup && w->events != 0)
		rv_lws_fd_schedule(w);
}

static void rv_lws_fd_sul_cb(lws_sorted_usec_list_t *sul)
{
	struct rv_loop_fd *w = RV_CONTAINER_OF(sul, struct rv_loop_fd, sul);

	if (w->deleted)
		return;
	if (w->wsi == NULL) {
		/* Level-triggered while interest remains (see dispatch). */
		if (w->hup && w->events != 0)
			rv_lws_fd_dispatch(w, w->events | RV_LOOP_ERROR);
		return;
	}
	if (w->events & RV_LOOP_WRITE)
		lws_callback_on_writable(w->wsi);
}

int rv_lws_loop_protocol_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user,
			    void *in, size_t len)
{
	struct rv_loop_fd *w;

	(void)user;
	(void)in;
	(void)len;
	switch (reason) {
	case LWS_CALLBACK_RAW_RX_FILE:
		w = lws_get_opaque_user_data(wsi);
		if (w == NULL) {
			lws_rx_flow_control(wsi, 0); /* being killed */
			return 0;
		}
		rv_lws_fd_dispatch(w, RV_LOOP_READ);
		return 0;
	case LWS_CALLBACK_RAW_WRITEABLE_FILE:
		w = lws_get_opaque_user_data(wsi);
		if (w != NULL)
			rv_lws_fd_dispatch(w, RV_LOOP_WRITE);
		return 0;
	case LWS_CALLBACK_RAW_CLOSE_FILE:
		w = lws_get_opaque_user_data(wsi);
		if (w == NULL)
			return 0; /* our own async kill after rv_loop_fd_del */
		lws_set_opaque_user_data(wsi, NULL);
		w->wsi = NULL;
		w->hup = 1;
		rv_log_debug("loop: fd %d hung up while not watched for reading", w->fd);
		if (w->events != 0)
			rv_lws_fd_schedule(w);
		return 0;
	default:
		return 0;
	}
}

static int rv_lws_loop_fd_add(struct rv_loop *loop, int fd, unsigned events, rv_loop_fd_cb cb,
			      void *arg, struct rv_loop_fd **out)
{
	struct rv_lws_loop *ll = rv_lws_loop_of(loop);
	lws_adopt_desc_t info;
	struct rv_loop_fd *w;
	int d;

	if (fd < 0 || cb == NULL || out == NULL)
		return RV_ERR_INVALID_ARG;
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return RV_ERR_NOMEM;
	d = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (d < 0) {
		rv_log_error("loop: dup of fd %d: %s", fd, strerror(errno));
		free(w);
		return errno == EMFILE || errno == ENFILE ? RV_ERR_LIMIT : RV_ERR_IO;
	}
	memset(&info, 0, sizeof(info));
	info.vh = ll->vh;
	info.type = LWS_ADOPT_RAW_FILE_DESC;
	info.fd.filefd = (lws_filefd_type)d;
	info.vh_prot_name = RV_LWS_LOOP_PROTOCOL_NAME;
	info.opaque = w;
	w->obj.loop = loop;
	w->ll = ll;
	w->fd = fd;
	w->cb = cb;
	w->arg = arg;
	w->events = events & (RV_LOOP_READ | RV_LOOP_WRITE);
	w->wsi = lws_adopt_descriptor_vhost_via_info(&info);
	if (w->wsi == NULL) {
		/* lws closed d already */
		rv_log_error("loop: lws could not adopt fd %d (is %s in the vhost's protocols?)",
			     fd, RV_LWS_LOOP_PROTOCOL_NAME);
		free(w);
		return RV_ERR_IO;
	}
	lws_set_opaque_user_data(w->wsi, w);
	w->next = ll->fds;
	if (ll->fds != NULL)
		ll->fds->prev = w;
	ll->fds = w;
	rv_lws_fd_apply(w);
	*out = w;
	return RV_OK;
}

static int rv_lws_loop_fd_set_events(struct rv_loop_fd *w, unsigned events)
{
	if (w->deleted)
		return RV_ERR_STATE;
	events &= RV_LOOP_READ | RV_LOOP_WRITE;
	if (events == w->events && !w->hup)
		return RV_OK;
	w->events = events;
	rv_lws_fd_apply(w);
	return RV_OK;
}

static void rv_lws_loop_fd_del(struct rv_loop_fd *w)
{
	struct rv_lws_loop *ll = w->ll;

	if (w->deleted)
		return;
	w->deleted = 1;
	lws_sul_cancel(&w->sul);
	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		ll->fds = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	if (w->wsi != NULL) {
		/* Detach first: events until the kill runs are ignored. */
		lws_set_opaque_user_data(w->wsi, NULL);
		lws_rx_flow_control(w->wsi, 0);
		lws_set_timeout(w->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
		w->wsi = NULL;
	}
	if (w->dispatching == 0)
		free(w);
}

/* ---- timers ---------------------------------------------------------------- */

static void rv_lws_timer_sul_cb(lws_sorted_usec_list_t *sul)
{
	struct rv_loop_timer *t = RV_CONTAINER_OF(sul, struct rv_loop_timer, sul);

	if (t->deleted)
		return;
	t->dispatching++;
	t->cb(t, t->arg);
	t->dispatching--;
	if (t->deleted && t->dispatching == 0)
		free(t);
}

static int rv_lws_loop_timer_new(struct rv_loop *loop, rv_loop_timer_cb cb, void *arg,
				 struct rv_loop_timer **out)
{
	struct rv_lws_loop *ll = rv_lws_loop_of(loop);
	struct rv_loop_timer *t;

	if (cb == NULL || out == NULL)
		return RV_ERR_INVALID_ARG;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return RV_ERR_NOMEM;
	t->obj.loop = loop;
	t->ll = ll;
	t->cb = cb;
	t->arg = arg;
	t->next = ll->timers;
	if (ll->timers != NULL)
		ll->timers->prev = t;
	ll->timers = t;
	*out = t;
	return RV_OK;
}

static void rv_lws_loop_timer_set(struct rv_loop_timer *t, uint64_t delay_ms)
{
	if (t->deleted)
		return;
	lws_sul_cancel(&t->sul);
	lws_sul_schedule(t->ll->ctx, 0, &t->sul, rv_lws_timer_sul_cb,
			 (lws_usec_t)delay_ms * LWS_US_PER_MS);
}

static void rv_lws_loop_timer_stop(struct rv_loop_timer *t)
{
	lws_sul_cancel(&t->sul);
}

static void rv_lws_loop_timer_free(struct rv_loop_timer *t)
{
	struct rv_lws_loop *ll = t->ll;

	if (t->deleted)
		return;
	t->deleted = 1;
	lws_sul_cancel(&t->sul);
	if (t->prev != NULL)
		t->prev->next = t->next;
	else
		ll->timers = t->next;
	if (t->next != NULL)
		t->next->prev = t->prev;
	if (t->dispatching == 0)
		free(t);
}

static const struct rv_loop_ops rv_lws_loop_ops = {
	.fd_add = rv_lws_loop_fd_add,
	.fd_set_events = rv_lws_loop_fd_set_events,
	.fd_del = rv_lws_loop_fd_del,
	.timer_new = rv_lws_loop_timer_new,
	.timer_set = rv_lws_loop_timer_set,
	.timer_stop = rv_lws_loop_timer_stop,
	.timer_free = rv_lws_loop_timer_free,
	.now_ms = rv_lws_loop_now_ms,
};

int rv_lws_loop_new(struct lws_context *ctx, struct lws_vhost *vh, struct rv_loop **out)
{
	struct rv_lws_loop *ll;

	if (ctx == NULL || vh == NULL || out == NULL)
		return RV_ERR_INVALID_ARG;
	ll = calloc(1, sizeof(*ll));
	if (ll == NULL)
		return RV_ERR_NOMEM;
	ll->ctx = ctx;
	ll->vh = vh;
	ll->loop.ops = &rv_lws_loop_ops;
	ll->loop.impl = ll;
	*out = &ll->loop;
	return RV_OK;
}

void rv_lws_loop_free(struct rv_loop *loop)
{
	struct rv_lws_loop *ll;

	if (loop == NULL)
		return;
	ll = rv_lws_loop_of(loop);
	while (ll->fds != NULL)
		rv_lws_loop_fd_del(ll->fds);
	while (ll->timers != NULL)
		rv_lws_loop_timer_free(ll->timers);
	free(ll);
}
