/* rv_httpreq.h - the head of an HTTP/1.x request judged as nginx 1.22 (with
 * "location / { return 404; }") judges it, for rvpn-server's decoy.  The
 * server's HTTP library parses the usual methods itself; what it gives up on
 * (unknown methods, CONNECT, binary garbage) comes here so that the answer
 * still matches nginx's: 400 for a malformed request line or header line,
 * 405 for TRACE, 414 for a request line over 8 KiB, 505 for HTTP/2+, else
 * 404 once the blank line ending the head has arrived.
 *
 * Owner: server helper.  No I/O.  Three results over rv_buf: RV_OK with a
 * verdict and the judged bytes consumed, RV_ERR_NEED_MORE with the buffer
 * unchanged (no verdict yet), or RV_ERR_INVALID_ARG for a NULL argument.
 * Malformed input is a verdict (400), never an error.  Never reads past the
 * buffer.
 */
#ifndef RV_HTTPREQ_H
#define RV_HTTPREQ_H

#include "rv_buf.h"

enum rv_httpreq_limits {
	RV_HTTPREQ_LINE_MAX = 8192,      /* request line: beyond it, 414 */
	RV_HTTPREQ_HEAD_MAX = 32 * 1024, /* whole head: beyond it, 400 */
};

enum rv_httpreq_verdict {
	RV_HTTPREQ_VERDICT_NONE = 0,
	RV_HTTPREQ_BAD_REQUEST = 400,
	RV_HTTPREQ_NOT_FOUND = 404,
	RV_HTTPREQ_NOT_ALLOWED = 405,
	RV_HTTPREQ_URI_TOO_LONG = 414,
	RV_HTTPREQ_VERSION_NOT_SUPPORTED = 505,
};

int rv_httpreq_judge(struct rv_buf *in, enum rv_httpreq_verdict *verdict);

/* nginx's reason phrase for a verdict ("Not Found"). */
const char *rv_httpreq_reason(enum rv_httpreq_verdict verdict);

#endif
