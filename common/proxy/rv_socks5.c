/* rv_socks5.c - SOCKS5 server-side parsing and replies (see rv_socks5.h). */
#include "rv_socks5.h"

#include <string.h>

#include <sodium.h>

#include "rv_err.h"
#include "rv_socks5_addr.h"

/* A failure reply: VER REP RSV ATYP(IPv4) 0.0.0.0 port 0. */
enum { RV_SOCKS5_FAIL_REPLY_LEN = 4 + 4 + 2, RV_SOCKS5_SHORT_REPLY_LEN = 2 };

int rv_socks5_parse_greeting(struct rv_buf *in, const struct rv_socks5_config *cfg,
			     uint8_t *method)
{
	uint8_t ver, n, m, i;
	int noauth = 0, userpass = 0;
	int ret;

	if ((ret = rv_buf_peek_u8(in, 0, &ver)) != RV_OK)
		return ret;
	if (ver != RV_SOCKS5_VERSION)
		return RV_ERR_MALFORMED;
	if ((ret = rv_buf_peek_u8(in, 1, &n)) != RV_OK)
		return ret;
	if (rv_buf_len(in) < 2 + (size_t)n)
		return RV_ERR_NEED_MORE;
	for (i = 0; i < n; i++) {
		if ((ret = rv_buf_peek_u8(in, 2 + (size_t)i, &m)) != RV_OK)
			return ret;
		if (m == RV_SOCKS5_METHOD_NOAUTH)
			noauth = 1;
		else if (m == RV_SOCKS5_METHOD_USERPASS)
			userpass = 1;
	}
	if (cfg->require_auth)
		*method = userpass ? RV_SOCKS5_METHOD_USERPASS : RV_SOCKS5_METHOD_NONE;
	else if (noauth)
		*method = RV_SOCKS5_METHOD_NOAUTH;
	else
		*method = userpass ? RV_SOCKS5_METHOD_USERPASS : RV_SOCKS5_METHOD_NONE;
	return rv_buf_consume(in, 2 + (size_t)n);
}

/* Equal lengths and bytes, without an early exit on the first difference. */
static int rv_socks5_cred_equal(const uint8_t *got, size_t got_len, const char *want,
				size_t want_len)
{
	uint8_t a[RV_SOCKS5_CRED_MAX], b[RV_SOCKS5_CRED_MAX];
	int eq;

	if (want == NULL || want_len > RV_SOCKS5_CRED_MAX || got_len > RV_SOCKS5_CRED_MAX)
		return 0;
	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	memcpy(a, got, got_len);
	memcpy(b, want, want_len);
	eq = sodium_memcmp(a, b, sizeof(a)) == 0 && got_len == want_len;
	sodium_memzero(a, sizeof(a));
	sodium_memzero(b, sizeof(b));
	return eq;
}

int rv_socks5_parse_auth(struct rv_buf *in, const struct rv_socks5_config *cfg, int *ok)
{
	uint8_t ver, ulen, plen;
	const uint8_t *p;
	int user_ok, pass_ok;
	int ret;

	if ((ret = rv_buf_peek_u8(in, 0, &ver)) != RV_OK)
		return ret;
	if (ver != RV_SOCKS5_AUTH_VERSION)
		return RV_ERR_MALFORMED;
	if ((ret = rv_buf_peek_u8(in, 1, &ulen)) != RV_OK)
		return ret;
	if ((ret = rv_buf_peek_u8(in, 2 + (size_t)ulen, &plen)) != RV_OK)
		return ret;
	if (rv_buf_len(in) < 3 + (size_t)ulen + plen)
		return RV_ERR_NEED_MORE;
	/* Everything is present: from here on nothing can fail. */
	p = rv_buf_ptr(in);
	if (cfg->require_auth) {
		user_ok = rv_socks5_cred_equal(p + 2, ulen, cfg->user, cfg->user_len);
		pass_ok = rv_socks5_cred_equal(p + 3 + ulen, plen, cfg->pass, cfg->pass_len);
		*ok = user_ok & pass_ok;
	} else {
		*ok = 1;
	}
	return rv_buf_consume(in, 3 + (size_t)ulen + plen);
}

int rv_socks5_parse_request_cmd(struct rv_buf *in, uint8_t *cmd_out, struct rv_addr *dst,
				enum rv_status *reply)
{
	uint8_t ver, cmd, rsv, atyp;
	size_t addr_len, total;
	struct rv_addr a;
	int ret;

	*reply = RV_STATUS_GENERAL_FAILURE;
	if ((ret = rv_buf_peek_u8(in, 0, &ver)) != RV_OK)
		return ret;
	if (ver != RV_SOCKS5_VERSION)
		return RV_ERR_MALFORMED;
	if ((ret = rv_buf_peek_u8(in, 1, &cmd)) != RV_OK)
		return ret;
	if ((ret = rv_buf_peek_u8(in, 2, &rsv)) != RV_OK)
		return ret;
	if (rsv != 0)
		return RV_ERR_MALFORMED;
	if ((ret = rv_buf_peek_u8(in, 3, &atyp)) != RV_OK)
		return ret;
	ret = rv_socks5_addr_parse(in, RV_SOCKS5_REQUEST_FIXED_LEN, atyp, &a, &addr_len);
	if (ret == RV_ERR_UNSUPPORTED)
		*reply = RV_STATUS_ATYP_NOT_SUPPORTED;
	if (ret != RV_OK)
		return ret;
	total = RV_SOCKS5_REQUEST_FIXED_LEN + addr_len;
	if (cmd != RV_SOCKS5_CMD_CONNECT && cmd != RV_SOCKS5_CMD_UDP_ASSOCIATE) {
		*reply = RV_STATUS_COMMAND_NOT_SUPPORTED;
		(void)rv_buf_consume(in, total);
		return RV_ERR_UNSUPPORTED;
	}
	*dst = a;
	*cmd_out = cmd;
	*reply = RV_STATUS_OK;
	return rv_buf_consume(in, total);
}

int rv_socks5_parse_request(struct rv_buf *in, struct rv_addr *dst, enum rv_status *reply)
{
	struct rv_buf probe;
	struct rv_addr a;
	uint8_t cmd = 0;
	int ret;

	/* Parse a view; consume the original only as the old parser did. */
	rv_buf_init_view(&probe, rv_buf_ptr(in), rv_buf_len(in));
	ret = rv_socks5_parse_request_cmd(&probe, &cmd, &a, reply);
	if (ret != RV_OK && ret != RV_ERR_UNSUPPORTED)
		return ret;
	if (ret == RV_OK && cmd != RV_SOCKS5_CMD_CONNECT) {
		*reply = RV_STATUS_COMMAND_NOT_SUPPORTED;
		ret = RV_ERR_UNSUPPORTED;
	}
	if (ret == RV_OK)
		*dst = a;
	/* ATYP_NOT_SUPPORTED consumed nothing (its length is unknown). */
	(void)rv_buf_consume(in, rv_buf_len(in) - rv_buf_len(&probe));
	return ret;
}

int rv_socks5_build_method(struct rv_buf *out, uint8_t method)
{
	const uint8_t msg[2] = { RV_SOCKS5_VERSION, method };

	return rv_buf_put(out, msg, sizeof(msg));
}

int rv_socks5_build_auth_reply(struct rv_buf *out, int ok)
{
	const uint8_t msg[2] = { RV_SOCKS5_AUTH_VERSION,
				 ok ? RV_SOCKS5_AUTH_SUCCESS : RV_SOCKS5_AUTH_FAILURE };

	return rv_buf_put(out, msg, sizeof(msg));
}

int rv_socks5_build_reply(struct rv_buf *out, enum rv_status rep, const struct rv_addr *bound)
{
	uint8_t msg[RV_SOCKS5_REPLY_MAX];
	size_t n = 0, alen;
	enum rv_atyp atyp = bound != NULL ? bound->atyp : RV_ATYP_INVALID;

	if ((unsigned)rep > 0xff)
		return RV_ERR_INVALID_ARG;
	msg[n++] = RV_SOCKS5_VERSION;
	msg[n++] = (uint8_t)rep;
	msg[n++] = 0;
	switch (atyp) {
	case RV_ATYP_IPV4:
	case RV_ATYP_IPV6:
		alen = atyp == RV_ATYP_IPV4 ? 4 : 16;
		msg[n++] = (uint8_t)atyp;
		memcpy(msg + n, bound->ip, alen);
		n += alen;
		break;
	case RV_ATYP_DOMAIN:
		if (bound->domain_len == 0)
			return RV_ERR_INVALID_ARG;
		msg[n++] = RV_ATYP_DOMAIN;
		msg[n++] = bound->domain_len;
		memcpy(msg + n, bound->domain, bound->domain_len);
		n += bound->domain_len;
		break;
	default:
		msg[n++] = RV_ATYP_IPV4;
		memset(msg + n, 0, 4);
		n += 4;
		bound = NULL;
		break;
	}
	msg[n++] = bound != NULL ? (uint8_t)(bound->port >> 8) : 0;
	msg[n++] = bound != NULL ? (uint8_t)(bound->port & 0xff) : 0;
	return rv_buf_put(out, msg, n);
}

void rv_socks5_init(struct rv_socks5 *s, const struct rv_socks5_config *cfg)
{
	memset(s, 0, sizeof(*s));
	s->state = RV_SOCKS5_GREETING;
	s->cfg = cfg;
	s->fail_reply = RV_STATUS_OK;
}

static int rv_socks5_fail(struct rv_socks5 *s, int err)
{
	s->state = RV_SOCKS5_FAILED;
	return err;
}

static int rv_socks5_step(struct rv_socks5 *s, struct rv_buf *in, struct rv_buf *out)
{
	enum rv_status reply;
	int ret, ok = 0;

	switch (s->state) {
	case RV_SOCKS5_GREETING:
		if (rv_buf_room(out) < RV_SOCKS5_SHORT_REPLY_LEN)
			return RV_ERR_NO_SPACE;
		ret = rv_socks5_parse_greeting(in, s->cfg, &s->method);
		if (ret == RV_ERR_NEED_MORE)
			return ret;
		if (ret != RV_OK)
			return rv_socks5_fail(s, ret); /* not SOCKS5: say nothing */
		if ((ret = rv_socks5_build_method(out, s->method)) != RV_OK)
			return rv_socks5_fail(s, ret);
		if (s->method == RV_SOCKS5_METHOD_NONE)
			return rv_socks5_fail(s, RV_ERR_DENIED);
		s->state = s->method == RV_SOCKS5_METHOD_USERPASS ? RV_SOCKS5_AUTH :
								    RV_SOCKS5_REQUEST;
		return RV_OK;
	case RV_SOCKS5_AUTH:
		if (rv_buf_room(out) < RV_SOCKS5_SHORT_REPLY_LEN)
			return RV_ERR_NO_SPACE;
		ret = rv_socks5_parse_auth(in, s->cfg, &ok);
		if (ret == RV_ERR_NEED_MORE)
			return ret;
		if (ret != RV_OK)
			ok = 0;
		if (rv_socks5_build_auth_reply(out, ok) != RV_OK)
			return rv_socks5_fail(s, RV_ERR_NO_SPACE);
		if (ret != RV_OK)
			return rv_socks5_fail(s, ret);
		if (!ok)
			return rv_socks5_fail(s, RV_ERR_DENIED);
		s->state = RV_SOCKS5_REQUEST;
		return RV_OK;
	case RV_SOCKS5_REQUEST:
		if (rv_buf_room(out) < RV_SOCKS5_FAIL_REPLY_LEN)
			return RV_ERR_NO_SPACE;
		s->cmd = RV_SOCKS5_CMD_CONNECT;
		ret = s->cfg->udp ? rv_socks5_parse_request_cmd(in, &s->cmd, &s->dst, &reply) :
				    rv_socks5_parse_request(in, &s->dst, &reply);
		if (ret == RV_ERR_NEED_MORE)
			return ret;
		if (ret != RV_OK) {
			s->fail_reply = reply;
			(void)rv_socks5_build_reply(out, reply, NULL);
			return rv_socks5_fail(s, ret);
		}
		s->state = RV_SOCKS5_DONE;
		return RV_OK;
	case RV_SOCKS5_DONE:
		return RV_OK;
	default:
		return RV_ERR_STATE;
	}
}

int rv_socks5_feed(struct rv_socks5 *s, struct rv_buf *in, struct rv_buf *out)
{
	int ret;

	/* At most three steps (greeting, auth, request) per call. */
	for (;;) {
		ret = rv_socks5_step(s, in, out);
		if (ret != RV_OK || s->state == RV_SOCKS5_DONE)
			return ret;
	}
}

const char *rv_socks5_state_str(enum rv_socks5_state st)
{
	switch (st) {
	case RV_SOCKS5_GREETING:
		return "greeting";
	case RV_SOCKS5_AUTH:
		return "auth";
	case RV_SOCKS5_REQUEST:
		return "request";
	case RV_SOCKS5_DONE:
		return "done";
	case RV_SOCKS5_FAILED:
		return "failed";
	default:
		return "invalid";
	}
}
