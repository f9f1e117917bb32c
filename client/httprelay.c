/* httprelay.c - HTTP on the -D port (owner: client helper): the first
 * request head, CONNECT (handed to conn.c as a stream like SOCKS), the
 * proxy's own answers (PAC file, 404, 407, errors), and the HTTP relay for
 * plain-HTTP proxying of absolute-URI requests with keep-alive.
 * Parsing, rewriting and framing are common/proxy/rv_http_proxy; this file
 * moves bytes and keeps the relay's state.
 *
 * The relay (one per client connection, see conn.h):
 *
 *   REQ_HEAD --request--> FORWARD --response done, both keep--> REQ_HEAD
 *                            |--101 to a WebSocket request--> TUNNEL
 *   any: error, close-delimited or "close" response, client EOF,
 *        SIGTERM --> FLUSH (last response bytes, our answer) --> closed
 *
 * In FORWARD one request is in flight: its head (rewritten) and body
 * (framed by the body scanner) go to the leg, the response head is scanned
 * and the response relayed up to where the body scanner says it ends.  The
 * client is not parsed meanwhile (pipelined bytes wait in c->in), so two
 * responses can never interleave.  A request to the same host:port as the
 * last one reuses the leg if that response allowed keep-alive; otherwise
 * the old leg is dropped (our end of its socketpair closed: the stream
 * sends FIN and winds down) and a new one opened.  Every buffer is bounded:
 * c->in (16 KiB), the head copy, to_origin and from_origin (64 KiB: a
 * response head must fit).
 */
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "rv_addr.h"
#include "rv_err.h"
#include "rv_http_proxy.h"
#include "rv_log.h"
#include "rv_pac.h"

enum rv_http_relay_limits {
	RV_HTTP_RELAY_TO_ORIGIN_MAX = 2 * RV_HTTP_HEAD_MAX, /* rewritten head + body */
	RV_HTTP_RELAY_FROM_ORIGIN_MAX = RV_HTTP_RESP_HEAD_MAX,
	RV_HTTP_RELAY_READ_CHUNK = 16384,
	/* An idle keep-alive client connection is closed after this. */
	RV_HTTP_RELAY_IDLE_MS = 30000,
};

enum rv_http_relay_state {
	RV_HTTP_RELAY_INVALID = 0,
	RV_HTTP_RELAY_REQ_HEAD = 1, /* idle: reading the next request head */
	RV_HTTP_RELAY_FORWARD = 2,  /* one request and its response in flight */
	RV_HTTP_RELAY_TUNNEL = 3,   /* after 101 (WebSocket): raw both ways */
	RV_HTTP_RELAY_FLUSH = 4,    /* last bytes to the client, then close */
};

enum rv_http_relay_resp {
	RV_HTTP_RESP_PHASE_HEAD = 0, /* response head (and 1xx heads) */
	RV_HTTP_RESP_PHASE_BODY = 1,
	RV_HTTP_RESP_PHASE_DONE = 2,
};

struct rv_http_relay {
	struct rv_conn *c;                 /* the client's conn (owns client fd) */
	enum rv_http_relay_state state;
	struct rv_http_request *req;       /* the current request head */
	/* The current origin. */
	struct rv_conn *leg;               /* NULL once its conn is gone */
	int sfd;                           /* our end of the socketpair, -1 none */
	struct rv_loop_fd *sw;
	struct rv_addr origin;
	int leg_reusable;                  /* last response allowed keep-alive */
	int leg_eof;                       /* EOF or error reading sfd */
	int leg_wdead;                     /* writing sfd failed: never reuse */
	int leg_failed;                    /* the leg reported a failure */
	enum rv_status leg_status;
	int leg_down;                      /* it gave up waiting for the tunnel */
	/* Request direction. */
	struct rv_buf to_origin;
	struct rv_http_body qbody;
	int req_done;
	unsigned req_flags;                /* rv_http_req_flags */
	int client_keep;                   /* the client wants keep-alive */
	int client_eof;
	/* Response direction: from_origin holds r_pass bytes approved for
	 * the client, then bytes not yet scanned. */
	enum rv_http_relay_resp phase;
	struct rv_http_response resp;
	struct rv_http_body rbody;
	struct rv_buf from_origin;
	size_t r_pass;
	int resp_started;                  /* bytes of it went to the client */
	int drain_marked;
	int in_run, again;
	const char *close_why;
};

static void rv_http_relay_kick(struct rv_http_relay *r);

/* ---- the proxy's own answers and the first request ------------------- */

/* Our answer (status code, Connection: close) and a graceful close. */
static void rv_http_answer_close(struct rv_conn *c, int code, unsigned flags, const char *why)
{
	(void)rv_http_build_status(&c->out, code, flags);
	rv_conn_fail(c, RV_STATUS_OK, why);
}

/* 1 if the request may pass; else the 407 answer is in c->out. */
static int rv_http_auth_ok(struct rv_conn *c, const struct rv_http_request *req)
{
	const struct rv_socks5_config *cfg = &c->cl->socks_cfg;

	if (!cfg->require_auth)
		return 1;
	if (req->auth == RV_HTTP_AUTH_BASIC &&
	    rv_http_auth_match(req, cfg->user, cfg->user_len, cfg->pass, cfg->pass_len))
		return 1;
	/* No credentials is how browsers ask which scheme to use: not a
	 * failed login.  Wrong or undecodable ones are. */
	if (req->auth != RV_HTTP_AUTH_NONE && c->nego != NULL)
		rv_authlimit_failed(&c->cl->authlimit, (const struct sockaddr *)&c->nego->peer_sa,
				    c->peer);
	(void)rv_http_build_status(&c->out, 407, 0);
	return 0;
}

/* GET /proxy.pac, /wpad.dat: the PAC naming the address the client
 * reached us at (a wildcard -D gets the concrete one). */
static void rv_http_serve_pac(struct rv_conn *c, const struct rv_http_request *req)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[INET6_ADDRSTRLEN];
	struct rv_pac_config cfg;
	const char *why = NULL;
	uint16_t port = 0;
	int ret;

	memset(&cfg, 0, sizeof(cfg));
	if (getsockname(c->fd, (struct sockaddr *)&ss, &len) != 0) {
		rv_http_answer_close(c, 503, 0, "getsockname failed");
		return;
	}
	if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;

		port = ntohs(s6->sin6_port);
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], host, sizeof(host));
		else
			inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ss;

		port = ntohs(s4->sin_port);
		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
	}
	cfg.host = host;
	cfg.port = port;
	/* "SOCKS" means SOCKS4 to browsers, and Chrome then resolves names
	 * itself: SOCKS5 first, then PROXY (HTTP) for apps without SOCKS. */
	cfg.omit_socks4 = 1;
	ret = rv_pac_build_response(&c->out, &cfg,
				    strcmp(req->method, "HEAD") == 0 ? RV_HTTP_RESP_HEAD_ONLY : 0,
				    &why);
	if (ret != RV_OK) {
		rv_log_warn("http %s: cannot build the PAC file: %s", c->peer,
			    why != NULL ? why : rv_err_str(ret));
		rv_http_answer_close(c, 503, 0, "PAC build failed");
		return;
	}
	rv_log_debug("http %s: served the PAC file (%s:%u)", c->peer, host, (unsigned)port);
	rv_conn_fail(c, RV_STATUS_OK, "PAC file served");
}

static void rv_http_relay_start(struct rv_conn *c);

/* A complete request head in c->http, c not (or no longer) a relay. */
static void rv_http_dispatch(struct rv_conn *c)
{
	struct rv_http_request *req = c->http;
	int head = strcmp(req->method, "HEAD") == 0;

	switch (req->target) {
	case RV_HTTP_TARGET_ORIGIN: {
		const char *path = (const char *)req->head + req->path_off;

		if (!rv_pac_path_match(path, req->path_len)) {
			rv_http_answer_close(c, 404, head ? RV_HTTP_RESP_HEAD_ONLY : 0,
					     "not a path of the proxy");
			return;
		}
		if (!head && strcmp(req->method, "GET") != 0) {
			rv_http_answer_close(c, 405, 0, "PAC: only GET and HEAD");
			return;
		}
		rv_http_serve_pac(c, req);
		return;
	}
	case RV_HTTP_TARGET_CONNECT:
		if (!rv_http_auth_ok(c, req)) {
			rv_conn_fail(c, RV_STATUS_OK, "HTTP proxy authentication refused");
			return;
		}
		c->proto = RV_CONN_PROTO_CONNECT;
		c->nego->dst = req->dst;
		rv_http_request_wipe(req);
		free(req);
		c->http = NULL;
		/* Bytes after the head are early data for the stream. */
		rv_conn_start_stream(c);
		return;
	case RV_HTTP_TARGET_ABSOLUTE:
		if (!rv_http_auth_ok(c, req)) {
			rv_conn_fail(c, RV_STATUS_OK, "HTTP proxy authentication refused");
			return;
		}
		rv_http_relay_start(c);
		return;
	default:
		rv_http_answer_close(c, 400, 0, "bad request target");
		return;
	}
}

/* Parse a request head from c->in into c->http.  1: complete (dispatch
 * it), 0: need more, -1: answered and closing (or c freed). */
static int rv_http_read_head(struct rv_conn *c)
{
	const char *why = NULL;
	int ret;

	if (c->http == NULL) {
		c->http = malloc(sizeof(*c->http));
		if (c->http == NULL) {
			rv_conn_free(c);
			return -1;
		}
		rv_http_request_init(c->http);
	}
	ret = rv_http_parse_request(&c->in, c->http, &why);
	if (ret == RV_OK)
		return 1;
	if (ret == RV_ERR_NEED_MORE && rv_buf_room(&c->in) > 0)
		return 0;
	if (ret == RV_ERR_NEED_MORE) {
		rv_http_answer_close(c, 431, 0, "request head too large");
		return -1;
	}
	rv_http_answer_close(c, c->http->status != 0 ? c->http->status : 400, 0,
			     why != NULL ? why : "bad HTTP request");
	return -1;
}

void rv_http_on_io(struct rv_loop_fd *w, int fd, unsigned ev, void *arg)
{
	struct rv_conn *c = arg;
	int r;

	(void)w;
	(void)fd;
	if (ev & (RV_LOOP_READ | RV_LOOP_ERROR)) {
		r = rv_conn_read(c);
		if (r < 0) {
			rv_log_debug("http %s: closed before a complete request head", c->peer);
			rv_conn_free(c);
			return;
		}
	}
	if (rv_http_read_head(c) == 1)
		rv_http_dispatch(c);
}

/* ---- the relay --------------------------------------------------------- */

/* Stop using the current leg: its conn (if we still own the fd) freed,
 * else detached; our end closed, so an open stream sends FIN and ends. */
static void rv_http_relay_drop_leg(struct rv_http_relay *r)
{
	struct rv_conn *leg = r->leg;

	r->leg = NULL;
	if (leg != NULL) {
		leg->leg_of = NULL;
		if (leg->fd >= 0)
			rv_conn_free(leg); /* still waiting: the stream never existed */
	}
	rv_loop_fd_del(r->sw);
	r->sw = NULL;
	if (r->sfd >= 0)
		close(r->sfd);
	r->sfd = -1;
	r->leg_reusable = r->leg_eof = r->leg_failed = r->leg_wdead = 0;
	rv_buf_reset(&r->to_origin);
	rv_buf_reset(&r->from_origin);
	r->r_pass = 0;
}

static void rv_http_relay_destroy(struct rv_http_relay *r)
{
	rv_http_relay_drop_leg(r);
	rv_buf_cleanup(&r->to_origin);
	rv_buf_cleanup(&r->from_origin);
	if (r->req != NULL) {
		rv_http_request_wipe(r->req);
		free(r->req);
	}
	free(r);
}

void rv_http_relay_free(struct rv_conn *c)
{
	struct rv_http_relay *r = c->relay;

	c->relay = NULL;
	if (r != NULL)
		rv_http_relay_destroy(r);
}

/* The relay ends: graceful close of the client (c->out flushed first). */
static void rv_http_relay_close(struct rv_http_relay *r, const char *why)
{
	struct rv_conn *c = r->c;

	rv_http_relay_free(c);
	rv_conn_fail(c, RV_STATUS_OK, why);
}

/* Hard end: the client socket failed; nothing more can be sent. */
static void rv_http_relay_abort(struct rv_http_relay *r, const char *why)
{
	struct rv_conn *c = r->c;

	rv_log_debug("http %s: %s", c->peer, why);
	rv_conn_free(c); /* frees the relay */
}

/* Our answer instead of a response (none of it sent yet), then close. */
static void rv_http_relay_answer(struct rv_http_relay *r, int code, const char *why)
{
	(void)rv_http_build_status(&r->c->out, code,
				   (r->req_flags & RV_HTTP_REQ_WAS_HEAD) ? RV_HTTP_RESP_HEAD_ONLY : 0);
	r->state = RV_HTTP_RELAY_FLUSH;
	r->close_why = why;
}

static void rv_http_relay_finish(struct rv_http_relay *r, const char *why)
{
	r->state = RV_HTTP_RELAY_FLUSH;
	r->close_why = why;
}

static void rv_http_relay_on_leg_io(struct rv_loop_fd *w, int fd, unsigned ev, void *arg);
static void rv_http_relay_on_client_io(struct rv_loop_fd *w, int fd, unsigned ev, void *arg);

/* Send the current request (r->req) towards its origin. */
static void rv_http_relay_forward(struct rv_http_relay *r)
{
	struct rv_conn *c = r->c;
	struct rv_http_request *req = r->req;
	struct rv_conn *leg = NULL;
	int sp[2], ret;

	if (r->sfd >= 0 && (!r->leg_reusable || r->leg_eof || r->leg_failed || r->leg_wdead ||
			    !rv_addr_equal(&r->origin, &req->dst)))
		rv_http_relay_drop_leg(r);
	r->req_flags = (strcmp(req->method, "HEAD") == 0 ? RV_HTTP_REQ_WAS_HEAD : 0) |
		       (req->websocket ? RV_HTTP_REQ_WAS_UPGRADE : 0);
	r->client_keep = req->keep_alive;
	r->req_done = 0;
	r->resp_started = 0;
	r->leg_reusable = 0;
	r->phase = RV_HTTP_RESP_PHASE_HEAD;
	rv_http_response_init(&r->resp);
	rv_http_body_init(&r->qbody, req->framing, req->content_length);
	r->state = RV_HTTP_RELAY_FORWARD;
	if (rv_http_build_forward_head(&r->to_origin, req,
				       req->keep_alive ? 0 : RV_HTTP_FWD_CLOSE) != RV_OK) {
		rv_http_relay_answer(r, 502, "cannot build the forwarded head");
		return;
	}
	if (r->sfd >= 0)
		return; /* keep-alive: the same origin, its leg is open */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp) != 0) {
		rv_http_relay_answer(r, 503, "socketpair failed");
		return;
	}
	r->sfd = sp[0];
	r->origin = req->dst;
	if (rv_loop_fd_add(c->cl->loop, r->sfd, RV_LOOP_READ, rv_http_relay_on_leg_io, r,
			   &r->sw) != RV_OK) {
		close(sp[1]);
		rv_http_relay_answer(r, 503, "cannot watch the socketpair");
		return;
	}
	ret = rv_conn_new_leg(c->cl, sp[1], &req->dst, c->peer, r, &leg);
	if (ret != RV_OK) {
		rv_http_relay_answer(r, 503, "too many pending local connections");
		return;
	}
	r->leg = leg;
	/* May fail at once: then leg_response() has set leg_failed. */
	rv_conn_start_stream(leg);
}

static void rv_http_relay_idle(struct rv_http_relay *r)
{
	struct rv_conn *c = r->c;

	r->state = RV_HTTP_RELAY_REQ_HEAD;
	rv_conn_set_open(c, 0);
	rv_conn_nego_link(c); /* evictable like a negotiating conn */
	rv_loop_timer_set(c->timer, RV_HTTP_RELAY_IDLE_MS);
}

static void rv_http_relay_start(struct rv_conn *c)
{
	struct rv_http_relay *r = calloc(1, sizeof(*r));

	if (r == NULL) {
		rv_conn_free(c);
		return;
	}
	r->c = c;
	r->sfd = -1;
	r->req = c->http;
	c->http = NULL;
	rv_buf_init(&r->to_origin, RV_HTTP_RELAY_TO_ORIGIN_MAX);
	rv_buf_init(&r->from_origin, RV_HTTP_RELAY_FROM_ORIGIN_MAX);
	c->relay = r;
	c->state = RV_CONN_RELAY;
	rv_conn_nego_unlink(c);
	rv_conn_set_open(c, 1);
	rv_loop_timer_stop(c->timer);
	rv_loop_fd_del(c->w);
	c->w = NULL;
	if (rv_loop_fd_add(c->cl->loop, c->fd, RV_LOOP_READ, rv_http_relay_on_client_io, r,
			   &c->w) != RV_OK) {
		rv_conn_free(c);
		return;
	}
	r->in_run = 1;
	rv_http_relay_forward(r);
	r->in_run = 0;
	rv_http_relay_kick(r);
}

/* A request head arrived on a kept connection. 1: the relay goes on;
 * 0: it is gone (r freed). */
static int rv_http_relay_next_request(struct rv_http_relay *r)
{
	struct rv_conn *c = r->c;
	struct rv_http_request *req = c->http;

	if (req->target == RV_HTTP_TARGET_ABSOLUTE) {
		if (!rv_http_auth_ok(c, req)) {
			rv_http_relay_close(r, "HTTP proxy authentication refused");
			return 0;
		}
		rv_conn_nego_unlink(c);
		rv_conn_set_open(c, 1);
		rv_loop_timer_stop(c->timer);
		if (r->req != NULL) {
			rv_http_request_wipe(r->req);
			free(r->req);
		}
		r->req = req;
		c->http = NULL;
		rv_http_relay_forward(r);
		return 1;
	}
	/* CONNECT or a request for the proxy itself: no longer a relay. */
	rv_http_relay_free(c);
	rv_conn_set_open(c, 0);
	c->state = RV_CONN_NEGOTIATING;
	rv_loop_fd_del(c->w);
	c->w = NULL;
	if (rv_loop_fd_add(c->cl->loop, c->fd, RV_LOOP_READ, rv_http_on_io, c, &c->w) != RV_OK) {
		rv_conn_free(c);
		return 0;
	}
	rv_http_dispatch(c);
	return 0;
}

/* Move request body bytes from c->in to to_origin (as far as room). */
static int rv_http_relay_req_body(struct rv_http_relay *r)
{
	struct rv_conn *c = r->c;
	struct rv_buf v;
	size_t n = rv_buf_len(&c->in), room = rv_buf_room(&r->to_origin), pass = 0;
	const char *why = NULL;
	int ret;

	if (r->req_done)
		return 0;
	if (n > room)
		n = room;
	rv_buf_init_view(&v, rv_buf_ptr(&c->in), n);
	ret = rv_http_body_scan(&r->qbody, &v, &pass, &why);
	if (ret != RV_OK && ret != RV_ERR_NEED_MORE) {
		if (r->resp_started)
			rv_http_relay_finish(r, why != NULL ? why : "bad request body");
		else
			rv_http_relay_answer(r, 400, why != NULL ? why : "bad request body");
		return 0;
	}
	if (pass > 0) {
		(void)rv_buf_put(&r->to_origin, rv_buf_ptr(&c->in), pass);
		(void)rv_buf_consume(&c->in, pass);
	}
	if (ret == RV_OK)
		r->req_done = 1;
	return pass > 0 || ret == RV_OK;
}

/* Scan what the origin sent past r_pass.  Returns 1 on progress. */
static int rv_http_relay_resp(struct rv_http_relay *r)
{
	struct rv_buf v;
	size_t len = rv_buf_len(&r->from_origin) - r->r_pass, pass = 0;
	const char *why = NULL;
	int ret;

	rv_buf_init_view(&v, rv_buf_ptr(&r->from_origin) + r->r_pass, len);
	if (r->phase == RV_HTTP_RESP_PHASE_HEAD) {
		ret = rv_http_parse_response(&v, &r->resp, r->req_flags, &why);
		/* Full only counts once our 1xx heads before it are sent. */
		if (ret == RV_ERR_NEED_MORE && !r->leg_eof &&
		    (rv_buf_room(&r->from_origin) > 0 || r->r_pass > 0))
			return 0;
		if (ret != RV_OK) {
			if (ret == RV_ERR_NEED_MORE)
				why = len == 0 && !r->resp_started ? "the origin closed without answering"
								   : "truncated response head";
			if (r->resp_started)
				rv_http_relay_finish(r, why);
			else
				rv_http_relay_answer(r, 502, why != NULL ? why : "bad response head");
			return 0;
		}
		r->r_pass += r->resp.head_len;
		r->resp_started = 1;
		if (r->resp.interim) {
			rv_http_response_init(&r->resp);
			return 1;
		}
		if (r->resp.framing == RV_HTTP_BODY_TUNNEL) {
			r->state = RV_HTTP_RELAY_TUNNEL;
			r->req_done = 1;
			r->r_pass = rv_buf_len(&r->from_origin);
			return 1;
		}
		rv_http_body_init(&r->rbody, r->resp.framing, r->resp.content_length);
		r->phase = RV_HTTP_RESP_PHASE_BODY;
		return 1;
	}
	if (r->phase != RV_HTTP_RESP_PHASE_BODY)
		return 0;
	ret = rv_http_body_scan(&r->rbody, &v, &pass, &why);
	r->r_pass += pass;
	if (ret == RV_OK) {
		r->phase = RV_HTTP_RESP_PHASE_DONE;
		if (rv_buf_len(&r->from_origin) > r->r_pass) {
			/* Bytes after the response: never ours to send. */
			(void)rv_buf_unput(&r->from_origin, rv_buf_len(&r->from_origin) - r->r_pass);
			r->leg_eof = 1;
		}
		return 1;
	}
	if (ret == RV_ERR_NEED_MORE) {
		if (!r->leg_eof)
			return pass > 0;
		if (r->resp.framing == RV_HTTP_BODY_CLOSE) {
			r->phase = RV_HTTP_RESP_PHASE_DONE;
			r->client_keep = 0; /* the client sees the end only by our close */
			return 1;
		}
		rv_http_relay_finish(r, "the origin closed in the middle of a response");
		return 0;
	}
	rv_http_relay_finish(r, why != NULL ? why : "bad response body");
	return pass > 0;
}

/* 1 when sent or nothing to send, 0 when the socket is full, -1 error. */
static int rv_http_relay_send(int fd, struct rv_buf *b, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, rv_buf_ptr(b), len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0)
			return -1;
		(void)rv_buf_consume(b, (size_t)n);
		len -= (size_t)n;
	}
	return 1;
}

/* One pass over the state; 1 if anything moved, 0 if not, -1 if the
 * relay is gone. */
static int rv_http_relay_step(struct rv_http_relay *r)
{
	struct rv_conn *c = r->c;
	int moved = 0, ret;

	if (r->leg_failed && r->state != RV_HTTP_RELAY_FLUSH) {
		int code = r->leg_down ? 503 : rv_http_status_from_rv(r->leg_status);

		r->leg_failed = 0;
		if (r->state == RV_HTTP_RELAY_FORWARD && !r->resp_started) {
			rv_http_relay_drop_leg(r);
			rv_http_relay_answer(r, code, "the origin could not be reached");
		} else {
			rv_http_relay_finish(r, "the origin's stream failed");
		}
		return 1;
	}
	switch (r->state) {
	case RV_HTTP_RELAY_REQ_HEAD:
		if (r->sfd >= 0 && (r->leg_eof || rv_buf_len(&r->from_origin) > 0))
			rv_http_relay_drop_leg(r); /* idle origin closed (or chattered) */
		if (rv_buf_len(&c->in) > 0) {
			ret = rv_http_read_head(c);
			if (ret < 0)
				return -1;
			if (ret == 1)
				return rv_http_relay_next_request(r) ? 1 : -1;
		}
		if (r->client_eof) {
			rv_log_debug("http %s: closed by the client", c->peer);
			rv_http_relay_close(r, "client closed");
			return -1;
		}
		return 0;
	case RV_HTTP_RELAY_FORWARD:
		if (r->client_eof && !r->req_done) {
			rv_http_relay_abort(r, "the client closed in the middle of a request");
			return -1;
		}
		moved |= rv_http_relay_req_body(r);
		if (r->state == RV_HTTP_RELAY_FORWARD)
			moved |= rv_http_relay_resp(r);
		if (r->state == RV_HTTP_RELAY_FORWARD && r->phase == RV_HTTP_RESP_PHASE_DONE &&
		    r->r_pass == 0) {
			if (!r->req_done) {
				/* Answered before the body ended: where the next
				 * request starts is unknown. */
				rv_http_relay_finish(r, "response before the end of the request body");
				return 1;
			}
			if (!r->resp.keep_alive || r->leg_eof || r->leg_wdead)
				rv_http_relay_drop_leg(r);
			else
				r->leg_reusable = 1;
			if (!r->client_keep || r->client_eof || c->cl->draining) {
				rv_http_relay_finish(r, "response done, connection not kept");
				return 1;
			}
			rv_http_relay_idle(r);
			return 1;
		}
		return moved;
	case RV_HTTP_RELAY_TUNNEL:
		if (rv_buf_len(&c->in) > 0 && rv_buf_room(&r->to_origin) > 0) {
			size_t n = rv_buf_len(&c->in);

			if (n > rv_buf_room(&r->to_origin))
				n = rv_buf_room(&r->to_origin);
			(void)rv_buf_put(&r->to_origin, rv_buf_ptr(&c->in), n);
			(void)rv_buf_consume(&c->in, n);
			moved = 1;
		}
		if (r->r_pass != rv_buf_len(&r->from_origin)) {
			r->r_pass = rv_buf_len(&r->from_origin);
			moved = 1;
		}
		if ((r->client_eof && rv_buf_len(&r->to_origin) == 0) ||
		    (r->leg_eof && r->r_pass == 0)) {
			rv_http_relay_finish(r, "WebSocket tunnel closed");
			return 1;
		}
		return moved;
	default:
		return 0;
	}
}

/* Flush both ways; 1 if bytes moved, 0 if not, -1 if the relay is gone. */
static int rv_http_relay_flush(struct rv_http_relay *r)
{
	struct rv_conn *c = r->c;
	size_t len0;
	int ret, moved = 0;

	if (r->sfd >= 0 && !r->leg_wdead && rv_buf_len(&r->to_origin) > 0) {
		len0 = rv_buf_len(&r->to_origin);
		ret = rv_http_relay_send(r->sfd, &r->to_origin, len0);
		if (ret < 0) {
			/* The stream is gone; what it delivered is still
			 * readable from sfd, so keep reading. */
			r->leg_wdead = 1;
			rv_buf_reset(&r->to_origin);
		}
		moved = len0 != rv_buf_len(&r->to_origin); /* room for more body */
	}
	if (r->r_pass > 0) {
		len0 = rv_buf_len(&r->from_origin);
		ret = rv_http_relay_send(c->fd, &r->from_origin, r->r_pass);
		r->r_pass -= len0 - rv_buf_len(&r->from_origin);
		if (ret < 0) {
			rv_http_relay_abort(r, "client socket failed");
			return -1;
		}
		moved |= len0 != rv_buf_len(&r->from_origin);
	}
	return moved;
}

static void rv_http_relay_events(struct rv_http_relay *r)
{
	struct rv_conn *c = r->c;
	unsigned cev = 0, sev = 0;

	if (!r->client_eof && rv_buf_room(&c->in) > 0 && r->state != RV_HTTP_RELAY_FLUSH)
		cev |= RV_LOOP_READ;
	if (r->r_pass > 0)
		cev |= RV_LOOP_WRITE;
	(void)rv_loop_fd_set_events(c->w, cev);
	if (r->sw == NULL)
		return;
	if (!r->leg_eof && rv_buf_room(&r->from_origin) > 0 && r->state != RV_HTTP_RELAY_FLUSH)
		sev |= RV_LOOP_READ;
	if (rv_buf_len(&r->to_origin) > 0 && !r->leg_wdead)
		sev |= RV_LOOP_WRITE;
	(void)rv_loop_fd_set_events(r->sw, sev);
}

static void rv_http_relay_kick(struct rv_http_relay *r)
{
	int i, ret, fl;

	if (r->in_run) {
		r->again = 1;
		return;
	}
	r->in_run = 1;
	/* Bounded: each pass moves bytes or changes state; the cap only
	 * guards against a bug spinning the loop. */
	for (i = 0; i < 64; i++) {
		r->again = 0;
		ret = rv_http_relay_step(r);
		if (ret < 0)
			return; /* r is gone */
		fl = rv_http_relay_flush(r);
		if (fl < 0)
			return;
		if (ret == 0 && fl == 0 && !r->again)
			break;
	}
	r->in_run = 0;
	if (r->state == RV_HTTP_RELAY_FLUSH && r->r_pass == 0) {
		rv_http_relay_close(r, r->close_why != NULL ? r->close_why : "done");
		return;
	}
	rv_http_relay_events(r);
}

static void rv_http_relay_on_client_io(struct rv_loop_fd *w, int fd, unsigned ev, void *arg)
{
	struct rv_http_relay *r = arg;

	(void)w;
	(void)fd;
	if ((ev & (RV_LOOP_READ | RV_LOOP_ERROR)) && !r->client_eof &&
	    rv_conn_read(r->c) < 0)
		r->client_eof = 1;
	rv_http_relay_kick(r);
}

static void rv_http_relay_on_leg_io(struct rv_loop_fd *w, int fd, unsigned ev, void *arg)
{
	struct rv_http_relay *r = arg;
	size_t want = rv_buf_room(&r->from_origin);
	uint8_t *p;
	ssize_t n;

	(void)w;
	if ((ev & (RV_LOOP_READ | RV_LOOP_ERROR)) && !r->leg_eof && want > 0) {
		if (want > RV_HTTP_RELAY_READ_CHUNK)
			want = RV_HTTP_RELAY_READ_CHUNK;
		if (rv_buf_reserve(&r->from_origin, want, &p) == RV_OK) {
			do {
				n = recv(fd, p, want, 0);
			} while (n < 0 && errno == EINTR);
			(void)rv_buf_unput(&r->from_origin, want - (n > 0 ? (size_t)n : 0));
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
				r->leg_eof = 1;
		}
	}
	rv_http_relay_kick(r);
}

void rv_http_relay_leg_response(struct rv_http_relay *r, enum rv_status st, int tunnel_down)
{
	if (st == RV_STATUS_OK)
		return; /* open: bytes flow through the socketpair */
	r->leg = NULL; /* the caller frees the leg's conn */
	r->leg_failed = 1;
	r->leg_status = st;
	r->leg_down = tunnel_down;
	if (r->c->cl->stop == 0)
		rv_http_relay_kick(r);
}

void rv_http_relay_leg_gone(struct rv_http_relay *r)
{
	r->leg = NULL; /* its stream ended: sfd reports EOF by itself */
}

void rv_http_relay_on_timer(struct rv_conn *c)
{
	struct rv_http_relay *r = c->relay;

	if (r != NULL && r->state == RV_HTTP_RELAY_REQ_HEAD)
		rv_http_relay_close(r, "idle keep-alive connection timed out");
}

int rv_http_relay_drain(struct rv_conn *c)
{
	struct rv_http_relay *r = c->relay;

	if (r == NULL || r->drain_marked)
		return 0;
	r->drain_marked = 1;
	if (r->state == RV_HTTP_RELAY_REQ_HEAD && rv_buf_len(&c->in) == 0)
		rv_http_relay_close(r, "the client is shutting down");
	return 1;
}
