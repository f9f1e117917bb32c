/* worker.c - shared memory and a worker's end of the channel (worker.h). */
#include "worker.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "rv_buf.h"
#include "rv_err.h"
#include "rv_log.h"

static size_t rv_shm_align(size_t n)
{
	return (n + 63) & ~(size_t)63;
}

int rv_shm_create(uint32_t n_workers, uint32_t n_keys, struct rv_shm **out)
{
	size_t off_keys, off_ks, off_sw, off_load, off_snaps, size;
	struct rv_shm *shm;
	uint8_t *base;

	*out = NULL;
	if (n_workers == 0 || n_workers > RV_WORKERS_MAX || n_keys == 0)
		return RV_ERR_INVALID_ARG;
	off_keys = rv_shm_align(sizeof(*shm));
	off_ks = rv_shm_align(off_keys + (size_t)n_keys * sizeof(struct rv_shm_key));
	off_sw = rv_shm_align(off_ks + (size_t)n_workers * n_keys * sizeof(uint32_t));
	off_load = rv_shm_align(off_sw + (size_t)n_workers * sizeof(uint32_t));
	off_snaps = rv_shm_align(off_load + (size_t)n_workers * sizeof(_Atomic uint32_t));
	size = off_snaps + (size_t)n_workers * sizeof(struct rv_server_snap);
	/* Anonymous and shared: inherited by fork, gone with the last process. */
	base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED)
		return RV_ERR_NOMEM;
	shm = (struct rv_shm *)(void *)base;
	memset(shm, 0, sizeof(*shm));
	shm->n_workers = n_workers;
	shm->n_keys = n_keys;
	atomic_init(&shm->sessions, 0);
	shm->size = size;
	shm->keys = (struct rv_shm_key *)(void *)(base + off_keys);
	shm->key_streams = (uint32_t *)(void *)(base + off_ks);
	shm->sessions_w = (uint32_t *)(void *)(base + off_sw);
	shm->load_w = (_Atomic uint32_t *)(void *)(base + off_load);
	shm->snaps = (struct rv_server_snap *)(void *)(base + off_snaps);
	for (uint32_t k = 0; k < n_keys; k++)
		atomic_init(&shm->keys[k].streams, 0);
	for (uint32_t i = 0; i < n_workers; i++)
		atomic_init(&shm->load_w[i], UINT32_MAX); /* not started */
	*out = shm;
	return RV_OK;
}

void rv_shm_destroy(struct rv_shm *shm)
{
	if (shm != NULL)
		munmap(shm, shm->size);
}

/* ---- a worker's side --------------------------------------------------- */

static uint64_t rv_worker_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void rv_worker_send_raw(struct rv_worker *w, const struct rv_buf *b)
{
	ssize_t n;

	if (w->state != RV_WORKER_CONNECTED)
		return;
	do {
		n = send(w->chan, rv_buf_ptr(b), rv_buf_len(b), MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0 && errno != EAGAIN) {
		rv_log_error("worker %u: the supervisor is gone (%s): exiting", w->index,
			     strerror(errno));
		w->state = RV_WORKER_ORPHAN;
		w->want_stop = 1;
	}
	/* EAGAIN: SEQPACKET buffers are full of our own messages, which only
	 * happens if the supervisor stopped reading; it then counts this
	 * worker as dead soon, so nothing is lost that matters. */
}

void rv_worker_send(struct rv_worker *w, enum rv_worker_msg_type type, uint32_t seq)
{
	struct rv_buf b;

	rv_buf_init(&b, RV_WMSG_SEQ_LEN);
	(void)rv_buf_put_u8(&b, (uint8_t)type);
	if (type == RV_WMSG_SNAP_DONE)
		(void)rv_buf_put_u32(&b, seq);
	rv_worker_send_raw(w, &b);
	rv_buf_cleanup(&b);
}

/* Parses an ADMIT_R (exact length).  RV_OK or RV_ERR_MALFORMED. */
static int rv_worker_parse_admit_r(const uint8_t *p, size_t len, uint32_t *seq, uint32_t *res,
				   uint8_t *what, uint32_t *slot, uint32_t *count)
{
	struct rv_buf b;
	uint8_t type;

	rv_buf_init_view(&b, p, len);
	if (len != RV_WMSG_ADMIT_R_LEN || rv_buf_get_u8(&b, &type) != RV_OK ||
	    type != RV_WMSG_ADMIT_R || rv_buf_get_u32(&b, seq) != RV_OK ||
	    rv_buf_get_u32(&b, res) != RV_OK || rv_buf_get_u8(&b, what) != RV_OK ||
	    rv_buf_get_u32(&b, slot) != RV_OK || rv_buf_get_u32(&b, count) != RV_OK)
		return RV_ERR_MALFORMED;
	return RV_OK;
}

/* An answer to an ADMIT we stopped waiting for: a session the supervisor
 * counted that will never exist, so give it back. */
static void rv_worker_late_admit(struct rv_worker *w, uint32_t res, uint32_t slot)
{
	if (res == 0 && slot < w->shm->n_keys)
		rv_worker_release(w, slot);
}

/* One message from the supervisor (other than ADMIT_R): sets flags. */
static void rv_worker_dispatch(struct rv_worker *w, const uint8_t *p, size_t len)
{
	struct rv_buf b;
	uint8_t type;
	uint32_t seq;

	rv_buf_init_view(&b, p, len);
	if (rv_buf_get_u8(&b, &type) != RV_OK)
		return;
	switch (type) {
	case RV_WMSG_SNAP_REQ:
		if (len != RV_WMSG_SEQ_LEN || rv_buf_get_u32(&b, &seq) != RV_OK)
			break;
		w->want_snap = 1;
		w->snap_seq = seq;
		return;
	case RV_WMSG_RELOAD:
		if (len != RV_WMSG_EMPTY_LEN)
			break;
		w->want_reload = 1;
		return;
	case RV_WMSG_DRAIN:
		if (len != RV_WMSG_EMPTY_LEN)
			break;
		w->want_drain = 1;
		return;
	case RV_WMSG_STOP:
		if (len != RV_WMSG_EMPTY_LEN)
			break;
		w->want_stop = 1;
		return;
	case RV_WMSG_ADMIT_R: {
		uint32_t res, slot, count;
		uint8_t what;

		if (rv_worker_parse_admit_r(p, len, &seq, &res, &what, &slot, &count) != RV_OK)
			break;
		rv_worker_late_admit(w, res, slot);
		return;
	}
	default:
		break;
	}
	rv_log_error("worker %u: unexpected message %u (%zu bytes) from the supervisor",
		     w->index, type, len);
}

/* Reads one message without blocking: 1 read, 0 none, -1 channel closed. */
static int rv_worker_recv_one(struct rv_worker *w, uint8_t *p, size_t cap, size_t *len)
{
	ssize_t n;

	do {
		n = recv(w->chan, p, cap, MSG_DONTWAIT | MSG_TRUNC);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
	if (n == 0)
		return -1;
	*len = (size_t)n > cap ? cap + 1 : (size_t)n; /* too long: fails every exact check */
	return 1;
}

static void rv_worker_orphaned(struct rv_worker *w)
{
	if (w->state == RV_WORKER_CONNECTED)
		rv_log_error("worker %u: the supervisor closed the channel: exiting", w->index);
	w->state = RV_WORKER_ORPHAN;
	w->want_stop = 1;
}

void rv_worker_on_readable(struct rv_worker *w)
{
	uint8_t msg[RV_WORKER_MSG_MAX];
	size_t len;
	int i, r;

	for (i = 0; i < 16 && w->state == RV_WORKER_CONNECTED; i++) {
		r = rv_worker_recv_one(w, msg, sizeof(msg), &len);
		if (r == 0)
			return;
		if (r < 0) {
			rv_worker_orphaned(w);
			return;
		}
		rv_worker_dispatch(w, msg, len);
	}
}

int rv_worker_admit(struct rv_worker *w, const uint8_t pub[RV_KEY_LEN],
		    const uint8_t tai64n[RV_TAI64N_LEN], uint32_t *slot,
		    enum rv_worker_admit_what *what, uint32_t *count)
{
	uint8_t msg[RV_WORKER_MSG_MAX];
	struct rv_buf b;
	uint64_t deadline;
	uint32_t seq, rseq, res, rslot, rcount;
	uint8_t rwhat;
	size_t len;
	int r;

	*what = RV_ADMIT_AUTHKEYS;
	*count = 0;
	if (w->state != RV_WORKER_CONNECTED)
		return RV_ERR_IO;
	seq = ++w->seq;
	rv_buf_init(&b, RV_WMSG_ADMIT_LEN);
	r = rv_buf_put_u8(&b, RV_WMSG_ADMIT);
	if (r == RV_OK)
		r = rv_buf_put_u32(&b, seq);
	if (r == RV_OK)
		r = rv_buf_put(&b, pub, RV_KEY_LEN);
	if (r == RV_OK)
		r = rv_buf_put(&b, tai64n, RV_TAI64N_LEN);
	if (r == RV_OK)
		rv_worker_send_raw(w, &b);
	rv_buf_cleanup(&b);
	if (r != RV_OK)
		return r;
	/* Blocking, but short: the supervisor answers from memory (or after
	 * one fsync of the replay state, as the single process would). */
	deadline = rv_worker_now_ms() + RV_WORKER_RPC_TIMEOUT_MS;
	while (w->state == RV_WORKER_CONNECTED) {
		struct pollfd pfd = { .fd = w->chan, .events = POLLIN };
		uint64_t now = rv_worker_now_ms();

		if (now >= deadline) {
			rv_log_error("worker %u: no answer from the supervisor in %u ms",
				     w->index, (unsigned)RV_WORKER_RPC_TIMEOUT_MS);
			return RV_ERR_TIMEOUT;
		}
		if (poll(&pfd, 1, (int)(deadline - now)) < 0 && errno != EINTR)
			return RV_ERR_IO;
		r = rv_worker_recv_one(w, msg, sizeof(msg), &len);
		if (r == 0)
			continue;
		if (r < 0) {
			rv_worker_orphaned(w);
			break;
		}
		if (len == 0 || msg[0] != RV_WMSG_ADMIT_R) {
			rv_worker_dispatch(w, msg, len);
			continue;
		}
		if (rv_worker_parse_admit_r(msg, len, &rseq, &res, &rwhat, &rslot, &rcount) != RV_OK) {
			rv_log_error("worker %u: malformed answer from the supervisor", w->index);
			return RV_ERR_INTERNAL;
		}
		if (rseq != seq) {
			rv_worker_late_admit(w, res, rslot); /* a request that timed out */
			continue;
		}
		r = -(int)res;
		if (r > 0 || r <= RV_ERR_MIN_ || rwhat > RV_ADMIT_SLOTS ||
		    (r == RV_OK && rslot >= w->shm->n_keys))
			return RV_ERR_INTERNAL;
		*what = (enum rv_worker_admit_what)rwhat;
		*count = rcount;
		if (r == RV_OK)
			*slot = rslot;
		return r;
	}
	return RV_ERR_IO;
}

void rv_worker_release(struct rv_worker *w, uint32_t slot)
{
	struct rv_buf b;

	rv_buf_init(&b, RV_WMSG_SLOT_LEN);
	if (rv_buf_put_u8(&b, RV_WMSG_RELEASE) == RV_OK && rv_buf_put_u32(&b, slot) == RV_OK)
		rv_worker_send_raw(w, &b);
	rv_buf_cleanup(&b);
}

uint32_t rv_worker_key_streams_add(struct rv_worker *w, uint32_t slot, int delta)
{
	struct rv_shm *shm = w->shm;
	uint32_t *mine = &shm->key_streams[(size_t)w->index * shm->n_keys + slot];
	uint32_t old;

	if (delta > 0) {
		(*mine)++;
		return atomic_fetch_add(&shm->keys[slot].streams, 1) + 1;
	}
	if (*mine == 0)
		return atomic_load(&shm->keys[slot].streams); /* never below what we added */
	(*mine)--;
	old = atomic_fetch_sub(&shm->keys[slot].streams, 1);
	return old - 1;
}

uint32_t rv_worker_key_streams(const struct rv_worker *w, uint32_t slot)
{
	return atomic_load(&w->shm->keys[slot].streams);
}

uint32_t rv_worker_sessions_add(struct rv_worker *w, int delta)
{
	struct rv_shm *shm = w->shm;
	uint32_t *mine = &shm->sessions_w[w->index];

	if (delta > 0) {
		(*mine)++;
		return atomic_fetch_add(&shm->sessions, 1) + 1;
	}
	if (*mine == 0)
		return atomic_load(&shm->sessions);
	(*mine)--;
	return atomic_fetch_sub(&shm->sessions, 1) - 1;
}

int rv_worker_busier(struct rv_worker *w, uint32_t load)
{
	struct rv_shm *shm = w->shm;

	atomic_store(&shm->load_w[w->index], load);
	for (uint32_t i = 0; i < shm->n_workers; i++)
		if (i != w->index && atomic_load(&shm->load_w[i]) < load)
			return 1;
	return 0;
}
