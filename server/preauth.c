/* preauth.c - accounting of connections that have not authenticated yet.
 *
 * A stranger can open connections and upgrade them for free, so they hold
 * no session slot (a session counts from its first authenticated transport
 * message, conn.c).  Instead each holds one of RV_PREAUTH_MAX slots here,
 * at most RV_PREAUTH_PER_SOURCE per source (IPv4 address or IPv6 /64), and
 * each state has a short deadline (lws_sul).  When every slot is taken the
 * oldest pre-auth connection is dropped for the new one: an attacker must
 * keep outpacing honest handshakes, which take milliseconds. */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "rv_err.h"
#include "rv_log.h"
#include "server_int.h"
#include "worker.h"

int rv_preauth_init(struct rv_server *srv)
{
	/* Workers share the global cap: each holds its part (the least busy
	 * worker takes each connection, so a flood fills them evenly). */
	srv->preauth_max = RV_PREAUTH_MAX;
	if (srv->worker != NULL) {
		srv->preauth_max = RV_PREAUTH_MAX / srv->worker->shm->n_workers;
		if (srv->preauth_max < RV_PREAUTH_WORKER_MIN)
			srv->preauth_max = RV_PREAUTH_WORKER_MIN;
	}
	srv->preauth = calloc(srv->preauth_max, sizeof(*srv->preauth));
	return srv->preauth != NULL ? RV_OK : RV_ERR_NOMEM;
}

void rv_preauth_cleanup(struct rv_server *srv)
{
	size_t i;

	if (srv->preauth == NULL)
		return;
	for (i = 0; i < srv->preauth_max; i++)
		rv_preauth_release(&srv->preauth[i]);
	free(srv->preauth);
	srv->preauth = NULL;
}

static void rv_preauth_src(const struct sockaddr *sa, uint8_t out[16])
{
	memset(out, 0, 16);
	if (sa->sa_family == AF_INET6) {
		memcpy(out, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
	} else if (sa->sa_family == AF_INET) {
		out[10] = 0xff;
		out[11] = 0xff;
		memcpy(out + 12, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
	}
}

/* Same source: the IPv4 address, or the IPv6 /64 (one host's usual share). */
static int rv_preauth_same_source(const uint8_t a[16], const uint8_t b[16])
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (memcmp(a, mapped, 12) == 0)
		return memcmp(a, b, 16) == 0;
	return memcmp(a, b, 8) == 0;
}

static void rv_preauth_unlink(struct rv_preauth *p)
{
	struct rv_server *srv = p->srv;

	if (p->prev != NULL)
		p->prev->next = p->next;
	else
		srv->preauth_old = p->next;
	if (p->next != NULL)
		p->next->prev = p->prev;
	else
		srv->preauth_new = p->prev;
	p->prev = p->next = NULL;
}

void rv_preauth_release(struct rv_preauth *p)
{
	if (p == NULL || p->state == RV_PREAUTH_FREE)
		return;
	lws_sul_cancel(&p->sul);
	if (p->wsi != NULL && lws_get_opaque_user_data(p->wsi) == p)
		lws_set_opaque_user_data(p->wsi, NULL);
	rv_preauth_unlink(p);
	rv_buf_free(p->head);
	p->head = NULL;
	p->srv->n_preauth--;
	p->state = RV_PREAUTH_FREE;
	p->wsi = NULL;
}

/* Close the connection (from outside its callbacks) and free the slot. */
static void rv_preauth_drop(struct rv_preauth *p)
{
	struct lws *wsi = p->wsi;

	rv_preauth_release(p);
	if (wsi != NULL)
		lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

static void rv_preauth_on_deadline(lws_sorted_usec_list_t *sul)
{
	struct rv_preauth *p = lws_container_of(sul, struct rv_preauth, sul);

	rv_log_debug("pre-auth connection timed out in state %d", (int)p->state);
	rv_preauth_drop(p);
}

struct rv_preauth *rv_preauth_of(struct rv_server *srv, struct lws *wsi)
{
	struct rv_preauth *p = lws_get_opaque_user_data(wsi);

	/* The loop's raw-file wsis carry their own opaque pointers. */
	if (srv == NULL || srv->preauth == NULL || p < srv->preauth ||
	    p >= srv->preauth + srv->preauth_max || p->state == RV_PREAUTH_FREE || p->wsi != wsi)
		return NULL;
	return p;
}

struct rv_preauth *rv_preauth_admit(struct rv_server *srv, const struct sockaddr *sa)
{
	struct rv_preauth *p, *free_slot = NULL;
	uint8_t src[16];
	uint32_t same = 0;
	size_t i;

	rv_preauth_src(sa, src);
	for (i = 0; i < srv->preauth_max; i++) {
		p = &srv->preauth[i];
		if (p->state == RV_PREAUTH_FREE) {
			if (free_slot == NULL)
				free_slot = p;
		} else if (rv_preauth_same_source(p->src, src)) {
			same++;
		}
	}
	if (same >= RV_PREAUTH_PER_SOURCE)
		return NULL;
	if (free_slot == NULL) {
		rv_log_rl(RV_LOG_WARN, "%u connections waiting to authenticate: dropping the "
			  "oldest for a new one", srv->preauth_max);
		free_slot = srv->preauth_old;
		rv_preauth_drop(free_slot);
	}
	p = free_slot;
	memset(p, 0, sizeof(*p));
	p->srv = srv;
	p->state = RV_PREAUTH_HTTP;
	memcpy(p->src, src, sizeof(src));
	p->prev = srv->preauth_new;
	if (srv->preauth_new != NULL)
		srv->preauth_new->next = p;
	else
		srv->preauth_old = p;
	srv->preauth_new = p;
	srv->n_preauth++;
	return p;
}

void rv_preauth_attach(struct rv_preauth *p, struct lws *wsi)
{
	p->wsi = wsi;
	lws_set_opaque_user_data(wsi, p);
	rv_preauth_set_state(p, RV_PREAUTH_HTTP, RV_PREAUTH_HTTP_TIMEOUT_S);
}

void rv_preauth_set_state(struct rv_preauth *p, enum rv_preauth_state state, unsigned timeout_s)
{
	if (p == NULL)
		return;
	p->state = state;
	lws_sul_schedule(lws_get_context(p->wsi), 0, &p->sul, rv_preauth_on_deadline,
			 (lws_usec_t)timeout_s * LWS_US_PER_SEC);
}
