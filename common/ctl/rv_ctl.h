/* rv_ctl.h - the live-status service of a program: a control socket (Unix
 * stream, mode 0600, owner's uid or root only) and an optional plain-HTTP
 * metrics listener, both served on the program's rv_loop.
 *
 * One connection = one request: the service reads one bounded request
 * (RV_CTL_REQ_MAX bytes within RV_CTL_READ_TIMEOUT_MS), asks the program's
 * callback for the answer (into an rv_buf capped at RV_CTL_ANSWER_MAX),
 * writes it without blocking within RV_CTL_WRITE_TIMEOUT_MS and closes.  At
 * most RV_CTL_MAX_CLIENTS connections are served at once; while all slots
 * are taken the listener is not read (the kernel backlog holds the rest).
 *
 * Ownership: the service owns its listening fd, its clients and (Unix) the
 * socket file it bound, which rv_ctl_free() unlinks.  The callback's arg is
 * borrowed and must outlive the service.
 */
#ifndef RV_CTL_H
#define RV_CTL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "rv_buf.h"
#include "rv_loop.h"

enum rv_ctl_limits {
	RV_CTL_REQ_MAX = 256,             /* control request line, with '\n' */
	RV_CTL_HTTP_REQ_MAX = 2048,       /* HTTP request head */
	RV_CTL_ANSWER_MAX = 1024 * 1024,  /* answer body */
	RV_CTL_MAX_CLIENTS = 8,           /* served at once */
	RV_CTL_READ_TIMEOUT_MS = 2000,    /* accept -> whole request */
	RV_CTL_WRITE_TIMEOUT_MS = 5000,   /* request -> answer written */
	RV_CTL_BACKLOG = 64,
	RV_CTL_QUERY_TIMEOUT_MS = 5000,   /* the status subcommand's wait */
	RV_CTL_PATH_MAX = 108,            /* sizeof(sun_path) */
};

/* What a connection asked for. */
enum rv_ctl_request {
	RV_CTL_REQ_INVALID = 0,
	RV_CTL_REQ_STATUS = 1,       /* "status": human text */
	RV_CTL_REQ_STATUS_JSON = 2,  /* "status json": one JSON object */
	RV_CTL_REQ_METRICS = 3,      /* "metrics" or GET /metrics: Prometheus text */
	RV_CTL_REQ_NOT_FOUND = 4,    /* HTTP: another path or method (404) */
};

enum rv_ctl_kind {
	RV_CTL_KIND_INVALID = 0,
	RV_CTL_KIND_UNIX = 1,  /* control socket: request lines */
	RV_CTL_KIND_HTTP = 2,  /* metrics: HTTP/1.x, GET /metrics only */
};

/* Request parsers.  Return RV_ERR_NEED_MORE (no complete request yet and
 * still within the limit), the number of bytes consumed (> 0, *req set), or
 * RV_ERR_MALFORMED (bad, unknown or over the limit).  p is not changed. */
int rv_ctl_parse_request(const uint8_t *p, size_t len, enum rv_ctl_request *req);
int rv_ctl_parse_http(const uint8_t *p, size_t len, enum rv_ctl_request *req);

/* Writes the answer to req (STATUS, STATUS_JSON or METRICS) into out.
 * 0 or a negative code (the connection then gets a short error). */
typedef int (*rv_ctl_answer_cb)(void *arg, enum rv_ctl_request req, struct rv_buf *out);

struct rv_ctl;

/* Control socket at path: an existing socket file is replaced only if
 * nothing answers on it (RV_ERR_LIMIT: another instance is running; other
 * failures: RV_ERR_IO / RV_ERR_PERMISSION / RV_ERR_INVALID_ARG).  The file
 * is made with umask 077 and checked to be 0600.  Only peers with our
 * effective uid or root are served.  err gets a message on failure. */
int rv_ctl_open_unix(struct rv_loop *loop, const char *path, rv_ctl_answer_cb cb, void *arg,
		     struct rv_ctl **out, char *err, size_t errlen);
/* Metrics listener on a TCP address (the caller decides which are allowed). */
int rv_ctl_open_http(struct rv_loop *loop, const struct sockaddr *sa, socklen_t salen,
		     rv_ctl_answer_cb cb, void *arg, struct rv_ctl **out, char *err,
		     size_t errlen);
/* Closes every connection and the listener, unlinks the socket file it made.
 * NULL safe. */
void rv_ctl_free(struct rv_ctl *c);

/* Default control socket path for a program ("server" / "client"):
 * $RUNTIME_DIRECTORY/control (systemd), else $XDG_RUNTIME_DIR/rvpn/NAME.sock,
 * else /run/rvpn/NAME.sock.  RV_ERR_NOT_FOUND if none applies (not root and
 * no XDG_RUNTIME_DIR), RV_ERR_NO_SPACE if too long. */
int rv_ctl_default_path(const char *name, char *out, size_t outlen);
/* Makes the missing last directory of path (mode 0700).  0 or RV_ERR_IO. */
int rv_ctl_make_parent(const char *path);

/* A program's status service, as both programs open it: the control socket
 * (control NULL: the default path for prog_name ("server"/"client"), a
 * convenience, so when it cannot be used the program runs on without it and
 * says so; "none": off; any other path must work) and, when metrics is not
 * NULL (its text, for log lines), the metrics listener at msa.  On failure
 * (logged) nothing is left open; *ctl / *mctl stay NULL when off. */
int rv_ctl_open_service(struct rv_loop *loop, const char *prog_name, const char *control,
			const char *metrics, const struct sockaddr *msa, socklen_t msalen,
			rv_ctl_answer_cb cb, void *arg, struct rv_ctl **ctl,
			struct rv_ctl **mctl);

/* --metrics ADDR:PORT: an IPv4 or [IPv6] literal and a port; loopback only
 * unless allow_any.  RV_ERR_CONFIG / RV_ERR_DENIED with a message in err. */
int rv_ctl_parse_metrics_addr(const char *text, int allow_any, struct sockaddr_storage *ss,
			      socklen_t *len, char *err, size_t errlen);

/* The status subcommand: "PROG status [--json] [--control PATH]" (argv[0] is
 * "status").  Prints the answer; returns the exit code (0 ok, 1 not
 * running / failed, 2 usage). */
int rv_ctl_cmd_status(const char *prog, const char *name, int argc, char **argv);

/* Sends one request line to the socket at path, the answer goes to out.
 * RV_ERR_NOT_FOUND: nothing listens there; RV_ERR_TIMEOUT; RV_ERR_IO. */
int rv_ctl_query(const char *path, const char *request, struct rv_buf *out);

#endif
