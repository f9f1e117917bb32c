/* fuzz_socks5.c - libFuzzer target for the SOCKS5 server side (owner: client
 * helper).  Input byte 0 picks the config (bit 0: require auth) and how the
 * rest is cut into segments (bits 1-7: segment length, 0 = all at once);
 * the state machine is driven segment by segment, and the low-level parsers
 * are run on the whole input.  Checks: NEED_MORE leaves the input unchanged,
 * RV_OK consumes within bounds, replies stay small. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rv_buf.h"
#include "rv_err.h"
#include "rv_socks5.h"

static const struct rv_socks5_config fz_open = { 0, NULL, 0, NULL, 0, 0 };
static const struct rv_socks5_config fz_auth = { 1, "user", 4, "password", 8, 1 }; /* UDP ASSOCIATE accepted */

static void fz_check(int cond)
{
	if (!cond)
		abort();
}

typedef int (*fz_parse)(struct rv_buf *in, const struct rv_socks5_config *cfg);

static int fz_greeting(struct rv_buf *in, const struct rv_socks5_config *cfg)
{
	uint8_t m;

	return rv_socks5_parse_greeting(in, cfg, &m);
}

static int fz_auth_parse(struct rv_buf *in, const struct rv_socks5_config *cfg)
{
	int ok;
	int ret = rv_socks5_parse_auth(in, cfg, &ok);

	if (ret == RV_OK)
		fz_check(ok == 0 || ok == 1);
	return ret;
}

static int fz_request(struct rv_buf *in, const struct rv_socks5_config *cfg)
{
	struct rv_addr a;
	enum rv_status rep;
	struct rv_buf out;
	int ret;

	(void)cfg;
	ret = rv_socks5_parse_request(in, &a, &rep);
	if (ret == RV_OK) {
		fz_check(a.atyp == RV_ATYP_IPV4 || a.atyp == RV_ATYP_IPV6 ||
			 a.atyp == RV_ATYP_DOMAIN);
		if (a.atyp == RV_ATYP_DOMAIN)
			fz_check(a.domain_len > 0 && strlen(a.domain) == a.domain_len);
		/* The parsed address must round-trip through the reply builder. */
		rv_buf_init(&out, RV_SOCKS5_REPLY_MAX);
		fz_check(rv_socks5_build_reply(&out, RV_STATUS_OK, &a) == RV_OK);
		rv_buf_cleanup(&out);
	} else if (ret != RV_ERR_NEED_MORE) {
		fz_check(rep >= RV_STATUS_GENERAL_FAILURE && rep <= RV_STATUS_ATYP_NOT_SUPPORTED);
	}
	return ret;
}

static void fz_run_parser(fz_parse fn, const uint8_t *data, size_t size,
			  const struct rv_socks5_config *cfg)
{
	struct rv_buf in;
	int ret;

	rv_buf_init_view(&in, data, size);
	ret = fn(&in, cfg);
	if (ret == RV_ERR_NEED_MORE || (ret != RV_OK && ret != RV_ERR_UNSUPPORTED))
		fz_check(rv_buf_len(&in) == size);
	fz_check(rv_buf_len(&in) <= size);
	rv_buf_cleanup(&in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct rv_socks5_config *cfg;
	struct rv_socks5 s;
	struct rv_buf in, out;
	size_t seg, off = 0;
	int ret = RV_ERR_NEED_MORE;

	if (size < 1)
		return 0;
	cfg = (data[0] & 1) ? &fz_auth : &fz_open;
	seg = data[0] >> 1;
	data++;
	size--;

	fz_run_parser(fz_greeting, data, size, cfg);
	fz_run_parser(fz_auth_parse, data, size, cfg);
	fz_run_parser(fz_request, data, size, cfg);

	rv_socks5_init(&s, cfg);
	rv_buf_init(&in, 1 << 16);
	rv_buf_init(&out, 1 << 10);
	while (off < size && ret == RV_ERR_NEED_MORE) {
		size_t n = seg == 0 ? size - off : seg;

		if (n > size - off)
			n = size - off;
		fz_check(rv_buf_put(&in, data + off, n) == RV_OK);
		off += n;
		ret = rv_socks5_feed(&s, &in, &out);
		fz_check(rv_buf_len(&out) <= 4 + RV_SOCKS5_REPLY_MAX);
	}
	if (ret == RV_OK)
		fz_check(s.state == RV_SOCKS5_DONE);
	else if (ret != RV_ERR_NEED_MORE)
		fz_check(s.state == RV_SOCKS5_FAILED);
	rv_buf_cleanup(&in);
	rv_buf_cleanup(&out);
	return 0;
}
