/* rv_acl.c - access rules, most specific match wins.  Owner: server-libs.
 *
 * Addresses that carry an IPv4 address are folded to it first, so one
 * IPv4 rule covers every spelling of a target (the IPv6 translation forms
 * reach the same host through a NAT64 or 6to4 gateway). */
#include "rv_acl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rv_err.h"
#include "rv_log.h"
#include "rv_loop.h"

struct rv_acl_port_range {
	uint16_t lo, hi;
};

struct rv_acl_rule {
	uint8_t family; /* 4 or 6 */
	uint8_t plen;   /* prefix length in bits */
	uint8_t is_default;
	enum rv_acl_action action;
	uint8_t net[16];
	size_t nranges; /* 0 = all ports */
	struct rv_acl_port_range ranges[RV_ACL_MAX_PORT_RANGES];
	uint32_t nports; /* ports covered, for specificity */
	char text[RV_ACL_TEXT_MAX];
};

struct rv_acl {
	struct rv_acl_rule *rules;
	size_t n, cap;
	int with_defaults;
	struct rv_acl_rule *self; /* RV_ACL_MAX_SELF host rules: this host */
	size_t nself;
	struct rv_loop *loop;     /* rv_acl_watch */
	int nl_fd;
	struct rv_loop_fd *nl_w;
	struct rv_loop_timer *timer;
};

static const uint8_t pfx_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
static const uint8_t pfx_nat64[12] = {0x00, 0x64, 0xff, 0x9b};
static const uint8_t pfx_nat64_local[6] = {0x00, 0x64, 0xff, 0x9b, 0x00, 0x01};
static const uint8_t pfx_6to4[2] = {0x20, 0x02};
static const uint8_t zero12[12];

int rv_acl_fold_v4(const uint8_t ip[16], uint8_t v4[4])
{
	static const uint8_t one[4] = {0, 0, 0, 1};

	if (memcmp(ip, pfx_mapped, 12) == 0 || memcmp(ip, pfx_nat64, 12) == 0 ||
	    (memcmp(ip, zero12, 12) == 0 && memcmp(ip + 12, zero12, 4) != 0 &&
	     memcmp(ip + 12, one, 4) != 0)) {
		memcpy(v4, ip + 12, 4);
		return 1;
	}
	if (memcmp(ip, pfx_6to4, 2) == 0) {
		memcpy(v4, ip + 2, 4);
		return 1;
	}
	return 0;
}

/* A rule in a folded form becomes the IPv4 rule it means (see rv_acl.h). */
static void fold_rule(struct rv_acl_rule *r)
{
	uint8_t v4[4];
	unsigned plen;

	if (r->family != 6)
		return;
	if (r->plen >= 96 && (memcmp(r->net, pfx_mapped, 12) == 0 ||
			      memcmp(r->net, pfx_nat64, 12) == 0 ||
			      (memcmp(r->net, zero12, 12) == 0 &&
			       rv_acl_fold_v4(r->net, v4)))) {
		/* (A compatible-form rule covering :: or ::1 stays IPv6.) */
		memcpy(v4, r->net + 12, 4);
		plen = r->plen - 96u;
	} else if (r->plen >= 16 && memcmp(r->net, pfx_6to4, 2) == 0) {
		memcpy(v4, r->net + 2, 4);
		plen = r->plen - 16u > 32 ? 32 : r->plen - 16u;
	} else {
		return;
	}
	memset(r->net, 0, sizeof(r->net));
	memcpy(r->net, v4, 4);
	r->family = 4;
	r->plen = (uint8_t)plen;
}

/* The default deny list, IPv4 part (its IPv6 forms fold onto it). */
static const struct {
	uint8_t a, b, c, d, len;
} default_v4[] = {
	{0, 0, 0, 0, 8},        /* "this network", includes 0.0.0.0 */
	{10, 0, 0, 0, 8},       /* RFC 1918 */
	{100, 64, 0, 0, 10},    /* CGNAT, RFC 6598 */
	{127, 0, 0, 0, 8},      /* loopback */
	{169, 254, 0, 0, 16},   /* link-local */
	{172, 16, 0, 0, 12},    /* RFC 1918 */
	{192, 0, 0, 0, 24},     /* IETF protocol assignments */
	{192, 0, 2, 0, 24},     /* TEST-NET-1 */
	{192, 168, 0, 0, 16},   /* RFC 1918 */
	{198, 18, 0, 0, 15},    /* benchmarking */
	{198, 51, 100, 0, 24},  /* TEST-NET-2 */
	{203, 0, 113, 0, 24},   /* TEST-NET-3 */
	{224, 0, 0, 0, 4},      /* multicast */
	{240, 0, 0, 0, 4},      /* reserved, includes 255.255.255.255 */
};

static const char *const default_v6[] = {
	"::/128",          /* unspecified */
	"::1/128",         /* loopback */
	"100::/64",        /* discard-only */
	"2001:db8::/32",   /* documentation */
	"64:ff9b:1::/48",  /* local-use NAT64 */
	"fc00::/7",        /* unique local */
	"fe80::/10",       /* link-local */
	"fec0::/10",       /* site-local (deprecated) */
	"ff00::/8",        /* multicast */
};

static void set_err(char *err, size_t errlen, const char *spec, const char *why)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "bad access rule '%s': %s", spec, why);
}

static int parse_uint(const char *s, size_t len, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;
	size_t i;

	if (len == 0 || len > 5)
		return RV_ERR_MALFORMED;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return RV_ERR_MALFORMED;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > max)
		return RV_ERR_MALFORMED;
	*out = v;
	return RV_OK;
}

/* "80", "80-90", "80,443,8000-8100" */
static int parse_ports(const char *s, struct rv_acl_rule *r, const char **why)
{
	const char *p = s;

	r->nranges = 0;
	r->nports = 0;
	for (;;) {
		const char *end = strchr(p, ','), *dash;
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
		unsigned long lo, hi;

		dash = memchr(p, '-', len);
		if (dash == NULL) {
			if (parse_uint(p, len, 65535, &lo) != RV_OK)
				goto bad;
			hi = lo;
		} else {
			if (parse_uint(p, (size_t)(dash - p), 65535, &lo) != RV_OK ||
			    parse_uint(dash + 1, len - (size_t)(dash - p) - 1, 65535, &hi) != RV_OK)
				goto bad;
			if (lo > hi) {
				*why = "port range is reversed (LO-HI with LO > HI)";
				return RV_ERR_CONFIG;
			}
		}
		if (r->nranges == RV_ACL_MAX_PORT_RANGES) {
			*why = "too many port ranges (at most 16)";
			return RV_ERR_CONFIG;
		}
		r->ranges[r->nranges].lo = (uint16_t)lo;
		r->ranges[r->nranges].hi = (uint16_t)hi;
		r->nranges++;
		r->nports += (uint32_t)(hi - lo + 1);
		if (end == NULL)
			break;
		p = end + 1;
	}
	return RV_OK;
bad:
	*why = "bad port (expected PORT, LO-HI or a ','-separated list, 0..65535)";
	return RV_ERR_CONFIG;
}

/* "ADDR" or "ADDR/LEN"; want6 = -1 any, 0 IPv4 only, 1 IPv6 only. */
static int parse_cidr(const char *s, size_t len, int want6, struct rv_acl_rule *r,
		      const char **why)
{
	char addr[INET6_ADDRSTRLEN + 1];
	const char *slash = memchr(s, '/', len);
	size_t alen = slash != NULL ? (size_t)(slash - s) : len;
	unsigned long plen;
	unsigned maxlen, i;

	if (alen == 0 || alen >= sizeof(addr)) {
		*why = "bad address";
		return RV_ERR_CONFIG;
	}
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	memset(r->net, 0, sizeof(r->net));
	if (want6 != 1 && inet_pton(AF_INET, addr, r->net) == 1) {
		r->family = 4;
	} else if (want6 != 0 && inet_pton(AF_INET6, addr, r->net) == 1) {
		r->family = 6;
	} else {
		/* A letter that is not a hex digit means a host name, not a
		 * malformed IPv6 address: rules are judged on resolved
		 * addresses, so a name cannot be a rule. */
		*why = strpbrk(addr, "ghijklmnopqrstuvwxyzGHIJKLMNOPQRSTUVWXYZ-_") != NULL
			       ? "a host name: rules take IP addresses or CIDR ranges, because they "
				 "judge the addresses a name resolves to (use the host's address)"
			       : want6 == 1 ? "bad IPv6 address inside [ ]"
					    : "bad address (IPv6 with a port needs brackets: "
					      "[ADDR/LEN]:PORTS)";
		return RV_ERR_CONFIG;
	}
	maxlen = r->family == 4 ? 32 : 128;
	if (slash == NULL) {
		plen = maxlen;
	} else if (parse_uint(slash + 1, len - alen - 1, maxlen, &plen) != RV_OK) {
		*why = r->family == 4 ? "bad prefix length (0..32)" : "bad prefix length (0..128)";
		return RV_ERR_CONFIG;
	}
	r->plen = (uint8_t)plen;
	for (i = (unsigned)plen; i < maxlen; i++) {
		if (r->net[i / 8] & (0x80u >> (i % 8))) {
			*why = "address has bits set beyond the prefix length";
			return RV_ERR_CONFIG;
		}
	}
	return RV_OK;
}

static int parse_rule(const char *spec, struct rv_acl_rule *r, const char **why)
{
	const char *colon, *ports = NULL;
	int ret;

	if (spec[0] == '[') {
		const char *close = strchr(spec, ']');

		if (close == NULL) {
			*why = "missing ']'";
			return RV_ERR_CONFIG;
		}
		ret = parse_cidr(spec + 1, (size_t)(close - spec - 1), 1, r, why);
		if (ret != RV_OK)
			return ret;
		if (close[1] == ':')
			ports = close + 2;
		else if (close[1] != '\0') {
			*why = "expected ':PORTS' after ']'";
			return RV_ERR_CONFIG;
		}
	} else {
		colon = strchr(spec, ':');
		if (colon != NULL && strchr(colon + 1, ':') == NULL) {
			ret = parse_cidr(spec, (size_t)(colon - spec), 0, r, why);
			ports = colon + 1;
		} else {
			ret = parse_cidr(spec, strlen(spec), -1, r, why);
		}
		if (ret != RV_OK)
			return ret;
	}
	fold_rule(r);
	if (ports != NULL)
		return parse_ports(ports, r, why);
	r->nranges = 0;
	r->nports = 65536;
	return RV_OK;
}

static int acl_push(struct rv_acl *acl, const struct rv_acl_rule *r)
{
	if (acl->n == acl->cap) {
		size_t cap = acl->cap ? acl->cap * 2 : 64;
		struct rv_acl_rule *nr;

		if (acl->n >= RV_ACL_MAX_RULES)
			return RV_ERR_LIMIT;
		nr = realloc(acl->rules, cap * sizeof(*nr));
		if (nr == NULL)
			return RV_ERR_NOMEM;
		acl->rules = nr;
		acl->cap = cap;
	}
	acl->rules[acl->n++] = *r;
	return RV_OK;
}

static int add_defaults(struct rv_acl *acl)
{
	size_t i;
	int ret;

	for (i = 0; i < sizeof(default_v4) / sizeof(default_v4[0]); i++) {
		const uint8_t v4[4] = {default_v4[i].a, default_v4[i].b, default_v4[i].c,
				       default_v4[i].d};
		unsigned len = default_v4[i].len;
		struct rv_acl_rule r;

		memset(&r, 0, sizeof(r));
		r.family = 4;
		r.is_default = 1;
		r.action = RV_ACL_DENY;
		r.nports = 65536;
		memcpy(r.net, v4, 4);
		r.plen = (uint8_t)len;
		snprintf(r.text, sizeof(r.text), "deny %u.%u.%u.%u/%u (default)", v4[0], v4[1],
			 v4[2], v4[3], len);
		if ((ret = acl_push(acl, &r)) != RV_OK)
			return ret;
	}
	for (i = 0; i < sizeof(default_v6) / sizeof(default_v6[0]); i++) {
		struct rv_acl_rule r;
		const char *why = NULL;

		memset(&r, 0, sizeof(r));
		if (parse_rule(default_v6[i], &r, &why) != RV_OK)
			return RV_ERR_INTERNAL;
		r.is_default = 1;
		r.action = RV_ACL_DENY;
		snprintf(r.text, sizeof(r.text), "deny %s (default)", default_v6[i]);
		if ((ret = acl_push(acl, &r)) != RV_OK)
			return ret;
	}
	return RV_OK;
}

int rv_acl_new(int with_defaults, struct rv_acl **out)
{
	struct rv_acl *acl;
	int ret;

	if (out == NULL)
		return RV_ERR_INVALID_ARG;
	*out = NULL;
	acl = calloc(1, sizeof(*acl));
	if (acl == NULL)
		return RV_ERR_NOMEM;
	acl->nl_fd = -1;
	acl->with_defaults = with_defaults != 0;
	if (with_defaults) {
		acl->self = calloc(RV_ACL_MAX_SELF, sizeof(*acl->self));
		if (acl->self == NULL) {
			rv_acl_free(acl);
			return RV_ERR_NOMEM;
		}
		if ((ret = add_defaults(acl)) != RV_OK) {
			rv_acl_free(acl);
			return ret;
		}
		if (rv_acl_refresh_self(acl) != RV_OK)
			rv_log_warn("access rules: cannot list this host's addresses; "
				    "they are not denied by default");
	}
	*out = acl;
	return RV_OK;
}

void rv_acl_free(struct rv_acl *acl)
{
	if (acl == NULL)
		return;
	rv_acl_unwatch(acl);
	free(acl->rules);
	free(acl->self);
	free(acl);
}

int rv_acl_add(struct rv_acl *acl, enum rv_acl_action action, const char *spec, char *err,
	       size_t errlen)
{
	struct rv_acl_rule r;
	const char *why = "bad rule";
	int ret;

	if (acl == NULL || spec == NULL ||
	    (action != RV_ACL_ALLOW && action != RV_ACL_DENY))
		return RV_ERR_INVALID_ARG;
	memset(&r, 0, sizeof(r));
	if (spec[0] == '\0') {
		set_err(err, errlen, spec, "empty rule");
		return RV_ERR_CONFIG;
	}
	ret = parse_rule(spec, &r, &why);
	if (ret != RV_OK) {
		set_err(err, errlen, spec, why);
		return RV_ERR_CONFIG;
	}
	r.action = action;
	snprintf(r.text, sizeof(r.text), "%s %s", action == RV_ACL_ALLOW ? "allow" : "deny", spec);
	ret = acl_push(acl, &r);
	if (ret == RV_ERR_LIMIT)
		set_err(err, errlen, spec, "too many rules");
	return ret;
}

static int rule_matches(const struct rv_acl_rule *r, unsigned family, const uint8_t *ip,
			uint16_t port)
{
	unsigned full = r->plen / 8, rest = r->plen % 8;
	size_t i;

	if (r->family != family)
		return 0;
	if (memcmp(r->net, ip, full) != 0)
		return 0;
	if (rest != 0) {
		uint8_t mask = (uint8_t)(0xffu << (8 - rest));

		if ((ip[full] & mask) != r->net[full])
			return 0;
	}
	if (r->nranges == 0)
		return 1;
	for (i = 0; i < r->nranges; i++)
		if (port >= r->ranges[i].lo && port <= r->ranges[i].hi)
			return 1;
	return 0;
}

/* Does a decide over b?  See the ordering in rv_acl.h. */
static int rule_beats(const struct rv_acl_rule *a, const struct rv_acl_rule *b)
{
	if (a->plen != b->plen)
		return a->plen > b->plen;
	if (a->nports != b->nports)
		return a->nports < b->nports;
	if (a->is_default != b->is_default)
		return !a->is_default;
	return a->action == RV_ACL_DENY && b->action != RV_ACL_DENY;
}

static const struct rv_acl_rule *judge(const struct rv_acl *acl, unsigned family,
				       const uint8_t *ip, uint16_t port)
{
	const struct rv_acl_rule *best = NULL;
	size_t i;

	for (i = 0; i < acl->n; i++) {
		const struct rv_acl_rule *r = &acl->rules[i];

		if (rule_matches(r, family, ip, port) && (best == NULL || rule_beats(r, best)))
			best = r;
	}
	for (i = 0; i < acl->nself; i++) {
		const struct rv_acl_rule *r = &acl->self[i];

		if (rule_matches(r, family, ip, port) && (best == NULL || rule_beats(r, best)))
			best = r;
	}
	return best;
}

/* Local-use NAT64 (64:ff9b:1::/48): the translator's prefix length is the
 * operator's choice, so every RFC 6052 layout that fits is judged. */
static const struct rv_acl_rule *judge_local_nat64(const struct rv_acl *acl,
						   const uint8_t *ip, uint16_t port)
{
	static const uint8_t at[4][4] = {
		{6, 7, 9, 10},    /* /48 (byte 8 is the reserved u octet) */
		{7, 9, 10, 11},   /* /56 */
		{9, 10, 11, 12},  /* /64 */
		{12, 13, 14, 15}, /* /96 */
	};
	size_t i, j;

	for (i = 0; i < 4; i++) {
		const struct rv_acl_rule *r;
		uint8_t v4[4];

		for (j = 0; j < 4; j++)
			v4[j] = ip[at[i][j]];
		if (v4[0] == 0)
			continue; /* 0.0.0.0/8 is no destination: not this layout */
		r = judge(acl, 4, v4, port);
		if (r != NULL && r->action == RV_ACL_DENY)
			return r;
	}
	return NULL;
}

int rv_acl_check(const struct rv_acl *acl, const struct rv_sockaddr *sa, const char **rule)
{
	const struct rv_acl_rule *best;
	const uint8_t *ip;
	uint8_t v4[4];
	size_t len;
	uint16_t port = rv_sockaddr_port(sa);

	if (rule != NULL)
		*rule = "no rule";
	if (acl == NULL || sa == NULL || (ip = rv_sockaddr_ip(sa, &len)) == NULL)
		return RV_ERR_INVALID_ARG;
	if (len == 4) {
		best = judge(acl, 4, ip, port);
	} else if (rv_acl_fold_v4(ip, v4)) {
		/* ::ffff:a.b.c.d, 64:ff9b::a.b.c.d, 2002:aabb:ccdd:: reach a.b.c.d. */
		best = judge(acl, 4, v4, port);
	} else {
		best = judge(acl, 6, ip, port);
		if (memcmp(ip, pfx_nat64_local, sizeof(pfx_nat64_local)) == 0 &&
		    (best == NULL || best->action != RV_ACL_DENY)) {
			const struct rv_acl_rule *d = judge_local_nat64(acl, ip, port);

			if (d != NULL)
				best = d;
		}
	}
	if (best == NULL)
		return RV_OK;
	if (rule != NULL)
		*rule = best->text;
	return best->action == RV_ACL_ALLOW ? RV_OK : RV_ERR_DENIED;
}

size_t rv_acl_filter(const struct rv_acl *acl, struct rv_sockaddr *addrs, size_t n)
{
	size_t i, kept = 0;

	for (i = 0; i < n; i++) {
		if (rv_acl_check(acl, &addrs[i], NULL) == RV_OK) {
			if (kept != i)
				addrs[kept] = addrs[i];
			kept++;
		}
	}
	return kept;
}

size_t rv_acl_count(const struct rv_acl *acl)
{
	return acl == NULL ? 0 : acl->n;
}

/* ---- this host's addresses ------------------------------------------- */

int rv_acl_set_self(struct rv_acl *acl, const struct rv_sockaddr *addrs, size_t n)
{
	size_t i, k = 0;

	if (acl == NULL || (addrs == NULL && n > 0))
		return RV_ERR_INVALID_ARG;
	if (!acl->with_defaults)
		return RV_OK;
	for (i = 0; i < n && k < RV_ACL_MAX_SELF; i++) {
		struct rv_acl_rule *r = &acl->self[k];
		const uint8_t *ip;
		char text[INET6_ADDRSTRLEN];
		size_t len, j;

		if ((ip = rv_sockaddr_ip(&addrs[i], &len)) == NULL)
			continue;
		memset(r, 0, sizeof(*r));
		r->family = len == 4 ? 4 : 6;
		r->plen = len == 4 ? 32 : 128;
		memcpy(r->net, ip, len);
		inet_ntop(len == 4 ? AF_INET : AF_INET6, ip, text, sizeof(text));
		fold_rule(r);
		r->is_default = 1;
		r->action = RV_ACL_DENY;
		r->nports = 65536;
		snprintf(r->text, sizeof(r->text), "deny %s (default, this host)", text);
		for (j = 0; j < k; j++)
			if (acl->self[j].family == r->family &&
			    memcmp(acl->self[j].net, r->net, 16) == 0)
				break;
		if (j == k)
			k++;
	}
	acl->nself = k;
	return RV_OK;
}

int rv_acl_refresh_self(struct rv_acl *acl)
{
	struct rv_sockaddr addrs[RV_ACL_MAX_SELF];
	struct ifaddrs *ifa, *i;
	size_t n = 0;
	int ret;

	if (acl == NULL)
		return RV_ERR_INVALID_ARG;
	if (!acl->with_defaults)
		return RV_OK;
	if (getifaddrs(&ifa) != 0)
		return RV_ERR_IO;
	for (i = ifa; i != NULL && n < RV_ACL_MAX_SELF; i = i->ifa_next) {
		if (i->ifa_addr == NULL)
			continue;
		if (i->ifa_addr->sa_family == AF_INET &&
		    rv_sockaddr_from_sys(&addrs[n], i->ifa_addr, sizeof(struct sockaddr_in)) == RV_OK)
			n++;
		else if (i->ifa_addr->sa_family == AF_INET6 &&
			 rv_sockaddr_from_sys(&addrs[n], i->ifa_addr,
					      sizeof(struct sockaddr_in6)) == RV_OK)
			n++;
	}
	freeifaddrs(ifa);
	ret = rv_acl_set_self(acl, addrs, n);
	rv_log_debug("access rules: %zu address(es) of this host denied by default", acl->nself);
	return ret;
}

size_t rv_acl_self_count(const struct rv_acl *acl)
{
	return acl == NULL ? 0 : acl->nself;
}

/* An address appeared or went: drain the notifications, then re-read. */
static void nl_cb(struct rv_loop_fd *w, int fd, unsigned revents, void *arg)
{
	struct rv_acl *acl = arg;
	char buf[8192];
	int i;

	(void)w;
	(void)revents;
	for (i = 0; i < 64; i++) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0 && errno != ENOBUFS && errno != EINTR)
			break; /* ENOBUFS: we missed some; the re-read covers them */
	}
	if (rv_acl_refresh_self(acl) != RV_OK)
		rv_log_warn("access rules: cannot re-read this host's addresses");
}

static void timer_cb(struct rv_loop_timer *t, void *arg)
{
	struct rv_acl *acl = arg;

	if (rv_acl_refresh_self(acl) != RV_OK)
		rv_log_warn("access rules: cannot re-read this host's addresses");
	rv_loop_timer_set(t, RV_ACL_SELF_REFRESH_MS);
}

int rv_acl_watch(struct rv_acl *acl, struct rv_loop *loop)
{
	struct sockaddr_nl snl;
	int ret;

	if (acl == NULL || loop == NULL)
		return RV_ERR_INVALID_ARG;
	if (!acl->with_defaults || acl->loop != NULL)
		return RV_OK;
	acl->loop = loop;
	acl->nl_fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (acl->nl_fd >= 0) {
		memset(&snl, 0, sizeof(snl));
		snl.nl_family = AF_NETLINK;
		snl.nl_groups = RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;
		if (bind(acl->nl_fd, (struct sockaddr *)&snl, sizeof(snl)) == 0 &&
		    rv_loop_fd_add(loop, acl->nl_fd, RV_LOOP_READ, nl_cb, acl, &acl->nl_w) ==
			    RV_OK)
			return RV_OK;
		close(acl->nl_fd);
		acl->nl_fd = -1;
	}
	rv_log_info("access rules: no rtnetlink; re-reading this host's addresses every %d s",
		    RV_ACL_SELF_REFRESH_MS / 1000);
	ret = rv_loop_timer_new(loop, timer_cb, acl, &acl->timer);
	if (ret != RV_OK) {
		acl->loop = NULL;
		return ret;
	}
	rv_loop_timer_set(acl->timer, RV_ACL_SELF_REFRESH_MS);
	return RV_OK;
}

void rv_acl_unwatch(struct rv_acl *acl)
{
	if (acl == NULL || acl->loop == NULL)
		return;
	rv_loop_fd_del(acl->nl_w);
	acl->nl_w = NULL;
	if (acl->nl_fd >= 0)
		close(acl->nl_fd);
	acl->nl_fd = -1;
	rv_loop_timer_free(acl->timer);
	acl->timer = NULL;
	acl->loop = NULL;
}
