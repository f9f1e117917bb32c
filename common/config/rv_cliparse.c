/* rv_cliparse.c - command-line value parsers (see rv_cliparse.h). */
#include "rv_cliparse.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "rv_err.h"
#include "rv_wire.h"

/* A spec has at most BIND:PORT:HOST:HOSTPORT. */
enum { RV_CLI_MAX_FIELDS = 4 };

struct rv_cli_field {
	const char *p;
	size_t len;
	int bracketed;
};

__attribute__((format(printf, 3, 4))) static int rv_cli_fail(char *err, size_t errlen,
							      const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return RV_ERR_CONFIG;
}

static int rv_cli_port_span(const char *p, size_t len, uint16_t *port)
{
	uint32_t v = 0;
	size_t i;

	if (len == 0 || len > 5)
		return RV_ERR_CONFIG;
	for (i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return RV_ERR_CONFIG;
		v = v * 10 + (uint32_t)(p[i] - '0');
	}
	if (v == 0 || v > 65535)
		return RV_ERR_CONFIG;
	*port = (uint16_t)v;
	return RV_OK;
}

int rv_cliparse_port(const char *flag, const char *text, uint16_t *port, char *err,
		     size_t errlen)
{
	if (text == NULL || rv_cli_port_span(text, strlen(text), port) != RV_OK)
		return rv_cli_fail(err, errlen, "%s: '%s' is not a port number (1-65535)", flag,
				   text != NULL ? text : "");
	return RV_OK;
}

/* Split at ':' outside brackets.  "[v6]" must fill a whole field. */
static int rv_cli_split(const char *text, struct rv_cli_field *f, size_t max, size_t *n)
{
	const char *p = text;
	size_t count = 0;

	for (;;) {
		const char *end;

		if (count == max)
			return RV_ERR_CONFIG;
		memset(&f[count], 0, sizeof(f[count]));
		if (*p == '[') {
			end = strchr(p, ']');
			if (end == NULL)
				return RV_ERR_CONFIG;
			f[count].p = p + 1;
			f[count].len = (size_t)(end - p - 1);
			f[count].bracketed = 1;
			end++;
			if (*end != ':' && *end != '\0')
				return RV_ERR_CONFIG;
		} else {
			end = p + strcspn(p, ":[]");
			if (*end == '[' || *end == ']')
				return RV_ERR_CONFIG;
			f[count].p = p;
			f[count].len = (size_t)(end - p);
		}
		count++;
		if (*end == '\0')
			break;
		p = end + 1;
	}
	*n = count;
	return RV_OK;
}

static int rv_cli_copy(char *dst, size_t dstlen, const char *p, size_t len)
{
	if (len >= dstlen)
		return RV_ERR_CONFIG;
	memcpy(dst, p, len);
	dst[len] = '\0';
	return RV_OK;
}

/* Numeric only (AI_NUMERICHOST): parsing never touches DNS. */
static int rv_cli_bind_addr(const struct rv_cli_field *host, uint16_t port,
			    struct rv_cli_sockaddr *out)
{
	char buf[RV_CLI_HOST_MAX + 1];
	struct addrinfo hints, *res = NULL;
	struct in_addr v4;
	int ret = RV_ERR_CONFIG;

	memset(out, 0, sizeof(*out));
	if (rv_cli_copy(buf, sizeof(buf), host->p, host->len) != RV_OK)
		return RV_ERR_CONFIG;
	if (!host->bracketed && (buf[0] == '\0' || strcmp(buf, "*") == 0)) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&out->ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_addr = in6addr_any;
		s6->sin6_port = htons(port);
		out->len = sizeof(*s6);
		out->wildcard = 1;
		return RV_OK;
	}
	if (!host->bracketed && strcmp(buf, "localhost") == 0)
		strcpy(buf, "127.0.0.1");
	/* getaddrinfo would take inet_aton forms such as "1.2.3". */
	if (!host->bracketed && inet_pton(AF_INET, buf, &v4) != 1)
		return RV_ERR_CONFIG;
	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
	hints.ai_family = host->bracketed ? AF_INET6 : AF_INET;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(buf, NULL, &hints, &res) != 0 || res == NULL)
		goto out;
	if (res->ai_addrlen > sizeof(out->ss))
		goto out;
	memcpy(&out->ss, res->ai_addr, res->ai_addrlen);
	out->len = res->ai_addrlen;
	if (res->ai_family == AF_INET6)
		((struct sockaddr_in6 *)&out->ss)->sin6_port = htons(port);
	else
		((struct sockaddr_in *)&out->ss)->sin_port = htons(port);
	ret = RV_OK;
out:
	if (res != NULL)
		freeaddrinfo(res);
	return ret;
}

static int rv_cli_domain_ok(const char *p, size_t len)
{
	size_t i;

	if (len == 0 || len > RV_DOMAIN_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		char c = p[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.' || c == '_'))
			return 0;
	}
	return 1;
}

static int rv_cli_target(const struct rv_cli_field *host, uint16_t port, struct rv_addr *a)
{
	char buf[RV_CLI_HOST_MAX + 1];

	memset(a, 0, sizeof(*a));
	if (rv_cli_copy(buf, sizeof(buf), host->p, host->len) != RV_OK)
		return RV_ERR_CONFIG;
	a->port = port;
	if (host->bracketed) {
		if (inet_pton(AF_INET6, buf, a->ip) != 1)
			return RV_ERR_CONFIG;
		a->atyp = RV_ATYP_IPV6;
		return RV_OK;
	}
	if (inet_pton(AF_INET, buf, a->ip) == 1) {
		a->atyp = RV_ATYP_IPV4;
		return RV_OK;
	}
	if (!rv_cli_domain_ok(buf, host->len))
		return RV_ERR_CONFIG;
	a->atyp = RV_ATYP_DOMAIN;
	memcpy(a->domain, buf, host->len + 1);
	a->domain_len = (uint8_t)host->len;
	return RV_OK;
}

int rv_cliparse_listen(const char *flag, const char *text, const char *default_bind,
		       struct rv_cli_sockaddr *out, char *err, size_t errlen)
{
	struct rv_cli_field f[RV_CLI_MAX_FIELDS];
	struct rv_cli_field def;
	const struct rv_cli_field *host;
	uint16_t port;
	size_t n = 0;

	if (text == NULL)
		text = "";
	if (rv_cli_split(text, f, 2, &n) != RV_OK)
		return rv_cli_fail(err, errlen,
				   "%s: '%s' is not [BIND:]PORT (IPv6 addresses go in brackets: "
				   "[::1]:1080)", flag, text);
	if (rv_cli_port_span(f[n - 1].p, f[n - 1].len, &port) != RV_OK || f[n - 1].bracketed)
		return rv_cli_fail(err, errlen, "%s: '%s': the port is not a number in 1-65535",
				   flag, text);
	if (n == 2) {
		host = &f[0];
	} else {
		def.p = default_bind;
		def.len = strlen(default_bind);
		def.bracketed = strchr(default_bind, ':') != NULL;
		host = &def;
	}
	if (rv_cli_bind_addr(host, port, out) != RV_OK)
		return rv_cli_fail(err, errlen,
				   "%s: '%s': the bind address must be a numeric IPv4 address, "
				   "[IPv6], 'localhost' or '*'", flag, text);
	return RV_OK;
}

int rv_cliparse_forward(const char *flag, const char *text, const char *default_bind,
			struct rv_cli_forward *out, char *err, size_t errlen)
{
	struct rv_cli_field f[RV_CLI_MAX_FIELDS];
	struct rv_cli_field def;
	const struct rv_cli_field *bind, *port_f, *host, *hport_f;
	uint16_t port, hport;
	size_t n = 0;

	memset(out, 0, sizeof(*out));
	if (text == NULL)
		text = "";
	if (rv_cli_split(text, f, RV_CLI_MAX_FIELDS, &n) != RV_OK || n < 3)
		return rv_cli_fail(err, errlen,
				   "%s: '%s' is not [BIND:]PORT:HOST:HOSTPORT (IPv6 addresses go "
				   "in brackets)", flag, text);
	if (n == 4) {
		bind = &f[0];
	} else {
		def.p = default_bind;
		def.len = strlen(default_bind);
		def.bracketed = strchr(default_bind, ':') != NULL;
		bind = &def;
	}
	port_f = &f[n - 3];
	host = &f[n - 2];
	hport_f = &f[n - 1];
	/* "2222:h:22:x": four fields read as BIND:PORT:HOST:HOSTPORT, but the
	 * first is a port and the second a name: the user gave one field too
	 * many, so say that instead of "the local port 'h' is not a number". */
	if (n == 4 && rv_cli_port_span(f[0].p, f[0].len, &port) == RV_OK &&
	    rv_cli_port_span(port_f->p, port_f->len, &port) != RV_OK)
		return rv_cli_fail(err, errlen,
				   "%s: '%s': too many fields: the form is [BIND:]PORT:HOST:HOSTPORT, "
				   "so '%.*s' was read as the bind address (e.g. -L %.*s:%.*s:%.*s)",
				   flag, text, (int)f[0].len, f[0].p, (int)f[0].len, f[0].p,
				   (int)port_f->len, port_f->p, (int)host->len, host->p);
	if (port_f->bracketed || rv_cli_port_span(port_f->p, port_f->len, &port) != RV_OK)
		return rv_cli_fail(err, errlen, "%s: '%s': the local port '%.*s' is not a number "
				   "in 1-65535", flag, text, (int)port_f->len, port_f->p);
	if (hport_f->bracketed || rv_cli_port_span(hport_f->p, hport_f->len, &hport) != RV_OK)
		return rv_cli_fail(err, errlen, "%s: '%s': the target port '%.*s' is not a "
				   "number in 1-65535", flag, text, (int)hport_f->len, hport_f->p);
	if (rv_cli_bind_addr(bind, port, &out->bind) != RV_OK)
		return rv_cli_fail(err, errlen,
				   "%s: '%s': the bind address must be a numeric IPv4 address, "
				   "[IPv6], 'localhost' or '*'", flag, text);
	if (rv_cli_target(host, hport, &out->target) != RV_OK)
		return rv_cli_fail(err, errlen,
				   "%s: '%s': the target host '%.*s' is not a host name, an IPv4 "
				   "address or a bracketed IPv6 address", flag, text,
				   (int)host->len, host->p);
	return RV_OK;
}

static int rv_cli_has_prefix_ci(const char *s, const char *prefix)
{
	return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

static int rv_cli_path_ok(const char *p)
{
	for (; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c <= 0x20 || c >= 0x7f || c == '#')
			return 0;
	}
	return 1;
}

int rv_cliparse_url(const char *flag, const char *text, struct rv_cli_url *out, char *err,
		    size_t errlen)
{
	const char *p, *auth_end, *host_end, *path;
	size_t auth_len, host_len;
	uint8_t ip6[16];

	memset(out, 0, sizeof(*out));
	if (text == NULL)
		text = "";
	if (rv_cli_has_prefix_ci(text, "wss://")) {
		out->scheme = RV_CLI_URL_WSS;
		out->port = 443;
		p = text + 6;
	} else if (rv_cli_has_prefix_ci(text, "ws://")) {
		out->scheme = RV_CLI_URL_WS;
		out->port = 80;
		p = text + 5;
	} else {
		return rv_cli_fail(err, errlen, "%s: '%s' is not a ws:// or wss:// URL", flag,
				   text);
	}
	auth_len = strcspn(p, "/?#");
	auth_end = p + auth_len;
	if (memchr(p, '@', auth_len) != NULL)
		return rv_cli_fail(err, errlen, "%s: '%s': user names in the URL are not "
				   "supported", flag, text);
	if (*p == '[') {
		const char *rb = memchr(p, ']', auth_len);

		if (rb == NULL)
			return rv_cli_fail(err, errlen, "%s: '%s': missing ']' after the IPv6 "
					   "address", flag, text);
		host_len = (size_t)(rb - p - 1);
		if (rv_cli_copy(out->host, sizeof(out->host), p + 1, host_len) != RV_OK ||
		    inet_pton(AF_INET6, out->host, ip6) != 1)
			return rv_cli_fail(err, errlen, "%s: '%s': '%.*s' is not an IPv6 address",
					   flag, text, (int)host_len, p + 1);
		out->host_is_ipv6 = 1;
		host_end = rb + 1;
		if (host_end != auth_end && *host_end != ':')
			return rv_cli_fail(err, errlen, "%s: '%s': unexpected text after ']'", flag,
					   text);
	} else {
		host_end = memchr(p, ':', auth_len);
		if (host_end == NULL)
			host_end = auth_end;
		host_len = (size_t)(host_end - p);
		if (!rv_cli_domain_ok(p, host_len) ||
		    rv_cli_copy(out->host, sizeof(out->host), p, host_len) != RV_OK)
			return rv_cli_fail(err, errlen, "%s: '%s': '%.*s' is not a valid host", flag,
					   text, (int)host_len, p);
	}
	if (host_end != auth_end &&
	    rv_cli_port_span(host_end + 1, (size_t)(auth_end - host_end - 1), &out->port) != RV_OK)
		return rv_cli_fail(err, errlen, "%s: '%s': the port '%.*s' is not a number in "
				   "1-65535", flag, text, (int)(auth_end - host_end - 1),
				   host_end + 1);
	path = auth_end;
	if (!rv_cli_path_ok(path))
		return rv_cli_fail(err, errlen, "%s: '%s': the path may not contain spaces, "
				   "control characters or a '#' fragment", flag, text);
	if (*path == '\0')
		path = RV_WS_DEFAULT_PATH;
	if (snprintf(out->path, sizeof(out->path), "%s%s", *path == '?' ? "/" : "", path) >=
	    (int)sizeof(out->path))
		return rv_cli_fail(err, errlen, "%s: the URL path is longer than %d bytes", flag,
				   RV_CLI_PATH_MAX);
	return RV_OK;
}

void rv_cli_sockaddr_str(const struct sockaddr *sa, char *out, size_t outlen)
{
	char host[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		snprintf(out, outlen, "[%s]:%u", host, (unsigned)ntohs(s6->sin6_port));
	} else if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		snprintf(out, outlen, "%s:%u", host, (unsigned)ntohs(s4->sin_port));
	} else {
		snprintf(out, outlen, "(address family %d)", sa->sa_family);
	}
}

void rv_cli_addr_str(const struct rv_addr *a, char *out, size_t outlen)
{
	char host[INET6_ADDRSTRLEN];

	switch (a->atyp) {
	case RV_ATYP_IPV4:
		inet_ntop(AF_INET, a->ip, host, sizeof(host));
		snprintf(out, outlen, "%s:%u", host, (unsigned)a->port);
		break;
	case RV_ATYP_IPV6:
		inet_ntop(AF_INET6, a->ip, host, sizeof(host));
		snprintf(out, outlen, "[%s]:%u", host, (unsigned)a->port);
		break;
	case RV_ATYP_DOMAIN:
		snprintf(out, outlen, "%.*s:%u", (int)a->domain_len, a->domain, (unsigned)a->port);
		break;
	default:
		snprintf(out, outlen, "(no address)");
		break;
	}
}
