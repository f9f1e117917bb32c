/* rv_session_int.h - private structures shared by rv_session.c (life
 * cycle, keepalive, GOAWAY, stream table), rv_session_out.c (outbox and
 * sealing), rv_session_in.c (decrypt and dispatch) and rv_stream.c
 * (per-stream relay and flow control).  Not for use elsewhere.
 */
#ifndef RV_SESSION_INT_H
#define RV_SESSION_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "rv_buf.h"
#include "rv_frame.h"
#include "rv_loop.h"
#include "rv_ratchet.h"
#include "rv_session.h"
#include "rv_stream.h"

enum {
	RV_SESSION_BUCKETS_MIN = 64,     /* stream table; doubles as it fills */
	RV_STREAM_READS_PER_EVENT = 4,
	RV_STREAM_READ_IOV = 4,          /* DATA frames per readv: ~a message */
	RV_SESSION_DATA_BATCH = 8,       /* DATA frames per writev */
	/* Recycled outbox chunks kept while busy (each one message of
	 * plaintext): a bulk stream cycles a few, and freeing them cost a
	 * wipe, brk() and page faults per message.  The tick trims to one. */
	RV_SESSION_SPARE_MAX = 4,
	/* A stream with fewer bytes than this in the light queue, and none
	 * in the bulk one, queues its next read as light: a small reply
	 * leaves within a message or two, not behind a megabyte of bulk. */
	RV_SESSION_LIGHT_MAX = RV_FRAME_DATA_MAX,
};

struct rv_stream {
	struct rv_session *sess;
	uint32_t id;
	enum rv_stream_state state;
	enum rv_stream_dir_state istate; /* local fd -> peer */
	enum rv_stream_dir_state ostate; /* peer -> local fd */
	int fd;
	int fd_owned;
	struct rv_loop_fd *w;
	unsigned events;                 /* interest currently set on w */
	/* Split stream (rv_stream_set_write_fd): fd is only read, data for
	 * the local side goes to wfd (its own watcher, WRITE only). */
	int split;
	int wfd;                         /* -1 once half-closed (not a socket) */
	int wfd_sock;                    /* half-close by shutdown(), not close() */
	struct rv_loop_fd *ww;
	unsigned wevents;                /* interest currently set on ww */
	void *user;

	/* fd -> peer */
	uint32_t send_credit;            /* bytes the peer still accepts */
	uint32_t peer_window;            /* the peer's window: cap on credit */
	struct rv_buf early;             /* read by the owner before open */

	/* peer -> fd */
	uint32_t local_window;           /* grows with window growth */
	uint32_t base_window;            /* as announced; the rest is pool's */
	uint64_t epoch_start;            /* us: growth epoch (half a window) */
	uint32_t epoch_bytes;            /* returned in this epoch */
	uint32_t recv_credit;            /* bytes the peer may still send */
	uint32_t consumed;               /* written to fd, credit not returned */
	struct rv_buf obuf;              /* for fd: local bytes, then data */
	size_t local_pending;            /* leading obuf bytes outside credit */

	enum rv_reset_reason reset_reason;
	int retryable;
	/* Client: may send before the response (rv_stream_set_optimistic);
	 * read_early: it read fd then, so a retry would lose those bytes. */
	int optimistic;
	int read_early;
	int response_done;               /* opener: on_stream_response ran */
	int local_open;                  /* we opened it (CONNECT / REMOTE_CONNECT sent) */
	int in_final_cb;                 /* detach allowed */
	uint64_t up, down;
	uint64_t last_activity;

	struct rv_stream *hnext;         /* hash chain */
	/* All live streams, least recently active first (the idle check
	 * stops at the first one not idle); dead list. */
	struct rv_stream *prev, *next;
	/* Paused list: streams that would read (or send early data) but for
	 * the session's high water mark; only these are visited on resume. */
	struct rv_stream *bprev, *bnext;
	int blocked;
	/* Held list: streams whose drained obuf still owns memory; the tick
	 * visits only these (an idle stream without a buffer costs nothing). */
	struct rv_stream *kprev, *knext;
	int held;
	/* Bytes of this stream's frames in s->light / s->data (sent frames
	 * are subtracted as their chunk leaves the queue).  While q_bulk > 0
	 * every frame goes to s->data, so a stream's frames keep their order. */
	size_t q_light, q_bulk;
};

struct rv_chunk {
	struct rv_buf b;                 /* frames back to back */
	struct rv_chunk *next;
};

struct rv_chunkq {
	struct rv_chunk *head, *tail;
	size_t bytes;
};

struct rv_session {
	struct rv_loop *loop;
	struct rv_session_config cfg;
	struct rv_session_callbacks cb;
	struct rv_ratchet *ratchet;
	enum rv_session_state state;
	char name[64];
	size_t plain_max;                /* frames per message: max_message -
					  * RV_TRANSPORT_OVERHEAD */

	/* outbox: plaintext frames, sealed in rv_session_next_message */
	struct rv_chunkq prio;           /* control frames */
	struct rv_chunkq light;          /* DATA, FIN, RESET of streams with
					  * little queued: before data */
	struct rv_chunkq data;           /* DATA, FIN, RESET (bulk) */
	struct rv_chunkq *resv_q;        /* queue of the open DATA reservation */
	struct rv_stream *resv_st;       /* its stream */
	struct rv_chunkq dgram;          /* DATAGRAM: after prio, before data;
					  * <= cfg.datagram_queue bytes */
	struct rv_chunk *spare;          /* recycled chunks (list) */
	unsigned nspare;                 /* <= RV_SESSION_SPARE_MAX */
	struct rv_buf wire;              /* the sealed message handed out */
	int wire_ready;
	int paused;                      /* above high water */
	int input_stopped;               /* above input_stop: owner told */
	size_t held_local;               /* bytes in every stream's obuf */
	int want_write_signalled;
	struct rv_window_pool own_pool;
	struct rv_window_pool *pool;     /* own_pool or cfg.window_pool */
	int rtt_valid;                   /* a PONG came back: stats.rtt_* hold */
	size_t window_grown;             /* this session's share of *pool */

	struct rv_buf rxplain;

	struct rv_stream **buckets;      /* id -> stream, chained */
	uint32_t nbuckets;               /* power of two, >= nstreams */
	struct rv_stream *streams;       /* live, least recently active first */
	struct rv_stream *streams_tail;
	struct rv_stream *blocked;       /* waiting for the resume below low water */
	struct rv_stream *held;          /* drained obuf still allocated */
	struct rv_stream *dead;          /* closed, freed at depth 0 */
	uint32_t nstreams;
	uint32_t next_id;                /* next id we open (client: 1.., server:
					  * RV_STREAM_ID_SERVER | 1..) */
	uint32_t last_peer_id;           /* highest id the peer opened */
	uint32_t nremote;                /* live server-space streams */
	uint32_t last_listen_req;        /* server: highest LISTEN req seen */
	uint32_t last_assoc;             /* server: highest association id seen */

	int goaway_sent, goaway_received;
	uint32_t goaway_last;

	struct rv_loop_timer *tick;
	uint64_t last_rx, last_ping;
	uint64_t ping_opaque;            /* us: when the outstanding PING was queued */
	int ping_outstanding;

	int depth;                       /* nesting of session entry points */
	int free_pending;
	int closed_notified;
	struct rv_session_stats stats;
};

/* rv_session.c (life cycle), rv_session_out.c (outbox), rv_session_in.c
 * (intake) */
void rv_session_enter(struct rv_session *s);
void rv_session_signal_write(struct rv_session *s);
void rv_session_leave(struct rv_session *s);
int rv_session_queue_frame(struct rv_session *s, const struct rv_frame *f, int prio);
/* Reserve room for a DATA frame of up to max bytes in the data queue;
 * *body gets the payload pointer.  Commit with rv_session_data_commit. */
int rv_session_data_reserve(struct rv_session *s, uint32_t stream_id, size_t max,
			    uint8_t **body);
size_t rv_session_data_fit(struct rv_session *s, uint32_t stream_id, size_t max);
void rv_session_data_commit(struct rv_session *s, size_t max, size_t used);
/* Up to niov DATA frames (each <= RV_FRAME_DATA_MAX, max bytes in all) in
 * one message, for one readv(); returns how many (iov filled) or a
 * negative error.  Commit with rv_session_data_commit_v before queueing
 * anything else. */
int rv_session_data_reserve_v(struct rv_session *s, uint32_t stream_id, size_t max,
			      struct iovec *iov, int niov);
void rv_session_data_commit_v(struct rv_session *s, const struct iovec *iov, int n, size_t used);
void rv_session_check_water(struct rv_session *s);
/* Free recycled chunks down to keep (the tick, when the outbox is idle). */
void rv_session_trim_spares(struct rv_session *s, unsigned keep);
int rv_session_fail(struct rv_session *s, int err, enum rv_goaway_reason reason);
void rv_session_send_ping(struct rv_session *s);
void rv_session_stream_link(struct rv_session *s, struct rv_stream *st);
void rv_session_stream_unlink(struct rv_session *s, struct rv_stream *st);
struct rv_stream *rv_session_stream_find(struct rv_session *s, uint32_t id);
/* Traffic on st: now its last activity, moved to the end of the live list. */
void rv_session_stream_touch(struct rv_session *s, struct rv_stream *st);
/* Park st until the session resumes reading (idempotent) / take it off. */
void rv_session_block(struct rv_session *s, struct rv_stream *st);
void rv_session_unblock(struct rv_session *s, struct rv_stream *st);
/* Put st on / take it off the held list (both idempotent). */
void rv_session_hold(struct rv_session *s, struct rv_stream *st);
void rv_session_unhold(struct rv_session *s, struct rv_stream *st);

/* rv_stream.c */
struct rv_stream *rv_stream_alloc(struct rv_session *s, uint32_t id, uint32_t local_window,
				  uint32_t peer_window);
int rv_stream_attach_fd(struct rv_stream *st, int fd);
void rv_stream_update_events(struct rv_stream *st);
/* Close: send_reset queues PROXY_RESET(reason) (unless the session is
 * dead); abort closes fd with RST.  Idempotent. */
void rv_stream_close(struct rv_stream *st, int send_reset, enum rv_reset_reason reason,
		     int abort_fd);
void rv_stream_destroy(struct rv_stream *st);
/* Frame handlers; return 0 or a session-fatal negative error. */
int rv_stream_on_data(struct rv_stream *st, const uint8_t *p, size_t len);
/* The same for consecutive DATA frames of one stream: one writev. */
int rv_stream_on_data_v(struct rv_stream *st, const struct iovec *iov, int niov);
int rv_stream_on_fin(struct rv_stream *st);
int rv_stream_on_reset(struct rv_stream *st, enum rv_reset_reason reason);
int rv_stream_on_window_update(struct rv_stream *st, uint32_t credit);
int rv_stream_on_response(struct rv_stream *st, enum rv_status status,
			  const struct rv_addr *bound);
/* Client, before a response: fail the stream locally (GOAWAY, death). */
void rv_stream_fail_connecting(struct rv_stream *st, int retryable);
/* Send what credit and the watermark allow from the early buffer. */
void rv_stream_pump_early(struct rv_stream *st);
/* Free a drained fd buffer (the session tick, for streams gone quiet). */
void rv_stream_trim(struct rv_stream *st);
void rv_stream_check_idle(struct rv_stream *st, uint64_t now, uint32_t idle_ms);

#endif
