/* rv_socks5_udp.c - the SOCKS5 UDP request header (see rv_socks5_udp.h). */
#include "rv_socks5_udp.h"

#include <string.h>

#include "rv_err.h"
#include "rv_socks5_addr.h"

int rv_socks5_udp_parse(struct rv_buf *in, struct rv_addr *dst, uint8_t *frag)
{
	uint8_t fixed[RV_SOCKS5_UDP_FIXED_LEN];
	size_t addr_len;
	struct rv_addr a;
	int ret;

	if ((ret = rv_buf_peek(in, 0, fixed, sizeof(fixed))) != RV_OK)
		return ret;
	if (frag != NULL)
		*frag = fixed[2];
	if (fixed[0] != 0 || fixed[1] != 0)
		return RV_ERR_MALFORMED;
	if ((ret = rv_socks5_addr_parse(in, RV_SOCKS5_UDP_FIXED_LEN, fixed[3], &a, &addr_len)) !=
	    RV_OK)
		return ret;
	/* Known length, valid address: only now refuse a fragment. */
	if (fixed[2] != 0)
		return RV_ERR_UNSUPPORTED;
	*dst = a;
	return rv_buf_consume(in, RV_SOCKS5_UDP_FIXED_LEN + addr_len);
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
