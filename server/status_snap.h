/* status_snap.h - one server's status numbers as plain data: what
 * `rvpn-server status`, `status json` and /metrics show of one process (or
 * one worker).  status.c fills it (rv_server_status_collect) and formats one
 * or many of them (rv_server_status_format).
 *
 * Flat on purpose: no pointers, so a worker can write it into shared memory
 * and the supervisor read it.  The reader treats every field as untrusted
 * (status.c clamps n_rows and bounds the strings). */
#ifndef RV_SERVER_STATUS_SNAP_H
#define RV_SERVER_STATUS_SNAP_H

#include <stdint.h>

#include "rv_authkeys.h"
#include "rv_dns.h"
#include "rv_pool.h"
#include "udp.h"

/* Sessions listed one by one; the rest only count in the totals, so the
 * answer stays far below RV_CTL_ANSWER_MAX at any --max-sessions. */
enum { RV_SERVER_STATUS_LIST_MAX = 1000 };

/* One session row. */
struct rv_server_snap_sess {
	char key[RV_AUTHKEY_NAME_MAX + 1]; /* key name, "" if none; NUL-terminated */
	char peer[64];                     /* client address; NUL-terminated */
	uint8_t closing;                   /* 1: flushing, then closes */
	uint8_t rtt_known;                 /* 1: a PONG came back, rtt_ms is valid */
	uint8_t rfwd;                      /* 1: remote forwards agreed */
	uint64_t up_s;
	uint32_t streams_open;
	uint64_t streams_opened;
	uint64_t data_in, data_out;        /* stream payload bytes */
	uint64_t wire_in, wire_out;        /* WebSocket payload bytes */
	uint64_t msgs_dropped;
	uint32_t rtt_ms;
	uint64_t dh_send_steps, dh_recv_steps;
	uint32_t listeners;                /* -R listeners open */
	uint32_t remote_streams_open;      /* server-opened streams live */
	uint64_t remote_streams_opened;
};

/* One process's (or worker's) numbers. */
struct rv_server_snap {
	uint32_t n_sessions;               /* sessions counted against --max-sessions */
	uint32_t n_preauth;
	uint32_t streams_active;
	uint64_t sessions_total, handshakes_failed;
	uint64_t streams_refused_fds, streams_refused_key;
	/* Totals: stream bytes include ended sessions, the rest live ones. */
	uint64_t data_in, data_out;
	uint64_t wire_in, wire_out;
	uint32_t sessions;                 /* live sessions with a session object */
	uint32_t listeners, rfwd_sessions, remote_streams_open;
	uint64_t remote_streams_opened;
	struct rv_udp_counters udp;
	uint8_t has_pool;                  /* 0: no warm pool, pool is zero */
	struct rv_pool_stats pool;
	struct rv_dns_stats dns;
	uint32_t n_rows;                   /* rows used, <= RV_SERVER_STATUS_LIST_MAX */
	struct rv_server_snap_sess rows[RV_SERVER_STATUS_LIST_MAX];
};

#endif
