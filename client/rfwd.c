/* rfwd.c - remote forwards on the client (see rfwd.h). */
#include "rfwd.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rv_acl.h"
#include "rv_addr.h"
#include "rv_dial.h"
#include "rv_dns.h"
#include "rv_err.h"
#include "rv_log.h"

enum rv_crfwd_state {
	RV_CRFWD_IDLE = 0,      /* not asked on the current session */
	RV_CRFWD_ASKED = 1,     /* LISTEN sent */
	RV_CRFWD_LISTENING = 2, /* LISTEN_RESPONSE(OK) */
	RV_CRFWD_REFUSED = 3,   /* refused by the server (status) */
	RV_CRFWD_CLOSED = 4,    /* LISTEN_CLOSE from the server (close_reason) */
	RV_CRFWD_NOT_OFFERED = 5, /* the session did not agree the feature */
};

struct rv_crfwd_entry {
	const struct rv_client_rfwd_spec *spec;
	enum rv_crfwd_state state;
	uint32_t req;
	const struct rv_session *sess; /* the session req belongs to (compared, never used) */
	uint16_t port;                 /* LISTENING: the bound port (the chosen one for 0) */
	enum rv_listen_status status;  /* REFUSED */
	enum rv_listen_close_reason close_reason; /* CLOSED */
	uint64_t streams;
};

struct rv_client_rfwd {
	struct rv_client *cl;
	struct rv_dns *dns;
	struct rv_acl *open_acl;    /* forwards: no rule, everything allowed */
	struct rv_acl *deny_acl;    /* dynamic without --remote-allow */
	struct rv_dialer fixed, dyn;
	uint32_t next_req;
	struct rv_crfwd_entry e[RV_CLIENT_MAX_RFWD];
	size_t n;
};

int rv_client_rfwd_new(struct rv_client *cl, struct rv_client_rfwd **out)
{
	const struct rv_client_opts *o = cl->opts;
	struct rv_client_rfwd *r;
	struct rv_dns_config dcfg;
	char err[256];
	int rc;

	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return RV_ERR_NOMEM;
	r->cl = cl;
	memset(&dcfg, 0, sizeof(dcfg));
	rc = rv_dns_new(cl->loop, &dcfg, &r->dns, err, sizeof(err));
	if (rc == RV_OK)
		rc = rv_acl_new(0, &r->open_acl);
	if (rc == RV_OK)
		rc = rv_acl_new(0, &r->deny_acl);
	if (rc == RV_OK)
		rc = rv_acl_add(r->deny_acl, RV_ACL_DENY, "0.0.0.0/0", err, sizeof(err));
	if (rc == RV_OK)
		rc = rv_acl_add(r->deny_acl, RV_ACL_DENY, "::/0", err, sizeof(err));
	if (rc != RV_OK) {
		rv_log_error("remote forwards: cannot set up: %s", rv_err_str(rc));
		rv_client_rfwd_free(r);
		return rc;
	}
	r->fixed.loop = r->dyn.loop = cl->loop;
	r->fixed.dns = r->dyn.dns = r->dns;
	r->fixed.acl = r->open_acl;
	r->dyn.acl = o->remote_allow_any ? r->open_acl :
		     o->remote_acl != NULL ? o->remote_acl : r->deny_acl;
	r->fixed.connect.timeout_ms = r->dyn.connect.timeout_ms =
		RV_CONNECT_TIMEOUT_DEFAULT_S * 1000u;
	r->fixed.connect.nodelay = r->dyn.connect.nodelay = 1;
	for (size_t i = 0; i < o->n_rfwd; i++)
		r->e[i].spec = &o->rfwd[i];
	r->n = o->n_rfwd;
	r->next_req = 1;
	*out = r;
	return RV_OK;
}

void rv_client_rfwd_free(struct rv_client_rfwd *r)
{
	if (r == NULL)
		return;
	rv_dns_free(r->dns);
	rv_acl_free(r->open_acl);
	rv_acl_free(r->deny_acl);
	free(r);
}

static const char *rv_crfwd_status_str(enum rv_listen_status st)
{
	switch (st) {
	case RV_LISTEN_DENIED:
		return "not permitted for this client's key (the server's authorized_keys needs "
		       "permit-listen=\"...\" covering this address and port)";
	case RV_LISTEN_IN_USE:
		return "the address is in use on the server";
	case RV_LISTEN_LIMIT:
		return "too many remote forwards for one session";
	case RV_LISTEN_BAD_ADDRESS:
		return "the server cannot listen on this address";
	default:
		return "the server could not listen";
	}
}

void rv_client_rfwd_on_session_up(struct rv_client *cl, struct rv_session *s, int agreed)
{
	struct rv_client_rfwd *r = cl->rfwd;
	struct rv_frame f;
	char b[RV_ADDR_STRLEN];

	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n; i++) {
		struct rv_crfwd_entry *e = &r->e[i];

		e->state = RV_CRFWD_IDLE;
		e->sess = NULL;
		if (!agreed) {
			e->state = RV_CRFWD_NOT_OFFERED;
			e->sess = s;
			rv_log_warn("remote forward -R %s: the server does not offer remote forwards "
				    "(an older server, or no permit-listen for this key)",
				    e->spec->text);
			continue;
		}
		memset(&f, 0, sizeof(f));
		f.type = RV_FRAME_LISTEN;
		f.u.listen.req = r->next_req++;
		f.u.listen.kind = e->spec->dynamic ? RV_LISTEN_KIND_SOCKS : RV_LISTEN_KIND_FORWARD;
		f.u.listen.bind = e->spec->bind;
		if (rv_session_send_listen(s, &f) != RV_OK) {
			rv_log_warn("remote forward -R %s: cannot ask the server", e->spec->text);
			continue;
		}
		e->req = f.u.listen.req;
		e->sess = s;
		e->state = RV_CRFWD_ASKED;
		rv_log_debug("remote forward -R %s: asking the server to listen on %s",
			     e->spec->text, rv_addr_str(&e->spec->bind, b, sizeof(b)));
	}
}

static struct rv_crfwd_entry *rv_crfwd_find(struct rv_client_rfwd *r, const struct rv_session *s,
					    uint32_t req)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->e[i].sess == s && r->e[i].req == req && r->e[i].state != RV_CRFWD_IDLE &&
		    r->e[i].state != RV_CRFWD_NOT_OFFERED)
			return &r->e[i];
	return NULL;
}

void rv_client_rfwd_on_listen(struct rv_client *cl, struct rv_session *s, const struct rv_frame *f)
{
	struct rv_client_rfwd *r = cl->rfwd;
	struct rv_crfwd_entry *e;
	char b[RV_ADDR_STRLEN], t[RV_ADDR_STRLEN];
	struct rv_addr bound;

	if (r == NULL)
		return;
	if (f->type == RV_FRAME_LISTEN_RESPONSE) {
		e = rv_crfwd_find(r, s, f->u.listen_response.req);
		if (e == NULL || e->state != RV_CRFWD_ASKED)
			return; /* not ours, or a second answer: ignored (§6.14) */
		if (f->u.listen_response.status != RV_LISTEN_OK) {
			e->state = RV_CRFWD_REFUSED;
			e->status = f->u.listen_response.status;
			rv_log_error("remote forward -R %s refused by the server: %s", e->spec->text,
				     rv_crfwd_status_str(f->u.listen_response.status));
			return;
		}
		e->state = RV_CRFWD_LISTENING;
		e->port = f->u.listen_response.port;
		bound = e->spec->bind;
		bound.port = e->port;
		if (e->spec->dynamic)
			rv_log_info("remote forward -R %s: listening on %s on the server (SOCKS5, "
				    "exits here)", e->spec->text, rv_addr_str(&bound, b, sizeof(b)));
		else
			rv_log_info("remote forward -R %s: listening on %s on the server -> %s",
				    e->spec->text, rv_addr_str(&bound, b, sizeof(b)),
				    rv_addr_str(&e->spec->target, t, sizeof(t)));
		return;
	}
	if (f->type == RV_FRAME_LISTEN_CLOSE) {
		e = rv_crfwd_find(r, s, f->u.listen_close.req);
		if (e == NULL)
			return;
		e->state = RV_CRFWD_CLOSED;
		e->close_reason = f->u.listen_close.reason;
		if (f->u.listen_close.reason == RV_LISTEN_CLOSE_SHUTDOWN)
			rv_log_info("remote forward -R %s: the server is going away; asking again "
				    "on the next session", e->spec->text);
		else
			rv_log_warn("remote forward -R %s: the server closed its listener (reason %d)",
				    e->spec->text, (int)f->u.listen_close.reason);
	}
}

static void rv_crfwd_on_dialed(void *arg, const struct rv_dial_result *res)
{
	struct rv_stream *st = arg;
	struct rv_addr bound;

	rv_stream_set_user(st, NULL);
	if (res->status != RV_STATUS_OK) {
		rv_log_info("remote forward: stream %u: connect failed: %s",
			    rv_stream_id(st), res->detail != NULL ? res->detail : "error");
		(void)rv_stream_reject(st, res->status);
		return;
	}
	memset(&bound, 0, sizeof(bound));
	if (rv_sockaddr_to_addr(&res->local, &bound) != RV_OK)
		bound.atyp = RV_ATYP_IPV4;
	if (rv_stream_accept(st, res->fd, &bound) != RV_OK) {
		close(res->fd);
		(void)rv_stream_reject(st, RV_STATUS_GENERAL_FAILURE);
	}
}

void rv_client_rfwd_on_remote_connect(struct rv_client *cl, struct rv_session *s,
				      struct rv_stream *st, uint32_t req,
				      const struct rv_addr *addr)
{
	struct rv_client_rfwd *r = cl->rfwd;
	struct rv_crfwd_entry *e = r != NULL ? rv_crfwd_find(r, s, req) : NULL;
	struct rv_dial *dial = NULL;
	char b[RV_ADDR_STRLEN];
	int rc;

	if (e == NULL || e->state != RV_CRFWD_LISTENING) {
		(void)rv_stream_reject(st, RV_STATUS_NOT_ALLOWED);
		return;
	}
	rv_log_debug("remote forward -R %s: stream %u from %s", e->spec->text, rv_stream_id(st),
		     rv_addr_str(addr, b, sizeof(b)));
	e->streams++;
	if (e->spec->dynamic)
		rc = rv_dial_start(&r->dyn, addr, rv_crfwd_on_dialed, st, &dial);
	else
		rc = rv_dial_start(&r->fixed, &e->spec->target, rv_crfwd_on_dialed, st, &dial);
	if (rc != RV_OK) {
		(void)rv_stream_reject(st, RV_STATUS_GENERAL_FAILURE);
		return;
	}
	rv_stream_set_user(st, dial);
}

void rv_client_rfwd_on_stream_closed(struct rv_stream *st)
{
	/* A dial still running for this stream must never report. */
	rv_dial_cancel(rv_stream_get_user(st));
	rv_stream_set_user(st, NULL);
}

size_t rv_client_rfwd_count(const struct rv_client_rfwd *r)
{
	return r == NULL ? 0 : r->n;
}

int rv_client_rfwd_get(const struct rv_client_rfwd *r, size_t i, const struct rv_session *cur,
		       struct rv_client_rfwd_info *out)
{
	const struct rv_crfwd_entry *e;

	if (r == NULL || i >= r->n || out == NULL)
		return RV_ERR_INVALID_ARG;
	e = &r->e[i];
	memset(out, 0, sizeof(*out));
	out->spec = e->spec;
	out->streams = e->streams;
	out->bound = e->spec->bind;
	if (cur == NULL || e->sess != cur || e->state == RV_CRFWD_IDLE) {
		out->state = RV_CLIENT_RFWD_WAITING;
		return RV_OK;
	}
	switch (e->state) {
	case RV_CRFWD_ASKED:
		out->state = RV_CLIENT_RFWD_REQUESTED;
		break;
	case RV_CRFWD_LISTENING:
		out->state = RV_CLIENT_RFWD_LISTENING;
		out->bound.port = e->port;
		break;
	case RV_CRFWD_REFUSED:
		out->state = RV_CLIENT_RFWD_REFUSED;
		out->status = e->status;
		break;
	case RV_CRFWD_CLOSED:
		out->state = RV_CLIENT_RFWD_CLOSED;
		out->close_reason = e->close_reason;
		break;
	case RV_CRFWD_NOT_OFFERED:
		out->state = RV_CLIENT_RFWD_NOT_OFFERED;
		break;
	default:
		out->state = RV_CLIENT_RFWD_WAITING;
		break;
	}
	return RV_OK;
}

const char *rv_client_rfwd_view_name(enum rv_client_rfwd_view v)
{
	switch (v) {
	case RV_CLIENT_RFWD_WAITING:
		return "waiting";
	case RV_CLIENT_RFWD_REQUESTED:
		return "requested";
	case RV_CLIENT_RFWD_LISTENING:
		return "listening";
	case RV_CLIENT_RFWD_REFUSED:
		return "refused";
	case RV_CLIENT_RFWD_CLOSED:
		return "closed";
	case RV_CLIENT_RFWD_NOT_OFFERED:
		return "not offered";
	default:
		return "invalid";
	}
}

const char *rv_client_rfwd_reason(const struct rv_client_rfwd_info *in)
{
	if (in->state == RV_CLIENT_RFWD_REFUSED) {
		switch (in->status) {
		case RV_LISTEN_DENIED:
			return "denied (permit-listen)";
		case RV_LISTEN_IN_USE:
			return "address in use";
		case RV_LISTEN_LIMIT:
			return "too many listeners";
		case RV_LISTEN_BAD_ADDRESS:
			return "bad address";
		default:
			return "failed";
		}
	}
	if (in->state == RV_CLIENT_RFWD_CLOSED)
		return in->close_reason == RV_LISTEN_CLOSE_SHUTDOWN ? "server shutting down" :
		       in->close_reason == RV_LISTEN_CLOSE_ERROR ? "socket error" : "closed";
	if (in->state == RV_CLIENT_RFWD_NOT_OFFERED)
		return "the server does not offer remote forwards to this key";
	return "";
}
