/* server.h - the rvpn-server process: one lws context, one vhost serving an
 * ordinary-looking HTTP site with the WebSocket on one path, and the
 * process-wide pieces every connection shares (keys, authorized keys, DNS,
 * access rules, pool).  The server owns all of them. */
#ifndef RV_SERVER_H
#define RV_SERVER_H

#include "options.h"

/* Runs until SIGTERM/SIGINT (then drains) or a fatal error.  0 on a clean
 * shutdown. */
int rv_server_run(struct rv_server_opts *opts);

#endif
