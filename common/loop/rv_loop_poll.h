/* rv_loop_poll.h - rv_loop.h over poll(2): for unit tests and as a simple
 * fallback.  Single-threaded.  Watcher and timer objects are allocated by
 * the loop; rv_loop_poll_free() frees any still registered (it never closes
 * fds).  Deleting watchers/timers from inside callbacks is safe: deleted
 * objects are unlinked at once and freed after the dispatch pass.
 */
#ifndef RV_LOOP_POLL_H
#define RV_LOOP_POLL_H

#include <stdint.h>

#include "rv_loop.h"

int rv_loop_poll_new(struct rv_loop **out);
void rv_loop_poll_free(struct rv_loop *loop);

/* One iteration: wait up to timeout_ms (-1: until the next timer or fd
 * event; 0: don't block), then dispatch expired timers and ready fds.
 * Returns the number of callbacks run, or a negative RV_ERR_*. */
int rv_loop_poll_run_once(struct rv_loop *loop, int timeout_ms);

/* Iterate until pred(arg) returns non-zero (checked before each
 * iteration) or max_ms of loop time passed.  Returns 0 when pred became
 * true, RV_ERR_TIMEOUT otherwise, or a negative error from run_once. */
int rv_loop_poll_run_until(struct rv_loop *loop, int (*pred)(void *arg), void *arg,
			   uint32_t max_ms);

#endif
