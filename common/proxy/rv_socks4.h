/* rv_socks4.h - the server side of SOCKS4 and SOCKS4a CONNECT, as spoken on
 * rvpn-client's mixed -D port.
 *
 * Owner: proxy helper.  No I/O: rv_socks4_parse_request is three-result over
 * rv_buf (RV_OK with the request consumed, RV_ERR_NEED_MORE with the buffer
 * unchanged, or another error), never reads past the buffer and never casts
 * structs over input.  Bytes left after RV_OK are early data for the stream.
 *
 * Request:  VN=4 CD DSTPORT(2) DSTIP(4) USERID... NUL
 *           SOCKS4a: DSTIP = 0.0.0.x (x != 0), then HOSTNAME... NUL
 * Reply:    VN=0 CD(90 granted / 91 rejected) DSTPORT(2) DSTIP(4)
 *
 * SOCKS4 carries a user id but no password: when the caller requires
 * authentication (--socks-auth) it must refuse SOCKS4 (reply 91); the user
 * id is only reported, never trusted.
 */
#ifndef RV_SOCKS4_H
#define RV_SOCKS4_H

#include <stddef.h>
#include <stdint.h>

#include "rv_buf.h"
#include "rv_frame.h"
#include "rv_proxy_limits.h"
#include "rv_wire.h"

struct rv_socks4_request {
	struct rv_addr dst;      /* IPV4, or DOMAIN for SOCKS4a */
	int is_4a;               /* host name given after the user id */
	char userid[RV_SOCKS4_USERID_MAX + 1]; /* NUL-terminated */
	size_t userid_len;
};

/* RV_OK: a CONNECT to req->dst, the request consumed.  Errors set *reply to
 * the rv_status to answer with (rv_socks4_build_reply turns every failure
 * into 91) and *why to a static text:
 *   RV_ERR_MALFORMED   not version 4, or a SOCKS4a request with an empty
 *                      host name (nothing consumed);
 *   RV_ERR_LIMIT       user id or host name longer than its maximum
 *                      (nothing consumed: its end is unknown);
 *   RV_ERR_UNSUPPORTED BIND or an unknown command, reply
 *                      COMMAND_NOT_SUPPORTED (the whole request consumed).
 * why may be NULL. */
int rv_socks4_parse_request(struct rv_buf *in, struct rv_socks4_request *req,
			    enum rv_status *reply, const char **why);

/* 90 for RV_STATUS_OK, 91 for every failure (92/93 are identd results, which
 * we never use).  The reply's port and address are bound's for an IPv4
 * bound, else zero (SOCKS4a clients ignore them).  Appends exactly
 * RV_SOCKS4_REPLY_LEN bytes; on failure out is unchanged. */
int rv_socks4_build_reply(struct rv_buf *out, enum rv_status st, const struct rv_addr *bound);
uint8_t rv_socks4_reply_code(enum rv_status st);

#endif
