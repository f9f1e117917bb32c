/* status.c - what `rvpn-client status` and /metrics show: the tunnel, its
 * session, local listeners and connections (see status.h).  Only reads the
 * client's state. */
#include "status.h"

#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "rv_addr.h"
#include "rv_ctl.h"
#include "rv_ctl_fmt.h"
#include "rv_err.h"
#include "rv_log.h"
#include "rfwd.h"
#include "tunnel.h"
#include "udp.h"

struct rv_client_status {
	struct rv_client *cl;
	uint64_t start_ms;       /* loop ms at open */
	struct rv_ctl *ctl;      /* control socket, NULL with --control none */
	struct rv_ctl *metrics;  /* --metrics, or NULL */
};

/* Everything shown, gathered once per answer. */
struct rv_client_status_snap {
	struct rv_tunnel_info ti;
	struct rv_session_stats ss;   /* current session (zeroes if none) */
	struct rv_ratchet_stats rs;
	uint32_t streams_draining;    /* on the old WebSocket after GOAWAY */
	uint64_t uptime_ms, session_up_ms;
	uint64_t reconnects;
	int has_session;
};

static const char *rv_client_tunnel_state_name(enum rv_tunnel_state s)
{
	switch (s) {
	case RV_TUNNEL_CONNECTING:
		return "connecting";
	case RV_TUNNEL_HANDSHAKING:
		return "handshaking";
	case RV_TUNNEL_UP:
		return "up";
	case RV_TUNNEL_BACKOFF:
		return "down";
	case RV_TUNNEL_STOPPED:
		return "stopped";
	default:
		return "invalid";
	}
}

static void rv_client_status_snap(struct rv_client_status *st, struct rv_client_status_snap *s)
{
	uint64_t now = rv_loop_now_ms(st->cl->loop);

	memset(s, 0, sizeof(*s));
	rv_tunnel_get_info(st->cl->tunnel, &s->ti);
	s->uptime_ms = now - st->start_ms;
	s->reconnects = s->ti.attempts > 0 ? s->ti.attempts - 1 : 0;
	if (s->ti.session != NULL) {
		s->has_session = 1;
		rv_session_get_stats(s->ti.session, &s->ss);
		rv_session_get_ratchet_stats(s->ti.session, &s->rs);
	}
	if (s->ti.up_since_ms != 0 && now >= s->ti.up_since_ms)
		s->session_up_ms = now - s->ti.up_since_ms;
	if (s->ti.draining != NULL)
		s->streams_draining = rv_session_stream_count(s->ti.draining);
}

/* The live server's URL, else the first one's. */
static const char *rv_client_status_server(const struct rv_client *cl,
					   const struct rv_client_status_snap *s)
{
	int i = s->ti.live >= 0 ? s->ti.live : 0;

	return cl->opts->servers[i].text;
}

/* "live", "draining", "connecting" or "" for server entry si. */
static const char *rv_client_status_role(const struct rv_tunnel_server_info *si)
{
	return si->live ? "live" : si->connecting ? "connecting" : si->draining ? "draining" : "";
}

/* One line per server (several URLs only). */
static void rv_client_status_servers_text(const struct rv_client *cl,
					  const struct rv_client_status_snap *s,
					  struct rv_ctl_w *w)
{
	struct rv_tunnel_server_info si;
	size_t i;

	if (s->ti.n_servers < 2)
		return;
	rv_ctl_w_printf(w, "servers: %zu, --pick %s, %llu failover(s)\n", s->ti.n_servers,
			cl->opts->pick == RV_CLIENT_PICK_RTT ? "rtt" : "first",
			(unsigned long long)s->ti.failovers);
	for (i = 0; i < s->ti.n_servers; i++) {
		if (rv_tunnel_get_server(cl->tunnel, i, &si) != RV_OK)
			break;
		rv_ctl_w_printf(w, "  %zu. %s: %s%s%s", i + 1, si.url, si.health,
				si.live || si.connecting || si.draining ? ", " : "",
				rv_client_status_role(&si));
		if (si.rtt_us > 0)
			rv_ctl_w_printf(w, ", handshake rtt %.1f ms", si.rtt_us / 1000.0);
		rv_ctl_w_printf(w, ", %llu failure(s)", (unsigned long long)si.failures);
		if (si.retry_in_ms > 0)
			rv_ctl_w_printf(w, ", retried in %llu s",
					(unsigned long long)(si.retry_in_ms + 999) / 1000);
		if (si.last_error[0] != '\0' && !si.live)
			rv_ctl_w_printf(w, " (last: %s)", si.last_error);
		rv_ctl_w_printf(w, "\n");
	}
}

static void rv_client_status_servers_json(const struct rv_client *cl,
					  const struct rv_client_status_snap *s,
					  struct rv_ctl_w *w)
{
	struct rv_tunnel_server_info si;
	size_t i;

	rv_ctl_w_printf(w, "\"pick\":\"%s\",\"failovers\":%llu,\"live_server\":",
			cl->opts->pick == RV_CLIENT_PICK_RTT ? "rtt" : "first",
			(unsigned long long)s->ti.failovers);
	if (s->ti.live >= 0)
		rv_ctl_w_json_str(w, cl->opts->servers[s->ti.live].text);
	else
		rv_ctl_w_printf(w, "null");
	rv_ctl_w_printf(w, ",\"servers\":[");
	for (i = 0; i < s->ti.n_servers; i++) {
		if (rv_tunnel_get_server(cl->tunnel, i, &si) != RV_OK)
			break;
		rv_ctl_w_printf(w, "%s{\"url\":", i > 0 ? "," : "");
		rv_ctl_w_json_str(w, si.url);
		rv_ctl_w_printf(w, ",\"health\":\"%s\",\"role\":\"%s\",\"live\":%s,",
				si.health, rv_client_status_role(&si), si.live ? "true" : "false");
		if (si.rtt_us > 0)
			rv_ctl_w_printf(w, "\"rtt_ms\":%.3f,", si.rtt_us / 1000.0);
		else
			rv_ctl_w_printf(w, "\"rtt_ms\":null,");
		rv_ctl_w_printf(w, "\"failures\":%llu,\"failures_in_a_row\":%u,"
				"\"retry_in_ms\":%llu,\"last_error\":",
				(unsigned long long)si.failures, si.fail_streak,
				(unsigned long long)si.retry_in_ms);
		rv_ctl_w_json_str(w, si.last_error);
		rv_ctl_w_printf(w, "}");
	}
	rv_ctl_w_printf(w, "],");
}

/* UDP (udp.c): one line, only when something happened. */
static void rv_client_status_udp_text(const struct rv_client *cl, struct rv_ctl_w *w)
{
	struct rv_udp_stats u;

	rv_udp_get_stats(cl->udp, &u);
	if (u.assoc_opened == 0 && u.assoc_refused == 0 && u.dropped_no_tunnel == 0 &&
	    u.dropped_bad == 0)
		return;
	rv_ctl_w_printf(w, "udp: %llu associations (%llu opened, %llu refused, %llu evicted); "
			"datagrams %llu up (%llu bytes), %llu down (%llu bytes); dropped: %llu no "
			"tunnel/UDP, %llu queue full, %llu invalid, %llu local\n",
			(unsigned long long)u.assoc_active, (unsigned long long)u.assoc_opened,
			(unsigned long long)u.assoc_refused, (unsigned long long)u.assoc_evicted,
			(unsigned long long)u.dgram_up, (unsigned long long)u.bytes_up,
			(unsigned long long)u.dgram_down, (unsigned long long)u.bytes_down,
			(unsigned long long)u.dropped_no_tunnel, (unsigned long long)u.dropped_queue,
			(unsigned long long)u.dropped_bad, (unsigned long long)u.dropped_local);
}

/* The session -R answers belong to: the live one once it is up (until
 * then its LISTENs have not gone out, or a reused address could match). */
static const struct rv_session *rv_client_status_rfwd_session(const struct rv_client_status_snap *s)
{
	return s->ti.state == RV_TUNNEL_UP ? s->ti.session : NULL;
}

/* -R: one line each, with what the server answered. */
static void rv_client_status_rfwd_text(const struct rv_client *cl,
				       const struct rv_client_status_snap *s, struct rv_ctl_w *w)
{
	struct rv_client_rfwd_info in;
	char a[RV_ADDR_STRLEN], b[RV_ADDR_STRLEN];

	for (size_t i = 0; i < rv_client_rfwd_count(cl->rfwd); i++) {
		if (rv_client_rfwd_get(cl->rfwd, i, rv_client_status_rfwd_session(s), &in) != RV_OK)
			break;
		if (in.spec->dynamic)
			snprintf(b, sizeof(b), "SOCKS5, exits here");
		else
			rv_addr_str(&in.spec->target, b, sizeof(b));
		rv_ctl_w_printf(w, "remote forward: -R %s (%s): %s", in.spec->text, b,
				rv_client_rfwd_view_name(in.state));
		if (in.state == RV_CLIENT_RFWD_LISTENING)
			rv_ctl_w_printf(w, " on %s on the server",
					rv_addr_str(&in.bound, a, sizeof(a)));
		else if (in.state == RV_CLIENT_RFWD_REFUSED || in.state == RV_CLIENT_RFWD_CLOSED ||
			 in.state == RV_CLIENT_RFWD_NOT_OFFERED)
			rv_ctl_w_printf(w, ": %s", rv_client_rfwd_reason(&in));
		rv_ctl_w_printf(w, ", %llu connections\n", (unsigned long long)in.streams);
	}
}

static void rv_client_status_rfwd_json(const struct rv_client *cl,
				       const struct rv_client_status_snap *s, struct rv_ctl_w *w)
{
	struct rv_client_rfwd_info in;
	char a[RV_ADDR_STRLEN];

	rv_ctl_w_printf(w, "\"remote_forwards\":[");
	for (size_t i = 0; i < rv_client_rfwd_count(cl->rfwd); i++) {
		if (rv_client_rfwd_get(cl->rfwd, i, rv_client_status_rfwd_session(s), &in) != RV_OK)
			break;
		rv_ctl_w_printf(w, "%s{\"spec\":", i > 0 ? "," : "");
		rv_ctl_w_json_str(w, in.spec->text);
		rv_ctl_w_printf(w, ",\"kind\":\"%s\",\"target\":",
				in.spec->dynamic ? "socks5" : "forward");
		if (in.spec->dynamic)
			rv_ctl_w_printf(w, "null");
		else
			rv_ctl_w_json_str(w, rv_addr_str(&in.spec->target, a, sizeof(a)));
		rv_ctl_w_printf(w, ",\"state\":");
		rv_ctl_w_json_str(w, rv_client_rfwd_view_name(in.state));
		rv_ctl_w_printf(w, ",\"listen\":");
		if (in.state == RV_CLIENT_RFWD_LISTENING)
			rv_ctl_w_json_str(w, rv_addr_str(&in.bound, a, sizeof(a)));
		else
			rv_ctl_w_printf(w, "null");
		rv_ctl_w_printf(w, ",\"port\":");
		if (in.state == RV_CLIENT_RFWD_LISTENING)
			rv_ctl_w_printf(w, "%u", (unsigned)in.bound.port);
		else
			rv_ctl_w_printf(w, "null");
		rv_ctl_w_printf(w, ",\"reason\":");
		rv_ctl_w_json_str(w, rv_client_rfwd_reason(&in));
		rv_ctl_w_printf(w, ",\"connections\":%llu}", (unsigned long long)in.streams);
	}
	rv_ctl_w_printf(w, "],");
}

static void rv_client_status_rfwd_prom(const struct rv_client *cl,
				       const struct rv_client_status_snap *s, struct rv_ctl_w *w)
{
	static const enum rv_client_rfwd_view views[] = {
		RV_CLIENT_RFWD_WAITING, RV_CLIENT_RFWD_REQUESTED, RV_CLIENT_RFWD_LISTENING,
		RV_CLIENT_RFWD_REFUSED, RV_CLIENT_RFWD_CLOSED, RV_CLIENT_RFWD_NOT_OFFERED,
	};
	static const char *const labels[] = {
		"state=\"waiting\"", "state=\"requested\"", "state=\"listening\"",
		"state=\"refused\"", "state=\"closed\"", "state=\"not_offered\"",
	};
	struct rv_client_rfwd_info in;
	uint64_t n[sizeof(views) / sizeof(views[0])] = { 0 }, conns = 0;

	for (size_t i = 0; i < rv_client_rfwd_count(cl->rfwd); i++) {
		if (rv_client_rfwd_get(cl->rfwd, i, rv_client_status_rfwd_session(s), &in) != RV_OK)
			break;
		conns += in.streams;
		for (size_t k = 0; k < sizeof(views) / sizeof(views[0]); k++)
			if (views[k] == in.state)
				n[k]++;
	}
	rv_ctl_w_prom_meta(w, "rvpn_remote_forwards", "gauge",
			   "Remote forwards (-R) by state on the current session.");
	for (size_t k = 0; k < sizeof(views) / sizeof(views[0]); k++)
		rv_ctl_w_prom_val(w, "rvpn_remote_forwards", labels[k], n[k]);
	rv_ctl_w_prom(w, "rvpn_remote_connections_total", "counter",
		      "Connections the server relayed through -R since start.", conns);
}

static void rv_client_status_text(struct rv_client_status *st, struct rv_ctl_w *w)
{
	const struct rv_client *cl = st->cl;
	const struct rv_client_opts *o = cl->opts;
	struct rv_client_status_snap s;
	char d1[32], a[RV_CLI_ADDRSTR_MAX], b[RV_CLI_ADDRSTR_MAX];
	size_t i;

	rv_client_status_snap(st, &s);
	rv_ctl_w_printf(w, "rvpn-client %s, up %s%s\n", RVPN_VERSION,
			rv_ctl_fmt_duration(s.uptime_ms / 1000, d1, sizeof(d1)),
			cl->draining ? ", shutting down" : "");
	rv_ctl_w_printf(w, "server: %s\n", rv_client_status_server(cl, &s));
	rv_client_status_servers_text(cl, &s, w);
	rv_ctl_w_printf(w, "tunnel: %s", rv_client_tunnel_state_name(s.ti.state));
	if (s.ti.state == RV_TUNNEL_UP)
		rv_ctl_w_printf(w, " for %s", rv_ctl_fmt_duration(s.session_up_ms / 1000, d1,
								    sizeof(d1)));
	rv_ctl_w_printf(w, ", %llu connection attempts (%llu reconnects)\n",
			(unsigned long long)s.ti.attempts, (unsigned long long)s.reconnects);
	if (s.has_session) {
		rv_ctl_w_printf(w, "session: %u streams open, %llu opened; stream data %llu bytes "
				"in, %llu bytes out; WebSocket %llu bytes in, %llu bytes out\n",
				s.ss.streams_active, (unsigned long long)s.ss.streams_opened,
				(unsigned long long)s.ss.data_in, (unsigned long long)s.ss.data_out,
				(unsigned long long)s.ss.bytes_in, (unsigned long long)s.ss.bytes_out);
		if (s.ss.pongs_received > 0)
			rv_ctl_w_printf(w, "rtt: %u ms (least %.3f ms); ", s.ss.rtt_ms,
					s.ss.rtt_min_us / 1000.0);
		else
			rv_ctl_w_printf(w, "rtt: not measured yet; ");
		rv_ctl_w_printf(w, "ratchet: %llu DH steps\n",
				(unsigned long long)(s.rs.dh_send_steps + s.rs.dh_recv_steps));
	}
	if (s.ti.draining != NULL)
		rv_ctl_w_printf(w, "draining after GOAWAY: %u streams\n", s.streams_draining);
	rv_ctl_w_printf(w, "local connections: %zu pending (%zu waiting for the tunnel)\n",
			cl->n_conns - cl->n_open, cl->n_waiting);
	rv_client_status_udp_text(cl, w);
	rv_client_status_rfwd_text(cl, &s, w);
	for (i = 0; i < o->n_socks; i++) {
		rv_cli_sockaddr_str((const struct sockaddr *)&o->socks[i].ss, a, sizeof(a));
		rv_ctl_w_printf(w, "listener: SOCKS5 %s%s\n", a, cl->draining ? " (closed)" : "");
	}
	for (i = 0; i < o->n_fwd; i++) {
		rv_cli_sockaddr_str((const struct sockaddr *)&o->fwd[i].bind.ss, a, sizeof(a));
		rv_cli_addr_str(&o->fwd[i].target, b, sizeof(b));
		rv_ctl_w_printf(w, "listener: forward %s -> %s%s\n", a, b,
				cl->draining ? " (closed)" : "");
	}
}

static void rv_client_status_json(struct rv_client_status *st, struct rv_ctl_w *w)
{
	const struct rv_client *cl = st->cl;
	const struct rv_client_opts *o = cl->opts;
	struct rv_client_status_snap s;
	struct rv_udp_stats u;
	char a[RV_CLI_ADDRSTR_MAX], b[RV_CLI_ADDRSTR_MAX];
	size_t i;

	rv_client_status_snap(st, &s);
	rv_ctl_w_printf(w, "{\"program\":\"rvpn-client\",\"version\":");
	rv_ctl_w_json_str(w, RVPN_VERSION);
	rv_ctl_w_printf(w, ",\"uptime_s\":%llu,\"draining\":%s,\"server\":",
			(unsigned long long)(s.uptime_ms / 1000), cl->draining ? "true" : "false");
	rv_ctl_w_json_str(w, rv_client_status_server(cl, &s));
	rv_ctl_w_printf(w, ",");
	rv_client_status_servers_json(cl, &s, w);
	rv_ctl_w_printf(w, "\"tunnel\":\"%s\",\"attempts\":%llu,\"reconnects\":%llu,"
			"\"session_uptime_s\":%llu,\"streams_open\":%u,\"streams_opened\":%llu,"
			"\"bytes_in\":%llu,\"bytes_out\":%llu,\"wire_bytes_in\":%llu,"
			"\"wire_bytes_out\":%llu,\"messages_in\":%llu,\"messages_out\":%llu,",
			rv_client_tunnel_state_name(s.ti.state),
			(unsigned long long)s.ti.attempts, (unsigned long long)s.reconnects,
			(unsigned long long)(s.session_up_ms / 1000), s.ss.streams_active,
			(unsigned long long)s.ss.streams_opened, (unsigned long long)s.ss.data_in,
			(unsigned long long)s.ss.data_out, (unsigned long long)s.ss.bytes_in,
			(unsigned long long)s.ss.bytes_out, (unsigned long long)s.ss.msgs_in,
			(unsigned long long)s.ss.msgs_out);
	if (s.has_session && s.ss.pongs_received > 0)
		rv_ctl_w_printf(w, "\"rtt_ms\":%u,\"rtt_min_ms\":%.3f,", s.ss.rtt_ms,
				s.ss.rtt_min_us / 1000.0);
	else
		rv_ctl_w_printf(w, "\"rtt_ms\":null,\"rtt_min_ms\":null,");
	rv_ctl_w_printf(w, "\"dh_send_steps\":%llu,\"dh_recv_steps\":%llu,"
			"\"streams_draining\":%u,\"local_pending\":%zu,\"local_waiting\":%zu,",
			(unsigned long long)s.rs.dh_send_steps,
			(unsigned long long)s.rs.dh_recv_steps, s.streams_draining,
			cl->n_conns - cl->n_open, cl->n_waiting);
	rv_client_status_rfwd_json(cl, &s, w);
	rv_udp_get_stats(cl->udp, &u);
	rv_ctl_w_printf(w, "\"udp\":{\"associations\":%llu,\"opened\":%llu,\"refused\":%llu,"
			"\"evicted\":%llu,\"datagrams_up\":%llu,\"bytes_up\":%llu,"
			"\"datagrams_down\":%llu,\"bytes_down\":%llu,\"dropped_no_tunnel\":%llu,"
			"\"dropped_queue\":%llu,\"dropped_invalid\":%llu,\"dropped_local\":%llu},"
			"\"listeners\":[",
			(unsigned long long)u.assoc_active, (unsigned long long)u.assoc_opened,
			(unsigned long long)u.assoc_refused, (unsigned long long)u.assoc_evicted,
			(unsigned long long)u.dgram_up, (unsigned long long)u.bytes_up,
			(unsigned long long)u.dgram_down, (unsigned long long)u.bytes_down,
			(unsigned long long)u.dropped_no_tunnel, (unsigned long long)u.dropped_queue,
			(unsigned long long)u.dropped_bad, (unsigned long long)u.dropped_local);
	for (i = 0; i < o->n_socks; i++) {
		rv_cli_sockaddr_str((const struct sockaddr *)&o->socks[i].ss, a, sizeof(a));
		rv_ctl_w_printf(w, "%s{\"kind\":\"socks5\",\"bind\":", i > 0 ? "," : "");
		rv_ctl_w_json_str(w, a);
		rv_ctl_w_printf(w, "}");
	}
	for (i = 0; i < o->n_fwd; i++) {
		rv_cli_sockaddr_str((const struct sockaddr *)&o->fwd[i].bind.ss, a, sizeof(a));
		rv_cli_addr_str(&o->fwd[i].target, b, sizeof(b));
		rv_ctl_w_printf(w, "%s{\"kind\":\"forward\",\"bind\":", i + o->n_socks > 0 ? "," : "");
		rv_ctl_w_json_str(w, a);
		rv_ctl_w_printf(w, ",\"target\":");
		rv_ctl_w_json_str(w, b);
		rv_ctl_w_printf(w, "}");
	}
	rv_ctl_w_printf(w, "]}\n");
}

static uint64_t rv_client_status_healthy(const struct rv_client *cl,
					 const struct rv_client_status_snap *s)
{
	struct rv_tunnel_server_info si;
	uint64_t n = 0;
	size_t i;

	for (i = 0; i < s->ti.n_servers; i++)
		if (rv_tunnel_get_server(cl->tunnel, i, &si) == RV_OK &&
		    si.state != RV_TUNNEL_SERVER_FAILED)
			n++;
	return n;
}

static void rv_client_status_prom(struct rv_client_status *st, struct rv_ctl_w *w)
{
	const struct rv_client *cl = st->cl;
	struct rv_client_status_snap s;
	struct rv_udp_stats u;

	rv_client_status_snap(st, &s);
	rv_ctl_w_prom_meta(w, "rvpn_info", "gauge", "Program and version (always 1).");
	rv_ctl_w_prom_val(w, "rvpn_info", "program=\"rvpn-client\",version=\"" RVPN_VERSION "\"",
			  1);
	rv_ctl_w_prom_meta(w, "rvpn_uptime_seconds", "gauge", "Seconds since the client started.");
	rv_ctl_w_prom_val_ms(w, "rvpn_uptime_seconds", NULL, s.uptime_ms);
	rv_ctl_w_prom(w, "rvpn_tunnel_up", "gauge", "1 while the tunnel is up.",
		      s.ti.state == RV_TUNNEL_UP);
	rv_ctl_w_prom(w, "rvpn_tunnel_attempts_total", "counter",
		      "Tunnel connection attempts since start.", s.ti.attempts);
	rv_ctl_w_prom(w, "rvpn_failovers_total", "counter",
		      "Times the live server changed (several server URLs).", s.ti.failovers);
	rv_ctl_w_prom(w, "rvpn_servers_healthy", "gauge",
		      "Server URLs not marked failed.", rv_client_status_healthy(cl, &s));
	rv_ctl_w_prom(w, "rvpn_sessions", "gauge", "Sessions open (current and draining).",
		      (uint64_t)(s.has_session + (s.ti.draining != NULL)));
	rv_ctl_w_prom_meta(w, "rvpn_session_uptime_seconds", "gauge",
			   "Seconds the current session has been up.");
	rv_ctl_w_prom_val_ms(w, "rvpn_session_uptime_seconds", NULL, s.session_up_ms);
	rv_ctl_w_prom(w, "rvpn_streams_open", "gauge", "Streams open on the current session.",
		      s.ss.streams_active);
	rv_ctl_w_prom_meta(w, "rvpn_bytes_total", "counter",
			   "Stream payload bytes of the current session, received (in) and sent "
			   "(out); resets on reconnect.");
	rv_ctl_w_prom_val(w, "rvpn_bytes_total", "direction=\"in\"", s.ss.data_in);
	rv_ctl_w_prom_val(w, "rvpn_bytes_total", "direction=\"out\"", s.ss.data_out);
	if (s.has_session && s.ss.pongs_received > 0) {
		rv_ctl_w_prom_meta(w, "rvpn_rtt_seconds", "gauge", "Last keepalive round trip.");
		rv_ctl_w_prom_val_ms(w, "rvpn_rtt_seconds", NULL, s.ss.rtt_ms);
	}
	rv_ctl_w_prom(w, "rvpn_local_pending", "gauge",
		      "Local connections not relaying yet (SOCKS, waiting).",
		      cl->n_conns - cl->n_open);
	rv_ctl_w_prom(w, "rvpn_local_waiting", "gauge",
		      "Local connections waiting for the tunnel.", cl->n_waiting);
	rv_udp_get_stats(cl->udp, &u);
	rv_ctl_w_prom(w, "rvpn_udp_associations", "gauge",
		      "UDP associations (SOCKS5 UDP ASSOCIATE, -L udp sources).", u.assoc_active);
	rv_ctl_w_prom(w, "rvpn_udp_associations_opened_total", "counter",
		      "UDP associations opened since start.", u.assoc_opened);
	rv_ctl_w_prom(w, "rvpn_udp_associations_refused_total", "counter",
		      "SOCKS5 UDP ASSOCIATE requests refused since start.", u.assoc_refused);
	rv_ctl_w_prom_meta(w, "rvpn_udp_datagrams_total", "counter",
			   "UDP datagrams relayed: to the tunnel (up), to local apps (down).");
	rv_ctl_w_prom_val(w, "rvpn_udp_datagrams_total", "direction=\"up\"", u.dgram_up);
	rv_ctl_w_prom_val(w, "rvpn_udp_datagrams_total", "direction=\"down\"", u.dgram_down);
	rv_ctl_w_prom_meta(w, "rvpn_udp_dropped_total", "counter",
			   "UDP datagrams dropped, by reason.");
	rv_ctl_w_prom_val(w, "rvpn_udp_dropped_total", "reason=\"no_tunnel\"",
			  u.dropped_no_tunnel);
	rv_ctl_w_prom_val(w, "rvpn_udp_dropped_total", "reason=\"queue\"", u.dropped_queue);
	rv_ctl_w_prom_val(w, "rvpn_udp_dropped_total", "reason=\"invalid\"", u.dropped_bad);
	rv_ctl_w_prom_val(w, "rvpn_udp_dropped_total", "reason=\"local\"", u.dropped_local);
	rv_client_status_rfwd_prom(cl, &s, w);
}

static int rv_client_status_answer(void *arg, enum rv_ctl_request req, struct rv_buf *out)
{
	struct rv_client_status *st = arg;
	struct rv_ctl_w w;

	rv_ctl_w_init(&w, out);
	if (req == RV_CTL_REQ_STATUS)
		rv_client_status_text(st, &w);
	else if (req == RV_CTL_REQ_STATUS_JSON)
		rv_client_status_json(st, &w);
	else if (req == RV_CTL_REQ_METRICS)
		rv_client_status_prom(st, &w);
	else
		return RV_ERR_INVALID_ARG;
	return w.err;
}

int rv_client_status_open(struct rv_client *cl, struct rv_client_status **out)
{
	const struct rv_client_opts *o = cl->opts;
	struct rv_client_status *st;
	int r;

	*out = NULL;
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return RV_ERR_NOMEM;
	st->cl = cl;
	st->start_ms = rv_loop_now_ms(cl->loop);
	r = rv_ctl_open_service(cl->loop, "client", o->control, o->metrics,
				(const struct sockaddr *)&o->metrics_sa, o->metrics_salen,
				rv_client_status_answer, st, &st->ctl, &st->metrics);
	if (r != RV_OK) {
		rv_client_status_close(st);
		return r;
	}
	*out = st;
	return RV_OK;
}

void rv_client_status_close(struct rv_client_status *st)
{
	if (st == NULL)
		return;
	rv_ctl_free(st->metrics);
	rv_ctl_free(st->ctl);
	free(st);
}
