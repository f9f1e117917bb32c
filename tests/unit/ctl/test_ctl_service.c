/* test_ctl_service.c - the status service over the poll loop: answers and
 * closes, socket mode 0600, stale socket replaced, live one refused,
 * bounded clients (20 at once all answered), silent clients timed out,
 * over-long requests refused, HTTP 200/404/400. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "rv_ctl.h"
#include "rv_err.h"
#include "rv_loop_poll.h"

enum { N_PEERS = 20, ANSWER_MAX = 4096 };

struct peer {
	int fd;
	int eof;
	size_t len;
	char buf[ANSWER_MAX];
};

struct fixture {
	struct rv_loop *loop;
	char dir[64];
	char path[96];
	int calls;
	int fail;
	struct peer peers[N_PEERS];
	size_t n_peers;
};

static int answer(void *arg, enum rv_ctl_request req, struct rv_buf *out)
{
	struct fixture *f = arg;
	char line[64];
	int n;

	f->calls++;
	if (f->fail)
		return RV_ERR_NO_SPACE;
	n = snprintf(line, sizeof(line), "answer %d\n", (int)req);
	return rv_buf_put(out, line, (size_t)n);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/rvpn-ctl-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/control", f->dir);
	assert_int_equal(rv_loop_poll_new(&f->loop), RV_OK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	size_t i;

	for (i = 0; i < f->n_peers; i++)
		if (f->peers[i].fd >= 0)
			close(f->peers[i].fd);
	rv_loop_poll_free(f->loop);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static struct peer *peer_unix(struct fixture *f, const char *send_text)
{
	struct peer *p = &f->peers[f->n_peers++];
	struct sockaddr_un sa;

	memset(p, 0, sizeof(*p));
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
	p->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(p->fd >= 0);
	assert_int_equal(connect(p->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	if (send_text != NULL)
		assert_int_equal(send(p->fd, send_text, strlen(send_text), MSG_NOSIGNAL),
				 (ssize_t)strlen(send_text));
	assert_int_equal(fcntl(p->fd, F_SETFL, O_NONBLOCK), 0);
	return p;
}

static struct peer *peer_tcp(struct fixture *f, uint16_t port, const char *send_text)
{
	struct peer *p = &f->peers[f->n_peers++];
	struct sockaddr_in sa;

	memset(p, 0, sizeof(*p));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	p->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(p->fd >= 0);
	assert_int_equal(connect(p->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(send(p->fd, send_text, strlen(send_text), MSG_NOSIGNAL),
			 (ssize_t)strlen(send_text));
	assert_int_equal(fcntl(p->fd, F_SETFL, O_NONBLOCK), 0);
	return p;
}

/* Reads what every peer got; true when all saw EOF. */
static int all_done(void *arg)
{
	struct fixture *f = arg;
	size_t i, done = 0;

	for (i = 0; i < f->n_peers; i++) {
		struct peer *p = &f->peers[i];
		ssize_t n;

		while (!p->eof && p->len < sizeof(p->buf) - 1) {
			n = recv(p->fd, p->buf + p->len, sizeof(p->buf) - 1 - p->len, 0);
			if (n > 0)
				p->len += (size_t)n;
			else if (n == 0 || (errno != EAGAIN && errno != EINTR))
				p->eof = 1;
			else
				break;
		}
		p->buf[p->len] = '\0';
		done += (size_t)p->eof;
	}
	return done == f->n_peers;
}

static void run_all(struct fixture *f, uint32_t max_ms)
{
	assert_int_equal(rv_loop_poll_run_until(f->loop, all_done, f, max_ms), RV_OK);
}

static void test_answer_and_mode(void **state)
{
	struct fixture *f = *state;
	struct rv_ctl *c = NULL;
	char err[256];
	struct stat st;
	struct peer *a, *b, *m, *bad;

	assert_int_equal(rv_ctl_open_unix(f->loop, f->path, answer, f, &c, err, sizeof(err)),
			 RV_OK);
	assert_int_equal(lstat(f->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	a = peer_unix(f, "status\n");
	b = peer_unix(f, "status json\r\n");
	m = peer_unix(f, "metrics\n");
	bad = peer_unix(f, "shutdown\n");
	run_all(f, 3000);
	assert_string_equal(a->buf, "answer 1\n");
	assert_string_equal(b->buf, "answer 2\n");
	assert_string_equal(m->buf, "answer 3\n");
	assert_non_null(strstr(bad->buf, "error: unknown request"));
	assert_int_equal(f->calls, 3);
	rv_ctl_free(c);
	/* Its file goes with it. */
	assert_int_equal(lstat(f->path, &st), -1);
}

static void test_callback_failure(void **state)
{
	struct fixture *f = *state;
	struct rv_ctl *c = NULL;
	char err[256];
	struct peer *a;

	assert_int_equal(rv_ctl_open_unix(f->loop, f->path, answer, f, &c, err, sizeof(err)),
			 RV_OK);
	f->fail = 1;
	a = peer_unix(f, "status\n");
	run_all(f, 3000);
	assert_non_null(strstr(a->buf, "error: the answer could not be built"));
	rv_ctl_free(c);
}

static void test_stale_live_and_not_socket(void **state)
{
	struct fixture *f = *state;
	struct rv_ctl *c = NULL, *c2 = NULL;
	struct sockaddr_un sa;
	char err[256];
	int fd;

	/* A socket file nobody listens on (a crashed instance's). */
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	assert_int_equal(rv_ctl_open_unix(f->loop, f->path, answer, f, &c, err, sizeof(err)),
			 RV_OK);
	/* A live one is not taken over, and stays. */
	assert_int_equal(rv_ctl_open_unix(f->loop, f->path, answer, f, &c2, err, sizeof(err)),
			 RV_ERR_LIMIT);
	assert_null(c2);
	assert_non_null(strstr(err, "another instance"));
	peer_unix(f, "status\n");
	run_all(f, 3000);
	assert_string_equal(f->peers[0].buf, "answer 1\n");
	rv_ctl_free(c);
	/* A regular file is never removed. */
	fd = open(f->path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_not_equal(rv_ctl_open_unix(f->loop, f->path, answer, f, &c, err, sizeof(err)),
			     RV_OK);
	assert_non_null(strstr(err, "not a socket"));
	assert_int_equal(access(f->path, F_OK), 0);
}

/* More clients than slots: every one is answered (the rest wait in the
 * backlog), and the service never holds more than its slots. */
static void test_many_clients(void **state)
{
	struct fixture *f = *state;
	struct rv_ctl *c = NULL;
	char err[256];
	size_t i;

	assert_int_equal(rv_ctl_open_unix(f->loop, f->path, answer, f, &c, err, sizeof(err)),
			 RV_OK);
	for (i = 0; i < N_PEERS; i++)
		peer_unix(f, "status\n");
	run_all(f, 5000);
	for (i = 0; i < N_PEERS; i++)
		assert_string_equal(f->peers[i].buf, "answer 1\n");
	assert_int_equal(f->calls, N_PEERS);
	rv_ctl_free(c);
}

/* A silent client is closed after the read timeout; a partial or over-long
 * request never reaches the callback. */
static void test_silent_and_long(void **state)
{
	struct fixture *f = *state;
	struct rv_ctl *c = NULL;
	char err[256], big[RV_CTL_REQ_MAX + 16];
	uint64_t t0;
	struct peer *s, *p, *l;

	assert_int_equal(rv_ctl_open_unix(f->loop, f->path, answer, f, &c, err, sizeof(err)),
			 RV_OK);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	t0 = rv_loop_now_ms(f->loop);
	s = peer_unix(f, NULL);
	p = peer_unix(f, "stat");
	l = peer_unix(f, big);
	run_all(f, RV_CTL_READ_TIMEOUT_MS + 2000);
	assert_true(rv_loop_now_ms(f->loop) - t0 >= RV_CTL_READ_TIMEOUT_MS - 50);
	assert_int_equal(s->len, 0);
	assert_int_equal(p->len, 0);
	assert_non_null(strstr(l->buf, "error: unknown request"));
	assert_int_equal(f->calls, 0);
	rv_ctl_free(c);
}

static void test_http(void **state)
{
	struct fixture *f = *state;
	struct rv_ctl *c = NULL;
	struct sockaddr_in sa;
	char err[256];
	uint16_t port = 0;
	int tries;
	struct peer *ok, *nf, *bad;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* The service does not expose its port: try a few (bounded). */
	for (tries = 0; tries < 50 && c == NULL; tries++) {
		port = (uint16_t)(20000 + (getpid() * 7 + tries * 131) % 30000);
		sa.sin_port = htons(port);
		(void)rv_ctl_open_http(f->loop, (struct sockaddr *)&sa, sizeof(sa), answer, f, &c,
				       err, sizeof(err));
	}
	assert_non_null(c);
	ok = peer_tcp(f, port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
	nf = peer_tcp(f, port, "GET /other HTTP/1.1\r\n\r\n");
	bad = peer_tcp(f, port, "HELLO\r\n\r\n");
	run_all(f, 3000);
	assert_non_null(strstr(ok->buf, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(ok->buf, "Content-Length: 9\r\n"));
	assert_non_null(strstr(ok->buf, "Connection: close\r\n\r\nanswer 3\n"));
	assert_non_null(strstr(nf->buf, "HTTP/1.1 404 Not Found\r\n"));
	assert_non_null(strstr(bad->buf, "HTTP/1.1 400 Bad Request\r\n"));
	assert_int_equal(f->calls, 1);
	rv_ctl_free(c);
}

/* SO_PEERCRED: even with the file opened up, another uid gets nothing.
 * Needs root (to become another user in a child); skipped otherwise. */
static void test_other_uid(void **state)
{
	struct fixture *f = *state;
	struct rv_ctl *c = NULL;
	char err[256];
	struct peer *own;
	pid_t pid;
	int st, pfd[2];

	if (geteuid() != 0) {
		skip();
		return;
	}
	assert_int_equal(rv_ctl_open_unix(f->loop, f->path, answer, f, &c, err, sizeof(err)),
			 RV_OK);
	assert_int_equal(chmod(f->dir, 0711), 0);
	assert_int_equal(chmod(f->path, 0666), 0);
	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sockaddr_un sa;
		char buf[64];
		ssize_t n;
		int fd;

		close(pfd[0]);
		if (setgid(65534) != 0 || setuid(65534) != 0)
			_exit(3);
		memset(&sa, 0, sizeof(sa));
		sa.sun_family = AF_UNIX;
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
			_exit(4);
		(void)send(fd, "status\n", 7, MSG_NOSIGNAL);
		(void)write(pfd[1], "c", 1); /* connected: the parent may serve */
		n = recv(fd, buf, sizeof(buf), 0);
		_exit(n <= 0 ? 0 : 5); /* closed without an answer */
	}
	close(pfd[1]);
	{
		char ch;

		assert_int_equal(read(pfd[0], &ch, 1), 1);
	}
	close(pfd[0]);
	/* Our own request after it: served, so the other one was seen first. */
	own = peer_unix(f, "status\n");
	run_all(f, 3000);
	assert_string_equal(own->buf, "answer 1\n");
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_int_equal(f->calls, 1);
	rv_ctl_free(c);
}

static void test_metrics_addr(void **state)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char err[256];

	(void)state;
	assert_int_equal(rv_ctl_parse_metrics_addr("127.0.0.1:9100", 0, &ss, &len, err,
						   sizeof(err)), RV_OK);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(rv_ctl_parse_metrics_addr("[::1]:9100", 0, &ss, &len, err, sizeof(err)),
			 RV_OK);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(rv_ctl_parse_metrics_addr("127.1.2.3:1", 0, &ss, &len, err,
						   sizeof(err)), RV_OK);
	assert_int_equal(rv_ctl_parse_metrics_addr("0.0.0.0:9100", 0, &ss, &len, err,
						   sizeof(err)), RV_ERR_DENIED);
	assert_int_equal(rv_ctl_parse_metrics_addr("[::]:9100", 0, &ss, &len, err, sizeof(err)),
			 RV_ERR_DENIED);
	assert_int_equal(rv_ctl_parse_metrics_addr("0.0.0.0:9100", 1, &ss, &len, err,
						   sizeof(err)), RV_OK);
	assert_int_equal(rv_ctl_parse_metrics_addr("localhost:9100", 0, &ss, &len, err,
						   sizeof(err)), RV_ERR_CONFIG);
	assert_int_equal(rv_ctl_parse_metrics_addr("127.0.0.1", 0, &ss, &len, err, sizeof(err)),
			 RV_ERR_CONFIG);
	assert_int_equal(rv_ctl_parse_metrics_addr("127.0.0.1:0", 0, &ss, &len, err,
						   sizeof(err)), RV_ERR_CONFIG);
	assert_int_equal(rv_ctl_parse_metrics_addr("127.0.0.1:65536", 0, &ss, &len, err,
						   sizeof(err)), RV_ERR_CONFIG);
	assert_int_equal(rv_ctl_parse_metrics_addr("::1:80", 0, &ss, &len, err, sizeof(err)),
			 RV_ERR_CONFIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_answer_and_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_callback_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_live_and_not_socket, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_clients, setup, teardown),
		cmocka_unit_test_setup_teardown(test_silent_and_long, setup, teardown),
		cmocka_unit_test_setup_teardown(test_http, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_uid, setup, teardown),
		cmocka_unit_test(test_metrics_addr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
