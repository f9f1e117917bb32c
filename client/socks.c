/* socks.c - SOCKS5 negotiation on an accepted -D socket, once mixed.c saw
 * the 0x05 (owner: client helper).  Parsing is rv_socks5_feed (common/proxy/rv_socks5.c); this file only
 * moves bytes.  Bytes that arrive after the request are early data for the
 * stream (conn->in). */
#include "conn.h"
#include "rv_err.h"
#include "rv_log.h"
#include "udp.h"

/* The request is parsed and our replies are written: CONNECT opens a
 * stream; UDP ASSOCIATE hands the control connection to udp.c. */
static void rv_socks_done(struct rv_conn *c)
{
	struct rv_client *cl = c->cl;
	struct sockaddr_storage sa;
	struct rv_addr req;
	char peer[RV_CLI_ADDRSTR_MAX];
	int fd;

	if (c->nego->socks.cmd != RV_SOCKS5_CMD_UDP_ASSOCIATE) {
		rv_conn_start_stream(c);
		return;
	}
	fd = c->fd;
	sa = c->nego->peer_sa;
	req = c->nego->socks.dst;
	snprintf(peer, sizeof(peer), "%s", c->peer);
	c->fd = -1; /* rv_conn_free leaves it open */
	rv_conn_free(c);
	rv_udp_socks_take(cl->udp, fd, &req, &sa, peer);
}

void rv_socks_on_io(struct rv_loop_fd *w, int fd, unsigned ev, void *arg)
{
	struct rv_conn *c = arg;
	int r, ret;

	(void)w;
	(void)fd;
	if (c->nego->socks.state == RV_SOCKS5_DONE) {
		/* Only the tail of our replies was left to write. */
		r = rv_conn_flush(c);
		if (r < 0)
			rv_conn_free(c);
		else if (r > 0)
			rv_socks_done(c);
		return;
	}
	if (ev & (RV_LOOP_READ | RV_LOOP_ERROR)) {
		r = rv_conn_read(c);
		if (r < 0) {
			rv_log_debug("socks %s: closed during negotiation (%s)", c->peer,
				     rv_socks5_state_str(c->nego->socks.state));
			rv_conn_free(c);
			return;
		}
	}
	ret = rv_socks5_feed(&c->nego->socks, &c->in, &c->out);
	r = rv_conn_flush(c);
	if (r < 0) {
		rv_conn_free(c);
		return;
	}
	if (ret == RV_ERR_NEED_MORE) {
		(void)rv_loop_fd_set_events(c->w, RV_LOOP_READ | (r == 0 ? RV_LOOP_WRITE : 0));
		return;
	}
	if (ret == RV_ERR_DENIED && c->nego->socks.method == RV_SOCKS5_METHOD_USERPASS)
		rv_authlimit_failed(&c->cl->authlimit, (const struct sockaddr *)&c->nego->peer_sa,
				    c->peer);
	if (ret != RV_OK) {
		rv_conn_fail(c, RV_STATUS_OK, ret == RV_ERR_DENIED ? "SOCKS authentication refused" :
					      ret == RV_ERR_UNSUPPORTED ? "SOCKS request not supported" :
					      "not a valid SOCKS5 request");
		return;
	}
	c->nego->dst = c->nego->socks.dst;
	if (r == 0) {
		/* Finish writing the method/auth reply before the session owns fd. */
		(void)rv_loop_fd_set_events(c->w, RV_LOOP_WRITE);
		return;
	}
	rv_socks_done(c);
}

void rv_socks_init(struct rv_conn *c)
{
	rv_socks5_init(&c->nego->socks, &c->cl->socks_cfg);
}
