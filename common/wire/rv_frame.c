/* rv_frame.c - frame codec for the stream multiplexing inside ratchet
 * plaintexts.  Owner: frames helper.  Wire layouts: rv_wire.h, PROTOCOL.md.
 *
 * Decoding happens in three steps so that no field is read before its
 * length is known to be right:
 *   1. header (3 bytes): type known, body length inside the type's range;
 *   2. whole body present (else NEED_MORE);
 *   3. exact body length for the type (and address type), then fields.
 * The frame is built in a local copy; *f and the input are touched only on
 * success.  The encoder applies the same rules and reserves the whole frame
 * in one step, so a failed encode appends nothing.
 */
#include "rv_frame.h"

#include <string.h>

#include "rv_err.h"

/* Address body lengths: IPv4 4, IPv6 16, domain 1 + 1..255. */
enum {
	RV_ADDR_WIRE_MIN = 1 + 1,
	RV_ADDR_WIRE_MAX = 1 + RV_DOMAIN_MAX,
};

static int rv_frame_atyp_len(uint8_t atyp, size_t *len)
{
	switch (atyp) {
	case RV_ATYP_IPV4:
		*len = 4;
		return RV_OK;
	case RV_ATYP_IPV6:
		*len = 16;
		return RV_OK;
	default:
		return RV_ERR_MALFORMED;
	}
}

/* Smallest and largest body a frame type may have; UNSUPPORTED for an
 * unknown type, MALFORMED for type 0. */
static int rv_frame_body_range(uint8_t type, size_t *min, size_t *max)
{
	switch (type) {
	case RV_FRAME_PROXY_CONNECT:
		*min = RV_FRAME_CONNECT_FIXED_LEN + RV_ADDR_WIRE_MIN;
		*max = RV_FRAME_CONNECT_FIXED_LEN + RV_ADDR_WIRE_MAX;
		return RV_OK;
	case RV_FRAME_PROXY_RESPONSE:
		*min = RV_FRAME_RESPONSE_FIXED_LEN + RV_ADDR_WIRE_MIN;
		*max = RV_FRAME_RESPONSE_FIXED_LEN + RV_ADDR_WIRE_MAX;
		return RV_OK;
	case RV_FRAME_PROXY_DATA:
		*min = 4 + 1;
		*max = 4 + RV_FRAME_DATA_MAX;
		return RV_OK;
	case RV_FRAME_PROXY_FIN:
		*min = *max = RV_FRAME_FIN_LEN;
		return RV_OK;
	case RV_FRAME_PROXY_RESET:
		*min = *max = RV_FRAME_RESET_LEN;
		return RV_OK;
	case RV_FRAME_WINDOW_UPDATE:
		*min = *max = RV_FRAME_WINDOW_UPDATE_LEN;
		return RV_OK;
	case RV_FRAME_PING:
	case RV_FRAME_PONG:
		*min = *max = RV_FRAME_PING_LEN;
		return RV_OK;
	case RV_FRAME_GOAWAY:
		*min = *max = RV_FRAME_GOAWAY_LEN;
		return RV_OK;
	case RV_FRAME_DATAGRAM:
		*min = RV_FRAME_DATAGRAM_FIXED_LEN + RV_ADDR_WIRE_MIN;
		*max = RV_FRAME_DATAGRAM_FIXED_LEN + RV_ADDR_WIRE_MAX + RV_DATAGRAM_MAX;
		return RV_OK;
	case RV_FRAME_DATAGRAM_CLOSE:
		*min = *max = RV_FRAME_DATAGRAM_CLOSE_LEN;
		return RV_OK;
	case RV_FRAME_INVALID:
		return RV_ERR_MALFORMED;
	default:
		return RV_ERR_UNSUPPORTED;
	}
}

static int rv_frame_status_valid(unsigned v)
{
	return v <= RV_STATUS_ATYP_NOT_SUPPORTED;
}

static int rv_frame_reset_valid(unsigned v)
{
	return v >= RV_RESET_PROTOCOL_ERROR && v <= RV_RESET_REFUSED_STREAM;
}

static int rv_frame_goaway_valid(unsigned v)
{
	return v >= RV_GOAWAY_SHUTDOWN && v <= RV_GOAWAY_REVOKED;
}

static int rv_frame_dgram_reason_valid(unsigned v)
{
	return v >= RV_DGRAM_CLOSE_NORMAL && v <= RV_DGRAM_CLOSE_SHUTDOWN;
}

static int rv_frame_window_valid(uint32_t v)
{
	return v > 0 && v <= RV_STREAM_WINDOW_MAX;
}

static uint16_t rv_frame_rd16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t rv_frame_rd32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static uint64_t rv_frame_rd64(const uint8_t *p)
{
	return ((uint64_t)rv_frame_rd32(p) << 32) | rv_frame_rd32(p + 4);
}

static uint8_t *rv_frame_wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return p + 2;
}

static uint8_t *rv_frame_wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
	return p + 4;
}

static uint8_t *rv_frame_wr64(uint8_t *p, uint64_t v)
{
	p = rv_frame_wr32(p, (uint32_t)(v >> 32));
	return rv_frame_wr32(p, (uint32_t)v);
}

/* Address at p, exactly len bytes long (atyp included).  port is read by
 * the caller because it precedes atyp on the wire. */
static int rv_frame_addr_decode(const uint8_t *p, size_t len, uint16_t port,
				struct rv_addr *a)
{
	size_t alen;

	if (len < 1)
		return RV_ERR_MALFORMED;
	memset(a, 0, sizeof(*a));
	a->port = port;
	a->atyp = (enum rv_atyp)p[0];
	if (p[0] == RV_ATYP_DOMAIN) {
		/* 1..255 name bytes, none NUL (domain[] is a C string). */
		if (len < 2 || p[1] == 0 || len != 2 + (size_t)p[1])
			return RV_ERR_MALFORMED;
		if (memchr(p + 2, 0, p[1]) != NULL)
			return RV_ERR_MALFORMED;
		memcpy(a->domain, p + 2, p[1]);
		a->domain[p[1]] = '\0';
		a->domain_len = p[1];
		return RV_OK;
	}
	if (rv_frame_atyp_len(p[0], &alen) != RV_OK || len != 1 + alen)
		return RV_ERR_MALFORMED;
	memcpy(a->ip, p + 1, alen);
	return RV_OK;
}

/* Length (atyp included) of the address at p, from its atyp and (for a
 * domain) its length byte; the address may be followed by more bytes (a
 * DATAGRAM's payload).  MALFORMED if avail cannot hold it. */
static int rv_frame_addr_prefix_len(const uint8_t *p, size_t avail, size_t *len)
{
	size_t alen;

	if (avail < 1)
		return RV_ERR_MALFORMED;
	if (p[0] == RV_ATYP_DOMAIN) {
		if (avail < 2)
			return RV_ERR_MALFORMED;
		alen = 2 + (size_t)p[1];
	} else {
		if (rv_frame_atyp_len(p[0], &alen) != RV_OK)
			return RV_ERR_MALFORMED;
		alen += 1;
	}
	if (alen > avail)
		return RV_ERR_MALFORMED;
	*len = alen;
	return RV_OK;
}

/* Wire length of an address (atyp included), 0 if it is not valid. */
static size_t rv_frame_addr_len(const struct rv_addr *a)
{
	size_t alen;

	if (a->atyp == RV_ATYP_DOMAIN) {
		if (a->domain_len == 0 || memchr(a->domain, 0, a->domain_len) != NULL)
			return 0;
		return 2 + (size_t)a->domain_len;
	}
	if (a->atyp > 0xff || rv_frame_atyp_len((uint8_t)a->atyp, &alen) != RV_OK)
		return 0;
	return 1 + alen;
}

static uint8_t *rv_frame_addr_encode(uint8_t *p, const struct rv_addr *a)
{
	size_t alen;

	*p++ = (uint8_t)a->atyp;
	if (a->atyp == RV_ATYP_DOMAIN) {
		*p++ = a->domain_len;
		memcpy(p, a->domain, a->domain_len);
		return p + a->domain_len;
	}
	alen = a->atyp == RV_ATYP_IPV4 ? 4 : 16;
	memcpy(p, a->ip, alen);
	return p + alen;
}

/* Fields of a body whose length is within the type's range; b points at the
 * body, len is its exact length. */
static int rv_frame_body_decode(uint8_t type, const uint8_t *b, size_t len,
				struct rv_frame *f)
{
	int r;

	f->type = (enum rv_frame_type)type;
	switch (type) {
	case RV_FRAME_PROXY_CONNECT:
		f->stream_id = rv_frame_rd32(b);
		f->u.connect.window = rv_frame_rd32(b + 4);
		if (!rv_frame_window_valid(f->u.connect.window))
			return RV_ERR_MALFORMED;
		r = rv_frame_addr_decode(b + 10, len - 10, rv_frame_rd16(b + 8),
					 &f->u.connect.addr);
		if (r != RV_OK)
			return r;
		break;
	case RV_FRAME_PROXY_RESPONSE:
		f->stream_id = rv_frame_rd32(b);
		if (!rv_frame_status_valid(b[4]))
			return RV_ERR_MALFORMED;
		f->u.response.status = (enum rv_status)b[4];
		r = rv_frame_addr_decode(b + 7, len - 7, rv_frame_rd16(b + 5),
					 &f->u.response.bound);
		if (r != RV_OK)
			return r;
		break;
	case RV_FRAME_PROXY_DATA:
		f->stream_id = rv_frame_rd32(b);
		f->u.data.data = b + 4;
		f->u.data.len = len - 4;
		break;
	case RV_FRAME_PROXY_FIN:
		f->stream_id = rv_frame_rd32(b);
		break;
	case RV_FRAME_PROXY_RESET:
		f->stream_id = rv_frame_rd32(b);
		if (!rv_frame_reset_valid(b[4]))
			return RV_ERR_MALFORMED;
		f->u.reset.reason = (enum rv_reset_reason)b[4];
		break;
	case RV_FRAME_WINDOW_UPDATE:
		f->stream_id = rv_frame_rd32(b);
		f->u.window_update.credit = rv_frame_rd32(b + 4);
		if (!rv_frame_window_valid(f->u.window_update.credit))
			return RV_ERR_MALFORMED;
		break;
	case RV_FRAME_PING:
	case RV_FRAME_PONG:
		f->stream_id = 0;
		f->u.ping.opaque = rv_frame_rd64(b);
		return RV_OK;
	case RV_FRAME_GOAWAY:
		f->stream_id = 0;
		f->u.goaway.last_stream = rv_frame_rd32(b);
		if (!rv_frame_goaway_valid(b[4]))
			return RV_ERR_MALFORMED;
		f->u.goaway.reason = (enum rv_goaway_reason)b[4];
		return RV_OK;
	case RV_FRAME_DATAGRAM: {
		size_t alen;

		f->stream_id = 0;
		f->u.datagram.assoc = rv_frame_rd32(b);
		r = rv_frame_addr_prefix_len(b + 6, len - 6, &alen);
		if (r != RV_OK)
			return r;
		r = rv_frame_addr_decode(b + 6, alen, rv_frame_rd16(b + 4), &f->u.datagram.addr);
		if (r != RV_OK)
			return r;
		if (len - 6 - alen > RV_DATAGRAM_MAX)
			return RV_ERR_MALFORMED;
		f->u.datagram.data = b + 6 + alen;
		f->u.datagram.len = len - 6 - alen;
		return f->u.datagram.assoc == 0 ? RV_ERR_MALFORMED : RV_OK;
	}
	case RV_FRAME_DATAGRAM_CLOSE:
		f->stream_id = 0;
		f->u.datagram_close.assoc = rv_frame_rd32(b);
		if (!rv_frame_dgram_reason_valid(b[4]))
			return RV_ERR_MALFORMED;
		f->u.datagram_close.reason = (enum rv_dgram_close_reason)b[4];
		return f->u.datagram_close.assoc == 0 ? RV_ERR_MALFORMED : RV_OK;
	default:
		return RV_ERR_INTERNAL;
	}
	/* Every stream frame names a stream; 0 is never one. */
	return f->stream_id == 0 ? RV_ERR_MALFORMED : RV_OK;
}

int rv_frame_decode(struct rv_buf *in, struct rv_frame *f)
{
	struct rv_frame tmp;
	const uint8_t *p;
	uint8_t type;
	size_t min, max, len;
	int r;

	if (in == NULL || f == NULL)
		return RV_ERR_INVALID_ARG;
	if (rv_buf_len(in) < RV_FRAME_HDR_LEN)
		return RV_ERR_NEED_MORE;
	p = rv_buf_ptr(in);
	type = p[0];
	len = rv_frame_rd16(p + 1);
	r = rv_frame_body_range(type, &min, &max);
	if (r != RV_OK)
		return r;
	/* Reject an impossible length now: waiting for its body would stall. */
	if (len < min || len > max)
		return RV_ERR_MALFORMED;
	if (rv_buf_len(in) - RV_FRAME_HDR_LEN < len)
		return RV_ERR_NEED_MORE;
	memset(&tmp, 0, sizeof(tmp));
	r = rv_frame_body_decode(type, p + RV_FRAME_HDR_LEN, len, &tmp);
	if (r != RV_OK)
		return r;
	/* Not rv_buf_consume: it may rewind off, and DATA must stay valid. */
	r = rv_buf_get_view(in, RV_FRAME_HDR_LEN + len, &p);
	if (r != RV_OK)
		return r;
	*f = tmp;
	return RV_OK;
}

/* Body length of a valid frame; RV_ERR_INVALID_ARG for an invalid one. */
static int rv_frame_check(const struct rv_frame *f, size_t *body)
{
	size_t alen;

	if (f == NULL)
		return RV_ERR_INVALID_ARG;
	switch (f->type) {
	case RV_FRAME_PROXY_CONNECT:
		alen = rv_frame_addr_len(&f->u.connect.addr);
		if (alen == 0 || !rv_frame_window_valid(f->u.connect.window))
			return RV_ERR_INVALID_ARG;
		*body = RV_FRAME_CONNECT_FIXED_LEN - 1 + alen;
		break;
	case RV_FRAME_PROXY_RESPONSE:
		alen = rv_frame_addr_len(&f->u.response.bound);
		if (alen == 0 || !rv_frame_status_valid((unsigned)f->u.response.status))
			return RV_ERR_INVALID_ARG;
		*body = RV_FRAME_RESPONSE_FIXED_LEN - 1 + alen;
		break;
	case RV_FRAME_PROXY_DATA:
		if (f->u.data.len == 0 || f->u.data.len > RV_FRAME_DATA_MAX ||
		    f->u.data.data == NULL)
			return RV_ERR_INVALID_ARG;
		*body = 4 + f->u.data.len;
		break;
	case RV_FRAME_PROXY_FIN:
		*body = RV_FRAME_FIN_LEN;
		break;
	case RV_FRAME_PROXY_RESET:
		if (!rv_frame_reset_valid((unsigned)f->u.reset.reason))
			return RV_ERR_INVALID_ARG;
		*body = RV_FRAME_RESET_LEN;
		break;
	case RV_FRAME_WINDOW_UPDATE:
		if (!rv_frame_window_valid(f->u.window_update.credit))
			return RV_ERR_INVALID_ARG;
		*body = RV_FRAME_WINDOW_UPDATE_LEN;
		break;
	case RV_FRAME_PING:
	case RV_FRAME_PONG:
		*body = RV_FRAME_PING_LEN;
		return f->stream_id == 0 ? RV_OK : RV_ERR_INVALID_ARG;
	case RV_FRAME_GOAWAY:
		if (!rv_frame_goaway_valid((unsigned)f->u.goaway.reason))
			return RV_ERR_INVALID_ARG;
		*body = RV_FRAME_GOAWAY_LEN;
		return f->stream_id == 0 ? RV_OK : RV_ERR_INVALID_ARG;
	case RV_FRAME_DATAGRAM:
		alen = rv_frame_addr_len(&f->u.datagram.addr);
		if (alen == 0 || f->u.datagram.assoc == 0 || f->u.datagram.len > RV_DATAGRAM_MAX ||
		    (f->u.datagram.data == NULL && f->u.datagram.len > 0))
			return RV_ERR_INVALID_ARG;
		*body = RV_FRAME_DATAGRAM_FIXED_LEN - 1 + alen + f->u.datagram.len;
		return f->stream_id == 0 ? RV_OK : RV_ERR_INVALID_ARG;
	case RV_FRAME_DATAGRAM_CLOSE:
		if (f->u.datagram_close.assoc == 0 ||
		    !rv_frame_dgram_reason_valid((unsigned)f->u.datagram_close.reason))
			return RV_ERR_INVALID_ARG;
		*body = RV_FRAME_DATAGRAM_CLOSE_LEN;
		return f->stream_id == 0 ? RV_OK : RV_ERR_INVALID_ARG;
	default:
		return RV_ERR_INVALID_ARG;
	}
	return f->stream_id == 0 ? RV_ERR_INVALID_ARG : RV_OK;
}

size_t rv_frame_encoded_len(const struct rv_frame *f)
{
	size_t body;

	if (rv_frame_check(f, &body) != RV_OK)
		return 0;
	return RV_FRAME_HDR_LEN + body;
}

int rv_frame_encode(struct rv_buf *out, const struct rv_frame *f)
{
	uint8_t *p, *start;
	size_t body;
	int r;

	if (out == NULL)
		return RV_ERR_INVALID_ARG;
	r = rv_frame_check(f, &body);
	if (r != RV_OK)
		return r;
	r = rv_buf_reserve(out, RV_FRAME_HDR_LEN + body, &p);
	if (r != RV_OK)
		return r;
	start = p;
	*p++ = (uint8_t)f->type;
	p = rv_frame_wr16(p, (uint16_t)body);
	switch (f->type) {
	case RV_FRAME_PROXY_CONNECT:
		p = rv_frame_wr32(p, f->stream_id);
		p = rv_frame_wr32(p, f->u.connect.window);
		p = rv_frame_wr16(p, f->u.connect.addr.port);
		p = rv_frame_addr_encode(p, &f->u.connect.addr);
		break;
	case RV_FRAME_PROXY_RESPONSE:
		p = rv_frame_wr32(p, f->stream_id);
		*p++ = (uint8_t)f->u.response.status;
		p = rv_frame_wr16(p, f->u.response.bound.port);
		p = rv_frame_addr_encode(p, &f->u.response.bound);
		break;
	case RV_FRAME_PROXY_DATA:
		p = rv_frame_wr32(p, f->stream_id);
		memcpy(p, f->u.data.data, f->u.data.len);
		p += f->u.data.len;
		break;
	case RV_FRAME_PROXY_FIN:
		p = rv_frame_wr32(p, f->stream_id);
		break;
	case RV_FRAME_PROXY_RESET:
		p = rv_frame_wr32(p, f->stream_id);
		*p++ = (uint8_t)f->u.reset.reason;
		break;
	case RV_FRAME_WINDOW_UPDATE:
		p = rv_frame_wr32(p, f->stream_id);
		p = rv_frame_wr32(p, f->u.window_update.credit);
		break;
	case RV_FRAME_PING:
	case RV_FRAME_PONG:
		p = rv_frame_wr64(p, f->u.ping.opaque);
		break;
	case RV_FRAME_GOAWAY:
		p = rv_frame_wr32(p, f->u.goaway.last_stream);
		*p++ = (uint8_t)f->u.goaway.reason;
		break;
	case RV_FRAME_DATAGRAM:
		p = rv_frame_wr32(p, f->u.datagram.assoc);
		p = rv_frame_wr16(p, f->u.datagram.addr.port);
		p = rv_frame_addr_encode(p, &f->u.datagram.addr);
		if (f->u.datagram.len > 0)
			memcpy(p, f->u.datagram.data, f->u.datagram.len);
		p += f->u.datagram.len;
		break;
	case RV_FRAME_DATAGRAM_CLOSE:
		p = rv_frame_wr32(p, f->u.datagram_close.assoc);
		*p++ = (uint8_t)f->u.datagram_close.reason;
		break;
	default:
		break;
	}
	if ((size_t)(p - start) != RV_FRAME_HDR_LEN + body) {
		rv_buf_unput(out, RV_FRAME_HDR_LEN + body);
		return RV_ERR_INTERNAL;
	}
	return RV_OK;
}
