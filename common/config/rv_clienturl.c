/* rv_clienturl.c - rvpn:// client URL parser and builder (see rv_clienturl.h). */
#include "rv_clienturl.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "rv_buf.h"
#include "rv_err.h"

enum rv_clienturl_charclass {
	RV_CU_B64URL,
	RV_CU_HOST,
	RV_CU_IPV6,
	RV_CU_DIGIT,
	RV_CU_PATH,
	RV_CU_PARAM,
	RV_CU_VALUE,
};

static int rv_cu_alnum(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int rv_cu_is(enum rv_clienturl_charclass cls, uint8_t c)
{
	switch (cls) {
	case RV_CU_B64URL:
		return rv_cu_alnum(c) || c == '-' || c == '_';
	case RV_CU_HOST:
		return rv_cu_alnum(c) || c == '-' || c == '.' || c == '_';
	case RV_CU_IPV6:
		return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
		       c == ':' || c == '.';
	case RV_CU_DIGIT:
		return c >= '0' && c <= '9';
	case RV_CU_PATH: /* RFC 3986 pchar and '/', without percent-encoding */
		return rv_cu_alnum(c) || (c != 0 && strchr("-._~!$&'()*+,;=:@/", c) != NULL);
	case RV_CU_PARAM:
		return c >= 'a' && c <= 'z';
	case RV_CU_VALUE: /* what a value may hold; each parameter checks more */
		return rv_cu_alnum(c) || c == '-' || c == '_' || c == '.' || c == '@';
	}
	return 0;
}

/* Take the longest run (at most max bytes) of class cls from b; *p points at
 * it.  A longer run is an error: callers never see a silently cut field. */
static int rv_cu_take(struct rv_buf *b, enum rv_clienturl_charclass cls, size_t max,
		      const uint8_t **p, size_t *n)
{
	size_t i = 0;
	uint8_t c;

	while (rv_buf_peek_u8(b, i, &c) == RV_OK && rv_cu_is(cls, c)) {
		if (i == max)
			return RV_ERR_LIMIT;
		i++;
	}
	*n = i;
	*p = rv_buf_ptr(b);
	return rv_buf_consume(b, i) == RV_OK ? RV_OK : RV_ERR_INTERNAL;
}

/* Consume ch if it is next. */
static int rv_cu_accept(struct rv_buf *b, uint8_t ch)
{
	uint8_t c;

	if (rv_buf_peek_u8(b, 0, &c) != RV_OK || c != ch)
		return 0;
	return rv_buf_consume(b, 1) == RV_OK;
}

static int rv_cu_key(const uint8_t *p, size_t n, uint8_t key[RV_KEY_LEN])
{
	size_t bin_len = 0;
	const char *end = NULL;

	if (n != RV_CLIENTURL_KEY_B64URL_LEN)
		return RV_ERR_MALFORMED;
	if (sodium_base642bin(key, RV_KEY_LEN, (const char *)p, n, NULL, &bin_len, &end,
			      sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
	    bin_len != RV_KEY_LEN || end != (const char *)p + n)
		return RV_ERR_MALFORMED;
	return RV_OK;
}

int rv_clienturl_name_valid(const char *name, size_t len)
{
	size_t i;

	if (name == NULL || len == 0 || len > RV_CLIENTURL_NAME_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		uint8_t c = (uint8_t)name[i];

		if (!rv_cu_alnum(c) && c != '.' && c != '_' && c != '@' && c != '-')
			return 0;
	}
	return 1;
}

static int rv_cu_host(struct rv_buf *b, struct rv_clienturl *u, char *err, size_t errlen)
{
	const uint8_t *p;
	size_t n;
	uint8_t a6[16];

	if (rv_cu_accept(b, '[')) {
		if (rv_cu_take(b, RV_CU_IPV6, 45, &p, &n) != RV_OK || n < 2 ||
		    !rv_cu_accept(b, ']')) {
			rv_err_set(err, errlen, "rvpn:// URL: bad [IPv6] host");
			return RV_ERR_MALFORMED;
		}
		memcpy(u->host, p, n);
		u->host[n] = '\0';
		if (inet_pton(AF_INET6, u->host, a6) != 1) {
			rv_err_set(err, errlen, "rvpn:// URL: '%s' is not an IPv6 address", u->host);
			return RV_ERR_MALFORMED;
		}
		u->host_is_ipv6 = 1;
		return RV_OK;
	}
	if (rv_cu_take(b, RV_CU_HOST, RV_CLIENTURL_HOST_MAX, &p, &n) != RV_OK) {
		rv_err_set(err, errlen, "rvpn:// URL: host longer than %d bytes",
			   RV_CLIENTURL_HOST_MAX);
		return RV_ERR_MALFORMED;
	}
	if (n == 0 || !rv_cu_alnum(p[0])) {
		rv_err_set(err, errlen, "rvpn:// URL: missing or bad host after '@' "
			   "(a name, an IPv4 address or [IPv6])");
		return RV_ERR_MALFORMED;
	}
	memcpy(u->host, p, n);
	u->host[n] = '\0';
	return RV_OK;
}

static int rv_cu_port(struct rv_buf *b, struct rv_clienturl *u, char *err, size_t errlen)
{
	const uint8_t *p;
	size_t n, i;
	unsigned long v = 0;

	if (rv_cu_take(b, RV_CU_DIGIT, 5, &p, &n) != RV_OK || n == 0 || p[0] == '0')
		goto bad;
	for (i = 0; i < n; i++)
		v = v * 10 + (unsigned long)(p[i] - '0');
	if (v > 65535)
		goto bad;
	u->port = (uint16_t)v;
	return RV_OK;
bad:
	rv_err_set(err, errlen, "rvpn:// URL: the port must be a number from 1 to 65535");
	return RV_ERR_MALFORMED;
}

/* One "name=value"; seen is a bit set against repeats. */
static int rv_cu_param(struct rv_buf *b, struct rv_clienturl *u, unsigned *seen, char *err,
		       size_t errlen)
{
	static const char *const names[] = {"tls", "key", "name"};
	const uint8_t *pn, *pv;
	size_t nn, nv, i;

	if (rv_cu_take(b, RV_CU_PARAM, 8, &pn, &nn) != RV_OK || nn == 0 ||
	    !rv_cu_accept(b, '=')) {
		rv_err_set(err, errlen, "rvpn:// URL: expected NAME=VALUE after '?' or '&'");
		return RV_ERR_MALFORMED;
	}
	for (i = 0; i < 3; i++)
		if (strlen(names[i]) == nn && memcmp(names[i], pn, nn) == 0)
			break;
	if (i == 3) {
		rv_err_set(err, errlen, "rvpn:// URL: unknown parameter '%.*s' "
			   "(known: tls, key, name)", (int)nn, (const char *)pn);
		return RV_ERR_MALFORMED;
	}
	if (*seen & (1u << i)) {
		rv_err_set(err, errlen, "rvpn:// URL: parameter '%s' given twice", names[i]);
		return RV_ERR_MALFORMED;
	}
	*seen |= 1u << i;
	if (rv_cu_take(b, RV_CU_VALUE, RV_CLIENTURL_NAME_MAX, &pv, &nv) != RV_OK)
		nv = RV_CLIENTURL_NAME_MAX + 1; /* too long for every parameter */
	switch (i) {
	case 0:
		if (nv != 1 || (pv[0] != '0' && pv[0] != '1')) {
			rv_err_set(err, errlen, "rvpn:// URL: tls must be 0 or 1");
			return RV_ERR_MALFORMED;
		}
		u->tls = pv[0] == '1';
		return RV_OK;
	case 1:
		if (nv > RV_CLIENTURL_NAME_MAX || rv_cu_key(pv, nv, u->client_priv) != RV_OK) {
			rv_err_set(err, errlen, "rvpn:// URL: key must be a private key in "
				   "base64url without padding (%d characters)",
				   RV_CLIENTURL_KEY_B64URL_LEN);
			return RV_ERR_MALFORMED;
		}
		u->has_key = 1;
		return RV_OK;
	default:
		if (nv > RV_CLIENTURL_NAME_MAX || !rv_clienturl_name_valid((const char *)pv, nv)) {
			rv_err_set(err, errlen, "rvpn:// URL: name must be 1 to %d of "
				   "A-Z a-z 0-9 . _ @ -", RV_CLIENTURL_NAME_MAX);
			return RV_ERR_MALFORMED;
		}
		memcpy(u->name, pv, nv);
		u->name[nv] = '\0';
		return RV_OK;
	}
}

static int rv_cu_parse(struct rv_buf *b, struct rv_clienturl *u, char *err, size_t errlen)
{
	uint8_t scheme[7];
	const uint8_t *p;
	size_t n;
	unsigned seen = 0;
	int r, port_given = 0;

	if (rv_buf_get(b, scheme, sizeof(scheme)) != RV_OK ||
	    strncasecmp((const char *)scheme, "rvpn://", sizeof(scheme)) != 0) {
		rv_err_set(err, errlen, "rvpn:// URL: must start with rvpn://");
		return RV_ERR_MALFORMED;
	}
	if (rv_cu_take(b, RV_CU_B64URL, RV_CLIENTURL_KEY_B64URL_LEN, &p, &n) != RV_OK ||
	    rv_cu_key(p, n, u->server_pub) != RV_OK || !rv_cu_accept(b, '@')) {
		rv_err_set(err, errlen, "rvpn:// URL: expected the server's public key "
			   "(base64url, %d characters) and '@' after rvpn://",
			   RV_CLIENTURL_KEY_B64URL_LEN);
		return RV_ERR_MALFORMED;
	}
	r = rv_cu_host(b, u, err, errlen);
	if (r != RV_OK)
		return r;
	if (rv_cu_accept(b, ':')) {
		r = rv_cu_port(b, u, err, errlen);
		if (r != RV_OK)
			return r;
		port_given = 1;
	}
	if (rv_buf_peek_u8(b, 0, scheme) != RV_OK || scheme[0] != '/') {
		rv_err_set(err, errlen, "rvpn:// URL: expected the WebSocket path ('/...') "
			   "after the host");
		return RV_ERR_MALFORMED;
	}
	if (rv_cu_take(b, RV_CU_PATH, RV_CLIENTURL_PATH_MAX, &p, &n) != RV_OK) {
		rv_err_set(err, errlen, "rvpn:// URL: path longer than %d bytes",
			   RV_CLIENTURL_PATH_MAX);
		return RV_ERR_MALFORMED;
	}
	memcpy(u->path, p, n);
	u->path[n] = '\0';
	if (rv_cu_accept(b, '?')) {
		do {
			r = rv_cu_param(b, u, &seen, err, errlen);
			if (r != RV_OK)
				return r;
		} while (rv_cu_accept(b, '&'));
	}
	if (rv_buf_len(b) != 0) {
		uint8_t c = rv_buf_ptr(b)[0];

		if (c >= 0x21 && c < 0x7f)
			rv_err_set(err, errlen, "rvpn:// URL: unexpected '%c' at offset %zu "
				   "(percent-encoding and fragments are not used)", (char)c, b->off);
		else
			rv_err_set(err, errlen, "rvpn:// URL: unexpected byte 0x%02x at offset %zu",
				   c, b->off);
		return RV_ERR_MALFORMED;
	}
	if (!port_given)
		u->port = u->tls ? 443 : 80;
	return RV_OK;
}

int rv_clienturl_parse(const char *text, size_t len, struct rv_clienturl *out, char *err,
		       size_t errlen)
{
	struct rv_clienturl u;
	struct rv_buf b;
	int r;

	if (text == NULL || out == NULL)
		return RV_ERR_INVALID_ARG;
	if (len > RV_CLIENTURL_MAX) {
		rv_err_set(err, errlen, "rvpn:// URL: longer than %d bytes", RV_CLIENTURL_MAX);
		return RV_ERR_MALFORMED;
	}
	memset(&u, 0, sizeof(u));
	rv_buf_init_view(&b, text, len);
	r = rv_cu_parse(&b, &u, err, errlen);
	if (r == RV_OK)
		*out = u;
	sodium_memzero(&u, sizeof(u));
	return r;
}

int rv_clienturl_ws_url(const struct rv_clienturl *u, char *out, size_t outlen)
{
	int n = snprintf(out, outlen, "%s://%s%s%s:%u%s", u->tls ? "wss" : "ws",
			 u->host_is_ipv6 ? "[" : "", u->host, u->host_is_ipv6 ? "]" : "",
			 (unsigned)u->port, u->path);

	if (n < 0 || (size_t)n >= outlen) {
		if (outlen > 0)
			out[0] = '\0';
		return RV_ERR_NO_SPACE;
	}
	return RV_OK;
}

int rv_clienturl_build(const struct rv_clienturl *u, char *out, size_t outlen)
{
	char spub[RV_CLIENTURL_KEY_B64URL_LEN + 1], cpriv[RV_CLIENTURL_KEY_B64URL_LEN + 1];
	char text[RV_CLIENTURL_SIZE + 1];
	struct rv_clienturl back;
	int n, r = RV_ERR_INVALID_ARG;

	if (u == NULL || out == NULL || outlen == 0)
		return RV_ERR_INVALID_ARG;
	out[0] = '\0';
	memset(&back, 0, sizeof(back));
	cpriv[0] = '\0';
	sodium_bin2base64(spub, sizeof(spub), u->server_pub, RV_KEY_LEN,
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	if (u->has_key)
		sodium_bin2base64(cpriv, sizeof(cpriv), u->client_priv, RV_KEY_LEN,
				  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	n = snprintf(text, sizeof(text), "rvpn://%s@%s%s%s:%u%s?tls=%d%s%s%s%s", spub,
		     u->host_is_ipv6 ? "[" : "", u->host, u->host_is_ipv6 ? "]" : "",
		     (unsigned)u->port, u->path, u->tls ? 1 : 0, u->has_key ? "&key=" : "", cpriv,
		     u->name[0] != '\0' ? "&name=" : "", u->name);
	if (n < 0 || (size_t)n >= sizeof(text))
		goto out;
	/* Whatever we hand out must parse back to the same fields. */
	if (rv_clienturl_parse(text, (size_t)n, &back, NULL, 0) != RV_OK ||
	    sodium_memcmp(back.server_pub, u->server_pub, RV_KEY_LEN) != 0 ||
	    strcmp(back.host, u->host) != 0 || back.host_is_ipv6 != u->host_is_ipv6 ||
	    back.port != u->port || strcmp(back.path, u->path) != 0 ||
	    back.tls != (u->tls ? 1 : 0) || back.has_key != (u->has_key ? 1 : 0) ||
	    (u->has_key && sodium_memcmp(back.client_priv, u->client_priv, RV_KEY_LEN) != 0) ||
	    strcmp(back.name, u->name) != 0)
		goto out;
	if ((size_t)n >= outlen) {
		r = RV_ERR_NO_SPACE;
		goto out;
	}
	memcpy(out, text, (size_t)n + 1);
	r = RV_OK;
out:
	sodium_memzero(text, sizeof(text));
	sodium_memzero(cpriv, sizeof(cpriv));
	rv_clienturl_wipe(&back);
	return r;
}

void rv_clienturl_wipe(struct rv_clienturl *u)
{
	if (u != NULL)
		sodium_memzero(u, sizeof(*u));
}
