/* status.c - what `rvpn-server status` and /metrics show: the process,
 * every session, totals, the warm pool and DNS (see status.h).  Only reads
 * the server's state. */
#include "status.h"

#include <stdlib.h>
#include <string.h>

#include "rv_ctl.h"
#include "rv_ctl_fmt.h"
#include "rv_err.h"
#include "rv_log.h"
#include "rfwd.h"
#include "server_int.h"

/* Sessions listed one by one; the rest only count in the totals, so the
 * answer stays far below RV_CTL_ANSWER_MAX at any --max-sessions. */
enum { RV_SERVER_STATUS_LIST_MAX = 1000 };

struct rv_server_status {
	struct rv_server *srv;
	uint64_t start_ms;         /* loop ms at open */
	struct rv_ctl *ctl;        /* control socket, NULL with --control none */
	struct rv_ctl *metrics;    /* --metrics, or NULL */
};

/* One session's numbers. */
struct rv_server_status_sess {
	const struct rv_conn *c;
	struct rv_session_stats st;
	struct rv_ratchet_stats rs;
	uint64_t up_s;
};

static const char *rv_server_state_name(enum rv_server_state s)
{
	switch (s) {
	case RV_SERVER_RUNNING:
		return "running";
	case RV_SERVER_DRAINING:
		return "draining";
	case RV_SERVER_STOPPING:
		return "stopping";
	default:
		return "invalid";
	}
}

/* Totals over live sessions plus those already ended. */
struct rv_server_status_totals {
	uint64_t data_in, data_out, wire_in, wire_out;
	uint32_t sessions;
	/* Remote forwards (rfwd.c), over live sessions. */
	uint32_t listeners, rfwd_sessions, remote_streams_open;
	uint64_t remote_streams_opened;
};

static int rv_server_status_sess_get(const struct rv_conn *c, struct rv_server_status_sess *s)
{
	lws_usec_t now = lws_now_usecs();

	if (c->sess == NULL)
		return 0;
	memset(s, 0, sizeof(*s));
	s->c = c;
	rv_session_get_stats(c->sess, &s->st);
	rv_session_get_ratchet_stats(c->sess, &s->rs);
	s->up_s = c->t_open != 0 && now > c->t_open ? (uint64_t)(now - c->t_open) /
		LWS_US_PER_SEC : 0;
	return 1;
}

static void rv_server_status_totals(const struct rv_server *srv,
				    struct rv_server_status_totals *t)
{
	struct rv_server_status_sess s;
	const struct rv_conn *c;

	memset(t, 0, sizeof(*t));
	t->data_in = srv->data_in_ended;
	t->data_out = srv->data_out_ended;
	for (c = srv->conns; c != NULL; c = c->next) {
		if (!rv_server_status_sess_get(c, &s))
			continue;
		t->sessions++;
		t->data_in += s.st.data_in;
		t->data_out += s.st.data_out;
		t->wire_in += s.st.bytes_in;
		t->wire_out += s.st.bytes_out;
		t->listeners += rv_rfwd_listener_count(c->rfwd);
		t->rfwd_sessions += c->rfwd != NULL;
		t->remote_streams_open += rv_session_remote_stream_count(c->sess);
		t->remote_streams_opened += s.st.remote_streams_opened;
	}
}

static void rv_server_status_text(struct rv_server_status *st, struct rv_ctl_w *w)
{
	struct rv_server *srv = st->srv;
	struct rv_server_status_totals t;
	struct rv_server_status_sess s;
	struct rv_dns_stats ds;
	const struct rv_conn *c;
	char d1[32], d2[16], line[256];
	uint32_t listed = 0;

	rv_server_status_totals(srv, &t);
	rv_ctl_w_printf(w, "rvpn-server %s, %s, up %s\n", RVPN_VERSION,
			rv_server_state_name(srv->state),
			rv_ctl_fmt_duration((rv_loop_now_ms(srv->loop) - st->start_ms) / 1000, d1,
					    sizeof(d1)));
	rv_ctl_w_printf(w, "listening on %s, %s\n", srv->opts->listen,
			srv->opts->cert_file != NULL ? "TLS (wss://)" : "plain ws://");
	rv_ctl_w_printf(w, "sessions: %u open (max %u), %llu since start, %llu handshakes "
			"failed, %u pre-auth connections\n", srv->n_sessions,
			srv->opts->max_sessions, (unsigned long long)srv->sessions_total,
			(unsigned long long)srv->handshakes_failed, srv->n_preauth);
	rv_ctl_w_printf(w, "streams: %u open; refused: %llu (out of descriptors), %llu "
			"(per-key limit)\n", srv->streams_active,
			(unsigned long long)srv->streams_refused_fds,
			(unsigned long long)srv->streams_refused_key);
	rv_ctl_w_printf(w, "stream data: %llu bytes in, %llu bytes out (since start)\n",
			(unsigned long long)t.data_in, (unsigned long long)t.data_out);
	rv_ctl_w_printf(w, "udp: %s, %u associations open, %llu since start, %llu refused; "
			"%llu datagrams out, %llu in; dropped: %llu denied, %llu unresolved, "
			"%llu waiting for dns, %llu closed, %llu foreign, %llu send\n",
			srv->opts->no_udp ? "off" : "on", srv->udp.assocs_active,
			(unsigned long long)srv->udp.assocs_total,
			(unsigned long long)srv->udp.assocs_refused,
			(unsigned long long)srv->udp.dgrams_out, (unsigned long long)srv->udp.dgrams_in,
			(unsigned long long)srv->udp.dropped_denied,
			(unsigned long long)srv->udp.dropped_resolve,
			(unsigned long long)srv->udp.dropped_pending,
			(unsigned long long)srv->udp.dropped_closed,
			(unsigned long long)srv->udp.dropped_foreign,
			(unsigned long long)srv->udp.dropped_send);
	rv_ctl_w_printf(w, "remote forwards: %u listeners on %u sessions that agreed them; "
			"server streams %u open, %llu opened (live sessions)\n", t.listeners,
			t.rfwd_sessions, t.remote_streams_open,
			(unsigned long long)t.remote_streams_opened);
	if (srv->pool != NULL)
		rv_ctl_w_printf(w, "%s\n", rv_pool_stats_str(srv->pool, line, sizeof(line)));
	else
		rv_ctl_w_printf(w, "pool: off\n");
	rv_dns_get_stats(srv->dns, &ds);
	rv_ctl_w_printf(w, "dns: %llu queries, %llu cache hits, %llu lookups, %llu joined, "
			"%llu failed, %zu cached\n", (unsigned long long)ds.queries,
			(unsigned long long)ds.cache_hits, (unsigned long long)ds.lookups,
			(unsigned long long)ds.coalesced, (unsigned long long)ds.failures,
			ds.cache_entries);
	if (t.sessions == 0)
		return;
	rv_ctl_w_printf(w, "\n%-20s %-24s %10s %7s %14s %14s %7s %8s %6s\n", "KEY", "PEER", "UP",
			"STREAMS", "BYTES IN", "BYTES OUT", "RTT", "DH STEPS", "-R");
	for (c = srv->conns; c != NULL; c = c->next) {
		if (!rv_server_status_sess_get(c, &s))
			continue;
		if (listed++ == RV_SERVER_STATUS_LIST_MAX) {
			rv_ctl_w_printf(w, "(%u more not listed)\n",
					t.sessions - RV_SERVER_STATUS_LIST_MAX);
			break;
		}
		if (s.st.pongs_received > 0)
			snprintf(line, sizeof(line), "%ums", s.st.rtt_ms);
		else
			snprintf(line, sizeof(line), "-");
		if (c->rfwd != NULL)
			snprintf(d2, sizeof(d2), "%u", rv_rfwd_listener_count(c->rfwd));
		else
			snprintf(d2, sizeof(d2), "-");
		rv_ctl_w_printf(w, "%-20.20s %-24s %10s %7u %14llu %14llu %7s %8llu %6s%s\n",
				c->name[0] ? c->name : "-", c->peer,
				rv_ctl_fmt_duration(s.up_s, d1, sizeof(d1)), s.st.streams_active,
				(unsigned long long)s.st.data_in, (unsigned long long)s.st.data_out,
				line,
				(unsigned long long)(s.rs.dh_send_steps + s.rs.dh_recv_steps), d2,
				c->state == RV_CONN_CLOSING ? " (closing)" : "");
	}
}

static void rv_server_status_json(struct rv_server_status *st, struct rv_ctl_w *w)
{
	struct rv_server *srv = st->srv;
	struct rv_server_status_totals t;
	struct rv_server_status_sess s;
	struct rv_pool_stats ps;
	struct rv_dns_stats ds;
	const struct rv_conn *c;
	uint32_t listed = 0;
	int first = 1;

	rv_server_status_totals(srv, &t);
	rv_ctl_w_printf(w, "{\"program\":\"rvpn-server\",\"version\":");
	rv_ctl_w_json_str(w, RVPN_VERSION);
	rv_ctl_w_printf(w, ",\"state\":\"%s\",\"uptime_s\":%llu,\"listen\":",
			rv_server_state_name(srv->state),
			(unsigned long long)((rv_loop_now_ms(srv->loop) - st->start_ms) / 1000));
	rv_ctl_w_json_str(w, srv->opts->listen);
	rv_ctl_w_printf(w, ",\"tls\":%s,\"sessions\":%u,\"sessions_max\":%u,"
			"\"sessions_total\":%llu,\"handshakes_failed\":%llu,\"preauth\":%u,"
			"\"streams_open\":%u,\"streams_refused_fds\":%llu,"
			"\"streams_refused_key\":%llu,\"bytes_in\":%llu,\"bytes_out\":%llu",
			srv->opts->cert_file != NULL ? "true" : "false", srv->n_sessions,
			srv->opts->max_sessions, (unsigned long long)srv->sessions_total,
			(unsigned long long)srv->handshakes_failed, srv->n_preauth,
			srv->streams_active, (unsigned long long)srv->streams_refused_fds,
			(unsigned long long)srv->streams_refused_key,
			(unsigned long long)t.data_in, (unsigned long long)t.data_out);
	if (srv->pool != NULL) {
		rv_pool_get_stats(srv->pool, &ps);
		rv_ctl_w_printf(w, ",\"pool\":{\"requests\":%llu,\"hits\":%llu,\"misses\":%llu,"
				"\"evictions\":%llu,\"dead\":%llu,\"preconnects\":%llu,"
				"\"preconnect_failures\":%llu,\"spares\":%zu,\"connecting\":%zu,"
				"\"dests\":%zu}", (unsigned long long)ps.requests,
				(unsigned long long)ps.hits, (unsigned long long)ps.misses,
				(unsigned long long)ps.evictions, (unsigned long long)ps.dead,
				(unsigned long long)ps.preconnects,
				(unsigned long long)ps.preconnect_failures, ps.spares, ps.connecting,
				ps.dests);
	} else {
		rv_ctl_w_printf(w, ",\"pool\":null");
	}
	rv_ctl_w_printf(w, ",\"udp\":{\"enabled\":%s,\"assocs_open\":%u,\"assocs_total\":%llu,"
			"\"assocs_refused\":%llu,\"assocs_idle_closed\":%llu,\"datagrams_out\":%llu,"
			"\"datagrams_in\":%llu,\"bytes_out\":%llu,\"bytes_in\":%llu,"
			"\"dropped_denied\":%llu,\"dropped_resolve\":%llu,\"dropped_pending\":%llu,"
			"\"dropped_closed\":%llu,\"dropped_foreign\":%llu,\"dropped_send\":%llu}",
			srv->opts->no_udp ? "false" : "true", srv->udp.assocs_active,
			(unsigned long long)srv->udp.assocs_total,
			(unsigned long long)srv->udp.assocs_refused,
			(unsigned long long)srv->udp.assocs_idle_closed,
			(unsigned long long)srv->udp.dgrams_out, (unsigned long long)srv->udp.dgrams_in,
			(unsigned long long)srv->udp.bytes_out, (unsigned long long)srv->udp.bytes_in,
			(unsigned long long)srv->udp.dropped_denied,
			(unsigned long long)srv->udp.dropped_resolve,
			(unsigned long long)srv->udp.dropped_pending,
			(unsigned long long)srv->udp.dropped_closed,
			(unsigned long long)srv->udp.dropped_foreign,
			(unsigned long long)srv->udp.dropped_send);
	rv_ctl_w_printf(w, ",\"remote_forwards\":{\"listeners\":%u,\"sessions\":%u,"
			"\"streams_open\":%u,\"streams_opened\":%llu}", t.listeners,
			t.rfwd_sessions, t.remote_streams_open,
			(unsigned long long)t.remote_streams_opened);
	rv_dns_get_stats(srv->dns, &ds);
	rv_ctl_w_printf(w, ",\"dns\":{\"queries\":%llu,\"cache_hits\":%llu,\"lookups\":%llu,"
			"\"coalesced\":%llu,\"failures\":%llu,\"cache_entries\":%zu}",
			(unsigned long long)ds.queries, (unsigned long long)ds.cache_hits,
			(unsigned long long)ds.lookups, (unsigned long long)ds.coalesced,
			(unsigned long long)ds.failures, ds.cache_entries);
	rv_ctl_w_printf(w, ",\"session_list_max\":%d,\"session_list\":[",
			RV_SERVER_STATUS_LIST_MAX);
	for (c = srv->conns; c != NULL; c = c->next) {
		if (!rv_server_status_sess_get(c, &s))
			continue;
		if (listed++ == RV_SERVER_STATUS_LIST_MAX)
			break;
		rv_ctl_w_printf(w, "%s{\"key\":", first ? "" : ",");
		first = 0;
		rv_ctl_w_json_str(w, c->name);
		rv_ctl_w_printf(w, ",\"peer\":");
		rv_ctl_w_json_str(w, c->peer);
		rv_ctl_w_printf(w, ",\"state\":\"%s\",\"uptime_s\":%llu,\"streams_open\":%u,"
				"\"streams_opened\":%llu,\"bytes_in\":%llu,\"bytes_out\":%llu,"
				"\"wire_bytes_in\":%llu,\"wire_bytes_out\":%llu,\"msgs_dropped\":%llu,",
				c->state == RV_CONN_CLOSING ? "closing" : "open",
				(unsigned long long)s.up_s, s.st.streams_active,
				(unsigned long long)s.st.streams_opened,
				(unsigned long long)s.st.data_in, (unsigned long long)s.st.data_out,
				(unsigned long long)s.st.bytes_in, (unsigned long long)s.st.bytes_out,
				(unsigned long long)s.st.msgs_dropped);
		if (s.st.pongs_received > 0)
			rv_ctl_w_printf(w, "\"rtt_ms\":%u,", s.st.rtt_ms);
		else
			rv_ctl_w_printf(w, "\"rtt_ms\":null,");
		rv_ctl_w_printf(w, "\"dh_send_steps\":%llu,\"dh_recv_steps\":%llu,"
				"\"remote_forwards\":%s,\"listeners\":%u,\"remote_streams_open\":%u,"
				"\"remote_streams_opened\":%llu}",
				(unsigned long long)s.rs.dh_send_steps,
				(unsigned long long)s.rs.dh_recv_steps,
				c->rfwd != NULL ? "true" : "false", rv_rfwd_listener_count(c->rfwd),
				rv_session_remote_stream_count(c->sess),
				(unsigned long long)s.st.remote_streams_opened);
	}
	rv_ctl_w_printf(w, "]}\n");
}

static void rv_server_status_prom(struct rv_server_status *st, struct rv_ctl_w *w)
{
	struct rv_server *srv = st->srv;
	struct rv_server_status_totals t;
	struct rv_pool_stats ps;
	struct rv_dns_stats ds;

	rv_server_status_totals(srv, &t);
	memset(&ps, 0, sizeof(ps));
	if (srv->pool != NULL)
		rv_pool_get_stats(srv->pool, &ps);
	rv_dns_get_stats(srv->dns, &ds);
	rv_ctl_w_prom_meta(w, "rvpn_info", "gauge", "Program and version (always 1).");
	rv_ctl_w_prom_val(w, "rvpn_info", "program=\"rvpn-server\",version=\"" RVPN_VERSION "\"", 1);
	rv_ctl_w_prom_meta(w, "rvpn_uptime_seconds", "gauge", "Seconds since the server started.");
	rv_ctl_w_prom_val_ms(w, "rvpn_uptime_seconds", NULL,
			     rv_loop_now_ms(srv->loop) - st->start_ms);
	rv_ctl_w_prom(w, "rvpn_sessions", "gauge", "Authenticated sessions open.",
		      srv->n_sessions);
	rv_ctl_w_prom(w, "rvpn_sessions_total", "counter", "Sessions established since start.",
		      srv->sessions_total);
	rv_ctl_w_prom(w, "rvpn_handshakes_failed_total", "counter",
		      "Handshakes that failed since start.", srv->handshakes_failed);
	rv_ctl_w_prom(w, "rvpn_preauth_connections", "gauge",
		      "Connections not authenticated yet.", srv->n_preauth);
	rv_ctl_w_prom(w, "rvpn_streams_open", "gauge", "Streams connecting or open.",
		      srv->streams_active);
	rv_ctl_w_prom_meta(w, "rvpn_streams_refused_total", "counter",
			   "Streams refused by reason.");
	rv_ctl_w_prom_val(w, "rvpn_streams_refused_total", "reason=\"descriptors\"",
			  srv->streams_refused_fds);
	rv_ctl_w_prom_val(w, "rvpn_streams_refused_total", "reason=\"key_limit\"",
			  srv->streams_refused_key);
	rv_ctl_w_prom_meta(w, "rvpn_bytes_total", "counter",
			   "Stream payload bytes received from (in) and sent to (out) clients.");
	rv_ctl_w_prom_val(w, "rvpn_bytes_total", "direction=\"in\"", t.data_in);
	rv_ctl_w_prom_val(w, "rvpn_bytes_total", "direction=\"out\"", t.data_out);
	rv_ctl_w_prom(w, "rvpn_remote_listeners", "gauge",
		      "Remote forward (-R) listeners open, all sessions.", t.listeners);
	rv_ctl_w_prom(w, "rvpn_remote_streams_open", "gauge",
		      "Server-opened streams (-R) open on live sessions.", t.remote_streams_open);
	rv_ctl_w_prom(w, "rvpn_udp_associations", "gauge", "UDP associations open.",
		      srv->udp.assocs_active);
	rv_ctl_w_prom(w, "rvpn_udp_associations_total", "counter",
		      "UDP associations opened since start.", srv->udp.assocs_total);
	rv_ctl_w_prom(w, "rvpn_udp_associations_refused_total", "counter",
		      "UDP associations refused (limits).", srv->udp.assocs_refused);
	rv_ctl_w_prom_meta(w, "rvpn_udp_datagrams_total", "counter",
			   "UDP datagrams sent to destinations (out) and replies to clients (in).");
	rv_ctl_w_prom_val(w, "rvpn_udp_datagrams_total", "direction=\"out\"", srv->udp.dgrams_out);
	rv_ctl_w_prom_val(w, "rvpn_udp_datagrams_total", "direction=\"in\"", srv->udp.dgrams_in);
	rv_ctl_w_prom_meta(w, "rvpn_udp_dropped_total", "counter", "UDP datagrams dropped by reason.");
	rv_ctl_w_prom_val(w, "rvpn_udp_dropped_total", "reason=\"denied\"", srv->udp.dropped_denied);
	rv_ctl_w_prom_val(w, "rvpn_udp_dropped_total", "reason=\"unresolved\"",
			  srv->udp.dropped_resolve);
	rv_ctl_w_prom_val(w, "rvpn_udp_dropped_total", "reason=\"dns_pending\"",
			  srv->udp.dropped_pending);
	rv_ctl_w_prom_val(w, "rvpn_udp_dropped_total", "reason=\"closed\"", srv->udp.dropped_closed);
	rv_ctl_w_prom_val(w, "rvpn_udp_dropped_total", "reason=\"foreign\"",
			  srv->udp.dropped_foreign);
	rv_ctl_w_prom_val(w, "rvpn_udp_dropped_total", "reason=\"send\"", srv->udp.dropped_send);
	rv_ctl_w_prom(w, "rvpn_pool_requests_total", "counter", "Warm pool lookups.",
		      ps.requests);
	rv_ctl_w_prom(w, "rvpn_pool_hits_total", "counter", "Warm pool lookups served by a spare.",
		      ps.hits);
	rv_ctl_w_prom(w, "rvpn_pool_misses_total", "counter", "Warm pool lookups without a spare.",
		      ps.misses);
	rv_ctl_w_prom(w, "rvpn_pool_evictions_total", "counter", "Spare connections closed unused.",
		      ps.evictions);
	rv_ctl_w_prom(w, "rvpn_pool_spares", "gauge", "Spare connections ready now.", ps.spares);
	rv_ctl_w_prom(w, "rvpn_dns_queries_total", "counter", "Name resolutions asked for.",
		      ds.queries);
	rv_ctl_w_prom(w, "rvpn_dns_cache_hits_total", "counter",
		      "Name resolutions answered from the cache.", ds.cache_hits);
	rv_ctl_w_prom(w, "rvpn_dns_lookups_total", "counter", "Queries sent to DNS servers.",
		      ds.lookups);
	rv_ctl_w_prom(w, "rvpn_dns_failures_total", "counter", "Lookups that failed.",
		      ds.failures);
	rv_ctl_w_prom(w, "rvpn_dns_cache_entries", "gauge", "Names in the DNS cache.",
		      ds.cache_entries);
}

static int rv_server_status_answer(void *arg, enum rv_ctl_request req, struct rv_buf *out)
{
	struct rv_server_status *st = arg;
	struct rv_ctl_w w;

	rv_ctl_w_init(&w, out);
	if (req == RV_CTL_REQ_STATUS)
		rv_server_status_text(st, &w);
	else if (req == RV_CTL_REQ_STATUS_JSON)
		rv_server_status_json(st, &w);
	else if (req == RV_CTL_REQ_METRICS)
		rv_server_status_prom(st, &w);
	else
		return RV_ERR_INVALID_ARG;
	return w.err;
}

int rv_server_status_open(struct rv_server *srv, struct rv_server_status **out)
{
	const struct rv_server_opts *o = srv->opts;
	struct rv_server_status *st;
	int r;

	*out = NULL;
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return RV_ERR_NOMEM;
	st->srv = srv;
	st->start_ms = rv_loop_now_ms(srv->loop);
	r = rv_ctl_open_service(srv->loop, "server", o->control, o->metrics,
				(const struct sockaddr *)&o->metrics_sa, o->metrics_salen,
				rv_server_status_answer, st, &st->ctl, &st->metrics);
	if (r != RV_OK) {
		rv_server_status_close(st);
		return r;
	}
	*out = st;
	return RV_OK;
}

void rv_server_status_close(struct rv_server_status *st)
{
	if (st == NULL)
		return;
	rv_ctl_free(st->metrics);
	rv_ctl_free(st->ctl);
	free(st);
}
