/* mixed.c - the -D port speaks several protocols (owner: client helper):
 * rv_proxy_detect decides from the first bytes, then the connection is
 * handed to socks.c (SOCKS5), socks4.c (SOCKS4/4a) or httprelay.c (HTTP
 * CONNECT, plain-HTTP proxying, /proxy.pac).  Detection consumes nothing:
 * the chosen handler parses the same c->in.  Also the per-protocol reply
 * for a stream's outcome (conn.c calls it). */
#include <stdlib.h>

#include "conn.h"
#include "rv_err.h"
#include "rv_http_proxy.h"
#include "rv_log.h"
#include "rv_proxy_detect.h"
#include "rv_socks4.h"

static void rv_mixed_on_io(struct rv_loop_fd *w, int fd, unsigned ev, void *arg)
{
	struct rv_conn *c = arg;
	enum rv_proxy_kind kind = RV_PROXY_KIND_UNKNOWN;
	const char *why = NULL;
	int r, ret;

	switch (c->proto) {
	case RV_CONN_PROTO_SOCKS5:
		rv_socks_on_io(w, fd, ev, arg);
		return;
	case RV_CONN_PROTO_SOCKS4:
		rv_socks4_on_io(w, fd, ev, arg);
		return;
	case RV_CONN_PROTO_HTTP:
		rv_http_on_io(w, fd, ev, arg);
		return;
	default:
		break;
	}
	r = rv_conn_read(c);
	if (r < 0) {
		rv_log_debug("-D %s: closed before speaking", c->peer);
		rv_conn_free(c);
		return;
	}
	ret = rv_proxy_detect(&c->in, &kind, &why);
	if (ret == RV_ERR_NEED_MORE)
		return;
	if (ret != RV_OK) {
		uint64_t n;

		if (rv_client_ratelog(c->cl, &c->cl->log_unknown, &n))
			rv_log_debug("-D %s: not SOCKS or HTTP (%s); closed (%llu more since the last "
				     "message)", c->peer, why != NULL ? why : "unknown protocol",
				     (unsigned long long)n);
		rv_conn_free(c);
		return;
	}
	switch (kind) {
	case RV_PROXY_KIND_SOCKS5:
		c->proto = RV_CONN_PROTO_SOCKS5;
		rv_socks_init(c);
		break;
	case RV_PROXY_KIND_SOCKS4:
		c->proto = RV_CONN_PROTO_SOCKS4;
		break;
	default:
		c->proto = RV_CONN_PROTO_HTTP;
		break;
	}
	/* The bytes are in c->in already: the handler parses them without a
	 * read of its own (a recv that would find the socket empty); anything
	 * sent later wakes it as usual (level-triggered). */
	rv_mixed_on_io(w, fd, 0, arg);
}

int rv_client_ratelog(struct rv_client *cl, struct rv_client_ratelog *rl, uint64_t *suppressed)
{
	uint64_t now = rv_loop_now_ms(cl->loop);

	if (rl->last_ms != 0 && now - rl->last_ms < RV_CLIENT_FLOOD_LOG_MS) {
		rl->suppressed++;
		return 0;
	}
	rl->last_ms = now != 0 ? now : 1;
	*suppressed = rl->suppressed;
	rl->suppressed = 0;
	return 1;
}

int rv_mixed_start(struct rv_conn *c)
{
	int ret;

	c->proto = RV_CONN_PROTO_NONE;
	ret = rv_loop_fd_add(c->cl->loop, c->fd, RV_LOOP_READ, rv_mixed_on_io, c, &c->w);
	if (ret != RV_OK)
		return ret;
	/* A program sends its greeting right after connect(): by the time we
	 * accept it has usually arrived, so read now instead of after one more
	 * poll round (an empty socket costs one recv).  May free c. */
	rv_mixed_on_io(c->w, c->fd, RV_LOOP_READ, c);
	return RV_OK;
}

int rv_mixed_build_reply(const struct rv_conn *c, enum rv_status st,
			 const struct rv_addr *bound, int tunnel_down, struct rv_buf *out)
{
	switch (c->proto) {
	case RV_CONN_PROTO_SOCKS5:
		return rv_socks5_build_reply(out, st, bound);
	case RV_CONN_PROTO_SOCKS4:
		return rv_socks4_build_reply(out, st, bound);
	case RV_CONN_PROTO_CONNECT:
		/* 503: no tunnel (or shutting down); else what the server said. */
		return rv_http_build_status(out, st != RV_STATUS_OK && tunnel_down ? 503 :
					    rv_http_status_from_rv(st), 0);
	default:
		return RV_OK;
	}
}
