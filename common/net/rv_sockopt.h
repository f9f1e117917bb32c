/* rv_sockopt.h - socket options for request-sized writes.
 *
 * Every TCP socket we write request-sized data to (the WebSocket on both
 * ends, accepted local sockets, target sockets) needs TCP_NODELAY: with
 * Nagle on, a small tail segment waits for the peer's (delayed, ~40 ms)
 * ACK.  lws sets it on sockets it accepts or connects itself, but not on
 * descriptors it adopts (the server accepts its own). */
#ifndef RV_SOCKOPT_H
#define RV_SOCKOPT_H

/* Turn Nagle off on fd.  0, or RV_ERR_IO (not a TCP socket, bad fd). */
int rv_sockopt_set_nodelay(int fd);

/* *on = 1 if TCP_NODELAY is set on fd, else 0.  0, or RV_ERR_IO. */
int rv_sockopt_get_nodelay(int fd, int *on);

#endif
