/* stdio.c - rvpn-client -W HOST:PORT (owner: client helper): stdio mode for
 * ssh's ProxyCommand, like ssh -W.  One stream carried over stdin (read)
 * and stdout (written): a split stream (rv_stream_set_write_fd), so the
 * session's flow control applies as on a socket (a slow stdout reader
 * stalls the stream), stdin's EOF sends FIN and the server's FIN closes
 * stdout.  No listeners; no reconnect.
 *
 * Lifecycle (state):
 *   WAITING    tunnel not up yet (bounded by RV_CLIENT_WAIT_MS)
 *   CONNECTING PROXY_CONNECT sent (bounded by RV_CLIENT_STDIO_ANSWER_MS)
 *   OPEN       relaying
 *   DONE       both directions ended: GOAWAY, drain, exit 0
 *   FAILED     one line on stderr naming HOST:PORT and why, exit 255
 * The first tunnel failure before the answer, or a reset stream after it,
 * is final.  stdin and stdout are moved to descriptors of our own (fds 0
 * and 1 then point at /dev/null): the session closes its descriptors when
 * the stream ends, and a stray write to fd 1 must never reach whatever
 * would reuse that number.
 */
#include "client.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "lws_loop.h"
#include "rv_err.h"
#include "rv_log.h"
#include "rv_stream.h"
#include "tunnel.h"

enum {
	RV_STDIO_MSG_MAX = 512,
	RV_STDIO_DRAIN_TICK_MS = 100, /* wakes the loop while the last bytes go out */
};

enum rv_stdio_state {
	RV_STDIO_STATE_INVALID = 0,
	RV_STDIO_WAITING = 1,
	RV_STDIO_CONNECTING = 2,
	RV_STDIO_OPEN = 3,
	RV_STDIO_DONE = 4,
	RV_STDIO_FAILED = 5,
};

struct rv_stdio {
	struct rv_client *cl;
	enum rv_stdio_state state;
	struct rv_stream *st;
	struct rv_loop_timer *deadline;
	int in_fd, out_fd;           /* ours until the stream takes them, then -1 */
	int exit_code;
	char target[RV_CLI_ADDRSTR_MAX];
	char down[192];              /* the tunnel's last down reason */
};

static void rv_stdio_stop(struct rv_client *cl)
{
	cl->stop = 1;
	rv_lws_loop_wake(cl->loop);
}

/* The one failure line; later failures (the fallout) say nothing. */
static void rv_stdio_fail(struct rv_stdio *sd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void rv_stdio_fail(struct rv_stdio *sd, const char *fmt, ...)
{
	char msg[RV_STDIO_MSG_MAX];
	va_list ap;

	if (sd->state == RV_STDIO_DONE || sd->state == RV_STDIO_FAILED)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sd->state = RV_STDIO_FAILED;
	sd->exit_code = RV_CLIENT_STDIO_EXIT_FAIL;
	rv_loop_timer_stop(sd->deadline);
	fprintf(stderr, "rvpn-client: -W %s: %s\n", sd->target, msg);
	rv_stdio_stop(sd->cl);
}

static const char *rv_stdio_status_str(enum rv_status st)
{
	switch (st) {
	case RV_STATUS_NOT_ALLOWED:
		return "not allowed by the server's access rules";
	case RV_STATUS_NET_UNREACHABLE:
		return "network unreachable (from the server)";
	case RV_STATUS_HOST_UNREACHABLE:
		return "host unreachable or the name does not resolve (on the server)";
	case RV_STATUS_CONNECTION_REFUSED:
		return "connection refused (by the target, as seen from the server)";
	case RV_STATUS_TTL_EXPIRED:
		return "timed out (no answer from the target)";
	case RV_STATUS_COMMAND_NOT_SUPPORTED:
	case RV_STATUS_ATYP_NOT_SUPPORTED:
		return "the server does not support this request";
	default:
		return "the server could not open the connection (general failure)";
	}
}

static const char *rv_stdio_reset_str(enum rv_reset_reason r)
{
	switch (r) {
	case RV_RESET_TARGET_ERROR:
		return "the target's connection failed";
	case RV_RESET_LOCAL_ERROR:
		return "stdin/stdout failed (the reader or writer went away)";
	case RV_RESET_IDLE_TIMEOUT:
		return "idle timeout";
	case RV_RESET_SHUTDOWN:
		return "the server is shutting down";
	case RV_RESET_PROTOCOL_ERROR:
	case RV_RESET_FLOW_CONTROL:
		return "protocol error";
	default:
		return "reset";
	}
}

/* Both directions ended: let the last DATA/FIN and a GOAWAY reach the
 * server (client.c's drain: bounded by RV_CLIENT_DRAIN_MS), then exit 0. */
static void rv_stdio_done(struct rv_stdio *sd)
{
	struct rv_client *cl = sd->cl;

	sd->state = RV_STDIO_DONE;
	sd->exit_code = 0;
	rv_loop_timer_stop(sd->deadline);
	rv_log_debug("-W %s: both directions ended", sd->target);
	cl->draining = 1;
	cl->drain_deadline = rv_loop_now_ms(cl->loop) + RV_CLIENT_DRAIN_MS;
	rv_tunnel_shutdown(cl->tunnel);
	rv_loop_timer_set(cl->drain_tick, RV_STDIO_DRAIN_TICK_MS);
	rv_lws_loop_wake(cl->loop);
}

static void rv_stdio_on_deadline(struct rv_loop_timer *t, void *arg)
{
	struct rv_stdio *sd = arg;

	(void)t;
	if (sd->state == RV_STDIO_WAITING)
		rv_stdio_fail(sd, "the tunnel to %s did not come up within %d s%s%s",
			      sd->cl->opts->url_text, RV_CLIENT_WAIT_MS / 1000,
			      sd->down[0] != '\0' ? ": " : "", sd->down);
	else if (sd->state == RV_STDIO_CONNECTING)
		rv_stdio_fail(sd, "no answer from the server within %d s",
			      RV_CLIENT_STDIO_ANSWER_MS / 1000);
}

static void rv_stdio_on_up(struct rv_client *cl)
{
	struct rv_stdio *sd = cl->stdio;
	struct rv_session *s = rv_tunnel_session(cl->tunnel);
	int rc;

	if (sd == NULL || sd->state != RV_STDIO_WAITING || s == NULL)
		return; /* one stream only: not again after a reconnect */
	rc = rv_session_stream_open(s, sd->in_fd, &cl->opts->stdio_target, NULL, 0, sd, &sd->st);
	if (rc != RV_OK) {
		rv_stdio_fail(sd, "cannot open a stream: %s", rv_err_str(rc));
		return;
	}
	sd->in_fd = -1; /* the session's now */
	sd->state = RV_STDIO_CONNECTING;
	rc = rv_stream_set_write_fd(sd->st, sd->out_fd);
	if (rc != RV_OK) {
		rv_stdio_fail(sd, "cannot use stdout: %s", rv_err_str(rc));
		rv_stream_reset(sd->st, RV_RESET_LOCAL_ERROR);
		return;
	}
	sd->out_fd = -1;
	rv_log_debug("-W %s: stream %u: CONNECT sent", sd->target, rv_stream_id(sd->st));
	rv_loop_timer_set(sd->deadline, RV_CLIENT_STDIO_ANSWER_MS);
}

static void rv_stdio_on_stream_response(struct rv_stream *st, enum rv_status status,
					const struct rv_addr *bound)
{
	struct rv_stdio *sd = rv_stream_get_user(st);

	(void)bound;
	if (sd == NULL || sd->state != RV_STDIO_CONNECTING)
		return;
	if (status == RV_STATUS_OK) {
		sd->state = RV_STDIO_OPEN;
		rv_loop_timer_stop(sd->deadline);
		rv_log_debug("-W %s: stream %u: open", sd->target, rv_stream_id(st));
		return;
	}
	if (rv_stream_retryable(st))
		rv_stdio_fail(sd, "the tunnel went down before the server answered%s%s",
			      sd->down[0] != '\0' ? ": " : "", sd->down);
	else
		rv_stdio_fail(sd, "%s", rv_stdio_status_str(status));
}

static void rv_stdio_on_stream_closed(struct rv_stream *st)
{
	struct rv_stdio *sd = rv_stream_get_user(st);
	enum rv_reset_reason r = rv_stream_reset_reason(st);

	if (sd == NULL || st != sd->st)
		return;
	sd->st = NULL;
	if (sd->state != RV_STDIO_OPEN)
		return;
	if (r == RV_RESET_INVALID && rv_stream_get_istate(st) == RV_STREAM_DIR_CLOSED &&
	    rv_stream_get_ostate(st) == RV_STREAM_DIR_CLOSED) {
		rv_stdio_done(sd);
		return;
	}
	if (sd->down[0] != '\0')
		rv_stdio_fail(sd, "connection lost: the tunnel went down: %s", sd->down);
	else
		rv_stdio_fail(sd, "connection lost: %s", rv_stdio_reset_str(r));
}

static void rv_stdio_on_down(struct rv_client *cl, const char *reason)
{
	struct rv_stdio *sd = cl->stdio;

	if (sd == NULL)
		return;
	snprintf(sd->down, sizeof(sd->down), "%s", reason);
	/* Before the stream exists nothing else will report it; a stream's
	 * own callbacks follow (with this reason) if it was on this tunnel. */
	if (sd->state == RV_STDIO_WAITING)
		rv_stdio_fail(sd, "cannot bring up the tunnel to %s: %s", cl->opts->url_text,
			      reason);
}

static const struct rv_tunnel_hooks rv_stdio_tunnel_hooks = {
	.on_up = rv_stdio_on_up,
	.on_stream_response = rv_stdio_on_stream_response,
	.on_stream_closed = rv_stdio_on_stream_closed,
	.on_down = rv_stdio_on_down,
};

const struct rv_tunnel_hooks *rv_stdio_hooks(void)
{
	return &rv_stdio_tunnel_hooks;
}

/* stdin/stdout must be pipes or sockets: a terminal is not what -W is for
 * (and O_NONBLOCK would leak into the shell's terminal), and epoll cannot
 * watch a regular file or /dev/null: the stream would never move. */
static int rv_stdio_check_fd(int fd, const char *name, unsigned events)
{
	struct epoll_event ev = { .events = events };
	int ep, rc = RV_OK;

	if (fcntl(fd, F_GETFL) < 0) {
		fprintf(stderr, "rvpn-client: -W: %s is closed\n", name);
		return RV_ERR_CONFIG;
	}
	if (isatty(fd)) {
		fprintf(stderr, "rvpn-client: -W: %s is a terminal; -W is meant for ssh's "
				"ProxyCommand (stdin and stdout must be pipes or sockets)\n", name);
		return RV_ERR_CONFIG;
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0) {
		fprintf(stderr, "rvpn-client: -W: epoll: %s\n", strerror(errno));
		return RV_ERR_IO;
	}
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
		fprintf(stderr, "rvpn-client: -W: %s cannot be watched (%s): it must be a pipe "
				"or a socket, not a regular file or a device\n", name,
			strerror(errno));
		rc = RV_ERR_CONFIG;
	}
	close(ep);
	return rc;
}

/* Our own descriptor for fd (close-on-exec), fd itself then /dev/null. */
static int rv_stdio_take_fd(int fd, int null_fd)
{
	int own = fcntl(fd, F_DUPFD_CLOEXEC, 3);

	if (own < 0)
		return -1;
	if (dup2(null_fd, fd) < 0) {
		close(own);
		return -1;
	}
	return own;
}

int rv_stdio_start(struct rv_client *cl)
{
	struct rv_stdio *sd;
	int null_fd = -1, ret;

	if ((ret = rv_stdio_check_fd(STDIN_FILENO, "stdin", EPOLLIN)) != RV_OK ||
	    (ret = rv_stdio_check_fd(STDOUT_FILENO, "stdout", EPOLLOUT)) != RV_OK)
		return ret;
	sd = calloc(1, sizeof(*sd));
	if (sd == NULL)
		return RV_ERR_NOMEM;
	sd->cl = cl;
	sd->state = RV_STDIO_WAITING;
	sd->in_fd = sd->out_fd = -1;
	sd->exit_code = 1;
	rv_cli_addr_str(&cl->opts->stdio_target, sd->target, sizeof(sd->target));
	cl->stdio = sd;
	ret = RV_ERR_IO;
	fflush(stdout);
	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null_fd < 0 || (sd->in_fd = rv_stdio_take_fd(STDIN_FILENO, null_fd)) < 0 ||
	    (sd->out_fd = rv_stdio_take_fd(STDOUT_FILENO, null_fd)) < 0) {
		fprintf(stderr, "rvpn-client: -W: cannot take over stdin/stdout: %s\n",
			strerror(errno));
		goto out;
	}
	if ((ret = rv_loop_timer_new(cl->loop, rv_stdio_on_deadline, sd, &sd->deadline)) != RV_OK)
		goto out;
	rv_loop_timer_set(sd->deadline, RV_CLIENT_WAIT_MS);
	rv_log_debug("-W %s: waiting for the tunnel", sd->target);
	ret = RV_OK;
out:
	if (null_fd >= 0)
		close(null_fd);
	return ret;
}

int rv_stdio_finish(struct rv_client *cl, int ret)
{
	struct rv_stdio *sd = cl->stdio;
	int code;

	if (sd == NULL)
		return 1;
	if (sd->state == RV_STDIO_DONE || sd->state == RV_STDIO_FAILED)
		code = sd->exit_code;
	else if (ret != RV_OK)
		code = 1; /* could not start: the reason is printed */
	else {
		/* SIGINT/SIGTERM before the stream ended. */
		rv_log_debug("-W %s: interrupted", sd->target);
		code = RV_CLIENT_STDIO_EXIT_FAIL;
	}
	rv_loop_timer_free(sd->deadline);
	if (sd->in_fd >= 0)
		close(sd->in_fd);
	if (sd->out_fd >= 0)
		close(sd->out_fd);
	cl->stdio = NULL;
	free(sd);
	return code;
}
