/* test_http_proxy.c - HTTP proxy request heads, forwarding rewrite, Basic
 * credentials, origin response heads, body framing, the proxy's answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rv_buf.h"
#include "rv_err.h"
#include "rv_http_proxy.h"

/* One request object for the whole file (it is ~18 KiB). */
static struct rv_http_request g_req;

static void buf_load(struct rv_buf *b, const void *p, size_t len)
{
	rv_buf_init(b, 1 << 20);
	assert_int_equal(rv_buf_put(b, p, len), RV_OK);
}

static void assert_buf_is(const struct rv_buf *b, const void *p, size_t len)
{
	assert_int_equal(rv_buf_len(b), len);
	if (len > 0)
		assert_memory_equal(rv_buf_ptr(b), p, len);
}

/* Parse a whole string with a fresh request; on failure the buffer must be
 * unchanged, on success exactly the head consumed. */
static int req_parse(const char *s, const char **why)
{
	struct rv_buf b;
	size_t len = strlen(s);
	int ret;

	buf_load(&b, s, len);
	rv_http_request_init(&g_req);
	ret = rv_http_parse_request(&b, &g_req, why);
	if (ret == RV_OK) {
		assert_int_equal(g_req.head_len, len - rv_buf_len(&b));
		assert_int_equal(g_req.status, 0);
	} else {
		assert_buf_is(&b, s, len);
		if (ret != RV_ERR_NEED_MORE) {
			assert_true(g_req.status >= 400 && g_req.status <= 505);
			assert_non_null(rv_http_reason(g_req.status));
		}
	}
	rv_buf_cleanup(&b);
	return ret;
}

static void req_expect_err(const char *s, int err, int status, const char *why_part)
{
	const char *why = NULL;
	int ret = req_parse(s, &why);

	if (ret != err)
		fail_msg("got %d, wanted %d for %s", ret, err, s);
	assert_int_equal(g_req.status, status);
	assert_non_null(why);
	if (why_part != NULL && strstr(why, why_part) == NULL)
		fail_msg("why \"%s\" lacks \"%s\" for %s", why, why_part, s);
}

/* Every strict prefix: NEED_MORE and the buffer unchanged (fresh request
 * object each time); then byte by byte into one growing buffer with one
 * request object; then the head followed by the next request. */
static void req_check_prefixes(const char *s)
{
	size_t len = strlen(s), cut;
	static const char next[] = "GET http://next/ HTTP/1.1\r\n\r\n";
	struct rv_buf b;

	for (cut = 0; cut < len; cut++) {
		buf_load(&b, s, cut);
		rv_http_request_init(&g_req);
		assert_int_equal(rv_http_parse_request(&b, &g_req, NULL), RV_ERR_NEED_MORE);
		assert_buf_is(&b, s, cut);
		rv_buf_cleanup(&b);
	}
	rv_buf_init(&b, 1 << 20);
	rv_http_request_init(&g_req);
	for (cut = 0; cut < len; cut++) {
		assert_int_equal(rv_buf_put(&b, s + cut, 1), RV_OK);
		assert_int_equal(rv_http_parse_request(&b, &g_req, NULL),
				 cut + 1 < len ? RV_ERR_NEED_MORE : RV_OK);
	}
	assert_int_equal(rv_buf_len(&b), 0);
	rv_buf_cleanup(&b);
	buf_load(&b, s, len);
	assert_int_equal(rv_buf_put(&b, next, strlen(next)), RV_OK);
	rv_http_request_init(&g_req);
	assert_int_equal(rv_http_parse_request(&b, &g_req, NULL), RV_OK);
	assert_buf_is(&b, next, strlen(next));
	/* The object is re-armed: the pipelined request parses next. */
	assert_int_equal(rv_http_parse_request(&b, &g_req, NULL), RV_OK);
	assert_string_equal(g_req.authority, "next");
	assert_int_equal(rv_buf_len(&b), 0);
	rv_buf_cleanup(&b);
}

static const char req_connect[] = "CONNECT example.com:443 HTTP/1.1\r\n"
				  "Host: example.com:443\r\n"
				  "User-Agent: t\r\n\r\n";
static const char req_connect6[] = "CONNECT [2001:db8::1]:8443 HTTP/1.1\r\n\r\n";
static const char req_get[] = "GET http://Example.COM:8080/a/b?c=d HTTP/1.1\r\n"
			      "Host: wrong.example\r\n"
			      "Proxy-Connection: keep-alive\r\n"
			      "Accept: */*\r\n\r\n";
static const char req_post[] = "POST http://10.0.0.1/form HTTP/1.1\r\n"
			       "Content-Length: 5\r\n"
			       "Content-Type: text/plain\r\n\r\n";
static const char req_chunked[] = "PUT http://h/x HTTP/1.1\r\n"
				  "Transfer-Encoding: chunked\r\n\r\n";
static const char req_pac[] = "GET /proxy.pac HTTP/1.0\r\n\r\n";

static void test_request_prefixes(void **state)
{
	(void)state;
	req_check_prefixes(req_connect);
	req_check_prefixes(req_connect6);
	req_check_prefixes(req_get);
	req_check_prefixes(req_post);
	req_check_prefixes(req_chunked);
	req_check_prefixes(req_pac);
}

static void test_request_connect(void **state)
{
	(void)state;
	assert_int_equal(req_parse(req_connect, NULL), RV_OK);
	assert_int_equal(g_req.target, RV_HTTP_TARGET_CONNECT);
	assert_string_equal(g_req.method, "CONNECT");
	assert_int_equal(g_req.dst.atyp, RV_ATYP_DOMAIN);
	assert_string_equal(g_req.dst.domain, "example.com");
	assert_int_equal(g_req.dst.port, 443);
	assert_int_equal(g_req.framing, RV_HTTP_BODY_NONE);
	assert_int_equal(g_req.keep_alive, 1);
	assert_int_equal(g_req.auth, RV_HTTP_AUTH_NONE);
	assert_int_equal(g_req.n_fields, 2);

	assert_int_equal(req_parse(req_connect6, NULL), RV_OK);
	assert_int_equal(g_req.dst.atyp, RV_ATYP_IPV6);
	assert_memory_equal(g_req.dst.ip, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01", 16);
	assert_int_equal(g_req.dst.port, 8443);
	assert_string_equal(g_req.authority, "[2001:db8::1]:8443");

	assert_int_equal(req_parse("CONNECT 192.0.2.7:22 HTTP/1.0\r\n\r\n", NULL), RV_OK);
	assert_int_equal(g_req.dst.atyp, RV_ATYP_IPV4);
	assert_memory_equal(g_req.dst.ip, "\xc0\x00\x02\x07", 4);
	assert_int_equal(g_req.dst.port, 22);
	assert_int_equal(g_req.keep_alive, 0);
	/* Content-Length: 0 on CONNECT is harmless. */
	assert_int_equal(req_parse("CONNECT h:1 HTTP/1.1\r\nContent-Length: 0\r\n\r\n", NULL), RV_OK);
	assert_int_equal(req_parse("CONNECT h:65535 HTTP/1.1\r\n\r\n", NULL), RV_OK);
	assert_int_equal(g_req.dst.port, 65535);
}

static void test_request_absolute(void **state)
{
	(void)state;
	assert_int_equal(req_parse(req_get, NULL), RV_OK);
	assert_int_equal(g_req.target, RV_HTTP_TARGET_ABSOLUTE);
	assert_string_equal(g_req.dst.domain, "Example.COM");
	assert_int_equal(g_req.dst.port, 8080);
	assert_string_equal(g_req.authority, "Example.COM:8080");
	assert_int_equal(g_req.path_len, strlen("/a/b?c=d"));
	assert_memory_equal(g_req.head + g_req.path_off, "/a/b?c=d", g_req.path_len);
	assert_int_equal(g_req.version_minor, 1);
	assert_int_equal(g_req.keep_alive, 1);

	assert_int_equal(req_parse(req_post, NULL), RV_OK);
	assert_int_equal(g_req.dst.atyp, RV_ATYP_IPV4);
	assert_int_equal(g_req.dst.port, 80);
	assert_int_equal(g_req.framing, RV_HTTP_BODY_LENGTH);
	assert_int_equal(g_req.content_length, 5);

	assert_int_equal(req_parse(req_chunked, NULL), RV_OK);
	assert_int_equal(g_req.framing, RV_HTTP_BODY_CHUNKED);

	/* No path; scheme case-insensitive; empty port means 80. */
	assert_int_equal(req_parse("GET HTTP://h HTTP/1.0\r\n\r\n", NULL), RV_OK);
	assert_int_equal(g_req.path_len, 0);
	assert_int_equal(g_req.dst.port, 80);
	assert_int_equal(g_req.keep_alive, 0);
	assert_int_equal(req_parse("GET http://h:/ HTTP/1.1\r\n\r\n", NULL), RV_OK);
	assert_int_equal(g_req.dst.port, 80);
	assert_string_equal(g_req.authority, "h");
	assert_int_equal(req_parse("GET http://[::1]:81/ HTTP/1.1\r\n\r\n", NULL), RV_OK);
	assert_int_equal(g_req.dst.atyp, RV_ATYP_IPV6);
	assert_int_equal(g_req.dst.port, 81);
	/* Identical duplicate Content-Length is tolerated. */
	assert_int_equal(req_parse("POST http://h/ HTTP/1.1\r\nContent-Length: 7\r\n"
				   "content-length: 7\r\n\r\n", NULL), RV_OK);
	assert_int_equal(g_req.content_length, 7);
	/* Origin form: for the proxy itself. */
	assert_int_equal(req_parse(req_pac, NULL), RV_OK);
	assert_int_equal(g_req.target, RV_HTTP_TARGET_ORIGIN);
	assert_memory_equal(g_req.head + g_req.path_off, "/proxy.pac", g_req.path_len);
	assert_int_equal(req_parse("OPTIONS * HTTP/1.1\r\n\r\n", NULL), RV_OK);
	assert_int_equal(g_req.target, RV_HTTP_TARGET_ORIGIN);
}

static void test_request_keep_alive(void **state)
{
	(void)state;
	assert_int_equal(req_parse("GET http://h/ HTTP/1.1\r\nConnection: close\r\n\r\n", NULL),
			 RV_OK);
	assert_int_equal(g_req.keep_alive, 0);
	assert_int_equal(req_parse("GET http://h/ HTTP/1.1\r\nProxy-Connection: Close\r\n\r\n",
				   NULL), RV_OK);
	assert_int_equal(g_req.keep_alive, 0);
	assert_int_equal(req_parse("GET http://h/ HTTP/1.0\r\nProxy-Connection: keep-alive\r\n\r\n",
				   NULL), RV_OK);
	assert_int_equal(g_req.keep_alive, 1);
	assert_int_equal(req_parse("GET http://h/ HTTP/1.0\r\nConnection: foo, Keep-Alive\r\n\r\n",
				   NULL), RV_OK);
	assert_int_equal(g_req.keep_alive, 1);
	assert_int_equal(req_parse("GET http://h/ HTTP/1.1\r\nConnection: Upgrade\r\n"
				   "Upgrade: websocket\r\n\r\n", NULL), RV_OK);
	assert_int_equal(g_req.websocket, 1);
	/* Not a WebSocket upgrade without Connection: upgrade, or on POST. */
	assert_int_equal(req_parse("GET http://h/ HTTP/1.1\r\nUpgrade: websocket\r\n\r\n", NULL),
			 RV_OK);
	assert_int_equal(g_req.websocket, 0);
	assert_int_equal(req_parse("POST http://h/ HTTP/1.1\r\nConnection: upgrade\r\n"
				   "Upgrade: websocket\r\n\r\n", NULL), RV_OK);
	assert_int_equal(g_req.websocket, 0);
}

static void test_request_errors(void **state)
{
	(void)state;
	/* https must come by CONNECT. */
	req_expect_err("GET https://h/ HTTP/1.1\r\n\r\n", RV_ERR_MALFORMED, 400, "CONNECT");
	req_expect_err("GET HTTPS://h/ HTTP/1.1\r\n\r\n", RV_ERR_MALFORMED, 400, "CONNECT");
	req_expect_err("GET ftp://h/ HTTP/1.1\r\n\r\n", RV_ERR_MALFORMED, 400, "scheme");
	req_expect_err("GET h/x HTTP/1.1\r\n\r\n", RV_ERR_MALFORMED, 400, "scheme");
	req_expect_err("GET http://u:p@h/ HTTP/1.1\r\n\r\n", RV_ERR_MALFORMED, 400, "user info");
	req_expect_err("GET http://h/#f HTTP/1.1\r\n\r\n", RV_ERR_MALFORMED, 400, "fragment");
	req_expect_err("GET http:///x HTTP/1.1\r\n\r\n", RV_ERR_MALFORMED, 400, "empty");
	req_expect_err("GET http://h%41/ HTTP/1.1\r\n\r\n", RV_ERR_MALFORMED, 400, "character");
	req_expect_err("GET http://h:0/ HTTP/1.1\r\n\r\n", RV_ERR_MALFORMED, 400, "range");
	req_expect_err("GET http://h:65536/ HTTP/1.1\r\n\r\n", RV_ERR_MALFORMED, 400, "range");
	req_expect_err("GET http://h:123456/ HTTP/1.1\r\n\r\n", RV_ERR_MALFORMED, 400, "port");
	req_expect_err("GET http://h:8o/ HTTP/1.1\r\n\r\n", RV_ERR_MALFORMED, 400, "port");
	req_expect_err("GET http://[::1/ HTTP/1.1\r\n\r\n", RV_ERR_MALFORMED, 400, "unclosed");
	req_expect_err("GET http://[::g]/ HTTP/1.1\r\n\r\n", RV_ERR_MALFORMED, 400, "IPv6");
	req_expect_err("GET http://[fe80::1%25eth0]/ HTTP/1.1\r\n\r\n", RV_ERR_MALFORMED, 400,
		       "IPv6");
	req_expect_err("GET http://[::1]x/ HTTP/1.1\r\n\r\n", RV_ERR_MALFORMED, 400, "junk");
	req_expect_err("CONNECT h HTTP/1.1\r\n\r\n", RV_ERR_MALFORMED, 400, "host:port");
	req_expect_err("CONNECT h: HTTP/1.1\r\n\r\n", RV_ERR_MALFORMED, 400, "host:port");
	req_expect_err("CONNECT [::1] HTTP/1.1\r\n\r\n", RV_ERR_MALFORMED, 400, "host:port");
	req_expect_err("CONNECT h:443 HTTP/1.1\r\nContent-Length: 3\r\n\r\n", RV_ERR_MALFORMED, 400,
		       "body");
	req_expect_err("CONNECT h:443 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
		       RV_ERR_MALFORMED, 400, "body");
	/* Request line. */
	req_expect_err("GET http://h/ HTTP/2.0\r\n\r\n", RV_ERR_MALFORMED, 505, "version");
	req_expect_err("GET http://h/ HTTP/1.2\r\n\r\n", RV_ERR_MALFORMED, 505, "version");
	req_expect_err("GET http://h/ http/1.1\r\n\r\n", RV_ERR_MALFORMED, 400, "request line");
	req_expect_err("GET http://h/ HTTP/1.1 \r\n\r\n", RV_ERR_MALFORMED, 400, "request line");
	req_expect_err("GET  http://h/ HTTP/1.1\r\n\r\n", RV_ERR_MALFORMED, 400, "request line");
	req_expect_err("GET http://h/\x7f HTTP/1.1\r\n\r\n", RV_ERR_MALFORMED, 400, "target");
	req_expect_err("GET  HTTP/1.1\r\n\r\n", RV_ERR_MALFORMED, 400, "empty request target");
	req_expect_err("GET\r\n\r\n", RV_ERR_MALFORMED, 400, "request line");
	req_expect_err("GET x\r\n\r\n", RV_ERR_MALFORMED, 400, "request line");
	req_expect_err("G(T http://h/ HTTP/1.1\r\n\r\n", RV_ERR_MALFORMED, 400, "method");
	req_expect_err(" GET http://h/ HTTP/1.1\r\n\r\n", RV_ERR_MALFORMED, 400, "request line");
	req_expect_err("\r\nGET http://h/ HTTP/1.1\r\n\r\n", RV_ERR_MALFORMED, 400, "empty first");
	/* Line ends and header syntax. */
	req_expect_err("GET http://h/ HTTP/1.1\n\n", RV_ERR_MALFORMED, 400, "bare LF");
	req_expect_err("GET http://h/ HTTP/1.1\r\nA: b\n\r\n", RV_ERR_MALFORMED, 400, "bare LF");
	req_expect_err("GET http://h/ HTTP/1.1\rX\r\n\r\n", RV_ERR_MALFORMED, 400, "bare CR");
	req_expect_err("GET http://h/ HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", RV_ERR_MALFORMED, 400,
		       "folding");
	req_expect_err("GET http://h/ HTTP/1.1\r\nA : b\r\n\r\n", RV_ERR_MALFORMED, 400,
		       "whitespace");
	req_expect_err("GET http://h/ HTTP/1.1\r\n: b\r\n\r\n", RV_ERR_MALFORMED, 400, "name");
	req_expect_err("GET http://h/ HTTP/1.1\r\nNoColon\r\n\r\n", RV_ERR_MALFORMED, 400, "name");
	req_expect_err("GET http://h/ HTTP/1.1\r\nA: b\x01\r\n\r\n", RV_ERR_MALFORMED, 400,
		       "control");
	{
		/* A NUL in a value. */
		static const char nul[] = "GET http://h/ HTTP/1.1\r\nA: b\0c\r\n\r\n";
		struct rv_buf b;
		const char *why = NULL;

		buf_load(&b, nul, sizeof(nul) - 1);
		rv_http_request_init(&g_req);
		assert_int_equal(rv_http_parse_request(&b, &g_req, &why), RV_ERR_MALFORMED);
		assert_non_null(strstr(why, "control"));
		assert_int_equal(rv_buf_len(&b), sizeof(nul) - 1);
		rv_buf_cleanup(&b);
	}
	/* Framing. */
	req_expect_err("POST http://h/ HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
		       RV_ERR_MALFORMED, 400, "conflicting");
	req_expect_err("POST http://h/ HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n", RV_ERR_MALFORMED,
		       400, "Content-Length");
	req_expect_err("POST http://h/ HTTP/1.1\r\nContent-Length: -1\r\n\r\n", RV_ERR_MALFORMED,
		       400, "Content-Length");
	req_expect_err("POST http://h/ HTTP/1.1\r\nContent-Length: +1\r\n\r\n", RV_ERR_MALFORMED,
		       400, "Content-Length");
	req_expect_err("POST http://h/ HTTP/1.1\r\nContent-Length:\r\n\r\n", RV_ERR_MALFORMED, 400,
		       "Content-Length");
	req_expect_err("POST http://h/ HTTP/1.1\r\nContent-Length: 1234567890123456789\r\n\r\n",
		       RV_ERR_MALFORMED, 400, "Content-Length");
	assert_int_equal(req_parse("POST http://h/ HTTP/1.1\r\nContent-Length: 123456789012345678"
				   "\r\n\r\n", NULL), RV_OK);
	assert_int_equal(g_req.content_length, 123456789012345678ULL);
	req_expect_err("POST http://h/ HTTP/1.1\r\nContent-Length: 5\r\n"
		       "Transfer-Encoding: chunked\r\n\r\n", RV_ERR_MALFORMED, 400, "both");
	req_expect_err("POST http://h/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
		       "Content-Length: 5\r\n\r\n", RV_ERR_MALFORMED, 400, "both");
	req_expect_err("POST http://h/ HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
		       RV_ERR_UNSUPPORTED, 501, "Transfer-Encoding");
	req_expect_err("POST http://h/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
		       "Transfer-Encoding: chunked\r\n\r\n", RV_ERR_UNSUPPORTED, 501,
		       "Transfer-Encoding");
	req_expect_err("POST http://h/ HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
		       RV_ERR_MALFORMED, 400, "HTTP/1.0");
	req_expect_err("GET http://h/ HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", RV_ERR_MALFORMED,
		       400, "Host");
	req_expect_err("GET http://h/ HTTP/1.1\r\nProxy-Authorization: Basic eDp5\r\n"
		       "Proxy-Authorization: Basic eDp5\r\n\r\n", RV_ERR_MALFORMED, 400,
		       "Proxy-Authorization");
	/* TE accepted in any case, with whitespace around. */
	assert_int_equal(req_parse("POST http://h/ HTTP/1.1\r\nTransfer-Encoding:  Chunked \r\n\r\n",
				   NULL), RV_OK);
	assert_int_equal(g_req.framing, RV_HTTP_BODY_CHUNKED);
}

/* A head of exactly total bytes: request line, then "X-P: aaa" lines of
 * at most line_max bytes, then CRLF. */
static char *make_head(size_t total, size_t line_max, size_t *nfields)
{
	static const char first[] = "GET http://h/ HTTP/1.1\r\n";
	char *s = malloc(total + 1);
	size_t off = strlen(first), left, n;

	assert_non_null(s);
	memcpy(s, first, off);
	*nfields = 0;
	while ((left = total - off - 2) > 0) {
		/* A line: "X-P:" + pad + CRLF, at least 6 bytes. */
		n = left - 2 > line_max ? line_max : left - 2;
		if (left - 2 - n > 0 && left - 2 - n < 6)
			n -= 6;
		memcpy(s + off, "X-P:", 4);
		memset(s + off + 4, 'a', n - 4);
		memcpy(s + off + n, "\r\n", 2);
		off += n + 2;
		(*nfields)++;
	}
	memcpy(s + off, "\r\n", 2);
	s[total] = '\0';
	return s;
}

static void test_request_limits(void **state)
{
	char *s, line[RV_HTTP_LINE_MAX + 64];
	size_t nf, i, n;
	const char *why;

	(void)state;
	/* Head: exactly max, max + 1. */
	s = make_head(RV_HTTP_HEAD_MAX, RV_HTTP_LINE_MAX, &nf);
	assert_int_equal(strlen(s), RV_HTTP_HEAD_MAX);
	assert_int_equal(req_parse(s, NULL), RV_OK);
	assert_int_equal(g_req.head_len, RV_HTTP_HEAD_MAX);
	free(s);
	s = make_head(RV_HTTP_HEAD_MAX + 1, RV_HTTP_LINE_MAX, &nf);
	req_expect_err(s, RV_ERR_LIMIT, 431, "too large");
	/* ...and refused before the end arrives: max bytes without an end
	 * still wait, max + 1 bytes fail. */
	s[RV_HTTP_HEAD_MAX] = '\0';
	assert_int_equal(req_parse(s, NULL), RV_ERR_NEED_MORE);
	s[RV_HTTP_HEAD_MAX] = 'a';
	s[RV_HTTP_HEAD_MAX - 3] = 'a'; /* no end anywhere */
	s[RV_HTTP_HEAD_MAX - 2] = 'a';
	s[RV_HTTP_HEAD_MAX + 1] = '\0';
	req_expect_err(s, RV_ERR_LIMIT, 431, NULL);
	free(s);

	/* Header line: exactly max, max + 1. */
	n = (size_t)snprintf(line, sizeof(line), "GET http://h/ HTTP/1.1\r\nX-L: ");
	memset(line + n, 'b', RV_HTTP_LINE_MAX - 5);
	memcpy(line + n + RV_HTTP_LINE_MAX - 5, "\r\n\r\n", 5);
	assert_int_equal(req_parse(line, NULL), RV_OK);
	n = (size_t)snprintf(line, sizeof(line), "GET http://h/ HTTP/1.1\r\nX-L: ");
	memset(line + n, 'b', RV_HTTP_LINE_MAX - 4);
	memcpy(line + n + RV_HTTP_LINE_MAX - 4, "\r\n\r\n", 5);
	req_expect_err(line, RV_ERR_LIMIT, 431, "header line too long");

	/* Request line: exactly max, max + 1 (414). */
	n = (size_t)snprintf(line, sizeof(line), "GET http://h/");
	memset(line + n, 'p', RV_HTTP_LINE_MAX - n - 9);
	memcpy(line + RV_HTTP_LINE_MAX - 9, " HTTP/1.1\r\n\r\n", 14);
	assert_int_equal(strlen(line), RV_HTTP_LINE_MAX + 4);
	assert_int_equal(req_parse(line, NULL), RV_OK);
	memset(line + n, 'p', RV_HTTP_LINE_MAX - n - 8);
	memcpy(line + RV_HTTP_LINE_MAX - 8, " HTTP/1.1\r\n\r\n", 14);
	req_expect_err(line, RV_ERR_LIMIT, 414, "first line too long");

	/* Header count: exactly max, max + 1. */
	s = malloc(64 + 8 * (RV_HTTP_HEADERS_MAX + 1));
	assert_non_null(s);
	for (nf = RV_HTTP_HEADERS_MAX; nf <= RV_HTTP_HEADERS_MAX + 1; nf++) {
		n = (size_t)sprintf(s, "GET http://h/ HTTP/1.1\r\n");
		for (i = 0; i < nf; i++)
			n += (size_t)sprintf(s + n, "A: b\r\n");
		sprintf(s + n, "\r\n");
		if (nf == RV_HTTP_HEADERS_MAX) {
			assert_int_equal(req_parse(s, NULL), RV_OK);
			assert_int_equal(g_req.n_fields, RV_HTTP_HEADERS_MAX);
		} else {
			req_expect_err(s, RV_ERR_LIMIT, 431, "too many");
		}
	}
	free(s);

	/* Method: exactly max, max + 1. */
	n = 0;
	memset(line, 'M', RV_HTTP_METHOD_MAX);
	n = RV_HTTP_METHOD_MAX;
	memcpy(line + n, " http://h/ HTTP/1.1\r\n\r\n", 24);
	assert_int_equal(req_parse(line, NULL), RV_OK);
	assert_int_equal(g_req.method_len, RV_HTTP_METHOD_MAX);
	memset(line, 'M', RV_HTTP_METHOD_MAX + 1);
	memcpy(line + RV_HTTP_METHOD_MAX + 1, " http://h/ HTTP/1.1\r\n\r\n", 24);
	why = NULL;
	assert_int_equal(req_parse(line, &why), RV_ERR_LIMIT);
	assert_int_equal(g_req.status, 501);

	/* Host name: 255 bytes pass, 256 fail. */
	n = (size_t)sprintf(line, "CONNECT ");
	memset(line + n, 'h', RV_DOMAIN_MAX);
	sprintf(line + n + RV_DOMAIN_MAX, ":1 HTTP/1.1\r\n\r\n");
	assert_int_equal(req_parse(line, NULL), RV_OK);
	assert_int_equal(g_req.dst.domain_len, RV_DOMAIN_MAX);
	memset(line + n, 'h', RV_DOMAIN_MAX + 1);
	sprintf(line + n + RV_DOMAIN_MAX + 1, ":1 HTTP/1.1\r\n\r\n");
	req_expect_err(line, RV_ERR_MALFORMED, 400, "too long host");
}

/* A head one byte at a time costs O(n): the scan resumes where it stopped
 * (checked by feeding a max-size head byte by byte; quadratic rescans
 * would still pass, so also check the private position advances). */
static void test_request_incremental_scan(void **state)
{
	size_t nf, i;
	char *s = make_head(RV_HTTP_HEAD_MAX, RV_HTTP_LINE_MAX, &nf);
	struct rv_buf b;

	(void)state;
	rv_buf_init(&b, 1 << 20);
	rv_http_request_init(&g_req);
	for (i = 0; i + 1 < RV_HTTP_HEAD_MAX; i++) {
		assert_int_equal(rv_buf_put(&b, s + i, 1), RV_OK);
		assert_int_equal(rv_http_parse_request(&b, &g_req, NULL), RV_ERR_NEED_MORE);
		assert_int_equal(g_req.scan_.off, i + 1);
	}
	assert_int_equal(rv_buf_put(&b, s + i, 1), RV_OK);
	assert_int_equal(rv_http_parse_request(&b, &g_req, NULL), RV_OK);
	assert_int_equal(g_req.scan_.off, 0);
	rv_buf_cleanup(&b);
	free(s);
}

/* Tiny base64 encoder: the test must not trust the code under test. */
static void b64enc(const char *raw, size_t n, char *b64)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i, o = 0;

	for (i = 0; i < n; i += 3) {
		unsigned v = (unsigned)(uint8_t)raw[i] << 16;

		v |= i + 1 < n ? (unsigned)(uint8_t)raw[i + 1] << 8 : 0;
		v |= i + 2 < n ? (uint8_t)raw[i + 2] : 0;
		b64[o++] = tab[(v >> 18) & 63];
		b64[o++] = tab[(v >> 12) & 63];
		b64[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		b64[o++] = i + 2 < n ? tab[v & 63] : '=';
	}
	b64[o] = '\0';
}

static void test_auth(void **state)
{
	char line[1024], b64[800];
	char user[RV_HTTP_CRED_MAX + 2], pass[RV_HTTP_CRED_MAX + 2], raw[2 * RV_HTTP_CRED_MAX + 4];
	size_t n, i;

	(void)state;
	/* "alice:s3cr:et" - the first colon splits. */
	assert_int_equal(req_parse("GET http://h/ HTTP/1.1\r\nProxy-Authorization: Basic "
				   "YWxpY2U6czNjcjpldA==\r\n\r\n", NULL), RV_OK);
	assert_int_equal(g_req.auth, RV_HTTP_AUTH_BASIC);
	assert_string_equal(g_req.auth_user, "alice");
	assert_string_equal(g_req.auth_pass, "s3cr:et");
	assert_int_equal(rv_http_auth_match(&g_req, "alice", 5, "s3cr:et", 7), 1);
	assert_int_equal(rv_http_auth_match(&g_req, "alice", 5, "s3cr:eT", 7), 0);
	assert_int_equal(rv_http_auth_match(&g_req, "alicf", 5, "s3cr:et", 7), 0);
	assert_int_equal(rv_http_auth_match(&g_req, "alice", 5, "s3cr:e", 6), 0);
	assert_int_equal(rv_http_auth_match(&g_req, "alice", 4, "s3cr:et", 7), 0);
	/* Scheme is case-insensitive; empty user and password are legal. */
	assert_int_equal(req_parse("GET http://h/ HTTP/1.1\r\nProxy-Authorization: bAsIc Og==\r\n\r\n",
				   NULL), RV_OK);
	assert_int_equal(g_req.auth, RV_HTTP_AUTH_BASIC);
	assert_int_equal(g_req.auth_user_len, 0);
	assert_int_equal(g_req.auth_pass_len, 0);
	/* Other schemes and bad encodings: INVALID (answer 407), not an error. */
	assert_int_equal(req_parse("GET http://h/ HTTP/1.1\r\nProxy-Authorization: Bearer xyz\r\n\r\n",
				   NULL), RV_OK);
	assert_int_equal(g_req.auth, RV_HTTP_AUTH_INVALID);
	assert_int_equal(rv_http_auth_match(&g_req, "", 0, "", 0), 0);
	assert_int_equal(req_parse("GET http://h/ HTTP/1.1\r\nProxy-Authorization: Basic !!!\r\n\r\n",
				   NULL), RV_OK);
	assert_int_equal(g_req.auth, RV_HTTP_AUTH_INVALID);
	assert_int_equal(req_parse("GET http://h/ HTTP/1.1\r\nProxy-Authorization: Basic "
				   "bm9jb2xvbg==\r\n\r\n", NULL), RV_OK); /* "nocolon" */
	assert_int_equal(g_req.auth, RV_HTTP_AUTH_INVALID);
	assert_int_equal(req_parse("GET http://h/ HTTP/1.1\r\nProxy-Authorization: Basic\r\n\r\n",
				   NULL), RV_OK);
	assert_int_equal(g_req.auth, RV_HTTP_AUTH_INVALID);
	assert_int_equal(req_parse("GET http://h/ HTTP/1.1\r\nProxy-Authorization: Basicx eDp5\r\n\r\n",
				   NULL), RV_OK);
	assert_int_equal(g_req.auth, RV_HTTP_AUTH_INVALID);

	/* Credential lengths: max each passes, max + 1 is INVALID. */
	memset(user, 'u', RV_HTTP_CRED_MAX);
	user[RV_HTTP_CRED_MAX] = '\0';
	memset(pass, 'p', RV_HTTP_CRED_MAX);
	pass[RV_HTTP_CRED_MAX] = '\0';
	n = (size_t)sprintf(raw, "%s:%s", user, pass);
	b64enc(raw, n, b64);
	snprintf(line, sizeof(line), "GET http://h/ HTTP/1.1\r\nProxy-Authorization: Basic %s\r\n\r\n",
		 b64);
	assert_int_equal(req_parse(line, NULL), RV_OK);
	assert_int_equal(g_req.auth, RV_HTTP_AUTH_BASIC);
	assert_int_equal(rv_http_auth_match(&g_req, user, RV_HTTP_CRED_MAX, pass, RV_HTTP_CRED_MAX), 1);
	/* user max + 1; then password max + 1 */
	for (i = 0; i < 2; i++) {
		n = (size_t)sprintf(raw, i == 0 ? "%su:%s" : "%s:%sp", user, i == 0 ? "p" : pass);
		b64enc(raw, n, b64);
		snprintf(line, sizeof(line),
			 "GET http://h/ HTTP/1.1\r\nProxy-Authorization: Basic %s\r\n\r\n", b64);
		assert_int_equal(req_parse(line, NULL), RV_OK);
		assert_int_equal(g_req.auth, RV_HTTP_AUTH_INVALID);
	}
	rv_http_request_wipe(&g_req);
	assert_int_equal(g_req.auth_pass[0], 0);

	/* The compare helper itself. */
	assert_int_equal(rv_http_cred_equal("abc", 3, "abc", 3), 1);
	assert_int_equal(rv_http_cred_equal("abc", 3, "abd", 3), 0);
	assert_int_equal(rv_http_cred_equal("abc", 3, "abc\0", 4), 0);
	assert_int_equal(rv_http_cred_equal("", 0, "", 0), 1);
	assert_int_equal(rv_http_cred_equal(user, RV_HTTP_CRED_MAX, user, RV_HTTP_CRED_MAX), 1);
	memset(user, 'u', RV_HTTP_CRED_MAX + 1);
	assert_int_equal(rv_http_cred_equal(user, RV_HTTP_CRED_MAX + 1, user, RV_HTTP_CRED_MAX + 1),
			 0);
	assert_int_equal(rv_http_cred_equal(NULL, 0, "", 0), 0);
}

static void forward(const char *in, unsigned flags, const char *want)
{
	struct rv_buf out;

	assert_int_equal(req_parse(in, NULL), RV_OK);
	rv_buf_init(&out, 1 << 16);
	assert_int_equal(rv_http_build_forward_head(&out, &g_req, flags), RV_OK);
	if (rv_buf_len(&out) != strlen(want) || memcmp(rv_buf_ptr(&out), want, strlen(want)) != 0)
		fail_msg("forward head:\n%.*s\nwanted:\n%s", (int)rv_buf_len(&out),
			 (const char *)rv_buf_ptr(&out), want);
	rv_buf_cleanup(&out);
}

static void test_forward_rewrite(void **state)
{
	struct rv_buf out;

	(void)state;
	forward("GET http://Example.COM:8080/a/b?c=d HTTP/1.1\r\n"
		"Host: wrong.example\r\n"
		"Proxy-Connection: keep-alive\r\n"
		"Proxy-Authorization: Basic eDp5\r\n"
		"Connection: keep-alive, X-Secret\r\n"
		"Keep-Alive: timeout=5\r\n"
		"X-Secret: 1\r\n"
		"TE: trailers\r\n"
		"Trailer: X\r\n"
		"Upgrade: h2c\r\n"
		"Accept:   */*  \r\n"
		"User-Agent: t\r\n\r\n",
		0,
		"GET /a/b?c=d HTTP/1.1\r\n"
		"Host: Example.COM:8080\r\n"
		"Accept:   */*\r\n"
		"User-Agent: t\r\n\r\n");
	/* No path, HTTP/1.0 kept, close requested. */
	forward("GET http://h HTTP/1.0\r\n\r\n", RV_HTTP_FWD_CLOSE,
		"GET / HTTP/1.0\r\nHost: h\r\nConnection: close\r\n\r\n");
	forward("GET http://h?q=1 HTTP/1.1\r\n\r\n", 0, "GET /?q=1 HTTP/1.1\r\nHost: h\r\n\r\n");
	/* Connection may not strip the framing (smuggling). */
	forward("POST http://h/p HTTP/1.1\r\n"
		"Connection: Content-Length, transfer-encoding, host\r\n"
		"Content-Length: 3\r\n\r\n",
		0, "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n");
	forward("POST http://h/p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", RV_HTTP_FWD_CLOSE,
		"POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
		"Connection: close\r\n\r\n");
	/* WebSocket keeps Upgrade; Connection becomes "Upgrade" only. */
	forward("GET http://[::1]:81/ws HTTP/1.1\r\n"
		"Connection: keep-alive, Upgrade\r\n"
		"Upgrade: websocket\r\n"
		"Sec-WebSocket-Key: k\r\n\r\n",
		RV_HTTP_FWD_CLOSE,
		"GET /ws HTTP/1.1\r\nHost: [::1]:81\r\nUpgrade: websocket\r\n"
		"Sec-WebSocket-Key: k\r\nConnection: Upgrade\r\n\r\n");

	/* Only absolute requests are forwarded; no room leaves out unchanged. */
	assert_int_equal(req_parse(req_connect, NULL), RV_OK);
	rv_buf_init(&out, 1 << 16);
	assert_int_equal(rv_http_build_forward_head(&out, &g_req, 0), RV_ERR_INVALID_ARG);
	rv_buf_cleanup(&out);
	assert_int_equal(req_parse(req_get, NULL), RV_OK);
	rv_buf_init(&out, 40);
	assert_int_equal(rv_buf_put(&out, "xy", 2), RV_OK);
	assert_int_equal(rv_http_build_forward_head(&out, &g_req, 0), RV_ERR_NO_SPACE);
	assert_buf_is(&out, "xy", 2);
	rv_buf_cleanup(&out);
}

/* ---- responses ------------------------------------------------------ */

static struct rv_http_response g_resp;

static int resp_parse(const char *s, unsigned flags, const char **why)
{
	struct rv_buf b;
	size_t len = strlen(s);
	int ret;

	rv_buf_init_view(&b, s, len);
	rv_http_response_init(&g_resp);
	ret = rv_http_parse_response(&b, &g_resp, flags, why);
	assert_int_equal(rv_buf_len(&b), len); /* never consumes */
	if (ret == RV_OK)
		assert_true(g_resp.head_len <= len);
	return ret;
}

static void resp_check_prefixes(const char *s, unsigned flags)
{
	size_t len = strlen(s), cut;
	struct rv_buf b;

	for (cut = 0; cut < len; cut++) {
		rv_buf_init_view(&b, s, cut);
		rv_http_response_init(&g_resp);
		assert_int_equal(rv_http_parse_response(&b, &g_resp, flags, NULL), RV_ERR_NEED_MORE);
		assert_int_equal(rv_buf_len(&b), cut);
	}
	rv_http_response_init(&g_resp);
	for (cut = 1; cut <= len; cut++) {
		rv_buf_init_view(&b, s, cut);
		assert_int_equal(rv_http_parse_response(&b, &g_resp, flags, NULL),
				 cut < len ? RV_ERR_NEED_MORE : RV_OK);
	}
	assert_int_equal(g_resp.head_len, len);
}

static void test_response_prefixes(void **state)
{
	(void)state;
	resp_check_prefixes("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", 0);
	resp_check_prefixes("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 0);
	resp_check_prefixes("HTTP/1.0 404\r\n\r\n", 0);
	resp_check_prefixes("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
			    "Connection: Upgrade\r\n\r\n", RV_HTTP_REQ_WAS_UPGRADE);
}

static void test_response_framing(void **state)
{
	static const char two[] = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"
				  "Content-Length: 2\r\n\r\nok";
	struct rv_buf b;

	(void)state;
	assert_int_equal(resp_parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 0, NULL),
			 RV_OK);
	assert_int_equal(g_resp.status, 200);
	assert_int_equal(g_resp.framing, RV_HTTP_BODY_LENGTH);
	assert_int_equal(g_resp.content_length, 5);
	assert_int_equal(g_resp.keep_alive, 1);
	assert_int_equal(g_resp.head_len, strlen("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"));

	assert_int_equal(resp_parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 0,
				    NULL), RV_OK);
	assert_int_equal(g_resp.framing, RV_HTTP_BODY_CHUNKED);
	assert_int_equal(resp_parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 0,
				    NULL), RV_OK);
	assert_int_equal(g_resp.framing, RV_HTTP_BODY_CLOSE);
	assert_int_equal(g_resp.keep_alive, 0);
	assert_int_equal(resp_parse("HTTP/1.1 200 OK\r\n\r\n", 0, NULL), RV_OK);
	assert_int_equal(g_resp.framing, RV_HTTP_BODY_CLOSE);
	assert_int_equal(g_resp.keep_alive, 0);
	assert_int_equal(resp_parse("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
				    0, NULL), RV_OK);
	assert_int_equal(g_resp.framing, RV_HTTP_BODY_LENGTH);
	assert_int_equal(g_resp.keep_alive, 0);
	/* HTTP/1.0: persistent only when asked. */
	assert_int_equal(resp_parse("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", 0, NULL), RV_OK);
	assert_int_equal(g_resp.keep_alive, 0);
	assert_int_equal(resp_parse("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\n"
				    "Content-Length: 1\r\n\r\n", 0, NULL), RV_OK);
	assert_int_equal(g_resp.keep_alive, 1);
	assert_int_equal(g_resp.version_minor, 0);
	/* No body: HEAD, 204, 304, whatever the headers say. */
	assert_int_equal(resp_parse("HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n",
				    RV_HTTP_REQ_WAS_HEAD, NULL), RV_OK);
	assert_int_equal(g_resp.framing, RV_HTTP_BODY_NONE);
	assert_int_equal(g_resp.keep_alive, 1);
	assert_int_equal(resp_parse("HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n", 0, NULL),
			 RV_OK);
	assert_int_equal(g_resp.framing, RV_HTTP_BODY_NONE);
	assert_int_equal(resp_parse("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
				    0, NULL), RV_OK);
	assert_int_equal(g_resp.framing, RV_HTTP_BODY_NONE);
	/* Reason phrase may be empty or absent. */
	assert_int_equal(resp_parse("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", 0, NULL), RV_OK);
	assert_int_equal(resp_parse("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", 0, NULL), RV_OK);
	/* 1xx: interim, then the real head; the scanner is re-armed by RV_OK. */
	rv_buf_init_view(&b, two, strlen(two));
	rv_http_response_init(&g_resp);
	assert_int_equal(rv_http_parse_response(&b, &g_resp, 0, NULL), RV_OK);
	assert_int_equal(g_resp.status, 100);
	assert_int_equal(g_resp.interim, 1);
	assert_int_equal(g_resp.framing, RV_HTTP_BODY_NONE);
	assert_int_equal(rv_buf_consume(&b, g_resp.head_len), RV_OK);
	assert_int_equal(rv_http_parse_response(&b, &g_resp, 0, NULL), RV_OK);
	assert_int_equal(g_resp.status, 200);
	assert_int_equal(g_resp.interim, 0);
	assert_int_equal(g_resp.content_length, 2);
	/* 101 to a WebSocket request: a tunnel from here on. */
	assert_int_equal(resp_parse("HTTP/1.1 101 Switching Protocols\r\n\r\n",
				    RV_HTTP_REQ_WAS_UPGRADE, NULL), RV_OK);
	assert_int_equal(g_resp.framing, RV_HTTP_BODY_TUNNEL);
	assert_int_equal(g_resp.interim, 0);
}

static void resp_expect_err(const char *s, unsigned flags, int err, const char *why_part)
{
	const char *why = NULL;

	assert_int_equal(resp_parse(s, flags, &why), err);
	assert_non_null(why);
	if (why_part != NULL && strstr(why, why_part) == NULL)
		fail_msg("why \"%s\" lacks \"%s\" for %s", why, why_part, s);
}

static void test_response_errors(void **state)
{
	(void)state;
	resp_expect_err("HTTP/1.1 101 Switching Protocols\r\n\r\n", 0, RV_ERR_MALFORMED, "101");
	resp_expect_err("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 0,
			RV_ERR_MALFORMED, "Content-Length");
	resp_expect_err("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", 0, RV_ERR_MALFORMED,
			"Content-Length");
	resp_expect_err("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
			0, RV_ERR_MALFORMED, "Transfer-Encoding");
	resp_expect_err("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 0, RV_ERR_MALFORMED,
			"HTTP/1.0");
	resp_expect_err("HTTP/1.1 600 X\r\n\r\n", 0, RV_ERR_MALFORMED, "range");
	resp_expect_err("HTTP/1.1 099 X\r\n\r\n", 0, RV_ERR_MALFORMED, "range");
	resp_expect_err("HTTP/1.1 2x0 X\r\n\r\n", 0, RV_ERR_MALFORMED, "status code");
	resp_expect_err("HTTP/1.1 2000 X\r\n\r\n", 0, RV_ERR_MALFORMED, "status line");
	resp_expect_err("HTTP/1.1  200 X\r\n\r\n", 0, RV_ERR_MALFORMED, "status");
	resp_expect_err("HTTP/2 200\r\n\r\n", 0, RV_ERR_MALFORMED, "status line");
	resp_expect_err("HTTP/2.0 200 OK\r\n\r\n", 0, RV_ERR_MALFORMED, "HTTP/1");
	resp_expect_err("ICY 200 OK\r\n\r\n", 0, RV_ERR_MALFORMED, NULL);
	resp_expect_err("HTTP/1.1 200 O\x01K\r\n\r\n", 0, RV_ERR_MALFORMED, "reason");
	resp_expect_err("HTTP/1.1 200 OK\n\n", 0, RV_ERR_MALFORMED, "bare LF");
	resp_expect_err("HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n", 0, RV_ERR_MALFORMED, "folding");
	resp_expect_err("HTTP/1.1 200 OK\r\nA\r\n\r\n", 0, RV_ERR_MALFORMED, "name");
}

static void test_response_limits(void **state)
{
	char *s = malloc(RV_HTTP_RESP_HEAD_MAX + 64);
	size_t n, i, line;

	(void)state;
	assert_non_null(s);
	/* Head exactly max / max + 1 (lines well under the line limit). */
	for (i = 0; i < 2; i++) {
		size_t total = RV_HTTP_RESP_HEAD_MAX + i;

		n = (size_t)sprintf(s, "HTTP/1.1 204 No Content\r\n");
		while (total - n - 2 > 0) {
			size_t left = total - n - 2;

			line = left > 16000 ? 16000 : left;
			if (left - line > 0 && left - line < 8)
				line -= 8;
			memcpy(s + n, "X:", 2);
			memset(s + n + 2, 'a', line - 4);
			memcpy(s + n + line - 2, "\r\n", 2);
			n += line;
		}
		memcpy(s + n, "\r\n", 3);
		assert_int_equal(strlen(s), total);
		if (i == 0) {
			assert_int_equal(resp_parse(s, 0, NULL), RV_OK);
			assert_int_equal(g_resp.head_len, RV_HTTP_RESP_HEAD_MAX);
		} else {
			resp_expect_err(s, 0, RV_ERR_LIMIT, "too large");
		}
	}
	/* Line exactly max / max + 1. */
	for (i = 0; i < 2; i++) {
		n = (size_t)sprintf(s, "HTTP/1.1 204 No Content\r\nX:");
		memset(s + n, 'a', RV_HTTP_RESP_LINE_MAX - 2 + i);
		memcpy(s + n + RV_HTTP_RESP_LINE_MAX - 2 + i, "\r\n\r\n", 5);
		if (i == 0)
			assert_int_equal(resp_parse(s, 0, NULL), RV_OK);
		else
			resp_expect_err(s, 0, RV_ERR_LIMIT, "line too long");
	}
	/* Header count exactly max / max + 1. */
	for (i = 0; i < 2; i++) {
		size_t k;

		n = (size_t)sprintf(s, "HTTP/1.1 204 No Content\r\n");
		for (k = 0; k < RV_HTTP_RESP_HEADERS_MAX + i; k++)
			n += (size_t)sprintf(s + n, "A: b\r\n");
		sprintf(s + n, "\r\n");
		if (i == 0)
			assert_int_equal(resp_parse(s, 0, NULL), RV_OK);
		else
			resp_expect_err(s, 0, RV_ERR_LIMIT, "too many");
	}
	free(s);
}

/* ---- bodies ------------------------------------------------------------ */

static const char chunked_body[] = "4\r\nWiki\r\n"
				   "5;name=\"v a\"\r\npedia\r\n"
				   "E \r\n in\r\n\r\nchunks.\r\n"
				   "000\r\n"
				   "X-Trailer: yes\r\n\r\n";

/* Scan s[0..len) in pieces of `step` bytes, consuming what is passed. */
static int body_scan_all(struct rv_http_body *bs, const char *s, size_t len, size_t step,
			 size_t *total, const char **why)
{
	struct rv_buf b;
	size_t off = 0, pass, n;
	int ret = RV_ERR_NEED_MORE;

	*total = 0;
	rv_buf_init(&b, 1 << 20);
	while (ret == RV_ERR_NEED_MORE && off < len) {
		n = len - off < step ? len - off : step;
		assert_int_equal(rv_buf_put(&b, s + off, n), RV_OK);
		off += n;
		ret = rv_http_body_scan(bs, &b, &pass, why);
		assert_true(pass <= rv_buf_len(&b));
		if (ret == RV_ERR_NEED_MORE)
			assert_int_equal(pass, rv_buf_len(&b));
		*total += pass;
		assert_int_equal(rv_buf_consume(&b, pass), RV_OK);
	}
	rv_buf_cleanup(&b);
	return ret;
}

static void test_body_chunked(void **state)
{
	char in[sizeof(chunked_body) + 16];
	size_t len = strlen(chunked_body), step, cut, total;
	struct rv_http_body bs;
	struct rv_buf b;
	size_t pass;

	(void)state;
	/* Followed by the next request: the body ends exactly. */
	snprintf(in, sizeof(in), "%sGET ", chunked_body);
	for (step = 1; step <= len + 4; step++) {
		rv_http_body_init(&bs, RV_HTTP_BODY_CHUNKED, 0);
		assert_int_equal(body_scan_all(&bs, in, strlen(in), step, &total, NULL), RV_OK);
		assert_int_equal(total, len);
		assert_int_equal(bs.state, RV_HTTP_BODY_ST_DONE);
	}
	/* Every strict prefix, fresh: NEED_MORE, all of it passed, buffer
	 * unchanged. */
	for (cut = 0; cut < len; cut++) {
		rv_buf_init_view(&b, chunked_body, cut);
		rv_http_body_init(&bs, RV_HTTP_BODY_CHUNKED, 0);
		assert_int_equal(rv_http_body_scan(&bs, &b, &pass, NULL), RV_ERR_NEED_MORE);
		assert_int_equal(pass, cut);
		assert_int_equal(rv_buf_len(&b), cut);
	}
	/* Split at every point into two pieces. */
	for (cut = 0; cut <= len; cut++) {
		size_t p1, p2;

		rv_http_body_init(&bs, RV_HTTP_BODY_CHUNKED, 0);
		rv_buf_init_view(&b, in, cut);
		assert_int_equal(rv_http_body_scan(&bs, &b, &p1, NULL),
				 cut < len ? RV_ERR_NEED_MORE : RV_OK);
		rv_buf_init_view(&b, in + p1, strlen(in) - p1);
		if (cut < len) {
			assert_int_equal(rv_http_body_scan(&bs, &b, &p2, NULL), RV_OK);
			assert_int_equal(p1 + p2, len);
		}
	}
	/* Done stays done: nothing more belongs to the body. */
	rv_buf_init_view(&b, "more", 4);
	assert_int_equal(rv_http_body_scan(&bs, &b, &pass, NULL), RV_OK);
	assert_int_equal(pass, 0);
	/* Minimal chunked body; a 16-digit size is fine. */
	rv_http_body_init(&bs, RV_HTTP_BODY_CHUNKED, 0);
	assert_int_equal(body_scan_all(&bs, "0\r\n\r\n", 5, 5, &total, NULL), RV_OK);
	assert_int_equal(total, 5);
	rv_http_body_init(&bs, RV_HTTP_BODY_CHUNKED, 0);
	assert_int_equal(body_scan_all(&bs, "0000000000000001\r\nx\r\n0\r\n\r\n", 26, 100, &total,
				       NULL), RV_OK);
	assert_int_equal(total, 26);
	rv_http_body_init(&bs, RV_HTTP_BODY_CHUNKED, 0);
	rv_buf_init_view(&b, "FFFFFFFFFFFFFFFF\r\nabc", 21);
	assert_int_equal(rv_http_body_scan(&bs, &b, &pass, NULL), RV_ERR_NEED_MORE);
	assert_int_equal(bs.remaining, UINT64_MAX - 3);
}

static void body_expect_err(const char *s, size_t len, int err, const char *why_part)
{
	struct rv_http_body bs;
	struct rv_buf b;
	size_t total, pass;
	const char *why = NULL;

	rv_http_body_init(&bs, RV_HTTP_BODY_CHUNKED, 0);
	assert_int_equal(body_scan_all(&bs, s, len, len, &total, &why), err);
	assert_non_null(why);
	if (why_part != NULL && strstr(why, why_part) == NULL)
		fail_msg("why \"%s\" lacks \"%s\"", why, why_part);
	assert_int_equal(bs.state, RV_HTTP_BODY_ST_FAILED);
	/* Failed is final. */
	rv_buf_init_view(&b, "0\r\n\r\n", 5);
	assert_int_equal(rv_http_body_scan(&bs, &b, &pass, NULL), RV_ERR_STATE);
	/* Byte by byte fails the same way. */
	rv_http_body_init(&bs, RV_HTTP_BODY_CHUNKED, 0);
	assert_int_equal(body_scan_all(&bs, s, len, 1, &total, NULL), err);
}

static void test_body_errors(void **state)
{
	char *s = malloc(RV_HTTP_TRAILER_MAX + RV_HTTP_CHUNK_LINE_MAX + 64);
	struct rv_http_body bs;
	size_t n, total, i;

	(void)state;
	assert_non_null(s);
	body_expect_err("\r\n", 2, RV_ERR_MALFORMED, "missing");
	body_expect_err(";x\r\n", 4, RV_ERR_MALFORMED, "missing");
	body_expect_err("4x\r\n", 4, RV_ERR_MALFORMED, "after chunk size");
	body_expect_err("-4\r\n", 4, RV_ERR_MALFORMED, "missing");
	body_expect_err("4\n", 2, RV_ERR_MALFORMED, "after chunk size");
	body_expect_err("4\rx", 3, RV_ERR_MALFORMED, "CRLF");
	body_expect_err("4;a\x01\r\n", 6, RV_ERR_MALFORMED, "control");
	body_expect_err("4;a\n", 4, RV_ERR_MALFORMED, "control");
	body_expect_err("4\r\nWikiX", 8, RV_ERR_MALFORMED, "CRLF");
	body_expect_err("4\r\nWiki\rX", 9, RV_ERR_MALFORMED, "CRLF");
	body_expect_err("0\r\nX: y\n", 8, RV_ERR_MALFORMED, "trailer");
	body_expect_err("0\r\nX: y\rz", 9, RV_ERR_MALFORMED, "bare CR");
	body_expect_err("0\r\n\rx", 5, RV_ERR_MALFORMED, "bare CR");
	body_expect_err("00000000000000001\r\n", 19, RV_ERR_LIMIT, "digits");

	/* Size line (digits + extension) exactly max / max + 1. */
	for (i = 0; i < 2; i++) {
		n = RV_HTTP_CHUNK_LINE_MAX - 1 + i; /* the CR counts too */
		s[0] = '0';
		s[1] = ';';
		memset(s + 2, 'e', n - 2);
		memcpy(s + n, "\r\n\r\n", 4);
		rv_http_body_init(&bs, RV_HTTP_BODY_CHUNKED, 0);
		if (i == 0) {
			assert_int_equal(body_scan_all(&bs, s, n + 4, 7, &total, NULL), RV_OK);
			assert_int_equal(total, n + 4);
		} else {
			body_expect_err(s, n + 4, RV_ERR_LIMIT, "extension too long");
		}
	}
	/* Trailer line exactly max / max + 1. */
	for (i = 0; i < 2; i++) {
		memcpy(s, "0\r\n", 3);
		memset(s + 3, 't', RV_HTTP_LINE_MAX + i);
		memcpy(s + 3 + RV_HTTP_LINE_MAX + i, "\r\n\r\n", 4);
		n = 3 + RV_HTTP_LINE_MAX + i + 4;
		rv_http_body_init(&bs, RV_HTTP_BODY_CHUNKED, 0);
		if (i == 0)
			assert_int_equal(body_scan_all(&bs, s, n, 1000, &total, NULL), RV_OK);
		else
			body_expect_err(s, n, RV_ERR_LIMIT, "trailer line too long");
	}
	/* Trailer section exactly max / max + 1 (counting its CRLFs). */
	for (i = 0; i < 2; i++) {
		size_t left = RV_HTTP_TRAILER_MAX + i - 2, off = 3, line;

		memcpy(s, "0\r\n", 3);
		while (left > 0) {
			line = left > 4000 ? 4000 : left;
			if (left - line > 0 && left - line < 3)
				line -= 3;
			memset(s + off, 't', line - 2);
			memcpy(s + off + line - 2, "\r\n", 2);
			off += line;
			left -= line;
		}
		memcpy(s + off, "\r\n", 2);
		n = off + 2;
		assert_int_equal(n, 3 + RV_HTTP_TRAILER_MAX + i);
		rv_http_body_init(&bs, RV_HTTP_BODY_CHUNKED, 0);
		if (i == 0)
			assert_int_equal(body_scan_all(&bs, s, n, 999, &total, NULL), RV_OK);
		else
			body_expect_err(s, n, RV_ERR_LIMIT, "trailer section too large");
	}
	free(s);
}

static void test_body_other(void **state)
{
	struct rv_http_body bs;
	struct rv_buf b;
	size_t pass, total;

	(void)state;
	rv_http_body_init(&bs, RV_HTTP_BODY_NONE, 0);
	rv_buf_init_view(&b, "GET ", 4);
	assert_int_equal(rv_http_body_scan(&bs, &b, &pass, NULL), RV_OK);
	assert_int_equal(pass, 0);
	rv_http_body_init(&bs, RV_HTTP_BODY_LENGTH, 0);
	assert_int_equal(rv_http_body_scan(&bs, &b, &pass, NULL), RV_OK);
	assert_int_equal(pass, 0);
	/* Length 5 then the next request, at every step size. */
	for (size_t step = 1; step <= 9; step++) {
		rv_http_body_init(&bs, RV_HTTP_BODY_LENGTH, 5);
		assert_int_equal(body_scan_all(&bs, "helloGET ", 9, step, &total, NULL), RV_OK);
		assert_int_equal(total, 5);
	}
	rv_http_body_init(&bs, RV_HTTP_BODY_LENGTH, 5);
	rv_buf_init_view(&b, "hell", 4);
	assert_int_equal(rv_http_body_scan(&bs, &b, &pass, NULL), RV_ERR_NEED_MORE);
	assert_int_equal(pass, 4);
	assert_int_equal(bs.remaining, 1);
	/* Close-delimited and tunnels never end. */
	rv_http_body_init(&bs, RV_HTTP_BODY_CLOSE, 0);
	rv_buf_init_view(&b, "0\r\n\r\n", 5);
	assert_int_equal(rv_http_body_scan(&bs, &b, &pass, NULL), RV_ERR_NEED_MORE);
	assert_int_equal(pass, 5);
	rv_http_body_init(&bs, RV_HTTP_BODY_TUNNEL, 0);
	assert_int_equal(rv_http_body_scan(&bs, &b, &pass, NULL), RV_ERR_NEED_MORE);
	assert_int_equal(pass, 5);
	rv_http_body_init(&bs, (enum rv_http_framing)99, 0);
	assert_int_equal(rv_http_body_scan(&bs, &b, &pass, NULL), RV_ERR_STATE);
}

/* ---- the proxy's own answers --------------------------------------------- */

static void test_status_builders(void **state)
{
	static const int codes[] = { 400, 403, 404, 407, 502, 503, 504, 414, 431, 501, 505, 405 };
	struct rv_buf out;
	char want[128];
	size_t i;

	(void)state;
	assert_int_equal(rv_http_status_from_rv(RV_STATUS_OK), 200);
	assert_int_equal(rv_http_status_from_rv(RV_STATUS_NOT_ALLOWED), 403);
	assert_int_equal(rv_http_status_from_rv(RV_STATUS_TTL_EXPIRED), 504);
	assert_int_equal(rv_http_status_from_rv(RV_STATUS_GENERAL_FAILURE), 502);
	assert_int_equal(rv_http_status_from_rv(RV_STATUS_NET_UNREACHABLE), 502);
	assert_int_equal(rv_http_status_from_rv(RV_STATUS_HOST_UNREACHABLE), 502);
	assert_int_equal(rv_http_status_from_rv(RV_STATUS_CONNECTION_REFUSED), 502);
	assert_int_equal(rv_http_status_from_rv(RV_STATUS_COMMAND_NOT_SUPPORTED), 502);
	assert_int_equal(rv_http_status_from_rv(RV_STATUS_ATYP_NOT_SUPPORTED), 502);

	rv_buf_init(&out, 4096);
	assert_int_equal(rv_http_build_status(&out, 200, 0), RV_OK);
	assert_buf_is(&out, "HTTP/1.1 200 Connection established\r\n\r\n", 39);
	rv_buf_reset(&out);
	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		struct rv_http_body bs;
		size_t pass;

		assert_int_equal(rv_http_build_status(&out, codes[i], 0), RV_OK);
		snprintf(want, sizeof(want), "HTTP/1.1 %d %s\r\n", codes[i], rv_http_reason(codes[i]));
		assert_memory_equal(rv_buf_ptr(&out), want, strlen(want));
		/* Our own answer parses as a well-framed response. */
		rv_http_response_init(&g_resp);
		assert_int_equal(rv_http_parse_response(&out, &g_resp, 0, NULL), RV_OK);
		assert_int_equal(g_resp.status, codes[i]);
		assert_int_equal(g_resp.framing, RV_HTTP_BODY_LENGTH);
		assert_int_equal(g_resp.keep_alive, 0);
		assert_int_equal(rv_buf_consume(&out, g_resp.head_len), RV_OK);
		rv_http_body_init(&bs, g_resp.framing, g_resp.content_length);
		assert_int_equal(rv_http_body_scan(&bs, &out, &pass, NULL), RV_OK);
		assert_int_equal(pass, rv_buf_len(&out));
		assert_int_equal(strncmp((const char *)rv_buf_ptr(&out), want + 9, 3), 0);
		rv_buf_reset(&out);
	}
	assert_int_equal(rv_http_build_status(&out, 407, RV_HTTP_RESP_KEEP_ALIVE), RV_OK);
	assert_non_null(memmem(rv_buf_ptr(&out), rv_buf_len(&out),
			       "\r\nProxy-Authenticate: Basic realm=\"rvpn\"\r\n", 42));
	assert_non_null(memmem(rv_buf_ptr(&out), rv_buf_len(&out), "\r\nConnection: keep-alive\r\n",
			       26));
	rv_buf_reset(&out);
	assert_int_equal(rv_http_build_status(&out, 404, RV_HTTP_RESP_HEAD_ONLY), RV_OK);
	assert_int_equal(memcmp(rv_buf_ptr(&out) + rv_buf_len(&out) - 4, "\r\n\r\n", 4), 0);
	rv_buf_reset(&out);
	assert_int_equal(rv_http_build_status(&out, 299, 0), RV_ERR_INVALID_ARG);
	assert_int_equal(rv_http_build_status(&out, 0, 0), RV_ERR_INVALID_ARG);
	assert_int_equal(rv_buf_len(&out), 0);
	rv_buf_cleanup(&out);
	rv_buf_init(&out, 20);
	assert_int_equal(rv_http_build_status(&out, 502, 0), RV_ERR_NO_SPACE);
	assert_int_equal(rv_buf_len(&out), 0);
	rv_buf_cleanup(&out);

	/* Body responses. */
	rv_buf_init(&out, 4096);
	assert_int_equal(rv_http_build_body_response(&out, "text/x", "abc", 3, 0), RV_OK);
	rv_http_response_init(&g_resp);
	assert_int_equal(rv_http_parse_response(&out, &g_resp, 0, NULL), RV_OK);
	assert_int_equal(g_resp.content_length, 3);
	assert_int_equal(rv_buf_len(&out) - g_resp.head_len, 3);
	rv_buf_reset(&out);
	assert_int_equal(rv_http_build_body_response(&out, "text/x\r\nX: y", "abc", 3, 0),
			 RV_ERR_INVALID_ARG);
	assert_int_equal(rv_buf_len(&out), 0);
	rv_buf_cleanup(&out);
	/* Head fits, body does not: out unchanged. */
	rv_buf_init(&out, 200);
	assert_int_equal(rv_http_build_body_response(&out, "text/x", want, sizeof(want), 0),
			 RV_ERR_NO_SPACE);
	assert_int_equal(rv_buf_len(&out), 0);
	rv_buf_cleanup(&out);
}

/* The caller's loop on one keep-alive client connection: head, body,
 * next head; and on the origin side: interim head, head, chunked body,
 * next response.  Bodies are relayed, never parsed as heads. */
static void test_keep_alive_sequence(void **state)
{
	static const char client[] =
		"POST http://a.example/p HTTP/1.1\r\nContent-Length: 30\r\n\r\n"
		"GET http://evil/ HTTP/1.1\r\n\r\n!"  /* 30 body bytes that look like a head */
		"PUT http://b.example/q HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
		"3\r\nabc\r\n0\r\n\r\n"
		"GET http://c.example/ HTTP/1.1\r\nConnection: close\r\n\r\n";
	static const char origin[] =
		"HTTP/1.1 100 Continue\r\n\r\n"
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		"5\r\nHTTP/\r\n0\r\n\r\n"
		"HTTP/1.1 204 No Content\r\n\r\n";
	static const char *const hosts[] = { "a.example", "b.example", "c.example" };
	struct rv_http_response resp;
	struct rv_http_body body;
	struct rv_buf b;
	size_t pass, i;

	(void)state;
	buf_load(&b, client, strlen(client));
	rv_http_request_init(&g_req);
	for (i = 0; i < 3; i++) {
		assert_int_equal(rv_http_parse_request(&b, &g_req, NULL), RV_OK);
		assert_string_equal(g_req.dst.domain, hosts[i]);
		rv_http_body_init(&body, g_req.framing, g_req.content_length);
		assert_int_equal(rv_http_body_scan(&body, &b, &pass, NULL), RV_OK);
		assert_int_equal(pass, i == 0 ? 30 : i == 1 ? 13 : 0);
		assert_int_equal(rv_buf_consume(&b, pass), RV_OK);
		assert_int_equal(g_req.keep_alive, i < 2);
	}
	assert_int_equal(rv_buf_len(&b), 0);
	rv_buf_cleanup(&b);

	buf_load(&b, origin, strlen(origin));
	rv_http_response_init(&resp);
	assert_int_equal(rv_http_parse_response(&b, &resp, 0, NULL), RV_OK);
	assert_int_equal(resp.interim, 1);
	assert_int_equal(rv_buf_consume(&b, resp.head_len), RV_OK);
	assert_int_equal(rv_http_parse_response(&b, &resp, 0, NULL), RV_OK);
	assert_int_equal(resp.framing, RV_HTTP_BODY_CHUNKED);
	assert_int_equal(rv_buf_consume(&b, resp.head_len), RV_OK);
	rv_http_body_init(&body, resp.framing, resp.content_length);
	assert_int_equal(rv_http_body_scan(&body, &b, &pass, NULL), RV_OK);
	assert_int_equal(pass, 15);
	assert_int_equal(rv_buf_consume(&b, pass), RV_OK);
	assert_int_equal(rv_http_parse_response(&b, &resp, 0, NULL), RV_OK);
	assert_int_equal(resp.status, 204);
	assert_int_equal(resp.framing, RV_HTTP_BODY_NONE);
	assert_int_equal(resp.head_len, rv_buf_len(&b));
	rv_buf_cleanup(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_prefixes),
		cmocka_unit_test(test_request_connect),
		cmocka_unit_test(test_request_absolute),
		cmocka_unit_test(test_request_keep_alive),
		cmocka_unit_test(test_request_errors),
		cmocka_unit_test(test_request_limits),
		cmocka_unit_test(test_request_incremental_scan),
		cmocka_unit_test(test_auth),
		cmocka_unit_test(test_forward_rewrite),
		cmocka_unit_test(test_response_prefixes),
		cmocka_unit_test(test_response_framing),
		cmocka_unit_test(test_response_errors),
		cmocka_unit_test(test_response_limits),
		cmocka_unit_test(test_body_chunked),
		cmocka_unit_test(test_body_errors),
		cmocka_unit_test(test_body_other),
		cmocka_unit_test(test_status_builders),
		cmocka_unit_test(test_keep_alive_sequence),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
