/* rv_cliparse.h - command-line value parsers shared by rvpn-client and
 * rvpn-server: ports, listen addresses, -L forward specs and ws(s) URLs.
 *
 * Owner: client helper.  Every parser takes the flag it parses for (e.g.
 * "-D") and writes a message naming the flag and the value to err on
 * failure (RV_ERR_CONFIG).  Syntax follows ssh: IPv6 literals go in
 * brackets, a missing bind address means the default given by the caller,
 * "*" or an empty bind address (":PORT") means every interface.
 * Bind addresses are numeric (or "localhost"): a listener never waits for DNS.
 */
#ifndef RV_CLIPARSE_H
#define RV_CLIPARSE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "rv_frame.h"

enum rv_cliparse_limits {
	RV_CLI_HOST_MAX = 255,   /* URL host or -L HOST, without brackets */
	RV_CLI_PATH_MAX = 1024,  /* URL path including any query */
	RV_CLI_ADDRSTR_MAX = RV_CLI_HOST_MAX + 16, /* "[host]:port" text form */
};

/* A local address to listen on. */
struct rv_cli_sockaddr {
	struct sockaddr_storage ss;
	socklen_t len;
	int wildcard; /* "*" / empty: every interface (ss holds [::] dual stack) */
};

/* -L [BIND:]PORT:HOST:HOSTPORT */
struct rv_cli_forward {
	struct rv_cli_sockaddr bind;
	struct rv_addr target; /* IPv4, IPv6 or domain, with port */
};

enum rv_cli_url_scheme {
	RV_CLI_URL_INVALID = 0,
	RV_CLI_URL_WS = 1,
	RV_CLI_URL_WSS = 2,
};

struct rv_cli_url {
	enum rv_cli_url_scheme scheme;
	char host[RV_CLI_HOST_MAX + 1]; /* no brackets for IPv6 */
	uint16_t port;                   /* 80 / 443 when absent */
	char path[RV_CLI_PATH_MAX + 1];  /* starts with '/'; "/" when absent */
	int host_is_ipv6;
};

/* Decimal 1..65535. */
int rv_cliparse_port(const char *flag, const char *text, uint16_t *port, char *err,
		     size_t errlen);

/* [BIND:]PORT; BIND defaults to default_bind (numeric, or "*"). */
int rv_cliparse_listen(const char *flag, const char *text, const char *default_bind,
		       struct rv_cli_sockaddr *out, char *err, size_t errlen);

/* [BIND:]PORT:HOST:HOSTPORT; HOST is a name, an IPv4 literal or [IPv6]. */
int rv_cliparse_forward(const char *flag, const char *text, const char *default_bind,
			struct rv_cli_forward *out, char *err, size_t errlen);

/* ws://host[:port][/path] or wss://...; host may be [IPv6]. */
int rv_cliparse_url(const char *flag, const char *text, struct rv_cli_url *out, char *err,
		    size_t errlen);

/* "1.2.3.4:80", "[::1]:80"; for logs and messages. */
void rv_cli_sockaddr_str(const struct sockaddr *sa, char *out, size_t outlen);
/* "1.2.3.4:80", "[::1]:80", "example.com:80". */
void rv_cli_addr_str(const struct rv_addr *a, char *out, size_t outlen);

#endif
