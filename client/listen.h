/* listen.h - rvpn-client's -D and -L listening sockets (owner: client
 * helper).  Accepted sockets go to conn.c. */
#ifndef RV_CLIENT_LISTEN_H
#define RV_CLIENT_LISTEN_H

#include "client.h"

/* Opens every -D and -L listener; on failure logs which one and why. */
int rv_listeners_open(struct rv_client *cl);
void rv_listeners_close(struct rv_client *cl);

#endif
