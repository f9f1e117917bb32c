/* rv_stream.h - one multiplexed stream of a session (see rv_session.h),
 * bound to one local fd: the client's accepted SOCKS/-L socket or the
 * server's connected target socket (or, split, a pair: read from fd, write
 * to a separate wfd; see rv_stream_set_write_fd).  The session owns the stream object
 * and the fd; owners hold a struct rv_stream * only between its creation
 * and on_stream_closed.
 *
 * Lifecycle (state):  CONNECTING -> OPEN -> CLOSED
 *   client: CONNECT sent, waiting for PROXY_RESPONSE; fd not read.
 *   server: CONNECT received, owner resolving/connecting; no fd yet.
 * Per direction, as OpenSSH channels:
 *   istate: local fd -> peer.  OPEN -> (EOF on fd, PROXY_FIN queued) CLOSED.
 *   ostate: peer -> local fd.  OPEN -> (PROXY_FIN received) DRAIN (buffer
 *           still being written) -> (shutdown(fd, SHUT_WR)) CLOSED.
 * Both CLOSED -> stream freed.  Errors either way -> PROXY_RESET, freed.
 *
 * Flow control: we read from fd only while the peer's credit is > 0 and
 * the session is below its high water mark, at most min(credit,
 * RV_FRAME_DATA_MAX) per frame.  Received DATA is written to fd; what fd
 * does not take is buffered, never more than the window we granted, and
 * WINDOW_UPDATE returns credit as fd drains (once half a window is due).
 * A peer exceeding its credit gets RESET(FLOW_CONTROL).
 */
#ifndef RV_STREAM_H
#define RV_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "rv_frame.h"
#include "rv_wire.h"

struct rv_session;
struct rv_stream;

enum rv_stream_state {
	RV_STREAM_STATE_INVALID = 0,
	RV_STREAM_CONNECTING = 1,
	RV_STREAM_OPEN = 2,
	RV_STREAM_CLOSED = 3, /* freed when the current session call returns */
};

enum rv_stream_dir_state {
	RV_STREAM_DIR_OPEN = 0,
	RV_STREAM_DIR_DRAIN = 1,  /* ostate only: FIN received, buffer pending */
	RV_STREAM_DIR_CLOSED = 2,
};

/* Server: the target is connected on fd (non-blocking; the session owns it
 * from now on).  Sends PROXY_RESPONSE(OK, bound) and starts relaying. */
int rv_stream_accept(struct rv_stream *st, int fd, const struct rv_addr *bound);
/* Server: connecting failed: PROXY_RESPONSE(status); the stream is closed
 * (on_stream_closed fires before this returns). */
int rv_stream_reject(struct rv_stream *st, enum rv_status status);

/* Abort: PROXY_RESET(reason) to the peer, fd closed abortively, stream
 * closed (on_stream_closed fires before this returns). */
void rv_stream_reset(struct rv_stream *st, enum rv_reset_reason reason);

/* Queue bytes for the local fd ahead of any relayed data, outside flow
 * control (SOCKS replies); at most RV_FRAME_DATA_MAX in total.  On an open
 * stream they are written at once; only the rest waits for WRITE. */
int rv_stream_write_local(struct rv_stream *st, const void *data, size_t len);
/* Client, right after rv_session_stream_open (still CONNECTING): data for
 * the local side goes to wfd, and the stream's fd is only read (stdio mode:
 * fd is stdin, wfd stdout; pipes or sockets, which must be pollable).  The
 * peer's FIN half-closes wfd: shutdown(SHUT_WR) on a socket, close() on
 * anything else (a pipe's reader sees EOF).  On success the session owns
 * wfd and closes it with the stream; on failure it stays the caller's. */
int rv_stream_set_write_fd(struct rv_stream *st, int wfd);
/* Take the fd back (only from on_stream_response with a failure status or
 * on_stream_closed): the session will not close it.  Returns the fd or -1
 * (also for a split stream: see rv_stream_set_write_fd). */
int rv_stream_detach_fd(struct rv_stream *st);
/* Client, right after rv_session_stream_open (still CONNECTING): optimistic
 * data (PROTOCOL.md §7.2).  The early bytes and whatever fd yields go out at
 * once, within the initial credit, instead of after PROXY_RESPONSE: one
 * round trip less for a client that speaks first.  read_now: also read fd
 * at once, so what the app wrote already goes with the CONNECT (an app that
 * speaks first); 0 when the app waits for a reply of ours (SOCKS): a read
 * now would find nothing, and the loop reports what comes later.  Once fd
 * has been read before the response a failure is no longer retryable
 * (those bytes are gone); the early bytes alone stay the owner's to resend.
 * RV_ERR_STATE unless a client stream still connecting. */
int rv_stream_set_optimistic(struct rv_stream *st, int read_now);
/* 1 if the peer never processed this stream (refused after GOAWAY, or the
 * session died before a response) and nothing was read from fd before the
 * response: safe to retry elsewhere. */
int rv_stream_retryable(const struct rv_stream *st);

uint32_t rv_stream_id(const struct rv_stream *st);
int rv_stream_fd(const struct rv_stream *st);
struct rv_session *rv_stream_session(const struct rv_stream *st);
void *rv_stream_get_user(const struct rv_stream *st);
void rv_stream_set_user(struct rv_stream *st, void *user);
enum rv_stream_state rv_stream_get_state(const struct rv_stream *st);
enum rv_stream_dir_state rv_stream_get_istate(const struct rv_stream *st);
enum rv_stream_dir_state rv_stream_get_ostate(const struct rv_stream *st);
/* Why the stream was reset (RV_RESET_INVALID if it was not). */
enum rv_reset_reason rv_stream_reset_reason(const struct rv_stream *st);
/* Payload bytes relayed: up = local fd -> peer, down = peer -> local fd. */
void rv_stream_get_counts(const struct rv_stream *st, uint64_t *up, uint64_t *down);
const char *rv_stream_state_str(enum rv_stream_state state);

#endif
