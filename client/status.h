/* status.h - rvpn-client's live status (status.c): the control socket and
 * the optional metrics listener, answering from the client's state.
 * client.c opens it once the tunnel exists and closes it before freeing
 * the tunnel. */
#ifndef RV_CLIENT_STATUS_H
#define RV_CLIENT_STATUS_H

struct rv_client;
struct rv_client_status;

/* cl is borrowed.  0 or RV_ERR_* (message logged; RV_ERR_LIMIT: another
 * instance runs on the same control socket). */
int rv_client_status_open(struct rv_client *cl, struct rv_client_status **out);
/* NULL safe. */
void rv_client_status_close(struct rv_client_status *st);

#endif
