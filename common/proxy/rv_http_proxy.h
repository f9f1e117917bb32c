/* rv_http_proxy.h - HTTP/1.x proxying on rvpn-client's mixed -D port:
 * CONNECT tunnels, plain-HTTP forwarding of absolute-URI requests with
 * keep-alive, and requests addressed to the proxy itself (GET /proxy.pac).
 *
 * Owner: proxy helper.  No I/O anywhere; every limit is in rv_proxy_limits.h.
 * Three kinds of function:
 *
 * - rv_http_parse_request: three-result over rv_buf.  RV_OK consumes the
 *   request head and copies it into the rv_http_request (which the caller
 *   owns, ~18 KiB: allocate it, do not put it on a small stack);
 *   RV_ERR_NEED_MORE leaves the buffer unchanged; other errors set
 *   req->status (the HTTP code to answer with) and *why.
 * - scanners for bytes the caller relays verbatim (response heads from the
 *   origin, request and response bodies): they never consume; they say how
 *   many bytes belong to the current message so the caller knows where the
 *   next keep-alive message starts.
 * - builders: append to an rv_buf; on failure the rv_buf is unchanged.
 *
 * Syntax is strict (RFC 9112): CRLF line ends only (a bare CR or LF is an
 * error), no obsolete line folding, no space before a header colon, no
 * control bytes in values, one SP between request-line parts, no empty
 * line before the request line (RFC 9112 2.2 lets a server skip one; no
 * current client sends it, and refusing keeps "where does the next request
 * start" simple).  Framing is
 * strict so that we and the origin can never disagree about where a request
 * ends (request smuggling): Content-Length all-digits, duplicates must be
 * equal; Transfer-Encoding only "chunked" and only in HTTP/1.1; both at once
 * is an error.
 *
 * Forwarding rewrite (rv_http_build_forward_head), decided here:
 * - request line in origin form, client's HTTP version kept;
 * - Host replaced by the URI's authority (RFC 9112 3.2.2: the absolute URI
 *   wins over any Host header); more than one Host header is an error;
 * - removed: Proxy-Connection, Proxy-Authorization, Proxy-Authenticate,
 *   Connection, Keep-Alive, TE, Trailer, Upgrade, and every header named
 *   in Connection -- except Host, Content-Length and Transfer-Encoding,
 *   which a hostile "Connection: content-length" must not strip (we frame
 *   the body by them);
 * - a WebSocket upgrade (GET, HTTP/1.1, Upgrade: websocket, Connection:
 *   upgrade) keeps "Upgrade" and sends "Connection: Upgrade"; its 101 reply
 *   turns the connection into a tunnel (RV_HTTP_BODY_TUNNEL).  Other
 *   upgrades (h2c, TLS) are stripped: the origin answers plain HTTP/1.x;
 * - "Connection: close" added when the caller asks (flags).
 */
#ifndef RV_HTTP_PROXY_H
#define RV_HTTP_PROXY_H

#include <stddef.h>
#include <stdint.h>

#include "rv_buf.h"
#include "rv_frame.h"
#include "rv_proxy_limits.h"
#include "rv_wire.h"

enum rv_http_target {
	RV_HTTP_TARGET_INVALID = 0,
	RV_HTTP_TARGET_CONNECT = 1,  /* CONNECT host:port: a tunnel */
	RV_HTTP_TARGET_ABSOLUTE = 2, /* METHOD http://host[:port]/path: forward */
	RV_HTTP_TARGET_ORIGIN = 3,   /* METHOD /path or "*": for the proxy itself */
};

/* How a message body is delimited. */
enum rv_http_framing {
	RV_HTTP_BODY_NONE = 0,    /* no body */
	RV_HTTP_BODY_LENGTH = 1,  /* Content-Length bytes */
	RV_HTTP_BODY_CHUNKED = 2, /* chunked coding, up to its last chunk and trailers */
	RV_HTTP_BODY_CLOSE = 3,   /* responses only: until the origin closes */
	RV_HTTP_BODY_TUNNEL = 4,  /* after 101 Switching Protocols: raw both ways */
};

enum rv_http_auth {
	RV_HTTP_AUTH_NONE = 0,    /* no Proxy-Authorization */
	RV_HTTP_AUTH_BASIC = 1,   /* Basic, decoded into auth_user / auth_pass */
	RV_HTTP_AUTH_INVALID = 2, /* another scheme or a bad encoding: answer 407 */
};

/* Sizes derived from the limits. */
enum rv_http_sizes {
	/* "[" IPv6 "]" or a name, ":" port; NUL. */
	RV_HTTP_AUTHORITY_MAX = RV_DOMAIN_MAX + 2 + 6,
};

/* Private: where the end-of-head search stopped, so that a head fed one
 * byte at a time costs O(n) and not O(n^2).  Valid across NEED_MORE calls
 * on the same, growing buffer; reset by init and after RV_OK. */
struct rv_http_scan {
	size_t off;        /* bytes already examined */
	size_t line_start; /* offset of the current line */
	size_t lines;      /* complete lines so far */
};

/* One header field: offsets into rv_http_request.head. */
struct rv_http_field {
	uint16_t name_off, name_len;
	uint16_t value_off, value_len; /* without surrounding whitespace */
};

struct rv_http_request {
	struct rv_http_scan scan_; /* private */

	/* Valid after RV_OK. */
	enum rv_http_target target;
	int version_minor;                      /* HTTP/1.<0|1> */
	char method[RV_HTTP_METHOD_MAX + 1];    /* NUL-terminated */
	size_t method_len;
	struct rv_addr dst;                     /* CONNECT, ABSOLUTE */
	char authority[RV_HTTP_AUTHORITY_MAX + 1]; /* host[:port] for Host: */
	size_t path_off, path_len;              /* into head: origin-form target */
	enum rv_http_framing framing;           /* NONE, LENGTH or CHUNKED */
	uint64_t content_length;                /* LENGTH */
	int keep_alive;                         /* client wants the connection kept */
	int websocket;                          /* WebSocket upgrade request */
	enum rv_http_auth auth;
	char auth_user[RV_HTTP_CRED_MAX + 1];   /* BASIC: NUL-terminated */
	size_t auth_user_len;
	char auth_pass[RV_HTTP_CRED_MAX + 1];
	size_t auth_pass_len;

	/* Set on a final error: the status to answer with (400, 414, 431, 501,
	 * 505); 0 otherwise. */
	int status;

	size_t head_len;                        /* bytes consumed */
	size_t n_fields;
	struct rv_http_field fields[RV_HTTP_HEADERS_MAX];
	uint8_t head[RV_HTTP_HEAD_MAX];
};

/* Before the first call and between requests (RV_OK re-arms it too). */
void rv_http_request_init(struct rv_http_request *req);
/* Wipes credentials and the head copy (call before freeing). */
void rv_http_request_wipe(struct rv_http_request *req);

/* Parse one request head.  Errors (final; answer req->status and close):
 *   RV_ERR_MALFORMED   syntax, framing conflicts, bad host or port,
 *                      https:// or another scheme in an absolute URI (400),
 *                      HTTP version other than 1.0/1.1 (505);
 *   RV_ERR_LIMIT       head, line or header count over the limits (414
 *                      for the request line, else 431);
 *   RV_ERR_UNSUPPORTED a Transfer-Encoding other than chunked (501).
 * why may be NULL. */
int rv_http_parse_request(struct rv_buf *in, struct rv_http_request *req, const char **why);

/* 1 when req carries Basic credentials equal to user/pass (constant time in
 * the credential bytes), else 0.  Semantics of --socks-auth. */
int rv_http_auth_match(const struct rv_http_request *req, const char *user, size_t user_len,
		       const char *pass, size_t pass_len);
/* Constant-time comparison of a credential of at most RV_HTTP_CRED_MAX
 * bytes (longer never matches): the time depends on neither content. */
int rv_http_cred_equal(const char *got, size_t got_len, const char *want, size_t want_len);

enum rv_http_fwd_flags {
	RV_HTTP_FWD_CLOSE = 1, /* add "Connection: close" towards the origin */
};
/* The head to send to the origin for an ABSOLUTE request (see the top of
 * this file).  RV_ERR_INVALID_ARG for another target; RV_ERR_NO_SPACE. */
int rv_http_build_forward_head(struct rv_buf *out, const struct rv_http_request *req,
			       unsigned flags);

/* ---- origin responses ---------------------------------------------- */

struct rv_http_response {
	struct rv_http_scan scan_; /* private */

	/* Valid after RV_OK. */
	int version_minor;
	int status;                   /* 100..599 */
	int interim;                  /* 1xx but 101: another head follows */
	enum rv_http_framing framing; /* of the body after this head */
	uint64_t content_length;      /* LENGTH */
	int keep_alive;               /* origin keeps its connection open */
	size_t head_len;              /* head bytes at the start of the buffer */
};

enum rv_http_req_flags {
	RV_HTTP_REQ_WAS_HEAD = 1,    /* the request was HEAD: no body follows */
	RV_HTTP_REQ_WAS_UPGRADE = 2, /* the request asked for a WebSocket */
};

void rv_http_response_init(struct rv_http_response *resp);
/* Scan one response head at the start of in without consuming it: RV_OK
 * sets resp (the caller relays resp->head_len bytes, then the body per
 * resp->framing); RV_ERR_NEED_MORE; RV_ERR_MALFORMED / RV_ERR_LIMIT (answer
 * 502 if nothing was relayed yet, else close).  req_flags: rv_http_req_flags. */
int rv_http_parse_response(const struct rv_buf *in, struct rv_http_response *resp,
			   unsigned req_flags, const char **why);

/* ---- bodies ---------------------------------------------------------- */

enum rv_http_body_state {
	RV_HTTP_BODY_ST_INVALID = 0,
	RV_HTTP_BODY_ST_LENGTH = 1,      /* remaining bytes to pass */
	RV_HTTP_BODY_ST_SIZE = 2,        /* chunk-size hex digits */
	RV_HTTP_BODY_ST_EXT = 3,         /* chunk extension, up to CR */
	RV_HTTP_BODY_ST_SIZE_LF = 4,     /* LF after the size line */
	RV_HTTP_BODY_ST_DATA = 5,        /* chunk data */
	RV_HTTP_BODY_ST_DATA_CR = 6,     /* CR after chunk data */
	RV_HTTP_BODY_ST_DATA_LF = 7,     /* LF after chunk data */
	RV_HTTP_BODY_ST_TRAILER = 8,     /* trailer line (empty: the end) */
	RV_HTTP_BODY_ST_TRAILER_LF = 9,  /* LF of a trailer line */
	RV_HTTP_BODY_ST_UNTIL_CLOSE = 10, /* CLOSE and TUNNEL: never ends */
	RV_HTTP_BODY_ST_DONE = 11,
	RV_HTTP_BODY_ST_FAILED = 12,
};

struct rv_http_body {
	enum rv_http_body_state state;
	uint64_t remaining;  /* LENGTH, DATA: bytes left; SIZE: value so far */
	unsigned digits;     /* SIZE: hex digits seen */
	size_t line_len;     /* size line or trailer line so far */
	size_t trailer_len;  /* trailer section so far */
};

void rv_http_body_init(struct rv_http_body *b, enum rv_http_framing framing, uint64_t length);
/* Look at the bytes in `in` (never consumed): *pass is how many of them
 * belong to the body.  The caller relays and consumes exactly *pass bytes
 * before the next call (the scanner's state is already past them).
 *   RV_OK             the body ends within them; what follows *pass is
 *                     the next message (NONE and a zero LENGTH: at once);
 *   RV_ERR_NEED_MORE  all of in belongs to the body (*pass == len), more
 *                     to come (CLOSE and TUNNEL: always);
 *   RV_ERR_MALFORMED / RV_ERR_LIMIT  bad chunked coding (*pass: bytes
 *                     before the bad one); close the connection.
 * why may be NULL. */
int rv_http_body_scan(struct rv_http_body *b, const struct rv_buf *in, size_t *pass,
		      const char **why);

/* ---- the proxy's own answers ---------------------------------------- */

/* 200 OK, 403 NOT_ALLOWED, 504 TTL_EXPIRED (connect timeout), 502 for every
 * other failure.  503 (tunnel down, stream limit) and 404 (unknown local
 * path) are the caller's own decisions. */
int rv_http_status_from_rv(enum rv_status st);
/* Reason phrase of the codes we send; NULL for any other code. */
const char *rv_http_reason(int code);

enum rv_http_resp_flags {
	RV_HTTP_RESP_KEEP_ALIVE = 1, /* "Connection: keep-alive", else "close" */
	RV_HTTP_RESP_HEAD_ONLY = 2,  /* answer to HEAD: no body bytes */
};
/* The proxy's answer with status code (one rv_http_reason knows):
 * 200 is "HTTP/1.1 200 Connection established" + empty line (CONNECT);
 * others carry a short text/plain body and Connection; 407 adds
 * Proxy-Authenticate: Basic realm="rvpn".  flags: rv_http_resp_flags. */
int rv_http_build_status(struct rv_buf *out, int code, unsigned flags);
/* A complete 200 response with a body (the PAC file).  content_type must
 * be printable ASCII without CR/LF (RV_ERR_INVALID_ARG otherwise). */
int rv_http_build_body_response(struct rv_buf *out, const char *content_type,
				const void *body, size_t body_len, unsigned flags);

#endif
