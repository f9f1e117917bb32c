/* status_test.c - server/status.c's formatter over hand-made snapshots:
 * sums over workers, the worker count in each format, the session list
 * bound across snapshots, and snapshots with hostile fields (rows count
 * past the array, strings without a NUL).  Built with the server's sources
 * (tests/unit/CMakeLists.txt), not auto-registered: server/ is no library. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rv_err.h"
#include "rfwd.h"
#include "status.h"

/* status.c's collect calls this (rfwd.c); the formatter never does. */
unsigned rv_rfwd_listener_count(const struct rv_rfwd *r)
{
	(void)r;
	return 0;
}

static struct rv_server_opts opts = {
	.listen = "127.0.0.1:8443",
	.max_sessions = 4000,
};

/* The answer as a NUL-terminated heap string. */
static char *format(const struct rv_server_status_head *h, const struct rv_server_snap *snaps,
		    size_t n, enum rv_ctl_request req)
{
	struct rv_buf *b = rv_buf_new(RV_BUF_DEFAULT_MAX);
	size_t len;
	char *s;

	assert_non_null(b);
	assert_int_equal(rv_server_status_format(&opts, h, snaps, n, req, b), RV_OK);
	len = b->size - b->off;
	s = malloc(len + 1);
	assert_non_null(s);
	memcpy(s, b->data + b->off, len);
	s[len] = '\0';
	rv_buf_free(b);
	return s;
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (hay = strstr(hay, needle); hay != NULL; hay = strstr(hay + 1, needle))
		n++;
	return n;
}

static void fill_rows(struct rv_server_snap *s, uint32_t rows, const char *prefix)
{
	uint32_t i;

	s->sessions = rows;
	s->n_sessions = rows;
	s->n_rows = rows < RV_SERVER_STATUS_LIST_MAX ? rows : RV_SERVER_STATUS_LIST_MAX;
	for (i = 0; i < s->n_rows; i++) {
		snprintf(s->rows[i].key, sizeof(s->rows[i].key), "%s%u", prefix, i);
		snprintf(s->rows[i].peer, sizeof(s->rows[i].peer), "192.0.2.1:%u", 1000 + i);
		s->rows[i].data_in = 1;
	}
}

static struct rv_server_snap *snaps_new(size_t n)
{
	struct rv_server_snap *s = calloc(n, sizeof(*s));

	assert_non_null(s);
	return s;
}

/* Two workers: every number summed, rows of both, workers shown. */
static void test_merge_two(void **state)
{
	struct rv_server_status_head h = { .state = RV_SERVER_RUNNING, .uptime_ms = 65000,
					    .workers = 2 };
	struct rv_server_snap *s = snaps_new(2);
	char *t;

	(void)state;
	fill_rows(&s[0], 2, "a");
	fill_rows(&s[1], 3, "b");
	s[0].sessions_total = 10;
	s[1].sessions_total = 32;
	s[0].data_in = 100;
	s[1].data_in = 23;
	s[0].udp.assocs_active = 4;
	s[1].udp.assocs_active = 5;
	s[1].has_pool = 1;
	s[1].pool.requests = 7;
	s[1].pool.hits = 7;
	s[0].dns.queries = 1;
	s[1].dns.queries = 2;

	t = format(&h, s, 2, RV_CTL_REQ_STATUS);
	assert_non_null(strstr(t, ", up 1m05s\nlistening on 127.0.0.1:8443, plain ws://\n"
			       "workers: 2\nsessions: 5 open (max 4000), 42 since start,"));
	assert_non_null(strstr(t, "stream data: 123 bytes in"));
	assert_non_null(strstr(t, "udp: on, 9 associations open"));
	assert_non_null(strstr(t, "pool: 7 requests, 7 hits (100.0%)"));
	assert_non_null(strstr(t, "dns: 3 queries"));
	assert_int_equal(count(t, "192.0.2.1:10"), 5);
	assert_true(strstr(t, "a1 ") < strstr(t, "b0 "));
	assert_null(strstr(t, "more not listed"));
	free(t);

	t = format(&h, s, 2, RV_CTL_REQ_STATUS_JSON);
	assert_non_null(strstr(t, "\"tls\":false,\"workers\":2,\"worker_list\":[],\"sessions\":5,"));
	assert_non_null(strstr(t, "\"pool\":{\"requests\":7,"));
	assert_int_equal(count(t, "{\"key\":"), 5);
	free(t);

	t = format(&h, s, 2, RV_CTL_REQ_METRICS);
	assert_non_null(strstr(t, "\nrvpn_workers 2\n"));
	assert_non_null(strstr(t, "\nrvpn_sessions 5\n"));
	assert_non_null(strstr(t, "\nrvpn_dns_queries_total 3\n"));
	free(t);
	free(s);
}

/* A single process shows no worker count; no pool anywhere: off / null. */
static void test_single_no_workers(void **state)
{
	struct rv_server_status_head h = { .state = RV_SERVER_DRAINING, .uptime_ms = 0,
					    .workers = 0 };
	struct rv_server_snap *s = snaps_new(1);
	char *t;

	(void)state;
	t = format(&h, s, 1, RV_CTL_REQ_STATUS);
	assert_null(strstr(t, "workers"));
	assert_non_null(strstr(t, "\npool: off\n"));
	assert_non_null(strstr(t, ", draining, "));
	assert_null(strstr(t, "KEY"));
	free(t);
	t = format(&h, s, 1, RV_CTL_REQ_STATUS_JSON);
	assert_null(strstr(t, "workers"));
	assert_non_null(strstr(t, "\"tls\":false,\"sessions\":0,"));
	assert_non_null(strstr(t, ",\"pool\":null,"));
	assert_non_null(strstr(t, "\"session_list\":[]}\n"));
	free(t);
	t = format(&h, s, 1, RV_CTL_REQ_METRICS);
	assert_null(strstr(t, "workers"));
	free(t);
	free(s);
}

/* 700 + 700 sessions: 1000 listed in all, 400 counted. */
static void test_list_bound_across_workers(void **state)
{
	struct rv_server_status_head h = { .state = RV_SERVER_RUNNING, .uptime_ms = 0,
					    .workers = 2 };
	struct rv_server_snap *s = snaps_new(2);
	char *t;

	(void)state;
	fill_rows(&s[0], 700, "a");
	fill_rows(&s[1], 700, "b");
	t = format(&h, s, 2, RV_CTL_REQ_STATUS);
	assert_int_equal(count(t, " 192.0.2.1:"), RV_SERVER_STATUS_LIST_MAX);
	assert_non_null(strstr(t, "\n(400 more not listed)\n"));
	assert_non_null(strstr(t, "\nb299 "));
	assert_null(strstr(t, "\nb300 "));
	free(t);
	t = format(&h, s, 2, RV_CTL_REQ_STATUS_JSON);
	assert_int_equal(count(t, "{\"key\":"), RV_SERVER_STATUS_LIST_MAX);
	free(t);
	free(s);
}

/* Hostile snapshot: huge n_rows, strings filled to the end, fewer sessions
 * than rows.  Bounded output, no over-read (ASan), no "more" underflow. */
static void test_untrusted_fields(void **state)
{
	struct rv_server_status_head h = { .state = (enum rv_server_state)77,
					    .uptime_ms = UINT64_MAX, .workers = 3,
					    .n_worker_rows = UINT32_MAX };
	struct rv_server_snap *s = snaps_new(3);
	char want[32 + RV_AUTHKEY_NAME_MAX * 6];
	char *t;
	size_t i;

	(void)state;
	memset(s, 0xff, 3 * sizeof(*s));
	for (i = 0; i < 3 * RV_SERVER_STATUS_LIST_MAX; i++)
		s[i / RV_SERVER_STATUS_LIST_MAX].rows[i % RV_SERVER_STATUS_LIST_MAX].key[0] = 'A';
	for (i = 0; i < 3; i++)
		s[i].sessions = 1;
	t = format(&h, s, 3, RV_CTL_REQ_STATUS);
	assert_non_null(strstr(t, ", invalid, "));
	assert_int_equal(count(t, " (closing)\n"), RV_SERVER_STATUS_LIST_MAX);
	assert_null(strstr(t, "more not listed"));
	free(t);
	t = format(&h, s, 3, RV_CTL_REQ_STATUS_JSON);
	assert_int_equal(count(t, "{\"key\":"), RV_SERVER_STATUS_LIST_MAX);
	/* The key ends at its array's last byte: 'A', then 63 bytes that are
	 * not UTF-8, then the peer. */
	strcpy(want, "{\"key\":\"A");
	for (i = 1; i < RV_AUTHKEY_NAME_MAX; i++)
		strcat(want, "\\ufffd");
	strcat(want, "\",\"peer\":\"\\ufffd");
	assert_int_equal(count(t, want), RV_SERVER_STATUS_LIST_MAX);
	free(t);
	t = format(&h, s, 3, RV_CTL_REQ_METRICS);
	assert_non_null(strstr(t, "\nrvpn_workers 3\n"));
	free(t);
	free(s);
}

/* Zero snapshots (no live worker): zeros, no rows; a bad request fails. */
static void test_none_and_bad_request(void **state)
{
	struct rv_server_status_head h = { .state = RV_SERVER_RUNNING, .uptime_ms = 0,
					    .workers = 1 };
	struct rv_buf *b = rv_buf_new(1024);
	char *t;

	(void)state;
	t = format(&h, NULL, 0, RV_CTL_REQ_STATUS_JSON);
	assert_non_null(strstr(t, "\"workers\":1,\"worker_list\":[],\"sessions\":0,"));
	free(t);
	assert_non_null(b);
	assert_int_equal(rv_server_status_format(&opts, &h, NULL, 0, (enum rv_ctl_request)99, b),
			 RV_ERR_INVALID_ARG);
	rv_buf_free(b);
}

/* The supervisor's rows: one line per worker, a JSON list, two metrics. */
static void test_worker_rows(void **state)
{
	struct rv_server_status_head h = { .state = RV_SERVER_RUNNING, .uptime_ms = 1000,
					    .workers = 2, .n_worker_rows = 2 };
	struct rv_server_snap *s = snaps_new(1);
	char *t;

	(void)state;
	h.worker_rows[0] = (struct rv_server_status_worker){ .index = 0, .pid = 4242,
		.running = 1, .up_ms = 61000, .sessions = 3, .restarts = 0 };
	h.worker_rows[1] = (struct rv_server_status_worker){ .index = 1, .pid = 0,
		.running = 0, .restarts = 2 };
	t = format(&h, s, 1, RV_CTL_REQ_STATUS);
	assert_non_null(strstr(t, "  worker 0: pid 4242, up 1m01s, 3 sessions, 0 restarts\n"));
	assert_non_null(strstr(t, "  worker 1: restarting, 2 restarts\n"));
	free(t);
	t = format(&h, s, 1, RV_CTL_REQ_STATUS_JSON);
	assert_non_null(strstr(t, "\"worker_list\":[{\"index\":0,\"pid\":4242,\"running\":true,"
				  "\"uptime_s\":61,\"sessions\":3,\"restarts\":0},{\"index\":1,"
				  "\"pid\":0,\"running\":false,\"uptime_s\":0,\"sessions\":0,"
				  "\"restarts\":2}]"));
	free(t);
	t = format(&h, s, 1, RV_CTL_REQ_METRICS);
	assert_non_null(strstr(t, "rvpn_worker_sessions{worker=\"0\"} 3\n"));
	assert_non_null(strstr(t, "rvpn_worker_restarts_total{worker=\"1\"} 2\n"));
	free(t);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_merge_two),
		cmocka_unit_test(test_single_no_workers),
		cmocka_unit_test(test_list_bound_across_workers),
		cmocka_unit_test(test_untrusted_fields),
		cmocka_unit_test(test_none_and_bad_request),
		cmocka_unit_test(test_worker_rows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
