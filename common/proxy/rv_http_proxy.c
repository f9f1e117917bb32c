/* rv_http_proxy.c - HTTP proxy request heads, the forwarding rewrite,
 * Basic proxy credentials and the proxy's own responses (see
 * rv_http_proxy.h). */
#include "rv_http_proxy.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "rv_addr.h"
#include "rv_err.h"
#include "rv_http_util.h"

static const struct rv_http_head_limits rv_http_req_limits = {
	RV_HTTP_HEAD_MAX, RV_HTTP_LINE_MAX, RV_HTTP_HEADERS_MAX, 414, 431,
};

void rv_http_request_init(struct rv_http_request *req)
{
	memset(&req->scan_, 0, sizeof(req->scan_));
	req->status = 0;
}

void rv_http_request_wipe(struct rv_http_request *req)
{
	sodium_memzero(req, sizeof(*req));
}

static int rv_http_req_fail(struct rv_http_request *req, const char **why, int status,
			    const char *text, int err)
{
	req->status = status;
	rv_http_set_why(why, text);
	return err;
}

/* Host characters we accept in a name: letters, digits, '-', '.', '_'
 * (seen in real names), nothing that could mean something to a resolver
 * or a log. */
static int rv_http_host_char(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_';
}

/* authority = host [":" port], host a name, an IPv4 literal or "[IPv6]".
 * Fills dst and the Host: text (without an empty ":").  need_port:
 * CONNECT's authority must carry a port. */
static int rv_http_parse_authority(const uint8_t *a, size_t len, int need_port,
				   struct rv_http_request *req, const char **why)
{
	char host[RV_DOMAIN_MAX + 1];
	size_t hs, hl, i, pe;
	uint32_t port = RV_HTTP_DEFAULT_PORT;
	int bracket = 0;
	const uint8_t *colon;

	if (len == 0)
		return rv_http_req_fail(req, why, 400, "empty host", RV_ERR_MALFORMED);
	if (a[0] == '[') {
		const uint8_t *rb = memchr(a, ']', len);

		if (rb == NULL)
			return rv_http_req_fail(req, why, 400, "unclosed [ in host", RV_ERR_MALFORMED);
		hs = 1;
		hl = (size_t)(rb - a) - 1;
		pe = (size_t)(rb - a) + 1;
		bracket = 1;
	} else {
		colon = memchr(a, ':', len);
		hs = 0;
		hl = colon != NULL ? (size_t)(colon - a) : len;
		pe = hl;
	}
	if (hl == 0 || hl > RV_DOMAIN_MAX)
		return rv_http_req_fail(req, why, 400, "empty or too long host", RV_ERR_MALFORMED);
	memcpy(host, a + hs, hl);
	host[hl] = '\0';
	/* Port: ":" digits, or nothing.  An empty port after ":" is legal
	 * (RFC 3986) and means the default. */
	if (pe < len) {
		if (a[pe] != ':')
			return rv_http_req_fail(req, why, 400, "junk after host", RV_ERR_MALFORMED);
		if (len - pe - 1 > 5)
			return rv_http_req_fail(req, why, 400, "bad port", RV_ERR_MALFORMED);
		if (len - pe - 1 > 0) {
			port = 0;
			for (i = pe + 1; i < len; i++) {
				if (a[i] < '0' || a[i] > '9')
					return rv_http_req_fail(req, why, 400, "bad port",
								RV_ERR_MALFORMED);
				port = port * 10 + (uint32_t)(a[i] - '0');
			}
			if (port == 0 || port > 65535)
				return rv_http_req_fail(req, why, 400, "port out of range",
							RV_ERR_MALFORMED);
		} else if (need_port) {
			return rv_http_req_fail(req, why, 400, "CONNECT needs host:port",
						RV_ERR_MALFORMED);
		}
	} else if (need_port) {
		return rv_http_req_fail(req, why, 400, "CONNECT needs host:port", RV_ERR_MALFORMED);
	}
	if (bracket) {
		uint8_t ip6[16];

		if (hl >= INET6_ADDRSTRLEN || inet_pton(AF_INET6, host, ip6) != 1)
			return rv_http_req_fail(req, why, 400, "bad IPv6 literal in host",
						RV_ERR_MALFORMED);
		rv_addr_set_ipv6(&req->dst, ip6, (uint16_t)port);
	} else {
		for (i = 0; i < hl; i++)
			if (!rv_http_host_char((uint8_t)host[i]))
				return rv_http_req_fail(req, why, 400, "bad character in host",
							RV_ERR_MALFORMED);
		if (rv_addr_from_literal(&req->dst, host, (uint16_t)port) != RV_OK &&
		    rv_addr_set_domain(&req->dst, host, hl, (uint16_t)port) != RV_OK)
			return rv_http_req_fail(req, why, 400, "bad host", RV_ERR_MALFORMED);
	}
	/* Host: the validated authority, minus an empty ":". */
	if (pe < len && len - pe == 1)
		len = pe;
	memcpy(req->authority, a, len);
	req->authority[len] = '\0';
	return RV_OK;
}

/* absolute-form "http://authority[/path...]": only http (https must come
 * by CONNECT: we would have to speak TLS to the origin ourselves). */
static int rv_http_parse_absolute(const uint8_t *t, size_t len, struct rv_http_request *req,
				  size_t t_off, const char **why)
{
	static const char http[] = "http://", https[] = "https://";
	size_t a_end, i;

	if (len >= sizeof(https) - 1 && rv_http_name_is(t, sizeof(https) - 1, https))
		return rv_http_req_fail(req, why, 400,
					"https:// URI in a proxy request: use CONNECT for https",
					RV_ERR_MALFORMED);
	if (len < sizeof(http) - 1 || !rv_http_name_is(t, sizeof(http) - 1, http))
		return rv_http_req_fail(req, why, 400, "unsupported URI scheme (only http://)",
					RV_ERR_MALFORMED);
	for (a_end = sizeof(http) - 1; a_end < len; a_end++)
		if (t[a_end] == '/' || t[a_end] == '?' || t[a_end] == '#')
			break;
	for (i = sizeof(http) - 1; i < a_end; i++)
		if (t[i] == '@')
			return rv_http_req_fail(req, why, 400, "user info in URI", RV_ERR_MALFORMED);
	if (rv_http_parse_authority(t + sizeof(http) - 1, a_end - (sizeof(http) - 1), 0, req,
				    why) != RV_OK)
		return RV_ERR_MALFORMED;
	req->path_off = t_off + a_end;
	req->path_len = len - a_end;
	return RV_OK;
}

/* "METHOD SP target SP HTTP/1.x" */
static int rv_http_request_line(struct rv_http_request *req, size_t n, const char **why)
{
	const uint8_t *l = req->head, *sp1, *sp2, *t;
	size_t mlen, tlen, i;
	int v;

	sp1 = memchr(l, ' ', n);
	if (sp1 == NULL)
		return rv_http_req_fail(req, why, 400, "bad request line", RV_ERR_MALFORMED);
	mlen = (size_t)(sp1 - l);
	sp2 = memchr(sp1 + 1, ' ', n - mlen - 1);
	if (sp2 == NULL || mlen == 0)
		return rv_http_req_fail(req, why, 400, "bad request line", RV_ERR_MALFORMED);
	if (mlen > RV_HTTP_METHOD_MAX)
		return rv_http_req_fail(req, why, 501, "method too long", RV_ERR_LIMIT);
	for (i = 0; i < mlen; i++)
		if (!rv_http_is_tchar(l[i]))
			return rv_http_req_fail(req, why, 400, "bad method", RV_ERR_MALFORMED);
	memcpy(req->method, l, mlen);
	req->method[mlen] = '\0';
	req->method_len = mlen;
	t = sp1 + 1;
	tlen = (size_t)(sp2 - t);
	v = rv_http_parse_version(sp2 + 1, n - (size_t)(sp2 + 1 - l));
	if (v == -1)
		return rv_http_req_fail(req, why, 505, "HTTP version not supported", RV_ERR_MALFORMED);
	if (v < 0)
		return rv_http_req_fail(req, why, 400, "bad request line", RV_ERR_MALFORMED);
	req->version_minor = v;
	if (tlen == 0)
		return rv_http_req_fail(req, why, 400, "empty request target", RV_ERR_MALFORMED);
	for (i = 0; i < tlen; i++)
		if (t[i] <= 0x20 || t[i] >= 0x7f)
			return rv_http_req_fail(req, why, 400, "bad byte in request target",
						RV_ERR_MALFORMED);
	if (memchr(t, '#', tlen) != NULL)
		return rv_http_req_fail(req, why, 400, "fragment in request target", RV_ERR_MALFORMED);
	if (strcmp(req->method, "CONNECT") == 0) {
		req->target = RV_HTTP_TARGET_CONNECT;
		return rv_http_parse_authority(t, tlen, 1, req, why);
	}
	if (t[0] == '/' || (tlen == 1 && t[0] == '*')) {
		req->target = RV_HTTP_TARGET_ORIGIN;
		req->path_off = (size_t)(t - l);
		req->path_len = tlen;
		return RV_OK;
	}
	req->target = RV_HTTP_TARGET_ABSOLUTE;
	return rv_http_parse_absolute(t, tlen, req, (size_t)(t - l), why);
}

/* Proxy-Authorization: Basic base64(user ":" pass). */
static void rv_http_parse_basic(struct rv_http_request *req, const uint8_t *v, size_t len)
{
	uint8_t bin[2 * RV_HTTP_CRED_MAX + 2];
	size_t i = 0, binlen = 0, ulen;
	const char *end = NULL;
	const uint8_t *colon;

	req->auth = RV_HTTP_AUTH_INVALID;
	if (len < 6 || !rv_http_name_is(v, 5, "basic") || (v[5] != ' ' && v[5] != '\t'))
		return;
	for (i = 5; i < len && (v[i] == ' ' || v[i] == '\t'); i++)
		;
	if (sodium_base642bin(bin, sizeof(bin), (const char *)v + i, len - i, NULL, &binlen, &end,
			      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    end != (const char *)v + len)
		goto out;
	colon = memchr(bin, ':', binlen);
	if (colon == NULL)
		goto out;
	ulen = (size_t)(colon - bin);
	if (ulen > RV_HTTP_CRED_MAX || binlen - ulen - 1 > RV_HTTP_CRED_MAX)
		goto out;
	memcpy(req->auth_user, bin, ulen);
	req->auth_user[ulen] = '\0';
	req->auth_user_len = ulen;
	memcpy(req->auth_pass, colon + 1, binlen - ulen - 1);
	req->auth_pass[binlen - ulen - 1] = '\0';
	req->auth_pass_len = binlen - ulen - 1;
	req->auth = RV_HTTP_AUTH_BASIC;
out:
	sodium_memzero(bin, sizeof(bin));
}

/* Fields: framing, keep-alive, upgrade, credentials; one pass. */
static int rv_http_request_fields(struct rv_http_request *req, const char **why)
{
	const uint8_t *h = req->head, *val;
	size_t off, n, nlen, voff, vlen, hosts = 0, auths = 0, tes = 0;
	const char *bad = NULL;
	int have_cl = 0, conn_close = 0, conn_ka = 0, conn_upgrade = 0, up_ws = 0, ret;
	uint64_t cl = 0, v;

	n = rv_http_line_len(h, req->head_len, 0);
	for (off = n + 2; off < req->head_len - 2; off += n + 2) {
		struct rv_http_field *f;

		n = rv_http_line_len(h, req->head_len, off);
		if ((ret = rv_http_split_field(h + off, n, &nlen, &voff, &vlen, &bad)) != RV_OK)
			return rv_http_req_fail(req, why, 400, bad, ret);
		f = &req->fields[req->n_fields++];
		f->name_off = (uint16_t)off;
		f->name_len = (uint16_t)nlen;
		f->value_off = (uint16_t)(off + voff);
		f->value_len = (uint16_t)vlen;
		val = h + off + voff;
		if (rv_http_name_is(h + off, nlen, "content-length")) {
			if (rv_http_parse_length(val, vlen, &v) != RV_OK)
				return rv_http_req_fail(req, why, 400, "bad Content-Length",
							RV_ERR_MALFORMED);
			if (have_cl && v != cl)
				return rv_http_req_fail(req, why, 400, "conflicting Content-Length",
							RV_ERR_MALFORMED);
			have_cl = 1;
			cl = v;
		} else if (rv_http_name_is(h + off, nlen, "transfer-encoding")) {
			if (++tes > 1 || !rv_http_name_is(val, vlen, "chunked"))
				return rv_http_req_fail(req, why, 501,
							"Transfer-Encoding other than chunked",
							RV_ERR_UNSUPPORTED);
		} else if (rv_http_name_is(h + off, nlen, "host")) {
			if (++hosts > 1)
				return rv_http_req_fail(req, why, 400, "more than one Host header",
							RV_ERR_MALFORMED);
		} else if (rv_http_name_is(h + off, nlen, "connection") ||
			   rv_http_name_is(h + off, nlen, "proxy-connection")) {
			conn_close |= rv_http_list_has(val, vlen, "close");
			conn_ka |= rv_http_list_has(val, vlen, "keep-alive");
			if (rv_http_name_is(h + off, nlen, "connection"))
				conn_upgrade |= rv_http_list_has(val, vlen, "upgrade");
		} else if (rv_http_name_is(h + off, nlen, "upgrade")) {
			up_ws |= rv_http_list_has(val, vlen, "websocket");
		} else if (rv_http_name_is(h + off, nlen, "proxy-authorization")) {
			if (++auths > 1)
				return rv_http_req_fail(req, why, 400,
							"more than one Proxy-Authorization header",
							RV_ERR_MALFORMED);
			rv_http_parse_basic(req, val, vlen);
		}
	}
	if (tes > 0 && have_cl)
		return rv_http_req_fail(req, why, 400, "both Content-Length and Transfer-Encoding",
					RV_ERR_MALFORMED);
	if (tes > 0 && req->version_minor == 0)
		return rv_http_req_fail(req, why, 400, "Transfer-Encoding in an HTTP/1.0 request",
					RV_ERR_MALFORMED);
	if (req->target == RV_HTTP_TARGET_CONNECT && (tes > 0 || (have_cl && cl > 0)))
		return rv_http_req_fail(req, why, 400, "CONNECT with a request body",
					RV_ERR_MALFORMED);
	if (tes > 0) {
		req->framing = RV_HTTP_BODY_CHUNKED;
	} else if (have_cl && cl > 0) {
		req->framing = RV_HTTP_BODY_LENGTH;
		req->content_length = cl;
	} else {
		req->framing = RV_HTTP_BODY_NONE;
	}
	req->keep_alive = req->version_minor == 1 ? !conn_close : (conn_ka && !conn_close);
	req->websocket = req->target == RV_HTTP_TARGET_ABSOLUTE && req->version_minor == 1 &&
			 up_ws && conn_upgrade && strcmp(req->method, "GET") == 0;
	return RV_OK;
}

int rv_http_parse_request(struct rv_buf *in, struct rv_http_request *req, const char **why)
{
	size_t head_len = 0;
	int ret, status = 0;

	rv_http_set_why(why, NULL);
	ret = rv_http_scan_head(&req->scan_, rv_buf_ptr(in), rv_buf_len(in), &rv_http_req_limits,
				&head_len, &status, why);
	if (ret == RV_ERR_NEED_MORE)
		return ret;
	if (ret != RV_OK) {
		req->status = status;
		return ret;
	}
	/* Start from a clean result: no field of an earlier request survives. */
	sodium_memzero(req, sizeof(*req));
	memcpy(req->head, rv_buf_ptr(in), head_len);
	req->head_len = head_len;
	ret = rv_http_request_line(req, rv_http_line_len(req->head, head_len, 0), why);
	if (ret == RV_OK)
		ret = rv_http_request_fields(req, why);
	if (ret != RV_OK)
		return ret;
	return rv_buf_consume(in, head_len);
}

int rv_http_cred_equal(const char *got, size_t got_len, const char *want, size_t want_len)
{
	uint8_t a[RV_HTTP_CRED_MAX], b[RV_HTTP_CRED_MAX];
	int eq;

	if (got == NULL || want == NULL || got_len > RV_HTTP_CRED_MAX ||
	    want_len > RV_HTTP_CRED_MAX)
		return 0;
	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	memcpy(a, got, got_len);
	memcpy(b, want, want_len);
	/* Whole fixed-size arrays: no early exit, no length-dependent time. */
	eq = (sodium_memcmp(a, b, sizeof(a)) == 0) & (got_len == want_len);
	sodium_memzero(a, sizeof(a));
	sodium_memzero(b, sizeof(b));
	return eq;
}

int rv_http_auth_match(const struct rv_http_request *req, const char *user, size_t user_len,
		       const char *pass, size_t pass_len)
{
	int u, p;

	if (req->auth != RV_HTTP_AUTH_BASIC)
		return 0;
	u = rv_http_cred_equal(req->auth_user, req->auth_user_len, user, user_len);
	p = rv_http_cred_equal(req->auth_pass, req->auth_pass_len, pass, pass_len);
	return u & p;
}

/* ---- forwarding rewrite -------------------------------------------- */

/* Is the field a hop-by-hop one we drop (see the header)? */
static int rv_http_drop_field(const struct rv_http_request *req, const struct rv_http_field *f)
{
	static const char *const hop[] = {
		"connection", "proxy-connection", "keep-alive", "te", "trailer",
		"proxy-authorization", "proxy-authenticate", "host",
	};
	const uint8_t *name = req->head + f->name_off;
	size_t i;

	for (i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
		if (rv_http_name_is(name, f->name_len, hop[i]))
			return 1;
	if (rv_http_name_is(name, f->name_len, "upgrade"))
		return !req->websocket;
	/* Never let Connection strip the framing we relay the body by. */
	if (rv_http_name_is(name, f->name_len, "content-length") ||
	    rv_http_name_is(name, f->name_len, "transfer-encoding"))
		return 0;
	for (i = 0; i < req->n_fields; i++) {
		const struct rv_http_field *c = &req->fields[i];

		if (rv_http_name_is(req->head + c->name_off, c->name_len, "connection") &&
		    rv_http_list_has_n(req->head + c->value_off, c->value_len, name, f->name_len))
			return 1;
	}
	return 0;
}

int rv_http_build_forward_head(struct rv_buf *out, const struct rv_http_request *req,
			       unsigned flags)
{
	size_t start = rv_buf_len(out), i, line_end;
	const uint8_t *path = req->head + req->path_off;
	char ver[] = "HTTP/1.1";
	int ret = RV_OK;

	if (req->target != RV_HTTP_TARGET_ABSOLUTE)
		return RV_ERR_INVALID_ARG;
	ver[7] = (char)('0' + req->version_minor);
#define RV_PUT(p, n)                                                      \
	do {                                                              \
		if ((ret = rv_buf_put(out, (p), (n))) != RV_OK)           \
			goto out;                                         \
	} while (0)
#define RV_PUTS(s) RV_PUT((s), strlen(s))
	RV_PUT(req->method, req->method_len);
	RV_PUTS(" ");
	if (req->path_len == 0 || path[0] != '/')
		RV_PUTS("/");
	RV_PUT(path, req->path_len);
	RV_PUTS(" ");
	RV_PUTS(ver);
	RV_PUTS("\r\nHost: ");
	RV_PUTS(req->authority);
	RV_PUTS("\r\n");
	for (i = 0; i < req->n_fields; i++) {
		const struct rv_http_field *f = &req->fields[i];

		if (rv_http_drop_field(req, f))
			continue;
		line_end = (size_t)f->value_off + f->value_len;
		RV_PUT(req->head + f->name_off, line_end - f->name_off);
		RV_PUTS("\r\n");
	}
	if (req->websocket)
		RV_PUTS("Connection: Upgrade\r\n");
	else if (flags & RV_HTTP_FWD_CLOSE)
		RV_PUTS("Connection: close\r\n");
	RV_PUTS("\r\n");
#undef RV_PUTS
#undef RV_PUT
out:
	if (ret != RV_OK)
		(void)rv_buf_unput(out, rv_buf_len(out) - start);
	return ret;
}

/* ---- the proxy's own responses ------------------------------------- */

int rv_http_status_from_rv(enum rv_status st)
{
	switch (st) {
	case RV_STATUS_OK:
		return 200;
	case RV_STATUS_NOT_ALLOWED:
		return 403;
	case RV_STATUS_TTL_EXPIRED:
		return 504;
	default:
		return 502;
	}
}

const char *rv_http_reason(int code)
{
	switch (code) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 407:
		return "Proxy Authentication Required";
	case 414:
		return "URI Too Long";
	case 431:
		return "Request Header Fields Too Large";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return NULL;
	}
}

int rv_http_build_status(struct rv_buf *out, int code, unsigned flags)
{
	static const char established[] = "HTTP/1.1 200 Connection established\r\n\r\n";
	char msg[RV_HTTP_STATUS_RESPONSE_MAX], body[64];
	const char *reason = rv_http_reason(code);
	int blen, n;

	if (reason == NULL)
		return RV_ERR_INVALID_ARG;
	if (code == 200)
		return rv_buf_put(out, established, sizeof(established) - 1);
	blen = snprintf(body, sizeof(body), "%d %s\n", code, reason);
	if (blen < 0 || (size_t)blen >= sizeof(body))
		return RV_ERR_INTERNAL;
	n = snprintf(msg, sizeof(msg),
		     "HTTP/1.1 %d %s\r\n%sContent-Type: text/plain\r\nContent-Length: %d\r\n"
		     "Connection: %s\r\n\r\n%s",
		     code, reason,
		     code == 407 ? "Proxy-Authenticate: Basic realm=\"rvpn\"\r\n" : "", blen,
		     (flags & RV_HTTP_RESP_KEEP_ALIVE) ? "keep-alive" : "close",
		     (flags & RV_HTTP_RESP_HEAD_ONLY) ? "" : body);
	if (n < 0 || (size_t)n >= sizeof(msg))
		return RV_ERR_INTERNAL;
	return rv_buf_put(out, msg, (size_t)n);
}

int rv_http_build_body_response(struct rv_buf *out, const char *content_type,
				const void *body, size_t body_len, unsigned flags)
{
	char head[RV_HTTP_STATUS_RESPONSE_MAX];
	size_t start = rv_buf_len(out), i;
	int n, ret;

	if (content_type == NULL || (body == NULL && body_len > 0))
		return RV_ERR_INVALID_ARG;
	for (i = 0; content_type[i] != '\0'; i++)
		if ((uint8_t)content_type[i] < 0x20 || (uint8_t)content_type[i] >= 0x7f ||
		    i >= RV_HTTP_STATUS_RESPONSE_MAX / 2)
			return RV_ERR_INVALID_ARG;
	n = snprintf(head, sizeof(head),
		     "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		     "Cache-Control: no-cache\r\nConnection: %s\r\n\r\n",
		     content_type, body_len,
		     (flags & RV_HTTP_RESP_KEEP_ALIVE) ? "keep-alive" : "close");
	if (n < 0 || (size_t)n >= sizeof(head))
		return RV_ERR_INTERNAL;
	if ((ret = rv_buf_put(out, head, (size_t)n)) != RV_OK)
		return ret;
	if (!(flags & RV_HTTP_RESP_HEAD_ONLY) && body_len > 0 &&
	    (ret = rv_buf_put(out, body, body_len)) != RV_OK) {
		(void)rv_buf_unput(out, rv_buf_len(out) - start);
		return ret;
	}
	return RV_OK;
}
