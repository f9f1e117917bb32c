/* rv_socks5_udp.c - the SOCKS5 UDP request header (see rv_socks5_udp.h). */
#include "rv_socks5_udp.h"

#include <string.h>

#include "rv_err.h"

int rv_socks5_udp_parse(struct rv_buf *in, struct rv_addr *dst, uint8_t *frag)
{
	uint8_t fixed[RV_SOCKS5_UDP_FIXED_LEN], dlen = 0;
	size_t addr_len, total;
	struct rv_addr a;
	const uint8_t *p;
	int ret;

	if ((ret = rv_buf_peek(in, 0, fixed, sizeof(fixed))) != RV_OK)
		return ret;
	if (frag != NULL)
		*frag = fixed[2];
	if (fixed[0] != 0 || fixed[1] != 0)
		return RV_ERR_MALFORMED;
	switch (fixed[3]) {
	case RV_ATYP_IPV4:
		addr_len = 4;
		break;
	case RV_ATYP_IPV6:
		addr_len = 16;
		break;
	case RV_ATYP_DOMAIN:
		if ((ret = rv_buf_peek_u8(in, RV_SOCKS5_UDP_FIXED_LEN, &dlen)) != RV_OK)
			return ret;
		if (dlen == 0)
			return RV_ERR_MALFORMED;
		addr_len = 1 + (size_t)dlen;
		break;
	default:
		return RV_ERR_UNSUPPORTED;
	}
	total = RV_SOCKS5_UDP_FIXED_LEN + addr_len + 2;
	if (rv_buf_len(in) < total)
		return RV_ERR_NEED_MORE;
	p = rv_buf_ptr(in) + RV_SOCKS5_UDP_FIXED_LEN;
	if (fixed[3] == RV_ATYP_DOMAIN && memchr(p + 1, '\0', dlen) != NULL)
		return RV_ERR_MALFORMED;
	/* Known length, valid address: only now refuse a fragment. */
	if (fixed[2] != 0)
		return RV_ERR_UNSUPPORTED;
	memset(&a, 0, sizeof(a));
	a.atyp = (enum rv_atyp)fixed[3];
	if (a.atyp == RV_ATYP_DOMAIN) {
		memcpy(a.domain, p + 1, dlen);
		a.domain[dlen] = '\0';
		a.domain_len = dlen;
	} else {
		memcpy(a.ip, p, addr_len);
	}
	a.port = (uint16_t)(((unsigned)p[addr_len] << 8) | p[addr_len + 1]);
	*dst = a;
	return rv_buf_consume(in, total);
}

int rv_socks5_udp_build(struct rv_buf *out, const struct rv_addr *src)
{
	uint8_t msg[RV_SOCKS5_UDP_HEADER_MAX];
	size_t n = 0, alen;

	if (src == NULL)
		return RV_ERR_INVALID_ARG;
	msg[n++] = 0;
	msg[n++] = 0;
	msg[n++] = 0; /* FRAG: we never fragment */
	switch (src->atyp) {
	case RV_ATYP_IPV4:
	case RV_ATYP_IPV6:
		alen = src->atyp == RV_ATYP_IPV4 ? 4 : 16;
		msg[n++] = (uint8_t)src->atyp;
		memcpy(msg + n, src->ip, alen);
		n += alen;
		break;
	case RV_ATYP_DOMAIN:
		if (src->domain_len == 0)
			return RV_ERR_INVALID_ARG;
		msg[n++] = RV_ATYP_DOMAIN;
		msg[n++] = src->domain_len;
		memcpy(msg + n, src->domain, src->domain_len);
		n += src->domain_len;
		break;
	default:
		return RV_ERR_INVALID_ARG;
	}
	msg[n++] = (uint8_t)(src->port >> 8);
	msg[n++] = (uint8_t)(src->port & 0xff);
	return rv_buf_put(out, msg, n);
}
