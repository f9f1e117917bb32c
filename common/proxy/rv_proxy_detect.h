/* rv_proxy_detect.h - which protocol does a client speak on the mixed -D
 * port?  Decided from the first bytes, without consuming any: the caller
 * then hands the same buffer to the chosen parser.
 *
 * Owner: proxy helper.  No I/O, never reads past the buffer.
 *   0x05                 SOCKS5
 *   0x04                 SOCKS4 / SOCKS4a
 *   "METHOD " (one of CONNECT GET POST HEAD PUT DELETE OPTIONS PATCH
 *   TRACE, case-sensitive, then one space)  HTTP
 *   anything else        unknown (e.g. a TLS ClientHello: 0x16)
 */
#ifndef RV_PROXY_DETECT_H
#define RV_PROXY_DETECT_H

#include "rv_buf.h"
#include "rv_proxy_limits.h"

enum rv_proxy_kind {
	RV_PROXY_KIND_UNKNOWN = 0,
	RV_PROXY_KIND_SOCKS5 = 1,
	RV_PROXY_KIND_SOCKS4 = 2, /* SOCKS4 and SOCKS4a */
	RV_PROXY_KIND_HTTP = 3,
};

/* RV_OK: *kind decided (nothing consumed: "done" with 0 bytes).
 * RV_ERR_NEED_MORE: the bytes so far are a strict prefix of an HTTP method
 * and space (or in is empty); call again with more.  RV_ERR_UNSUPPORTED:
 * no known protocol, *kind is UNKNOWN, *why says why.  in is never changed.
 * why may be NULL. */
int rv_proxy_detect(const struct rv_buf *in, enum rv_proxy_kind *kind, const char **why);
const char *rv_proxy_kind_str(enum rv_proxy_kind kind);

#endif
