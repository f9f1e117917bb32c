/* rv_socks5_addr.h - private: the SOCKS5 address (ATYP-typed DST.ADDR and
 * DST.PORT, RFC 1928 §4/§7) shared by the request parser (rv_socks5.c) and
 * the UDP header parser (rv_socks5_udp.c).  Not for use outside
 * common/proxy/.  Owner: proxy helper. */
#ifndef RV_SOCKS5_ADDR_H
#define RV_SOCKS5_ADDR_H

#include <stddef.h>
#include <stdint.h>

#include "rv_buf.h"
#include "rv_frame.h"

/* Read the address of type atyp that starts at offset off of in, without
 * consuming anything.  RV_OK: *dst holds it and *len its length on the
 * wire (address and port).  Else *dst and *len are unchanged:
 * RV_ERR_NEED_MORE (not all there yet), RV_ERR_MALFORMED (an empty name
 * or a NUL in it), RV_ERR_UNSUPPORTED (unknown atyp). */
int rv_socks5_addr_parse(const struct rv_buf *in, size_t off, uint8_t atyp, struct rv_addr *dst,
			 size_t *len);

#endif
