/* tool_peer.c - a scripted, hostile rvpn client for tests/hostile.
 *
 * It speaks the real protocol (WebSocket upgrade, Noise IK, Double Ratchet,
 * frames from common/) but misbehaves on purpose, so a test can check that
 * the server's bounds hold against an authorized but hostile client.  Plain
 * ws:// only, blocking sockets, one connection.  Results are printed as
 * "RESULT key=value" lines for the calling script.
 *
 *   hostile_peer -s HOST:PORT -p PATH -k CLIENT_KEY -P SERVER_PUB MODE ARGS
 *   modes:
 *     hold SECS                 handshake, answer PINGs, stay SECS, exit 0
 *     flood-connect N HOST PORT SECS
 *                               N CONNECTs (many per message) to HOST:PORT,
 *                               never read; stop writing when the socket
 *                               blocks for 2 s; then stay SECS, not reading
 *     stall-upload N HOST PORT SECS
 *                               open N streams to HOST:PORT and push DATA
 *                               into each up to its window, never read;
 *                               then stay SECS
 *     never-read N HOST PORT SECS
 *                               open N streams (targets that talk), never
 *                               read the WebSocket, stay SECS
 *     forge                     after one valid message, send a forged one;
 *                               report how long until the server closes
 *     replay                    after a complete session start, send the
 *                               same handshake message 1 on a new
 *                               connection; report whether it was answered
 *     dgram                     offer datagrams (RESULT datagram=0/1), then
 *                               run commands from stdin, one per line:
 *                                 send ASSOC HOST PORT HEX|-   one DATAGRAM
 *                                 fill ASSOC HOST PORT LEN     LEN bytes 'u'
 *                                 close ASSOC REASON           DATAGRAM_CLOSE
 *                                 expect N MS   read until N events or MS
 *                                 wait MS       read for MS
 *                                 pause MS      do not read for MS
 *                                 mark TEXT     print "MARK TEXT"
 *                               events: "DGRAM assoc=A src=ADDR len=L
 *                               data=HEX(first 64)", "DCLOSE assoc=A reason=R",
 *                               "GOAWAY reason=R", "CLOSED"
 *                               remote-forward commands (any of these modes;
 *                               wrong-direction frames on purpose):
 *                                 listen REQ KIND HOST PORT    LISTEN (HOST may be
 *                                                              a name: a domain bind)
 *                                 lclose REQ REASON            LISTEN_CLOSE
 *                                 lresp REQ STATUS PORT        LISTEN_RESPONSE
 *                                 rconnect ID REQ HOST PORT    REMOTE_CONNECT
 *                               events: "LRESP req=R status=S port=P",
 *                               "LCLOSE req=R reason=R", "RCONNECT id=I req=R"
 *     rfwd                      the same commands, offering remote forwards
 *                               (RESULT remote_fwd=0/1) instead of datagrams
 * Exit: 0 done, 1 setup/handshake failure, 2 usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "rv_addr.h"
#include "rv_buf.h"
#include "rv_err.h"
#include "rv_frame.h"
#include "rv_handshake.h"
#include "rv_keys.h"
#include "rv_ratchet.h"
#include "rv_wire.h"

enum peer_limits {
	PEER_WS_HDR_MAX = 14,
	PEER_HTTP_MAX = 8192,
	PEER_BLOCKED_MS = 2000,   /* write blocked this long: the server stopped reading */
	PEER_CLOSE_WAIT_MS = 10000,
	PEER_PING_EVERY_MS = 5000,
	PEER_STREAMS_MAX = 10000000,
};

struct peer {
	int fd;
	struct rv_ratchet *r;
	struct rv_hs_server_params params;
	uint32_t next_stream;
	uint64_t sent_bytes;
	uint8_t msg1[RV_HS_INIT_MSG_LEN]; /* kept for the replay mode */
	size_t msg1_len;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void die(const char *what)
{
	fprintf(stderr, "hostile_peer: %s\n", what);
	exit(1);
}

/* Writes all of p, waiting at most PEER_BLOCKED_MS for progress.
 * 0 done, 1 blocked (the server stopped reading), -1 error. */
static int write_all(struct peer *pe, const uint8_t *p, size_t len)
{
	while (len > 0) {
		struct pollfd pfd = { .fd = pe->fd, .events = POLLOUT };
		ssize_t n;
		int pr = poll(&pfd, 1, PEER_BLOCKED_MS);

		if (pr == 0)
			return 1;
		if (pr < 0 && errno != EINTR)
			return -1;
		n = send(pe->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
		pe->sent_bytes += (uint64_t)n;
	}
	return 0;
}

/* One masked binary WebSocket frame. */
static int ws_send(struct peer *pe, const uint8_t *msg, size_t len)
{
	uint8_t hdr[PEER_WS_HDR_MAX], mask[4];
	size_t h = 0, i;
	uint8_t *copy = malloc(len ? len : 1);
	int ret;

	if (copy == NULL)
		return -1;
	randombytes_buf(mask, sizeof(mask));
	hdr[h++] = 0x82;
	if (len < 126) {
		hdr[h++] = 0x80 | (uint8_t)len;
	} else if (len <= 0xffff) {
		hdr[h++] = 0x80 | 126;
		hdr[h++] = (uint8_t)(len >> 8);
		hdr[h++] = (uint8_t)len;
	} else {
		hdr[h++] = 0x80 | 127;
		for (i = 0; i < 8; i++)
			hdr[h++] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
	}
	memcpy(hdr + h, mask, 4);
	h += 4;
	for (i = 0; i < len; i++)
		copy[i] = msg[i] ^ mask[i & 3];
	ret = write_all(pe, hdr, h);
	if (ret == 0)
		ret = write_all(pe, copy, len);
	free(copy);
	return ret;
}

static int read_exact(int fd, uint8_t *p, size_t len, int timeout_ms)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;

	while (len > 0) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		uint64_t now = now_ms();
		ssize_t n;

		if (now >= end || poll(&pfd, 1, (int)(end - now)) <= 0)
			return -1;
		n = recv(fd, p, len, 0);
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads one server WebSocket message (unmasked, unfragmented) into out.
 * Returns the opcode, or -1 on EOF/error/timeout. */
static int ws_recv(struct peer *pe, struct rv_buf *out, int timeout_ms)
{
	uint8_t h[8];
	uint64_t len;
	uint8_t *dst;
	int op, i;

	if (read_exact(pe->fd, h, 2, timeout_ms) < 0)
		return -1;
	op = h[0] & 0x0f;
	len = h[1] & 0x7f;
	if (len == 126) {
		if (read_exact(pe->fd, h, 2, timeout_ms) < 0)
			return -1;
		len = (uint64_t)h[0] << 8 | h[1];
	} else if (len == 127) {
		if (read_exact(pe->fd, h, 8, timeout_ms) < 0)
			return -1;
		for (len = 0, i = 0; i < 8; i++)
			len = len << 8 | h[i];
	}
	if (len > RV_MSG_MAX + 16)
		return -1;
	rv_buf_reset(out);
	if (rv_buf_reserve(out, (size_t)len, &dst) != RV_OK)
		return -1;
	if (len > 0 && read_exact(pe->fd, dst, (size_t)len, timeout_ms) < 0)
		return -1;
	return op;
}

static int seal_send(struct peer *pe, const struct rv_frame *frames, size_t n)
{
	struct rv_buf pt, msg;
	size_t i;
	int ret = -1;

	rv_buf_init(&pt, RV_PLAINTEXT_MAX);
	rv_buf_init(&msg, RV_MSG_MAX);
	for (i = 0; i < n; i++)
		if (rv_frame_encode(&pt, &frames[i]) != RV_OK)
			goto out;
	if (rv_ratchet_encrypt(pe->r, now_ms(), rv_buf_ptr(&pt), rv_buf_len(&pt), &msg) != RV_OK)
		goto out;
	ret = ws_send(pe, rv_buf_ptr(&msg), rv_buf_len(&msg));
out:
	rv_buf_cleanup(&pt);
	rv_buf_cleanup(&msg);
	return ret;
}

/* dgram mode: a small receive buffer, so a peer that stops reading holds
 * little in its kernel and the server's own bounds are what is tested. */
static int peer_small_rcvbuf;
static int peer_rfwd; /* rfwd mode: offer remote forwards instead of datagrams */

static int tcp_connect(const char *hostport)
{
	char host[256];
	const char *colon = strrchr(hostport, ':');
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;
	int fd;

	if (colon == NULL || (size_t)(colon - hostport) >= sizeof(host))
		die("bad -s HOST:PORT");
	memcpy(host, hostport, (size_t)(colon - hostport));
	host[colon - hostport] = 0;
	if (host[0] == '[') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = 0;
	}
	hints.ai_flags = AI_NUMERICHOST;
	if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
		die("bad address");
	fd = socket(res->ai_family, SOCK_STREAM, 0);
	if (fd < 0)
		die("socket");
	/* A small send buffer: when the server stops reading, the peer sees
	 * it after a few hundred KiB instead of after megabytes of kernel
	 * buffering. */
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &(int){ 64 * 1024 }, sizeof(int));
	if (peer_small_rcvbuf)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &(int){ 64 * 1024 }, sizeof(int));
	if (connect(fd, res->ai_addr, res->ai_addrlen) < 0)
		die("connect to the server failed");
	freeaddrinfo(res);
	return fd;
}

static void ws_upgrade(struct peer *pe, const char *hostport, const char *path)
{
	char req[1024], resp[PEER_HTTP_MAX + 1];
	uint8_t key[16];
	char key64[32];
	size_t got = 0;

	randombytes_buf(key, sizeof(key));
	sodium_bin2base64(key64, sizeof(key64), key, sizeof(key), sodium_base64_VARIANT_ORIGINAL);
	snprintf(req, sizeof(req),
		 "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		 "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
		 "Sec-WebSocket-Protocol: %s\r\n\r\n",
		 path, hostport, key64, RV_WS_SUBPROTOCOL);
	if (write_all(pe, (const uint8_t *)req, strlen(req)) != 0)
		die("upgrade request not sent");
	/* Byte by byte: nothing after the header may be consumed here. */
	while (got < PEER_HTTP_MAX) {
		if (read_exact(pe->fd, (uint8_t *)resp + got, 1, 10000) < 0)
			die("no upgrade response");
		got++;
		if (got >= 4 && memcmp(resp + got - 4, "\r\n\r\n", 4) == 0)
			break;
	}
	resp[got] = 0;
	if (strncmp(resp, "HTTP/1.1 101", 12) != 0)
		die("the server refused the upgrade");
}

static void handshake(struct peer *pe, const char *keyfile, const char *server_pub64,
		      unsigned features)
{
	struct rv_keypair kp;
	uint8_t spub[RV_KEY_LEN];
	struct rv_handshake hs;
	struct rv_buf m1, m2;
	char err[256];
	int op;

	if (rv_key_load_private_file(keyfile, &kp, err, sizeof(err)) != RV_OK)
		die(err);
	if (rv_key_from_base64(server_pub64, strlen(server_pub64), spub) != RV_OK)
		die("bad -P key");
	memset(&hs, 0, sizeof(hs));
	rv_buf_init(&m1, RV_MSG_MAX);
	rv_buf_init(&m2, RV_MSG_MAX + 16);
	if (rv_handshake_client_start(&hs, &kp, spub, features, &m1) != RV_OK)
		die("handshake start");
	if (ws_send(pe, rv_buf_ptr(&m1), rv_buf_len(&m1)) != 0)
		die("message 1 not sent");
	if (rv_buf_len(&m1) == sizeof(pe->msg1)) {
		memcpy(pe->msg1, rv_buf_ptr(&m1), sizeof(pe->msg1));
		pe->msg1_len = sizeof(pe->msg1);
	}
	op = ws_recv(pe, &m2, 10000);
	if (op != 2)
		die("no handshake response");
	if (rv_handshake_client_finish(&hs, rv_buf_ptr(&m2), rv_buf_len(&m2),
				       RV_RATCHET_DEFAULT_INTERVAL_MS, &pe->r, &pe->params) != RV_OK)
		die("handshake response refused");
	rv_handshake_wipe(&hs);
	rv_keypair_wipe(&kp);
	rv_buf_cleanup(&m1);
	rv_buf_cleanup(&m2);
	pe->next_stream = 1;
	printf("RESULT handshake=ok max_streams=%u window=%u max_message=%u\n",
	       pe->params.max_streams, pe->params.stream_window, pe->params.max_message);
	fflush(stdout);
}

static int send_ping(struct peer *pe)
{
	struct rv_frame f = { .type = RV_FRAME_PING };

	f.u.ping.opaque = now_ms();
	return seal_send(pe, &f, 1);
}

/* Stays connected for secs, reading (read=1: PINGs are sent and replies
 * drained; the connection's end is reported) or not reading at all. */
static void hold(struct peer *pe, int secs, int read)
{
	uint64_t end = now_ms() + (uint64_t)secs * 1000u, next_ping = 0;
	struct rv_buf in;

	rv_buf_init(&in, RV_MSG_MAX + 16);
	while (now_ms() < end) {
		if (!read) {
			struct timespec ts = { .tv_sec = 0, .tv_nsec = 100 * 1000 * 1000 };

			nanosleep(&ts, NULL); /* deliberately idle: the attack is not reading */
			continue;
		}
		if (now_ms() >= next_ping) {
			if (send_ping(pe) < 0) {
				printf("RESULT closed_by_server=1\n");
				break;
			}
			next_ping = now_ms() + PEER_PING_EVERY_MS;
		}
		if (ws_recv(pe, &in, 200) < 0) {
			struct pollfd pfd = { .fd = pe->fd, .events = POLLIN };
			char c;

			if (poll(&pfd, 1, 0) > 0 && recv(pe->fd, &c, 1, MSG_PEEK) <= 0) {
				printf("RESULT closed_by_server=1\n");
				break;
			}
		}
	}
	rv_buf_cleanup(&in);
}

static int parse_target(const char *host, const char *port, struct rv_addr *a)
{
	long p = strtol(port, NULL, 10);

	if (p <= 0 || p > 65535)
		return -1;
	memset(a, 0, sizeof(*a));
	a->port = (uint16_t)p;
	if (inet_pton(AF_INET, host, a->ip) == 1) {
		a->atyp = RV_ATYP_IPV4;
	} else if (inet_pton(AF_INET6, host, a->ip) == 1) {
		a->atyp = RV_ATYP_IPV6;
	} else {
		size_t n = strlen(host);

		if (n == 0 || n > RV_DOMAIN_MAX)
			return -1;
		a->atyp = RV_ATYP_DOMAIN;
		memcpy(a->domain, host, n);
		a->domain_len = (uint8_t)n;
	}
	return 0;
}

enum peer_open_mode {
	PEER_OPEN_ONLY = 0,   /* one CONNECT per message */
	PEER_OPEN_PUSH = 1,   /* and a full window of DATA each */
	PEER_OPEN_FLOOD = 2,  /* many CONNECTs per message */
};

/* Opens n streams as the mode says. */
static void open_streams(struct peer *pe, long n, const struct rv_addr *dst,
			 enum peer_open_mode mode)
{
	int push = mode == PEER_OPEN_PUSH;
	static uint8_t chunk[RV_FRAME_DATA_MAX];
	long i;
	int blocked = 0;
	uint64_t t0 = now_ms();

	memset(chunk, 'x', sizeof(chunk));
	if (mode == PEER_OPEN_FLOOD) {
		enum { PER_MSG = 1000 };
		static struct rv_frame fs[PER_MSG];
		int ret = 0;

		for (i = 0; i < n && ret == 0;) {
			size_t k;

			for (k = 0; k < PER_MSG && i < n; k++, i++) {
				memset(&fs[k], 0, sizeof(fs[k]));
				fs[k].type = RV_FRAME_PROXY_CONNECT;
				fs[k].stream_id = pe->next_stream++;
				fs[k].u.connect.addr = *dst;
				fs[k].u.connect.window = RV_STREAM_WINDOW_DEFAULT;
			}
			ret = seal_send(pe, fs, k);
		}
		blocked = ret == 1;
		goto done;
	}
	for (i = 0; i < n && !blocked; i++) {
		struct rv_frame f = { .type = RV_FRAME_PROXY_CONNECT };
		uint32_t id = pe->next_stream++, left = pe->params.stream_window;
		int ret;

		f.stream_id = id;
		f.u.connect.addr = *dst;
		f.u.connect.window = RV_STREAM_WINDOW_DEFAULT;
		ret = seal_send(pe, &f, 1);
		/* DATA before PROXY_RESPONSE is allowed (early data, up to the window). */
		while (ret == 0 && push && left > 0) {
			struct rv_frame d = { .type = RV_FRAME_PROXY_DATA, .stream_id = id };
			struct rv_frame ds[3];
			size_t k, nf = 0;

			for (k = 0; k < 3 && left > 0; k++) {
				size_t len = left < sizeof(chunk) ? left : sizeof(chunk);

				d.u.data.data = chunk;
				d.u.data.len = len;
				ds[nf++] = d;
				left -= (uint32_t)len;
			}
			ret = seal_send(pe, ds, nf);
		}
		if (ret == 1)
			blocked = 1;
		else if (ret < 0)
			break;
	}
done:
	printf("RESULT streams_opened=%ld sent_bytes=%llu blocked=%d elapsed_ms=%llu\n", i,
	       (unsigned long long)pe->sent_bytes, blocked,
	       (unsigned long long)(now_ms() - t0));
	fflush(stdout);
}

static void forge(struct peer *pe)
{
	uint8_t msg[RV_TRANSPORT_OVERHEAD + 64];
	struct rv_buf in;
	uint64_t t0;
	int op;

	if (send_ping(pe) != 0)
		die("first message not sent");
	randombytes_buf(msg, sizeof(msg));
	msg[0] = RV_MSG_TRANSPORT;
	msg[1] = RV_PROTOCOL_VERSION;
	msg[2] = msg[3] = 0;
	t0 = now_ms();
	if (ws_send(pe, msg, sizeof(msg)) != 0)
		die("forged message not sent");
	rv_buf_init(&in, RV_MSG_MAX + 16);
	/* Drain until the server ends the connection (or the wait is over). */
	do
		op = ws_recv(pe, &in, PEER_CLOSE_WAIT_MS);
	while (op >= 0 && op != 8 && now_ms() - t0 < PEER_CLOSE_WAIT_MS);
	printf("RESULT forged_closed=%d close_ms=%llu\n", op < 0 || op == 8,
	       (unsigned long long)(now_ms() - t0));
	rv_buf_cleanup(&in);
}

/* A captured message 1, sent again on a new connection, must get no answer. */
static void replay(struct peer *pe, const char *server, const char *path)
{
	struct rv_buf in;
	int op;

	if (pe->msg1_len == 0 || send_ping(pe) != 0)
		die("nothing to replay");
	close(pe->fd);
	pe->fd = tcp_connect(server);
	ws_upgrade(pe, server, path);
	if (ws_send(pe, pe->msg1, pe->msg1_len) != 0)
		die("replayed message 1 not sent");
	rv_buf_init(&in, RV_MSG_MAX + 16);
	op = ws_recv(pe, &in, 5000);
	printf("RESULT replay_answered=%d\n", op == 2 && rv_buf_len(&in) == RV_HS_RESP_MSG_LEN);
	rv_buf_cleanup(&in);
}

/* ---- dgram mode ---------------------------------------------------------- */

static void print_hex(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		printf("%02x", p[i]);
	if (n == 0)
		printf("-");
}

static int hex_parse(const char *h, uint8_t *out, size_t cap, size_t *len)
{
	size_t n = strlen(h), i;
	unsigned v;

	if (strcmp(h, "-") == 0) {
		*len = 0;
		return 0;
	}
	if (n % 2 != 0 || n / 2 > cap)
		return -1;
	for (i = 0; i < n / 2; i++) {
		if (sscanf(h + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	*len = n / 2;
	return 0;
}

/* Frames of one received message; returns events printed, -1 on a bad one. */
static int dgram_frames(struct peer *pe, const struct rv_buf *pt)
{
	struct rv_buf in;
	struct rv_frame f, pong;
	char where[RV_ADDR_STRLEN];
	int events = 0;

	rv_buf_init_view(&in, rv_buf_ptr(pt), rv_buf_len(pt));
	while (rv_buf_len(&in) > 0) {
		if (rv_frame_decode(&in, &f) != RV_OK)
			return -1;
		switch (f.type) {
		case RV_FRAME_DATAGRAM:
			printf("DGRAM assoc=%u src=%s len=%zu data=", f.u.datagram.assoc,
			       rv_addr_str(&f.u.datagram.addr, where, sizeof(where)),
			       f.u.datagram.len);
			print_hex(f.u.datagram.data, f.u.datagram.len < 64 ? f.u.datagram.len : 64);
			printf("\n");
			events++;
			break;
		case RV_FRAME_DATAGRAM_CLOSE:
			printf("DCLOSE assoc=%u reason=%d\n", f.u.datagram_close.assoc,
			       (int)f.u.datagram_close.reason);
			events++;
			break;
		case RV_FRAME_LISTEN_RESPONSE:
			printf("LRESP req=%u status=%d port=%u\n", f.u.listen_response.req,
			       (int)f.u.listen_response.status, (unsigned)f.u.listen_response.port);
			events++;
			break;
		case RV_FRAME_LISTEN_CLOSE:
			printf("LCLOSE req=%u reason=%d\n", f.u.listen_close.req,
			       (int)f.u.listen_close.reason);
			events++;
			break;
		case RV_FRAME_REMOTE_CONNECT:
			printf("RCONNECT id=%u req=%u\n", f.stream_id, f.u.remote_connect.req);
			events++;
			break;
		case RV_FRAME_GOAWAY:
			printf("GOAWAY reason=%d\n", (int)f.u.goaway.reason);
			events++;
			break;
		case RV_FRAME_PING:
			memset(&pong, 0, sizeof(pong));
			pong.type = RV_FRAME_PONG;
			pong.u.ping.opaque = f.u.ping.opaque;
			(void)seal_send(pe, &pong, 1);
			break;
		default:
			break;
		}
	}
	fflush(stdout);
	return events;
}

/* Reads for up to ms (PINGs every PEER_PING_EVERY_MS keep the session),
 * until want events (0: the whole time).  -1 once the server closed. */
static int dgram_recv(struct peer *pe, int ms, int want, uint64_t *next_ping)
{
	uint64_t end = now_ms() + (uint64_t)ms;
	struct rv_buf in, pt;
	int op, got = 0, n;

	rv_buf_init(&in, RV_MSG_MAX + 16);
	rv_buf_init(&pt, RV_MSG_MAX);
	while (now_ms() < end && (want == 0 || got < want)) {
		if (now_ms() >= *next_ping) {
			if (send_ping(pe) < 0)
				goto closed;
			*next_ping = now_ms() + PEER_PING_EVERY_MS;
		}
		op = ws_recv(pe, &in, 100);
		if (op == 8)
			goto closed;
		if (op < 0) {
			struct pollfd pfd = { .fd = pe->fd, .events = POLLIN };
			char c;

			if (poll(&pfd, 1, 0) > 0 && recv(pe->fd, &c, 1, MSG_PEEK) <= 0)
				goto closed;
			continue;
		}
		if (op != 2)
			continue;
		rv_buf_reset(&pt);
		if (rv_ratchet_decrypt(pe->r, rv_buf_ptr(&in), rv_buf_len(&in), &pt) != RV_OK)
			die("a server message did not decrypt");
		n = dgram_frames(pe, &pt);
		if (n < 0)
			die("a server message held a bad frame");
		got += n;
	}
	rv_buf_cleanup(&in);
	rv_buf_cleanup(&pt);
	return got;
closed:
	printf("CLOSED\n");
	fflush(stdout);
	rv_buf_cleanup(&in);
	rv_buf_cleanup(&pt);
	return -1;
}

/* A remote-forward command line as a frame in f: 1 if it was one. */
static int rfwd_command(struct peer *pe, const char *a1, const char *a2, const char *a3,
			const char *a4, const char *a5, int n, struct rv_frame *f)
{
	(void)pe;
	memset(f, 0, sizeof(*f));
	if (strcmp(a1, "listen") == 0 && n == 5) {
		f->type = RV_FRAME_LISTEN;
		f->u.listen.req = (uint32_t)strtoul(a2, NULL, 10);
		f->u.listen.kind = (enum rv_listen_kind)atoi(a3);
		/* Port 0 asks the server to choose (parse_target wants 1..65535). */
		if (parse_target(a4, strcmp(a5, "0") == 0 ? "1" : a5, &f->u.listen.bind) < 0)
			die("bad listen line");
		if (strcmp(a5, "0") == 0)
			f->u.listen.bind.port = 0;
		return 1;
	}
	if (strcmp(a1, "lclose") == 0 && n >= 3) {
		f->type = RV_FRAME_LISTEN_CLOSE;
		f->u.listen_close.req = (uint32_t)strtoul(a2, NULL, 10);
		f->u.listen_close.reason = (enum rv_listen_close_reason)atoi(a3);
		return 1;
	}
	if (strcmp(a1, "lresp") == 0 && n >= 4) {
		f->type = RV_FRAME_LISTEN_RESPONSE;
		f->u.listen_response.req = (uint32_t)strtoul(a2, NULL, 10);
		f->u.listen_response.status = (enum rv_listen_status)atoi(a3);
		f->u.listen_response.port = (uint16_t)atoi(a4);
		return 1;
	}
	if (strcmp(a1, "rconnect") == 0 && n == 5) {
		f->type = RV_FRAME_REMOTE_CONNECT;
		f->stream_id = (uint32_t)strtoul(a2, NULL, 10);
		f->u.remote_connect.req = (uint32_t)strtoul(a3, NULL, 10);
		f->u.remote_connect.window = RV_STREAM_WINDOW_DEFAULT;
		if (parse_target(a4, a5, &f->u.remote_connect.addr) < 0)
			die("bad rconnect line");
		return 1;
	}
	return 0;
}

static void dgram(struct peer *pe)
{
	static uint8_t payload[RV_DATAGRAM_MAX];
	static char line[40000], a5[40000];
	char a1[300], a2[300], a3[300], a4[300];
	uint64_t next_ping = 0;
	struct rv_frame f;
	size_t len;
	long assoc, v;
	int n;

	/* Round trips are measured here: no Nagle wait on small messages. */
	(void)setsockopt(pe->fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	if (peer_rfwd)
		printf("RESULT remote_fwd=%d\n", (pe->params.features & RV_CAP_REMOTE_FWD) != 0);
	else
		printf("RESULT datagram=%d\n", (pe->params.features & RV_CAP_DATAGRAM) != 0);
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin) != NULL) {
		n = sscanf(line, "%299s %299s %299s %299s %4095s", a1, a2, a3, a4, a5);
		if (n <= 0)
			continue;
		memset(&f, 0, sizeof(f));
		if ((strcmp(a1, "send") == 0 || strcmp(a1, "fill") == 0) && n == 5) {
			const char *data = a5;

			assoc = strtol(a2, NULL, 10);
			if (assoc < 0 || parse_target(a3, a4, &f.u.datagram.addr) < 0)
				die("bad send line");
			if (strcmp(a1, "fill") == 0) {
				v = strtol(data, NULL, 10);
				if (v < 0 || v > RV_DATAGRAM_MAX)
					die("bad fill length");
				len = (size_t)v;
				memset(payload, 'u', len);
			} else if (hex_parse(data, payload, sizeof(payload), &len) < 0) {
				die("bad hex");
			}
			f.type = RV_FRAME_DATAGRAM;
			f.u.datagram.assoc = (uint32_t)assoc;
			f.u.datagram.data = payload;
			f.u.datagram.len = len;
			if (seal_send(pe, &f, 1) != 0) {
				printf("CLOSED\n");
				break;
			}
		} else if (strcmp(a1, "close") == 0 && n >= 3) {
			f.type = RV_FRAME_DATAGRAM_CLOSE;
			f.u.datagram_close.assoc = (uint32_t)strtoul(a2, NULL, 10);
			f.u.datagram_close.reason = (enum rv_dgram_close_reason)atoi(a3);
			if (seal_send(pe, &f, 1) != 0) {
				printf("CLOSED\n");
				break;
			}
		} else if (rfwd_command(pe, a1, a2, a3, a4, a5, n, &f) != 0) {
			if (seal_send(pe, &f, 1) != 0) {
				printf("CLOSED\n");
				break;
			}
		} else if (strcmp(a1, "expect") == 0 && n >= 3) {
			if (dgram_recv(pe, atoi(a3), atoi(a2), &next_ping) < 0)
				break;
		} else if (strcmp(a1, "wait") == 0 && n >= 2) {
			if (dgram_recv(pe, atoi(a2), 0, &next_ping) < 0)
				break;
		} else if (strcmp(a1, "pause") == 0 && n >= 2) {
			uint64_t end = now_ms() + (uint64_t)atoi(a2);
			struct timespec ts = { .tv_sec = 0, .tv_nsec = 50 * 1000 * 1000 };

			while (now_ms() < end)
				nanosleep(&ts, NULL); /* deliberately not reading */
		} else if (strcmp(a1, "mark") == 0 && n >= 2) {
			printf("MARK %s\n", a2);
		} else {
			die("unknown dgram command");
		}
		fflush(stdout);
	}
	printf("RESULT done=1\n");
}

static void usage(void)
{
	fprintf(stderr, "usage: hostile_peer -s HOST:PORT -p PATH -k CLIENT_KEY -P SERVER_PUB "
			"MODE ARGS (see tool_peer.c)\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *server = NULL, *path = NULL, *key = NULL, *spub = NULL, *mode;
	struct peer pe = { .fd = -1 };
	struct rv_addr dst;
	int opt;

	while ((opt = getopt(argc, argv, "s:p:k:P:")) != -1) {
		switch (opt) {
		case 's': server = optarg; break;
		case 'p': path = optarg; break;
		case 'k': key = optarg; break;
		case 'P': spub = optarg; break;
		default: usage();
		}
	}
	if (!server || !path || !key || !spub || optind >= argc)
		usage();
	if (sodium_init() < 0)
		die("sodium_init");
	mode = argv[optind++];
	peer_rfwd = strcmp(mode, "rfwd") == 0;
	peer_small_rcvbuf = strcmp(mode, "dgram") == 0 || peer_rfwd;
	pe.fd = tcp_connect(server);
	ws_upgrade(&pe, server, path);
	handshake(&pe, key, spub, strcmp(mode, "dgram") == 0 ? RV_CAP_DATAGRAM :
				  peer_rfwd ? RV_CAP_REMOTE_FWD : 0);

	if (strcmp(mode, "hold") == 0 && argc - optind == 1) {
		hold(&pe, atoi(argv[optind]), 1);
	} else if ((strcmp(mode, "flood-connect") == 0 || strcmp(mode, "never-read") == 0 ||
		    strcmp(mode, "stall-upload") == 0) && argc - optind == 4) {
		long n = strtol(argv[optind], NULL, 10);

		if (n <= 0 || n > PEER_STREAMS_MAX ||
		    parse_target(argv[optind + 1], argv[optind + 2], &dst) < 0)
			usage();
		open_streams(&pe, n, &dst,
			     strcmp(mode, "flood-connect") == 0  ? PEER_OPEN_FLOOD
			     : strcmp(mode, "stall-upload") == 0 ? PEER_OPEN_PUSH
								 : PEER_OPEN_ONLY);
		hold(&pe, atoi(argv[optind + 3]), 0);
	} else if (strcmp(mode, "forge") == 0 && argc - optind == 0) {
		forge(&pe);
	} else if (strcmp(mode, "replay") == 0 && argc - optind == 0) {
		replay(&pe, server, path);
	} else if ((strcmp(mode, "dgram") == 0 || peer_rfwd) && argc - optind == 0) {
		dgram(&pe);
	} else {
		usage();
	}
	fflush(stdout);
	rv_ratchet_free(pe.r);
	close(pe.fd);
	return 0;
}
