/* status.h - rvpn-server's live status (status.c): the control socket and
 * the optional metrics listener, answering from the server's state.
 *
 * Two steps: collect (one process's state into a flat snapshot,
 * status_snap.h) and format (one or many snapshots into the answer).  The
 * single process opens with rv_server_status_open (server.c, once the
 * server is set up; closed before tearing that state down); a supervisor
 * opens with rv_server_status_open_gather and hands in its workers'
 * snapshots. */
#ifndef RV_SERVER_STATUS_H
#define RV_SERVER_STATUS_H

#include <stddef.h>
#include <stdint.h>

#include "rv_buf.h"
#include "rv_ctl.h"
#include "rv_loop.h"
#include "server_int.h"
#include "status_snap.h"

struct rv_server;
struct rv_server_opts;
struct rv_server_status;

/* What the answer says beside the snapshots. */
/* One worker process, as the supervisor sees it. */
struct rv_server_status_worker {
	uint32_t index;
	int32_t pid;               /* 0 while it is being restarted */
	uint8_t running;           /* started and ready */
	uint64_t up_ms;            /* since its (re)start */
	uint32_t sessions;         /* authenticated sessions it holds */
	uint32_t restarts;         /* times it died and was started again */
};

enum { RV_SERVER_STATUS_HEAD_WORKERS = 64 };

struct rv_server_status_head {
	enum rv_server_state state;
	uint64_t uptime_ms;
	uint32_t workers;          /* 0 = single process */
	uint32_t n_worker_rows;    /* <= RV_SERVER_STATUS_HEAD_WORKERS */
	struct rv_server_status_worker worker_rows[RV_SERVER_STATUS_HEAD_WORKERS];
};

/* Fills *out from srv's live state (srv is only read).  out is large
 * (about 250 KB): heap or shared memory, never the stack. */
void rv_server_status_collect(const struct rv_server *srv, struct rv_server_snap *out);

/* Appends the answer to req (status, status json, metrics) over n
 * snapshots to out: counters and gauges summed, session rows concatenated
 * (at most RV_SERVER_STATUS_LIST_MAX listed, the rest counted).  n == 0
 * (no live worker) answers zeros.  Snapshots are untrusted: n_rows is
 * clamped, strings are bounded, each row is copied before use.  With one
 * snapshot and h->workers == 0 the answer is that of a single process;
 * workers > 0 adds the worker count (text, JSON, rvpn_workers).  o, h and
 * snaps are borrowed.  0 or RV_ERR_* (out's cap reached: out may hold part
 * of the answer; RV_ERR_INVALID_ARG: bad req or argument). */
int rv_server_status_format(const struct rv_server_opts *o, const struct rv_server_status_head *h,
			    const struct rv_server_snap *snaps, size_t n, enum rv_ctl_request req,
			    struct rv_buf *out);

/* Opens the control socket (opts->control) and, with --metrics, the
 * metrics listener.  srv is borrowed.  0 or RV_ERR_* (message logged;
 * RV_ERR_LIMIT: another instance runs). */
int rv_server_status_open(struct rv_server *srv, struct rv_server_status **out);

/* Supervisor mode: at most this many snapshots (~250 KB each). */
enum { RV_SERVER_STATUS_WORKERS_MAX = 1024 };

/* Supervisor mode: fills *h and up to max snapshots (one per live worker),
 * sets *n to how many; 0 or RV_ERR_* (the request then fails). */
typedef int (*rv_server_status_gather_cb)(void *arg, struct rv_server_status_head *h,
					  struct rv_server_snap *snaps, size_t max, size_t *n);
/* Supervisor mode: the same control socket and metrics listener as
 * rv_server_status_open, answering over what gather hands in.  loop, o and
 * arg are borrowed; the max_workers snapshots are allocated here, once.
 * 0 or RV_ERR_* (as rv_server_status_open; RV_ERR_INVALID_ARG: max_workers
 * is 0 or too large). */
int rv_server_status_open_gather(struct rv_loop *loop, const struct rv_server_opts *o,
				 size_t max_workers, rv_server_status_gather_cb gather, void *arg,
				 struct rv_server_status **out);
/* NULL safe. */
void rv_server_status_close(struct rv_server_status *st);

#endif
