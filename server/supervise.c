/* supervise.c - rvpn-server with --workers N > 1: the supervisor process
 * (see worker.h for what is shared and how).
 *
 * It binds the listening socket, loads authorized_keys with the replay
 * state, maps the shared memory, opens the control socket, then forks the
 * workers and serves their channel messages on a poll loop of its own (it
 * never runs libwebsockets).  A worker that dies is restarted after a delay
 * that doubles while it keeps dying; what it held in the shared counters is
 * taken back first.  SIGHUP: reload here, then RELOAD to every worker.
 * SIGTERM/SIGINT: DRAIN to every worker, exit once all have exited; a second
 * signal sends STOP.  Workers get SIGKILL if the supervisor dies
 * (PR_SET_PDEATHSIG), so nothing keeps serving without it. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "rv_authkeys.h"
#include "rv_buf.h"
#include "rv_err.h"
#include "rv_log.h"
#include "rv_loop_poll.h"
#include "server.h"
#include "server_int.h"
#include "status.h"
#include "worker.h"

enum rv_sup_state {
	RV_SUP_STATE_INVALID = 0,
	RV_SUP_STARTING = 1, /* no worker has reported READY yet */
	RV_SUP_RUNNING = 2,
	RV_SUP_DRAINING = 3, /* DRAIN sent: exit when every worker has */
	RV_SUP_STOPPED = 4,
};

enum rv_sup_worker_state {
	RV_SUPW_FREE = 0,     /* not running; a respawn may be pending */
	RV_SUPW_STARTING = 1, /* forked, READY not seen */
	RV_SUPW_RUNNING = 2,
};

struct rv_sup;

struct rv_sup_worker {
	enum rv_sup_worker_state state;
	struct rv_sup *sup;
	uint32_t index;
	pid_t pid;
	int chan;                    /* our end */
	struct rv_loop_fd *w;
	struct rv_loop_timer *respawn;
	uint64_t started_ms;
	uint32_t backoff_ms;
	uint32_t snap_done;          /* seq of its last SNAP_DONE */
	uint32_t restarts;           /* died and started again (status) */
};

/* A client key with sessions somewhere (handshaken, until they close). */
struct rv_sup_key {
	int used;
	uint8_t pub[RV_KEY_LEN];
	uint32_t sessions;
	uint32_t sess_w[RV_WORKERS_MAX];
};

struct rv_sup {
	enum rv_sup_state state;
	struct rv_server_opts *opts;
	struct rv_loop *loop;
	struct rv_authkeys *authkeys;
	struct rv_shm *shm;
	int listen_fd;
	uint32_t n;
	struct rv_sup_worker workers[RV_WORKERS_MAX];
	struct rv_sup_key *keys;     /* [shm->n_keys] */
	struct rv_server_status *status;
	uint32_t snap_seq;
	uint64_t start_ms;
	int sig_pipe[2];
	struct rv_loop_fd *sig_w;
};

static int rv_sup_sig_fd = -1;

static void rv_sup_on_signal(int sig)
{
	unsigned char b = (unsigned char)sig;
	int saved = errno;

	if (rv_sup_sig_fd >= 0)
		(void)!write(rv_sup_sig_fd, &b, 1);
	errno = saved;
}

static uint64_t rv_sup_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void rv_sup_send(struct rv_sup_worker *sw, const struct rv_buf *b)
{
	if (sw->state == RV_SUPW_FREE || sw->chan < 0)
		return;
	/* SEQPACKET: whole message or nothing; a worker that does not read
	 * its channel is stuck and will be noticed when it dies. */
	if (send(sw->chan, rv_buf_ptr(b), rv_buf_len(b), MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		rv_log_rl(RV_LOG_WARN, "worker %u: cannot send to it: %s", sw->index,
			  strerror(errno));
}

static void rv_sup_send_empty(struct rv_sup_worker *sw, enum rv_worker_msg_type type)
{
	struct rv_buf b;

	rv_buf_init(&b, RV_WMSG_EMPTY_LEN);
	if (rv_buf_put_u8(&b, (uint8_t)type) == RV_OK)
		rv_sup_send(sw, &b);
	rv_buf_cleanup(&b);
}

static void rv_sup_broadcast(struct rv_sup *sup, enum rv_worker_msg_type type)
{
	for (uint32_t i = 0; i < sup->n; i++)
		rv_sup_send_empty(&sup->workers[i], type);
}

/* ---- key slots ------------------------------------------------------- */

static int rv_sup_key_find(struct rv_sup *sup, const uint8_t pub[RV_KEY_LEN], int make)
{
	int free_slot = -1;

	/* Linear over slots in use: bounded by --max-sessions plus the pre-auth
	 * connections, and reached only by handshakes of authorized keys. */
	for (uint32_t k = 0; k < sup->shm->n_keys; k++) {
		if (!sup->keys[k].used) {
			if (free_slot < 0)
				free_slot = (int)k;
			continue;
		}
		if (memcmp(sup->keys[k].pub, pub, RV_KEY_LEN) == 0)
			return (int)k;
	}
	if (!make || free_slot < 0)
		return -1;
	memset(&sup->keys[free_slot], 0, sizeof(sup->keys[free_slot]));
	sup->keys[free_slot].used = 1;
	memcpy(sup->keys[free_slot].pub, pub, RV_KEY_LEN);
	atomic_store(&sup->shm->keys[free_slot].streams, 0);
	return free_slot;
}

static void rv_sup_key_maybe_free(struct rv_sup *sup, uint32_t k)
{
	if (sup->keys[k].sessions == 0) {
		sup->keys[k].used = 0;
		atomic_store(&sup->shm->keys[k].streams, 0);
	}
}

/* ---- messages from workers ------------------------------------------ */

static void rv_sup_on_admit(struct rv_sup_worker *sw, struct rv_buf *in)
{
	struct rv_sup *sup = sw->sup;
	uint8_t pub[RV_KEY_LEN], ts[RV_TAI64N_LEN];
	enum rv_worker_admit_what what = RV_ADMIT_AUTHKEYS;
	uint32_t seq, count = 0, slot = 0;
	struct rv_buf out;
	int r, k;

	if (rv_buf_get_u32(in, &seq) != RV_OK || rv_buf_get(in, pub, sizeof(pub)) != RV_OK ||
	    rv_buf_get(in, ts, sizeof(ts)) != RV_OK)
		return;
	r = rv_authkeys_accept(sup->authkeys, pub, ts, NULL);
	if (r == RV_OK) {
		k = rv_sup_key_find(sup, pub, 1);
		if (k < 0) {
			r = RV_ERR_LIMIT;
			what = RV_ADMIT_SLOTS;
		} else if (sup->keys[k].sessions >= sup->opts->max_sessions_per_key) {
			r = RV_ERR_LIMIT;
			what = RV_ADMIT_PER_KEY;
			count = sup->keys[k].sessions;
		} else {
			sup->keys[k].sessions++;
			sup->keys[k].sess_w[sw->index]++;
			slot = (uint32_t)k;
		}
	}
	rv_buf_init(&out, RV_WMSG_ADMIT_R_LEN);
	if (rv_buf_put_u8(&out, RV_WMSG_ADMIT_R) == RV_OK && rv_buf_put_u32(&out, seq) == RV_OK &&
	    rv_buf_put_u32(&out, (uint32_t)-r) == RV_OK && rv_buf_put_u8(&out, (uint8_t)what) == RV_OK &&
	    rv_buf_put_u32(&out, slot) == RV_OK && rv_buf_put_u32(&out, count) == RV_OK)
		rv_sup_send(sw, &out);
	rv_buf_cleanup(&out);
}

static void rv_sup_on_release(struct rv_sup_worker *sw, struct rv_buf *in)
{
	struct rv_sup *sup = sw->sup;
	uint32_t k;

	if (rv_buf_get_u32(in, &k) != RV_OK || k >= sup->shm->n_keys || !sup->keys[k].used ||
	    sup->keys[k].sess_w[sw->index] == 0) {
		rv_log_error("worker %u: released a key slot it does not hold", sw->index);
		return;
	}
	sup->keys[k].sess_w[sw->index]--;
	sup->keys[k].sessions--;
	rv_sup_key_maybe_free(sup, k);
}

static void rv_sup_reload(struct rv_sup *sup)
{
	struct rv_authkeys_change chg;
	char err[512];

	if (rv_authkeys_reload(sup->authkeys, &chg, err, sizeof(err)) != RV_OK)
		rv_log_error("reload failed in the supervisor: %s", err);
	/* Each worker reloads and logs what changed, and ends the sessions of
	 * removed keys. */
	rv_sup_broadcast(sup, RV_WMSG_RELOAD);
}

static void rv_sup_dispatch(struct rv_sup_worker *sw, const uint8_t *p, size_t len)
{
	struct rv_buf b;
	uint8_t type;
	uint32_t seq;

	rv_buf_init_view(&b, p, len);
	if (rv_buf_get_u8(&b, &type) != RV_OK)
		return;
	switch (type) {
	case RV_WMSG_READY:
		if (len != RV_WMSG_EMPTY_LEN)
			break;
		if (sw->state == RV_SUPW_STARTING)
			sw->state = RV_SUPW_RUNNING;
		if (sw->sup->state == RV_SUP_STARTING)
			sw->sup->state = RV_SUP_RUNNING;
		return;
	case RV_WMSG_ADMIT:
		if (len != RV_WMSG_ADMIT_LEN)
			break;
		rv_sup_on_admit(sw, &b);
		return;
	case RV_WMSG_RELEASE:
		if (len != RV_WMSG_SLOT_LEN)
			break;
		rv_sup_on_release(sw, &b);
		return;
	case RV_WMSG_SNAP_DONE:
		if (len != RV_WMSG_SEQ_LEN || rv_buf_get_u32(&b, &seq) != RV_OK)
			break;
		sw->snap_done = seq;
		return;
	case RV_WMSG_RELOAD_REQ:
		if (len != RV_WMSG_EMPTY_LEN)
			break;
		rv_log_info("SIGHUP reached worker %u: reloading every worker", sw->index);
		rv_sup_reload(sw->sup);
		return;
	default:
		break;
	}
	rv_log_error("worker %u: unexpected message %u (%zu bytes)", sw->index, type, len);
}

static void rv_sup_worker_gone(struct rv_sup_worker *sw);

/* Reads what the worker sent; 0, or -1 once it is gone. */
static int rv_sup_read(struct rv_sup_worker *sw)
{
	uint8_t msg[RV_WORKER_MSG_MAX];
	ssize_t n;

	for (int i = 0; i < 64 && sw->state != RV_SUPW_FREE; i++) {
		n = recv(sw->chan, msg, sizeof(msg), MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0) {
			rv_sup_worker_gone(sw);
			return -1;
		}
		rv_sup_dispatch(sw, msg, (size_t)n > sizeof(msg) ? sizeof(msg) + 1 : (size_t)n);
	}
	return 0;
}

static void rv_sup_on_chan(struct rv_loop_fd *w, int fd, unsigned revents, void *arg)
{
	(void)w;
	(void)fd;
	(void)revents;
	(void)rv_sup_read(arg);
}

/* ---- worker processes ------------------------------------------------ */

static void rv_sup_free_for_child(struct rv_sup *sup);

/* In the child: from here on this process is a worker. */
static void rv_sup_become_worker(struct rv_sup *sup, struct rv_sup_worker *sw, int chan,
				 pid_t parent)
{
	struct rv_server_opts *opts = sup->opts;
	struct rv_worker w;
	int code;

	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	/* Never serve without the supervisor (it holds the replay state). */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
		_exit(1);
	memset(&w, 0, sizeof(w));
	w.state = RV_WORKER_CONNECTED;
	w.index = sw->index;
	w.chan = chan;
	w.listen_fd = sup->listen_fd;
	w.shm = sup->shm;
	sup->listen_fd = -1; /* now the worker's */
	rv_sup_free_for_child(sup);
	code = rv_server_run_worker(opts, &w) == RV_OK ? 0 : 1;
	if (w.chan >= 0)
		close(w.chan);
	rv_shm_destroy(w.shm);
	rv_server_opts_free(opts);
	exit(code);
}

static int rv_sup_spawn(struct rv_sup_worker *sw)
{
	struct rv_sup *sup = sw->sup;
	pid_t parent = getpid(), pid;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
		rv_log_error("worker %u: socketpair: %s", sw->index, strerror(errno));
		return RV_ERR_IO;
	}
	pid = fork();
	if (pid < 0) {
		rv_log_error("worker %u: fork: %s", sw->index, strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return RV_ERR_IO;
	}
	if (pid == 0) {
		close(sv[0]);
		rv_sup_become_worker(sup, sw, sv[1], parent);
	}
	close(sv[1]);
	sw->chan = sv[0];
	sw->pid = pid;
	sw->started_ms = rv_sup_now_ms();
	sw->state = RV_SUPW_STARTING;
	if (rv_loop_fd_add(sup->loop, sw->chan, RV_LOOP_READ, rv_sup_on_chan, sw, &sw->w) != RV_OK) {
		kill(pid, SIGKILL);
		rv_sup_worker_gone(sw);
		return RV_ERR_NOMEM;
	}
	rv_log_debug("worker %u started (pid %ld)", sw->index, (long)pid);
	return RV_OK;
}

static void rv_sup_on_respawn(struct rv_loop_timer *t, void *arg)
{
	struct rv_sup_worker *sw = arg;

	(void)t;
	if (sw->state != RV_SUPW_FREE || sw->sup->state != RV_SUP_RUNNING)
		return;
	if (rv_sup_spawn(sw) != RV_OK)
		rv_loop_timer_set(sw->respawn, sw->backoff_ms);
}

/* Its channel closed: make sure it is dead, reap it, take back what it
 * held, restart it unless we are stopping. */
static void rv_sup_worker_gone(struct rv_sup_worker *sw)
{
	struct rv_sup *sup = sw->sup;
	struct rv_shm *shm = sup->shm;
	uint64_t up = rv_sup_now_ms() - sw->started_ms;
	int status = 0, was_ready = sw->state == RV_SUPW_RUNNING;
	pid_t r;

	if (sw->state == RV_SUPW_FREE)
		return;
	rv_loop_fd_del(sw->w);
	sw->w = NULL;
	close(sw->chan);
	sw->chan = -1;
	/* A worker closes its channel only by exiting; if it has not yet,
	 * it is broken. */
	do {
		r = waitpid(sw->pid, &status, WNOHANG);
	} while (r < 0 && errno == EINTR);
	if (r == 0) {
		kill(sw->pid, SIGKILL);
		while (waitpid(sw->pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	for (uint32_t k = 0; k < shm->n_keys; k++) {
		uint32_t *mine = &shm->key_streams[(size_t)sw->index * shm->n_keys + k];

		if (*mine != 0) {
			atomic_fetch_sub(&shm->keys[k].streams, *mine);
			*mine = 0;
		}
		if (sup->keys[k].used && sup->keys[k].sess_w[sw->index] != 0) {
			sup->keys[k].sessions -= sup->keys[k].sess_w[sw->index];
			sup->keys[k].sess_w[sw->index] = 0;
			rv_sup_key_maybe_free(sup, k);
		}
	}
	atomic_fetch_sub(&shm->sessions, shm->sessions_w[sw->index]);
	shm->sessions_w[sw->index] = 0;
	atomic_store(&shm->load_w[sw->index], UINT32_MAX);
	sw->state = RV_SUPW_FREE;
	sw->pid = 0;
	if (sup->state == RV_SUP_DRAINING) {
		rv_log_debug("worker %u exited", sw->index);
		return;
	}
	if (WIFSIGNALED(status))
		rv_log_error("worker %u was killed by signal %d after %llu ms", sw->index,
			     WTERMSIG(status), (unsigned long long)up);
	else
		rv_log_error("worker %u exited with status %d after %llu ms", sw->index,
			     WIFEXITED(status) ? WEXITSTATUS(status) : -1,
			     (unsigned long long)up);
	if (!was_ready && sup->state == RV_SUP_STARTING) {
		/* It could not even start: the others will not either. */
		rv_log_error("a worker failed while starting: stopping");
		sup->state = RV_SUP_STOPPED;
		return;
	}
	if (up >= RV_WORKER_STABLE_MS || sw->backoff_ms == 0)
		sw->backoff_ms = RV_WORKER_RESPAWN_MIN_MS;
	else if (sw->backoff_ms < RV_WORKER_RESPAWN_MAX_MS)
		sw->backoff_ms = sw->backoff_ms * 2 > RV_WORKER_RESPAWN_MAX_MS ?
			RV_WORKER_RESPAWN_MAX_MS : sw->backoff_ms * 2;
	sw->restarts++;
	rv_log_info("restarting worker %u in %u ms", sw->index, sw->backoff_ms);
	rv_loop_timer_set(sw->respawn, sw->backoff_ms);
}

/* ---- status ---------------------------------------------------------- */

static int rv_sup_all_snapped(struct rv_sup *sup, uint32_t seq)
{
	for (uint32_t i = 0; i < sup->n; i++) {
		struct rv_sup_worker *sw = &sup->workers[i];

		if (sw->state == RV_SUPW_RUNNING && sw->snap_done != seq)
			return 0;
	}
	return 1;
}

/* Asks every running worker for its snapshot and waits for them, serving
 * every channel meanwhile (a worker may be waiting for an ADMIT answer
 * before it can read our request). */
static int rv_sup_gather(void *arg, struct rv_server_status_head *h, struct rv_server_snap *snaps,
			 size_t max, size_t *n)
{
	struct rv_sup *sup = arg;
	uint64_t deadline = rv_sup_now_ms() + RV_WORKER_SNAP_TIMEOUT_MS;
	uint32_t seq = ++sup->snap_seq;
	struct rv_buf b;

	rv_buf_init(&b, RV_WMSG_SEQ_LEN);
	if (rv_buf_put_u8(&b, RV_WMSG_SNAP_REQ) != RV_OK || rv_buf_put_u32(&b, seq) != RV_OK) {
		rv_buf_cleanup(&b);
		return RV_ERR_NOMEM;
	}
	for (uint32_t i = 0; i < sup->n; i++)
		if (sup->workers[i].state == RV_SUPW_RUNNING)
			rv_sup_send(&sup->workers[i], &b);
	rv_buf_cleanup(&b);
	while (!rv_sup_all_snapped(sup, seq)) {
		struct pollfd pfd[RV_WORKERS_MAX];
		struct rv_sup_worker *who[RV_WORKERS_MAX];
		uint64_t now = rv_sup_now_ms();
		int np = 0;

		if (now >= deadline) {
			rv_log_warn("status: not every worker answered in %u ms",
				    (unsigned)RV_WORKER_SNAP_TIMEOUT_MS);
			break;
		}
		for (uint32_t i = 0; i < sup->n; i++) {
			if (sup->workers[i].state == RV_SUPW_FREE)
				continue;
			pfd[np].fd = sup->workers[i].chan;
			pfd[np].events = POLLIN;
			who[np++] = &sup->workers[i];
		}
		if (poll(pfd, (nfds_t)np, (int)(deadline - now)) < 0 && errno != EINTR)
			break;
		for (int i = 0; i < np; i++)
			if (pfd[i].revents != 0)
				(void)rv_sup_read(who[i]);
	}
	*n = 0;
	for (uint32_t i = 0; i < sup->n && *n < max; i++) {
		struct rv_sup_worker *sw = &sup->workers[i];

		if (sw->state == RV_SUPW_RUNNING && sw->snap_done == seq)
			memcpy(&snaps[(*n)++], &sup->shm->snaps[i], sizeof(snaps[0]));
	}
	memset(h, 0, sizeof(*h));
	h->state = sup->state == RV_SUP_DRAINING ? RV_SERVER_DRAINING : RV_SERVER_RUNNING;
	h->uptime_ms = rv_sup_now_ms() - sup->start_ms;
	h->workers = sup->n;
	for (uint32_t i = 0; i < sup->n && i < RV_SERVER_STATUS_HEAD_WORKERS; i++) {
		struct rv_sup_worker *sw = &sup->workers[i];
		struct rv_server_status_worker *x = &h->worker_rows[h->n_worker_rows++];

		x->index = i;
		x->pid = sw->state != RV_SUPW_FREE ? (int32_t)sw->pid : 0;
		x->running = sw->state == RV_SUPW_RUNNING;
		x->up_ms = sw->state != RV_SUPW_FREE ? rv_sup_now_ms() - sw->started_ms : 0;
		x->sessions = sup->shm->sessions_w[i];
		x->restarts = sw->restarts;
	}
	return *n > 0 ? RV_OK : RV_ERR_TIMEOUT;
}

/* ---- signals, set-up, teardown ---------------------------------------- */

static void rv_sup_on_sig(struct rv_loop_fd *w, int fd, unsigned revents, void *arg)
{
	struct rv_sup *sup = arg;
	unsigned char sigs[16];
	ssize_t n;

	(void)w;
	(void)revents;
	n = read(fd, sigs, sizeof(sigs));
	for (ssize_t i = 0; i < n; i++) {
		if (sigs[i] == SIGHUP) {
			rv_log_info("SIGHUP: reloading authorized keys in every worker");
			rv_sup_reload(sup);
		} else if (sup->state != RV_SUP_DRAINING) {
			rv_log_info("shutting down: draining %u worker(s)", sup->n);
			sup->state = RV_SUP_DRAINING;
			rv_sup_broadcast(sup, RV_WMSG_DRAIN);
		} else {
			rv_log_info("second signal: stopping the workers now");
			rv_sup_broadcast(sup, RV_WMSG_STOP);
		}
	}
}

static int rv_sup_any_alive(struct rv_sup *sup)
{
	for (uint32_t i = 0; i < sup->n; i++)
		if (sup->workers[i].state != RV_SUPW_FREE)
			return 1;
	return 0;
}

/* What only the supervisor uses; in a new worker, freed without side
 * effects (rv_ctl leaves the socket file to its creator). */
static void rv_sup_free_for_child(struct rv_sup *sup)
{
	rv_server_status_close(sup->status);
	sup->status = NULL;
	for (uint32_t i = 0; i < sup->n; i++) {
		struct rv_sup_worker *sw = &sup->workers[i];

		rv_loop_fd_del(sw->w);
		sw->w = NULL;
		rv_loop_timer_free(sw->respawn);
		sw->respawn = NULL;
		if (sw->chan >= 0)
			close(sw->chan);
		sw->chan = -1;
	}
	rv_loop_fd_del(sup->sig_w);
	sup->sig_w = NULL;
	for (int i = 0; i < 2; i++)
		if (sup->sig_pipe[i] >= 0)
			close(sup->sig_pipe[i]);
	sup->sig_pipe[0] = sup->sig_pipe[1] = -1;
	rv_sup_sig_fd = -1;
	rv_loop_poll_free(sup->loop);
	sup->loop = NULL;
	rv_authkeys_free(sup->authkeys);
	sup->authkeys = NULL;
	free(sup->keys);
	sup->keys = NULL;
	free(sup);
}

int rv_server_supervise(struct rv_server_opts *opts)
{
	struct rv_sup *sup;
	char err[512];
	uint32_t n_keys;
	int r;

	sup = calloc(1, sizeof(*sup));
	if (sup == NULL)
		return RV_ERR_NOMEM;
	sup->opts = opts;
	sup->listen_fd = -1;
	sup->sig_pipe[0] = sup->sig_pipe[1] = -1;
	sup->n = opts->workers;
	sup->state = RV_SUP_STARTING;
	sup->start_ms = rv_sup_now_ms();
	for (uint32_t i = 0; i < RV_WORKERS_MAX; i++) {
		sup->workers[i].sup = sup;
		sup->workers[i].index = i;
		sup->workers[i].chan = -1;
	}
	signal(SIGPIPE, SIG_IGN);
	r = rv_loop_poll_new(&sup->loop);
	if (r != RV_OK)
		goto out;
	/* Signals first: once the socket is bound, a SIGTERM must drain, not
	 * kill (the byte waits in the pipe until the loop runs). */
	if (pipe2(sup->sig_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
		r = RV_ERR_IO;
		goto out;
	}
	r = rv_loop_fd_add(sup->loop, sup->sig_pipe[0], RV_LOOP_READ, rv_sup_on_sig, sup,
			   &sup->sig_w);
	if (r != RV_OK)
		goto out;
	rv_sup_sig_fd = sup->sig_pipe[1];
	signal(SIGTERM, rv_sup_on_signal);
	signal(SIGINT, rv_sup_on_signal);
	signal(SIGHUP, rv_sup_on_signal);
	r = rv_server_listen_bind(opts, &sup->listen_fd);
	if (r != RV_OK)
		goto out;
	r = rv_authkeys_load(opts->authorized_keys, &sup->authkeys, err, sizeof(err));
	if (r != RV_OK) {
		rv_log_error("%s", err);
		goto out;
	}
	r = rv_server_setup_replay_state(opts, sup->authkeys);
	if (r != RV_OK)
		goto out;
	/* Every handshaken connection holds its key's slot: the sessions plus
	 * each worker's pre-auth connections. */
	n_keys = opts->max_sessions + sup->n * RV_PREAUTH_MAX;
	r = rv_shm_create(sup->n, n_keys, &sup->shm);
	if (r != RV_OK) {
		rv_log_error("cannot map %u workers' shared memory", sup->n);
		goto out;
	}
	sup->keys = calloc(n_keys, sizeof(*sup->keys));
	if (sup->keys == NULL) {
		r = RV_ERR_NOMEM;
		goto out;
	}
	r = rv_server_status_open_gather(sup->loop, opts, sup->n, rv_sup_gather, sup,
					 &sup->status);
	if (r != RV_OK)
		goto out;
	for (uint32_t i = 0; i < sup->n; i++) {
		r = rv_loop_timer_new(sup->loop, rv_sup_on_respawn, &sup->workers[i],
				      &sup->workers[i].respawn);
		if (r != RV_OK)
			goto out;
	}
	rv_log_info("%u worker processes share %s", sup->n, opts->listen);
	for (uint32_t i = 0; i < sup->n; i++) {
		r = rv_sup_spawn(&sup->workers[i]);
		if (r != RV_OK)
			goto out;
	}
	while (sup->state != RV_SUP_STOPPED) {
		if (sup->state == RV_SUP_DRAINING && !rv_sup_any_alive(sup))
			break;
		if (rv_loop_poll_run_once(sup->loop, 1000) < 0)
			break;
	}
	r = sup->state == RV_SUP_STOPPED ? RV_ERR_INTERNAL : RV_OK;
out:
	/* Workers still running (an error above): stop them, then reap. */
	if (sup->state != RV_SUP_DRAINING)
		sup->state = RV_SUP_DRAINING;
	for (uint32_t i = 0; i < sup->n; i++)
		if (sup->workers[i].state != RV_SUPW_FREE)
			kill(sup->workers[i].pid, SIGKILL);
	for (uint32_t i = 0; i < sup->n; i++)
		rv_sup_worker_gone(&sup->workers[i]);
	if (sup->listen_fd >= 0)
		close(sup->listen_fd);
	rv_shm_destroy(sup->shm);
	sup->shm = NULL;
	rv_sup_free_for_child(sup); /* the same teardown, in the supervisor */
	if (r == RV_OK)
		rv_log_info("stopped");
	return r;
}
