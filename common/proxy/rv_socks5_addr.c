/* rv_socks5_addr.c - the SOCKS5 address (see rv_socks5_addr.h). */
#include "rv_socks5_addr.h"

#include <string.h>

#include "rv_err.h"

int rv_socks5_addr_parse(const struct rv_buf *in, size_t off, uint8_t atyp, struct rv_addr *dst,
			 size_t *len)
{
	uint8_t dlen = 0;
	size_t addr_len;
	struct rv_addr a;
	const uint8_t *p;
	int ret;

	switch (atyp) {
	case RV_ATYP_IPV4:
		addr_len = 4;
		break;
	case RV_ATYP_IPV6:
		addr_len = 16;
		break;
	case RV_ATYP_DOMAIN:
		if ((ret = rv_buf_peek_u8(in, off, &dlen)) != RV_OK)
			return ret;
		if (dlen == 0)
			return RV_ERR_MALFORMED;
		addr_len = 1 + (size_t)dlen;
		break;
	default:
		return RV_ERR_UNSUPPORTED;
	}
	if (rv_buf_len(in) < off + addr_len + 2)
		return RV_ERR_NEED_MORE;
	p = rv_buf_ptr(in) + off;
	if (atyp == RV_ATYP_DOMAIN && memchr(p + 1, '\0', dlen) != NULL)
		return RV_ERR_MALFORMED;
	memset(&a, 0, sizeof(a));
	a.atyp = (enum rv_atyp)atyp;
	if (atyp == RV_ATYP_DOMAIN) {
		memcpy(a.domain, p + 1, dlen);
		a.domain[dlen] = '\0';
		a.domain_len = dlen;
	} else {
		memcpy(a.ip, p, addr_len);
	}
	a.port = (uint16_t)(((unsigned)p[addr_len] << 8) | p[addr_len + 1]);
	*dst = a;
	*len = addr_len + 2;
	return RV_OK;
}
