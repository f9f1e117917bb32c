/* fuzz_httpreq.c - libFuzzer target for the decoy's HTTP request judge
 * (rv_httpreq.c, owner: server helper).  The whole input is judged at once,
 * then fed in segments (length from byte 0) as the server feeds what
 * arrives.  Checks: NEED_MORE leaves the input unchanged, RV_OK consumes
 * within bounds and gives a known verdict, feeding in pieces reaches the
 * same verdict as feeding at once, and a head at the cap never needs more. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rv_buf.h"
#include "rv_err.h"
#include "rv_httpreq.h"

static void fz_check(int cond)
{
	if (!cond)
		abort();
}

static int fz_known(enum rv_httpreq_verdict v)
{
	return v == RV_HTTPREQ_BAD_REQUEST || v == RV_HTTPREQ_NOT_FOUND ||
	       v == RV_HTTPREQ_NOT_ALLOWED || v == RV_HTTPREQ_URI_TOO_LONG ||
	       v == RV_HTTPREQ_VERSION_NOT_SUPPORTED;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum rv_httpreq_verdict whole = RV_HTTPREQ_VERDICT_NONE, piece = RV_HTTPREQ_VERDICT_NONE;
	struct rv_buf in, acc;
	size_t seg, off = 0, n;
	int r, rw;

	if (size < 1)
		return 0;
	seg = data[0] != 0 ? data[0] : 1;
	data++;
	size--;
	if (size > RV_HTTPREQ_HEAD_MAX)
		size = RV_HTTPREQ_HEAD_MAX;
	rv_buf_init_view(&in, data, size);
	rw = rv_httpreq_judge(&in, &whole);
	if (rw == RV_ERR_NEED_MORE)
		fz_check(rv_buf_len(&in) == size && size < RV_HTTPREQ_HEAD_MAX);
	else
		fz_check(rw == RV_OK && fz_known(whole) && rv_buf_len(&in) <= size);
	rv_buf_cleanup(&in);
	/* The same bytes as they might arrive. */
	rv_buf_init(&acc, RV_HTTPREQ_HEAD_MAX);
	r = RV_ERR_NEED_MORE;
	while (r == RV_ERR_NEED_MORE && off < size) {
		n = size - off < seg ? size - off : seg;
		fz_check(rv_buf_put(&acc, data + off, n) == RV_OK);
		off += n;
		r = rv_httpreq_judge(&acc, &piece);
		if (r == RV_ERR_NEED_MORE)
			fz_check(rv_buf_len(&acc) == off);
	}
	if (rw == RV_OK) {
		/* A verdict on a prefix is final: more bytes never change it. */
		fz_check(r == RV_OK && piece == whole);
	}
	rv_buf_cleanup(&acc);
	return 0;
}
