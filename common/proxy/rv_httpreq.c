/* rv_httpreq.c - HTTP/1.x request head judged as nginx does (rv_httpreq.h). */
#include "rv_httpreq.h"

#include <string.h>

#include "rv_err.h"

/* Where the scan stopped: a verdict at byte pos, or need more input. */
struct rv_httpreq_scan {
	const uint8_t *p;
	size_t n, pos;
};

static int rv_httpreq_is_method(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') || c == '_' || c == '-';
}

static int rv_httpreq_is_scheme(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '-' || c == '.';
}

static int rv_httpreq_lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static void rv_httpreq_skip_spaces(struct rv_httpreq_scan *s)
{
	while (s->pos < s->n && s->p[s->pos] == ' ')
		s->pos++;
}

/* Request line up to and including its LF.  0: complete (*major, *minor,
 * *is_trace set), RV_ERR_NEED_MORE, or a verdict > 0. */
static int rv_httpreq_line(struct rv_httpreq_scan *s, unsigned *major, unsigned *minor,
			   int *is_trace)
{
	size_t m0 = s->pos, u0, v;
	unsigned *num;

	while (s->pos < s->n && rv_httpreq_is_method(s->p[s->pos]))
		s->pos++;
	if (s->pos == s->n)
		return RV_ERR_NEED_MORE;
	if (s->pos == m0 || s->p[s->pos] != ' ')
		return RV_HTTPREQ_BAD_REQUEST;
	*is_trace = s->pos - m0 == 5 && memcmp(s->p + m0, "TRACE", 5) == 0;
	rv_httpreq_skip_spaces(s);
	if (s->pos == s->n)
		return RV_ERR_NEED_MORE;
	/* URI: a path, or an absolute URI "scheme://...". */
	u0 = s->pos;
	if (s->p[s->pos] != '/') {
		while (s->pos < s->n && rv_httpreq_is_scheme(s->p[s->pos]))
			s->pos++;
		for (v = 0; v < 3; v++, s->pos++) {
			if (s->pos == s->n)
				return RV_ERR_NEED_MORE;
			if (s->p[s->pos] != ":/"[v == 0 ? 0 : 1] || s->pos == u0)
				return RV_HTTPREQ_BAD_REQUEST;
		}
	}
	while (s->pos < s->n && s->p[s->pos] != ' ') {
		if (s->p[s->pos] < 0x20 || s->p[s->pos] == 0x7f)
			return RV_HTTPREQ_BAD_REQUEST; /* also a line without a version */
		s->pos++;
	}
	if (s->pos == s->n)
		return RV_ERR_NEED_MORE;
	rv_httpreq_skip_spaces(s);
	/* "HTTP/" major "." minor */
	for (v = 0; v < 5; v++, s->pos++) {
		if (s->pos == s->n)
			return RV_ERR_NEED_MORE;
		if (s->p[s->pos] != "HTTP/"[v])
			return RV_HTTPREQ_BAD_REQUEST;
	}
	for (num = major; num != NULL; num = num == major ? minor : NULL) {
		*num = 0;
		v = s->pos;
		while (s->pos < s->n && s->p[s->pos] >= '0' && s->p[s->pos] <= '9') {
			if (s->pos - v >= 3)
				return RV_HTTPREQ_BAD_REQUEST;
			*num = *num * 10 + (unsigned)(s->p[s->pos] - '0');
			s->pos++;
		}
		if (s->pos == s->n)
			return RV_ERR_NEED_MORE;
		if (s->pos == v)
			return RV_HTTPREQ_BAD_REQUEST;
		if (num == major) {
			if (s->p[s->pos] != '.')
				return RV_HTTPREQ_BAD_REQUEST;
			s->pos++;
		}
	}
	rv_httpreq_skip_spaces(s);
	if (s->pos < s->n && s->p[s->pos] == '\r')
		s->pos++;
	if (s->pos == s->n)
		return RV_ERR_NEED_MORE;
	if (s->p[s->pos] != '\n')
		return RV_HTTPREQ_BAD_REQUEST;
	s->pos++;
	if (*major > 1)
		return RV_HTTPREQ_VERSION_NOT_SUPPORTED;
	if (*major < 1)
		return RV_HTTPREQ_BAD_REQUEST;
	return 0;
}

/* One header line, or the blank line (*end = 1).  0, NEED_MORE or 400. */
static int rv_httpreq_header(struct rv_httpreq_scan *s, int *end, int *is_host)
{
	size_t h0 = s->pos, colon = 0;

	*end = 0;
	*is_host = 0;
	if (s->pos < s->n && s->p[s->pos] == '\r')
		s->pos++;
	if (s->pos == s->n)
		return RV_ERR_NEED_MORE;
	if (s->p[s->pos] == '\n') {
		if (s->pos != h0 && s->pos != h0 + 1)
			return RV_HTTPREQ_BAD_REQUEST;
		s->pos++;
		*end = 1;
		return 0;
	}
	s->pos = h0;
	while (s->pos < s->n && s->p[s->pos] != '\n') {
		if (s->p[s->pos] == ':' && colon == 0)
			colon = s->pos;
		s->pos++;
	}
	if (s->pos == s->n)
		return RV_ERR_NEED_MORE;
	if (colon == 0 || colon == h0)
		return RV_HTTPREQ_BAD_REQUEST;
	*is_host = colon - h0 == 4 && rv_httpreq_lower(s->p[h0]) == 'h' &&
		   rv_httpreq_lower(s->p[h0 + 1]) == 'o' && rv_httpreq_lower(s->p[h0 + 2]) == 's' &&
		   rv_httpreq_lower(s->p[h0 + 3]) == 't';
	s->pos++;
	return 0;
}

int rv_httpreq_judge(struct rv_buf *in, enum rv_httpreq_verdict *verdict)
{
	struct rv_httpreq_scan s;
	unsigned major = 0, minor = 0, hosts = 0;
	int r, end = 0, is_host, is_trace = 0;

	if (in == NULL || verdict == NULL)
		return RV_ERR_INVALID_ARG;
	s.p = rv_buf_ptr(in);
	s.n = rv_buf_len(in);
	s.pos = 0;
	r = rv_httpreq_line(&s, &major, &minor, &is_trace);
	/* Over the limit counting its CRLF, whether complete or not: the same
	 * verdict however the bytes arrive. */
	if (r == RV_ERR_NEED_MORE && s.n > RV_HTTPREQ_LINE_MAX + 2)
		r = RV_HTTPREQ_URI_TOO_LONG;
	else if (r == 0 && s.pos > RV_HTTPREQ_LINE_MAX + 2)
		r = RV_HTTPREQ_URI_TOO_LONG;
	while (r == 0 && !end) {
		r = rv_httpreq_header(&s, &end, &is_host);
		if (r == 0 && is_host && ++hosts > 1)
			r = RV_HTTPREQ_BAD_REQUEST;
	}
	if (r == RV_ERR_NEED_MORE) {
		if (s.n < RV_HTTPREQ_HEAD_MAX)
			return RV_ERR_NEED_MORE;
		r = RV_HTTPREQ_BAD_REQUEST;
	}
	if (r == 0) {
		if (is_trace)
			r = RV_HTTPREQ_NOT_ALLOWED;
		else if (minor >= 1 && hosts == 0)
			r = RV_HTTPREQ_BAD_REQUEST; /* HTTP/1.1 requires Host */
		else
			r = RV_HTTPREQ_NOT_FOUND;
	}
	*verdict = (enum rv_httpreq_verdict)r;
	return rv_buf_consume(in, s.pos < s.n ? s.pos : s.n);
}

const char *rv_httpreq_reason(enum rv_httpreq_verdict verdict)
{
	switch (verdict) {
	case RV_HTTPREQ_BAD_REQUEST:
		return "Bad Request";
	case RV_HTTPREQ_NOT_FOUND:
		return "Not Found";
	case RV_HTTPREQ_NOT_ALLOWED:
		return "Not Allowed";
	case RV_HTTPREQ_URI_TOO_LONG:
		return "Request-URI Too Large";
	case RV_HTTPREQ_VERSION_NOT_SUPPORTED:
		return "HTTP Version Not Supported";
	default:
		return "Internal Server Error";
	}
}
