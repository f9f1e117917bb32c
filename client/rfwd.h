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

/* What status.c shows for one -R (a snapshot; spec is the caller's opts). */
enum rv_client_rfwd_view {
	RV_CLIENT_RFWD_WAITING = 0,     /* no session yet (or it ended): asked on the next */
	RV_CLIENT_RFWD_REQUESTED = 1,   /* LISTEN sent, no answer yet */
	RV_CLIENT_RFWD_LISTENING = 2,   /* bound: bound holds the server's address and port */
	RV_CLIENT_RFWD_REFUSED = 3,     /* LISTEN_RESPONSE not OK: status */
	RV_CLIENT_RFWD_CLOSED = 4,      /* LISTEN_CLOSE from the server: close_reason */
	RV_CLIENT_RFWD_NOT_OFFERED = 5, /* the session did not agree remote forwards */
};

struct rv_client_rfwd_info {
	const struct rv_client_rfwd_spec *spec;
	enum rv_client_rfwd_view state;
	struct rv_addr bound;            /* LISTENING */
	enum rv_listen_status status;    /* REFUSED */
	enum rv_listen_close_reason close_reason; /* CLOSED */
	uint64_t streams;                /* REMOTE_CONNECTs accepted (dialed) since start */
};

/* -R entries (0 without -R); cur: the tunnel's current session (NULL when
 * down), so a listener of an ended session shows as waiting. */
size_t rv_client_rfwd_count(const struct rv_client_rfwd *r);
int rv_client_rfwd_get(const struct rv_client_rfwd *r, size_t i, const struct rv_session *cur,
		       struct rv_client_rfwd_info *out);
/* "waiting", "requested", "listening", "refused", "closed", "not offered". */
const char *rv_client_rfwd_view_name(enum rv_client_rfwd_view v);
/* A short reason for a refusal (REFUSED) or a close (CLOSED). */
const char *rv_client_rfwd_reason(const struct rv_client_rfwd_info *in);

#endif
