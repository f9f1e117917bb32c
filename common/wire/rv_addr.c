/* rv_addr.c - wire address helpers.  Owner: frames helper. */
#include "rv_addr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "rv_err.h"

void rv_addr_set_ipv4(struct rv_addr *a, const uint8_t ip[4], uint16_t port)
{
	memset(a, 0, sizeof(*a));
	a->atyp = RV_ATYP_IPV4;
	memcpy(a->ip, ip, 4);
	a->port = port;
}

void rv_addr_set_ipv6(struct rv_addr *a, const uint8_t ip[16], uint16_t port)
{
	memset(a, 0, sizeof(*a));
	a->atyp = RV_ATYP_IPV6;
	memcpy(a->ip, ip, 16);
	a->port = port;
}

int rv_addr_set_domain(struct rv_addr *a, const char *name, size_t len, uint16_t port)
{
	if (a == NULL || name == NULL || len == 0 || len > RV_DOMAIN_MAX ||
	    memchr(name, 0, len) != NULL)
		return RV_ERR_INVALID_ARG;
	memset(a, 0, sizeof(*a));
	a->atyp = RV_ATYP_DOMAIN;
	memcpy(a->domain, name, len);
	a->domain[len] = '\0';
	a->domain_len = (uint8_t)len;
	a->port = port;
	return RV_OK;
}

int rv_addr_from_literal(struct rv_addr *a, const char *text, uint16_t port)
{
	uint8_t ip[16];

	if (a == NULL || text == NULL)
		return RV_ERR_INVALID_ARG;
	if (inet_pton(AF_INET, text, ip) == 1) {
		rv_addr_set_ipv4(a, ip, port);
		return RV_OK;
	}
	if (inet_pton(AF_INET6, text, ip) == 1) {
		rv_addr_set_ipv6(a, ip, port);
		return RV_OK;
	}
	return RV_ERR_NOT_FOUND;
}

int rv_addr_check(const struct rv_addr *a)
{
	if (a == NULL)
		return RV_ERR_INVALID_ARG;
	switch (a->atyp) {
	case RV_ATYP_IPV4:
	case RV_ATYP_IPV6:
		return RV_OK;
	case RV_ATYP_DOMAIN:
		if (a->domain_len == 0 || memchr(a->domain, 0, a->domain_len) != NULL)
			return RV_ERR_INVALID_ARG;
		return RV_OK;
	default:
		return RV_ERR_INVALID_ARG;
	}
}

int rv_addr_equal(const struct rv_addr *a, const struct rv_addr *b)
{
	if (a->atyp != b->atyp || a->port != b->port)
		return 0;
	switch (a->atyp) {
	case RV_ATYP_IPV4:
		return memcmp(a->ip, b->ip, 4) == 0;
	case RV_ATYP_IPV6:
		return memcmp(a->ip, b->ip, 16) == 0;
	case RV_ATYP_DOMAIN:
		/* DNS names compare without regard to ASCII case (RFC 4343). */
		return a->domain_len == b->domain_len &&
		       strncasecmp(a->domain, b->domain, a->domain_len) == 0;
	default:
		return 0;
	}
}

const char *rv_addr_str(const struct rv_addr *a, char *out, size_t outlen)
{
	char host[RV_ADDR_STRLEN];
	size_t i, n = 0;

	if (out == NULL || outlen == 0)
		return out;
	host[0] = '\0';
	switch (a == NULL ? RV_ATYP_INVALID : a->atyp) {
	case RV_ATYP_IPV4:
		inet_ntop(AF_INET, a->ip, host, sizeof(host));
		break;
	case RV_ATYP_IPV6:
		host[0] = '[';
		inet_ntop(AF_INET6, a->ip, host + 1, sizeof(host) - 2);
		strcat(host, "]");
		break;
	case RV_ATYP_DOMAIN:
		for (i = 0; i < a->domain_len && n + 5 < sizeof(host); i++) {
			unsigned char c = (unsigned char)a->domain[i];

			if (c >= 0x21 && c < 0x7f && c != '\\')
				host[n++] = (char)c;
			else
				n += (size_t)snprintf(host + n, sizeof(host) - n, "\\x%02x", c);
		}
		host[n] = '\0';
		break;
	default:
		snprintf(out, outlen, "(invalid address)");
		return out;
	}
	snprintf(out, outlen, "%s:%u", host, (unsigned)a->port);
	return out;
}
