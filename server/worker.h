/* worker.h - rvpn-server with several worker processes (--workers N > 1).
 *
 * The supervisor (supervise.c) binds the listening socket, then forks N
 * workers; each runs the ordinary server (server.c) on that shared socket
 * and the kernel gives every new connection to one of them.  What must hold
 * across workers goes through the supervisor:
 *  - replay protection: the supervisor's rv_authkeys checks every
 *    handshake's timestamp and owns the state file (ADMIT);
 *  - sessions per key: counted by the supervisor (ADMIT / RELEASE), each key
 *    with a slot in shared memory;
 *  - streams per key: an atomic counter in the key's slot, which workers
 *    update directly (no round trip per stream);
 *  - sessions in all (--max-sessions): an atomic counter;
 *  - status: on request each worker fills its snapshot in shared memory.
 * Per worker: pre-auth caps, the buffer budget per key, descriptors.
 * A worker also keeps a per-worker column of what it added to each shared
 * counter, so the supervisor can take back what a dead worker held.
 *
 * Channel: one SOCK_SEQPACKET socketpair per worker; each message is a type
 * byte and fixed fields (big-endian, read with rv_buf), its exact length
 * checked before dispatch.
 *
 * Ownership: the supervisor maps the shared memory before forking and owns
 * it; a worker gets a struct rv_worker (its end of the channel, its index,
 * the mapping) and never frees the mapping.
 */
#ifndef RV_SERVER_WORKER_H
#define RV_SERVER_WORKER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "rv_wire.h"
#include "status_snap.h"

enum rv_worker_limits {
	RV_WORKERS_MAX = 64,
	RV_WORKER_RPC_TIMEOUT_MS = 3000,  /* a worker's wait for the supervisor */
	RV_WORKER_SNAP_TIMEOUT_MS = 2000, /* the supervisor's wait for snapshots */
	RV_WORKER_RESPAWN_MIN_MS = 500,   /* a worker that died: restart delay */
	RV_WORKER_RESPAWN_MAX_MS = 30000, /* doubled while it keeps dying */
	RV_WORKER_STABLE_MS = 10000,      /* up this long: delay back to min */
	RV_WORKER_MSG_MAX = 64,
	RV_WORKER_DEFER_MS = 5,           /* a busier worker leaves a new
					   * connection to an idler one this long */
};

/* Channel messages (worker -> supervisor: W, supervisor -> worker: S). */
enum rv_worker_msg_type {
	RV_WMSG_READY = 1,      /* W: set up, accepting (empty) */
	RV_WMSG_ADMIT = 2,      /* W: seq u32, pub 32, tai64n 12 */
	RV_WMSG_ADMIT_R = 3,    /* S: seq u32, result u32 (RV_OK / -RV_ERR_*),
				 * what u8, slot u32, count u32 */
	RV_WMSG_RELEASE = 4,    /* W: slot u32: a session of the key ended */
	RV_WMSG_SNAP_REQ = 5,   /* S: seq u32: fill your snapshot */
	RV_WMSG_SNAP_DONE = 6,  /* W: seq u32 */
	RV_WMSG_RELOAD = 7,     /* S: re-read authorized_keys (empty) */
	RV_WMSG_RELOAD_REQ = 8, /* W: SIGHUP reached a worker (empty) */
	RV_WMSG_DRAIN = 9,      /* S: GOAWAY and drain, as on SIGTERM (empty) */
	RV_WMSG_STOP = 10,      /* S: second signal: exit now (empty) */
};

enum rv_worker_msg_len {
	RV_WMSG_EMPTY_LEN = 1,
	RV_WMSG_ADMIT_LEN = 1 + 4 + RV_KEY_LEN + RV_TAI64N_LEN,
	RV_WMSG_ADMIT_R_LEN = 1 + 4 + 4 + 1 + 4 + 4,
	RV_WMSG_SLOT_LEN = 1 + 4, /* RELEASE */
	RV_WMSG_SEQ_LEN = 1 + 4,  /* SNAP_REQ, SNAP_DONE */
};

/* Which check refused an ADMIT. */
enum rv_worker_admit_what {
	RV_ADMIT_AUTHKEYS = 0,  /* result from rv_authkeys_accept */
	RV_ADMIT_PER_KEY = 1,   /* RV_ERR_LIMIT: --max-sessions-per-key (count) */
	RV_ADMIT_SLOTS = 2,     /* RV_ERR_LIMIT: no key slot free */
};

/* A key's slot in shared memory. */
struct rv_shm_key {
	_Atomic uint32_t streams; /* streams and UDP associations, every worker */
};

/* The mapping (see rv_shm_layout for the offsets of the arrays). */
struct rv_shm {
	uint32_t n_workers, n_keys;
	_Atomic uint32_t sessions;        /* authenticated, every worker */
	size_t size;                      /* of the whole mapping */
	struct rv_shm_key *keys;          /* [n_keys] */
	uint32_t *key_streams;            /* [n_workers][n_keys]: each worker's part */
	uint32_t *sessions_w;             /* [n_workers]: each worker's part */
	_Atomic uint32_t *load_w;         /* [n_workers]: connections each holds
					   * (pre-auth + sessions), for accept */
	struct rv_server_snap *snaps;     /* [n_workers] */
};

/* Supervisor: maps it (shared, anonymous) before forking.  The struct
 * itself lives at the start of the mapping. */
int rv_shm_create(uint32_t n_workers, uint32_t n_keys, struct rv_shm **out);
void rv_shm_destroy(struct rv_shm *shm);

/* A worker's side. */
enum rv_worker_state {
	RV_WORKER_STATE_INVALID = 0,
	RV_WORKER_CONNECTED = 1, /* channel open */
	RV_WORKER_ORPHAN = 2,    /* the supervisor is gone: exit */
};

struct rv_worker {
	enum rv_worker_state state;
	uint32_t index;
	int chan;            /* our end of the channel */
	int listen_fd;       /* the shared listening socket */
	struct rv_shm *shm;
	uint32_t seq;
	/* Set by messages that arrive while we wait for an answer, handled by
	 * the server loop (server.c) afterwards. */
	int want_reload, want_drain, want_stop, want_snap;
	uint32_t snap_seq;
};

/* Blocking round trip: the supervisor checks the replay timestamp and the
 * key's session count, and takes one session of the key on success.
 * RV_OK (*slot set), an rv_authkeys_accept result, RV_ERR_LIMIT (*what and
 * *count say which limit), RV_ERR_TIMEOUT / RV_ERR_IO (no answer). */
int rv_worker_admit(struct rv_worker *w, const uint8_t pub[RV_KEY_LEN],
		    const uint8_t tai64n[RV_TAI64N_LEN], uint32_t *slot,
		    enum rv_worker_admit_what *what, uint32_t *count);
/* The session that ADMIT counted ended. */
void rv_worker_release(struct rv_worker *w, uint32_t slot);
/* Adds delta (+1 / -1) to the key's streams; returns the new total. */
uint32_t rv_worker_key_streams_add(struct rv_worker *w, uint32_t slot, int delta);
uint32_t rv_worker_key_streams(const struct rv_worker *w, uint32_t slot);
/* Authenticated sessions in all: +1 / -1, the new total. */
uint32_t rv_worker_sessions_add(struct rv_worker *w, int delta);
/* Accept balancing: publishes our load; 1 if another live worker holds
 * fewer connections, so it should take the next one. */
int rv_worker_busier(struct rv_worker *w, uint32_t load);
/* Reads and handles what the supervisor sent (sets the want_* flags). */
void rv_worker_on_readable(struct rv_worker *w);
/* Sends an empty message of this type (READY, RELOAD_REQ) or a SNAP_DONE. */
void rv_worker_send(struct rv_worker *w, enum rv_worker_msg_type type, uint32_t seq);

#endif
