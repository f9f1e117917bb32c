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

enum {
	/* Unsent bytes the kernel holds for the WebSocket (both ends).
	 * Measured (README "Performance"): UDP echo p50 beside a bulk
	 * stream about halved, bulk rate on loopback and at 100 ms /
	 * 1 Gbit/s unchanged within noise; 256 KiB did no better.  The
	 * same mark as relayed sockets (RV_SOCKET_NOTSENT_LOWAT). */
	RV_WS_NOTSENT_LOWAT = 128 * 1024,
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

#endif
