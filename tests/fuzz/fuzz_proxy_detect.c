/* fuzz_proxy_detect.c - libFuzzer target for protocol detection on the
 * mixed -D port (owner: proxy helper).  Checks: the input is never changed,
 * NEED_MORE only below RV_PROXY_DETECT_MAX bytes, the decision is stable
 * as more bytes arrive (every prefix that decides agrees with the whole),
 * and the kind matches the first byte. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rv_buf.h"
#include "rv_err.h"
#include "rv_proxy_detect.h"

static void fz_check(int cond)
{
	if (!cond)
		abort();
}

static int fz_detect(const uint8_t *data, size_t size, enum rv_proxy_kind *kind)
{
	struct rv_buf in;
	const char *why = NULL;
	int ret;

	rv_buf_init_view(&in, data, size);
	ret = rv_proxy_detect(&in, kind, &why);
	fz_check(rv_buf_len(&in) == size);
	fz_check(ret == RV_OK || ret == RV_ERR_NEED_MORE || ret == RV_ERR_UNSUPPORTED);
	if (ret == RV_ERR_NEED_MORE)
		fz_check(size < RV_PROXY_DETECT_MAX);
	if (ret == RV_ERR_UNSUPPORTED)
		fz_check(why != NULL && *kind == RV_PROXY_KIND_UNKNOWN);
	if (ret == RV_OK)
		fz_check(*kind != RV_PROXY_KIND_UNKNOWN);
	fz_check(rv_proxy_kind_str(*kind) != NULL);
	return ret;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum rv_proxy_kind whole, k;
	int ret_whole, ret;
	size_t cut;

	ret_whole = fz_detect(data, size, &whole);
	if (ret_whole == RV_OK) {
		if (data[0] == 5)
			fz_check(whole == RV_PROXY_KIND_SOCKS5);
		else if (data[0] == 4)
			fz_check(whole == RV_PROXY_KIND_SOCKS4);
		else
			fz_check(whole == RV_PROXY_KIND_HTTP && memchr(data, ' ', size) != NULL);
	}
	for (cut = 0; cut < size && cut <= RV_PROXY_DETECT_MAX; cut++) {
		ret = fz_detect(data, cut, &k);
		if (ret != RV_ERR_NEED_MORE) {
			fz_check(ret == ret_whole && k == whole);
			break;
		}
	}
	return 0;
}
