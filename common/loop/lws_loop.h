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
 *   - fds: lws adopts a dup() of the caller's fd as a raw file
 *     (LWS_ADOPT_RAW_FILE_DESC) on RV_LWS_LOOP_PROTOCOL_NAME.  lws closes
 *     the descriptors it adopted (and on a failed adoption); the dup keeps
 *     the caller's fd untouched, as rv_loop.h requires.  Each watcher thus
 *     costs one extra descriptor, released one service iteration after
 *     rv_loop_fd_del().
 *   - READ interest = lws_rx_flow_control(); WRITE interest =
 *     lws_callback_on_writable(), re-armed after every WRITEABLE while WRITE
 *     stays set (level-triggered, as rv_loop.h promises).
 *   - lws closes a raw-file wsi by itself on POLLHUP without POLLIN (peer
 *     gone while we were not reading); the watcher then reports its
 *     interest | RV_LOOP_ERROR on every iteration while interest remains
 *     (a hung-up fd stays ready), so the owner reads what is left, then EOF or
 *     the error.
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
