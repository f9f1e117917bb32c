/* rfwd.h - remote forwards on the client (rvpn-client -R; PROTOCOL.md
 * "Remote forwards"), owner: remote-forward helper.
 *
 * Each time a session comes up that agreed the feature, one LISTEN per -R
 * goes out (so the server's listeners come back after every reconnect);
 * the answers are logged, refusals clearly.  Each REMOTE_CONNECT is dialed
 * with rv_dial: a forward to its -R target (the user chose it), a dynamic
 * one to the SOCKS target the server relays, only if --remote-allow allows
 * that address (default: nothing).  Not offered by the server: one warning
 * per session, no LISTEN.
 *
 * Owner: client.c creates it (when -R is given) and frees it after the
 * tunnel (streams' dials are cancelled from on_stream_closed first).
 */
#ifndef RV_CLIENT_RFWD_H
#define RV_CLIENT_RFWD_H

#include <stdint.h>

#include "client.h"
#include "rv_frame.h"
#include "rv_session.h"
#include "rv_stream.h"

struct rv_client_rfwd;

int rv_client_rfwd_new(struct rv_client *cl, struct rv_client_rfwd **out);
void rv_client_rfwd_free(struct rv_client_rfwd *r); /* NULL safe */

/* Tunnel hooks (tunnel.c, wired in client.c). */
void rv_client_rfwd_on_session_up(struct rv_client *cl, struct rv_session *s, int agreed);
void rv_client_rfwd_on_listen(struct rv_client *cl, struct rv_session *s,
			      const struct rv_frame *f);
void rv_client_rfwd_on_remote_connect(struct rv_client *cl, struct rv_session *s,
				      struct rv_stream *st, uint32_t req,
				      const struct rv_addr *addr);
void rv_client_rfwd_on_stream_closed(struct rv_stream *st);

#endif
