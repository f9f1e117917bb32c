/* rvpn_load - the load tool of the benchmark harness (tests/bench/run).
 *
 * One epoll loop, no threads, no rvpn library: it measures any SOCKS5 proxy
 * (or none, --direct) the same way.  Two roles:
 *
 *   rvpn_load serve -l IP:PORT
 *       The target.  Each connection starts with a 16-byte header: byte 0 is
 *       the command, bytes 8..15 a big-endian count n.
 *         'D'  source: send n bytes, then close
 *         'S'  sink: read n bytes (0 = until EOF); after every MiB and at n
 *              send the cumulative count (8 bytes, big-endian); close at n
 *         'P'  ping-pong: for every byte read, send n bytes
 *   rvpn_load CASE (--socks IP:PORT | --direct) -t IP:PORT [options]
 *       bulk   --dir down|up --streams K (--bytes B | --seconds S | both:
 *              B per stream, stopped after S seconds if not done by then)
 *       conn   --concurrency C (--requests R | --seconds S) --size N
 *              a new stream per request: connect, header 'D' n=N, read N
 *       ping   --size N --count M [--seconds S]   one kept stream, M requests of 1 byte
 *              (or fewer: stopped after S seconds; "count" says how many),
 *              each answered by N bytes; latency percentiles
 *       idle   --streams N   open N 'P' streams, each answers one ping, then
 *              hold them; stdin "check" pings them all again, EOF ends
 *
 * Output: one JSON object per line on stdout; errors as {"error": ...} and
 * exit status 1.  Owner: bench helper. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { HDR_LEN = 16, IO_CHUNK = 256 * 1024, ACK_EVERY = 1024 * 1024, MAX_EVENTS = 512 };

static uint8_t pattern[IO_CHUNK]; /* payload we send (pseudo-random) */
static uint8_t sinkbuf[IO_CHUNK]; /* payload we read and drop */
static int ep = -1;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static _Noreturn void die(const char *what)
{
	printf("{\"error\": \"%s: %s\"}\n", what, strerror(errno));
	exit(1);
}

static _Noreturn void fail_msg(const char *msg)
{
	printf("{\"error\": \"%s\"}\n", msg);
	exit(1);
}

static int parse_addr(const char *s, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)atoi(colon + 1));
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void ep_add(int fd, void *ptr)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
				  .data.ptr = ptr };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		die("epoll_ctl");
}

/* ------------------------------------------------------------ target */

struct tconn {
	int fd;
	uint8_t hdr[HDR_LEN];
	size_t hdr_len;
	uint64_t n;      /* the header's count */
	uint64_t owed;   /* 'D', 'P': bytes still to send */
	uint64_t got;    /* 'S': bytes read */
	uint64_t ack_want;
	uint8_t ack[8];
	size_t ack_off; /* 8 = nothing being sent */
	bool closing;   /* close once everything queued is sent */
};

static void t_close(struct tconn *t)
{
	close(t->fd);
	free(t);
}

/* Write what is owed until EAGAIN; returns -1 on a socket error. */
static int t_write(struct tconn *t)
{
	for (;;) {
		if (t->ack_off == 8 && t->ack_want > 0) {
			put_be64(t->ack, t->ack_want);
			t->ack_want = 0;
			t->ack_off = 0;
		}
		const void *p;
		size_t len;
		if (t->ack_off < 8) {
			p = t->ack + t->ack_off;
			len = 8 - t->ack_off;
		} else if (t->owed > 0) {
			p = pattern;
			len = t->owed < IO_CHUNK ? (size_t)t->owed : IO_CHUNK;
		} else {
			return 0;
		}
		ssize_t w = send(t->fd, p, len, MSG_NOSIGNAL);
		if (w < 0)
			return errno == EAGAIN ? 0 : -1;
		if (t->ack_off < 8)
			t->ack_off += (size_t)w;
		else
			t->owed -= (uint64_t)w;
	}
}

static void t_event(struct tconn *t)
{
	for (;;) {
		ssize_t r;
		if (t->hdr_len < HDR_LEN) {
			r = recv(t->fd, t->hdr + t->hdr_len, HDR_LEN - t->hdr_len, 0);
			if (r > 0) {
				t->hdr_len += (size_t)r;
				if (t->hdr_len == HDR_LEN) {
					t->n = get_be64(t->hdr + 8);
					if (t->hdr[0] == 'D') {
						t->owed = t->n;
						t->closing = true;
					} else if (t->hdr[0] != 'S' && t->hdr[0] != 'P') {
						goto gone;
					}
				}
				continue;
			}
		} else if (t->closing && t->hdr[0] == 'D') {
			break; /* a source reads nothing more */
		} else {
			size_t want = IO_CHUNK;
			if (t->hdr[0] == 'S' && t->n > 0 && t->n - t->got < want)
				want = (size_t)(t->n - t->got);
			if (want == 0)
				break;
			r = recv(t->fd, sinkbuf, want, 0);
			if (r > 0) {
				if (t->hdr[0] == 'P') {
					t->owed += (uint64_t)r * t->n;
				} else {
					uint64_t before = t->got;
					t->got += (uint64_t)r;
					if (t->got / ACK_EVERY != before / ACK_EVERY || t->got == t->n)
						t->ack_want = t->got;
					if (t->got == t->n)
						t->closing = true;
				}
				if (t_write(t) < 0)
					goto gone;
				continue;
			}
		}
		if (r == 0)
			goto gone;
		if (errno == EAGAIN)
			break;
		goto gone;
	}
	if (t_write(t) < 0)
		goto gone;
	if (t->closing && t->owed == 0 && t->ack_off == 8 && t->ack_want == 0)
		goto gone;
	return;
gone:
	t_close(t);
}

static _Noreturn void serve(const char *listen_addr)
{
	struct sockaddr_in sa;
	if (parse_addr(listen_addr, &sa) < 0)
		fail_msg("bad -l address");
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (lfd < 0)
		die("socket");
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 4096) < 0)
		die("bind/listen");
	socklen_t sl = sizeof(sa);
	getsockname(lfd, (struct sockaddr *)&sa, &sl);
	static int lmark;
	ep_add(lfd, &lmark);
	printf("{\"event\": \"listening\", \"port\": %u}\n", ntohs(sa.sin_port));
	fflush(stdout);
	struct epoll_event evs[MAX_EVENTS];
	for (;;) {
		int n = epoll_wait(ep, evs, MAX_EVENTS, -1);
		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		for (int i = 0; i < n; i++) {
			if (evs[i].data.ptr != &lmark) {
				t_event(evs[i].data.ptr);
				continue;
			}
			for (;;) {
				int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
				if (fd < 0)
					break; /* EAGAIN, or EMFILE: retried on the next edge */
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
				struct tconn *t = calloc(1, sizeof(*t));
				if (t == NULL)
					fail_msg("out of memory");
				t->fd = fd;
				t->ack_off = 8;
				ep_add(fd, t);
			}
		}
	}
}

/* ------------------------------------------------------------ client */

enum cstate { C_CONNECTING, C_GREET, C_REPLY, C_RUN, C_HELD, C_DONE };
enum ccase { K_BULK, K_CONN, K_PING, K_IDLE };

struct conn {
	int fd;
	enum cstate st;
	uint8_t hs[300]; /* SOCKS5 reply */
	size_t hs_len, hs_want;
	uint8_t hdr[HDR_LEN];
	size_t hdr_off;
	uint64_t up_sent, acked, down_got;
	uint8_t ack[8];
	size_t ack_len;
	uint64_t t_start, t_ping;
	bool ping_out; /* one ping byte still to send */
	bool waiting;  /* a ping is unanswered */
};

static struct {
	enum ccase kase;
	bool direct;
	struct sockaddr_in proxy, target;
	bool down;          /* bulk direction */
	uint64_t bytes;     /* bulk bytes per stream, 0 = by time */
	double seconds;     /* bulk/conn: run this long */
	long streams;       /* bulk, idle */
	long concurrency;   /* conn */
	long requests;      /* conn */
	uint64_t size;      /* conn, ping: response size */
	long count;         /* ping */
	double timeout;     /* the whole case */
	/* running state */
	long started, active, finished, failed, answered;
	uint64_t t0, last_ack_t; /* last_ack_t: when bulk bytes last moved */
	uint64_t moved;          /* bulk: bytes received (down) or acknowledged (up) */
	uint64_t *lat; /* ns, per request or ping */
	long nlat, cap_lat;
	struct conn **conns; /* idle: every stream */
	long nconns;
	bool stop;
	const char *fail_why;
} J;

static void lat_add(uint64_t ns)
{
	if (J.nlat == J.cap_lat) {
		J.cap_lat = J.cap_lat ? J.cap_lat * 2 : 1024;
		J.lat = realloc(J.lat, (size_t)J.cap_lat * sizeof(*J.lat));
		if (J.lat == NULL)
			fail_msg("out of memory");
	}
	J.lat[J.nlat++] = ns;
}

static void conn_start(void);

static void conn_end(struct conn *c, const char *why)
{
	if (c->st == C_DONE)
		return;
	if (why != NULL) {
		J.failed++;
		J.fail_why = why;
	} else {
		J.finished++;
	}
	c->st = C_DONE;
	close(c->fd);
	c->fd = -1;
	J.active--;
	if (J.kase != K_IDLE)
		free(c); /* idle streams stay in J.conns */
	else
		return;
	if (J.kase == K_CONN)
		conn_start();
}

static void run_begin(struct conn *c)
{
	c->st = C_RUN;
	c->hdr_off = 0;
	if (J.kase == K_BULK) {
		c->hdr[0] = J.down ? 'D' : 'S';
		put_be64(c->hdr + 8, J.bytes ? J.bytes : (J.down ? UINT64_MAX : 0));
	} else if (J.kase == K_CONN) {
		c->hdr[0] = 'D';
		put_be64(c->hdr + 8, J.size);
	} else {
		c->hdr[0] = 'P';
		put_be64(c->hdr + 8, J.kase == K_IDLE ? 1 : J.size);
		c->ping_out = true;
		c->t_ping = now_ns();
	}
}

/* Send what this stream has to send, until EAGAIN. */
static int run_write(struct conn *c)
{
	for (;;) {
		const void *p;
		size_t len;
		if (c->hdr_off < HDR_LEN) {
			p = c->hdr + c->hdr_off;
			len = HDR_LEN - c->hdr_off;
		} else if (c->ping_out) {
			p = pattern;
			len = 1;
		} else if (J.kase == K_BULK && !J.down && !J.stop &&
			   (J.bytes == 0 || c->up_sent < J.bytes)) {
			p = pattern;
			len = IO_CHUNK;
			if (J.bytes && J.bytes - c->up_sent < len)
				len = (size_t)(J.bytes - c->up_sent);
		} else {
			return 0;
		}
		ssize_t w = send(c->fd, p, len, MSG_NOSIGNAL);
		if (w < 0)
			return errno == EAGAIN ? 0 : -1;
		if (c->hdr_off < HDR_LEN) {
			c->hdr_off += (size_t)w;
		} else if (c->ping_out) {
			c->ping_out = false;
			c->waiting = true;
		} else {
			c->up_sent += (uint64_t)w;
		}
	}
}

/* A ping's answer is complete. */
static void ping_answered(struct conn *c)
{
	uint64_t t = now_ns();
	c->waiting = false;
	c->down_got = 0;
	if (J.kase == K_PING) {
		J.answered++;
		if (J.answered > J.count / 20) /* the first 5% warm up */
			lat_add(t - c->t_ping);
		if (J.answered >= J.count + J.count / 20 ||
		    (J.seconds > 0 && t - J.t0 >= (uint64_t)(J.seconds * 1e9))) {
			J.stop = true;
			return;
		}
		c->t_ping = t;
		c->ping_out = true;
	} else { /* idle */
		J.answered++;
		c->st = C_HELD;
	}
}

/* Read until EAGAIN; returns -1 when the stream ended. */
static int run_read(struct conn *c)
{
	for (;;) {
		ssize_t r = recv(c->fd, sinkbuf, sizeof(sinkbuf), 0);
		if (r == 0) {
			conn_end(c, "unexpected EOF");
			return -1;
		}
		if (r < 0) {
			if (errno == EAGAIN)
				return 0;
			conn_end(c, "recv error");
			return -1;
		}
		uint64_t n = (uint64_t)r;
		if (J.kase == K_BULK && !J.down) {
			for (uint64_t i = 0; i < n; i++) {
				c->ack[c->ack_len++] = sinkbuf[i];
				if (c->ack_len == 8) {
					c->ack_len = 0;
					uint64_t a = get_be64(c->ack);
					J.last_ack_t = now_ns();
					J.moved += a - c->acked;
					c->acked = a;
					if (J.bytes && a >= J.bytes) {
						conn_end(c, NULL);
						return -1;
					}
				}
			}
		} else if (J.kase == K_BULK || J.kase == K_CONN) {
			c->down_got += n;
			if (J.kase == K_BULK) {
				J.moved += n;
				J.last_ack_t = now_ns();
			}
			uint64_t want = J.kase == K_BULK ? J.bytes : J.size;
			if (want && c->down_got >= want) {
				if (J.kase == K_CONN)
					lat_add(now_ns() - c->t_start);
				conn_end(c, NULL);
				return -1;
			}
		} else {
			c->down_got += n;
			if (!c->waiting && !c->ping_out) {
				conn_end(c, "data nobody asked for");
				return -1;
			}
			if (c->down_got >= (J.kase == K_IDLE ? 1 : J.size))
				ping_answered(c);
		}
	}
}

static void conn_event(struct conn *c)
{
	int err = 0;
	socklen_t el = sizeof(err);
	ssize_t r;
	switch (c->st) {
	case C_CONNECTING:
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err != 0) {
			if (err == EINPROGRESS)
				return;
			conn_end(c, "connect failed");
			return;
		}
		{
			struct sockaddr_in peer;
			socklen_t pl = sizeof(peer);
			if (getpeername(c->fd, (struct sockaddr *)&peer, &pl) < 0)
				return; /* not connected yet */
		}
		if (J.direct) {
			run_begin(c);
			break;
		}
		/* Not pipelined: some proxies drop bytes sent before their reply. */
		if (send(c->fd, "\x05\x01\x00", 3, MSG_NOSIGNAL) != 3) {
			conn_end(c, "socks greeting send");
			return;
		}
		c->st = C_GREET;
		c->hs_len = 0;
		c->hs_want = 2;
		/* fall through */
	case C_GREET:
	case C_REPLY:
		while (c->hs_len < c->hs_want) {
			r = recv(c->fd, c->hs + c->hs_len, c->hs_want - c->hs_len, 0);
			if (r == 0) {
				conn_end(c, "proxy closed during SOCKS5");
				return;
			}
			if (r < 0) {
				if (errno != EAGAIN)
					conn_end(c, "proxy recv error");
				return;
			}
			c->hs_len += (size_t)r;
			if (c->hs_len < c->hs_want)
				continue;
			if (c->st == C_GREET) {
				if (c->hs[0] != 5 || c->hs[1] != 0) {
					conn_end(c, "SOCKS5 method refused");
					return;
				}
				uint8_t req[10] = { 5, 1, 0, 1 };
				memcpy(req + 4, &J.target.sin_addr, 4);
				memcpy(req + 8, &J.target.sin_port, 2);
				if (send(c->fd, req, sizeof(req), MSG_NOSIGNAL) != (ssize_t)sizeof(req)) {
					conn_end(c, "socks request send");
					return;
				}
				c->st = C_REPLY;
				c->hs_len = 0;
				c->hs_want = 4;
			} else if (c->hs_len == 4) {
				if (c->hs[1] != 0) {
					conn_end(c, "SOCKS5 CONNECT refused");
					return;
				}
				c->hs_want = c->hs[3] == 1 ? 10 : c->hs[3] == 4 ? 22 : 5;
			} else if (c->hs_len == 5 && c->hs[3] == 3) {
				c->hs_want = 5 + (size_t)c->hs[4] + 2;
			}
		}
		if (c->st != C_REPLY)
			return;
		run_begin(c);
		break;
	case C_RUN:
	case C_HELD:
		break;
	case C_DONE:
		return;
	}
	if (run_write(c) < 0) {
		conn_end(c, "send error");
		return;
	}
	if (run_read(c) < 0)
		return;
	if (run_write(c) < 0)
		conn_end(c, "send error");
}

/* Start one more stream if the case wants one. */
static void conn_start(void)
{
	if (J.stop)
		return;
	if (J.kase == K_CONN) {
		if (J.requests > 0 && J.started >= J.requests)
			return;
		if (J.seconds > 0 && now_ns() - J.t0 >= (uint64_t)(J.seconds * 1e9))
			return;
	}
	struct conn *c = calloc(1, sizeof(*c));
	if (c == NULL)
		fail_msg("out of memory");
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		die("socket");
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->t_start = now_ns();
	J.started++;
	J.active++;
	if (J.kase == K_IDLE)
		J.conns[J.nconns++] = c;
	ep_add(c->fd, c);
	const struct sockaddr_in *to = J.direct ? &J.target : &J.proxy;
	if (connect(c->fd, (const struct sockaddr *)to, sizeof(*to)) < 0 && errno != EINPROGRESS)
		conn_end(c, "connect failed");
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static double pct_us(double p)
{
	if (J.nlat == 0)
		return -1;
	long i = (long)(p * (double)(J.nlat - 1) + 0.5);
	return (double)J.lat[i] / 1e3;
}

/* Run the loop until cond() or the case's timeout; false on timeout. */
static bool loop_until(bool (*cond)(void), double timeout_s)
{
	struct epoll_event evs[MAX_EVENTS];
	uint64_t limit = now_ns() + (uint64_t)(timeout_s * 1e9);
	while (!cond()) {
		uint64_t t = now_ns();
		if (t >= limit)
			return false;
		if (J.kase == K_BULK && J.seconds > 0 && t - J.t0 >= (uint64_t)(J.seconds * 1e9))
			J.stop = true;
		int n = epoll_wait(ep, evs, MAX_EVENTS, 50);
		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		for (int i = 0; i < n; i++)
			conn_event(evs[i].data.ptr);
	}
	return true;
}

static bool all_closed(void)
{
	return J.stop || J.active == 0;
}

static bool all_answered(void)
{
	return J.answered + J.failed >= J.streams;
}

static void idle_case(void)
{
	J.conns = calloc((size_t)J.streams, sizeof(*J.conns));
	if (J.conns == NULL)
		fail_msg("out of memory");
	/* Open at most 256 at a time: no proxy's listen queue overflows. */
	while (J.started < J.streams) {
		while (J.started < J.streams && J.started - J.answered - J.failed < 256)
			conn_start();
		struct epoll_event evs[MAX_EVENTS];
		int n = epoll_wait(ep, evs, MAX_EVENTS, 50);
		for (int i = 0; i < n; i++)
			conn_event(evs[i].data.ptr);
		if (now_ns() - J.t0 > (uint64_t)(J.timeout * 1e9))
			break;
	}
	bool ok = loop_until(all_answered, J.timeout - (double)(now_ns() - J.t0) / 1e9);
	printf("{\"case\": \"idle\", \"event\": \"ready\", \"streams\": %ld, \"alive\": %ld, "
	       "\"failed\": %ld, \"open_secs\": %.6f, \"timeout\": %s, \"why\": \"%s\"}\n",
	       J.streams, J.answered, J.failed, (double)(now_ns() - J.t0) / 1e9,
	       ok ? "false" : "true", J.fail_why ? J.fail_why : "");
	char line[64];
	while (fgets(line, sizeof(line), stdin) != NULL) {
		if (strncmp(line, "check", 5) != 0)
			continue;
		uint64_t t = now_ns();
		J.answered = 0;
		long pinged = 0;
		for (long i = 0; i < J.nconns; i++) {
			struct conn *c = J.conns[i];
			if (c->st != C_HELD)
				continue;
			c->st = C_RUN;
			c->down_got = 0;
			c->ping_out = true;
			pinged++;
			if (run_write(c) < 0)
				conn_end(c, "send error");
		}
		long failed_before = J.failed;
		J.streams = pinged + failed_before;
		ok = loop_until(all_answered, J.timeout);
		printf("{\"case\": \"idle\", \"event\": \"check\", \"alive\": %ld, \"failed\": %ld, "
		       "\"secs\": %.6f, \"timeout\": %s}\n", J.answered, J.failed,
		       (double)(now_ns() - t) / 1e9, ok ? "false" : "true");
	}
	exit(0);
}

static _Noreturn void usage(void)
{
	fprintf(stderr, "usage: rvpn_load serve -l IP:PORT\n"
			"       rvpn_load bulk|conn|ping|idle (--socks IP:PORT | --direct) -t IP:PORT\n"
			"                 [--dir down|up] [--streams N] [--bytes B] [--seconds S]\n"
			"                 [--concurrency C] [--requests R] [--size N] [--count M]\n"
			"                 [--timeout S]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	uint32_t x = 0x9e3779b9u;
	for (size_t i = 0; i < sizeof(pattern); i++) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		pattern[i] = (uint8_t)x;
	}
	raise_nofile();
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1");
	if (argc < 2)
		usage();
	const char *cmd = argv[1];
	J.streams = 1;
	J.concurrency = 1;
	J.size = 1;
	J.count = 1000;
	J.timeout = 300;
	J.down = true;
	bool have_target = false, have_proxy = false;
	const char *listen_addr = NULL;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--direct") == 0) {
			J.direct = true;
			continue;
		}
		if (v == NULL)
			usage();
		i++;
		if (strcmp(a, "-l") == 0)
			listen_addr = v;
		else if (strcmp(a, "--socks") == 0)
			have_proxy = parse_addr(v, &J.proxy) == 0;
		else if (strcmp(a, "-t") == 0)
			have_target = parse_addr(v, &J.target) == 0;
		else if (strcmp(a, "--dir") == 0)
			J.down = strcmp(v, "down") == 0;
		else if (strcmp(a, "--streams") == 0)
			J.streams = atol(v);
		else if (strcmp(a, "--bytes") == 0)
			J.bytes = strtoull(v, NULL, 10);
		else if (strcmp(a, "--seconds") == 0)
			J.seconds = atof(v);
		else if (strcmp(a, "--concurrency") == 0)
			J.concurrency = atol(v);
		else if (strcmp(a, "--requests") == 0)
			J.requests = atol(v);
		else if (strcmp(a, "--size") == 0)
			J.size = strtoull(v, NULL, 10);
		else if (strcmp(a, "--count") == 0)
			J.count = atol(v);
		else if (strcmp(a, "--timeout") == 0)
			J.timeout = atof(v);
		else
			usage();
	}
	if (strcmp(cmd, "serve") == 0)
		{
		if (listen_addr == NULL)
			usage();
		serve(listen_addr);
	}
	if (!have_target || (!J.direct && !have_proxy) || J.streams < 1 || J.concurrency < 1 ||
	    J.size < 1 || J.count < 1)
		usage();
	if (strcmp(cmd, "bulk") == 0)
		J.kase = K_BULK;
	else if (strcmp(cmd, "conn") == 0)
		J.kase = K_CONN;
	else if (strcmp(cmd, "ping") == 0)
		J.kase = K_PING;
	else if (strcmp(cmd, "idle") == 0)
		J.kase = K_IDLE;
	else
		usage();
	if ((J.kase == K_BULK && J.bytes == 0 && J.seconds <= 0) ||
	    (J.kase == K_CONN && J.requests <= 0 && J.seconds <= 0))
		usage();
	J.t0 = now_ns();
	if (J.kase == K_IDLE)
		idle_case();
	long n = J.kase == K_BULK ? J.streams : J.kase == K_CONN ? J.concurrency : 1;
	for (long i = 0; i < n; i++)
		conn_start();
	bool ok = loop_until(all_closed, J.timeout);
	double secs = (double)(now_ns() - J.t0) / 1e9;
	if (!ok)
		printf("{\"error\": \"timeout after %.1f s\"}\n", secs);
	else if (J.failed > 0)
		printf("{\"error\": \"%ld streams failed: %s\"}\n", J.failed, J.fail_why);
	if (!ok || J.failed > 0)
		return 1;
	qsort(J.lat, (size_t)J.nlat, sizeof(*J.lat), cmp_u64);
	if (J.kase == K_BULK) {
		/* Stopped by time: what arrived (or was acknowledged) by the last byte seen. */
		if (J.stop && J.last_ack_t > J.t0)
			secs = (double)(J.last_ack_t - J.t0) / 1e9;
		uint64_t total = J.moved;
		printf("{\"case\": \"bulk\", \"dir\": \"%s\", \"streams\": %ld, \"bytes\": %" PRIu64
		       ", \"secs\": %.6f, \"MBps\": %.3f}\n",
		       J.down ? "down" : "up", J.streams, total, secs, (double)total / secs / 1e6);
	} else if (J.kase == K_CONN) {
		printf("{\"case\": \"conn\", \"concurrency\": %ld, \"requests\": %ld, \"secs\": %.6f, "
		       "\"rps\": %.3f, \"p50_us\": %.1f, \"p99_us\": %.1f}\n",
		       J.concurrency, J.finished, secs, (double)J.finished / secs, pct_us(0.5),
		       pct_us(0.99));
	} else {
		printf("{\"case\": \"ping\", \"size\": %" PRIu64 ", \"count\": %ld, \"p50_us\": %.1f, "
		       "\"p90_us\": %.1f, \"p99_us\": %.1f, \"min_us\": %.1f}\n",
		       J.size, J.nlat, pct_us(0.5), pct_us(0.9), pct_us(0.99), pct_us(0));
	}
	return 0;
}
