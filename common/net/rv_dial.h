/* rv_dial.h - the server's way from a PROXY_CONNECT destination to a
 * connected target socket: resolve (rv_dns; IP literals skip it), apply the
 * access rules to every address (rv_acl), take a warm spare from the pool
 * when there is one (rv_pool), else connect Happy-Eyeballs style
 * (rv_connect).  The outcome is one rv_status, ready for PROXY_RESPONSE.
 * One deadline, connect.timeout_ms from rv_dial_start, covers resolve and
 * connect: the DNS wait is taken from the connect time (still resolving at
 * the deadline: HOST_UNREACHABLE, as any DNS failure; connecting:
 * TTL_EXPIRED).  The pool is asked only for its ports (rv_pool_port_wanted);
 * a miss there reports its resolve+connect time to the pool's stats.
 *
 * The callback is called exactly once, never from inside rv_dial_start, and
 * never after rv_dial_cancel.  On RV_STATUS_OK the callback's receiver owns
 * res->fd.  The rv_dialer (shared config) must outlive its dials.
 */
#ifndef RV_DIAL_H
#define RV_DIAL_H

#include "rv_acl.h"
#include "rv_connect.h"
#include "rv_dns.h"
#include "rv_frame.h"
#include "rv_loop.h"
#include "rv_sockaddr.h"

struct rv_pool;

struct rv_dialer {
	struct rv_loop *loop;
	struct rv_dns *dns;
	const struct rv_acl *acl;
	struct rv_pool *pool;         /* NULL: no pooling */
	struct rv_connect_opts connect;
};

enum rv_dial_state {
	RV_DIAL_STATE_INVALID = 0,
	RV_DIAL_RESOLVING = 1,
	RV_DIAL_CONNECTING = 2,
	RV_DIAL_REPORTING = 3, /* outcome known, callback pending */
};

struct rv_dial_result {
	enum rv_status status;
	int fd;                    /* connected socket on OK, else -1 */
	struct rv_sockaddr local;  /* bound address of fd */
	struct rv_sockaddr peer;   /* the target address connected (or tried) */
	const char *detail;        /* log text: why it failed, or "pool" */
	int from_pool;
};

struct rv_dial;
typedef void (*rv_dial_cb)(void *arg, const struct rv_dial_result *res);

int rv_dial_start(struct rv_dialer *d, const struct rv_addr *dst, rv_dial_cb cb, void *arg,
		  struct rv_dial **out);
void rv_dial_cancel(struct rv_dial *dial); /* NULL safe */
enum rv_dial_state rv_dial_get_state(const struct rv_dial *dial);

#endif
