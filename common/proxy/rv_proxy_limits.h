/* rv_proxy_limits.h - constants and limits of the local-side proxy protocols
 * other than SOCKS5 (SOCKS4/4a, HTTP proxying, PAC) spoken on rvpn-client's
 * mixed -D port.  They are not the rvpn wire protocol, so they live here and
 * not in rv_wire.h (SOCKS5's predate this file and stay in rv_wire.h).
 *
 * Owner: proxy helper.  Every bound a local application can push against is
 * one of these enums; the unit tests check each at exactly max and max + 1.
 */
#ifndef RV_PROXY_LIMITS_H
#define RV_PROXY_LIMITS_H

#include "rv_wire.h"

/* ---- protocol detection ------------------------------------------- */
enum rv_proxy_detect_limits {
	/* Longest "METHOD " prefix we recognise ("OPTIONS "): after this
	 * many bytes detection always decides. */
	RV_PROXY_DETECT_MAX = 8,
};

/* ---- SOCKS4 / SOCKS4a ---------------------------------------------- */
enum rv_socks4_wire {
	RV_SOCKS4_VERSION = 4,
	RV_SOCKS4_REPLY_VERSION = 0,  /* VN of a reply */
	RV_SOCKS4_CMD_CONNECT = 1,
	RV_SOCKS4_CMD_BIND = 2,
	RV_SOCKS4_GRANTED = 90,
	RV_SOCKS4_REJECTED = 91,      /* request rejected or failed */
	RV_SOCKS4_FIXED_LEN = 8,      /* VN CD DSTPORT(2) DSTIP(4) */
	RV_SOCKS4_REPLY_LEN = 8,      /* VN CD DSTPORT(2) DSTIP(4) */
	RV_SOCKS4_USERID_MAX = 255,   /* bytes before its NUL */
	RV_SOCKS4_HOST_MAX = RV_DOMAIN_MAX, /* 4a host name, before its NUL */
	/* Longest request: fixed part, user id + NUL, host + NUL. */
	RV_SOCKS4_REQUEST_MAX = RV_SOCKS4_FIXED_LEN + RV_SOCKS4_USERID_MAX + 1 +
				RV_SOCKS4_HOST_MAX + 1,
};

/* ---- HTTP/1.x proxy ------------------------------------------------ */
enum rv_http_limits {
	RV_HTTP_HEAD_MAX = 16 * 1024,      /* request head incl. the final CRLF CRLF */
	RV_HTTP_LINE_MAX = 8 * 1024,       /* one request line / header line, without CRLF */
	RV_HTTP_HEADERS_MAX = 100,         /* header fields in a request head */
	RV_HTTP_METHOD_MAX = 32,           /* method token */
	RV_HTTP_CRED_MAX = 255,            /* Basic user name, password (as SOCKS5) */
	/* Origin responses carry bigger heads (cookies, CSP); we only scan them. */
	RV_HTTP_RESP_HEAD_MAX = 64 * 1024,
	RV_HTTP_RESP_LINE_MAX = 32 * 1024,
	RV_HTTP_RESP_HEADERS_MAX = 256,
	/* Chunked bodies: size digits (16 hex digits fill a u64, leading zeros
	 * count), one size/extension line, the whole trailer section. */
	RV_HTTP_CHUNK_DIGITS_MAX = 16,
	RV_HTTP_CHUNK_LINE_MAX = 4 * 1024,
	RV_HTTP_TRAILER_MAX = 16 * 1024,
	/* Content-Length: at most 18 decimal digits, so it fits a u64. */
	RV_HTTP_CL_DIGITS_MAX = 18,
	RV_HTTP_DEFAULT_PORT = 80,
	/* A response we build ourselves (status line, headers, short body). */
	RV_HTTP_STATUS_RESPONSE_MAX = 512,
};

/* ---- PAC file ------------------------------------------------------ */
enum rv_pac_limits {
	RV_PAC_BYPASS_MAX = 64,          /* bypass patterns */
	RV_PAC_PATTERN_MAX = 253,        /* one pattern (a DNS name at most) */
	RV_PAC_HOST_MAX = 253,           /* the listen host as given */
	RV_PAC_MAX = 64 * 1024,          /* the whole PAC text (max patterns fit) */
};

#endif
