/* rv_acl.h - the server's access rules for target addresses
 * (--allow / --deny).  Owner: server-libs.
 *
 * Rule syntax (one command-line value each):
 *   IPv4:  ADDR[/LEN][:PORTS]         10.0.0.0/8   192.0.2.7:22   0.0.0.0/0:25
 *   IPv6:  ADDR[/LEN]                 fc00::/7     ::1
 *          [ADDR[/LEN]]:PORTS         [::1]:8080   [2001:db8::/32]:80-90
 *   PORTS: PORT or LO-HI, several joined by ','   80   8000-8100   80,443
 * A missing LEN is a host rule (/32, /128); missing PORTS means every port.
 * Host bits beyond LEN must be zero ("10.0.0.1/8" is refused as a typo).
 *
 * Evaluation: every rule (explicit and default) that matches the address
 * and port competes; the MOST SPECIFIC one decides:
 *   1. the longer prefix wins;
 *   2. then the narrower port set (fewer ports) wins;
 *   3. then an explicit rule beats a default rule;
 *   4. then deny beats allow.
 * No matching rule: allowed.  Command-line order never matters.
 * Consequences: "--allow 127.0.0.1" (/32) beats the default deny of
 * 127.0.0.0/8, so tests can reach loopback; "--allow 10.0.0.0/8" overrides
 * the default deny of the same range; "--deny 0.0.0.0/0 --deny ::/0
 * --allow 203.0.113.0/24:443" is an allow-list.
 *
 * IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are evaluated exactly as the
 * IPv4 address a.b.c.d (every IPv4 rule applies to them, IPv6 rules do not).
 * The default deny list (rv_acl_new with defaults) holds loopback, RFC 1918
 * private, link-local, CGNAT 100.64.0.0/10, "this network" 0.0.0.0/8,
 * IETF 192.0.0.0/24, benchmarking 198.18.0.0/15, documentation, multicast,
 * reserved 240.0.0.0/4 with broadcast; IPv6 ::, ::1, fc00::/7, fe80::/10,
 * fec0::/10, ff00::/8, 100::/64, 2001:db8::/32, 64:ff9b:1::/48, and the
 * IPv4-compatible (::/96), NAT64 (64:ff9b::/96) and 6to4 (2002::/16) forms
 * of every denied IPv4 range.
 */
#ifndef RV_ACL_H
#define RV_ACL_H

#include <stddef.h>
#include <stdint.h>

#include "rv_sockaddr.h"

enum rv_acl_action {
	RV_ACL_ALLOW = 1,
	RV_ACL_DENY = 2,
};

enum rv_acl_limits {
	RV_ACL_MAX_RULES = 4096,     /* explicit + default */
	RV_ACL_MAX_PORT_RANGES = 16, /* per rule */
	RV_ACL_TEXT_MAX = 96,        /* rule text kept for log lines */
};

struct rv_acl;

/* with_defaults: 1 installs the default deny list described above. */
int rv_acl_new(int with_defaults, struct rv_acl **out);
void rv_acl_free(struct rv_acl *acl); /* NULL safe */

/* Add one rule from its text.  RV_ERR_CONFIG on bad text (err gets a
 * message naming the value), RV_ERR_LIMIT when full; acl unchanged then. */
int rv_acl_add(struct rv_acl *acl, enum rv_acl_action action, const char *spec,
	       char *err, size_t errlen);

/* Decide for one target address and port (sa's port).  RV_OK = allowed,
 * RV_ERR_DENIED = denied, RV_ERR_INVALID_ARG for an empty address.
 * rule (if not NULL) gets the deciding rule's text, e.g. "deny 127.0.0.0/8
 * (default)", or "no rule" when nothing matched; static storage inside acl,
 * valid until the acl is freed.  Pure function: safe to call any time. */
int rv_acl_check(const struct rv_acl *acl, const struct rv_sockaddr *sa, const char **rule);

/* Keep only the allowed addresses of addrs[0..n) (order preserved); returns
 * how many remain.  Convenience for the resolver's output. */
size_t rv_acl_filter(const struct rv_acl *acl, struct rv_sockaddr *addrs, size_t n);

size_t rv_acl_count(const struct rv_acl *acl); /* rules, defaults included */

#endif
