/* rv_dial.c - resolve, judge, pool or connect.  Owner: server-libs.
 *
 * One deadline covers the whole dial: the DNS wait is taken out of the
 * connect timeout, so a slow resolver cannot stretch a stream's wait to
 * resolver timeout + connect timeout. */
#include "rv_dial.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rv_err.h"
#include "rv_log.h"
#include "rv_pool.h"

struct rv_dial {
	enum rv_dial_state state;
	struct rv_dialer *dialer;
	struct rv_addr dst;
	rv_dial_cb cb;
	void *arg;
	struct rv_dns_query *query;
	struct rv_connect *connect;
	struct rv_loop_timer *report_timer; /* defers synchronous outcomes */
	struct rv_loop_timer *deadline_timer; /* resolve phase of the deadline */
	uint64_t start_ms, deadline_ms;
	uint64_t start_us; /* finer clock, for the pool's "saved per hit" */
	struct rv_dial_result result;
	char pool_key[RV_POOL_KEY_MAX]; /* "" when not pooled */
};

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void rv_dial_free(struct rv_dial *dial)
{
	rv_dns_cancel(dial->query);
	rv_connect_cancel(dial->connect);
	rv_loop_timer_free(dial->report_timer);
	rv_loop_timer_free(dial->deadline_timer);
	if (dial->result.fd >= 0)
		close(dial->result.fd);
	free(dial);
}

static void rv_dial_report_now(struct rv_dial *dial)
{
	struct rv_dial_result res = dial->result;

	dial->result.fd = -1; /* handed to the callback */
	dial->query = NULL;
	dial->connect = NULL;
	dial->cb(dial->arg, &res);
	rv_dial_free(dial);
}

static void rv_dial_on_report_timer(struct rv_loop_timer *t, void *arg)
{
	(void)t;
	rv_dial_report_now(arg);
}

/* Outcomes known inside rv_dial_start are reported from a 0 ms timer so
 * the callback never runs inside the caller's stack frame. */
static void rv_dial_report_later(struct rv_dial *dial, enum rv_status status,
				 const char *detail)
{
	dial->state = RV_DIAL_REPORTING;
	dial->result.status = status;
	dial->result.detail = detail;
	rv_loop_timer_set(dial->report_timer, 0);
}

static void rv_dial_on_connect(void *arg, const struct rv_connect_result *res)
{
	struct rv_dial *dial = arg;

	dial->connect = NULL; /* rv_connect frees itself after the callback */
	if (res->status == RV_STATUS_OK && dial->dialer->pool != NULL && dial->pool_key[0] != '\0')
		rv_pool_note_connect(dial->dialer->pool, dial->pool_key,
				     mono_us() - dial->start_us);
	dial->result.status = res->status;
	dial->result.fd = res->fd;
	dial->result.local = res->local;
	dial->result.peer = res->peer;
	dial->result.detail = res->status == RV_STATUS_OK ? "connected" : "connect failed";
	rv_dial_report_now(dial);
}

static void rv_dial_connect(struct rv_dial *dial, const struct rv_sockaddr *addrs, size_t n)
{
	struct rv_sockaddr allowed[RV_CONNECT_MAX_ADDRS];
	struct rv_connect_opts o = dial->dialer->connect;
	uint64_t now = rv_loop_now_ms(dial->dialer->loop);
	size_t kept;
	int r;

	if (n > RV_CONNECT_MAX_ADDRS)
		n = RV_CONNECT_MAX_ADDRS;
	memcpy(allowed, addrs, n * sizeof(allowed[0]));
	kept = rv_acl_filter(dial->dialer->acl, allowed, n);
	if (kept == 0) {
		dial->result.peer = addrs[0];
		rv_dial_report_later(dial, RV_STATUS_NOT_ALLOWED, "denied by access rules");
		return;
	}
	if (dial->dialer->pool != NULL && dial->pool_key[0] != '\0')
		rv_pool_learn(dial->dialer->pool, dial->pool_key, allowed, kept);
	if (now >= dial->deadline_ms) {
		dial->result.peer = allowed[0];
		rv_dial_report_later(dial, RV_STATUS_TTL_EXPIRED, "connect timeout");
		return;
	}
	rv_loop_timer_stop(dial->deadline_timer);
	o.timeout_ms = (uint32_t)(dial->deadline_ms - now); /* what the DNS wait left */
	dial->state = RV_DIAL_CONNECTING;
	r = rv_connect_start(dial->dialer->loop, allowed, kept, &o, rv_dial_on_connect, dial,
			     &dial->connect);
	if (r != RV_OK) {
		dial->connect = NULL;
		rv_dial_report_later(dial, RV_STATUS_GENERAL_FAILURE, rv_err_str(r));
	}
}

/* The deadline passed while the name was still resolving: a DNS failure
 * (PROTOCOL.md section 11: the name does not resolve -> 4). */
static void rv_dial_on_deadline(struct rv_loop_timer *t, void *arg)
{
	struct rv_dial *dial = arg;

	(void)t;
	if (dial->state != RV_DIAL_RESOLVING)
		return;
	rv_dns_cancel(dial->query);
	dial->query = NULL;
	dial->result.status = RV_STATUS_HOST_UNREACHABLE;
	dial->result.detail = "no DNS answer within the connect timeout";
	rv_dial_report_now(dial);
}

static void rv_dial_on_dns(void *arg, const struct rv_dns_result *res)
{
	struct rv_dial *dial = arg;

	dial->query = NULL;
	if (res->status != RV_STATUS_OK || res->n == 0) {
		dial->result.status = res->status == RV_STATUS_OK ?
			RV_STATUS_HOST_UNREACHABLE : res->status;
		dial->result.detail = res->detail;
		rv_dial_report_now(dial);
		return;
	}
	rv_dial_connect(dial, res->addrs, res->n);
}

int rv_dial_start(struct rv_dialer *d, const struct rv_addr *dst, rv_dial_cb cb, void *arg,
		  struct rv_dial **out)
{
	struct rv_dial *dial;
	struct rv_sockaddr sa;
	int r;

	if (d == NULL || dst == NULL || cb == NULL)
		return RV_ERR_INVALID_ARG;
	dial = calloc(1, sizeof(*dial));
	if (dial == NULL)
		return RV_ERR_NOMEM;
	dial->dialer = d;
	dial->dst = *dst;
	dial->cb = cb;
	dial->arg = arg;
	dial->result.fd = -1;
	dial->start_ms = rv_loop_now_ms(d->loop);
	dial->start_us = mono_us();
	dial->deadline_ms = dial->start_ms + (d->connect.timeout_ms ?
		d->connect.timeout_ms : (uint64_t)RV_CONNECT_TIMEOUT_DEFAULT_S * 1000);
	r = rv_loop_timer_new(d->loop, rv_dial_on_report_timer, dial, &dial->report_timer);
	if (r == RV_OK)
		r = rv_loop_timer_new(d->loop, rv_dial_on_deadline, dial, &dial->deadline_timer);
	if (r != RV_OK)
		goto fail;
	/* Only client-speaks-first ports are pooled (rv_pool.h). */
	if (d->pool != NULL && rv_pool_port_wanted(d->pool, dst->port) &&
	    rv_pool_key(dst, dial->pool_key) != RV_OK)
		dial->pool_key[0] = '\0';
	if (dial->pool_key[0] != '\0' &&
	    rv_pool_take(d->pool, dial->pool_key, &dial->result.fd, &dial->result.local,
			 &dial->result.peer) == RV_OK) {
		dial->result.from_pool = 1;
		rv_dial_report_later(dial, RV_STATUS_OK, "pool");
		goto started;
	}
	switch (dst->atyp) {
	case RV_ATYP_IPV4:
	case RV_ATYP_IPV6:
		r = rv_sockaddr_from_addr(&sa, dst);
		if (r != RV_OK)
			goto fail;
		rv_dial_connect(dial, &sa, 1);
		break;
	case RV_ATYP_DOMAIN:
		dial->state = RV_DIAL_RESOLVING;
		r = rv_dns_resolve(d->dns, dst->domain, dst->port, rv_dial_on_dns, dial,
				   &dial->query);
		if (r != RV_OK)
			goto fail;
		rv_loop_timer_set(dial->deadline_timer, dial->deadline_ms - dial->start_ms);
		break;
	default:
		rv_dial_report_later(dial, RV_STATUS_ATYP_NOT_SUPPORTED, "bad address type");
		break;
	}
started:
	if (out != NULL)
		*out = dial;
	return RV_OK;
fail:
	dial->query = NULL;
	rv_dial_free(dial);
	return r;
}

void rv_dial_cancel(struct rv_dial *dial)
{
	if (dial != NULL)
		rv_dial_free(dial);
}

enum rv_dial_state rv_dial_get_state(const struct rv_dial *dial)
{
	return dial == NULL ? RV_DIAL_STATE_INVALID : dial->state;
}
