/* rv_http_message.c - HTTP/1.x syntax helpers, the origin response-head
 * scanner and the body (Content-Length / chunked) scanner.  See
 * rv_http_proxy.h; nothing here allocates or consumes. */
#include "rv_http_util.h"

#include <string.h>

#include "rv_err.h"

void rv_http_set_why(const char **why, const char *text)
{
	if (why != NULL)
		*why = text;
}

int rv_http_is_tchar(uint8_t c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static uint8_t rv_http_lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + ('a' - 'A')) : c;
}

int rv_http_scan_head(struct rv_http_scan *s, const uint8_t *p, size_t len,
		      const struct rv_http_head_limits *lim, size_t *head_len, int *status,
		      const char **why)
{
	size_t off;
	uint8_t c;

	/* A shorter buffer than last time is a caller bug: start over. */
	if (s->off > len || s->line_start > s->off)
		memset(s, 0, sizeof(*s));
	for (off = s->off; off < len; off++) {
		c = p[off];
		if (off >= lim->head_max) {
			*status = lim->status;
			rv_http_set_why(why, "header section too large");
			return RV_ERR_LIMIT;
		}
		if (off > s->line_start && p[off - 1] == '\r' && c != '\n') {
			*status = 400;
			rv_http_set_why(why, "bare CR in header section");
			return RV_ERR_MALFORMED;
		}
		if (c == '\n') {
			if (off == s->line_start || p[off - 1] != '\r') {
				*status = 400;
				rv_http_set_why(why, "bare LF in header section (CRLF required)");
				return RV_ERR_MALFORMED;
			}
			if (off - 1 == s->line_start && s->lines > 0) {
				*head_len = off + 1;
				memset(s, 0, sizeof(*s));
				return RV_OK;
			}
			if (off - 1 == s->line_start) {
				*status = 400;
				rv_http_set_why(why, "empty first line");
				return RV_ERR_MALFORMED;
			}
			if (s->lines > lim->fields_max) {
				*status = lim->status;
				rv_http_set_why(why, "too many header fields");
				return RV_ERR_LIMIT;
			}
			s->lines++;
			s->line_start = off + 1;
			continue;
		}
		if (c != '\r' && off - s->line_start + 1 > lim->line_max) {
			*status = s->lines == 0 ? lim->first_line_status : lim->status;
			rv_http_set_why(why, s->lines == 0 ? "first line too long" : "header line too long");
			return RV_ERR_LIMIT;
		}
	}
	s->off = len;
	return RV_ERR_NEED_MORE;
}

size_t rv_http_line_len(const uint8_t *p, size_t len, size_t off)
{
	size_t i;

	for (i = off; i + 1 < len; i++)
		if (p[i] == '\r' && p[i + 1] == '\n')
			return i - off;
	return len - off;
}

int rv_http_split_field(const uint8_t *line, size_t len, size_t *name_len, size_t *val_off,
			size_t *val_len, const char **why)
{
	size_t i = 0, start, end;

	if (len > 0 && (line[0] == ' ' || line[0] == '\t')) {
		rv_http_set_why(why, "obsolete line folding");
		return RV_ERR_MALFORMED;
	}
	while (i < len && rv_http_is_tchar(line[i]))
		i++;
	if (i == 0 || i >= len || line[i] != ':') {
		rv_http_set_why(why, i > 0 && i < len && (line[i] == ' ' || line[i] == '\t') ?
					     "whitespace before a header colon" :
					     "bad header field name");
		return RV_ERR_MALFORMED;
	}
	*name_len = i;
	start = i + 1;
	while (start < len && (line[start] == ' ' || line[start] == '\t'))
		start++;
	end = len;
	while (end > start && (line[end - 1] == ' ' || line[end - 1] == '\t'))
		end--;
	for (i = start; i < end; i++) {
		/* VCHAR, obs-text, SP, HT: no NUL or other controls. */
		if ((line[i] < 0x20 && line[i] != '\t') || line[i] == 0x7f) {
			rv_http_set_why(why, "control byte in a header value");
			return RV_ERR_MALFORMED;
		}
	}
	*val_off = start;
	*val_len = end - start;
	return RV_OK;
}

int rv_http_name_is(const uint8_t *p, size_t len, const char *lower)
{
	size_t i;

	if (strlen(lower) != len)
		return 0;
	for (i = 0; i < len; i++)
		if (rv_http_lower(p[i]) != (uint8_t)lower[i])
			return 0;
	return 1;
}

int rv_http_ci_equal(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	size_t i;

	if (alen != blen)
		return 0;
	for (i = 0; i < alen; i++)
		if (rv_http_lower(a[i]) != rv_http_lower(b[i]))
			return 0;
	return 1;
}

int rv_http_list_has(const uint8_t *p, size_t len, const char *lower)
{
	return rv_http_list_has_n(p, len, (const uint8_t *)lower, strlen(lower));
}

int rv_http_list_has_n(const uint8_t *p, size_t len, const uint8_t *tok, size_t tok_len)
{
	size_t i = 0, s, e;

	while (i < len) {
		while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == ','))
			i++;
		s = i;
		while (i < len && p[i] != ',')
			i++;
		e = i;
		while (e > s && (p[e - 1] == ' ' || p[e - 1] == '\t'))
			e--;
		if (e > s && rv_http_ci_equal(p + s, e - s, tok, tok_len))
			return 1;
	}
	return 0;
}

int rv_http_parse_length(const uint8_t *p, size_t len, uint64_t *v)
{
	uint64_t x = 0;
	size_t i;

	if (len == 0 || len > RV_HTTP_CL_DIGITS_MAX)
		return RV_ERR_MALFORMED;
	for (i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return RV_ERR_MALFORMED;
		x = x * 10 + (uint64_t)(p[i] - '0');
	}
	*v = x;
	return RV_OK;
}

int rv_http_parse_version(const uint8_t *p, size_t len)
{
	if (len != 8 || memcmp(p, "HTTP/", 5) != 0 || p[5] < '0' || p[5] > '9' || p[6] != '.' ||
	    p[7] < '0' || p[7] > '9')
		return -2;
	if (p[5] != '1' || (p[7] != '0' && p[7] != '1'))
		return -1;
	return p[7] - '0';
}

/* ---- response heads ------------------------------------------------ */

static const struct rv_http_head_limits rv_http_resp_limits = {
	RV_HTTP_RESP_HEAD_MAX, RV_HTTP_RESP_LINE_MAX, RV_HTTP_RESP_HEADERS_MAX, 502, 502,
};

void rv_http_response_init(struct rv_http_response *resp)
{
	memset(resp, 0, sizeof(*resp));
}

/* "HTTP/1.x SP 3DIGIT [SP reason]": reason may be empty or (leniently, as
 * deployed servers do) missing with its space. */
static int rv_http_status_line(const uint8_t *l, size_t n, struct rv_http_response *r,
			       const char **why)
{
	size_t i;
	int v;

	if (n < 12 || l[8] != ' ' || (n > 12 && l[12] != ' ')) {
		rv_http_set_why(why, "bad status line");
		return RV_ERR_MALFORMED;
	}
	v = rv_http_parse_version(l, 8);
	if (v < 0) {
		rv_http_set_why(why, "origin is not HTTP/1.0 or HTTP/1.1");
		return RV_ERR_MALFORMED;
	}
	r->version_minor = v;
	r->status = 0;
	for (i = 9; i < 12; i++) {
		if (l[i] < '0' || l[i] > '9') {
			rv_http_set_why(why, "bad status code");
			return RV_ERR_MALFORMED;
		}
		r->status = r->status * 10 + (l[i] - '0');
	}
	if (r->status < 100 || r->status > 599) {
		rv_http_set_why(why, "status code out of range");
		return RV_ERR_MALFORMED;
	}
	for (i = 13; i < n; i++) {
		if ((l[i] < 0x20 && l[i] != '\t') || l[i] == 0x7f) {
			rv_http_set_why(why, "control byte in the reason phrase");
			return RV_ERR_MALFORMED;
		}
	}
	return RV_OK;
}

int rv_http_parse_response(const struct rv_buf *in, struct rv_http_response *resp,
			   unsigned req_flags, const char **why)
{
	struct rv_http_response r;
	const uint8_t *p = rv_buf_ptr(in), *l, *val;
	size_t len = rv_buf_len(in), head_len = 0, off, n, nlen, voff, vlen;
	int ret, status = 0, have_cl = 0, have_te = 0, chunked_last = 0, conn_close = 0,
	    conn_ka = 0;
	uint64_t cl = 0, v;

	rv_http_set_why(why, NULL);
	ret = rv_http_scan_head(&resp->scan_, p, len, &rv_http_resp_limits, &head_len, &status, why);
	if (ret != RV_OK)
		return ret;
	memset(&r, 0, sizeof(r));
	n = rv_http_line_len(p, head_len, 0);
	if ((ret = rv_http_status_line(p, n, &r, why)) != RV_OK)
		return ret;
	for (off = n + 2; off < head_len - 2; off += n + 2) {
		l = p + off;
		n = rv_http_line_len(p, head_len, off);
		if ((ret = rv_http_split_field(l, n, &nlen, &voff, &vlen, why)) != RV_OK)
			return ret;
		val = l + voff;
		if (rv_http_name_is(l, nlen, "content-length")) {
			if (rv_http_parse_length(val, vlen, &v) != RV_OK ||
			    (have_cl && v != cl)) {
				rv_http_set_why(why, "bad or conflicting Content-Length from origin");
				return RV_ERR_MALFORMED;
			}
			have_cl = 1;
			cl = v;
		} else if (rv_http_name_is(l, nlen, "transfer-encoding")) {
			size_t e = vlen, s;

			/* The final coding decides: chunked, else until close. */
			while (e > 0 && (val[e - 1] == ' ' || val[e - 1] == '\t' || val[e - 1] == ','))
				e--;
			s = e;
			while (s > 0 && val[s - 1] != ',' && val[s - 1] != ' ' && val[s - 1] != '\t')
				s--;
			have_te = 1;
			chunked_last = e > s && rv_http_name_is(val + s, e - s, "chunked");
		} else if (rv_http_name_is(l, nlen, "connection")) {
			conn_close |= rv_http_list_has(val, vlen, "close");
			conn_ka |= rv_http_list_has(val, vlen, "keep-alive");
		}
	}
	if (have_te && (have_cl || r.version_minor == 0)) {
		rv_http_set_why(why, "origin sent Transfer-Encoding with Content-Length or in HTTP/1.0");
		return RV_ERR_MALFORMED;
	}
	r.keep_alive = r.version_minor == 1 ? !conn_close : (conn_ka && !conn_close);
	if (r.status == 101) {
		if (!(req_flags & RV_HTTP_REQ_WAS_UPGRADE)) {
			rv_http_set_why(why, "101 Switching Protocols without an upgrade request");
			return RV_ERR_MALFORMED;
		}
		r.framing = RV_HTTP_BODY_TUNNEL;
		r.keep_alive = 0;
	} else if (r.status < 200) {
		r.interim = 1;
		r.framing = RV_HTTP_BODY_NONE;
	} else if ((req_flags & RV_HTTP_REQ_WAS_HEAD) || r.status == 204 || r.status == 304) {
		r.framing = RV_HTTP_BODY_NONE;
	} else if (have_te) {
		r.framing = chunked_last ? RV_HTTP_BODY_CHUNKED : RV_HTTP_BODY_CLOSE;
	} else if (have_cl) {
		r.framing = RV_HTTP_BODY_LENGTH;
		r.content_length = cl;
	} else {
		r.framing = RV_HTTP_BODY_CLOSE;
	}
	if (r.framing == RV_HTTP_BODY_CLOSE)
		r.keep_alive = 0;
	r.head_len = head_len;
	*resp = r; /* scan_ zeroed: ready for the next head */
	return RV_OK;
}

/* ---- bodies ---------------------------------------------------------- */

void rv_http_body_init(struct rv_http_body *b, enum rv_http_framing framing, uint64_t length)
{
	memset(b, 0, sizeof(*b));
	switch (framing) {
	case RV_HTTP_BODY_NONE:
		b->state = RV_HTTP_BODY_ST_DONE;
		break;
	case RV_HTTP_BODY_LENGTH:
		b->state = length == 0 ? RV_HTTP_BODY_ST_DONE : RV_HTTP_BODY_ST_LENGTH;
		b->remaining = length;
		break;
	case RV_HTTP_BODY_CHUNKED:
		b->state = RV_HTTP_BODY_ST_SIZE;
		break;
	case RV_HTTP_BODY_CLOSE:
	case RV_HTTP_BODY_TUNNEL:
		b->state = RV_HTTP_BODY_ST_UNTIL_CLOSE;
		break;
	default:
		b->state = RV_HTTP_BODY_ST_FAILED;
		break;
	}
}

static int rv_http_hex(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = rv_http_lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int rv_http_body_fail(struct rv_http_body *b, const char **why, const char *text, int err)
{
	b->state = RV_HTTP_BODY_ST_FAILED;
	rv_http_set_why(why, text);
	return err;
}

/* One byte of chunked framing (not chunk data). */
static int rv_http_chunk_byte(struct rv_http_body *b, uint8_t c, const char **why)
{
	int h;

	switch (b->state) {
	case RV_HTTP_BODY_ST_SIZE:
		if (++b->line_len > RV_HTTP_CHUNK_LINE_MAX)
			return rv_http_body_fail(b, why, "chunk size line too long", RV_ERR_LIMIT);
		h = rv_http_hex(c);
		if (h >= 0) {
			if (++b->digits > RV_HTTP_CHUNK_DIGITS_MAX)
				return rv_http_body_fail(b, why, "chunk size has too many digits",
							 RV_ERR_LIMIT);
			b->remaining = (b->remaining << 4) | (uint64_t)h;
			return RV_OK;
		}
		if (b->digits == 0)
			return rv_http_body_fail(b, why, "chunk size missing", RV_ERR_MALFORMED);
		if (c == '\r')
			b->state = RV_HTTP_BODY_ST_SIZE_LF;
		else if (c == ';' || c == ' ' || c == '\t')
			b->state = RV_HTTP_BODY_ST_EXT;
		else
			return rv_http_body_fail(b, why, "bad byte after chunk size", RV_ERR_MALFORMED);
		return RV_OK;
	case RV_HTTP_BODY_ST_EXT:
		if (++b->line_len > RV_HTTP_CHUNK_LINE_MAX)
			return rv_http_body_fail(b, why, "chunk extension too long", RV_ERR_LIMIT);
		if (c == '\r')
			b->state = RV_HTTP_BODY_ST_SIZE_LF;
		else if ((c < 0x20 && c != '\t') || c == 0x7f)
			return rv_http_body_fail(b, why, "control byte in chunk extension",
						 RV_ERR_MALFORMED);
		return RV_OK;
	case RV_HTTP_BODY_ST_SIZE_LF:
		if (c != '\n')
			return rv_http_body_fail(b, why, "chunk size line not ended by CRLF",
						 RV_ERR_MALFORMED);
		b->line_len = 0;
		b->digits = 0;
		b->state = b->remaining == 0 ? RV_HTTP_BODY_ST_TRAILER : RV_HTTP_BODY_ST_DATA;
		return RV_OK;
	case RV_HTTP_BODY_ST_DATA_CR:
		if (c != '\r')
			return rv_http_body_fail(b, why, "chunk data not followed by CRLF",
						 RV_ERR_MALFORMED);
		b->state = RV_HTTP_BODY_ST_DATA_LF;
		return RV_OK;
	case RV_HTTP_BODY_ST_DATA_LF:
		if (c != '\n')
			return rv_http_body_fail(b, why, "chunk data not followed by CRLF",
						 RV_ERR_MALFORMED);
		b->state = RV_HTTP_BODY_ST_SIZE;
		b->remaining = 0;
		return RV_OK;
	case RV_HTTP_BODY_ST_TRAILER:
		if (++b->trailer_len > RV_HTTP_TRAILER_MAX)
			return rv_http_body_fail(b, why, "trailer section too large", RV_ERR_LIMIT);
		if (c == '\r') {
			b->state = RV_HTTP_BODY_ST_TRAILER_LF;
			return RV_OK;
		}
		if (++b->line_len > RV_HTTP_LINE_MAX)
			return rv_http_body_fail(b, why, "trailer line too long", RV_ERR_LIMIT);
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return rv_http_body_fail(b, why, "control byte or bare LF in trailer",
						 RV_ERR_MALFORMED);
		return RV_OK;
	case RV_HTTP_BODY_ST_TRAILER_LF:
		if (++b->trailer_len > RV_HTTP_TRAILER_MAX)
			return rv_http_body_fail(b, why, "trailer section too large", RV_ERR_LIMIT);
		if (c != '\n')
			return rv_http_body_fail(b, why, "bare CR in trailer", RV_ERR_MALFORMED);
		b->state = b->line_len == 0 ? RV_HTTP_BODY_ST_DONE : RV_HTTP_BODY_ST_TRAILER;
		b->line_len = 0;
		return RV_OK;
	default:
		return rv_http_body_fail(b, why, "body scanner in a bad state", RV_ERR_STATE);
	}
}

int rv_http_body_scan(struct rv_http_body *b, const struct rv_buf *in, size_t *pass,
		      const char **why)
{
	const uint8_t *p = rv_buf_ptr(in);
	size_t len = rv_buf_len(in), off = 0, n;
	int ret;

	*pass = 0;
	rv_http_set_why(why, NULL);
	while (b->state != RV_HTTP_BODY_ST_DONE) {
		switch (b->state) {
		case RV_HTTP_BODY_ST_UNTIL_CLOSE:
			*pass = len;
			return RV_ERR_NEED_MORE;
		case RV_HTTP_BODY_ST_LENGTH:
		case RV_HTTP_BODY_ST_DATA:
			n = len - off;
			if ((uint64_t)n > b->remaining)
				n = (size_t)b->remaining;
			off += n;
			b->remaining -= n;
			if (b->remaining > 0)
				break;
			b->state = b->state == RV_HTTP_BODY_ST_LENGTH ? RV_HTTP_BODY_ST_DONE :
									 RV_HTTP_BODY_ST_DATA_CR;
			continue;
		case RV_HTTP_BODY_ST_FAILED:
		case RV_HTTP_BODY_ST_INVALID:
			rv_http_set_why(why, "body scanner already failed");
			return RV_ERR_STATE;
		default:
			if (off == len)
				break;
			if ((ret = rv_http_chunk_byte(b, p[off], why)) != RV_OK) {
				*pass = off;
				return ret;
			}
			off++;
			continue;
		}
		/* All of in examined, the body goes on. */
		*pass = off;
		return RV_ERR_NEED_MORE;
	}
	*pass = off;
	return RV_OK;
}
