/* rv_sockaddr.h - one socket-address type for the server's network modules
 * (rv_acl, rv_dns, rv_connect, rv_pool).  Owner: server-libs.
 *
 * struct rv_sockaddr is a plain value (copy it freely) holding an IPv4 or
 * IPv6 address and a port, ready for connect()/bind().  Text forms are
 * "1.2.3.4:80" and "[2001:db8::1]:80" (brackets whenever a port follows an
 * IPv6 address, as in URLs and ssh).
 */
#ifndef RV_SOCKADDR_H
#define RV_SOCKADDR_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "rv_frame.h"

enum rv_sockaddr_sizes {
	/* "[" + INET6_ADDRSTRLEN-1 + "]:65535" + NUL, rounded up */
	RV_SOCKADDR_STRLEN = 64,
};

struct rv_sockaddr {
	socklen_t len; /* sizeof(sin) or sizeof(sin6); 0 = empty */
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
	} u;
};

/* ip: 4 bytes for AF_INET, 16 for AF_INET6.  RV_ERR_INVALID_ARG otherwise. */
int rv_sockaddr_from_ip(struct rv_sockaddr *sa, int family, const uint8_t *ip, uint16_t port);
/* Copies a kernel sockaddr (AF_INET/AF_INET6 only). */
int rv_sockaddr_from_sys(struct rv_sockaddr *sa, const struct sockaddr *sys, socklen_t len);
int rv_sockaddr_family(const struct rv_sockaddr *sa); /* AF_INET, AF_INET6 or AF_UNSPEC */
uint16_t rv_sockaddr_port(const struct rv_sockaddr *sa);
void rv_sockaddr_set_port(struct rv_sockaddr *sa, uint16_t port);
/* Pointer to the 4 or 16 address bytes (NULL if empty); *len gets 4 or 16. */
const uint8_t *rv_sockaddr_ip(const struct rv_sockaddr *sa, size_t *len);
/* Same family, address and port (IPv6 scope id included). */
int rv_sockaddr_equal(const struct rv_sockaddr *a, const struct rv_sockaddr *b);

/* "1.2.3.4:80" / "[::1]:80"; with_port = 0 gives the bare address.
 * Always NUL-terminates; returns out for use in log lines. */
const char *rv_sockaddr_str(const struct rv_sockaddr *sa, int with_port,
			    char out[RV_SOCKADDR_STRLEN]);

/* Parse an IP literal with optional port: "1.2.3.4", "1.2.3.4:53", "::1",
 * "[::1]", "[::1]:53".  A missing port becomes default_port.  Port 0 is
 * refused unless allow_port0.  No name resolution.  RV_ERR_MALFORMED on bad
 * text (err, if not NULL, gets a message quoting the value). */
int rv_sockaddr_parse(const char *text, uint16_t default_port, int allow_port0,
		      struct rv_sockaddr *out, char *err, size_t errlen);

/* IP literal (no port, no brackets) -> address with the given port.
 * RV_ERR_NOT_FOUND if text is not a literal (so callers can resolve it). */
int rv_sockaddr_from_literal(const char *text, uint16_t port, struct rv_sockaddr *out);

/* Conversions to and from the wire address (rv_frame.h).  to_addr gives
 * RV_ATYP_IPV4/IPV6; from_addr refuses RV_ATYP_DOMAIN (RV_ERR_INVALID_ARG). */
int rv_sockaddr_to_addr(const struct rv_sockaddr *sa, struct rv_addr *a);
int rv_sockaddr_from_addr(struct rv_sockaddr *sa, const struct rv_addr *a);

#endif
