/* rv_permitlisten.c - permit-listen="SPEC" (see rv_permitlisten.h). */
#include "rv_permitlisten.h"

#include <arpa/inet.h>
#include <string.h>

#include "rv_err.h"

/* Decimal 1..65535 in s[0..len). */
static int rv_permit_port(const char *s, size_t len, uint16_t *out)
{
	unsigned v = 0;

	if (len == 0 || len > 5)
		return RV_ERR_CONFIG;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return RV_ERR_CONFIG;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return RV_ERR_CONFIG;
	*out = (uint16_t)v;
	return RV_OK;
}

static int rv_permit_ports(const char *s, size_t len, struct rv_permit_listen_rule *r)
{
	const char *dash = memchr(s, '-', len);

	if (len == 1 && s[0] == '*') {
		r->any_port = 1;
		return RV_OK;
	}
	if (dash == NULL) {
		if (rv_permit_port(s, len, &r->port_lo) != RV_OK)
			return RV_ERR_CONFIG;
		r->port_hi = r->port_lo;
		return RV_OK;
	}
	if (rv_permit_port(s, (size_t)(dash - s), &r->port_lo) != RV_OK ||
	    rv_permit_port(dash + 1, len - (size_t)(dash - s) - 1, &r->port_hi) != RV_OK ||
	    r->port_lo > r->port_hi)
		return RV_ERR_CONFIG;
	return RV_OK;
}

static int rv_permit_host(const char *s, size_t len, struct rv_permit_listen_rule *r)
{
	char tmp[64];

	if (len == 1 && s[0] == '*') {
		r->host = RV_PERMIT_HOST_ANY;
		return RV_OK;
	}
	if (len == 9 && memcmp(s, "localhost", 9) == 0) {
		r->host = RV_PERMIT_HOST_LOOPBACK;
		return RV_OK;
	}
	if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
		if (len - 2 >= sizeof(tmp))
			return RV_ERR_CONFIG;
		memcpy(tmp, s + 1, len - 2);
		tmp[len - 2] = '\0';
		if (inet_pton(AF_INET6, tmp, r->ip) != 1)
			return RV_ERR_CONFIG;
		r->host = RV_PERMIT_HOST_IPV6;
		return RV_OK;
	}
	if (len >= sizeof(tmp))
		return RV_ERR_CONFIG;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	if (inet_pton(AF_INET, tmp, r->ip) != 1)
		return RV_ERR_CONFIG;
	r->host = RV_PERMIT_HOST_IPV4;
	return RV_OK;
}

/* One [HOST:]PORTS entry. */
static int rv_permit_entry(const char *s, size_t len, struct rv_permit_listen_rule *r)
{
	const char *colon = NULL;

	memset(r, 0, sizeof(*r));
	/* The last ':' separates the port (an IPv6 host is bracketed). */
	for (size_t i = len; i > 0; i--) {
		if (s[i - 1] == ':') {
			colon = s + i - 1;
			break;
		}
		if (s[i - 1] == ']')
			break;
	}
	if (colon == NULL) {
		r->host = RV_PERMIT_HOST_LOOPBACK;
		return rv_permit_ports(s, len, r);
	}
	if (rv_permit_host(s, (size_t)(colon - s), r) != RV_OK)
		return RV_ERR_CONFIG;
	return rv_permit_ports(colon + 1, len - (size_t)(colon - s) - 1, r);
}

int rv_permit_listen_parse(struct rv_permit_listen *out, const char *spec, size_t len,
			   char *err, size_t errlen)
{
	struct rv_permit_listen tmp;
	size_t i = 0, start;

	if (out == NULL || (spec == NULL && len > 0))
		return RV_ERR_INVALID_ARG;
	if (len == 0 || len > RV_PERMIT_LISTEN_SPEC_MAX) {
		rv_err_set(err, errlen, "permit-listen: empty or longer than %d bytes",
			   RV_PERMIT_LISTEN_SPEC_MAX);
		return RV_ERR_CONFIG;
	}
	tmp = *out;
	while (i <= len) {
		start = i;
		while (i < len && spec[i] != ',')
			i++;
		if (tmp.n == RV_PERMIT_LISTEN_MAX) {
			rv_err_set(err, errlen, "permit-listen: more than %d entries",
				   RV_PERMIT_LISTEN_MAX);
			return RV_ERR_LIMIT;
		}
		if (rv_permit_entry(spec + start, i - start, &tmp.r[tmp.n]) != RV_OK) {
			rv_err_set(err, errlen, "permit-listen: bad entry \"%.*s\" (expected "
				   "[HOST:]PORT, [HOST:]LOW-HIGH or [HOST:]*; HOST is *, "
				   "localhost, an IPv4 address or [IPv6])",
				   (int)(i - start > 64 ? 64 : i - start), spec + start);
			return RV_ERR_CONFIG;
		}
		tmp.n++;
		i++; /* past the ',' (or the end) */
	}
	*out = tmp;
	return RV_OK;
}

int rv_permit_listen_is_loopback(const struct rv_addr *a)
{
	static const uint8_t v6lo[16] = { [15] = 1 };

	if (a->atyp == RV_ATYP_IPV4)
		return a->ip[0] == 127;
	return a->atyp == RV_ATYP_IPV6 && memcmp(a->ip, v6lo, 16) == 0;
}

static int rv_permit_host_match(const struct rv_permit_listen_rule *r, const struct rv_addr *a)
{
	switch (r->host) {
	case RV_PERMIT_HOST_ANY:
		return 1;
	case RV_PERMIT_HOST_LOOPBACK:
		return rv_permit_listen_is_loopback(a);
	case RV_PERMIT_HOST_IPV4:
		return a->atyp == RV_ATYP_IPV4 && memcmp(a->ip, r->ip, 4) == 0;
	case RV_PERMIT_HOST_IPV6:
		return a->atyp == RV_ATYP_IPV6 && memcmp(a->ip, r->ip, 16) == 0;
	default:
		return 0;
	}
}

int rv_permit_listen_check(const struct rv_permit_listen *p, const struct rv_addr *bind)
{
	if (p == NULL || bind == NULL ||
	    (bind->atyp != RV_ATYP_IPV4 && bind->atyp != RV_ATYP_IPV6))
		return RV_ERR_DENIED;
	for (unsigned i = 0; i < p->n && i < RV_PERMIT_LISTEN_MAX; i++) {
		const struct rv_permit_listen_rule *r = &p->r[i];

		if (!rv_permit_host_match(r, bind))
			continue;
		if (r->any_port || (bind->port != 0 && bind->port >= r->port_lo &&
				    bind->port <= r->port_hi))
			return RV_OK;
	}
	return RV_ERR_DENIED;
}
