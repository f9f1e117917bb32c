/* rv_loop_poll.c - rv_loop.h over poll(2).  See rv_loop_poll.h.
 *
 * Deletion during dispatch: deleted watchers/timers are unlinked at once and
 * parked on a graveyard list, freed at the end of rv_loop_poll_run_once()
 * (the dispatch pass may still hold pointers to them).
 */
#include "rv_loop_poll.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <time.h>

#include "rv_err.h"
#include "rv_log.h"

struct rv_loop_fd {
	struct rv_loop_obj obj; /* first: see rv_loop.h */
	int fd;
	unsigned events;
	rv_loop_fd_cb cb;
	void *arg;
	int deleted;
	struct rv_loop_fd *next;
};

struct rv_loop_timer {
	struct rv_loop_obj obj; /* first: see rv_loop.h */
	rv_loop_timer_cb cb;
	void *arg;
	uint64_t due;
	int armed;
	int deleted;
	int fire;              /* selected in the current pass */
	struct rv_loop_timer *next;
};

struct rv_loop_poll {
	struct rv_loop loop;
	struct rv_loop_fd *fds;          /* live watchers */
	struct rv_loop_timer *timers;    /* live timers */
	struct rv_loop_fd *dead_fds;     /* deleted, freed after dispatch */
	struct rv_loop_timer *dead_timers;
	size_t nfds;
	struct pollfd *pfd;              /* scratch arrays for one pass */
	struct rv_loop_fd **pw;
	size_t pcap;
};

static struct rv_loop_poll *rv_loop_poll_of(struct rv_loop *loop)
{
	return loop->impl;
}

static uint64_t rv_loop_poll_now_ms(struct rv_loop *loop)
{
	struct timespec ts;

	(void)loop;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t rv_loop_poll_now_us(struct rv_loop *loop)
{
	struct timespec ts;

	(void)loop;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int rv_loop_poll_fd_add(struct rv_loop *loop, int fd, unsigned events, rv_loop_fd_cb cb,
			       void *arg, struct rv_loop_fd **out)
{
	struct rv_loop_poll *p = rv_loop_poll_of(loop);
	struct rv_loop_fd *w;

	if (fd < 0 || cb == NULL || out == NULL)
		return RV_ERR_INVALID_ARG;
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return RV_ERR_NOMEM;
	w->obj.loop = loop;
	w->fd = fd;
	w->events = events & (RV_LOOP_READ | RV_LOOP_WRITE);
	w->cb = cb;
	w->arg = arg;
	w->next = p->fds;
	p->fds = w;
	p->nfds++;
	*out = w;
	return RV_OK;
}

static int rv_loop_poll_fd_set_events(struct rv_loop_fd *w, unsigned events)
{
	if (w->deleted)
		return RV_ERR_STATE;
	w->events = events & (RV_LOOP_READ | RV_LOOP_WRITE);
	return RV_OK;
}

static void rv_loop_poll_fd_del(struct rv_loop_fd *w)
{
	struct rv_loop_poll *p = rv_loop_poll_of(w->obj.loop);
	struct rv_loop_fd **pp;

	if (w->deleted)
		return;
	for (pp = &p->fds; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	}
	p->nfds--;
	w->deleted = 1;
	w->next = p->dead_fds;
	p->dead_fds = w;
}

static int rv_loop_poll_timer_new(struct rv_loop *loop, rv_loop_timer_cb cb, void *arg,
				  struct rv_loop_timer **out)
{
	struct rv_loop_poll *p = rv_loop_poll_of(loop);
	struct rv_loop_timer *t;

	if (cb == NULL || out == NULL)
		return RV_ERR_INVALID_ARG;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return RV_ERR_NOMEM;
	t->obj.loop = loop;
	t->cb = cb;
	t->arg = arg;
	t->next = p->timers;
	p->timers = t;
	*out = t;
	return RV_OK;
}

static void rv_loop_poll_timer_set(struct rv_loop_timer *t, uint64_t delay_ms)
{
	if (t->deleted)
		return;
	t->due = rv_loop_poll_now_ms(t->obj.loop) + delay_ms;
	t->armed = 1;
	t->fire = 0; /* re-armed: not part of the current pass any more */
}

static void rv_loop_poll_timer_stop(struct rv_loop_timer *t)
{
	t->armed = 0;
	t->fire = 0;
}

static void rv_loop_poll_timer_free(struct rv_loop_timer *t)
{
	struct rv_loop_poll *p = rv_loop_poll_of(t->obj.loop);
	struct rv_loop_timer **pp;

	if (t->deleted)
		return;
	for (pp = &p->timers; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	}
	t->deleted = 1;
	t->armed = 0;
	t->fire = 0;
	t->next = p->dead_timers;
	p->dead_timers = t;
}

static const struct rv_loop_ops rv_loop_poll_ops = {
	.fd_add = rv_loop_poll_fd_add,
	.fd_set_events = rv_loop_poll_fd_set_events,
	.fd_del = rv_loop_poll_fd_del,
	.timer_new = rv_loop_poll_timer_new,
	.timer_set = rv_loop_poll_timer_set,
	.timer_stop = rv_loop_poll_timer_stop,
	.timer_free = rv_loop_poll_timer_free,
	.now_ms = rv_loop_poll_now_ms,
	.now_us = rv_loop_poll_now_us,
};

int rv_loop_poll_new(struct rv_loop **out)
{
	struct rv_loop_poll *p;

	if (out == NULL)
		return RV_ERR_INVALID_ARG;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return RV_ERR_NOMEM;
	p->loop.ops = &rv_loop_poll_ops;
	p->loop.impl = p;
	*out = &p->loop;
	return RV_OK;
}

static void rv_loop_poll_reap(struct rv_loop_poll *p)
{
	while (p->dead_fds != NULL) {
		struct rv_loop_fd *w = p->dead_fds;

		p->dead_fds = w->next;
		free(w);
	}
	while (p->dead_timers != NULL) {
		struct rv_loop_timer *t = p->dead_timers;

		p->dead_timers = t->next;
		free(t);
	}
}

void rv_loop_poll_free(struct rv_loop *loop)
{
	struct rv_loop_poll *p;

	if (loop == NULL)
		return;
	p = rv_loop_poll_of(loop);
	while (p->fds != NULL)
		rv_loop_poll_fd_del(p->fds);
	while (p->timers != NULL)
		rv_loop_poll_timer_free(p->timers);
	rv_loop_poll_reap(p);
	free(p->pfd);
	free(p->pw);
	free(p);
}

static int rv_loop_poll_grow(struct rv_loop_poll *p, size_t n)
{
	struct pollfd *pfd;
	struct rv_loop_fd **pw;
	size_t cap = p->pcap < 16 ? 16 : p->pcap;

	if (n <= p->pcap)
		return RV_OK;
	while (cap < n)
		cap *= 2;
	pfd = realloc(p->pfd, cap * sizeof(*pfd));
	if (pfd == NULL)
		return RV_ERR_NOMEM;
	p->pfd = pfd;
	pw = realloc(p->pw, cap * sizeof(*pw));
	if (pw == NULL)
		return RV_ERR_NOMEM;
	p->pw = pw;
	p->pcap = cap;
	return RV_OK;
}

/* Milliseconds until the earliest armed timer, or -1 if none. */
static int64_t rv_loop_poll_next_timer(struct rv_loop_poll *p, uint64_t now)
{
	struct rv_loop_timer *t;
	int64_t best = -1;

	for (t = p->timers; t != NULL; t = t->next) {
		int64_t d;

		if (!t->armed)
			continue;
		d = t->due <= now ? 0 : (int64_t)(t->due - now);
		if (best < 0 || d < best)
			best = d;
	}
	return best;
}

static int rv_loop_poll_run_timers(struct rv_loop_poll *p, uint64_t now)
{
	struct rv_loop_timer *t;
	int ran = 0, again = 1;

	/* Select first, then fire: a timer re-armed (even with delay 0) by a
	 * callback waits for the next pass, so this loop always ends. */
	for (t = p->timers; t != NULL; t = t->next)
		t->fire = t->armed && t->due <= now;
	while (again) {
		again = 0;
		for (t = p->timers; t != NULL; t = t->next) {
			if (!t->fire)
				continue;
			t->fire = 0;
			t->armed = 0;
			t->cb(t, t->arg);
			ran++;
			again = 1; /* the list may have changed: rescan */
			break;
		}
	}
	return ran;
}

static unsigned rv_loop_poll_revents(short re, unsigned want)
{
	unsigned ev = 0;

	if ((re & POLLIN) != 0)
		ev |= RV_LOOP_READ;
	if ((re & POLLOUT) != 0)
		ev |= RV_LOOP_WRITE;
	if ((re & (POLLERR | POLLNVAL | POLLHUP)) != 0) {
		ev |= RV_LOOP_ERROR;
		/* A hung-up fd is readable (EOF) and, for error reporting,
		 * writable: let the callback's read/write find out. */
		ev |= want & (RV_LOOP_READ | RV_LOOP_WRITE);
	}
	return ev & (want | RV_LOOP_ERROR);
}

int rv_loop_poll_run_once(struct rv_loop *loop, int timeout_ms)
{
	struct rv_loop_poll *p;
	struct rv_loop_fd *w;
	size_t n = 0, i;
	int64_t next;
	uint64_t now;
	int rc, ran = 0, timeout;

	if (loop == NULL)
		return RV_ERR_INVALID_ARG;
	p = rv_loop_poll_of(loop);
	rc = rv_loop_poll_grow(p, p->nfds);
	if (rc < 0)
		return rc;
	/* Watchers with no interest are not polled: a hung-up fd nobody
	 * wants to read would otherwise spin the loop. */
	for (w = p->fds; w != NULL; w = w->next) {
		if (w->events == 0)
			continue;
		p->pfd[n].fd = w->fd;
		p->pfd[n].events = (short)(((w->events & RV_LOOP_READ) ? POLLIN : 0) |
					   ((w->events & RV_LOOP_WRITE) ? POLLOUT : 0));
		p->pfd[n].revents = 0;
		p->pw[n] = w;
		n++;
	}
	now = rv_loop_poll_now_ms(loop);
	next = rv_loop_poll_next_timer(p, now);
	timeout = timeout_ms;
	if (next >= 0 && (timeout < 0 || next < timeout))
		timeout = next > 60000 ? 60000 : (int)next;
	rc = poll(p->pfd, (nfds_t)n, timeout);
	if (rc < 0 && errno != EINTR) {
		rv_log_error("poll: %m");
		return RV_ERR_IO;
	}
	ran += rv_loop_poll_run_timers(p, rv_loop_poll_now_ms(loop));
	for (i = 0; rc > 0 && i < n; i++) {
		unsigned ev;

		w = p->pw[i];
		if (p->pfd[i].revents == 0 || w->deleted)
			continue;
		ev = rv_loop_poll_revents(p->pfd[i].revents, w->events);
		if (ev == 0)
			continue;
		w->cb(w, w->fd, ev, w->arg);
		ran++;
	}
	rv_loop_poll_reap(p);
	return ran;
}

int rv_loop_poll_run_until(struct rv_loop *loop, int (*pred)(void *arg), void *arg,
			   uint32_t max_ms)
{
	uint64_t start, now;
	int rc;

	if (loop == NULL || pred == NULL)
		return RV_ERR_INVALID_ARG;
	start = rv_loop_poll_now_ms(loop);
	for (;;) {
		if (pred(arg))
			return RV_OK;
		now = rv_loop_poll_now_ms(loop);
		if (now - start >= max_ms)
			return RV_ERR_TIMEOUT;
		rc = rv_loop_poll_run_once(loop, (int)(max_ms - (now - start)));
		if (rc < 0)
			return rc;
	}
}
