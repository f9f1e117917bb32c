/* rv_sockaddr.c - socket address helpers.  Owner: server-libs. */
#include "rv_sockaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rv_err.h"

int rv_sockaddr_from_ip(struct rv_sockaddr *sa, int family, const uint8_t *ip, uint16_t port)
{
	if (sa == NULL || ip == NULL)
		return RV_ERR_INVALID_ARG;
	memset(sa, 0, sizeof(*sa));
	if (family == AF_INET) {
		sa->u.in.sin_family = AF_INET;
		sa->u.in.sin_port = htons(port);
		memcpy(&sa->u.in.sin_addr, ip, 4);
		sa->len = sizeof(sa->u.in);
		return RV_OK;
	}
	if (family == AF_INET6) {
		sa->u.in6.sin6_family = AF_INET6;
		sa->u.in6.sin6_port = htons(port);
		memcpy(&sa->u.in6.sin6_addr, ip, 16);
		sa->len = sizeof(sa->u.in6);
		return RV_OK;
	}
	return RV_ERR_INVALID_ARG;
}

int rv_sockaddr_from_sys(struct rv_sockaddr *sa, const struct sockaddr *sys, socklen_t len)
{
	if (sa == NULL || sys == NULL)
		return RV_ERR_INVALID_ARG;
	memset(sa, 0, sizeof(*sa));
	if (sys->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
		memcpy(&sa->u.in, sys, sizeof(sa->u.in));
		sa->len = sizeof(sa->u.in);
		return RV_OK;
	}
	if (sys->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		memcpy(&sa->u.in6, sys, sizeof(sa->u.in6));
		sa->len = sizeof(sa->u.in6);
		return RV_OK;
	}
	return RV_ERR_INVALID_ARG;
}

int rv_sockaddr_family(const struct rv_sockaddr *sa)
{
	if (sa == NULL || sa->len == 0)
		return AF_UNSPEC;
	return sa->u.sa.sa_family;
}

uint16_t rv_sockaddr_port(const struct rv_sockaddr *sa)
{
	switch (rv_sockaddr_family(sa)) {
	case AF_INET:
		return ntohs(sa->u.in.sin_port);
	case AF_INET6:
		return ntohs(sa->u.in6.sin6_port);
	default:
		return 0;
	}
}

void rv_sockaddr_set_port(struct rv_sockaddr *sa, uint16_t port)
{
	switch (rv_sockaddr_family(sa)) {
	case AF_INET:
		sa->u.in.sin_port = htons(port);
		break;
	case AF_INET6:
		sa->u.in6.sin6_port = htons(port);
		break;
	default:
		break;
	}
}

const uint8_t *rv_sockaddr_ip(const struct rv_sockaddr *sa, size_t *len)
{
	switch (rv_sockaddr_family(sa)) {
	case AF_INET:
		*len = 4;
		return (const uint8_t *)&sa->u.in.sin_addr;
	case AF_INET6:
		*len = 16;
		return (const uint8_t *)&sa->u.in6.sin6_addr;
	default:
		*len = 0;
		return NULL;
	}
}

int rv_sockaddr_equal(const struct rv_sockaddr *a, const struct rv_sockaddr *b)
{
	size_t la, lb;
	const uint8_t *ia = rv_sockaddr_ip(a, &la), *ib = rv_sockaddr_ip(b, &lb);

	if (ia == NULL || ib == NULL || la != lb || memcmp(ia, ib, la) != 0)
		return 0;
	if (rv_sockaddr_port(a) != rv_sockaddr_port(b))
		return 0;
	if (la == 16 && a->u.in6.sin6_scope_id != b->u.in6.sin6_scope_id)
		return 0;
	return 1;
}

const char *rv_sockaddr_str(const struct rv_sockaddr *sa, int with_port,
			    char out[RV_SOCKADDR_STRLEN])
{
	char ip[INET6_ADDRSTRLEN];
	size_t len;
	const uint8_t *p = rv_sockaddr_ip(sa, &len);

	if (p == NULL) {
		snprintf(out, RV_SOCKADDR_STRLEN, "(none)");
		return out;
	}
	if (inet_ntop(len == 4 ? AF_INET : AF_INET6, p, ip, sizeof(ip)) == NULL) {
		snprintf(out, RV_SOCKADDR_STRLEN, "(bad)");
		return out;
	}
	if (!with_port)
		snprintf(out, RV_SOCKADDR_STRLEN, "%s", ip);
	else if (len == 4)
		snprintf(out, RV_SOCKADDR_STRLEN, "%s:%u", ip, (unsigned)rv_sockaddr_port(sa));
	else
		snprintf(out, RV_SOCKADDR_STRLEN, "[%s]:%u", ip, (unsigned)rv_sockaddr_port(sa));
	return out;
}

int rv_sockaddr_from_literal(const char *text, uint16_t port, struct rv_sockaddr *out)
{
	uint8_t ip[16];

	if (text == NULL || out == NULL)
		return RV_ERR_INVALID_ARG;
	/* inet_pton(AF_INET) accepts only strict dotted quads: "1" or
	 * "0x7f.1" are names, not addresses, so they go to DNS. */
	if (inet_pton(AF_INET, text, ip) == 1)
		return rv_sockaddr_from_ip(out, AF_INET, ip, port);
	if (inet_pton(AF_INET6, text, ip) == 1)
		return rv_sockaddr_from_ip(out, AF_INET6, ip, port);
	return RV_ERR_NOT_FOUND;
}

/* Decimal port 0..65535, whole string. */
static int parse_port(const char *s, uint16_t *port)
{
	unsigned long v = 0;
	size_t i;

	if (s[0] == '\0' || strlen(s) > 5)
		return RV_ERR_MALFORMED;
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9')
			return RV_ERR_MALFORMED;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > 65535)
		return RV_ERR_MALFORMED;
	*port = (uint16_t)v;
	return RV_OK;
}

int rv_sockaddr_parse(const char *text, uint16_t default_port, int allow_port0,
		      struct rv_sockaddr *out, char *err, size_t errlen)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *port_s = NULL, *colon;
	size_t hlen;
	uint16_t port = default_port;
	int ret = RV_ERR_MALFORMED;
	const char *why = "not an address";

	if (text == NULL || out == NULL)
		return RV_ERR_INVALID_ARG;
	if (text[0] == '[') {
		const char *close = strchr(text, ']');

		if (close == NULL)
			goto out;
		hlen = (size_t)(close - text - 1);
		if (hlen == 0 || hlen >= sizeof(host))
			goto out;
		memcpy(host, text + 1, hlen);
		host[hlen] = '\0';
		if (close[1] == ':')
			port_s = close + 2;
		else if (close[1] != '\0')
			goto out;
		if (strchr(host, ':') == NULL) /* brackets are for IPv6 only */
			goto out;
	} else {
		colon = strchr(text, ':');
		if (colon != NULL && strchr(colon + 1, ':') != NULL) {
			/* Two or more colons: a bare IPv6 address, no port. */
			hlen = strlen(text);
		} else {
			hlen = colon != NULL ? (size_t)(colon - text) : strlen(text);
			if (colon != NULL)
				port_s = colon + 1;
		}
		if (hlen == 0 || hlen >= sizeof(host))
			goto out;
		memcpy(host, text, hlen);
		host[hlen] = '\0';
	}
	if (port_s != NULL && parse_port(port_s, &port) != RV_OK) {
		why = "the port is not a number in 1-65535";
		goto out;
	}
	if (port == 0 && !allow_port0) {
		why = port_s != NULL ? "port 0 is not allowed here" : "a port is needed (ADDR:PORT)";
		goto out;
	}
	/* Listeners never wait for DNS: the one name everybody means is
	 * localhost; any other name gets its own hint. */
	if (strcmp(host, "localhost") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	if (rv_sockaddr_from_literal(host, port, out) != RV_OK) {
		why = strchr(host, ':') != NULL || strspn(host, "0123456789.") == strlen(host)
			      ? "not an IP address"
			      : "a host name; an IP address is needed here (e.g. 127.0.0.1, 0.0.0.0 "
				"or [::])";
		goto out;
	}
	ret = RV_OK;
out:
	if (ret != RV_OK && err != NULL)
		snprintf(err, errlen, "'%s': %s (forms: IP:PORT, [IPv6]:PORT)", text, why);
	return ret;
}

int rv_sockaddr_to_addr(const struct rv_sockaddr *sa, struct rv_addr *a)
{
	size_t len;
	const uint8_t *ip = rv_sockaddr_ip(sa, &len);

	if (ip == NULL || a == NULL)
		return RV_ERR_INVALID_ARG;
	memset(a, 0, sizeof(*a));
	a->atyp = len == 4 ? RV_ATYP_IPV4 : RV_ATYP_IPV6;
	memcpy(a->ip, ip, len);
	a->port = rv_sockaddr_port(sa);
	return RV_OK;
}

int rv_sockaddr_from_addr(struct rv_sockaddr *sa, const struct rv_addr *a)
{
	if (a == NULL)
		return RV_ERR_INVALID_ARG;
	if (a->atyp == RV_ATYP_IPV4)
		return rv_sockaddr_from_ip(sa, AF_INET, a->ip, a->port);
	if (a->atyp == RV_ATYP_IPV6)
		return rv_sockaddr_from_ip(sa, AF_INET6, a->ip, a->port);
	return RV_ERR_INVALID_ARG;
}
