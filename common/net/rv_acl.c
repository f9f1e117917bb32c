/* rv_acl.c - access rules, most specific match wins.  Owner: server-libs. */
#include "rv_acl.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rv_err.h"

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
};

/* The default deny list, IPv4 part: also installed in its IPv4-compatible,
 * NAT64 and 6to4 IPv6 forms. */
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
		*why = want6 == 1 ? "bad IPv6 address inside [ ]" :
				    "bad address (IPv6 with a port needs brackets: [ADDR/LEN]:PORTS)";
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

static int add_default_v6(struct rv_acl *acl, const uint8_t *prefix, size_t prefix_bytes,
			  size_t v4_at, const uint8_t v4[4], unsigned plen)
{
	struct rv_acl_rule r;
	char ip[INET6_ADDRSTRLEN];

	memset(&r, 0, sizeof(r));
	r.family = 6;
	r.is_default = 1;
	r.action = RV_ACL_DENY;
	r.nports = 65536;
	memcpy(r.net, prefix, prefix_bytes);
	memcpy(r.net + v4_at, v4, 4);
	r.plen = (uint8_t)plen;
	inet_ntop(AF_INET6, r.net, ip, sizeof(ip));
	snprintf(r.text, sizeof(r.text), "deny %s/%u (default)", ip, plen);
	return acl_push(acl, &r);
}

static int add_defaults(struct rv_acl *acl)
{
	static const uint8_t nat64[4] = {0x00, 0x64, 0xff, 0x9b};
	static const uint8_t six2four[2] = {0x20, 0x02};
	static const uint8_t compat[1] = {0};
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
		if ((ret = acl_push(acl, &r)) != RV_OK ||
		    (ret = add_default_v6(acl, compat, 1, 12, v4, 96 + len)) != RV_OK ||
		    (ret = add_default_v6(acl, nat64, 4, 12, v4, 96 + len)) != RV_OK ||
		    (ret = add_default_v6(acl, six2four, 2, 2, v4, 16 + len)) != RV_OK)
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
	if (with_defaults && (ret = add_defaults(acl)) != RV_OK) {
		rv_acl_free(acl);
		return ret;
	}
	*out = acl;
	return RV_OK;
}

void rv_acl_free(struct rv_acl *acl)
{
	if (acl == NULL)
		return;
	free(acl->rules);
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

int rv_acl_check(const struct rv_acl *acl, const struct rv_sockaddr *sa, const char **rule)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	const struct rv_acl_rule *best = NULL;
	const uint8_t *ip;
	size_t len, i;
	unsigned family;
	uint16_t port = rv_sockaddr_port(sa);

	if (rule != NULL)
		*rule = "no rule";
	if (acl == NULL || sa == NULL || (ip = rv_sockaddr_ip(sa, &len)) == NULL)
		return RV_ERR_INVALID_ARG;
	family = len == 4 ? 4 : 6;
	if (family == 6 && memcmp(ip, mapped, sizeof(mapped)) == 0) {
		/* ::ffff:a.b.c.d reaches a.b.c.d: judge it as that. */
		ip += 12;
		family = 4;
	}
	for (i = 0; i < acl->n; i++) {
		const struct rv_acl_rule *r = &acl->rules[i];

		if (rule_matches(r, family, ip, port) && (best == NULL || rule_beats(r, best)))
			best = r;
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
