/* status.h - rvpn-server's live status (status.c): the control socket and
 * the optional metrics listener, answering from the server's state.
 * server.c opens it once the server is set up and closes it before
 * tearing that state down. */
#ifndef RV_SERVER_STATUS_H
#define RV_SERVER_STATUS_H

struct rv_server;
struct rv_server_status;

/* Opens the control socket (opts->control) and, with --metrics, the
 * metrics listener.  srv is borrowed.  0 or RV_ERR_* (message logged;
 * RV_ERR_LIMIT: another instance runs). */
int rv_server_status_open(struct rv_server *srv, struct rv_server_status **out);
/* NULL safe. */
void rv_server_status_close(struct rv_server_status *st);

#endif
