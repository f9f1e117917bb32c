/* socks4.c - SOCKS4 / SOCKS4a on an accepted -D socket, once mixed.c saw
 * the 0x04 (owner: client helper).  Parsing is rv_socks4_parse_request
 * (common/proxy/rv_socks4.c); the reply (90/91) is sent from conn.c when
 * the stream's PROXY_RESPONSE arrives.  SOCKS4 carries no password: with
 * --socks-auth it is refused with 91 (logged, rate-limited). */
#include "conn.h"
#include "rv_err.h"
#include "rv_log.h"
#include "rv_socks4.h"

void rv_socks4_on_io(struct rv_loop_fd *w, int fd, unsigned ev, void *arg)
{
	struct rv_conn *c = arg;
	struct rv_socks4_request req;
	enum rv_status reply = RV_STATUS_GENERAL_FAILURE;
	const char *why = NULL;
	uint64_t n;
	int r, ret;

	(void)w;
	(void)fd;
	if (ev & (RV_LOOP_READ | RV_LOOP_ERROR)) {
		r = rv_conn_read(c);
		if (r < 0) {
			rv_log_debug("socks4 %s: closed during negotiation", c->peer);
			rv_conn_free(c);
			return;
		}
	}
	if (c->cl->socks_cfg.require_auth) {
		if (rv_client_ratelog(c->cl, &c->cl->log_socks4, &n))
			rv_log_warn("socks4 %s: refused: SOCKS4 has no password and --socks-auth is "
				    "set; use SOCKS5 or HTTP with credentials (%llu more refused since "
				    "the last message)", c->peer, (unsigned long long)n);
		(void)rv_socks4_build_reply(&c->out, RV_STATUS_NOT_ALLOWED, NULL);
		rv_conn_fail(c, RV_STATUS_OK, "SOCKS4 refused: authentication required");
		return;
	}
	ret = rv_socks4_parse_request(&c->in, &req, &reply, &why);
	if (ret == RV_ERR_NEED_MORE)
		return; /* the request is far smaller than c->in */
	if (ret != RV_OK) {
		(void)rv_socks4_build_reply(&c->out, reply, NULL);
		rv_conn_fail(c, RV_STATUS_OK, why != NULL ? why : "not a valid SOCKS4 request");
		return;
	}
	c->nego->dst = req.dst;
	rv_conn_start_stream(c);
}
