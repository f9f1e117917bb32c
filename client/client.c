/* client.c - rvpn-client run loop: lws context, event loop, listeners,
 * tunnel, signals and an orderly teardown (see client.h). */
#include "client.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "conn.h"
#include "listen.h"
#include "rfwd.h"
#include "lws_loop.h"
#include "rv_err.h"
#include "rv_log.h"
#include "rv_rlimit.h"
#include "status.h"
#include "tunnel.h"
#include "udp.h"

#define RV_CLIENT_SYSTEM_CA "/etc/ssl/certs/ca-certificates.crt"

enum {
	RV_CLIENT_SERV_BUF = 64 * 1024,
	RV_CLIENT_DRAIN_TICK_MS = 100, /* drain check while nothing else wakes us */
};

static void rv_client_lws_log(int level, const char *line)
{
	size_t n = strlen(line);

	/* lws lines end in '\n'; ours add their own. */
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	rv_log(level == LLL_ERR ? RV_LOG_ERROR : level == LLL_WARN ? RV_LOG_WARN : RV_LOG_DEBUG,
	       "lws: %.*s", (int)n, line);
}

/* lws' mbedTLS wrapper printf()s certificate parse errors to stdout, with
 * no newline; we report a bad CA file ourselves.  Send fd 1 to /dev/null
 * while lws loads it (stdout carries nothing else at this point). */
static struct lws_vhost *rv_client_create_vhost_quiet(struct lws_context *ctx,
						       const struct lws_context_creation_info *info)
{
	struct lws_vhost *vh;
	int saved, null_fd;

	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (saved >= 0 && null_fd >= 0 && dup2(null_fd, STDOUT_FILENO) < 0) {
		close(saved);
		saved = -1;
	}
	vh = lws_create_vhost(ctx, info);
	fflush(stdout);
	if (saved >= 0 && null_fd >= 0)
		(void)dup2(saved, STDOUT_FILENO);
	if (saved >= 0)
		close(saved);
	if (null_fd >= 0)
		close(null_fd);
	return vh;
}

/* First signal: stop accepting, refuse what has no stream yet, GOAWAY,
 * and let open streams finish for up to RV_CLIENT_DRAIN_MS. */
static void rv_client_begin_drain(struct rv_client *cl, int signo)
{
	uint32_t n = 0;

	cl->draining = 1;
	cl->drain_deadline = rv_loop_now_ms(cl->loop) + RV_CLIENT_DRAIN_MS;
	rv_listeners_close(cl);
	rv_conn_drain(cl);
	rv_udp_drain(cl->udp);
	rv_tunnel_shutdown(cl->tunnel);
	rv_loop_timer_set(cl->drain_tick, RV_CLIENT_DRAIN_TICK_MS);
	(void)rv_tunnel_drained(cl->tunnel, &n);
	rv_log_info("%s: shutting down: %u stream(s) may finish within %d s (send the signal "
		    "again to quit at once)", strsignal(signo), n, RV_CLIENT_DRAIN_MS / 1000);
}

/* SIGINT/SIGTERM arrive through a signalfd watched by the loop: no work in
 * a signal handler, no race with the poll.  A second one quits at once. */
static void rv_client_on_signal(struct rv_loop_fd *w, int fd, unsigned ev, void *arg)
{
	struct rv_client *cl = arg;
	struct signalfd_siginfo si;

	(void)w;
	(void)ev;
	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (cl->stdio != NULL) {
			cl->stop = 1; /* -W: one stream, nothing to drain */
		} else if (!cl->draining) {
			rv_client_begin_drain(cl, (int)si.ssi_signo);
		} else if (cl->stop == 0) {
			rv_log_info("%s again: quitting now", strsignal((int)si.ssi_signo));
			cl->stop = 1;
		}
	}
	rv_lws_loop_wake(cl->loop);
}

/* Draining is over when no stream is left (and our last messages are
 * written) or the time is up. */
static int rv_client_drain_done(struct rv_client *cl)
{
	uint32_t n = 0;

	if (rv_tunnel_drained(cl->tunnel, &n)) {
		rv_log_info("all streams finished; exiting");
		return 1;
	}
	if (rv_loop_now_ms(cl->loop) >= cl->drain_deadline) {
		rv_log_info("drain time (%d s) over with %u stream(s) open; exiting",
			    RV_CLIENT_DRAIN_MS / 1000, n);
		return 1;
	}
	return 0;
}

static void rv_client_on_drain_tick(struct rv_loop_timer *t, void *arg)
{
	struct rv_client *cl = arg;

	/* Only wakes the loop, which checks rv_client_drain_done. */
	rv_lws_loop_wake(cl->loop);
	rv_loop_timer_set(t, RV_CLIENT_DRAIN_TICK_MS);
}

static int rv_client_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	signal(SIGPIPE, SIG_IGN);
	if (sigprocmask(SIG_BLOCK, set, NULL) != 0)
		return -1;
	return signalfd(-1, set, SFD_NONBLOCK | SFD_CLOEXEC);
}

static int rv_client_context(struct rv_client *cl)
{
	static const struct lws_protocols protocols[] = {
		RV_TUNNEL_PROTOCOL, /* [0]: passes lws's socket reports to the loop */
		{ NULL, NULL, 0, 0, 0, NULL, 0 },
	};
	struct lws_context_creation_info info;
	const struct rv_client_opts *o = cl->opts;

	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
	if (o->any_wss)
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.pt_serv_buf_size = RV_CLIENT_SERV_BUF;
	info.user = cl;
	cl->ctx = lws_create_context(&info);
	if (cl->ctx == NULL) {
		rv_log_error("cannot create the libwebsockets context");
		return RV_ERR_INTERNAL;
	}
	memset(&info, 0, sizeof(info));
	info.vhost_name = "client";
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.user = cl;
	if (o->any_wss) {
		info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		/* mbedTLS has no default trust store: always name one. */
		info.client_ssl_ca_filepath = o->ca_file != NULL ? o->ca_file : RV_CLIENT_SYSTEM_CA;
		if (access(info.client_ssl_ca_filepath, R_OK) != 0) {
			rv_log_error("%s %s: %s", o->ca_file != NULL ? "--ca" : "CA bundle",
				     info.client_ssl_ca_filepath, strerror(errno));
			return RV_ERR_CONFIG;
		}
	}
	cl->vh = rv_client_create_vhost_quiet(cl->ctx, &info);
	if (cl->vh == NULL) {
		if (o->any_wss)
			rv_log_error("cannot load the CA certificates from %s (PEM expected)",
				     info.client_ssl_ca_filepath);
		else
			rv_log_error("cannot create the libwebsockets client vhost");
		return RV_ERR_CONFIG;
	}
	return RV_OK;
}

/* A new session: UDP associations restart on it, waiting streams go. */
static void rv_client_on_up(struct rv_client *cl)
{
	rv_udp_on_up(cl->udp);
	rv_conn_dispatch_waiting(cl);
}

static const struct rv_tunnel_hooks rv_client_tunnel_hooks = {
	.on_up = rv_client_on_up,
	.on_stream_response = rv_conn_on_stream_response,
	.on_stream_closed = rv_conn_on_stream_closed,
	.on_session_up = rv_client_rfwd_on_session_up,
	.on_listen = rv_client_rfwd_on_listen,
	.on_remote_connect = rv_client_rfwd_on_remote_connect,
	.on_remote_closed = rv_client_rfwd_on_stream_closed,
	.on_datagram = rv_udp_on_datagram,
	.on_datagram_close = rv_udp_on_datagram_close,
};

/* stdio_code: NULL for the usual mode; for -W it gets the exit status. */
static int rv_client_run_mode(const struct rv_client_opts *opts, int *stdio_code)
{
	struct rv_client cl;
	struct rv_loop_fd *sigw = NULL;
	struct rv_client_status *status = NULL;
	sigset_t set;
	int sfd = -1, ret = RV_ERR_IO;


	memset(&cl, 0, sizeof(cl));
	cl.opts = opts;
	cl.socks_cfg.require_auth = opts->socks_auth;
	cl.socks_cfg.user = opts->socks_user;
	cl.socks_cfg.user_len = strlen(opts->socks_user);
	cl.socks_cfg.pass = opts->socks_pass;
	cl.socks_cfg.pass_len = strlen(opts->socks_pass);
	cl.socks_cfg.udp = 1; /* answered by udp.c: 0x07 if the server has no UDP */
	lws_set_log_level(opts->verbose >= 2 ? LLL_ERR | LLL_WARN | LLL_NOTICE | LLL_INFO : 0,
			  rv_client_lws_log);
	/* Before lws sizes its fd table from the limit. */
	rv_rlimit_raise_nofile(RV_RLIMIT_NOFILE_WANT);
	rv_rlimit_pin_mmap_threshold();
	sfd = rv_client_signals(&set);
	if (sfd < 0) {
		rv_log_error("cannot set up signal handling: %s", strerror(errno));
		goto out;
	}
	/* Before the context: lws reports its sockets to the loop. */
	if ((ret = rv_lws_loop_new(&cl.loop)) != RV_OK) {
		rv_log_error("cannot create the event loop: %s", rv_err_str(ret));
		goto out;
	}
	if ((ret = rv_client_context(&cl)) != RV_OK ||
	    (ret = rv_lws_loop_attach(cl.loop, cl.ctx)) != RV_OK)
		goto out;
	if ((ret = rv_loop_fd_add(cl.loop, sfd, RV_LOOP_READ, rv_client_on_signal, &cl, &sigw)) !=
	    RV_OK ||
	    (ret = rv_loop_timer_new(cl.loop, rv_client_on_drain_tick, &cl,
					 &cl.drain_tick)) != RV_OK ||
	    (ret = rv_authlimit_init(&cl.authlimit, cl.loop)) != RV_OK)
		goto out;
	if (stdio_code != NULL) {
		if ((ret = rv_stdio_start(&cl)) != RV_OK)
			goto out;
	} else if ((ret = rv_client_status_open(&cl, &status)) != RV_OK ||
		   (ret = rv_listeners_open(&cl)) != RV_OK ||
		   (ret = rv_udp_new(&cl, &cl.udp)) != RV_OK) {
		goto out;
	}
	for (size_t i = 0; i < opts->n_servers; i++)
		if (opts->servers[i].url.scheme == RV_CLI_URL_WS)
			rv_log_info("note: %s is plain ws://; the tunnel is still encrypted and "
				    "authenticated end to end by rvpn", opts->servers[i].text);
	if (opts->any_wss && opts->insecure_tls)
		rv_log_warn("--insecure-tls: the TLS certificate is not checked (the server's "
			    "rvpn key still is)");
	if (opts->n_rfwd > 0 && (ret = rv_client_rfwd_new(&cl, &cl.rfwd)) != RV_OK)
		goto out;
	if ((ret = rv_tunnel_new(&cl, stdio_code != NULL ? rv_stdio_hooks() :
							 &rv_client_tunnel_hooks,
				 &cl.tunnel)) != RV_OK)
		goto out;
	while (cl.stop == 0) {
		if (rv_lws_loop_service(cl.loop, -1) < 0)
			break;
		if (cl.draining && rv_client_drain_done(&cl))
			break;
	}
	ret = RV_OK;
out:
	rv_client_status_close(status);
	rv_listeners_close(&cl);
	cl.stop = 1;
	/* Session first: it closes the streams' fds and frees their conns. */
	rv_tunnel_free(cl.tunnel);
	rv_client_rfwd_free(cl.rfwd); /* after the streams that dial through it */
	if (stdio_code != NULL)
		*stdio_code = rv_stdio_finish(&cl, ret);
	rv_conn_free_all(&cl);
	rv_udp_free(cl.udp);
	rv_authlimit_cleanup(&cl.authlimit);
	rv_loop_timer_free(cl.drain_tick);
	rv_loop_fd_del(sigw);
	rv_lws_loop_free(cl.loop);
	if (cl.ctx != NULL)
		lws_context_destroy(cl.ctx);
	if (sfd >= 0)
		close(sfd);
	return ret;
}

int rv_client_run(const struct rv_client_opts *opts)
{
	return rv_client_run_mode(opts, NULL);
}

int rv_client_run_stdio(const struct rv_client_opts *opts)
{
	int code = 1;

	(void)rv_client_run_mode(opts, &code);
	return code;
}
