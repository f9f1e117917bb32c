/* rv_pac.h - the proxy auto-config file rvpn-client serves on its mixed -D
 * port (GET /proxy.pac, GET /wpad.dat).
 *
 * Owner: proxy helper.  Builders only, no I/O.  The file sends everything
 * through our port, in order SOCKS5, SOCKS (4/4a), PROXY (HTTP), and has NO
 * "DIRECT" fallback: a browser falling back to DIRECT when the proxy is down
 * would resolve and connect outside the tunnel (a DNS and traffic leak).
 * Only the caller's bypass patterns return "DIRECT".
 *
 * "SOCKS H:P" means SOCKS4 to browsers, and Chrome resolves names itself
 * for SOCKS4 (no 4a).  The entry is only tried when SOCKS5 at the same
 * address failed, but a caller who wants no client-side resolution at all
 * sets omit_socks4.
 *
 * Nothing a caller passes reaches the JavaScript unvalidated: the host must
 * be an IP literal or [A-Za-z0-9.-], patterns one of the forms below, so no
 * quote, backslash or newline can ever be emitted.  Bypass matching is done
 * with plain string and arithmetic code: no isInNet()/dnsResolve(), which
 * would resolve the name outside the tunnel.
 *
 * Bypass pattern forms (case-insensitive; host names [A-Za-z0-9.-]):
 *   localhost          exact host name
 *   *.example.com      any subdomain (not example.com itself)
 *   .example.com       example.com and any subdomain
 *   127.0.0.1          exact IPv4 literal
 *   127.0.0.0/8        IPv4 CIDR, matched only when the URL's host is an
 *                      IPv4 literal
 *   ::1, [::1]         exact IPv6 literal (as written: no normalisation)
 *   <local>            plain host names (no dot)
 */
#ifndef RV_PAC_H
#define RV_PAC_H

#include <stddef.h>
#include <stdint.h>

#include "rv_buf.h"
#include "rv_proxy_limits.h"

struct rv_pac_config {
	const char *host;            /* listen address: IP literal or name */
	uint16_t port;               /* 1..65535 */
	const char *const *bypass;   /* n_bypass NUL-terminated patterns */
	size_t n_bypass;             /* 0..RV_PAC_BYPASS_MAX */
	int omit_socks4;             /* 1: "SOCKS5 H:P; PROXY H:P" only */
};

/* Append the PAC text.  RV_ERR_INVALID_ARG with *why for a bad host, port
 * or pattern; RV_ERR_NO_SPACE.  out is unchanged on failure.  why may be
 * NULL. */
int rv_pac_build(struct rv_buf *out, const struct rv_pac_config *cfg, const char **why);
/* The whole HTTP response: 200, Content-Type
 * application/x-ns-proxy-autoconfig, the PAC text as body (head only when
 * flags has RV_HTTP_RESP_HEAD_ONLY; flags: enum rv_http_resp_flags). */
int rv_pac_build_response(struct rv_buf *out, const struct rv_pac_config *cfg, unsigned flags,
			  const char **why);
/* 1 if an origin-form request path names the PAC file ("/proxy.pac" or
 * "/wpad.dat", an optional "?query" ignored), else 0. */
int rv_pac_path_match(const char *path, size_t len);

#endif
