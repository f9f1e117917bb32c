/* rfwd.h - remote forwards on the server (PROTOCOL.md "Remote forwards"):
 * the listeners one session asked for with LISTEN, their accepted
 * connections opened as server streams toward the client, and a SOCKS5
 * CONNECT front for kind SOCKS.
 *
 * Owner: conn.c creates one struct rv_rfwd per session that agreed remote
 * forwards and frees it when the session ends (every listener and pending
 * SOCKS socket is closed then; streams belong to the session).  The policy
 * (permit-listen of the key) is copied in at creation.
 *
 * Bounds: RV_LISTENERS_MAX_DEFAULT listeners per session; server streams
 * per session (the session's max_remote_streams) plus SOCKS negotiations
 * pending (RV_RFWD_SOCKS_PENDING_MAX, each RV_RFWD_SOCKS_BUF bytes and
 * RV_RFWD_SOCKS_TIMEOUT_MS long); when the session, the key or the
 * descriptor budget has no room, the listeners stop accepting (the
 * kernel's backlog holds the rest) and look again every RV_RFWD_RESUME_MS.
 */
#ifndef RV_SERVER_RFWD_H
#define RV_SERVER_RFWD_H

#include <stdint.h>

#include "rv_frame.h"
#include "rv_loop.h"
#include "rv_permitlisten.h"
#include "rv_session.h"
#include "rv_stream.h"

enum rv_rfwd_limits {
	RV_RFWD_SOCKS_PENDING_MAX = 16,
	RV_RFWD_SOCKS_BUF = 1024,
	RV_RFWD_SOCKS_TIMEOUT_MS = 10000,
	RV_RFWD_RESUME_MS = 100,
	RV_RFWD_ACCEPT_BATCH = 16,
	RV_RFWD_BACKLOG = 64,
};

struct rv_rfwd;

struct rv_rfwd_hooks {
	/* 1 if one more stream fits the key's and the server's budgets. */
	int (*stream_room)(void *arg);
	/* A server stream was opened (released by conn.c's on_stream_closed). */
	void (*stream_opened)(void *arg);
	void *arg;
};

int rv_rfwd_new(struct rv_loop *loop, struct rv_session *sess, const struct rv_permit_listen *perm,
		const char *name, const struct rv_rfwd_hooks *hooks, struct rv_rfwd **out);
void rv_rfwd_free(struct rv_rfwd *r); /* NULL safe */
/* The session's on_listen: LISTEN (answered), LISTEN_CLOSE. */
void rv_rfwd_on_listen(struct rv_rfwd *r, const struct rv_frame *f);
/* The session's on_stream_response for a server stream (kind SOCKS: the
 * SOCKS5 reply goes to the local client now). */
void rv_rfwd_on_stream_response(struct rv_rfwd *r, struct rv_stream *st, enum rv_status status,
				const struct rv_addr *bound);
unsigned rv_rfwd_listener_count(const struct rv_rfwd *r);
/* GOAWAY (drain, revocation): close every listener (LISTEN_CLOSE with
 * reason to the client) and pending SOCKS socket; open streams go on.
 * The client's next session may bind the same ports at once. */
void rv_rfwd_close_listeners(struct rv_rfwd *r, enum rv_listen_close_reason reason);

#endif
