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
 * IPv6 forms that carry an IPv4 address are FOLDED to that IPv4 address
 * before any rule is looked at (rv_acl_fold_v4): IPv4-mapped ::ffff:a.b.c.d,
 * IPv4-compatible ::a.b.c.d (but :: and ::1 stay themselves), NAT64
 * 64:ff9b::a.b.c.d (RFC 6052 well-known prefix) and 6to4 2002:AABB:CCDD::/48.
 * Every IPv4 rule, default or the operator's, applies to them; IPv6 rules
 * do not.  Rules written in those forms are folded the same way when added
 * ("[::ffff:10.0.0.0/104]:22" is the rule "10.0.0.0/8:22"; a 6to4 rule
 * longer than /48 becomes the /32 of its IPv4 host).  The local-use NAT64
 * prefix 64:ff9b:1::/48 (RFC 8215) is judged as itself (denied by default)
 * AND as each IPv4 address it may carry under the RFC 6052 layouts /48,
 * /56, /64 and /96: any deny among those decides.
 *
 * The default deny list (rv_acl_new with defaults) holds loopback, RFC 1918
 * private, link-local, CGNAT 100.64.0.0/10, "this network" 0.0.0.0/8,
 * IETF 192.0.0.0/24, benchmarking 198.18.0.0/15, documentation, multicast,
 * reserved 240.0.0.0/4 with broadcast; IPv6 ::, ::1, fc00::/7, fe80::/10,
 * fec0::/10, ff00::/8, 100::/64, 2001:db8::/32, 64:ff9b:1::/48; and every
 * address of this host (getifaddrs: all interfaces, both families) as a
 * host rule "deny ADDR (default, this host)", so a service bound to
 * 0.0.0.0 is not reachable through the server's public address.  As for
 * any default, an explicit host rule ("--allow 127.0.0.1", "--allow ::1",
 * "--allow 203.0.113.5:80") overrides it; a wider allow does not.
 * The host's addresses are re-read by rv_acl_refresh_self(), which
 * rv_acl_watch() calls whenever an address is added or removed (rtnetlink
 * on the loop), or every RV_ACL_SELF_REFRESH_MS without netlink.
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
	RV_ACL_MAX_SELF = 256,       /* host addresses denied by default */
	RV_ACL_SELF_REFRESH_MS = 30000, /* re-read period without netlink */
};

struct rv_loop;

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
 * (default)", or "no rule" when nothing matched; storage inside acl, valid
 * until the acl is freed (a "this host" rule's text: until the next
 * refresh).  No side effects; call it from the loop's thread. */
int rv_acl_check(const struct rv_acl *acl, const struct rv_sockaddr *sa, const char **rule);

/* Keep only the allowed addresses of addrs[0..n) (order preserved); returns
 * how many remain.  Convenience for the resolver's output. */
size_t rv_acl_filter(const struct rv_acl *acl, struct rv_sockaddr *addrs, size_t n);

size_t rv_acl_count(const struct rv_acl *acl); /* rules, defaults included */

/* 1 and v4 set if the IPv6 address ip (16 bytes) is one of the folded
 * forms above (mapped, compatible, NAT64 well-known, 6to4); else 0. */
int rv_acl_fold_v4(const uint8_t ip[16], uint8_t v4[4]);

/* This host's addresses (default deny, only with defaults).  refresh
 * re-reads them with getifaddrs (RV_ERR_IO: kept the old list); set
 * replaces them with addrs[0..n) (ports ignored; at most RV_ACL_MAX_SELF). */
int rv_acl_refresh_self(struct rv_acl *acl);
int rv_acl_set_self(struct rv_acl *acl, const struct rv_sockaddr *addrs, size_t n);
size_t rv_acl_self_count(const struct rv_acl *acl);

/* Keep the host's addresses current while loop runs: an rtnetlink socket
 * (RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR) watched on loop, or a periodic
 * timer if netlink is unavailable.  rv_acl_unwatch (also done by
 * rv_acl_free) must run before the loop is freed.  No-op without defaults. */
int rv_acl_watch(struct rv_acl *acl, struct rv_loop *loop);
void rv_acl_unwatch(struct rv_acl *acl);

#endif
