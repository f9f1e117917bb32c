/* rv_ctl_req.c - the two request parsers of the status service (see
 * rv_ctl.h): a control line ("status", "status json", "metrics") and a
 * minimal HTTP/1.x request head (only the request line matters). */
#include <string.h>

#include "rv_ctl.h"
#include "rv_err.h"

/* Offset just past the first '\n' in p[0..len), 0 if none. */
static size_t rv_ctl_line_end(const uint8_t *p, size_t len)
{
	const uint8_t *nl = memchr(p, '\n', len);

	return nl == NULL ? 0 : (size_t)(nl - p) + 1;
}

static int rv_ctl_word_is(const uint8_t *p, size_t len, const char *word)
{
	return len == strlen(word) && memcmp(p, word, len) == 0;
}

int rv_ctl_parse_request(const uint8_t *p, size_t len, enum rv_ctl_request *req)
{
	size_t end, n;

	if (p == NULL || req == NULL)
		return RV_ERR_INVALID_ARG;
	end = rv_ctl_line_end(p, len < RV_CTL_REQ_MAX ? len : RV_CTL_REQ_MAX);
	if (end == 0)
		return len < RV_CTL_REQ_MAX ? RV_ERR_NEED_MORE : RV_ERR_MALFORMED;
	n = end - 1;
	if (n > 0 && p[n - 1] == '\r')
		n--;
	if (rv_ctl_word_is(p, n, "status"))
		*req = RV_CTL_REQ_STATUS;
	else if (rv_ctl_word_is(p, n, "status json"))
		*req = RV_CTL_REQ_STATUS_JSON;
	else if (rv_ctl_word_is(p, n, "metrics"))
		*req = RV_CTL_REQ_METRICS;
	else
		return RV_ERR_MALFORMED;
	return (int)end;
}

/* Offset just past the blank line ending the head, 0 if not there yet. */
static size_t rv_ctl_head_end(const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i++) {
		if (p[i] != '\n')
			continue;
		if (p[i + 1] == '\n')
			return i + 2;
		if (p[i + 1] == '\r' && i + 2 < len && p[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

static int rv_ctl_is_token_char(uint8_t c)
{
	return c > 0x20 && c < 0x7f;
}

int rv_ctl_parse_http(const uint8_t *p, size_t len, enum rv_ctl_request *req)
{
	size_t end, line, i, m_len, t_off, t_len, v_off;

	if (p == NULL || req == NULL)
		return RV_ERR_INVALID_ARG;
	end = rv_ctl_head_end(p, len < RV_CTL_HTTP_REQ_MAX ? len : RV_CTL_HTTP_REQ_MAX);
	if (end == 0)
		return len < RV_CTL_HTTP_REQ_MAX ? RV_ERR_NEED_MORE : RV_ERR_MALFORMED;
	/* Request line: METHOD SP TARGET SP HTTP/1.x [CR] LF */
	line = rv_ctl_line_end(p, end) - 1;
	if (line > 0 && p[line - 1] == '\r')
		line--;
	for (i = 0; i < line && rv_ctl_is_token_char(p[i]); i++)
		;
	m_len = i;
	if (m_len == 0 || i >= line || p[i] != ' ')
		return RV_ERR_MALFORMED;
	t_off = ++i;
	for (; i < line && rv_ctl_is_token_char(p[i]); i++)
		;
	t_len = i - t_off;
	if (t_len == 0 || i >= line || p[i] != ' ')
		return RV_ERR_MALFORMED;
	v_off = i + 1;
	if (line - v_off != 8 || memcmp(p + v_off, "HTTP/1.", 7) != 0 ||
	    (p[v_off + 7] != '0' && p[v_off + 7] != '1'))
		return RV_ERR_MALFORMED;
	*req = RV_CTL_REQ_NOT_FOUND;
	if (rv_ctl_word_is(p, m_len, "GET") &&
	    (rv_ctl_word_is(p + t_off, t_len, "/metrics") ||
	     (t_len > 8 && memcmp(p + t_off, "/metrics?", 9) == 0)))
		*req = RV_CTL_REQ_METRICS;
	return (int)end;
}
