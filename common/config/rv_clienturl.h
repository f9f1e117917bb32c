/* rv_clienturl.h - the rvpn:// client URL: everything a client config needs
 * in one URL-safe string (for copy/paste and QR codes).  Owner: onboarding
 * helper.  Not part of the wire protocol; format in PROTOCOL.md "Client URL":
 *
 *   rvpn://SERVERKEY@HOST[:PORT]/PATH[?tls=0|1][&key=CLIENTKEY][&name=NAME]
 *
 * SERVERKEY and CLIENTKEY are base64url without padding (43 characters);
 * HOST is a name, an IPv4 literal or [IPv6]; PORT defaults to 80 (tls=0) or
 * 443 (tls=1); PATH is the WebSocket path (RFC 3986 path characters, no
 * '%'); parameters may come in any order, each at most once; unknown ones
 * are refused (a typo must not silently drop the TLS flag or the key).
 *
 * rv_clienturl_parse() is a whole-string parser over an rv_buf view: the
 * string is complete or it is wrong, so there is no "need more".  It works
 * on a local copy and writes *out only on success; the caller owns out and
 * wipes it (it may hold a private key) with rv_clienturl_wipe().
 */
#ifndef RV_CLIENTURL_H
#define RV_CLIENTURL_H

#include <stddef.h>
#include <stdint.h>

#include "rv_wire.h"

enum rv_clienturl_limits {
	RV_CLIENTURL_MAX = 1024,        /* whole URL, bytes */
	RV_CLIENTURL_HOST_MAX = 253,    /* DNS name; IPv6 literal without brackets */
	RV_CLIENTURL_PATH_MAX = 255,    /* as rvpn-server --path */
	RV_CLIENTURL_NAME_MAX = 64,     /* client name [A-Za-z0-9._@-] */
	RV_CLIENTURL_KEY_B64URL_LEN = 43,
	RV_CLIENTURL_SIZE = RV_CLIENTURL_MAX + 1,
	/* "wss://" + "[" host "]" + ":65535" + path + NUL */
	RV_CLIENTURL_WS_SIZE = 6 + 2 + RV_CLIENTURL_HOST_MAX + 6 + RV_CLIENTURL_PATH_MAX + 1,
};

struct rv_clienturl {
	uint8_t server_pub[RV_KEY_LEN];
	char host[RV_CLIENTURL_HOST_MAX + 1]; /* IPv6 without brackets */
	int host_is_ipv6;
	uint16_t port;                        /* default applied */
	char path[RV_CLIENTURL_PATH_MAX + 1]; /* starts with '/' */
	int tls;                              /* 1: wss:// */
	int has_key;                          /* client_priv is set */
	uint8_t client_priv[RV_KEY_LEN];
	char name[RV_CLIENTURL_NAME_MAX + 1]; /* "" when absent */
};

/* text[0..len) (no NUL needed).  RV_OK, or RV_ERR_MALFORMED with err set to
 * what is wrong ("rvpn:// URL: ..."). */
int rv_clienturl_parse(const char *text, size_t len, struct rv_clienturl *out, char *err,
		       size_t errlen);

/* The canonical URL (port always written, tls always written, key and name
 * when set) into out[outlen], NUL-terminated.  RV_ERR_INVALID_ARG when a
 * field could not be parsed back (bad host, path or name characters),
 * RV_ERR_NO_SPACE when out is too small (out then holds ""). */
int rv_clienturl_build(const struct rv_clienturl *u, char *out, size_t outlen);

/* "ws[s]://HOST:PORT/PATH" for rvpn-client's URL argument (IPv6 bracketed). */
int rv_clienturl_ws_url(const struct rv_clienturl *u, char *out, size_t outlen);

/* 1 if name[0..len) matches [A-Za-z0-9._@-]{1,64}, else 0. */
int rv_clienturl_name_valid(const char *name, size_t len);

void rv_clienturl_wipe(struct rv_clienturl *u);

#endif
