/* lws_loop.h - rv_loop.h over libwebsockets 4.1.6 (production loop of
 * rvpn-client and rvpn-server): the rest of common/ watches fds and timers
 * through struct rv_loop, and this loop also runs lws.
 *
 * Set-up (owner: the program's main; one loop per process):
 *   1. rv_lws_loop_new(&loop) before lws_create_context(): lws reports
 *      each socket it opens (lws built with LWS_WITH_EXTERNAL_POLL);
 *   2. the callback of every vhost's protocols[0] passes those reports on:
 *      it returns rv_lws_loop_poll_reason() for the reasons that
 *      RV_LWS_LOOP_IS_POLL_REASON() names (or RV_LWS_LOOP_PROTOCOL is
 *      protocols[0]);
 *   3. rv_lws_loop_attach(loop, context) once the context exists (timers
 *      need it);
 *   4. call rv_lws_loop_service() in place of lws_service();
 *   5. free every object that uses the loop, then rv_lws_loop_free(), then
 *      lws_context_destroy().
 *
 * How it maps (see lws_loop.c for the reasons):
 *   - fds: one epoll set, level-triggered, holding the watchers' fds and
 *     lws's sockets.  The caller's fd is never adopted, dup()ed or closed:
 *     a watcher costs no descriptor and no wsi, and a pass costs O(ready
 *     fds), not O(watched fds).
 *   - a hung-up fd reports interest | RV_LOOP_ERROR while interest remains
 *     (the owner reads what is left, then EOF or the error); with interest
 *     0 it is not watched at all.
 *   - timers: lws_sul on service thread 0; now_ms from lws_now_usecs()
 *     (CLOCK_MONOTONIC).
 * Single service thread only.
 */
#ifndef LWS_LOOP_H
#define LWS_LOOP_H

#include <libwebsockets.h>

#include "rv_loop.h"

#define RV_LWS_LOOP_PROTOCOL_NAME "rvpn-loop"

#define RV_LWS_LOOP_IS_POLL_REASON(r)                                            \
	((r) == LWS_CALLBACK_ADD_POLL_FD || (r) == LWS_CALLBACK_DEL_POLL_FD || \
	 (r) == LWS_CALLBACK_CHANGE_MODE_POLL_FD)

/* lws's socket reports (in: struct lws_pollargs); 0, or -1 to lws when the
 * socket cannot be watched. */
int rv_lws_loop_poll_reason(struct lws *wsi, enum lws_callback_reasons reason, void *in);

int rv_lws_loop_protocol_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user,
			    void *in, size_t len);

/* A protocols[0] that does nothing else. */
#define RV_LWS_LOOP_PROTOCOL \
	{ RV_LWS_LOOP_PROTOCOL_NAME, rv_lws_loop_protocol_cb, 0, 0, 0, NULL, 0 }

/* RV_ERR_STATE if this process has a loop already. */
int rv_lws_loop_new(struct rv_loop **out);
int rv_lws_loop_attach(struct rv_loop *loop, struct lws_context *ctx);
/* One pass: waits at most max_ms (< 0: until an event, a timer or a
 * wake), dispatches what is ready, then runs the timers that are due, so
 * whatever any callback changed is seen when it returns.  0, or a negative
 * RV_ERR_*. */
int rv_lws_loop_service(struct rv_loop *loop, int max_ms);
/* Ends the current or next wait early.  Async-signal-safe. */
void rv_lws_loop_wake(struct rv_loop *loop);
/* Cancels timers and releases watchers still registered (never closes the
 * callers' fds).  NULL safe.  Call before lws_context_destroy(). */
void rv_lws_loop_free(struct rv_loop *loop);

#endif
