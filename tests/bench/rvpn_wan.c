/* rvpn_wan - a user-space WAN emulator for the benchmark harness, used by
 * tests/bench/run when the kernel has no sch_netem.
 *
 *   rvpn_wan --ns-a NS --dev-a DEV --ns-b NS --dev-b DEV
 *            [--delay-ms D] [--rate-mbit R] [--loss P] [--queue-bytes N]
 *            [--seed S]
 *
 * It opens a TUN device (IFF_TUN | IFF_NO_PI) inside each network namespace
 * (setns into /run/netns/NS, open /dev/net/tun, TUNSETIFF, setns back: the
 * descriptor stays bound to the device in that namespace; "-" as NS means
 * the current one).  The caller gives the devices addresses and brings them
 * up after the ready line.  Every packet read from one device is written to
 * the other after going through, in order:
 *   1. loss: dropped with probability P (independently per packet);
 *   2. the bottleneck: a serialisation clock at R Mbit/s (a token bucket
 *      whose bucket holds one packet: a packet leaves when the previous one
 *      has been "sent" plus len*8/R).  The bytes still waiting to be sent form
 *      a drop-tail queue bounded by N bytes (default 1.5 x R x 2D, i.e. 1.5 x
 *      the bandwidth-delay product of a D+D round trip);
 *   3. the propagation delay D ms (one way).
 * One FIFO per direction keeps packet order; its head's due time arms that
 * direction's timerfd (absolute, CLOCK_MONOTONIC).  epoll, no busy loop.
 *
 * stdout: one JSON line {"event":"ready",...} once both devices are open,
 * then on SIGTERM / SIGINT one line per direction with its counters, and
 * exit 0.  Errors: {"error":...} and exit status 1.  Owner: bench helper. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

enum {
	PKT_MAX = 65536,       /* a TUN read never returns more */
	READ_BATCH = 64,       /* reads per wake-up per device, for fairness */
	MAX_EVENTS = 8,
	/* In-flight cap when no rate is set (the delay line is otherwise bounded
	 * by rate x delay + queue). */
	UNLIMITED_INFLIGHT = 64 * 1024 * 1024,
};

struct pkt {
	struct pkt *next;
	uint64_t due_ns;   /* when it reaches the other side */
	uint32_t len;
	uint8_t data[];
};

enum dir_state { DIR_IDLE, DIR_ARMED }; /* timer disarmed / armed for the head */

struct dir {
	const char *name;
	int in_fd, out_fd, timer_fd;
	enum dir_state state;
	struct pkt *head, *tail;
	uint64_t next_free_ns;  /* serialisation clock: when the link is free */
	uint64_t inflight_bytes;
	uint64_t rx_pkts, rx_bytes, tx_pkts, tx_bytes;
	uint64_t drop_loss, drop_queue, drop_write;
};

static struct {
	uint64_t delay_ns;
	uint64_t rate_bps;     /* 0 = unlimited */
	double loss;
	uint64_t queue_bytes;
	uint64_t inflight_max;
	uint64_t rng;
} cfg;

static uint8_t rxbuf[PKT_MAX];

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

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: a fast, seedable generator; quality is ample for loss. */
static double rng_unit(void)
{
	cfg.rng ^= cfg.rng >> 12;
	cfg.rng ^= cfg.rng << 25;
	cfg.rng ^= cfg.rng >> 27;
	return (double)((cfg.rng * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

/* Open (or create) TUN device `dev` inside namespace `ns` ("-" = here). */
static int tun_open_in(const char *ns, const char *dev)
{
	int self = -1, target = -1, fd = -1;
	if (strcmp(ns, "-") != 0) {
		char path[512];
		snprintf(path, sizeof path, "/run/netns/%s", ns);
		self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
		if (self < 0)
			die("open /proc/self/ns/net");
		target = open(path, O_RDONLY | O_CLOEXEC);
		if (target < 0)
			die(path);
		if (setns(target, CLONE_NEWNET) < 0)
			die("setns");
	}
	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		die("open /dev/net/tun");
	struct ifreq ifr;
	memset(&ifr, 0, sizeof ifr);
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	if (strlen(dev) >= IFNAMSIZ)
		fail_msg("device name too long");
	memcpy(ifr.ifr_name, dev, strlen(dev));
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		die("TUNSETIFF");
	if (self >= 0) {
		if (setns(self, CLONE_NEWNET) < 0)
			die("setns back");
		close(self);
		close(target);
	}
	return fd;
}

static void dir_arm(struct dir *d)
{
	struct itimerspec its;
	memset(&its, 0, sizeof its);
	if (d->head) {
		its.it_value.tv_sec = (time_t)(d->head->due_ns / 1000000000u);
		its.it_value.tv_nsec = (long)(d->head->due_ns % 1000000000u);
		if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
			its.it_value.tv_nsec = 1; /* all zero would disarm */
	}
	if (timerfd_settime(d->timer_fd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		die("timerfd_settime");
	d->state = d->head ? DIR_ARMED : DIR_IDLE;
}

/* One packet in: loss, then the bottleneck queue, then the delay line. */
static void dir_accept(struct dir *d, const uint8_t *buf, uint32_t len, uint64_t now)
{
	d->rx_pkts++;
	d->rx_bytes += len;
	if (cfg.loss > 0 && rng_unit() < cfg.loss) {
		d->drop_loss++;
		return;
	}
	uint64_t start = d->next_free_ns > now ? d->next_free_ns : now;
	uint64_t sent = start;
	if (cfg.rate_bps) {
		/* Bytes still waiting for the link = the backlog of the clock. */
		double backlog = (double)(start - now) * (double)cfg.rate_bps / 8e9;
		if (backlog + len > (double)cfg.queue_bytes) {
			d->drop_queue++;
			return;
		}
		sent = start + (uint64_t)len * 8 * 1000000000u / cfg.rate_bps;
	}
	if (d->inflight_bytes + len > cfg.inflight_max) {
		d->drop_queue++;
		return;
	}
	struct pkt *p = malloc(sizeof *p + len);
	if (!p) {
		d->drop_queue++;
		return;
	}
	d->next_free_ns = sent;
	p->next = NULL;
	p->due_ns = sent + cfg.delay_ns;
	p->len = len;
	memcpy(p->data, buf, len);
	d->inflight_bytes += len;
	if (d->tail)
		d->tail->next = p;
	else
		d->head = p;
	d->tail = p;
	if (d->state == DIR_IDLE)
		dir_arm(d);
}

static void dir_read(struct dir *d)
{
	for (int i = 0; i < READ_BATCH; i++) {
		ssize_t n = read(d->in_fd, rxbuf, sizeof rxbuf);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			die("read tun");
		}
		if (n == 0)
			return;
		dir_accept(d, rxbuf, (uint32_t)n, now_ns());
	}
}

/* Timer: hand every packet that is due to the other device. */
static void dir_deliver(struct dir *d)
{
	uint64_t ticks;
	if (read(d->timer_fd, &ticks, sizeof ticks) < 0 && errno != EAGAIN)
		die("read timerfd");
	uint64_t now = now_ns();
	while (d->head && d->head->due_ns <= now) {
		struct pkt *p = d->head;
		d->head = p->next;
		if (!d->head)
			d->tail = NULL;
		d->inflight_bytes -= p->len;
		ssize_t n = write(d->out_fd, p->data, p->len);
		if (n == (ssize_t)p->len) {
			d->tx_pkts++;
			d->tx_bytes += p->len;
		} else {
			d->drop_write++; /* device down or its queue full: a real loss */
		}
		free(p);
	}
	dir_arm(d);
}

static void dir_report(const struct dir *d)
{
	printf("{\"event\": \"counters\", \"dir\": \"%s\", \"packets_in\": %" PRIu64
	       ", \"bytes_in\": %" PRIu64 ", \"packets_out\": %" PRIu64 ", \"bytes_out\": %" PRIu64
	       ", \"drop_loss\": %" PRIu64 ", \"drop_queue\": %" PRIu64 ", \"drop_write\": %" PRIu64
	       ", \"in_flight\": %" PRIu64 "}\n",
	       d->name, d->rx_pkts, d->rx_bytes, d->tx_pkts, d->tx_bytes, d->drop_loss, d->drop_queue,
	       d->drop_write, d->inflight_bytes);
}

static void dir_free(struct dir *d)
{
	while (d->head) {
		struct pkt *p = d->head;
		d->head = p->next;
		free(p);
	}
	d->tail = NULL;
}

static void usage(void)
{
	fprintf(stderr, "usage: rvpn_wan --ns-a NS --dev-a DEV --ns-b NS --dev-b DEV [--delay-ms D]\n"
			"       [--rate-mbit R] [--loss P] [--queue-bytes N] [--seed S]\n"
			"  NS '-' = the current namespace; R 0 = unlimited; P in [0,1)\n");
	exit(2);
}

static double num_arg(const char *s, double lo, double hi)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= lo && v <= hi))
		usage();
	return v;
}

int main(int argc, char **argv)
{
	const char *ns_a = NULL, *ns_b = NULL, *dev_a = NULL, *dev_b = NULL;
	double delay_ms = 0, rate_mbit = 0;
	uint64_t seed = 0;
	cfg.queue_bytes = 0;
	for (int i = 1; i < argc; i++) {
		const char *o = argv[i];
		if (i + 1 >= argc)
			usage();
		const char *v = argv[++i];
		if (!strcmp(o, "--ns-a"))
			ns_a = v;
		else if (!strcmp(o, "--ns-b"))
			ns_b = v;
		else if (!strcmp(o, "--dev-a"))
			dev_a = v;
		else if (!strcmp(o, "--dev-b"))
			dev_b = v;
		else if (!strcmp(o, "--delay-ms"))
			delay_ms = num_arg(v, 0, 10000);
		else if (!strcmp(o, "--rate-mbit"))
			rate_mbit = num_arg(v, 0, 100000);
		else if (!strcmp(o, "--loss"))
			cfg.loss = num_arg(v, 0, 0.999);
		else if (!strcmp(o, "--queue-bytes"))
			cfg.queue_bytes = (uint64_t)num_arg(v, PKT_MAX, 4e9);
		else if (!strcmp(o, "--seed"))
			seed = (uint64_t)num_arg(v, 0, 1e18);
		else
			usage();
	}
	if (!ns_a || !ns_b || !dev_a || !dev_b)
		usage();
	cfg.delay_ns = (uint64_t)(delay_ms * 1e6);
	cfg.rate_bps = (uint64_t)(rate_mbit * 1e6);
	if (!cfg.queue_bytes) {
		/* 1.5 x BDP of the round trip, at least 64 KiB. */
		double bdp = rate_mbit * 1e6 / 8 * (2 * delay_ms / 1000);
		cfg.queue_bytes = bdp * 1.5 > PKT_MAX ? (uint64_t)(bdp * 1.5) : PKT_MAX;
	}
	cfg.inflight_max = cfg.rate_bps ? cfg.queue_bytes + cfg.rate_bps / 8 * cfg.delay_ns / 1000000000u +
						  PKT_MAX
					: UNLIMITED_INFLIGHT;
	cfg.rng = seed ? seed : (now_ns() ^ (uint64_t)getpid() << 32) | 1;
	setvbuf(stdout, NULL, _IOLBF, 0);

	struct dir ab = {.name = "a>b"}, ba = {.name = "b>a"};
	int fa = tun_open_in(ns_a, dev_a), fb = tun_open_in(ns_b, dev_b);
	ab.in_fd = ba.out_fd = fa;
	ba.in_fd = ab.out_fd = fb;
	ab.timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	ba.timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (ab.timer_fd < 0 || ba.timer_fd < 0)
		die("timerfd_create");

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		die("sigprocmask");
	int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sfd < 0)
		die("signalfd");

	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1");
	/* data.u32: 0 read a, 1 read b, 2 timer a>b, 3 timer b>a, 4 signal */
	int fds[5] = {fa, fb, ab.timer_fd, ba.timer_fd, sfd};
	for (uint32_t i = 0; i < 5; i++) {
		struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) < 0)
			die("epoll_ctl");
	}
	printf("{\"event\": \"ready\", \"delay_ms\": %.3f, \"rate_mbit\": %.3f, \"loss\": %g, "
	       "\"queue_bytes\": %" PRIu64 "}\n",
	       delay_ms, rate_mbit, cfg.loss, cfg.queue_bytes);

	bool running = true;
	while (running) {
		struct epoll_event evs[MAX_EVENTS];
		int n = epoll_wait(ep, evs, MAX_EVENTS, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		for (int i = 0; i < n; i++) {
			switch (evs[i].data.u32) {
			case 0: dir_read(&ab); break;
			case 1: dir_read(&ba); break;
			case 2: dir_deliver(&ab); break;
			case 3: dir_deliver(&ba); break;
			default: running = false; break;
			}
		}
	}
	dir_report(&ab);
	dir_report(&ba);
	dir_free(&ab);
	dir_free(&ba);
	return 0;
}
