/* lws_loop.c - rv_loop.h over libwebsockets 4.1.6.  See lws_loop.h.
 *
 * One epoll set of ours is the programs' only wait.  It holds the
 * watchers' fds and, through lws's external-poll callbacks (ADD/DEL/
 * CHANGE_MODE_POLL_FD, lws built with LWS_WITH_EXTERNAL_POLL), lws's own
 * sockets; a ready lws socket goes to lws_service_fd().  Why:
 *
 *   - lws_service() polls lws's whole fd table with poll(2) each pass, so
 *     the watchers cannot live there (every new stream cost O(open
 *     streams): 93% of both programs' CPU at 5,000 streams);
 *   - nesting our epoll set inside that poll() cost one more syscall per
 *     wakeup (poll, then epoll_wait): 7 per round trip per process where
 *     an epoll program needs 6, and syscalls are what a round trip costs.
 *
 *   - level-triggered epoll = rv_loop.h's level-triggered watchers;
 *   - a watcher with interest 0 leaves the set: epoll reports EPOLLHUP/
 *     EPOLLERR even for an empty mask, which would spin;
 *   - "POLLOUT" from lws on an established socket that was idle is not
 *     registered: the socket is almost surely writeable, so the end of the
 *     pass delivers it ("fake"), which saves the epoll_ctl pair and a wait
 *     per message.  If lws still wants POLLOUT after a fake one (it could
 *     not write), or asks again while writing (bulk), the socket waits for
 *     a real EPOLLOUT: that keeps TCP_NOTSENT_LOWAT's bound on the unsent
 *     backlog, which send() itself ignores.  Fakes run once per pass, after
 *     the ready fds, so a writer cannot starve reads;
 *   - the epoll data is the fd, and a table maps fds to their watcher or
 *     lws socket: an owner can hand its fd to a new watcher (a SOCKS
 *     connection becoming a stream) without the fd leaving the set;
 *   - watchers' interest changes are applied before the next epoll_wait,
 *     so changes that cancel out within a pass cost no epoll_ctl (a handed
 *     over fd is added with no interest, then READ);
 *   - an object deleted while a batch is being dispatched is parked and
 *     freed after the batch.
 */
#include "lws_loop.h"

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "rv_err.h"
#include "rv_log.h"

enum {
	RV_LWS_LOOP_BATCH = 256,
	RV_LWS_LOOP_IDLE_S = 600,  /* the idle sul: see rv_lws_loop_attach */
	RV_LWS_LOOP_WAIT_MAX_MS = 1000000, /* lws multiplies it by 1000 in an int */
};

struct rv_lws_loop;

enum rv_lws_fd_kind {
	RV_LWS_FD_WATCHER = 1, /* an rv_loop.h watcher */
	RV_LWS_FD_LWS,         /* a socket of lws's */
};

/* A node of an intrusive, unordered list of sockets.  home is the list's
 * head while linked, NULL otherwise, so one test says "on a list". */
struct rv_lws_link {
	struct rv_lws_link **home, *prev, *next;
};

struct rv_loop_fd {
	struct rv_loop_obj obj; /* first: see rv_loop.h */
	struct rv_lws_loop *ll;
	enum rv_lws_fd_kind kind;
	int fd;                 /* watchers: the caller's; lws: lws's */
	unsigned events;        /* watchers: RV_LOOP_READ | RV_LOOP_WRITE */
	uint32_t ep;            /* the mask in the epoll set */
	int registered;         /* in the epoll set */
	rv_loop_fd_cb cb;
	void *arg;
	int deleted;
	int detached;           /* a later watcher took the fd over */
	struct rv_loop_fd *prev, *next; /* watchers list; next: graveyard */
	struct rv_lws_link dirty; /* on the loop's dirty list */
	/* lws sockets */
	short lws_events;       /* LWS_POLLIN | LWS_POLLOUT, as lws wants */
	unsigned out_clears;    /* times lws dropped POLLOUT (it wrote) */
	unsigned char seen;     /* had a real event: connected, not connecting */
	unsigned char out_real; /* POLLOUT goes through epoll, not faked */
	unsigned char in_out;   /* lws is handling a POLLOUT of this socket */
	struct rv_lws_link fake;  /* on the loop's list of POLLOUTs owed */
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
	struct lws_context *ctx;  /* from rv_lws_loop_attach */
	int epfd;
	int wakefd;               /* eventfd: rv_lws_loop_wake */
	int batch;                /* nesting of event dispatch */
	struct rv_loop_fd *fds;   /* watchers */
	struct rv_loop_fd *graveyard;
	struct rv_loop_timer *timers;
	struct rv_loop_fd **by_fd; /* watchers and lws's sockets, by fd */
	size_t cap;
	struct rv_lws_link *dirty; /* sockets whose epoll interest is behind */
	struct rv_lws_link *fake;  /* lws sockets owed a POLLOUT this pass */
	lws_sorted_usec_list_t sul_idle;
};

/* lws reports sockets through protocol callbacks that carry no pointer of
 * ours: one loop per process (one service thread). */
static struct rv_lws_loop *rv_lws_loop_the;

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

static uint64_t rv_lws_loop_now_us(struct rv_loop *loop)
{
	(void)loop;
	return (uint64_t)lws_now_usecs();
}

/* ---- the epoll set ----------------------------------------------------- */

static uint32_t rv_lws_fd_want(const struct rv_loop_fd *w)
{
	if (w->kind == RV_LWS_FD_WATCHER)
		return ((w->events & RV_LOOP_READ) ? (uint32_t)EPOLLIN : 0u) |
		       ((w->events & RV_LOOP_WRITE) ? (uint32_t)EPOLLOUT : 0u);
	return ((w->lws_events & LWS_POLLIN) ? (uint32_t)EPOLLIN : 0u) |
	       ((w->lws_events & LWS_POLLOUT) && w->out_real ? (uint32_t)EPOLLOUT : 0u);
}

/* Make the epoll set match the watcher.  A watcher with no interest leaves
 * the set; an lws socket stays (lws, like poll(), wants hang-ups). */
static int rv_lws_fd_apply(struct rv_loop_fd *w)
{
	struct epoll_event ev;
	uint32_t want = rv_lws_fd_want(w);
	int op;

	if (w->registered && want == w->ep)
		return RV_OK;
	memset(&ev, 0, sizeof(ev));
	ev.events = want;
	ev.data.fd = w->fd;
	if (want == 0 && w->kind == RV_LWS_FD_WATCHER) {
		if (!w->registered)
			return RV_OK;
		op = EPOLL_CTL_DEL;
	} else
		op = w->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	if (epoll_ctl(w->ll->epfd, op, w->fd, &ev) < 0) {
		rv_log_error("loop: epoll_ctl(%d) on fd %d: %s", op, w->fd, strerror(errno));
		return errno == ENOMEM || errno == ENOSPC ? RV_ERR_LIMIT : RV_ERR_IO;
	}
	w->registered = op != EPOLL_CTL_DEL;
	w->ep = want;
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

/* Parks w (deleted) until the batch ends, or frees it now. */
static void rv_lws_fd_bury(struct rv_lws_loop *ll, struct rv_loop_fd *w)
{
	if (ll->batch > 0) {
		w->next = ll->graveyard; /* a later event of this batch may name it */
		ll->graveyard = w;
	} else
		free(w);
}

/* ---- lws's sockets --------------------------------------------------------- */

static void rv_lws_link_unlink(struct rv_lws_link *l)
{
	if (l->home == NULL)
		return;
	if (l->prev != NULL)
		l->prev->next = l->next;
	else
		*l->home = l->next;
	if (l->next != NULL)
		l->next->prev = l->prev;
	l->home = NULL;
	l->prev = l->next = NULL;
}

static void rv_lws_link_push(struct rv_lws_link **home, struct rv_lws_link *l)
{
	if (l->home != NULL)
		return;
	l->home = home;
	l->prev = NULL;
	l->next = *home;
	if (*home != NULL)
		(*home)->prev = l;
	*home = l;
}

static struct rv_loop_fd *rv_lws_fd_find(struct rv_lws_loop *ll, int fd)
{
	if (fd < 0 || (size_t)fd >= ll->cap)
		return NULL;
	return ll->by_fd[fd];
}

static struct rv_loop_fd *rv_lws_sock_find(struct rv_lws_loop *ll, int fd)
{
	struct rv_loop_fd *w = rv_lws_fd_find(ll, fd);

	return w != NULL && w->kind == RV_LWS_FD_LWS ? w : NULL;
}

/* Room in by_fd for fd. */
static int rv_lws_fd_room(struct rv_lws_loop *ll, int fd)
{
	size_t cap = ll->cap ? ll->cap : 64;
	struct rv_loop_fd **n;

	if ((size_t)fd < ll->cap)
		return RV_OK;
	while (cap <= (size_t)fd)
		cap *= 2;
	n = realloc(ll->by_fd, cap * sizeof(*n));
	if (n == NULL)
		return RV_ERR_NOMEM;
	memset(n + ll->cap, 0, (cap - ll->cap) * sizeof(*n));
	ll->by_fd = n;
	ll->cap = cap;
	return RV_OK;
}

/* The socket's interest changed: the set follows before the next wait. */
static void rv_lws_dirty_mark(struct rv_lws_loop *ll, struct rv_loop_fd *w)
{
	rv_lws_link_push(&ll->dirty, &w->dirty);
}

static void rv_lws_dirty_flush(struct rv_lws_loop *ll)
{
	while (ll->dirty != NULL) {
		struct rv_loop_fd *w = RV_CONTAINER_OF(ll->dirty, struct rv_loop_fd, dirty);

		rv_lws_link_unlink(&w->dirty);
		/* a failure is logged; the owner's idle timer ends it */
		(void)rv_lws_fd_apply(w);
	}
}

/* Hands one readiness to lws; lws may close the wsi (and so bury w). */
static void rv_lws_sock_service(struct rv_lws_loop *ll, struct rv_loop_fd *w, short revents)
{
	struct lws_pollfd pfd;

	pfd.fd = w->fd;
	pfd.events = w->lws_events;
	pfd.revents = revents;
	w->in_out = (revents & LWS_POLLOUT) != 0;
	(void)lws_service_fd(ll->ctx, &pfd);
	w->in_out = 0; /* w is parked, not freed, if lws closed it */
}

static void rv_lws_sock_ready(struct rv_lws_loop *ll, struct rv_loop_fd *w, uint32_t re)
{
	short rev = (short)(((re & EPOLLIN) ? LWS_POLLIN : 0) | ((re & EPOLLOUT) ? LWS_POLLOUT : 0) |
			    ((re & EPOLLHUP) ? LWS_POLLHUP : 0) | ((re & EPOLLERR) ? POLLERR : 0));

	w->seen = 1;
	if (re & EPOLLOUT)
		rv_lws_link_unlink(&w->fake); /* a real one serves */
	rv_lws_sock_service(ll, w, rev);
}

static int rv_lws_sock_add(struct rv_lws_loop *ll, const struct lws_pollargs *pa)
{
	struct rv_loop_fd *w;
	int rc;

	if (pa->fd < 0 || pa->fd == ll->wakefd)
		return RV_ERR_INVALID_ARG;
	if ((rc = rv_lws_fd_room(ll, pa->fd)) < 0)
		return rc;
	if (ll->by_fd[pa->fd] != NULL)
		return RV_ERR_STATE;
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return RV_ERR_NOMEM;
	w->obj.loop = &ll->loop;
	w->ll = ll;
	w->kind = RV_LWS_FD_LWS;
	w->fd = pa->fd;
	w->lws_events = (short)pa->events;
	/* Not connected yet, maybe: a connecting socket's first POLLOUT
	 * must be real (a fake one would end the connect early). */
	w->out_real = 1;
	rc = rv_lws_fd_apply(w);
	if (rc < 0) {
		free(w);
		return rc;
	}
	ll->by_fd[pa->fd] = w;
	return RV_OK;
}

static void rv_lws_sock_del(struct rv_lws_loop *ll, int fd)
{
	struct rv_loop_fd *w = rv_lws_sock_find(ll, fd);

	if (w == NULL)
		return;
	ll->by_fd[fd] = NULL;
	rv_lws_link_unlink(&w->fake);
	rv_lws_link_unlink(&w->dirty);
	w->deleted = 1;
	/* lws closes the fd later; remove it now, as our pointer goes. */
	if (w->registered)
		(void)epoll_ctl(ll->epfd, EPOLL_CTL_DEL, fd, NULL);
	rv_lws_fd_bury(ll, w);
}

static int rv_lws_sock_change(struct rv_lws_loop *ll, struct lws *wsi,
			      const struct lws_pollargs *pa)
{
	struct rv_loop_fd *w = rv_lws_sock_find(ll, pa->fd);

	if (w == NULL)
		return RV_OK;
	w->lws_events = (short)pa->events;
	if (!(pa->events & LWS_POLLOUT)) {
		if (pa->prev_events & LWS_POLLOUT)
			w->out_clears++;
		rv_lws_link_unlink(&w->fake);
		if (w->seen)
			w->out_real = 0; /* the next request may be faked */
	} else if (!(pa->prev_events & LWS_POLLOUT)) {
		if (w->in_out || (wsi != NULL && lws_is_ssl(wsi)))
			/* More right after a write (bulk): wait until the
			 * socket has room, so a message is not split into a
			 * partial write and a copy lws holds.  TLS: a partial
			 * record stays in mbedTLS as well (measured: a round
			 * trip beside a wss upload took 1.7x as long). */
			w->out_real = 1;
		else if (!w->out_real)
			rv_lws_link_push(&ll->fake, &w->fake);
	}
	/* Before the next wait: lws drops POLLOUT and asks again within one
	 * WRITEABLE, which costs no epoll_ctl this way. */
	rv_lws_dirty_mark(ll, w);
	return RV_OK;
}

/* Delivers the POLLOUTs owed.  Those that lws asks for meanwhile wait for
 * the next pass, after its epoll_wait. */
static void rv_lws_fake_run(struct rv_lws_loop *ll)
{
	struct rv_lws_link *run = ll->fake, *l;

	if (run == NULL)
		return;
	ll->fake = NULL;
	for (l = run; l != NULL; l = l->next)
		l->home = &run;
	ll->batch++;
	while (run != NULL) {
		struct rv_loop_fd *w = RV_CONTAINER_OF(run, struct rv_loop_fd, fake);
		unsigned clears = w->out_clears;

		rv_lws_link_unlink(&w->fake);
		if (w->deleted || !(w->lws_events & LWS_POLLOUT) || w->out_real)
			continue;
		rv_lws_sock_service(ll, w, LWS_POLLOUT);
		if (!w->deleted && w->out_clears == clears && (w->lws_events & LWS_POLLOUT)) {
			/* lws could not write (buffered): wait for the socket */
			w->out_real = 1;
			rv_lws_dirty_mark(ll, w);
		}
	}
	if (--ll->batch == 0)
		rv_lws_fd_reap(ll);
}

int rv_lws_loop_poll_reason(struct lws *wsi, enum lws_callback_reasons reason, void *in)
{
	struct rv_lws_loop *ll = rv_lws_loop_the;
	const struct lws_pollargs *pa = in;
	int rc;

	switch (reason) {
	case LWS_CALLBACK_ADD_POLL_FD:
		if (ll == NULL)
			return 0;
		rc = rv_lws_sock_add(ll, pa);
		if (rc < 0)
			rv_log_error("loop: cannot watch lws's fd %d: %s", pa->fd, rv_err_str(rc));
		return rc < 0 ? -1 : 0;
	case LWS_CALLBACK_DEL_POLL_FD:
		if (ll != NULL)
			rv_lws_sock_del(ll, pa->fd);
		return 0;
	case LWS_CALLBACK_CHANGE_MODE_POLL_FD:
		if (ll == NULL)
			return 0;
		return rv_lws_sock_change(ll, wsi, pa) < 0 ? -1 : 0;
	default:
		return 0;
	}
}

int rv_lws_loop_protocol_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user,
			    void *in, size_t len)
{
	(void)user;
	(void)len;
	return rv_lws_loop_poll_reason(wsi, reason, in);
}

/* ---- one pass ---------------------------------------------------------------- */

static void rv_lws_loop_dispatch(struct rv_lws_loop *ll, struct epoll_event *evs, int n)
{
	int i;

	ll->batch++;
	for (i = 0; i < n; i++) {
		int fd = evs[i].data.fd;
		struct rv_loop_fd *w;
		unsigned ev;

		if (fd == ll->wakefd) {
			uint64_t v;

			while (read(ll->wakefd, &v, sizeof(v)) > 0)
				;
			continue;
		}
		/* The fd's owner now: after a hand-over, the new watcher (for
		 * whom this level-triggered readiness holds as well). */
		w = rv_lws_fd_find(ll, fd);
		if (w == NULL || w->deleted)
			continue;
		if (w->kind == RV_LWS_FD_LWS) {
			rv_lws_sock_ready(ll, w, evs[i].events);
			continue;
		}
		ev = rv_lws_revents(evs[i].events, w->events);
		if ((ev & ~(unsigned)RV_LOOP_ERROR) == 0)
			continue;
		w->cb(w, w->fd, ev, w->arg);
	}
	if (--ll->batch == 0)
		rv_lws_fd_reap(ll);
}

int rv_lws_loop_service(struct rv_loop *loop, int max_ms)
{
	struct rv_lws_loop *ll = rv_lws_loop_of(loop);
	struct epoll_event evs[RV_LWS_LOOP_BATCH];
	int timeout, n;

	if (ll->ctx == NULL)
		return RV_ERR_STATE;
	/* Runs the ripe timers (lws's and ours), then says how long we may
	 * wait: 0 also when lws holds input to hand on (TLS records already
	 * read, rx it buffered while flow-controlled), which its own service
	 * pass delivers. */
	timeout = lws_service_adjust_timeout(ll->ctx, RV_LWS_LOOP_WAIT_MAX_MS, 0);
	if (timeout == 0 && lws_service_tsi(ll->ctx, -1, 0) < 0)
		return RV_ERR_IO;
	if (max_ms >= 0 && max_ms < timeout)
		timeout = max_ms;
	if (ll->fake != NULL)
		timeout = 0;
	rv_lws_dirty_flush(ll);
	n = epoll_wait(ll->epfd, evs, RV_LWS_LOOP_BATCH, timeout);
	if (n < 0) {
		if (errno == EINTR)
			return RV_OK;
		rv_log_error("loop: epoll_wait: %s", strerror(errno));
		return RV_ERR_IO;
	}
	if (n > 0)
		rv_lws_loop_dispatch(ll, evs, n);
	rv_lws_fake_run(ll);
	/* Timers that ripened meanwhile run before the pass returns, so what
	 * they change (a stop flag) is seen by the caller at once. */
	(void)lws_service_adjust_timeout(ll->ctx, RV_LWS_LOOP_WAIT_MAX_MS, 0);
	return RV_OK;
}

void rv_lws_loop_wake(struct rv_loop *loop)
{
	struct rv_lws_loop *ll;
	uint64_t one = 1;

	if (loop == NULL)
		return;
	ll = rv_lws_loop_of(loop);
	/* async-signal-safe; a full counter is a pending wake already */
	if (write(ll->wakefd, &one, sizeof(one)) < 0) {
	}
}

/* ---- fd watchers --------------------------------------------------------- */

static int rv_lws_loop_fd_add(struct rv_loop *loop, int fd, unsigned events, rv_loop_fd_cb cb,
			      void *arg, struct rv_loop_fd **out)
{
	struct rv_lws_loop *ll = rv_lws_loop_of(loop);
	struct rv_loop_fd *w, *old;
	int rc;

	if (fd < 0 || fd == ll->wakefd || cb == NULL || out == NULL)
		return RV_ERR_INVALID_ARG;
	if ((rc = rv_lws_fd_room(ll, fd)) < 0)
		return rc;
	old = ll->by_fd[fd];
	if (old != NULL && old->kind != RV_LWS_FD_WATCHER)
		return RV_ERR_STATE; /* lws's socket */
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return RV_ERR_NOMEM;
	w->obj.loop = loop;
	w->ll = ll;
	w->kind = RV_LWS_FD_WATCHER;
	w->fd = fd;
	w->cb = cb;
	w->arg = arg;
	w->events = events & (RV_LOOP_READ | RV_LOOP_WRITE);
	if (old != NULL) {
		/* Hand-over: the registration moves, no epoll_ctl now. */
		w->registered = old->registered;
		w->ep = old->ep;
		old->registered = 0;
		old->ep = 0;
		old->detached = 1;
		rv_lws_link_unlink(&old->dirty);
		if (rv_lws_fd_want(w) != w->ep || !w->registered)
			rv_lws_dirty_mark(ll, w);
	} else {
		rc = rv_lws_fd_apply(w); /* at once: the caller learns of a bad fd */
		if (rc < 0) {
			free(w);
			return rc;
		}
	}
	ll->by_fd[fd] = w;
	w->next = ll->fds;
	if (ll->fds != NULL)
		ll->fds->prev = w;
	ll->fds = w;
	*out = w;
	return RV_OK;
}

static int rv_lws_loop_fd_set_events(struct rv_loop_fd *w, unsigned events)
{
	if (w->deleted)
		return RV_ERR_STATE;
	events &= RV_LOOP_READ | RV_LOOP_WRITE;
	if (events == w->events)
		return RV_OK;
	w->events = events;
	if (!w->detached)
		rv_lws_dirty_mark(w->ll, w);
	return RV_OK;
}

static void rv_lws_loop_fd_del(struct rv_loop_fd *w)
{
	struct rv_lws_loop *ll = w->ll;

	if (w->deleted)
		return;
	w->deleted = 1;
	rv_lws_link_unlink(&w->dirty);
	/* Now, before the owner closes the fd. */
	if (w->registered) {
		w->events = 0;
		(void)rv_lws_fd_apply(w);
	}
	if (!w->detached && rv_lws_fd_find(ll, w->fd) == w)
		ll->by_fd[w->fd] = NULL;
	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		ll->fds = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	rv_lws_fd_bury(ll, w);
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
	if (ll->ctx == NULL)
		return RV_ERR_STATE; /* timers are lws suls: attach first */
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
	.now_us = rv_lws_loop_now_us,
};

static void rv_lws_loop_on_idle(lws_sorted_usec_list_t *sul)
{
	struct rv_lws_loop *ll = RV_CONTAINER_OF(sul, struct rv_lws_loop, sul_idle);

	lws_sul_schedule(ll->ctx, 0, &ll->sul_idle, rv_lws_loop_on_idle,
			 (lws_usec_t)RV_LWS_LOOP_IDLE_S * LWS_US_PER_SEC);
}

int rv_lws_loop_new(struct rv_loop **out)
{
	struct rv_lws_loop *ll;
	struct epoll_event ev;
	int rc = RV_ERR_IO;

	if (out == NULL)
		return RV_ERR_INVALID_ARG;
	if (rv_lws_loop_the != NULL)
		return RV_ERR_STATE;
	ll = calloc(1, sizeof(*ll));
	if (ll == NULL)
		return RV_ERR_NOMEM;
	ll->wakefd = -1;
	ll->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (ll->epfd < 0)
		goto fail;
	ll->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ll->wakefd < 0)
		goto fail;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.fd = ll->wakefd;
	if (epoll_ctl(ll->epfd, EPOLL_CTL_ADD, ll->wakefd, &ev) < 0)
		goto fail;
	ll->loop.ops = &rv_lws_loop_ops;
	ll->loop.impl = ll;
	rv_lws_loop_the = ll;
	*out = &ll->loop;
	return RV_OK;
fail:
	rc = errno == EMFILE || errno == ENFILE || errno == ENOMEM ? RV_ERR_LIMIT : RV_ERR_IO;
	rv_log_error("loop: cannot create the epoll set: %s", strerror(errno));
	if (ll->wakefd >= 0)
		close(ll->wakefd);
	if (ll->epfd >= 0)
		close(ll->epfd);
	free(ll);
	return rc;
}

int rv_lws_loop_attach(struct rv_loop *loop, struct lws_context *ctx)
{
	struct rv_lws_loop *ll;

	if (loop == NULL || ctx == NULL)
		return RV_ERR_INVALID_ARG;
	ll = rv_lws_loop_of(loop);
	if (ll->ctx != NULL)
		return RV_ERR_STATE;
	ll->ctx = ctx;
	/* lws_service_adjust_timeout() reads "no timer at all" as "due now";
	 * one sul always pending keeps an idle loop asleep. */
	rv_lws_loop_on_idle(&ll->sul_idle);
	return RV_OK;
}

void rv_lws_loop_free(struct rv_loop *loop)
{
	struct rv_lws_loop *ll;
	size_t i;

	if (loop == NULL)
		return;
	ll = rv_lws_loop_of(loop);
	while (ll->fds != NULL)
		rv_lws_loop_fd_del(ll->fds);
	while (ll->timers != NULL)
		rv_lws_loop_timer_free(ll->timers);
	if (ll->ctx != NULL)
		lws_sul_cancel(&ll->sul_idle);
	/* lws's sockets: lws closes them (and reports nothing to us now). */
	for (i = 0; i < ll->cap; i++)
		if (ll->by_fd[i] != NULL)
			rv_lws_sock_del(ll, (int)i);
	rv_lws_fd_reap(ll);
	free(ll->by_fd);
	close(ll->wakefd);
	close(ll->epfd);
	if (rv_lws_loop_the == ll)
		rv_lws_loop_the = NULL;
	free(ll);
}
