/* lws_loop.c - rv_loop.h over libwebsockets 4.1.6.  See lws_loop.h.
 *
 * Watched fds live in one epoll set of ours, not in lws: lws polls its
 * whole fd table with poll(2) on every service pass (lib/plat/unix/
 * unix-service.c), so each adopted stream fd made every pass, and thus
 * every new stream, cost O(open streams) (measured: 93% of both programs'
 * CPU at 5,000 streams in sock_poll/tcp_poll).  lws sees one raw-file wsi
 * over the epoll descriptor; when it is readable, RAW_RX_FILE drains ready
 * events with epoll_wait(0).  This also keeps the caller's fd single (lws
 * closes what it adopts, so adoption needed a dup() per watcher) and saves
 * a wsi per stream.
 *
 *   - level-triggered epoll = rv_loop.h's level-triggered watchers;
 *   - interest 0 removes the fd from the set: epoll reports EPOLLHUP/
 *     EPOLLERR even for an empty mask, which would spin;
 *   - a watcher deleted while a batch of events is being dispatched is
 *     parked and freed after the batch (later events may name it).
 */
#include "lws_loop.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "rv_err.h"
#include "rv_log.h"

enum { RV_LWS_LOOP_BATCH = 256 };

struct rv_lws_loop;

struct rv_loop_fd {
	struct rv_loop_obj obj; /* first: see rv_loop.h */
	struct rv_lws_loop *ll;
	int fd;                 /* the caller's */
	unsigned events;
	int registered;         /* in the epoll set (events != 0) */
	rv_loop_fd_cb cb;
	void *arg;
	int deleted;
	struct rv_loop_fd *prev, *next; /* live list; next: graveyard */
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
	int epfd;                 /* owned by the lws wsi below */
	struct lws *wsi;          /* raw file over epfd; NULL once lws closed it */
	int batch;                /* nesting of event dispatch */
	struct rv_loop_fd *fds;
	struct rv_loop_fd *graveyard;
	struct rv_loop_timer *timers;
	uint64_t nfds;
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

static uint32_t rv_lws_epoll_mask(unsigned events)
{
	return ((events & RV_LOOP_READ) ? (uint32_t)EPOLLIN : 0u) |
	       ((events & RV_LOOP_WRITE) ? (uint32_t)EPOLLOUT : 0u);
}

/* Make the epoll set match w->events. */
static int rv_lws_fd_apply(struct rv_loop_fd *w)
{
	struct epoll_event ev;
	int op;

	memset(&ev, 0, sizeof(ev));
	ev.events = rv_lws_epoll_mask(w->events);
	ev.data.ptr = w;
	if (w->events == 0) {
		if (!w->registered)
			return RV_OK;
		op = EPOLL_CTL_DEL;
	} else
		op = w->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	if (epoll_ctl(w->ll->epfd, op, w->fd, &ev) < 0) {
		rv_log_error("loop: epoll_ctl(%d) on fd %d: %s", op, w->fd, strerror(errno));
		return errno == ENOMEM || errno == ENOSPC ? RV_ERR_LIMIT : RV_ERR_IO;
	}
	w->registered = w->events != 0;
	return RV_OK;
}

static unsigned rv_lws_revents(uint32_t re, unsigned want)
{
	unsigned ev = 0;

	if (re & EPOLLIN)
		ev |= RV_LOOP_READ;
	if (re & EPOLLOUT)
		ev |= RV_LOOP_WRITE;
	if (re & (EPOLLERR | EPOLLHUP)) {
		/* Hung up: readable (data, then EOF or the error) and, for
		 * error reporting, writable; the callback's I/O finds out. */
		ev |= RV_LOOP_ERROR | (want & (RV_LOOP_READ | RV_LOOP_WRITE));
	}
	return ev & (want | RV_LOOP_ERROR);
}

static void rv_lws_fd_reap(struct rv_lws_loop *ll)
{
	while (ll->graveyard != NULL) {
		struct rv_loop_fd *w = ll->graveyard;

		ll->graveyard = w->next;
		free(w);
	}
}

/* Dispatch one batch of ready watchers (epfd was readable). */
static void rv_lws_loop_run(struct rv_lws_loop *ll)
{
	struct epoll_event evs[RV_LWS_LOOP_BATCH];
	int n, i;

	n = epoll_wait(ll->epfd, evs, RV_LWS_LOOP_BATCH, 0);
	if (n <= 0)
		return;
	ll->batch++;
	for (i = 0; i < n; i++) {
		struct rv_loop_fd *w = evs[i].data.ptr;
		unsigned ev;

		if (w->deleted)
			continue;
		ev = rv_lws_revents(evs[i].events, w->events);
		if ((ev & ~(unsigned)RV_LOOP_ERROR) == 0)
			continue;
		w->cb(w, w->fd, ev, w->arg);
	}
	if (--ll->batch == 0)
		rv_lws_fd_reap(ll);
}

int rv_lws_loop_protocol_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user,
			    void *in, size_t len)
{
	struct rv_lws_loop *ll;

	(void)user;
	(void)in;
	(void)len;
	switch (reason) {
	case LWS_CALLBACK_RAW_RX_FILE:
		ll = lws_get_opaque_user_data(wsi);
		if (ll == NULL) {
			lws_rx_flow_control(wsi, 0); /* loop freed */
			return 0;
		}
		rv_lws_loop_run(ll);
		return 0;
	case LWS_CALLBACK_RAW_CLOSE_FILE:
		ll = lws_get_opaque_user_data(wsi);
		if (ll != NULL) {
			lws_set_opaque_user_data(wsi, NULL);
			ll->wsi = NULL;
		}
		return 0;
	default:
		return 0;
	}
}

static int rv_lws_loop_fd_add(struct rv_loop *loop, int fd, unsigned events, rv_loop_fd_cb cb,
			      void *arg, struct rv_loop_fd **out)
{
	struct rv_lws_loop *ll = rv_lws_loop_of(loop);
	struct rv_loop_fd *w;
	int rc;

	if (fd < 0 || cb == NULL || out == NULL)
		return RV_ERR_INVALID_ARG;
	if (ll->wsi == NULL)
		return RV_ERR_CLOSED;
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return RV_ERR_NOMEM;
	w->obj.loop = loop;
	w->ll = ll;
	w->fd = fd;
	w->cb = cb;
	w->arg = arg;
	w->events = events & (RV_LOOP_READ | RV_LOOP_WRITE);
	rc = rv_lws_fd_apply(w);
	if (rc < 0) {
		free(w);
		return rc;
	}
	w->next = ll->fds;
	if (ll->fds != NULL)
		ll->fds->prev = w;
	ll->fds = w;
	ll->nfds++;
	*out = w;
	return RV_OK;
}

static int rv_lws_loop_fd_set_events(struct rv_loop_fd *w, unsigned events)
{
	unsigned old = w->events;
	int rc;

	if (w->deleted)
		return RV_ERR_STATE;
	events &= RV_LOOP_READ | RV_LOOP_WRITE;
	if (events == w->events)
		return RV_OK;
	w->events = events;
	rc = rv_lws_fd_apply(w);
	if (rc < 0)
		w->events = old;
	return rc;
}

static void rv_lws_loop_fd_del(struct rv_loop_fd *w)
{
	struct rv_lws_loop *ll = w->ll;

	if (w->deleted)
		return;
	w->deleted = 1;
	if (w->registered) {
		w->events = 0;
		(void)rv_lws_fd_apply(w);
	}
	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		ll->fds = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	ll->nfds--;
	if (ll->batch > 0) {
		w->next = ll->graveyard; /* a later event of this batch may name it */
		ll->graveyard = w;
	} else
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
	lws_adopt_desc_t info;
	int fd;

	if (ctx == NULL || vh == NULL || out == NULL)
		return RV_ERR_INVALID_ARG;
	ll = calloc(1, sizeof(*ll));
	if (ll == NULL)
		return RV_ERR_NOMEM;
	fd = epoll_create1(EPOLL_CLOEXEC);
	if (fd < 0) {
		rv_log_error("loop: epoll_create1: %s", strerror(errno));
		free(ll);
		return errno == EMFILE || errno == ENFILE ? RV_ERR_LIMIT : RV_ERR_IO;
	}
	ll->ctx = ctx;
	ll->vh = vh;
	ll->epfd = fd;
	ll->loop.ops = &rv_lws_loop_ops;
	ll->loop.impl = ll;
	memset(&info, 0, sizeof(info));
	info.vh = vh;
	info.type = LWS_ADOPT_RAW_FILE_DESC;
	info.fd.filefd = (lws_filefd_type)fd;
	info.vh_prot_name = RV_LWS_LOOP_PROTOCOL_NAME;
	info.opaque = ll;
	ll->wsi = lws_adopt_descriptor_vhost_via_info(&info);
	if (ll->wsi == NULL) {
		/* lws closed fd already */
		rv_log_error("loop: lws could not adopt the epoll descriptor (is %s in the vhost's "
			     "protocols?)", RV_LWS_LOOP_PROTOCOL_NAME);
		free(ll);
		return RV_ERR_IO;
	}
	lws_set_opaque_user_data(ll->wsi, ll);
	lws_rx_flow_control(ll->wsi, 1);
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
	rv_lws_fd_reap(ll);
	while (ll->timers != NULL)
		rv_lws_loop_timer_free(ll->timers);
	if (ll->wsi != NULL) {
		/* lws closes epfd: now, or with the context. */
		lws_set_opaque_user_data(ll->wsi, NULL);
		lws_rx_flow_control(ll->wsi, 0);
		lws_set_timeout(ll->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
	}
	free(ll);
}
