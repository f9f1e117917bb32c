/* rv_sockopt.h - TCP socket options we set ourselves.
 *
 * Every TCP socket we write request-sized data to (the WebSocket on both
 * ends, accepted local sockets, target sockets) needs TCP_NODELAY: with
 * Nagle on, a small tail segment waits for the peer's (delayed, ~40 ms)
 * ACK.  lws sets it on sockets it accepts or connects itself, but not on
 * descriptors it adopts (the server accepts its own).
 *
 * The WebSocket's socket also gets TCP_NOTSENT_LOWAT: without it the
 * kernel queues up to the send buffer (megabytes, autotuned) of bulk data
 * ahead of anything rvpn writes next, so a datagram or a small stream's
 * reply waits behind it however rvpn orders its own queue.  With it the
 * socket is writable only below the mark, and the rest waits in rvpn, where
 * datagrams and control frames go first.  A local tuning, not a wire limit. */
#ifndef RV_SOCKOPT_H
#define RV_SOCKOPT_H

#include <stdint.h>

enum {
	/* Unsent bytes the kernel holds for the WebSocket (both ends).
	 * Measured (README "Performance"): UDP echo p50 beside a bulk
	 * stream about halved, bulk rate on loopback and at 100 ms /
	 * 1 Gbit/s unchanged within noise; 256 KiB did no better.  The
	 * same mark as relayed sockets (RV_SOCKET_NOTSENT_LOWAT). */
	RV_WS_NOTSENT_LOWAT = 128 * 1024,
	/* On a long path the sender re-tunes the mark to the data the path
	 * delivers in a quarter of its RTT (at most 16 ms), within
	 * [RV_WS_NOTSENT_LOWAT, RV_WS_NOTSENT_LOWAT_MAX]: with 128 KiB, 1 ms
	 * at 1 Gbit/s, a sender that is late by a millisecond leaves the
	 * path idle.  The backlog then adds at most RTT/4 to a datagram's
	 * wait; loopback and LAN paths stay at 128 KiB. */
	RV_WS_NOTSENT_LOWAT_MAX = 4 * 1024 * 1024,
	RV_WS_NOTSENT_RTT_DIV = 4,
	RV_WS_NOTSENT_TIME_MAX_US = 16000,
	RV_WS_NOTSENT_RETUNE_US = 200000, /* at most this often */
};

/* Per-socket state of the re-tuned mark.  Owned by the socket's owner;
 * zero it (or rv_sockopt_lowat_init) when the mark is set first. */
struct rv_sockopt_lowat {
	int cur;        /* the mark set on the socket, bytes */
	int64_t due_us; /* next re-tune, caller's monotonic clock */
};

/* Turn Nagle off on fd.  0, or RV_ERR_IO (not a TCP socket, bad fd). */
int rv_sockopt_set_nodelay(int fd);

/* *on = 1 if TCP_NODELAY is set on fd, else 0.  0, or RV_ERR_IO. */
int rv_sockopt_get_nodelay(int fd, int *on);

/* Set TCP_NOTSENT_LOWAT on fd to bytes (> 0).  0, or RV_ERR_INVALID_ARG
 * (bytes <= 0), or RV_ERR_IO (not a TCP socket, bad fd). */
int rv_sockopt_set_notsent_lowat(int fd, int bytes);

/* *bytes = fd's TCP_NOTSENT_LOWAT (the sysctl default when unset).  0, or
 * RV_ERR_IO, *bytes unchanged. */
int rv_sockopt_get_notsent_lowat(int fd, int *bytes);

/* The WebSocket mark for a path with delivery rate rate_Bps (bytes/s,
 * 0 = unknown) and smoothed RTT srtt_us: rate * min(srtt/4, 16 ms),
 * clamped to [RV_WS_NOTSENT_LOWAT, RV_WS_NOTSENT_LOWAT_MAX]. */
int rv_sockopt_lowat_for_path(uint64_t rate_Bps, uint32_t srtt_us);

/* Set the WebSocket's first mark (RV_WS_NOTSENT_LOWAT) and start *lw.
 * 0, or RV_ERR_IO. */
int rv_sockopt_lowat_init(int fd, struct rv_sockopt_lowat *lw, int64_t now_us);

/* Called by a sender when it writes: at most every RV_WS_NOTSENT_RETUNE_US
 * it reads TCP_INFO and moves the mark to rv_sockopt_lowat_for_path() when
 * that differs from lw->cur by more than an eighth.  0 (also when not
 * due), or RV_ERR_IO (lw unchanged but for the due time). */
int rv_sockopt_lowat_retune(int fd, struct rv_sockopt_lowat *lw, int64_t now_us);

#endif
