/* server.h - the rvpn-server process: one lws context, one vhost serving an
 * ordinary-looking HTTP site with the WebSocket on one path, and the
 * process-wide pieces every connection shares (keys, authorized keys, DNS,
 * access rules, pool).  The server owns all of them. */
#ifndef RV_SERVER_H
#define RV_SERVER_H

#include "options.h"

struct rv_authkeys;
struct rv_worker;

/* Runs until SIGTERM/SIGINT (then drains) or a fatal error.  0 on a clean
 * shutdown.  With opts->workers > 1 this process supervises that many
 * workers (supervise.c). */
int rv_server_run(struct rv_server_opts *opts);
/* One worker (w borrowed: its channel, the shared listening socket and
 * memory), or the single process when w is NULL. */
int rv_server_run_worker(struct rv_server_opts *opts, struct rv_worker *w);
/* supervise.c: the supervisor of opts->workers workers. */
int rv_server_supervise(struct rv_server_opts *opts);
/* --state-dir: replay floors in STATE_DIR/replay-state (message logged). */
int rv_server_setup_replay_state(const struct rv_server_opts *opts, struct rv_authkeys *ak);
/* listen.c: binds and listens on opts->listen (message logged). */
int rv_server_listen_bind(const struct rv_server_opts *o, int *out);

#endif
