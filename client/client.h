/* client.h - rvpn-client run loop (owner: client helper). */
#ifndef RV_CLIENT_H
#define RV_CLIENT_H

#include "options.h"

/* Runs until SIGINT/SIGTERM; 0 on a clean exit, negative RV_ERR_* if the
 * client could not start (listen, lws context). */
int rv_client_run(const struct rv_client_opts *opts);

#endif
