/* status.c - what `rvpn-server status` and /metrics show: the process,
 * every session, totals, the warm pool and DNS (see status.h).  Collect
 * reads the server's state into a flat snapshot (status_snap.h); format
 * answers from one or many snapshots and trusts none of their fields. */
#include "status.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "rv_ctl.h"
#include "rv_ctl_fmt.h"
#include "rv_err.h"
#include "rv_log.h"
#include "rfwd.h"
#include "server_int.h"

struct rv_server_status {
	struct rv_server *srv;     /* single process, else NULL */
	uint64_t start_ms;         /* single process: loop ms at open */
	rv_server_status_gather_cb gather; /* supervisor mode, else NULL */
	void *gather_arg;
	const struct rv_server_opts *opts;
	struct rv_server_snap *snaps; /* n_snaps of them, owned */
	size_t n_snaps;
	struct rv_ctl *ctl;        /* control socket, NULL with --control none */
	struct rv_ctl *metrics;    /* --metrics, or NULL */
};

/* The snapshots summed.  Read once from the (untrusted) snapshots; the
 * formatters print only these and bounded copies of the rows. */
struct rv_server_status_sum {
	uint64_t n_sessions, n_preauth, streams_active;
	uint64_t sessions_total, handshakes_failed;
	uint64_t streams_refused_fds, streams_refused_key;
	uint64_t data_in, data_out, wire_in, wire_out;
	uint64_t sessions;
	uint64_t listeners, rfwd_sessions, remote_streams_open, remote_streams_opened;
	struct rv_udp_counters udp;
	int has_pool;
	struct rv_pool_stats pool;
	struct rv_dns_stats dns;
};

/* Walks the session rows of every snapshot in order, at most
 * RV_SERVER_STATUS_LIST_MAX in all, each copied with its strings ended. */
struct rv_server_status_rows {
	const struct rv_server_snap *snaps;
	size_t n, i;
	uint32_t j, listed;
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

static void rv_server_status_collect_row(const struct rv_conn *c, lws_usec_t now,
					 struct rv_server_snap_sess *row)
{
	struct rv_session_stats ss;
	struct rv_ratchet_stats rs;

	rv_session_get_stats(c->sess, &ss);
	rv_session_get_ratchet_stats(c->sess, &rs);
	memset(row, 0, sizeof(*row));
	snprintf(row->key, sizeof(row->key), "%s", c->name);
	snprintf(row->peer, sizeof(row->peer), "%s", c->peer);
	row->closing = c->state == RV_CONN_CLOSING;
	row->rtt_known = ss.pongs_received > 0;
	row->rfwd = c->rfwd != NULL;
	row->up_s = c->t_open != 0 && now > c->t_open ?
		(uint64_t)(now - c->t_open) / LWS_US_PER_SEC : 0;
	row->streams_open = ss.streams_active;
	row->streams_opened = ss.streams_opened;
	row->data_in = ss.data_in;
	row->data_out = ss.data_out;
	row->wire_in = ss.bytes_in;
	row->wire_out = ss.bytes_out;
	row->msgs_dropped = ss.msgs_dropped;
	row->rtt_ms = ss.rtt_ms;
	row->dh_send_steps = rs.dh_send_steps;
	row->dh_recv_steps = rs.dh_recv_steps;
	row->listeners = rv_rfwd_listener_count(c->rfwd);
	row->remote_streams_open = rv_session_remote_stream_count(c->sess);
	row->remote_streams_opened = ss.remote_streams_opened;
}

void rv_server_status_collect(const struct rv_server *srv, struct rv_server_snap *out)
{
	struct rv_server_snap_sess past, *row;
	lws_usec_t now = lws_now_usecs();
	const struct rv_conn *c;

	/* Rows beyond n_rows are never read: zero only what is written. */
	memset(out, 0, offsetof(struct rv_server_snap, rows));
	out->n_sessions = srv->n_sessions;
	out->n_preauth = srv->n_preauth;
	out->streams_active = srv->streams_active;
	out->sessions_total = srv->sessions_total;
	out->handshakes_failed = srv->handshakes_failed;
	out->streams_refused_fds = srv->streams_refused_fds;
	out->streams_refused_key = srv->streams_refused_key;
	out->data_in = srv->data_in_ended;
	out->data_out = srv->data_out_ended;
	out->udp = srv->udp;
	if (srv->pool != NULL) {
		out->has_pool = 1;
		rv_pool_get_stats(srv->pool, &out->pool);
	}
	rv_dns_get_stats(srv->dns, &out->dns);
	for (c = srv->conns; c != NULL; c = c->next) {
		if (c->sess == NULL)
			continue;
		/* Past the list a session still counts in the totals. */
		row = out->n_rows < RV_SERVER_STATUS_LIST_MAX ? &out->rows[out->n_rows++] : &past;
		rv_server_status_collect_row(c, now, row);
		out->sessions++;
		out->data_in += row->data_in;
		out->data_out += row->data_out;
		out->wire_in += row->wire_in;
		out->wire_out += row->wire_out;
		out->listeners += row->listeners;
		out->rfwd_sessions += row->rfwd;
		out->remote_streams_open += row->remote_streams_open;
		out->remote_streams_opened += row->remote_streams_opened;
	}
}

static uint32_t rv_server_status_nrows(const struct rv_server_snap *s)
{
	uint32_t n = s->n_rows;

	return n <= RV_SERVER_STATUS_LIST_MAX ? n : RV_SERVER_STATUS_LIST_MAX;
}

static void rv_server_status_sum(const struct rv_server_snap *snaps, size_t n,
				 struct rv_server_status_sum *t)
{
	const struct rv_server_snap *s;
	size_t i;

	memset(t, 0, sizeof(*t));
	for (i = 0; i < n; i++) {
		s = &snaps[i];
		t->n_sessions += s->n_sessions;
		t->n_preauth += s->n_preauth;
		t->streams_active += s->streams_active;
		t->sessions_total += s->sessions_total;
		t->handshakes_failed += s->handshakes_failed;
		t->streams_refused_fds += s->streams_refused_fds;
		t->streams_refused_key += s->streams_refused_key;
		t->data_in += s->data_in;
		t->data_out += s->data_out;
		t->wire_in += s->wire_in;
		t->wire_out += s->wire_out;
		t->sessions += s->sessions;
		t->listeners += s->listeners;
		t->rfwd_sessions += s->rfwd_sessions;
		t->remote_streams_open += s->remote_streams_open;
		t->remote_streams_opened += s->remote_streams_opened;
		t->udp.assocs_active += s->udp.assocs_active;
		t->udp.fds += s->udp.fds;
		t->udp.assocs_total += s->udp.assocs_total;
		t->udp.assocs_refused += s->udp.assocs_refused;
		t->udp.assocs_idle_closed += s->udp.assocs_idle_closed;
		t->udp.dgrams_out += s->udp.dgrams_out;
		t->udp.bytes_out += s->udp.bytes_out;
		t->udp.dgrams_in += s->udp.dgrams_in;
		t->udp.bytes_in += s->udp.bytes_in;
		t->udp.dropped_denied += s->udp.dropped_denied;
		t->udp.dropped_resolve += s->udp.dropped_resolve;
		t->udp.dropped_pending += s->udp.dropped_pending;
		t->udp.dropped_closed += s->udp.dropped_closed;
		t->udp.dropped_foreign += s->udp.dropped_foreign;
		t->udp.dropped_send += s->udp.dropped_send;
		if (s->has_pool != 0) {
			t->has_pool = 1;
			t->pool.requests += s->pool.requests;
			t->pool.hits += s->pool.hits;
			t->pool.misses += s->pool.misses;
			t->pool.evictions += s->pool.evictions;
			t->pool.dead += s->pool.dead;
			t->pool.preconnects += s->pool.preconnects;
			t->pool.preconnect_failures += s->pool.preconnect_failures;
			t->pool.target_spoke += s->pool.target_spoke;
			t->pool.blacklisted += s->pool.blacklisted;
			t->pool.miss_connects += s->pool.miss_connects;
			t->pool.miss_connect_us += s->pool.miss_connect_us;
			t->pool.saved_us += s->pool.saved_us;
			t->pool.spares += s->pool.spares;
			t->pool.connecting += s->pool.connecting;
			t->pool.dests += s->pool.dests;
		}
		t->dns.queries += s->dns.queries;
		t->dns.cache_hits += s->dns.cache_hits;
		t->dns.lookups += s->dns.lookups;
		t->dns.coalesced += s->dns.coalesced;
		t->dns.failures += s->dns.failures;
		t->dns.cache_entries += s->dns.cache_entries;
	}
}

static void rv_server_status_rows_init(struct rv_server_status_rows *it,
				       const struct rv_server_snap *snaps, size_t n)
{
	memset(it, 0, sizeof(*it));
	it->snaps = snaps;
	it->n = n;
}

/* The next row copied into *row (strings NUL-terminated), or 0 when all
 * are done or RV_SERVER_STATUS_LIST_MAX were listed. */
static int rv_server_status_rows_next(struct rv_server_status_rows *it,
				      struct rv_server_snap_sess *row)
{
	if (it->listed >= RV_SERVER_STATUS_LIST_MAX)
		return 0;
	while (it->i < it->n && it->j >= rv_server_status_nrows(&it->snaps[it->i])) {
		it->i++;
		it->j = 0;
	}
	if (it->i >= it->n)
		return 0;
	memcpy(row, &it->snaps[it->i].rows[it->j], sizeof(*row));
	row->key[sizeof(row->key) - 1] = '\0';
	row->peer[sizeof(row->peer) - 1] = '\0';
	it->j++;
	it->listed++;
	return 1;
}

/* Same text as rv_pool_stats_str, from summed numbers. */
static const char *rv_server_status_pool_str(const struct rv_pool_stats *st, char *out,
					     size_t outlen)
{
	snprintf(out, outlen,
		 "pool: %llu requests, %llu hits (%.1f%%), %llu misses, %.2f ms saved per hit "
		 "(miss connect %.2f ms avg), %llu pre-connects (%llu failed), %llu evictions "
		 "(%llu dead, %llu touched by target), %llu blacklisted, %zu spares now",
		 (unsigned long long)st->requests, (unsigned long long)st->hits,
		 st->requests ? 100.0 * (double)st->hits / (double)st->requests : 0.0,
		 (unsigned long long)st->misses,
		 st->hits ? (double)st->saved_us / 1000.0 / (double)st->hits : 0.0,
		 st->miss_connects ?
			 (double)st->miss_connect_us / 1000.0 / (double)st->miss_connects : 0.0,
		 (unsigned long long)st->preconnects, (unsigned long long)st->preconnect_failures,
		 (unsigned long long)st->evictions, (unsigned long long)st->dead,
		 (unsigned long long)st->target_spoke, (unsigned long long)st->blacklisted,
		 st->spares);
	return out;
}

/* The head's worker rows, clamped: it is filled by the supervisor. */
static uint32_t rv_server_status_worker_rows(const struct rv_server_status_head *h)
{
	return h->n_worker_rows < RV_SERVER_STATUS_HEAD_WORKERS ? h->n_worker_rows :
	       RV_SERVER_STATUS_HEAD_WORKERS;
}

static void rv_server_status_text(const struct rv_server_opts *o,
				  const struct rv_server_status_head *h,
				  const struct rv_server_snap *snaps, size_t n, struct rv_ctl_w *w)
{
	struct rv_server_status_sum t;
	struct rv_server_status_rows it;
	struct rv_server_snap_sess s;
	char d1[32], d2[16], line[256];

	rv_server_status_sum(snaps, n, &t);
	rv_ctl_w_printf(w, "rvpn-server %s, %s, up %s\n", RVPN_VERSION,
			rv_server_state_name(h->state),
			rv_ctl_fmt_duration(h->uptime_ms / 1000, d1, sizeof(d1)));
	rv_ctl_w_printf(w, "listening on %s, %s\n", o->listen,
			o->cert_file != NULL ? "TLS (wss://)" : "plain ws://");
	if (h->workers > 0) {
		uint32_t nw = rv_server_status_worker_rows(h);

		rv_ctl_w_printf(w, "workers: %u\n", h->workers);
		for (uint32_t i = 0; i < nw; i++) {
			const struct rv_server_status_worker *x = &h->worker_rows[i];

			if (x->running)
				rv_ctl_w_printf(w, "  worker %u: pid %d, up %s, %u sessions, %u "
						"restarts\n", x->index, (int)x->pid,
						rv_ctl_fmt_duration(x->up_ms / 1000, d1, sizeof(d1)),
						x->sessions, x->restarts);
			else
				rv_ctl_w_printf(w, "  worker %u: %s, %u restarts\n", x->index,
						x->pid > 0 ? "starting" : "restarting", x->restarts);
		}
	}
	rv_ctl_w_printf(w, "sessions: %llu open (max %u), %llu since start, %llu handshakes "
			"failed, %llu pre-auth connections\n", (unsigned long long)t.n_sessions,
			o->max_sessions, (unsigned long long)t.sessions_total,
			(unsigned long long)t.handshakes_failed, (unsigned long long)t.n_preauth);
	rv_ctl_w_printf(w, "streams: %llu open; refused: %llu (out of descriptors), %llu "
			"(per-key limit)\n", (unsigned long long)t.streams_active,
			(unsigned long long)t.streams_refused_fds,
			(unsigned long long)t.streams_refused_key);
	rv_ctl_w_printf(w, "stream data: %llu bytes in, %llu bytes out (since start)\n",
			(unsigned long long)t.data_in, (unsigned long long)t.data_out);
	rv_ctl_w_printf(w, "udp: %s, %u associations open, %llu since start, %llu refused; "
			"%llu datagrams out, %llu in; dropped: %llu denied, %llu unresolved, "
			"%llu waiting for dns, %llu closed, %llu foreign, %llu send\n",
			o->no_udp ? "off" : "on", t.udp.assocs_active,
			(unsigned long long)t.udp.assocs_total,
			(unsigned long long)t.udp.assocs_refused,
			(unsigned long long)t.udp.dgrams_out, (unsigned long long)t.udp.dgrams_in,
			(unsigned long long)t.udp.dropped_denied,
			(unsigned long long)t.udp.dropped_resolve,
			(unsigned long long)t.udp.dropped_pending,
			(unsigned long long)t.udp.dropped_closed,
			(unsigned long long)t.udp.dropped_foreign,
			(unsigned long long)t.udp.dropped_send);
	rv_ctl_w_printf(w, "remote forwards: %llu listeners on %llu sessions that agreed them; "
			"server streams %llu open, %llu opened (live sessions)\n",
			(unsigned long long)t.listeners, (unsigned long long)t.rfwd_sessions,
			(unsigned long long)t.remote_streams_open,
			(unsigned long long)t.remote_streams_opened);
	if (t.has_pool)
		rv_ctl_w_printf(w, "%s\n", rv_server_status_pool_str(&t.pool, line, sizeof(line)));
	else
		rv_ctl_w_printf(w, "pool: off\n");
	rv_ctl_w_printf(w, "dns: %llu queries, %llu cache hits, %llu lookups, %llu joined, "
			"%llu failed, %zu cached\n", (unsigned long long)t.dns.queries,
			(unsigned long long)t.dns.cache_hits, (unsigned long long)t.dns.lookups,
			(unsigned long long)t.dns.coalesced, (unsigned long long)t.dns.failures,
			t.dns.cache_entries);
	if (t.sessions == 0)
		return;
	rv_ctl_w_printf(w, "\n%-20s %-24s %10s %7s %14s %14s %7s %8s %6s\n", "KEY", "PEER", "UP",
			"STREAMS", "BYTES IN", "BYTES OUT", "RTT", "DH STEPS", "-R");
	rv_server_status_rows_init(&it, snaps, n);
	while (rv_server_status_rows_next(&it, &s)) {
		if (s.rtt_known)
			snprintf(line, sizeof(line), "%ums", s.rtt_ms);
		else
			snprintf(line, sizeof(line), "-");
		if (s.rfwd)
			snprintf(d2, sizeof(d2), "%u", s.listeners);
		else
			snprintf(d2, sizeof(d2), "-");
		rv_ctl_w_printf(w, "%-20.20s %-24s %10s %7u %14llu %14llu %7s %8llu %6s%s\n",
				s.key[0] ? s.key : "-", s.peer,
				rv_ctl_fmt_duration(s.up_s, d1, sizeof(d1)), s.streams_open,
				(unsigned long long)s.data_in, (unsigned long long)s.data_out,
				line, (unsigned long long)(s.dh_send_steps + s.dh_recv_steps), d2,
				s.closing ? " (closing)" : "");
	}
	/* Sessions past the list (or whose rows a snapshot did not carry). */
	if (t.sessions > it.listed)
		rv_ctl_w_printf(w, "(%llu more not listed)\n",
				(unsigned long long)(t.sessions - it.listed));
}

static void rv_server_status_json(const struct rv_server_opts *o,
				  const struct rv_server_status_head *h,
				  const struct rv_server_snap *snaps, size_t n, struct rv_ctl_w *w)
{
	struct rv_server_status_sum t;
	struct rv_server_status_rows it;
	struct rv_server_snap_sess s;
	const struct rv_pool_stats *ps = &t.pool;
	int first = 1;

	rv_server_status_sum(snaps, n, &t);
	rv_ctl_w_printf(w, "{\"program\":\"rvpn-server\",\"version\":");
	rv_ctl_w_json_str(w, RVPN_VERSION);
	rv_ctl_w_printf(w, ",\"state\":\"%s\",\"uptime_s\":%llu,\"listen\":",
			rv_server_state_name(h->state), (unsigned long long)(h->uptime_ms / 1000));
	rv_ctl_w_json_str(w, o->listen);
	rv_ctl_w_printf(w, ",\"tls\":%s", o->cert_file != NULL ? "true" : "false");
	if (h->workers > 0) {
		uint32_t nw = rv_server_status_worker_rows(h);

		rv_ctl_w_printf(w, ",\"workers\":%u,\"worker_list\":[", h->workers);
		for (uint32_t i = 0; i < nw; i++) {
			const struct rv_server_status_worker *x = &h->worker_rows[i];

			rv_ctl_w_printf(w, "%s{\"index\":%u,\"pid\":%d,\"running\":%s,"
					"\"uptime_s\":%llu,\"sessions\":%u,\"restarts\":%u}",
					i ? "," : "", x->index, (int)x->pid,
					x->running ? "true" : "false",
					(unsigned long long)(x->up_ms / 1000), x->sessions, x->restarts);
		}
		rv_ctl_w_printf(w, "]");
	}
	rv_ctl_w_printf(w, ",\"sessions\":%llu,\"sessions_max\":%u,"
			"\"sessions_total\":%llu,\"handshakes_failed\":%llu,\"preauth\":%llu,"
			"\"streams_open\":%llu,\"streams_refused_fds\":%llu,"
			"\"streams_refused_key\":%llu,\"bytes_in\":%llu,\"bytes_out\":%llu",
			(unsigned long long)t.n_sessions, o->max_sessions,
			(unsigned long long)t.sessions_total,
			(unsigned long long)t.handshakes_failed, (unsigned long long)t.n_preauth,
			(unsigned long long)t.streams_active,
			(unsigned long long)t.streams_refused_fds,
			(unsigned long long)t.streams_refused_key,
			(unsigned long long)t.data_in, (unsigned long long)t.data_out);
	if (t.has_pool) {
		rv_ctl_w_printf(w, ",\"pool\":{\"requests\":%llu,\"hits\":%llu,\"misses\":%llu,"
				"\"evictions\":%llu,\"dead\":%llu,\"preconnects\":%llu,"
				"\"preconnect_failures\":%llu,\"spares\":%zu,\"connecting\":%zu,"
				"\"dests\":%zu}", (unsigned long long)ps->requests,
				(unsigned long long)ps->hits, (unsigned long long)ps->misses,
				(unsigned long long)ps->evictions, (unsigned long long)ps->dead,
				(unsigned long long)ps->preconnects,
				(unsigned long long)ps->preconnect_failures, ps->spares,
				ps->connecting, ps->dests);
	} else {
		rv_ctl_w_printf(w, ",\"pool\":null");
	}
	rv_ctl_w_printf(w, ",\"udp\":{\"enabled\":%s,\"assocs_open\":%u,\"assocs_total\":%llu,"
			"\"assocs_refused\":%llu,\"assocs_idle_closed\":%llu,\"datagrams_out\":%llu,"
			"\"datagrams_in\":%llu,\"bytes_out\":%llu,\"bytes_in\":%llu,"
			"\"dropped_denied\":%llu,\"dropped_resolve\":%llu,\"dropped_pending\":%llu,"
			"\"dropped_closed\":%llu,\"dropped_foreign\":%llu,\"dropped_send\":%llu}",
			o->no_udp ? "false" : "true", t.udp.assocs_active,
			(unsigned long long)t.udp.assocs_total,
			(unsigned long long)t.udp.assocs_refused,
			(unsigned long long)t.udp.assocs_idle_closed,
			(unsigned long long)t.udp.dgrams_out, (unsigned long long)t.udp.dgrams_in,
			(unsigned long long)t.udp.bytes_out, (unsigned long long)t.udp.bytes_in,
			(unsigned long long)t.udp.dropped_denied,
			(unsigned long long)t.udp.dropped_resolve,
			(unsigned long long)t.udp.dropped_pending,
			(unsigned long long)t.udp.dropped_closed,
			(unsigned long long)t.udp.dropped_foreign,
			(unsigned long long)t.udp.dropped_send);
	rv_ctl_w_printf(w, ",\"remote_forwards\":{\"listeners\":%llu,\"sessions\":%llu,"
			"\"streams_open\":%llu,\"streams_opened\":%llu}",
			(unsigned long long)t.listeners, (unsigned long long)t.rfwd_sessions,
			(unsigned long long)t.remote_streams_open,
			(unsigned long long)t.remote_streams_opened);
	rv_ctl_w_printf(w, ",\"dns\":{\"queries\":%llu,\"cache_hits\":%llu,\"lookups\":%llu,"
			"\"coalesced\":%llu,\"failures\":%llu,\"cache_entries\":%zu}",
			(unsigned long long)t.dns.queries, (unsigned long long)t.dns.cache_hits,
			(unsigned long long)t.dns.lookups, (unsigned long long)t.dns.coalesced,
			(unsigned long long)t.dns.failures, t.dns.cache_entries);
	rv_ctl_w_printf(w, ",\"session_list_max\":%d,\"session_list\":[",
			RV_SERVER_STATUS_LIST_MAX);
	rv_server_status_rows_init(&it, snaps, n);
	while (rv_server_status_rows_next(&it, &s)) {
		rv_ctl_w_printf(w, "%s{\"key\":", first ? "" : ",");
		first = 0;
		rv_ctl_w_json_str(w, s.key);
		rv_ctl_w_printf(w, ",\"peer\":");
		rv_ctl_w_json_str(w, s.peer);
		rv_ctl_w_printf(w, ",\"state\":\"%s\",\"uptime_s\":%llu,\"streams_open\":%u,"
				"\"streams_opened\":%llu,\"bytes_in\":%llu,\"bytes_out\":%llu,"
				"\"wire_bytes_in\":%llu,\"wire_bytes_out\":%llu,\"msgs_dropped\":%llu,",
				s.closing ? "closing" : "open", (unsigned long long)s.up_s,
				s.streams_open, (unsigned long long)s.streams_opened,
				(unsigned long long)s.data_in, (unsigned long long)s.data_out,
				(unsigned long long)s.wire_in, (unsigned long long)s.wire_out,
				(unsigned long long)s.msgs_dropped);
		if (s.rtt_known)
			rv_ctl_w_printf(w, "\"rtt_ms\":%u,", s.rtt_ms);
		else
			rv_ctl_w_printf(w, "\"rtt_ms\":null,");
		rv_ctl_w_printf(w, "\"dh_send_steps\":%llu,\"dh_recv_steps\":%llu,"
				"\"remote_forwards\":%s,\"listeners\":%u,\"remote_streams_open\":%u,"
				"\"remote_streams_opened\":%llu}",
				(unsigned long long)s.dh_send_steps,
				(unsigned long long)s.dh_recv_steps, s.rfwd ? "true" : "false",
				s.listeners, s.remote_streams_open,
				(unsigned long long)s.remote_streams_opened);
	}
	rv_ctl_w_printf(w, "]}\n");
}

static void rv_server_status_prom(const struct rv_server_status_head *h,
				  const struct rv_server_snap *snaps, size_t n, struct rv_ctl_w *w)
{
	struct rv_server_status_sum t;
	const struct rv_pool_stats *ps = &t.pool;    /* zero without a pool */
	const struct rv_dns_stats *ds = &t.dns;

	rv_server_status_sum(snaps, n, &t);
	rv_ctl_w_prom_meta(w, "rvpn_info", "gauge", "Program and version (always 1).");
	rv_ctl_w_prom_val(w, "rvpn_info", "program=\"rvpn-server\",version=\"" RVPN_VERSION "\"", 1);
	rv_ctl_w_prom_meta(w, "rvpn_uptime_seconds", "gauge", "Seconds since the server started.");
	rv_ctl_w_prom_val_ms(w, "rvpn_uptime_seconds", NULL, h->uptime_ms);
	if (h->workers > 0) {
		uint32_t nw = rv_server_status_worker_rows(h);
		char lab[32];

		rv_ctl_w_prom(w, "rvpn_workers", "gauge", "Worker processes answering.",
			      h->workers);
		rv_ctl_w_prom_meta(w, "rvpn_worker_sessions", "gauge",
				   "Authenticated sessions per worker process.");
		for (uint32_t i = 0; i < nw; i++) {
			snprintf(lab, sizeof(lab), "worker=\"%u\"", h->worker_rows[i].index);
			rv_ctl_w_prom_val(w, "rvpn_worker_sessions", lab, h->worker_rows[i].sessions);
		}
		rv_ctl_w_prom_meta(w, "rvpn_worker_restarts_total", "counter",
				   "Times each worker process died and was started again.");
		for (uint32_t i = 0; i < nw; i++) {
			snprintf(lab, sizeof(lab), "worker=\"%u\"", h->worker_rows[i].index);
			rv_ctl_w_prom_val(w, "rvpn_worker_restarts_total", lab,
					  h->worker_rows[i].restarts);
		}
	}
	rv_ctl_w_prom(w, "rvpn_sessions", "gauge", "Authenticated sessions open.",
		      t.n_sessions);
	rv_ctl_w_prom(w, "rvpn_sessions_total", "counter", "Sessions established since start.",
		      t.sessions_total);
	rv_ctl_w_prom(w, "rvpn_handshakes_failed_total", "counter",
		      "Handshakes that failed since start.", t.handshakes_failed);
	rv_ctl_w_prom(w, "rvpn_preauth_connections", "gauge",
		      "Connections not authenticated yet.", t.n_preauth);
	rv_ctl_w_prom(w, "rvpn_streams_open", "gauge", "Streams connecting or open.",
		      t.streams_active);
	rv_ctl_w_prom_meta(w, "rvpn_streams_refused_total", "counter",
			   "Streams refused by reason.");
	rv_ctl_w_prom_val(w, "rvpn_streams_refused_total", "reason=\"descriptors\"",
			  t.streams_refused_fds);
	rv_ctl_w_prom_val(w, "rvpn_streams_refused_total", "reason=\"key_limit\"",
			  t.streams_refused_key);
	rv_ctl_w_prom_meta(w, "rvpn_bytes_total", "counter",
			   "Stream payload bytes received from (in) and sent to (out) clients.");
	rv_ctl_w_prom_val(w, "rvpn_bytes_total", "direction=\"in\"", t.data_in);
	rv_ctl_w_prom_val(w, "rvpn_bytes_total", "direction=\"out\"", t.data_out);
	rv_ctl_w_prom(w, "rvpn_remote_listeners", "gauge",
		      "Remote forward (-R) listeners open, all sessions.", t.listeners);
	rv_ctl_w_prom(w, "rvpn_remote_streams_open", "gauge",
		      "Server-opened streams (-R) open on live sessions.", t.remote_streams_open);
	rv_ctl_w_prom(w, "rvpn_udp_associations", "gauge", "UDP associations open.",
		      t.udp.assocs_active);
	rv_ctl_w_prom(w, "rvpn_udp_associations_total", "counter",
		      "UDP associations opened since start.", t.udp.assocs_total);
	rv_ctl_w_prom(w, "rvpn_udp_associations_refused_total", "counter",
		      "UDP associations refused (limits).", t.udp.assocs_refused);
	rv_ctl_w_prom_meta(w, "rvpn_udp_datagrams_total", "counter",
			   "UDP datagrams sent to destinations (out) and replies to clients (in).");
	rv_ctl_w_prom_val(w, "rvpn_udp_datagrams_total", "direction=\"out\"", t.udp.dgrams_out);
	rv_ctl_w_prom_val(w, "rvpn_udp_datagrams_total", "direction=\"in\"", t.udp.dgrams_in);
	rv_ctl_w_prom_meta(w, "rvpn_udp_dropped_total", "counter", "UDP datagrams dropped by reason.");
	rv_ctl_w_prom_val(w, "rvpn_udp_dropped_total", "reason=\"denied\"", t.udp.dropped_denied);
	rv_ctl_w_prom_val(w, "rvpn_udp_dropped_total", "reason=\"unresolved\"",
			  t.udp.dropped_resolve);
	rv_ctl_w_prom_val(w, "rvpn_udp_dropped_total", "reason=\"dns_pending\"",
			  t.udp.dropped_pending);
	rv_ctl_w_prom_val(w, "rvpn_udp_dropped_total", "reason=\"closed\"", t.udp.dropped_closed);
	rv_ctl_w_prom_val(w, "rvpn_udp_dropped_total", "reason=\"foreign\"",
			  t.udp.dropped_foreign);
	rv_ctl_w_prom_val(w, "rvpn_udp_dropped_total", "reason=\"send\"", t.udp.dropped_send);
	rv_ctl_w_prom(w, "rvpn_pool_requests_total", "counter", "Warm pool lookups.",
		      ps->requests);
	rv_ctl_w_prom(w, "rvpn_pool_hits_total", "counter", "Warm pool lookups served by a spare.",
		      ps->hits);
	rv_ctl_w_prom(w, "rvpn_pool_misses_total", "counter", "Warm pool lookups without a spare.",
		      ps->misses);
	rv_ctl_w_prom(w, "rvpn_pool_evictions_total", "counter", "Spare connections closed unused.",
		      ps->evictions);
	rv_ctl_w_prom(w, "rvpn_pool_spares", "gauge", "Spare connections ready now.", ps->spares);
	rv_ctl_w_prom(w, "rvpn_dns_queries_total", "counter", "Name resolutions asked for.",
		      ds->queries);
	rv_ctl_w_prom(w, "rvpn_dns_cache_hits_total", "counter",
		      "Name resolutions answered from the cache.", ds->cache_hits);
	rv_ctl_w_prom(w, "rvpn_dns_lookups_total", "counter", "Queries sent to DNS servers.",
		      ds->lookups);
	rv_ctl_w_prom(w, "rvpn_dns_failures_total", "counter", "Lookups that failed.",
		      ds->failures);
	rv_ctl_w_prom(w, "rvpn_dns_cache_entries", "gauge", "Names in the DNS cache.",
		      ds->cache_entries);
}

int rv_server_status_format(const struct rv_server_opts *o, const struct rv_server_status_head *h,
			    const struct rv_server_snap *snaps, size_t n, enum rv_ctl_request req,
			    struct rv_buf *out)
{
	struct rv_ctl_w w;

	if (o == NULL || h == NULL || out == NULL || (snaps == NULL && n > 0))
		return RV_ERR_INVALID_ARG;
	rv_ctl_w_init(&w, out);
	if (req == RV_CTL_REQ_STATUS)
		rv_server_status_text(o, h, snaps, n, &w);
	else if (req == RV_CTL_REQ_STATUS_JSON)
		rv_server_status_json(o, h, snaps, n, &w);
	else if (req == RV_CTL_REQ_METRICS)
		rv_server_status_prom(h, snaps, n, &w);
	else
		return RV_ERR_INVALID_ARG;
	return w.err;
}

static int rv_server_status_answer(void *arg, enum rv_ctl_request req, struct rv_buf *out)
{
	struct rv_server_status *st = arg;
	struct rv_server_status_head h;
	size_t n = 0;
	int r;

	memset(&h, 0, sizeof(h));
	if (st->srv != NULL) {
		rv_server_status_collect(st->srv, &st->snaps[0]);
		h.state = st->srv->state;
		h.uptime_ms = rv_loop_now_ms(st->srv->loop) - st->start_ms;
		n = 1;
	} else {
		r = st->gather(st->gather_arg, &h, st->snaps, st->n_snaps, &n);
		if (r != RV_OK)
			return r;
		if (n > st->n_snaps)
			n = st->n_snaps;
	}
	return rv_server_status_format(st->opts, &h, st->snaps, n, req, out);
}

/* Allocates st with its snapshots and opens the sockets. */
static int rv_server_status_start(struct rv_loop *loop, const struct rv_server_opts *o,
				  size_t n_snaps, struct rv_server_status *st,
				  struct rv_server_status **out)
{
	int r;

	st->opts = o;
	st->n_snaps = n_snaps;
	st->snaps = calloc(n_snaps, sizeof(*st->snaps));
	if (st->snaps == NULL) {
		r = RV_ERR_NOMEM;
		goto out;
	}
	r = rv_ctl_open_service(loop, "server", o->control, o->metrics,
				(const struct sockaddr *)&o->metrics_sa, o->metrics_salen,
				rv_server_status_answer, st, &st->ctl, &st->metrics);
out:
	if (r != RV_OK) {
		rv_server_status_close(st);
		return r;
	}
	*out = st;
	return RV_OK;
}

int rv_server_status_open(struct rv_server *srv, struct rv_server_status **out)
{
	struct rv_server_status *st;

	*out = NULL;
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return RV_ERR_NOMEM;
	st->srv = srv;
	st->start_ms = rv_loop_now_ms(srv->loop);
	return rv_server_status_start(srv->loop, srv->opts, 1, st, out);
}

int rv_server_status_open_gather(struct rv_loop *loop, const struct rv_server_opts *o,
				 size_t max_workers, rv_server_status_gather_cb gather, void *arg,
				 struct rv_server_status **out)
{
	struct rv_server_status *st;

	*out = NULL;
	if (loop == NULL || o == NULL || gather == NULL || max_workers == 0 ||
	    max_workers > RV_SERVER_STATUS_WORKERS_MAX)
		return RV_ERR_INVALID_ARG;
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return RV_ERR_NOMEM;
	st->gather = gather;
	st->gather_arg = arg;
	return rv_server_status_start(loop, o, max_workers, st, out);
}

void rv_server_status_close(struct rv_server_status *st)
{
	if (st == NULL)
		return;
	rv_ctl_free(st->metrics);
	rv_ctl_free(st->ctl);
	free(st->snaps);
	free(st);
}
