/* rv_socks4.c - SOCKS4 / SOCKS4a server-side parsing and replies (see the
 * header). */
#include "rv_socks4.h"

#include <string.h>

#include "rv_addr.h"
#include "rv_err.h"

static int rv_socks4_fail(const char **why, const char *text, int err)
{
	if (why != NULL)
		*why = text;
	return err;
}

/* Find the NUL ending a field that starts at off: RV_OK with *len (without
 * the NUL), NEED_MORE if the field is still open and may yet fit,
 * RV_ERR_LIMIT if it is already longer than max. */
static int rv_socks4_field(const struct rv_buf *in, size_t off, size_t max, size_t *len)
{
	size_t have = rv_buf_len(in) - off, look = have < max + 1 ? have : max + 1;
	const uint8_t *p = rv_buf_ptr(in) + off;
	const uint8_t *nul = look > 0 ? memchr(p, 0, look) : NULL;

	if (nul != NULL) {
		*len = (size_t)(nul - p);
		return RV_OK;
	}
	return have > max ? RV_ERR_LIMIT : RV_ERR_NEED_MORE;
}

int rv_socks4_parse_request(struct rv_buf *in, struct rv_socks4_request *req,
			    enum rv_status *reply, const char **why)
{
	uint8_t ver, cmd, ip[4];
	uint16_t port;
	size_t ulen, hlen = 0, total;
	int is_4a, ret;
	const uint8_t *p;

	*reply = RV_STATUS_GENERAL_FAILURE;
	if (why != NULL)
		*why = NULL;
	if ((ret = rv_buf_peek_u8(in, 0, &ver)) != RV_OK)
		return ret;
	if (ver != RV_SOCKS4_VERSION)
		return rv_socks4_fail(why, "not SOCKS4 (version byte)", RV_ERR_MALFORMED);
	if ((ret = rv_buf_peek_u8(in, 1, &cmd)) != RV_OK)
		return ret;
	if ((ret = rv_buf_peek_u16(in, 2, &port)) != RV_OK)
		return ret;
	if ((ret = rv_buf_peek(in, 4, ip, sizeof(ip))) != RV_OK)
		return ret;
	/* 0.0.0.x with x != 0: SOCKS4a, a host name follows the user id. */
	is_4a = ip[0] == 0 && ip[1] == 0 && ip[2] == 0 && ip[3] != 0;
	ret = rv_socks4_field(in, RV_SOCKS4_FIXED_LEN, RV_SOCKS4_USERID_MAX, &ulen);
	if (ret == RV_ERR_LIMIT)
		return rv_socks4_fail(why, "SOCKS4 user id too long", ret);
	if (ret != RV_OK)
		return ret;
	total = RV_SOCKS4_FIXED_LEN + ulen + 1;
	if (is_4a) {
		ret = rv_socks4_field(in, total, RV_SOCKS4_HOST_MAX, &hlen);
		if (ret == RV_ERR_LIMIT)
			return rv_socks4_fail(why, "SOCKS4a host name too long", ret);
		if (ret != RV_OK)
			return ret;
		if (hlen == 0)
			return rv_socks4_fail(why, "SOCKS4a empty host name", RV_ERR_MALFORMED);
		total += hlen + 1;
	}
	/* The whole request is present: from here on it is consumed or refused. */
	if (cmd != RV_SOCKS4_CMD_CONNECT) {
		*reply = RV_STATUS_COMMAND_NOT_SUPPORTED;
		(void)rv_buf_consume(in, total);
		return rv_socks4_fail(why, cmd == RV_SOCKS4_CMD_BIND ? "SOCKS4 BIND not supported"
								      : "SOCKS4 unknown command",
				      RV_ERR_UNSUPPORTED);
	}
	memset(req, 0, sizeof(*req));
	p = rv_buf_ptr(in);
	memcpy(req->userid, p + RV_SOCKS4_FIXED_LEN, ulen);
	req->userid[ulen] = '\0';
	req->userid_len = ulen;
	req->is_4a = is_4a;
	if (is_4a) {
		/* hlen is 1..RV_SOCKS4_HOST_MAX without NUL: cannot fail. */
		if (rv_addr_set_domain(&req->dst, (const char *)p + RV_SOCKS4_FIXED_LEN + ulen + 1,
				       hlen, port) != RV_OK)
			return RV_ERR_INTERNAL;
	} else {
		rv_addr_set_ipv4(&req->dst, ip, port);
	}
	*reply = RV_STATUS_OK;
	return rv_buf_consume(in, total);
}

uint8_t rv_socks4_reply_code(enum rv_status st)
{
	return st == RV_STATUS_OK ? RV_SOCKS4_GRANTED : RV_SOCKS4_REJECTED;
}

int rv_socks4_build_reply(struct rv_buf *out, enum rv_status st, const struct rv_addr *bound)
{
	uint8_t msg[RV_SOCKS4_REPLY_LEN];

	memset(msg, 0, sizeof(msg));
	msg[0] = RV_SOCKS4_REPLY_VERSION;
	msg[1] = rv_socks4_reply_code(st);
	if (bound != NULL && bound->atyp == RV_ATYP_IPV4) {
		msg[2] = (uint8_t)(bound->port >> 8);
		msg[3] = (uint8_t)(bound->port & 0xff);
		memcpy(msg + 4, bound->ip, 4);
	}
	return rv_buf_put(out, msg, sizeof(msg));
}
