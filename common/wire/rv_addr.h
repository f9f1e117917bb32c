/* rv_addr.h - building, checking and printing struct rv_addr (the wire
 * address of PROXY_CONNECT / PROXY_RESPONSE, see rv_frame.h).  Owner:
 * frames helper.  Conversions to socket addresses live in rv_sockaddr.h.
 *
 * The setters validate by the same rules as the frame codec, so an address
 * they accept always encodes.  Text forms: "1.2.3.4:80", "[2001:db8::1]:80",
 * "example.com:80"; a domain from the wire may hold any byte but NUL, so
 * rv_addr_str escapes everything outside printable ASCII as \xHH.
 */
#ifndef RV_ADDR_H
#define RV_ADDR_H

#include <stddef.h>
#include <stdint.h>

#include "rv_frame.h"

enum rv_addr_sizes {
	/* "[" 45 "]" or 255 bytes each escaped to 4, ":65535", NUL. */
	RV_ADDR_STRLEN = RV_DOMAIN_MAX * 4 + 6 + 1,
};

void rv_addr_set_ipv4(struct rv_addr *a, const uint8_t ip[4], uint16_t port);
void rv_addr_set_ipv6(struct rv_addr *a, const uint8_t ip[16], uint16_t port);
/* name: len bytes (no NUL needed); RV_ERR_INVALID_ARG unless 1..255 bytes
 * without NUL.  a is unchanged on failure. */
int rv_addr_set_domain(struct rv_addr *a, const char *name, size_t len, uint16_t port);
/* IPv4/IPv6 literal text ("1.2.3.4", "::1", no brackets) -> address;
 * RV_ERR_NOT_FOUND if text is not a literal (then it is a name). */
int rv_addr_from_literal(struct rv_addr *a, const char *text, uint16_t port);

/* RV_OK if the codec would accept a (RV_ERR_INVALID_ARG otherwise). */
int rv_addr_check(const struct rv_addr *a);
/* Same type, address (domains compared case-insensitively) and port. */
int rv_addr_equal(const struct rv_addr *a, const struct rv_addr *b);

/* Always NUL-terminates (truncating if outlen is small); returns out so it
 * can go straight into a log line. */
const char *rv_addr_str(const struct rv_addr *a, char *out, size_t outlen);

#endif
