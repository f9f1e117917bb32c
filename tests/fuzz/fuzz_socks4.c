/* fuzz_socks4.c - libFuzzer target for the SOCKS4 / SOCKS4a request parser
 * (owner: proxy helper).  Input byte 0 is the segment length for an
 * incremental feed (0 = all at once), the rest is the request.  Checks:
 * failures other than UNSUPPORTED leave the input unchanged, RV_OK results
 * are well-formed and round-trip into a reply, and feeding in segments
 * gives the same result and consumption as parsing the whole at once. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rv_addr.h"
#include "rv_buf.h"
#include "rv_err.h"
#include "rv_socks4.h"

static void fz_check(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rv_socks4_request req, req2;
	enum rv_status rep, rep2;
	struct rv_buf in, out;
	const char *why = NULL;
	size_t seg, off = 0, left;
	int ret, ret2 = RV_ERR_NEED_MORE;

	if (size < 1)
		return 0;
	seg = data[0];
	data++;
	size--;

	rv_buf_init_view(&in, data, size);
	ret = rv_socks4_parse_request(&in, &req, &rep, &why);
	left = rv_buf_len(&in);
	if (ret == RV_OK) {
		fz_check(rep == RV_STATUS_OK);
		fz_check(rv_addr_check(&req.dst) == RV_OK);
		fz_check(req.userid_len <= RV_SOCKS4_USERID_MAX &&
			 strlen(req.userid) == req.userid_len);
		if (req.is_4a)
			fz_check(req.dst.atyp == RV_ATYP_DOMAIN && req.dst.domain_len > 0 &&
				 strlen(req.dst.domain) == req.dst.domain_len);
		else
			fz_check(req.dst.atyp == RV_ATYP_IPV4);
		fz_check(size - left <= RV_SOCKS4_REQUEST_MAX);
		rv_buf_init(&out, RV_SOCKS4_REPLY_LEN);
		fz_check(rv_socks4_build_reply(&out, rep, &req.dst) == RV_OK);
		fz_check(rv_buf_len(&out) == RV_SOCKS4_REPLY_LEN && rv_buf_ptr(&out)[1] == 90);
		rv_buf_cleanup(&out);
	} else if (ret == RV_ERR_UNSUPPORTED) {
		fz_check(rep == RV_STATUS_COMMAND_NOT_SUPPORTED && why != NULL);
		fz_check(size - left <= RV_SOCKS4_REQUEST_MAX);
	} else {
		fz_check(left == size);
		if (ret != RV_ERR_NEED_MORE)
			fz_check(why != NULL && rep != RV_STATUS_OK);
		else
			fz_check(size < RV_SOCKS4_REQUEST_MAX);
	}

	/* The same bytes in segments of seg. */
	rv_buf_init(&in, 1 << 16);
	while (off < size && ret2 == RV_ERR_NEED_MORE) {
		size_t n = seg == 0 ? size - off : seg;

		if (n > size - off)
			n = size - off;
		fz_check(rv_buf_put(&in, data + off, n) == RV_OK);
		off += n;
		ret2 = rv_socks4_parse_request(&in, &req2, &rep2, NULL);
	}
	if (size == 0)
		ret2 = ret;
	fz_check(ret2 == ret);
	if (ret == RV_OK || ret == RV_ERR_UNSUPPORTED)
		fz_check(size - left == off - rv_buf_len(&in));
	if (ret == RV_OK)
		fz_check(memcmp(&req.dst, &req2.dst, sizeof(req.dst)) == 0);
	rv_buf_cleanup(&in);
	return 0;
}
