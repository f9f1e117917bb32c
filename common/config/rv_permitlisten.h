/* rv_permitlisten.h - the server's per-key remote-forward policy: where a
 * client key may ask the server to listen (rvpn-client -R), from the
 * authorized_keys option permit-listen="SPEC".  Owner: remote-forward
 * helper.
 *
 * SPEC is a comma-separated list of [HOST:]PORTS entries:
 *   HOST   "*" (any address, the wildcard included), "localhost", an IPv4
 *          literal or "[IPv6]"; without HOST: loopback addresses only
 *          (127.0.0.0/8, ::1), the safe default;
 *   PORTS  N, N-M (1..65535) or "*" (any port, and port 0: "let the server
 *          choose", which no numeric range allows).
 * Examples: "8000-8099", "127.0.0.1:8080,[::1]:9000", "*:2222", "localhost:*".
 * No I/O, no allocation; a failed parse leaves *out unchanged.
 */
#ifndef RV_PERMITLISTEN_H
#define RV_PERMITLISTEN_H

#include <stddef.h>
#include <stdint.h>

#include "rv_frame.h"

enum rv_permit_listen_limits {
	RV_PERMIT_LISTEN_MAX = 16,     /* entries per key */
	RV_PERMIT_LISTEN_SPEC_MAX = 512,
};

enum rv_permit_host {
	RV_PERMIT_HOST_INVALID = 0,
	RV_PERMIT_HOST_LOOPBACK = 1, /* no HOST, or "localhost" */
	RV_PERMIT_HOST_ANY = 2,      /* "*" */
	RV_PERMIT_HOST_IPV4 = 3,
	RV_PERMIT_HOST_IPV6 = 4,
};

struct rv_permit_listen_rule {
	enum rv_permit_host host;
	uint8_t ip[16];             /* IPV4: first 4 bytes */
	int any_port;               /* "*" */
	uint16_t port_lo, port_hi;  /* 1..65535, lo <= hi, when !any_port */
};

struct rv_permit_listen {
	unsigned n;                 /* 0: listening not permitted */
	struct rv_permit_listen_rule r[RV_PERMIT_LISTEN_MAX];
};

/* Parse spec (len bytes, no NUL needed) and append its entries to *out.
 * RV_ERR_CONFIG (err says why) for bad syntax, RV_ERR_LIMIT past
 * RV_PERMIT_LISTEN_MAX entries in all; *out unchanged on failure. */
int rv_permit_listen_parse(struct rv_permit_listen *out, const char *spec, size_t len,
			   char *err, size_t errlen);
/* RV_OK if some entry allows binding bind (IPv4 or IPv6, port 0 = any),
 * RV_ERR_DENIED otherwise (also for a domain). */
int rv_permit_listen_check(const struct rv_permit_listen *p, const struct rv_addr *bind);
/* 1 for 127.0.0.0/8 and ::1. */
int rv_permit_listen_is_loopback(const struct rv_addr *a);

#endif
