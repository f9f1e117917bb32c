/* fuzz_ctl_request.c - libFuzzer target for the status service's request
 * parsers (common/ctl/rv_ctl_req.c).  Input byte 0 picks the parser (even:
 * control line, odd: HTTP head); the rest is the request.  Checks: the
 * input is never changed; a result is NEED_MORE, MALFORMED or a length
 * within the input and the limit with a known request; every prefix of a
 * complete request needs more (or is already malformed) and never parses
 * to something else; NEED_MORE only below the limit. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rv_ctl.h"
#include "rv_err.h"

static void fz_check(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int (*parse)(const uint8_t *, size_t, enum rv_ctl_request *);
	enum rv_ctl_request req = RV_CTL_REQ_INVALID, req2;
	size_t limit, i;
	uint8_t *copy;
	int r, r2;

	if (size < 1)
		return 0;
	parse = (data[0] & 1) ? rv_ctl_parse_http : rv_ctl_parse_request;
	limit = (data[0] & 1) ? RV_CTL_HTTP_REQ_MAX : RV_CTL_REQ_MAX;
	data++;
	size--;
	copy = malloc(size + 1);
	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	r = parse(copy, size, &req);
	fz_check(memcmp(copy, data, size) == 0);
	if (r == RV_ERR_NEED_MORE) {
		fz_check(size < limit);
	} else if (r != RV_ERR_MALFORMED) {
		fz_check(r > 0 && (size_t)r <= size && (size_t)r <= limit);
		fz_check(req == RV_CTL_REQ_STATUS || req == RV_CTL_REQ_STATUS_JSON ||
			 req == RV_CTL_REQ_METRICS || req == RV_CTL_REQ_NOT_FOUND);
		fz_check(copy[r - 1] == '\n');
		/* Every prefix of it needs more; the request alone gives the same. */
		for (i = 0; i < (size_t)r; i++) {
			req2 = RV_CTL_REQ_INVALID;
			r2 = parse(copy, i, &req2);
			fz_check(r2 == RV_ERR_NEED_MORE && req2 == RV_CTL_REQ_INVALID);
		}
		r2 = parse(copy, (size_t)r, &req2);
		fz_check(r2 == r && req2 == req);
	}
	free(copy);
	return 0;
}
