/* Scaffolding shared by the tests in tests/unit/session: a client and a
 * server rv_session paired in memory (messages handed over by a pump, no
 * transport), socketpairs for stream descriptors, a loop-driven endpoint on
 * one end of a stream, and bounded waits.  Every helper fails the running
 * cmocka test (assert_*) on a broken invariant.
 *
 * Ownership: the harness owns nothing but an sh_bulk's members (below).
 * Otherwise the loop is the caller's;
 * sh_pair_new hands the two sessions (and, on request, a clone of the
 * client's ratchet) to the caller, who frees them (rv_session_free,
 * rv_ratchet_free).  Descriptors from sh_socketpair are the caller's; an
 * sh_ep is embedded by the caller, and sh_ep_close releases its watcher and
 * descriptor.  Buffers grown by sh_drain_fd are the caller's (free()).
 * What only one test needs (tampering relays, delayed paths, interposed
 * loop ops) stays in that test's file. */
#ifndef SESSION_HARNESS_H
#define SESSION_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "rv_addr.h"
#include "rv_loop.h"
#include "rv_ratchet.h"
#include "rv_session.h"
#include "rv_stream.h"

enum {
	SH_PUMP_MAX = 64,            /* messages per direction per pump */
	SH_PUMP_SKIP_CLOSED = 1,     /* flag: hand nothing to a CLOSED session */
};

/* Create the pair on loop over a fresh keyed ratchet pair.  ccfg / scfg may
 * be NULL (all defaults); the roles are set here.  cb (with its arg) serves
 * both sessions.  alice_clone, if not NULL, receives a clone of the
 * client's ratchet (for injecting authentic frames).  Returns the client's
 * rv_session_new result (the server's must succeed). */
int sh_pair_new(struct rv_loop *loop, const struct rv_session_config *ccfg,
		const struct rv_session_config *scfg, const struct rv_session_callbacks *cb,
		struct rv_ratchet **alice_clone, struct rv_session **cli,
		struct rv_session **srv);

/* Move up to max messages from one session to the other; returns how many.
 * flags: SH_PUMP_SKIP_CLOSED.  max_len, if not NULL, is raised to the
 * largest message moved. */
int sh_pump_dir(struct rv_session *from, struct rv_session *to, int max, unsigned flags,
		size_t *max_len);

/* One round: pump both ways (SH_PUMP_MAX each), then one loop pass of at
 * most timeout_ms.  Returns the messages moved. */
int sh_round(struct rv_loop *loop, struct rv_session *cli, struct rv_session *srv,
	     int timeout_ms);

/* Pump both ways with zero-timeout loop passes until a round moves
 * nothing, for at most max_rounds rounds. */
void sh_pump_quiet(struct rv_loop *loop, struct rv_session *cli, struct rv_session *srv,
		   int max_rounds);

/* Read exactly want bytes from the non-blocking fd into out, running
 * sh_round(.., 1) before each read, for at most max_ms. */
void sh_read_exact(struct rv_loop *loop, struct rv_session *cli, struct rv_session *srv,
		   int fd, void *out, size_t want, uint32_t max_ms);

/* An AF_UNIX stream socketpair with extra type flags (SOCK_NONBLOCK ...). */
void sh_socketpair(int sv[2], int type_flags);

/* Accept st on fd with 127.0.0.1:port as the bound address. */
void sh_accept_loopback(struct rv_stream *st, int fd, uint16_t port);

/* Append what fd has now to *got / *got_len: everything, or one read of
 * at most per_pass bytes if per_pass > 0. */
void sh_drain_fd(int fd, uint8_t **got, size_t *got_len, size_t per_pass);

/* One local end (app side or target side) of a stream, driven by the
 * loop: sends out[], counts what it receives (keeping the first bytes);
 * a limited reader reads only its quota. */
struct sh_ep {
	int fd;
	struct rv_loop_fd *w;
	size_t got;
	uint8_t first[2];            /* the first bytes received */
	const uint8_t *out;
	size_t out_len, sent;
	int limited;                 /* slow reader: reads only its quota */
	size_t quota;
};

void sh_ep_init(struct rv_loop *loop, struct sh_ep *e, int fd);
void sh_ep_update(struct sh_ep *e);
void sh_ep_send(struct sh_ep *e, const uint8_t *p, size_t len);
void sh_ep_close(struct sh_ep *e);

/* A bulk relay fixture: the pair on its own loop, the server accepting
 * every stream onto a socketpair (bound 127.0.0.1:1) whose far end it
 * collects into got[].  It owns loop, cli, srv, tgt_fd and got (freed by
 * sh_bulk_free, also after a failed sh_bulk_init). */
struct sh_bulk {
	struct rv_loop *loop;
	struct rv_session *cli, *srv;
	size_t max_seen_c2s;         /* largest client -> server message */
	int tgt_fd;                  /* server side of the target socketpair */
	size_t drain_max;            /* bytes read from the target per pass (0: all) */
	int tgt_sndbuf;              /* SO_SNDBUF of the server's target socket (0: default) */
	uint8_t *got;
	size_t got_len;
	int responded;               /* the client's stream got its OK response */
};

/* Returns the client's rv_session_new result (max_message is the client's). */
int sh_bulk_init(struct sh_bulk *h, size_t max_message, size_t headroom);
void sh_bulk_free(struct sh_bulk *h);

/* Pump, collect the target's bytes and run the loop until the response
 * came and want bytes arrived, or max_ms passed. */
void sh_bulk_run_until(struct sh_bulk *h, size_t want, uint32_t max_ms);

#endif
