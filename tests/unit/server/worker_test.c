/* worker_test.c - server/worker.c, a worker's end of the channel, against a
 * test "supervisor" over a real SOCK_SEQPACKET socketpair and a real
 * rv_shm_create() mapping (2 workers, 4 key slots).  The blocking ADMIT
 * round trip is answered by a forked child that checks the request's bytes.
 * Built with worker.c compiled in (tests/unit/CMakeLists.txt), not
 * auto-registered: server/ is no library. */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "rv_err.h"
#include "worker.h"

enum { N_KEYS = 4, SCRIPT_MAX = 12, CHILD_WAIT_MS = 5000 };

struct fix {
	struct rv_shm *shm;
	struct rv_worker w;  /* index 0, chan = our end */
	struct rv_worker w1; /* index 1, same mapping, no channel */
	int sup;             /* the supervisor's end */
};

/* A message the child sends after it checked the ADMIT. */
struct msg {
	uint8_t b[96];
	size_t len;
};

static const uint8_t pub[RV_KEY_LEN] = {
	0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
	0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16,
	0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0xf0,
};
static const uint8_t tai[RV_TAI64N_LEN] = {
	0x40, 0x00, 0x00, 0x00, 0x65, 0x43, 0x21, 0x0f, 0x3b, 0x9a, 0xc9, 0xff,
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	int sv[2];

	assert_non_null(f);
	assert_int_equal(rv_shm_create(2, N_KEYS, &f->shm), RV_OK);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	f->w.state = RV_WORKER_CONNECTED;
	f->w.index = 0;
	f->w.chan = sv[0];
	f->w.listen_fd = -1;
	f->w.shm = f->shm;
	f->w.seq = 41;
	f->w1.state = RV_WORKER_CONNECTED;
	f->w1.index = 1;
	f->w1.chan = -1;
	f->w1.listen_fd = -1;
	f->w1.shm = f->shm;
	f->sup = sv[1];
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	if (f->w.chan >= 0)
		close(f->w.chan);
	if (f->sup >= 0)
		close(f->sup);
	rv_shm_destroy(f->shm);
	free(f);
	return 0;
}

static struct msg admit_r(uint32_t seq, int result, uint8_t what, uint32_t slot, uint32_t count)
{
	struct msg m = { .len = RV_WMSG_ADMIT_R_LEN };

	m.b[0] = RV_WMSG_ADMIT_R;
	be32(m.b + 1, seq);
	be32(m.b + 5, (uint32_t)-result);
	m.b[9] = what;
	be32(m.b + 10, slot);
	be32(m.b + 14, count);
	return m;
}

static struct msg empty_msg(uint8_t type, size_t len)
{
	struct msg m = { .len = len };

	m.b[0] = type;
	return m;
}

static struct msg seq_msg(uint8_t type, uint32_t seq)
{
	struct msg m = { .len = RV_WMSG_SEQ_LEN };

	m.b[0] = type;
	be32(m.b + 1, seq);
	return m;
}

static void sup_send(int fd, const struct msg *m)
{
	assert_int_equal(send(fd, m->b, m->len, MSG_NOSIGNAL), (ssize_t)m->len);
}

/* The child's whole life: wait (bounded) for the ADMIT, check every byte,
 * send the script, exit (closing its end).  Exit codes say what was wrong. */
/* >= 0: after its script the child expects a RELEASE of this slot. */
static long child_expect_release = -1;

static void child_run(int fd, uint32_t seq, const struct msg *script, size_t n)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	uint8_t b[128];
	ssize_t len;

	if (poll(&pfd, 1, CHILD_WAIT_MS) != 1)
		_exit(10);
	len = recv(fd, b, sizeof(b), MSG_TRUNC);
	if (len != RV_WMSG_ADMIT_LEN)
		_exit(11);
	if (b[0] != RV_WMSG_ADMIT)
		_exit(12);
	if (get_be32(b + 1) != seq)
		_exit(13);
	if (memcmp(b + 5, pub, RV_KEY_LEN) != 0)
		_exit(14);
	if (memcmp(b + 5 + RV_KEY_LEN, tai, RV_TAI64N_LEN) != 0)
		_exit(15);
	for (size_t i = 0; i < n; i++)
		if (send(fd, script[i].b, script[i].len, MSG_NOSIGNAL) != (ssize_t)script[i].len)
			_exit(16);
	if (child_expect_release >= 0) {
		if (poll(&pfd, 1, CHILD_WAIT_MS) != 1)
			_exit(17);
		len = recv(fd, b, sizeof(b), MSG_TRUNC);
		if (len != RV_WMSG_SLOT_LEN || b[0] != RV_WMSG_RELEASE ||
		    get_be32(b + 1) != (uint32_t)child_expect_release)
			_exit(18);
	}
	_exit(0);
}

/* Forks the supervisor, which answers with script; runs rv_worker_admit;
 * checks the child saw a well-formed ADMIT.  Our copy of the supervisor's
 * end is closed first, so the child's exit is the channel's end. */
static int admit_with(struct fix *f, const struct msg *script, size_t n, uint32_t *slot,
		      enum rv_worker_admit_what *what, uint32_t *count)
{
	uint32_t seq = f->w.seq + 1;
	int status = 0, r;
	pid_t pid;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(f->w.chan);
		child_run(f->sup, seq, script, n);
	}
	close(f->sup);
	f->sup = -1;
	r = rv_worker_admit(&f->w, pub, tai, slot, what, count);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(f->w.seq, seq);
	return r;
}

/* ---- 1. the ADMIT round trip --------------------------------------------- */

static void test_admit_ok(void **state)
{
	struct fix *f = *state;
	struct msg s[1];
	uint32_t slot = 99, count = 99;
	enum rv_worker_admit_what what = RV_ADMIT_SLOTS;

	s[0] = admit_r(42, RV_OK, RV_ADMIT_AUTHKEYS, 3, 1);
	assert_int_equal(admit_with(f, s, 1, &slot, &what, &count), RV_OK);
	assert_int_equal(slot, 3);
	assert_int_equal(what, RV_ADMIT_AUTHKEYS);
	assert_int_equal(count, 1);
	assert_int_equal(f->w.state, RV_WORKER_CONNECTED);
	assert_false(f->w.want_snap || f->w.want_reload || f->w.want_drain || f->w.want_stop);
}

static void test_admit_refused_replay(void **state)
{
	struct fix *f = *state;
	struct msg s[1];
	uint32_t slot = 77, count = 5;
	enum rv_worker_admit_what what = RV_ADMIT_SLOTS;

	s[0] = admit_r(42, RV_ERR_REPLAY, RV_ADMIT_AUTHKEYS, 0, 0);
	assert_int_equal(admit_with(f, s, 1, &slot, &what, &count), RV_ERR_REPLAY);
	assert_int_equal(what, RV_ADMIT_AUTHKEYS);
	assert_int_equal(slot, 77); /* only set on RV_OK */
	assert_int_equal(f->w.state, RV_WORKER_CONNECTED);
}

static void test_admit_limit_per_key(void **state)
{
	struct fix *f = *state;
	struct msg s[1];
	uint32_t slot = 77, count = 0;
	enum rv_worker_admit_what what = RV_ADMIT_AUTHKEYS;

	s[0] = admit_r(42, RV_ERR_LIMIT, RV_ADMIT_PER_KEY, 2, 8);
	assert_int_equal(admit_with(f, s, 1, &slot, &what, &count), RV_ERR_LIMIT);
	assert_int_equal(what, RV_ADMIT_PER_KEY);
	assert_int_equal(count, 8);
	assert_int_equal(slot, 77);
}

static void test_admit_limit_slots(void **state)
{
	struct fix *f = *state;
	struct msg s[1];
	uint32_t slot = 77, count = 0;
	enum rv_worker_admit_what what = RV_ADMIT_AUTHKEYS;

	s[0] = admit_r(42, RV_ERR_LIMIT, RV_ADMIT_SLOTS, 0, 0);
	assert_int_equal(admit_with(f, s, 1, &slot, &what, &count), RV_ERR_LIMIT);
	assert_int_equal(what, RV_ADMIT_SLOTS);
}

static void test_admit_stale_seq_skipped(void **state)
{
	struct fix *f = *state;
	struct msg s[3];
	uint32_t slot = 99, count = 0;
	enum rv_worker_admit_what what;

	s[0] = admit_r(41, RV_OK, RV_ADMIT_AUTHKEYS, 3, 1);       /* earlier request */
	s[1] = admit_r(40, RV_ERR_REPLAY, RV_ADMIT_AUTHKEYS, 0, 0);
	s[2] = admit_r(42, RV_OK, RV_ADMIT_AUTHKEYS, 1, 2);
	/* The stale RV_OK counted a session nobody will use: the child
	 * checks it is given back (slot 3; the stale refusal gives nothing). */
	child_expect_release = 3;
	assert_int_equal(admit_with(f, s, 3, &slot, &what, &count), RV_OK);
	child_expect_release = -1;
	assert_int_equal(slot, 1);
	assert_int_equal(count, 2);
}

/* An answer that arrives after admit gave up (read by on_readable). */
static void test_late_answer_released(void **state)
{
	struct fix *f = *state;
	struct msg m = admit_r(7, RV_OK, RV_ADMIT_AUTHKEYS, 2, 1);
	uint8_t got[16];

	sup_send(f->sup, &m);
	rv_worker_on_readable(&f->w);
	assert_int_equal(recv(f->sup, got, sizeof(got), MSG_DONTWAIT), RV_WMSG_SLOT_LEN);
	assert_int_equal(got[0], RV_WMSG_RELEASE);
	assert_int_equal(get_be32(got + 1), 2);
	assert_false(f->w.want_stop || f->w.want_snap || f->w.want_reload || f->w.want_drain);
}

static void test_admit_malformed(void **state)
{
	struct fix *f = *state;
	struct msg s[1];
	uint32_t slot = 99, count = 0;
	enum rv_worker_admit_what what;

	s[0] = admit_r(42, RV_OK, RV_ADMIT_AUTHKEYS, 1, 1);
	s[0].len = RV_WMSG_ADMIT_R_LEN - 1;
	assert_int_equal(admit_with(f, s, 1, &slot, &what, &count), RV_ERR_INTERNAL);
	assert_int_equal(slot, 99);
}

static void test_admit_too_long(void **state)
{
	struct fix *f = *state;
	struct msg s[1];
	uint32_t slot = 99, count = 0;
	enum rv_worker_admit_what what;

	s[0] = admit_r(42, RV_OK, RV_ADMIT_AUTHKEYS, 1, 1);
	s[0].len = RV_WMSG_ADMIT_R_LEN + 1;
	assert_int_equal(admit_with(f, s, 1, &slot, &what, &count), RV_ERR_INTERNAL);
	assert_int_equal(slot, 99);
}

static void test_admit_slot_out_of_range(void **state)
{
	struct fix *f = *state;
	struct msg s[1];
	uint32_t slot = 99, count = 0;
	enum rv_worker_admit_what what;

	s[0] = admit_r(42, RV_OK, RV_ADMIT_AUTHKEYS, N_KEYS, 1);
	assert_int_equal(admit_with(f, s, 1, &slot, &what, &count), RV_ERR_INTERNAL);
	assert_int_equal(slot, 99);
}

/* Results outside the error table or an unknown "what": a broken answer. */
static void test_admit_bad_result(void **state)
{
	struct fix *f = *state;
	struct msg s[1];
	uint32_t slot = 99, count = 0;
	enum rv_worker_admit_what what;

	s[0] = admit_r(42, 5, RV_ADMIT_AUTHKEYS, 0, 0); /* positive */
	assert_int_equal(admit_with(f, s, 1, &slot, &what, &count), RV_ERR_INTERNAL);
}

static void test_admit_bad_what(void **state)
{
	struct fix *f = *state;
	struct msg s[1];
	uint32_t slot = 99, count = 0;
	enum rv_worker_admit_what what;

	s[0] = admit_r(42, RV_ERR_LIMIT, RV_ADMIT_SLOTS + 1, 0, 0);
	assert_int_equal(admit_with(f, s, 1, &slot, &what, &count), RV_ERR_INTERNAL);
}

/* Nobody answers: the supervisor's end stays open, the ADMIT sits there. */
static void test_admit_timeout(void **state)
{
	struct fix *f = *state;
	uint32_t slot = 99, count = 0;
	enum rv_worker_admit_what what;
	uint8_t b[128];
	uint64_t t0, dt;

	t0 = now_ms();
	assert_int_equal(rv_worker_admit(&f->w, pub, tai, &slot, &what, &count), RV_ERR_TIMEOUT);
	dt = now_ms() - t0;
	assert_true(dt + 50 >= RV_WORKER_RPC_TIMEOUT_MS);
	assert_true(dt <= RV_WORKER_RPC_TIMEOUT_MS + 1000);
	assert_int_equal(slot, 99);
	assert_int_equal(f->w.state, RV_WORKER_CONNECTED);
	assert_int_equal(recv(f->sup, b, sizeof(b), MSG_DONTWAIT), RV_WMSG_ADMIT_LEN);
	assert_int_equal(b[0], RV_WMSG_ADMIT);
}

static void test_admit_peer_closed(void **state)
{
	struct fix *f = *state;
	uint32_t slot = 99, count = 0;
	enum rv_worker_admit_what what;

	assert_int_equal(admit_with(f, NULL, 0, &slot, &what, &count), RV_ERR_IO);
	assert_int_equal(f->w.state, RV_WORKER_ORPHAN);
	assert_true(f->w.want_stop);
	assert_int_equal(slot, 99);
	/* An orphan asks nothing more. */
	assert_int_equal(rv_worker_admit(&f->w, pub, tai, &slot, &what, &count), RV_ERR_IO);
}

/* ---- 2. messages that arrive while waiting for the answer ---------------- */

static void test_admit_flags_while_waiting(void **state)
{
	struct fix *f = *state;
	struct msg s[5];
	uint32_t slot = 99, count = 0;
	enum rv_worker_admit_what what;

	s[0] = seq_msg(RV_WMSG_SNAP_REQ, 0xdeadbeef);
	s[1] = empty_msg(RV_WMSG_RELOAD, RV_WMSG_EMPTY_LEN);
	s[2] = empty_msg(RV_WMSG_DRAIN, RV_WMSG_EMPTY_LEN);
	s[3] = empty_msg(RV_WMSG_STOP, RV_WMSG_EMPTY_LEN);
	s[4] = admit_r(42, RV_OK, RV_ADMIT_AUTHKEYS, 2, 1);
	assert_int_equal(admit_with(f, s, 5, &slot, &what, &count), RV_OK);
	assert_int_equal(slot, 2);
	assert_true(f->w.want_snap);
	assert_int_equal(f->w.snap_seq, 0xdeadbeef);
	assert_true(f->w.want_reload);
	assert_true(f->w.want_drain);
	assert_true(f->w.want_stop);
	assert_int_equal(f->w.state, RV_WORKER_CONNECTED);
}

/* Each flag alone: one message sets its own flag and no other. */
static void test_admit_each_flag_alone(void **state)
{
	struct fix *f = *state;
	struct msg s[2];
	uint32_t slot = 99, count = 0;
	enum rv_worker_admit_what what;

	s[0] = empty_msg(RV_WMSG_DRAIN, RV_WMSG_EMPTY_LEN);
	s[1] = admit_r(42, RV_OK, RV_ADMIT_AUTHKEYS, 0, 1);
	assert_int_equal(admit_with(f, s, 2, &slot, &what, &count), RV_OK);
	assert_true(f->w.want_drain);
	assert_false(f->w.want_snap || f->w.want_reload || f->w.want_stop);
}

static void test_admit_bad_messages_while_waiting(void **state)
{
	struct fix *f = *state;
	struct msg s[10];
	uint32_t slot = 99, count = 0;
	enum rv_worker_admit_what what;

	s[0] = empty_msg(99, RV_WMSG_EMPTY_LEN);                 /* unknown */
	s[1] = empty_msg(RV_WMSG_ADMIT, RV_WMSG_ADMIT_LEN);      /* worker's own type */
	s[2] = seq_msg(RV_WMSG_SNAP_REQ, 7);
	s[2].len = RV_WMSG_SEQ_LEN - 1;
	s[3] = seq_msg(RV_WMSG_SNAP_REQ, 7);
	s[3].len = RV_WMSG_SEQ_LEN + 1;
	s[4] = empty_msg(RV_WMSG_RELOAD, RV_WMSG_EMPTY_LEN + 1);
	s[5] = empty_msg(RV_WMSG_DRAIN, RV_WMSG_EMPTY_LEN + 4);
	s[6] = empty_msg(RV_WMSG_STOP, RV_WMSG_EMPTY_LEN + 1);
	s[7] = empty_msg(RV_WMSG_STOP, RV_WORKER_MSG_MAX + 8);   /* truncated on read */
	s[8] = empty_msg(RV_WMSG_RELOAD, RV_WORKER_MSG_MAX + 1);
	s[9] = admit_r(42, RV_OK, RV_ADMIT_AUTHKEYS, 1, 1);
	assert_int_equal(admit_with(f, s, 10, &slot, &what, &count), RV_OK);
	assert_int_equal(slot, 1);
	assert_false(f->w.want_snap);
	assert_int_equal(f->w.snap_seq, 0);
	assert_false(f->w.want_reload);
	assert_false(f->w.want_drain);
	assert_false(f->w.want_stop);
	assert_int_equal(f->w.state, RV_WORKER_CONNECTED);
}

/* ---- 3. rv_worker_on_readable ------------------------------------------- */

static void test_readable_flags(void **state)
{
	struct fix *f = *state;
	struct msg m;

	rv_worker_on_readable(&f->w); /* nothing queued: nothing happens */
	assert_false(f->w.want_snap || f->w.want_reload || f->w.want_drain || f->w.want_stop);
	assert_int_equal(f->w.state, RV_WORKER_CONNECTED);

	m = seq_msg(RV_WMSG_SNAP_REQ, 0x01020304);
	sup_send(f->sup, &m);
	rv_worker_on_readable(&f->w);
	assert_true(f->w.want_snap);
	assert_int_equal(f->w.snap_seq, 0x01020304);
	assert_false(f->w.want_reload || f->w.want_drain || f->w.want_stop);

	m = empty_msg(RV_WMSG_RELOAD, RV_WMSG_EMPTY_LEN);
	sup_send(f->sup, &m);
	m = empty_msg(RV_WMSG_DRAIN, RV_WMSG_EMPTY_LEN);
	sup_send(f->sup, &m);
	rv_worker_on_readable(&f->w);
	assert_true(f->w.want_reload);
	assert_true(f->w.want_drain);
	assert_false(f->w.want_stop);

	m = empty_msg(RV_WMSG_STOP, RV_WMSG_EMPTY_LEN);
	sup_send(f->sup, &m);
	rv_worker_on_readable(&f->w);
	assert_true(f->w.want_stop);
	assert_int_equal(f->w.state, RV_WORKER_CONNECTED);
}

static void test_readable_bad_messages(void **state)
{
	struct fix *f = *state;
	struct msg m;

	m = empty_msg(0, RV_WMSG_EMPTY_LEN);
	sup_send(f->sup, &m);
	m = empty_msg(200, RV_WMSG_SEQ_LEN);
	sup_send(f->sup, &m);
	m = admit_r(1, RV_OK, RV_ADMIT_AUTHKEYS, 0, 0); /* nobody asked */
	sup_send(f->sup, &m);
	m = seq_msg(RV_WMSG_SNAP_REQ, 9);
	m.len = RV_WMSG_EMPTY_LEN;
	sup_send(f->sup, &m);
	m = empty_msg(RV_WMSG_RELOAD, RV_WMSG_SEQ_LEN);
	sup_send(f->sup, &m);
	m = empty_msg(RV_WMSG_DRAIN, 2);
	sup_send(f->sup, &m);
	m = empty_msg(RV_WMSG_STOP, RV_WORKER_MSG_MAX + 10);
	sup_send(f->sup, &m);
	rv_worker_on_readable(&f->w);
	assert_false(f->w.want_snap);
	assert_int_equal(f->w.snap_seq, 0);
	assert_false(f->w.want_reload || f->w.want_drain || f->w.want_stop);
	assert_int_equal(f->w.state, RV_WORKER_CONNECTED);
	/* All of them were consumed. */
	uint8_t b[8];
	assert_true(recv(f->w.chan, b, sizeof(b), MSG_DONTWAIT) < 0);
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
}

static void test_readable_eof(void **state)
{
	struct fix *f = *state;
	struct msg m = empty_msg(RV_WMSG_RELOAD, RV_WMSG_EMPTY_LEN);

	sup_send(f->sup, &m);
	close(f->sup);
	f->sup = -1;
	rv_worker_on_readable(&f->w);
	assert_true(f->w.want_reload); /* what came before the end still counts */
	assert_int_equal(f->w.state, RV_WORKER_ORPHAN);
	assert_true(f->w.want_stop);
	/* An orphan sends nothing (and does not crash on a closed channel). */
	rv_worker_send(&f->w, RV_WMSG_READY, 0);
	rv_worker_release(&f->w, 1);
	assert_int_equal(f->w.state, RV_WORKER_ORPHAN);
}

/* Sending into a channel whose other end is gone: orphan, stop. */
static void test_send_peer_gone(void **state)
{
	struct fix *f = *state;

	close(f->sup);
	f->sup = -1;
	rv_worker_send(&f->w, RV_WMSG_READY, 0);
	assert_int_equal(f->w.state, RV_WORKER_ORPHAN);
	assert_true(f->w.want_stop);
}

/* ---- 4. shared counters --------------------------------------------------- */

static void test_key_streams(void **state)
{
	struct fix *f = *state;
	struct rv_shm *shm = f->shm;

	assert_int_equal(rv_worker_key_streams_add(&f->w, 2, +1), 1);
	assert_int_equal(rv_worker_key_streams_add(&f->w, 2, +1), 2);
	assert_int_equal(rv_worker_key_streams_add(&f->w1, 2, +1), 3);
	assert_int_equal(rv_worker_key_streams_add(&f->w1, 1, +1), 1);
	assert_int_equal(rv_worker_key_streams(&f->w, 2), 3);
	assert_int_equal(rv_worker_key_streams(&f->w1, 1), 1);
	assert_int_equal(shm->key_streams[0 * N_KEYS + 2], 2);
	assert_int_equal(shm->key_streams[1 * N_KEYS + 2], 1);
	assert_int_equal(shm->key_streams[1 * N_KEYS + 1], 1);
	assert_int_equal(shm->key_streams[0 * N_KEYS + 1], 0);

	/* Worker 0 never added to slot 1: its -1 changes nothing. */
	assert_int_equal(rv_worker_key_streams_add(&f->w, 1, -1), 1);
	assert_int_equal(shm->key_streams[0 * N_KEYS + 1], 0);
	assert_int_equal(rv_worker_key_streams(&f->w, 1), 1);
	/* Nor on a slot nobody used. */
	assert_int_equal(rv_worker_key_streams_add(&f->w, 3, -1), 0);
	assert_int_equal(rv_worker_key_streams(&f->w, 3), 0);

	assert_int_equal(rv_worker_key_streams_add(&f->w1, 2, -1), 2);
	assert_int_equal(shm->key_streams[1 * N_KEYS + 2], 0);
	assert_int_equal(rv_worker_key_streams_add(&f->w1, 2, -1), 2); /* w1 has none left */
	assert_int_equal(rv_worker_key_streams_add(&f->w, 2, -1), 1);
	assert_int_equal(rv_worker_key_streams_add(&f->w, 2, -1), 0);
	assert_int_equal(rv_worker_key_streams_add(&f->w, 2, -1), 0);
	assert_int_equal(shm->key_streams[0 * N_KEYS + 2], 0);
	assert_int_equal(atomic_load(&shm->keys[2].streams), 0);
}

static void test_sessions(void **state)
{
	struct fix *f = *state;
	struct rv_shm *shm = f->shm;

	assert_int_equal(rv_worker_sessions_add(&f->w, -1), 0); /* nothing added yet */
	assert_int_equal(atomic_load(&shm->sessions), 0);
	assert_int_equal(rv_worker_sessions_add(&f->w, +1), 1);
	assert_int_equal(rv_worker_sessions_add(&f->w1, +1), 2);
	assert_int_equal(rv_worker_sessions_add(&f->w1, +1), 3);
	assert_int_equal(shm->sessions_w[0], 1);
	assert_int_equal(shm->sessions_w[1], 2);

	assert_int_equal(rv_worker_sessions_add(&f->w, -1), 2);
	assert_int_equal(rv_worker_sessions_add(&f->w, -1), 2); /* w0 has none left */
	assert_int_equal(shm->sessions_w[0], 0);
	assert_int_equal(shm->sessions_w[1], 2);
	assert_int_equal(rv_worker_sessions_add(&f->w1, -1), 1);
	assert_int_equal(rv_worker_sessions_add(&f->w1, -1), 0);
	assert_int_equal(rv_worker_sessions_add(&f->w1, -1), 0);
	assert_int_equal(atomic_load(&shm->sessions), 0);
	assert_int_equal(shm->sessions_w[1], 0);
}

/* ---- 5. accept balancing --------------------------------------------------- */

static void test_busier(void **state)
{
	struct fix *f = *state;
	struct rv_shm *shm = f->shm;

	assert_int_equal(atomic_load(&shm->load_w[1]), UINT32_MAX);
	/* Worker 1 not started: never the idler one. */
	assert_int_equal(rv_worker_busier(&f->w, 5), 0);
	assert_int_equal(atomic_load(&shm->load_w[0]), 5);
	assert_int_equal(rv_worker_busier(&f->w, UINT32_MAX - 1), 0);

	assert_int_equal(rv_worker_busier(&f->w1, 3), 0); /* w0 holds more */
	assert_int_equal(atomic_load(&shm->load_w[1]), 3);
	assert_int_equal(rv_worker_busier(&f->w1, 300), 0); /* w0 at UINT32_MAX - 1 */
	assert_int_equal(rv_worker_busier(&f->w, 5), 0);  /* w1 at 300 */
	assert_int_equal(rv_worker_busier(&f->w1, 300), 1); /* w0 at 5 */
	assert_int_equal(rv_worker_busier(&f->w1, 4), 0);
	assert_int_equal(rv_worker_busier(&f->w, 5), 1);  /* w1 at 4 */
	assert_int_equal(rv_worker_busier(&f->w, 4), 0);  /* equal: keep it */
	assert_int_equal(rv_worker_busier(&f->w1, 4), 0);
	assert_int_equal(rv_worker_busier(&f->w1, 0), 0);
	assert_int_equal(rv_worker_busier(&f->w, 1), 1);
	assert_int_equal(atomic_load(&shm->load_w[0]), 1);
	assert_int_equal(atomic_load(&shm->load_w[1]), 0);
}

/* ---- 6. what a worker sends ------------------------------------------------ */

static void expect_bytes(int fd, const uint8_t *want, size_t len)
{
	uint8_t b[128];

	assert_int_equal(recv(fd, b, sizeof(b), MSG_DONTWAIT | MSG_TRUNC), (ssize_t)len);
	assert_memory_equal(b, want, len);
}

static void test_send_bytes(void **state)
{
	struct fix *f = *state;
	const uint8_t release[] = { RV_WMSG_RELEASE, 0x01, 0x02, 0x03, 0x04 };
	const uint8_t release0[] = { RV_WMSG_RELEASE, 0, 0, 0, 3 };
	const uint8_t ready[] = { RV_WMSG_READY };
	const uint8_t done[] = { RV_WMSG_SNAP_DONE, 0xa0, 0xb1, 0xc2, 0xd3 };
	const uint8_t reload_req[] = { RV_WMSG_RELOAD_REQ };
	uint8_t b[8];

	rv_worker_release(&f->w, 0x01020304);
	expect_bytes(f->sup, release, sizeof(release));
	rv_worker_release(&f->w, 3);
	expect_bytes(f->sup, release0, sizeof(release0));
	rv_worker_send(&f->w, RV_WMSG_READY, 0x11223344); /* seq ignored */
	expect_bytes(f->sup, ready, sizeof(ready));
	rv_worker_send(&f->w, RV_WMSG_SNAP_DONE, 0xa0b1c2d3);
	expect_bytes(f->sup, done, sizeof(done));
	rv_worker_send(&f->w, RV_WMSG_RELOAD_REQ, 0);
	expect_bytes(f->sup, reload_req, sizeof(reload_req));
	assert_true(recv(f->sup, b, sizeof(b), MSG_DONTWAIT) < 0); /* nothing else */
	assert_int_equal(f->w.state, RV_WORKER_CONNECTED);
}

static void test_shm_create_bounds(void **state)
{
	struct rv_shm *shm = (struct rv_shm *)1;

	(void)state;
	assert_int_equal(rv_shm_create(0, 1, &shm), RV_ERR_INVALID_ARG);
	assert_null(shm);
	assert_int_equal(rv_shm_create(RV_WORKERS_MAX + 1, 1, &shm), RV_ERR_INVALID_ARG);
	assert_int_equal(rv_shm_create(1, 0, &shm), RV_ERR_INVALID_ARG);
	assert_int_equal(rv_shm_create(RV_WORKERS_MAX, 3, &shm), RV_OK);
	assert_non_null(shm);
	assert_int_equal(shm->n_workers, RV_WORKERS_MAX);
	assert_int_equal(shm->n_keys, 3);
	for (uint32_t i = 0; i < RV_WORKERS_MAX; i++)
		assert_int_equal(atomic_load(&shm->load_w[i]), UINT32_MAX);
	/* The last worker's snapshot lies inside the mapping. */
	assert_true((uint8_t *)&shm->snaps[RV_WORKERS_MAX] <= (uint8_t *)shm + shm->size);
	rv_shm_destroy(shm);
	rv_shm_destroy(NULL);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_admit_ok),
		T(test_admit_refused_replay),
		T(test_admit_limit_per_key),
		T(test_admit_limit_slots),
		T(test_admit_stale_seq_skipped),
		T(test_late_answer_released),
		T(test_admit_malformed),
		T(test_admit_too_long),
		T(test_admit_slot_out_of_range),
		T(test_admit_bad_result),
		T(test_admit_bad_what),
		T(test_admit_timeout),
		T(test_admit_peer_closed),
		T(test_admit_flags_while_waiting),
		T(test_admit_each_flag_alone),
		T(test_admit_bad_messages_while_waiting),
		T(test_readable_flags),
		T(test_readable_bad_messages),
		T(test_readable_eof),
		T(test_send_peer_gone),
		T(test_key_streams),
		T(test_sessions),
		T(test_busier),
		T(test_send_bytes),
		cmocka_unit_test(test_shm_create_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
