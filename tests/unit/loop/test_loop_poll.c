/* Tests for rv_loop_poll.c: readiness, level triggering, timers, and
 * deleting watchers/timers from inside callbacks. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rv_err.h"
#include "rv_loop.h"
#include "rv_loop_poll.h"

struct fdctx {
	int calls;
	unsigned last_ev;
	int consume;            /* read the data when readable */
	struct rv_loop_fd *del; /* watcher to delete on first call */
	struct rv_loop_fd *self;
	int del_self;
};

static void fd_cb(struct rv_loop_fd *w, int fd, unsigned ev, void *arg)
{
	struct fdctx *c = arg;
	char buf[64];

	(void)w;
	c->calls++;
	c->last_ev = ev;
	if (c->consume && (ev & RV_LOOP_READ))
		(void)read(fd, buf, sizeof(buf));
	if (c->del != NULL) {
		rv_loop_fd_del(c->del);
		c->del = NULL;
	}
	if (c->del_self) {
		rv_loop_fd_del(c->self);
		c->self = NULL;
		c->del_self = 0;
	}
}

static void make_pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
}

static void test_read_level_triggered(void **state)
{
	struct rv_loop *l;
	struct rv_loop_fd *w;
	struct fdctx c = { 0 };
	int sv[2], i;

	(void)state;
	make_pair(sv);
	assert_int_equal(rv_loop_poll_new(&l), RV_OK);
	assert_int_equal(rv_loop_fd_add(l, sv[0], RV_LOOP_READ, fd_cb, &c, &w), RV_OK);
	/* Nothing to read: no callback. */
	assert_int_equal(rv_loop_poll_run_once(l, 0), 0);
	assert_int_equal(c.calls, 0);
	assert_int_equal(write(sv[1], "x", 1), 1);
	/* Level-triggered: unread data reports on every iteration. */
	for (i = 1; i <= 3; i++) {
		assert_int_equal(rv_loop_poll_run_once(l, 1000), 1);
		assert_int_equal(c.calls, i);
		assert_true(c.last_ev & RV_LOOP_READ);
	}
	/* Interest removed: not reported although readable. */
	assert_int_equal(rv_loop_fd_set_events(w, 0), RV_OK);
	assert_int_equal(rv_loop_poll_run_once(l, 0), 0);
	assert_int_equal(c.calls, 3);
	/* Consumed: silent again. */
	c.consume = 1;
	assert_int_equal(rv_loop_fd_set_events(w, RV_LOOP_READ), RV_OK);
	assert_int_equal(rv_loop_poll_run_once(l, 1000), 1);
	assert_int_equal(rv_loop_poll_run_once(l, 0), 0);
	rv_loop_fd_del(w);
	rv_loop_poll_free(l);
	close(sv[0]);
	close(sv[1]);
}

static void test_write_and_hup(void **state)
{
	struct rv_loop *l;
	struct rv_loop_fd *w;
	struct fdctx c = { 0 };
	int sv[2];

	(void)state;
	make_pair(sv);
	assert_int_equal(rv_loop_poll_new(&l), RV_OK);
	assert_int_equal(rv_loop_fd_add(l, sv[0], RV_LOOP_WRITE, fd_cb, &c, &w), RV_OK);
	assert_int_equal(rv_loop_poll_run_once(l, 1000), 1);
	assert_true(c.last_ev & RV_LOOP_WRITE);
	assert_false(c.last_ev & RV_LOOP_READ);
	/* Peer gone: a reader sees READ (EOF to be read) and ERROR/HUP. */
	close(sv[1]);
	assert_int_equal(rv_loop_fd_set_events(w, RV_LOOP_READ), RV_OK);
	assert_int_equal(rv_loop_poll_run_once(l, 1000), 1);
	assert_true(c.last_ev & RV_LOOP_READ);
	rv_loop_poll_free(l); /* frees the still-registered watcher */
	close(sv[0]);
}

static void test_delete_other_and_self(void **state)
{
	struct rv_loop *l;
	struct rv_loop_fd *wa, *wb;
	struct fdctx a = { 0 }, b = { 0 };
	int sa[2], sb[2], r;

	(void)state;
	make_pair(sa);
	make_pair(sb);
	assert_int_equal(rv_loop_poll_new(&l), RV_OK);
	assert_int_equal(rv_loop_fd_add(l, sa[0], RV_LOOP_READ, fd_cb, &a, &wa), RV_OK);
	assert_int_equal(rv_loop_fd_add(l, sb[0], RV_LOOP_READ, fd_cb, &b, &wb), RV_OK);
	assert_int_equal(write(sa[1], "x", 1), 1);
	assert_int_equal(write(sb[1], "x", 1), 1);
	/* Whichever runs first deletes the other: exactly one callback. */
	a.del = wb;
	b.del = wa;
	r = rv_loop_poll_run_once(l, 1000);
	assert_int_equal(r, 1);
	assert_int_equal(a.calls + b.calls, 1);
	/* The survivor deletes itself on its next call. */
	if (a.calls == 1) {
		a.self = wa;
		a.del_self = 1;
	} else {
		b.self = wb;
		b.del_self = 1;
	}
	assert_int_equal(rv_loop_poll_run_once(l, 1000), 1);
	assert_int_equal(a.calls + b.calls, 2);
	assert_int_equal(rv_loop_poll_run_once(l, 0), 0);
	rv_loop_poll_free(l);
	close(sa[0]);
	close(sa[1]);
	close(sb[0]);
	close(sb[1]);
}

struct tctx {
	int calls;
	int rearm;                   /* re-arm with this many ms (-1 none) */
	struct rv_loop_timer *kill;  /* timer to free on call */
	int free_self;
	struct rv_loop_timer *self;
	uint64_t fired_at;
	struct rv_loop *loop;
};

static void timer_cb(struct rv_loop_timer *t, void *arg)
{
	struct tctx *c = arg;

	c->calls++;
	c->fired_at = rv_loop_now_ms(c->loop);
	if (c->rearm >= 0)
		rv_loop_timer_set(t, (uint64_t)c->rearm);
	if (c->kill != NULL) {
		rv_loop_timer_free(c->kill);
		c->kill = NULL;
	}
	if (c->free_self) {
		c->free_self = 0;
		c->self = NULL;
		rv_loop_timer_free(t);
	}
}

static int pred_calls(void *arg)
{
	return ((struct tctx *)arg)->calls >= 3;
}

static void test_timers(void **state)
{
	struct rv_loop *l;
	struct rv_loop_timer *t1, *t2;
	struct tctx c1 = { .rearm = -1 }, c2 = { .rearm = -1 };
	uint64_t start;

	(void)state;
	assert_int_equal(rv_loop_poll_new(&l), RV_OK);
	c1.loop = c2.loop = l;
	assert_int_equal(rv_loop_timer_new(l, timer_cb, &c1, &t1), RV_OK);
	assert_int_equal(rv_loop_timer_new(l, timer_cb, &c2, &t2), RV_OK);
	/* Unarmed timers never fire. */
	assert_int_equal(rv_loop_poll_run_once(l, 0), 0);
	start = rv_loop_now_ms(l);
	rv_loop_timer_set(t1, 30);
	/* Waits for the timer although the caller asked for "forever". */
	assert_int_equal(rv_loop_poll_run_once(l, -1) >= 0, 1);
	assert_int_equal(rv_loop_poll_run_until(l, pred_calls, &c1, 0), RV_ERR_TIMEOUT);
	while (c1.calls == 0 && rv_loop_now_ms(l) - start < 2000)
		assert_true(rv_loop_poll_run_once(l, -1) >= 0);
	assert_int_equal(c1.calls, 1);
	assert_true(c1.fired_at - start >= 30);
	/* Stop cancels. */
	rv_loop_timer_set(t1, 0);
	rv_loop_timer_stop(t1);
	assert_int_equal(rv_loop_poll_run_once(l, 10), 0);
	assert_int_equal(c1.calls, 1);
	/* Re-arm with 0 from the callback: once per iteration, not a spin. */
	c1.rearm = 0;
	rv_loop_timer_set(t1, 0);
	assert_int_equal(rv_loop_poll_run_once(l, 0), 1);
	assert_int_equal(rv_loop_poll_run_once(l, 0), 1);
	assert_int_equal(c1.calls, 3);
	assert_int_equal(rv_loop_poll_run_until(l, pred_calls, &c1, 1000), RV_OK);
	/* Both due; the first to run frees the other. */
	c1.rearm = -1;
	c1.kill = t2;
	c2.kill = t1;
	rv_loop_timer_set(t1, 0);
	rv_loop_timer_set(t2, 0);
	assert_int_equal(rv_loop_poll_run_once(l, 0), 1);
	assert_int_equal(c1.calls - 3 + c2.calls, 1);
	/* Survivor frees itself from its callback. */
	if (c1.kill == NULL) {
		c1.free_self = 1;
		c1.rearm = 5;
		rv_loop_timer_set(t1, 0);
	} else {
		c2.free_self = 1;
		c2.rearm = 5;
		rv_loop_timer_set(t2, 0);
	}
	assert_int_equal(rv_loop_poll_run_once(l, 0), 1);
	assert_int_equal(rv_loop_poll_run_once(l, 20), 0);
	rv_loop_poll_free(l);
}

static int pred_false(void *arg)
{
	(void)arg;
	return 0;
}

static void test_run_until_timeout(void **state)
{
	struct rv_loop *l;
	uint64_t start;

	(void)state;
	assert_int_equal(rv_loop_poll_new(&l), RV_OK);
	start = rv_loop_now_ms(l);
	assert_int_equal(rv_loop_poll_run_until(l, pred_false, NULL, 50), RV_ERR_TIMEOUT);
	assert_true(rv_loop_now_ms(l) - start >= 50);
	assert_int_equal(rv_loop_poll_run_until(NULL, pred_false, NULL, 1), RV_ERR_INVALID_ARG);
	rv_loop_poll_free(l);
	rv_loop_poll_free(NULL);
	rv_loop_fd_del(NULL);
	rv_loop_timer_free(NULL);
	rv_loop_timer_set(NULL, 1);
	rv_loop_timer_stop(NULL);
	assert_int_equal(rv_loop_fd_set_events(NULL, 0), RV_ERR_INVALID_ARG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_level_triggered),
		cmocka_unit_test(test_write_and_hup),
		cmocka_unit_test(test_delete_other_and_self),
		cmocka_unit_test(test_timers),
		cmocka_unit_test(test_run_until_timeout),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
