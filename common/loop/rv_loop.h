/* rv_loop.h - the event loop as seen by common/ code.
 *
 * common/ never calls libwebsockets directly: DNS, connects, pooling and
 * stream relaying watch file descriptors and timers through this interface.
 * Two implementations exist: lws_loop.c (production: an epoll set that
 * also runs lws, and lws_sul timers) and rv_loop_poll.c (tests and the
 * server's supervisor, over poll(2)).
 *
 * Watchers are level-triggered: while RV_LOOP_READ (WRITE) is in the mask
 * and the fd is readable (writable), the callback runs on each iteration.
 * Ownership: the caller owns the fd (the loop never closes it) and must call
 * rv_loop_fd_del() before closing it.  Watchers and timers are allocated by
 * the loop and freed by rv_loop_fd_del()/rv_loop_timer_free() (NULL safe).
 * A callback may delete its own watcher or timer, or any other.
 * Hand-over: an owner passing its fd on may let the new owner add its
 * watcher first and delete its own after, within one callback; from that
 * add, only the newest watcher of the fd reports (lws_loop moves the fd's registration instead
 * of removing and re-adding it).
 * rv_loop_fd_set_events() may take effect at the loop's next wait (a
 * callback still sees only the events of its current mask).
 */
#ifndef RV_LOOP_H
#define RV_LOOP_H

#include <stdint.h>

enum rv_loop_events {
	RV_LOOP_READ = 0x1,
	RV_LOOP_WRITE = 0x2,
	RV_LOOP_ERROR = 0x4, /* reported only: POLLERR/POLLHUP/POLLNVAL */
};

struct rv_loop;
struct rv_loop_fd;
struct rv_loop_timer;

typedef void (*rv_loop_fd_cb)(struct rv_loop_fd *w, int fd, unsigned revents, void *arg);
typedef void (*rv_loop_timer_cb)(struct rv_loop_timer *t, void *arg);

struct rv_loop_ops {
	int (*fd_add)(struct rv_loop *loop, int fd, unsigned events, rv_loop_fd_cb cb,
		      void *arg, struct rv_loop_fd **out);
	int (*fd_set_events)(struct rv_loop_fd *w, unsigned events);
	void (*fd_del)(struct rv_loop_fd *w);
	int (*timer_new)(struct rv_loop *loop, rv_loop_timer_cb cb, void *arg,
			 struct rv_loop_timer **out);
	void (*timer_set)(struct rv_loop_timer *t, uint64_t delay_ms); /* re-arms */
	void (*timer_stop)(struct rv_loop_timer *t);
	void (*timer_free)(struct rv_loop_timer *t);
	uint64_t (*now_ms)(struct rv_loop *loop); /* monotonic */
	uint64_t (*now_us)(struct rv_loop *loop); /* the same clock, finer */
};

struct rv_loop {
	const struct rv_loop_ops *ops;
	void *impl;
};

static inline int rv_loop_fd_add(struct rv_loop *l, int fd, unsigned ev, rv_loop_fd_cb cb,
				 void *arg, struct rv_loop_fd **out)
{
	return l->ops->fd_add(l, fd, ev, cb, arg, out);
}
int rv_loop_fd_set_events(struct rv_loop_fd *w, unsigned events);
void rv_loop_fd_del(struct rv_loop_fd *w);
static inline int rv_loop_timer_new(struct rv_loop *l, rv_loop_timer_cb cb, void *arg,
				    struct rv_loop_timer **out)
{
	return l->ops->timer_new(l, cb, arg, out);
}
void rv_loop_timer_set(struct rv_loop_timer *t, uint64_t delay_ms);
void rv_loop_timer_stop(struct rv_loop_timer *t);
void rv_loop_timer_free(struct rv_loop_timer *t);
static inline uint64_t rv_loop_now_ms(struct rv_loop *l)
{
	return l->ops->now_ms(l);
}
static inline uint64_t rv_loop_now_us(struct rv_loop *l)
{
	return l->ops->now_us(l);
}

/* Implementations put this header first in their watcher/timer structs so
 * the generic functions above can find the ops (NULL-safe dispatch). */
struct rv_loop_obj {
	struct rv_loop *loop;
};

#endif
