/* fuzz_socks5_udp.c - libFuzzer target for the SOCKS5 UDP request header
 * (common/proxy/rv_socks5_udp.c; owner: client helper).  The input is one
 * datagram as a SOCKS5 client would send it to the UDP relay.  Checks:
 * anything but RV_OK leaves the buffer unchanged; RV_OK consumes exactly
 * the header, gives a valid address (FRAG 0), and the header rebuilt from
 * that address is byte for byte the one parsed; every strict prefix of an
 * accepted header needs more. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rv_buf.h"
#include "rv_err.h"
#include "rv_socks5_udp.h"

static void fz_check(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rv_buf in, out;
	struct rv_addr a, b;
	uint8_t frag = 0xff;
	size_t hdr, cut;
	int ret;

	rv_buf_init_view(&in, data, size);
	ret = rv_socks5_udp_parse(&in, &a, &frag);
	if (ret != RV_OK) {
		fz_check(rv_buf_len(&in) == size);
		fz_check(ret == RV_ERR_NEED_MORE || ret == RV_ERR_MALFORMED ||
			 ret == RV_ERR_UNSUPPORTED);
		rv_buf_cleanup(&in);
		return 0;
	}
	hdr = size - rv_buf_len(&in);
	fz_check(frag == 0);
	/* Shortest: a one-byte name (len, name, port). */
	fz_check(hdr >= RV_SOCKS5_UDP_FIXED_LEN + 1 + 1 + 2 && hdr <= RV_SOCKS5_UDP_HEADER_MAX);
	fz_check(a.atyp == RV_ATYP_IPV4 || a.atyp == RV_ATYP_IPV6 || a.atyp == RV_ATYP_DOMAIN);
	if (a.atyp == RV_ATYP_DOMAIN)
		fz_check(a.domain_len > 0 && strlen(a.domain) == a.domain_len);
	rv_buf_init(&out, RV_SOCKS5_UDP_HEADER_MAX);
	fz_check(rv_socks5_udp_build(&out, &a) == RV_OK);
	fz_check(rv_buf_len(&out) == hdr && memcmp(rv_buf_ptr(&out), data, hdr) == 0);
	fz_check(rv_socks5_udp_parse(&out, &b, NULL) == RV_OK && rv_buf_len(&out) == 0);
	fz_check(b.port == a.port && b.atyp == a.atyp);
	rv_buf_cleanup(&out);
	for (cut = 0; cut < hdr; cut++) {
		struct rv_buf p;

		rv_buf_init_view(&p, data, cut);
		fz_check(rv_socks5_udp_parse(&p, &b, NULL) == RV_ERR_NEED_MORE);
		fz_check(rv_buf_len(&p) == cut);
		rv_buf_cleanup(&p);
	}
	rv_buf_cleanup(&in);
	return 0;
}
