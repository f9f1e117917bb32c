/* rv_connect.c - Happy Eyeballs v2 connect.  Owner: server-libs. */
#include "rv_connect.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rv_err.h"
#include "rv_log.h"
#include "rv_sockopt.h"

enum rv_attempt_state {
	RV_ATTEMPT_IDLE = 0,   /* not started */
	RV_ATTEMPT_CONNECTING, /* fd open, waiting for writability */
	RV_ATTEMPT_FAILED,     /* errno recorded, fd closed */
};

enum rv_connect_state {
	RV_CONNECT_RUNNING = 1,
	RV_CONNECT_FINISHING, /* outcome decided in start(): delivered by timer */
	RV_CONNECT_DONE,      /* callback running */
};

struct rv_connect;

struct rv_attempt {
	struct rv_connect *c;
	enum rv_attempt_state state;
	struct rv_sockaddr addr;
	int fd;
	int err; /* errno when FAILED */
	struct rv_loop_fd *w;
};

struct rv_connect {
	struct rv_loop *loop;
	enum rv_connect_state state;
	struct rv_attempt att[RV_CONNECT_MAX_ADDRS];
	size_t n, next, active;
	uint32_t delay_ms;
	int nodelay;
	struct rv_loop_timer *deadline, *delay, *finish;
	rv_connect_cb cb;
	void *arg;
	struct rv_connect_result res;
};

enum rv_status rv_connect_status_from_errno(int e)
{
	switch (e) {
	case 0:
		return RV_STATUS_OK;
	case ECONNREFUSED:
		return RV_STATUS_CONNECTION_REFUSED;
	case ENETUNREACH:
	case ENETDOWN:
	case EAFNOSUPPORT: /* no IPv6 (or IPv4) in this kernel */
		return RV_STATUS_NET_UNREACHABLE;
	case EHOSTUNREACH:
	case EHOSTDOWN:
		return RV_STATUS_HOST_UNREACHABLE;
	case ETIMEDOUT:
		return RV_STATUS_TTL_EXPIRED;
	case EACCES:
	case EPERM: /* a local firewall rule */
		return RV_STATUS_NOT_ALLOWED;
	default:
		return RV_STATUS_GENERAL_FAILURE;
	}
}

static int status_rank(enum rv_status s)
{
	switch (s) {
	case RV_STATUS_CONNECTION_REFUSED:
		return 6;
	case RV_STATUS_NOT_ALLOWED:
		return 5;
	case RV_STATUS_HOST_UNREACHABLE:
		return 4;
	case RV_STATUS_TTL_EXPIRED:
		return 3;
	case RV_STATUS_NET_UNREACHABLE:
		return 2;
	default:
		return 1;
	}
}

static void attempt_close(struct rv_attempt *a)
{
	rv_loop_fd_del(a->w);
	a->w = NULL;
	if (a->fd >= 0)
		close(a->fd);
	a->fd = -1;
}

static void attempt_fail(struct rv_attempt *a, int e)
{
	if (a->state == RV_ATTEMPT_CONNECTING)
		a->c->active--;
	attempt_close(a);
	a->state = RV_ATTEMPT_FAILED;
	a->err = e;
}

/* Close everything and free c (callback already done or cancelled). */
static void connect_free(struct rv_connect *c)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		attempt_close(&c->att[i]);
	rv_loop_timer_free(c->deadline);
	rv_loop_timer_free(c->delay);
	rv_loop_timer_free(c->finish);
	free(c);
}

static void deliver(struct rv_connect *c)
{
	c->state = RV_CONNECT_DONE;
	c->cb(c->arg, &c->res);
	connect_free(c);
}

/* All attempts over (or deadline): pick the most informative error. */
static void fail_all(struct rv_connect *c, int deadline_hit)
{
	enum rv_status best = RV_STATUS_GENERAL_FAILURE;
	int best_errno = 0, have = 0;
	size_t i;

	for (i = 0; i < c->n; i++) {
		struct rv_attempt *a = &c->att[i];
		int e;
		enum rv_status s;

		if (a->state == RV_ATTEMPT_CONNECTING && deadline_hit)
			attempt_fail(a, ETIMEDOUT);
		if (a->state != RV_ATTEMPT_FAILED)
			continue;
		e = a->err;
		s = rv_connect_status_from_errno(e);
		if (!have || status_rank(s) > status_rank(best)) {
			best = s;
			best_errno = e;
			c->res.peer = a->addr;
			have = 1;
		}
	}
	if (deadline_hit && status_rank(best) < status_rank(RV_STATUS_TTL_EXPIRED)) {
		/* Some addresses were never tried: the time ran out. */
		best = RV_STATUS_TTL_EXPIRED;
		best_errno = ETIMEDOUT;
	}
	c->res.status = best;
	c->res.sys_errno = best_errno;
	c->res.err = best == RV_STATUS_TTL_EXPIRED ? RV_ERR_TIMEOUT : RV_ERR_IO;
	c->res.fd = -1;
	rv_loop_timer_stop(c->deadline);
	rv_loop_timer_stop(c->delay);
	if (c->state == RV_CONNECT_FINISHING) /* inside start(): defer */
		rv_loop_timer_set(c->finish, 0);
	else
		deliver(c);
}

static void win(struct rv_connect *c, struct rv_attempt *a)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	size_t i;

	rv_loop_fd_del(a->w);
	a->w = NULL;
	c->res.fd = a->fd;
	a->fd = -1; /* now the result's */
	c->res.peer = a->addr;
	memset(&c->res.local, 0, sizeof(c->res.local));
	if (getsockname(c->res.fd, (struct sockaddr *)&ss, &len) == 0)
		(void)rv_sockaddr_from_sys(&c->res.local, (struct sockaddr *)&ss, len);
	if (c->nodelay)
		(void)rv_sockopt_set_nodelay(c->res.fd);
	c->res.status = RV_STATUS_OK;
	c->res.err = RV_OK;
	c->res.sys_errno = 0;
	for (i = 0; i < c->n; i++)
		attempt_close(&c->att[i]);
	rv_loop_timer_stop(c->deadline);
	rv_loop_timer_stop(c->delay);
	if (c->state == RV_CONNECT_FINISHING)
		rv_loop_timer_set(c->finish, 0);
	else
		deliver(c);
}

static void attempt_cb(struct rv_loop_fd *w, int fd, unsigned revents, void *arg);

/* Start attempts until one is in progress (or won); fail when none is
 * left and none is active.  Returns 1 if c was finished (and maybe freed). */
static int start_next(struct rv_connect *c)
{
	while (c->next < c->n) {
		struct rv_attempt *a = &c->att[c->next++];
		int fd, family = rv_sockaddr_family(&a->addr);

		c->res.attempts++;
		fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			a->state = RV_ATTEMPT_FAILED;
			a->err = errno;
			continue;
		}
		a->fd = fd;
		if (connect(fd, &a->addr.u.sa, a->addr.len) == 0) {
			win(c, a);
			return 1;
		}
		if (errno != EINPROGRESS) {
			attempt_fail(a, errno);
			continue;
		}
		/* A near target (loopback, this host) has usually answered by
		 * the time connect() returns: asking again costs a syscall and
		 * saves the watcher, a poll round and SO_ERROR.  0 (or EISCONN)
		 * is connected; EALREADY is still in progress. */
		if (connect(fd, &a->addr.u.sa, a->addr.len) == 0 || errno == EISCONN) {
			win(c, a);
			return 1;
		}
		if (errno != EALREADY && errno != EINPROGRESS && errno != EINTR) {
			attempt_fail(a, errno);
			continue;
		}
		if (rv_loop_fd_add(c->loop, fd, RV_LOOP_WRITE, attempt_cb, a, &a->w) != RV_OK) {
			attempt_fail(a, ENOMEM);
			continue;
		}
		a->state = RV_ATTEMPT_CONNECTING;
		c->active++;
		if (c->next < c->n)
			rv_loop_timer_set(c->delay, c->delay_ms);
		return 0;
	}
	if (c->active == 0) {
		fail_all(c, 0);
		return 1;
	}
	return 0;
}

static void attempt_cb(struct rv_loop_fd *w, int fd, unsigned revents, void *arg)
{
	struct rv_attempt *a = arg;
	struct rv_connect *c = a->c;
	int soerr = 0;
	socklen_t len = sizeof(soerr);

	(void)w;
	(void)revents;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
		soerr = errno;
	if (soerr == 0) {
		win(c, a);
		return;
	}
	rv_log_debug("connect: attempt %zu failed: %s", (size_t)(a - c->att), strerror(soerr));
	attempt_fail(a, soerr);
	rv_loop_timer_stop(c->delay);
	(void)start_next(c); /* RFC 8305: a failure starts the next at once */
}

static void delay_cb(struct rv_loop_timer *t, void *arg)
{
	(void)t;
	(void)start_next(arg);
}

static void deadline_cb(struct rv_loop_timer *t, void *arg)
{
	(void)t;
	fail_all(arg, 1);
}

static void finish_cb(struct rv_loop_timer *t, void *arg)
{
	(void)t;
	deliver(arg);
}

/* v6a v4a v6b v4b ...: the family of addrs[0] first. */
static void interleave(struct rv_connect *c, const struct rv_sockaddr *addrs, size_t n)
{
	int first = rv_sockaddr_family(&addrs[0]);
	size_t i = 0, j = 0, k = 0;

	while (k < n) {
		while (i < n && rv_sockaddr_family(&addrs[i]) != first)
			i++;
		if (i < n)
			c->att[k++].addr = addrs[i++];
		while (j < n && rv_sockaddr_family(&addrs[j]) == first)
			j++;
		if (j < n && k < n)
			c->att[k++].addr = addrs[j++];
	}
}

int rv_connect_start(struct rv_loop *loop, const struct rv_sockaddr *addrs, size_t n,
		     const struct rv_connect_opts *opts, rv_connect_cb cb, void *arg,
		     struct rv_connect **out)
{
	static const struct rv_connect_opts defaults;
	struct rv_connect *c;
	size_t i;
	int ret;

	if (out != NULL)
		*out = NULL;
	if (loop == NULL || addrs == NULL || n == 0 || cb == NULL)
		return RV_ERR_INVALID_ARG;
	for (i = 0; i < n; i++)
		if (rv_sockaddr_family(&addrs[i]) == AF_UNSPEC)
			return RV_ERR_INVALID_ARG;
	if (opts == NULL)
		opts = &defaults;
	if (n > RV_CONNECT_MAX_ADDRS)
		n = RV_CONNECT_MAX_ADDRS;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return RV_ERR_NOMEM;
	c->loop = loop;
	c->n = n;
	c->cb = cb;
	c->arg = arg;
	c->nodelay = opts->nodelay;
	c->delay_ms = opts->attempt_delay_ms ? opts->attempt_delay_ms : RV_HAPPY_EYEBALLS_DELAY_MS;
	c->res.fd = -1;
	for (i = 0; i < n; i++) {
		c->att[i].c = c;
		c->att[i].fd = -1;
	}
	interleave(c, addrs, n);
	if ((ret = rv_loop_timer_new(loop, deadline_cb, c, &c->deadline)) != RV_OK ||
	    (ret = rv_loop_timer_new(loop, delay_cb, c, &c->delay)) != RV_OK ||
	    (ret = rv_loop_timer_new(loop, finish_cb, c, &c->finish)) != RV_OK) {
		connect_free(c);
		return ret;
	}
	rv_loop_timer_set(c->deadline, opts->timeout_ms ? opts->timeout_ms :
				       (uint64_t)RV_CONNECT_TIMEOUT_DEFAULT_S * 1000);
	/* An outcome reached inside start() is delivered by the finish timer. */
	c->state = RV_CONNECT_FINISHING;
	if (!start_next(c))
		c->state = RV_CONNECT_RUNNING;
	if (out != NULL)
		*out = c;
	return RV_OK;
}

void rv_connect_cancel(struct rv_connect *c)
{
	if (c == NULL || c->state == RV_CONNECT_DONE)
		return;
	if (c->res.fd >= 0 && c->res.status == RV_STATUS_OK)
		close(c->res.fd); /* won inside start(), never delivered */
	connect_free(c);
}
