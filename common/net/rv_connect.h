/* rv_connect.h - non-blocking TCP connect to a list of addresses with
 * Happy Eyeballs v2 (RFC 8305) and an overall timeout.  Owner: server-libs.
 *
 * Order: the addresses are interleaved by family, starting with the family
 * of the first address (rv_dns returns RFC 6724 order, which puts IPv6
 * first when this host can use it), keeping the given order within each
 * family: v6a, v4a, v6b, v4b, ...  The first attempt starts at once; the
 * next one when attempt_delay_ms passed since the previous start, or at
 * once when an attempt fails.  The first attempt to complete wins and all
 * others are closed.  Nothing connects within timeout_ms -> TTL_EXPIRED.
 *
 * Failure status: each attempt's errno maps to an rv_status
 * (rv_connect_status_from_errno); the reported one is the most informative
 * across attempts, ranked CONNECTION_REFUSED > NOT_ALLOWED >
 * HOST_UNREACHABLE > TTL_EXPIRED > NET_UNREACHABLE > GENERAL_FAILURE
 * ("the host answered" beats "it was silent" beats "no route here"; an
 * attempt still pending at the deadline counts as TTL_EXPIRED).
 *
 * Callback: exactly once unless cancelled; never from inside
 * rv_connect_start; never after rv_connect_cancel.  On RV_STATUS_OK the
 * callee owns res->fd (non-blocking, close-on-exec).  The handle is freed
 * after the callback returns (do not cancel it then).  The callback may
 * free anything else, including other connects.
 */
#ifndef RV_CONNECT_H
#define RV_CONNECT_H

#include <stddef.h>
#include <stdint.h>

#include "rv_loop.h"
#include "rv_sockaddr.h"
#include "rv_wire.h"

enum rv_connect_limits {
	RV_CONNECT_MAX_ADDRS = 16, /* addresses beyond this are ignored */
};

/* Zero-initialise; 0 means the default. */
struct rv_connect_opts {
	uint32_t timeout_ms;       /* default RV_CONNECT_TIMEOUT_DEFAULT_S */
	uint32_t attempt_delay_ms; /* default RV_HAPPY_EYEBALLS_DELAY_MS */
	int nodelay;               /* 1: set TCP_NODELAY on the winner */
};

struct rv_connect_result {
	enum rv_status status; /* RV_STATUS_OK or the reason to report */
	int err;               /* RV_OK, RV_ERR_TIMEOUT or RV_ERR_IO */
	int sys_errno;         /* errno behind status (0 if none) */
	int fd;                /* connected socket on OK, else -1 */
	struct rv_sockaddr local; /* bound address of fd (PROXY_RESPONSE) */
	struct rv_sockaddr peer;  /* the address that answered (or last tried) */
	unsigned attempts;     /* sockets started */
};

struct rv_connect;

typedef void (*rv_connect_cb)(void *arg, const struct rv_connect_result *res);

/* addrs[0..n) are copied.  Errors: RV_ERR_INVALID_ARG (n == 0, NULL),
 * RV_ERR_NOMEM; otherwise the outcome comes through cb. */
int rv_connect_start(struct rv_loop *loop, const struct rv_sockaddr *addrs, size_t n,
		     const struct rv_connect_opts *opts, rv_connect_cb cb, void *arg,
		     struct rv_connect **out);
/* Closes every attempt; the callback is never called.  NULL safe. */
void rv_connect_cancel(struct rv_connect *c);

enum rv_status rv_connect_status_from_errno(int e);

#endif
