/* rv_socks5_udp.h - the SOCKS5 UDP request header (RFC 1928 §7) that
 * wraps every datagram between a SOCKS5 client and the UDP relay of a
 * UDP ASSOCIATE:
 *
 *   RSV u16 = 0 | FRAG u8 | ATYP u8 | DST.ADDR | DST.PORT u16 | DATA
 *
 * Owner: client helper.  No I/O.  The parser is three-result over rv_buf
 * like rv_socks5.c: RV_OK with the header consumed (what is left is DATA),
 * RV_ERR_NEED_MORE with the buffer unchanged (for a whole datagram: it is
 * truncated, drop it), or an error with the buffer unchanged.  We never
 * reassemble: FRAG != 0 is RV_ERR_UNSUPPORTED (RFC 1928 lets a relay that
 * does not implement fragmentation drop such datagrams).
 */
#ifndef RV_SOCKS5_UDP_H
#define RV_SOCKS5_UDP_H

#include <stddef.h>
#include <stdint.h>

#include "rv_buf.h"
#include "rv_frame.h"
#include "rv_wire.h"

enum rv_socks5_udp_limits {
	RV_SOCKS5_UDP_FIXED_LEN = 4, /* RSV RSV FRAG ATYP */
	/* The longest header: a 255-byte name. */
	RV_SOCKS5_UDP_HEADER_MAX = RV_SOCKS5_UDP_FIXED_LEN + 1 + RV_DOMAIN_MAX + 2,
	/* The largest UDP payload over IPv4/IPv6 (65535 - 8 - 20). */
	RV_SOCKS5_UDP_PAYLOAD_MAX = 65507,
};

/* RV_OK: *dst is the destination (IPv4, IPv6 or a name of 1..255 bytes
 * without NUL), the header is consumed.  RV_ERR_NEED_MORE: shorter than
 * its header.  RV_ERR_MALFORMED: RSV not 0, empty name, NUL in the name.
 * RV_ERR_UNSUPPORTED: FRAG != 0 (*frag says which) or an unknown ATYP.
 * frag may be NULL. */
int rv_socks5_udp_parse(struct rv_buf *in, struct rv_addr *dst, uint8_t *frag);
/* Appends the header for a datagram from src (FRAG 0); out unchanged on
 * failure (RV_ERR_NO_SPACE / RV_ERR_INVALID_ARG for a bad address). */
int rv_socks5_udp_build(struct rv_buf *out, const struct rv_addr *src);

#endif
