/* lws_loop.h - rv_loop.h over libwebsockets 4.1.6 (production loop of
 * rvpn-client and rvpn-server): the rest of common/ watches fds and timers
 * through struct rv_loop while lws runs the one event loop.
 *
 * Set-up (owner: the program's main):
 *   1. put RV_LWS_LOOP_PROTOCOL into the protocol list of the vhost that
 *      will own the watched fds (before creating the vhost);
 *   2. rv_lws_loop_new(context, vhost, &loop) after creating it;
 *   3. run lws_service() as usual; free every session/object that uses
 *      the loop, then rv_lws_loop_free(), then lws_context_destroy().
 *
 * How it maps (see lws_loop.c for the reasons):
 *   - fds: one epoll set of the loop's, level-triggered; lws polls only the
 *     epoll descriptor (adopted as one raw file on RV_LWS_LOOP_PROTOCOL_NAME)
 *     and a readable epoll set runs the ready watchers.  The caller's fd is
 *     never adopted, dup()ed or closed: a watcher costs no descriptor and
 *     no wsi, and a service pass costs O(ready fds), not O(watched fds).
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

#define RV_LWS_LOOP_PROTOCOL_NAME "rvpn-loop-raw"

int rv_lws_loop_protocol_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user,
			    void *in, size_t len);

/* An entry for the vhost's struct lws_protocols array. */
#define RV_LWS_LOOP_PROTOCOL \
	{ RV_LWS_LOOP_PROTOCOL_NAME, rv_lws_loop_protocol_cb, 0, 0, 0, NULL, 0 }

int rv_lws_loop_new(struct lws_context *ctx, struct lws_vhost *vh, struct rv_loop **out);
/* Cancels timers and releases watchers still registered (never closes the
 * callers' fds).  NULL safe.  Call before lws_context_destroy(). */
void rv_lws_loop_free(struct rv_loop *loop);

#endif
