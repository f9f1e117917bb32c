/* rv_http_util.h - private helpers shared by rv_http_proxy.c (requests,
 * builders) and rv_http_message.c (response heads, bodies).  Not for use
 * outside common/proxy/.  Owner: proxy helper. */
#ifndef RV_HTTP_UTIL_H
#define RV_HTTP_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "rv_http_proxy.h"

struct rv_http_head_limits {
	size_t head_max;     /* whole head incl. the final CRLF CRLF */
	size_t line_max;     /* one line without CRLF */
	size_t fields_max;   /* lines after the first, before the empty one */
	int first_line_status; /* status when the first line is too long */
	int status;          /* status for the other limits */
};

/* Find the end of a head in p[0..len), continuing from s.  RV_OK:
 * *head_len (incl. CRLF CRLF), s reset.  NEED_MORE: s advanced.  Errors:
 * RV_ERR_MALFORMED (bare CR/LF), RV_ERR_LIMIT; *status set. */
int rv_http_scan_head(struct rv_http_scan *s, const uint8_t *p, size_t len,
		      const struct rv_http_head_limits *lim, size_t *head_len, int *status,
		      const char **why);

/* Line at p[off..]: its length without CRLF (head already scanned: every
 * line ends in CRLF). */
size_t rv_http_line_len(const uint8_t *p, size_t len, size_t off);

/* One header line: name token, ':', OWS value OWS.  RV_OK with the name's
 * length and the trimmed value's offset/length (relative to line). */
int rv_http_split_field(const uint8_t *line, size_t len, size_t *name_len, size_t *val_off,
			size_t *val_len, const char **why);

/* Case-insensitive equality of p[0..len) with a lower-case literal. */
int rv_http_name_is(const uint8_t *p, size_t len, const char *lower);
/* Case-insensitive equality of two byte strings. */
int rv_http_ci_equal(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);
/* Does the comma-separated list contain the token (case-insensitive)? */
int rv_http_list_has(const uint8_t *p, size_t len, const char *lower);
int rv_http_list_has_n(const uint8_t *p, size_t len, const uint8_t *tok, size_t tok_len);
/* Content-Length value: RV_OK and *v, or RV_ERR_MALFORMED. */
int rv_http_parse_length(const uint8_t *p, size_t len, uint64_t *v);
/* "HTTP/1.0" or "HTTP/1.1": minor version, -1 for another HTTP/x.y, -2 for
 * anything else. */
int rv_http_parse_version(const uint8_t *p, size_t len);

int rv_http_is_tchar(uint8_t c);

void rv_http_set_why(const char **why, const char *text);

#endif
