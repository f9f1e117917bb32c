/* server.c - the rvpn-server process: lws context and vhost, shared
 * resources, signals (SIGHUP reloads authorized keys; SIGTERM/SIGINT drain
 * with GOAWAY for a bounded time, then exit 0). */
#include "server.h"

#include <signal.h>
#include <string.h>

#include "lws_loop.h"
#include "rv_err.h"
#include "rv_keypath.h"
#include "rv_log.h"
#include "rv_pool.h"
#include "rv_rlimit.h"
#include "rv_wire.h"
#include "rfwd.h"
#include "server_int.h"
#include "status.h"
#include "udp.h"
#include "worker.h"

static volatile sig_atomic_t rv_server_sig_term, rv_server_sig_hup;
static struct rv_loop *rv_server_sig_loop;

static void rv_server_on_signal(int sig)
{
	if (sig == SIGHUP)
		rv_server_sig_hup = 1;
	else
		rv_server_sig_term = 1;
	/* Ends the loop's wait; the main loop handles the flags. */
	rv_lws_loop_wake(rv_server_sig_loop);
}

static void rv_server_on_flush_timeout(lws_sorted_usec_list_t *sul)
{
	struct rv_server *srv = lws_container_of(sul, struct rv_server, sul_drain);

	rv_log_info("%u client(s) did not close in time; exiting", srv->n_sessions);
	srv->state = RV_SERVER_STOPPING;
}

/* Drain limit: every stream still open gets RESET(SHUTDOWN), each session
 * flushes and closes with WebSocket close 1000; exit when all are closed
 * or RV_SERVER_FLUSH_S later. */
static void rv_server_on_drain_timeout(lws_sorted_usec_list_t *sul)
{
	struct rv_server *srv = lws_container_of(sul, struct rv_server, sul_drain);

	rv_log_info("drain time over with %u client(s) left; resetting their streams",
		    srv->n_sessions);
	rv_server_conns_shutdown(srv);
	lws_sul_schedule(srv->ctx, 0, &srv->sul_drain, rv_server_on_flush_timeout,
			 (lws_usec_t)RV_SERVER_FLUSH_S * LWS_US_PER_SEC);
	rv_server_conns_check_drained(srv);
}

/* SIGHUP: re-read authorized_keys, end the sessions of removed keys. */
static void rv_server_reload_keys(struct rv_server *srv)
{
	struct rv_authkeys_change chg;
	char err[512];
	unsigned n;

	if (rv_authkeys_reload(srv->authkeys, &chg, err, sizeof(err)) != RV_OK) {
		rv_log_error("reload failed, keeping the old keys: %s", err);
		return;
	}
	rv_log_info("reloaded %s: %zu key(s), %zu added, %zu removed%s%s%s",
		    rv_authkeys_path(srv->authkeys), rv_authkeys_count(srv->authkeys),
		    chg.added, chg.removed, chg.text[0] ? ": " : "", chg.text,
		    chg.skipped ? "; some lines skipped (see warnings above)" : "");
	n = rv_server_conns_revoke(srv);
	if (n > 0)
		rv_log_info("ending %u session(s) of removed key(s)", n);
}

static void rv_server_start_drain(struct rv_server *srv)
{
	srv->state = RV_SERVER_DRAINING;
	rv_log_info("shutting down: GOAWAY to %u client(s), draining for up to %u s",
		    srv->n_sessions, srv->opts->drain_timeout_s);
	rv_server_conns_goaway(srv);
	lws_sul_schedule(srv->ctx, 0, &srv->sul_drain, rv_server_on_drain_timeout,
			 (lws_usec_t)srv->opts->drain_timeout_s * LWS_US_PER_SEC);
	rv_server_conns_check_drained(srv);
}

/* A worker: what the supervisor asked for (worker.h), also when the
 * messages arrived while a handshake waited for its answer. */
static void rv_server_worker_poll(struct rv_server *srv)
{
	struct rv_worker *w = srv->worker;

	if (w == NULL)
		return;
	if (w->want_snap) {
		w->want_snap = 0;
		rv_server_status_collect(srv, &w->shm->snaps[w->index]);
		rv_worker_send(w, RV_WMSG_SNAP_DONE, w->snap_seq);
	}
	if (w->want_reload) {
		w->want_reload = 0;
		rv_server_reload_keys(srv);
	}
	if (w->want_drain) {
		w->want_drain = 0;
		if (srv->state == RV_SERVER_RUNNING)
			rv_server_start_drain(srv);
	}
	if (w->want_stop) {
		w->want_stop = 0;
		srv->state = RV_SERVER_STOPPING;
	}
}

static void rv_server_on_worker_chan(struct rv_loop_fd *lw, int fd, unsigned revents, void *arg)
{
	struct rv_server *srv = arg;

	(void)lw;
	(void)fd;
	(void)revents;
	rv_worker_on_readable(srv->worker);
	rv_server_worker_poll(srv);
}

static void rv_server_handle_signals(struct rv_server *srv)
{
	rv_server_worker_poll(srv);
	if (rv_server_sig_hup) {
		rv_server_sig_hup = 0;
		/* The supervisor reloads, then tells every worker to. */
		if (srv->worker != NULL)
			rv_worker_send(srv->worker, RV_WMSG_RELOAD_REQ, 0);
		else
			rv_server_reload_keys(srv);
	}
	if (rv_server_sig_term && srv->state == RV_SERVER_RUNNING) {
		rv_server_sig_term = 0;
		rv_server_start_drain(srv);
	} else if (rv_server_sig_term && srv->state == RV_SERVER_DRAINING) {
		rv_server_sig_term = 0;
		rv_log_info("second signal: exiting now");
		srv->state = RV_SERVER_STOPPING;
	}
}

static void rv_server_lws_log(int level, const char *line)
{
	static struct rv_log_ratelimit rl;
	size_t n = strlen(line);

	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	/* lws errors can be caused by any peer (bad TLS, bad HTTP): limited. */
	if (level == LLL_ERR || level == LLL_WARN)
		rv_log_ratelimited(&rl, level == LLL_ERR ? RV_LOG_ERROR : RV_LOG_WARN,
				   "lws: %.*s", (int)n, line);
	else
		rv_log(RV_LOG_DEBUG, "lws: %.*s", (int)n, line);
}

static void rv_server_free_sessions(struct rv_server *srv)
{
	struct rv_conn *c;

	for (c = srv->conns; c != NULL; c = c->next) {
		c->state = RV_CONN_CLOSING;
		/* Listeners and UDP sockets live on the loop, which is freed
		 * before lws closes the WebSockets (rv_conn_on_closed_wsi). */
		rv_rfwd_free(c->rfwd);
		c->rfwd = NULL;
		rv_udp_free(c->udp);
		c->udp = NULL;
		rv_session_free(c->sess);
		c->sess = NULL;
	}
}

/* --state-dir: replay floors survive restarts (see PROTOCOL.md). */
int rv_server_setup_replay_state(const struct rv_server_opts *opts, struct rv_authkeys *ak)
{
	char path[RV_SERVER_STATE_DIR_MAX + 32], err[512];
	int r;

	if (opts->state_dir == NULL) {
		rv_log_warn("no --state-dir: replay protection is in memory only and does not "
			    "survive a restart");
		return RV_OK;
	}
	snprintf(path, sizeof(path), "%s/replay-state", opts->state_dir);
	r = rv_authkeys_set_state_file(ak, path, err, sizeof(err));
	if (r != RV_OK)
		rv_log_error("%s", err);
	return r;
}

static int rv_server_setup_shared(struct rv_server *srv)
{
	struct rv_server_opts *o = srv->opts;
	struct rv_dns_config dcfg;
	char err[256];
	size_t i;
	int r;

	r = rv_key_load_private_file(o->key_file, &srv->key, err, sizeof(err));
	if (r != RV_OK) {
		rv_log_error("%s", err);
		return r;
	}
	r = rv_authkeys_load(o->authorized_keys, &srv->authkeys, err, sizeof(err));
	if (r != RV_OK) {
		rv_log_error("%s", err);
		return r;
	}
	/* Workers: the supervisor checks timestamps and keeps the state. */
	if (srv->worker == NULL) {
		r = rv_server_setup_replay_state(o, srv->authkeys);
		if (r != RV_OK)
			return r;
	}
	memset(&dcfg, 0, sizeof(dcfg));
	for (i = 0; i < o->n_dns; i++)
		dcfg.servers[i] = o->dns_servers[i];
	dcfg.n_servers = o->n_dns;
	/* Explicit --dns: ask only those servers, no /etc/hosts or search list. */
	dcfg.dns_only = o->n_dns > 0;
	r = rv_dns_new(srv->loop, &dcfg, &srv->dns, err, sizeof(err));
	if (r != RV_OK) {
		rv_log_error("--dns: %s", err);
		return r;
	}
	if (o->pool_per_dest > 0 && o->pool_max > 0) {
		struct rv_pool_config pcfg;

		memset(&pcfg, 0, sizeof(pcfg));
		pcfg.per_dest = o->pool_per_dest;
		pcfg.max_spares = o->pool_max;
		pcfg.idle_timeout_ms = o->pool_idle_s * 1000u;
		pcfg.connect_timeout_ms = o->connect_timeout_s * 1000u;
		pcfg.nodelay = 1;
		memcpy(pcfg.ports, o->pool_ports, sizeof(pcfg.ports));
		pcfg.n_ports = o->n_pool_ports;
		r = rv_pool_new(srv->loop, &pcfg, &srv->pool);
		if (r != RV_OK)
			return r;
	}
	srv->dialer.pool = srv->pool;
	srv->dialer.loop = srv->loop;
	srv->dialer.dns = srv->dns;
	srv->dialer.acl = o->acl;
	if (rv_acl_watch(o->acl, srv->loop) != RV_OK)
		rv_log_warn("access rules: cannot watch this host's addresses");
	srv->dialer.connect.timeout_ms = o->connect_timeout_s * 1000u;
	srv->dialer.connect.nodelay = 1;
	return RV_OK;
}

/* The default path from the key, pre-auth accounting, the listening socket. */
static int rv_server_edge_open(struct rv_server *srv)
{
	int r;

	if (srv->opts->path == NULL) {
		r = rv_keypath_derive(srv->key.priv, srv->default_path);
		if (r != RV_OK)
			return r;
		srv->opts->path = srv->default_path;
	}
	r = rv_preauth_init(srv);
	if (r != RV_OK)
		return r;
	return rv_server_listen_open(srv);
}

int rv_server_run(struct rv_server_opts *opts)
{
	if (opts->workers > 1)
		return rv_server_supervise(opts);
	return rv_server_run_worker(opts, NULL);
}

int rv_server_run_worker(struct rv_server_opts *opts, struct rv_worker *w)
{
	static const struct lws_protocols *pprotocols[] = {
		/* [0] passes lws's socket reports to the loop (http.c) */
		&rv_server_http_protocol, &rv_server_ws_protocol, &rv_server_http_raw_protocol, NULL,
	};
	struct lws_context_creation_info info;
	struct rv_server srv;
	struct rv_server_status *status = NULL;
	char pub[RV_KEY_B64_SIZE];
	int r = RV_ERR_INTERNAL;

	memset(&srv, 0, sizeof(srv));
	srv.opts = opts;
	srv.worker = w;
	srv.state = RV_SERVER_RUNNING;
	lws_set_log_level(opts->verbose > 1 ? LLL_ERR | LLL_WARN | LLL_NOTICE : LLL_ERR,
			  rv_server_lws_log);
	signal(SIGPIPE, SIG_IGN);
	rv_rlimit_raise_nofile(RV_RLIMIT_NOFILE_WANT);
	rv_rlimit_pin_mmap_threshold();

	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
	if (opts->cert_file != NULL)
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.pt_serv_buf_size = 64 * 1024;
	/* Before the context: lws reports its sockets to the loop. */
	r = rv_lws_loop_new(&srv.loop);
	if (r != RV_OK)
		goto out;
	srv.ctx = lws_create_context(&info);
	if (srv.ctx == NULL) {
		rv_log_error("could not create the libwebsockets context");
		r = RV_ERR_INTERNAL;
		goto out;
	}
	r = rv_lws_loop_attach(srv.loop, srv.ctx);
	if (r != RV_OK)
		goto out;
	r = RV_ERR_INTERNAL;
	/* Before the socket is bound (single process): from then on a SIGTERM
	 * must drain, not kill.  Flags set early are handled before the loop. */
	rv_server_sig_loop = srv.loop;
	signal(SIGTERM, rv_server_on_signal);
	signal(SIGINT, rv_server_on_signal);
	signal(SIGHUP, rv_server_on_signal);

	if (opts->cert_file != NULL &&
	    rv_server_tls_check(opts->cert_file, opts->cert_key_file) != RV_OK) {
		r = RV_ERR_CONFIG;
		goto out;
	}
	memset(&info, 0, sizeof(info));
	info.vhost_name = "default";
	/* listen.c owns the listening socket and hands accepted ones over. */
	info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
	info.pprotocols = pprotocols;
	info.user = &srv;
	info.keepalive_timeout = RV_PREAUTH_HTTP_TIMEOUT_S;
	/* What the HTTP parser cannot take goes to the decoy's raw side. */
	info.options |= LWS_SERVER_OPTION_FALLBACK_TO_APPLY_LISTEN_ACCEPT_CONFIG;
	info.listen_accept_role = "raw-skt";
	info.listen_accept_protocol = RV_SERVER_HTTP_RAW_PROTOCOL;
	if (opts->cert_file != NULL) {
		/* lws enables TLS per vhost only with this option set here too. */
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.ssl_cert_filepath = opts->cert_file;
		info.ssl_private_key_filepath = opts->cert_key_file;
	}
	srv.vh = lws_create_vhost(srv.ctx, &info);
	if (srv.vh == NULL) {
		rv_log_error("could not set up the web server%s",
			     opts->cert_file ? " (the certificate or its key could not be loaded)" : "");
		goto out;
	}
	r = rv_server_setup_shared(&srv);
	if (r != RV_OK)
		goto out;
	/* Workers: the supervisor answers on the control socket. */
	if (w == NULL) {
		r = rv_server_status_open(&srv, &status);
		if (r != RV_OK)
			goto out;
	}
	r = rv_server_edge_open(&srv);
	if (r != RV_OK)
		goto out;
	if (w != NULL) {
		r = rv_loop_fd_add(srv.loop, w->chan, RV_LOOP_READ, rv_server_on_worker_chan, &srv,
				   &srv.worker_w);
		if (r != RV_OK)
			goto out;
		rv_worker_send(w, RV_WMSG_READY, 0);
	}


	rv_key_to_base64(srv.key.pub, pub);
	rv_log(w != NULL && w->index > 0 ? RV_LOG_DEBUG : RV_LOG_INFO,
	       "serving %s, client URL path %s%s, %s; public key %s; %zu authorized key(s)",
	       opts->listen, opts->path,
	       opts->path == srv.default_path ? " (derived from the key; --path overrides)" : "",
	       opts->cert_file ? "TLS (wss://)" :
	       "plain ws:// without TLS (put a TLS-terminating proxy in front)",
	       pub, rv_authkeys_count(srv.authkeys));
	rv_server_handle_signals(&srv);
	while (srv.state != RV_SERVER_STOPPING) {
		if (rv_lws_loop_service(srv.loop, -1) < 0)
			break;
		rv_server_handle_signals(&srv);
	}
	r = RV_OK;
out:
	rv_server_status_close(status);
	if (srv.dns != NULL) {
		struct rv_dns_stats ds;

		rv_dns_get_stats(srv.dns, &ds);
		rv_log_info("dns: %llu queries, %llu cache hits",
			    (unsigned long long)ds.queries, (unsigned long long)ds.cache_hits);
	}
	rv_server_sig_loop = NULL;
	if (srv.pool != NULL) {
		char line[512];

		rv_log_info("%s", rv_pool_stats_str(srv.pool, line, sizeof(line)));
	}
	/* Sessions first (their dials use DNS and the pool), then everything
	 * watching fds through the loop, then the loop, then lws itself. */
	rv_server_free_sessions(&srv);
	rv_loop_fd_del(srv.worker_w);
	rv_server_listen_close(&srv);
	rv_pool_free(srv.pool);
	rv_dns_free(srv.dns);
	rv_acl_unwatch(opts->acl);
	rv_lws_loop_free(srv.loop);
	rv_preauth_cleanup(&srv); /* its timers live in the context */
	if (srv.ctx != NULL) {
		lws_sul_cancel(&srv.sul_drain);
		lws_context_destroy(srv.ctx);
	}
	rv_perkey_clear(&srv.perkeys);
	rv_authkeys_free(srv.authkeys);
	rv_keypair_wipe(&srv.key);
	if (opts->path == srv.default_path)
		opts->path = NULL; /* pointed into srv */
	if (r == RV_OK && w != NULL)
		rv_log_debug("worker %u stopped after %llu session(s)", w->index,
			     (unsigned long long)srv.sessions_total);
	else if (r == RV_OK)
		rv_log_info("stopped after %llu session(s)", (unsigned long long)srv.sessions_total);
	return r;
}
