/* fuzz_http_proxy.c - libFuzzer target for the HTTP proxy parsers (owner:
 * proxy helper).  Input byte 0 picks the parser (low 2 bits: 0 request
 * head, 1 chunked body, 2 response head, 3 Content-Length body) and, in
 * the high 6 bits, a segment length for an incremental feed (0 = whole).
 * For responses byte 1 gives the request flags.
 *
 * Checks: scanners never change their input; NEED_MORE leaves a request
 * buffer unchanged; whole and segmented feeds agree (result, bytes); after
 * a request head the rest is scanned as its body; and the forwarding
 * rewrite of any accepted absolute request parses again with the same
 * method and the same body framing (so we and the origin agree on where
 * the request ends). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rv_buf.h"
#include "rv_err.h"
#include "rv_http_proxy.h"

static struct rv_http_request fz_req, fz_req2, fz_fwd;

static void fz_check(int cond)
{
	if (!cond)
		abort();
}

static void fz_check_status(int ret, int status)
{
	if (ret == RV_OK || ret == RV_ERR_NEED_MORE)
		fz_check(status == 0);
	else
		fz_check(rv_http_reason(status) != NULL && status >= 400);
}

/* The origin-form head we would send parses again and frames the body the
 * same way. */
static void fz_check_forward(const struct rv_http_request *req)
{
	struct rv_buf out;
	size_t len;
	int ret;

	rv_buf_init(&out, 2 * RV_HTTP_HEAD_MAX);
	fz_check(rv_http_build_forward_head(&out, req, req->framing == RV_HTTP_BODY_NONE ?
							     RV_HTTP_FWD_CLOSE : 0) == RV_OK);
	len = rv_buf_len(&out);
	rv_http_request_init(&fz_fwd);
	ret = rv_http_parse_request(&out, &fz_fwd, NULL);
	if (ret == RV_ERR_LIMIT) {
		/* Host and Connection added: the rewrite may cross a limit. */
		fz_check(len > RV_HTTP_HEAD_MAX || req->n_fields + 2 > RV_HTTP_HEADERS_MAX);
	} else {
		fz_check(ret == RV_OK);
		fz_check(fz_fwd.target == RV_HTTP_TARGET_ORIGIN);
		fz_check(strcmp(fz_fwd.method, req->method) == 0);
		fz_check(fz_fwd.framing == req->framing);
		fz_check(fz_fwd.content_length == req->content_length);
		fz_check(fz_fwd.version_minor == req->version_minor);
		fz_check(rv_buf_len(&out) == 0);
	}
	rv_buf_cleanup(&out);
}

static void fz_body_rest(struct rv_buf *in, enum rv_http_framing f, uint64_t len)
{
	struct rv_http_body b;
	size_t pass;
	int ret;

	rv_http_body_init(&b, f, len);
	ret = rv_http_body_scan(&b, in, &pass, NULL);
	fz_check(pass <= rv_buf_len(in));
	if (ret == RV_ERR_NEED_MORE)
		fz_check(pass == rv_buf_len(in));
}

static void fz_request(const uint8_t *data, size_t size, size_t seg)
{
	struct rv_buf in;
	const char *why = NULL;
	size_t off = 0, used1, used2 = 0;
	int ret, ret2 = RV_ERR_NEED_MORE;

	rv_buf_init_view(&in, data, size);
	rv_http_request_init(&fz_req);
	ret = rv_http_parse_request(&in, &fz_req, &why);
	used1 = size - rv_buf_len(&in);
	fz_check_status(ret, fz_req.status);
	if (ret != RV_OK) {
		fz_check(used1 == 0);
		if (ret != RV_ERR_NEED_MORE)
			fz_check(why != NULL);
	} else {
		fz_check(used1 == fz_req.head_len && used1 <= RV_HTTP_HEAD_MAX);
		fz_check(fz_req.n_fields <= RV_HTTP_HEADERS_MAX);
		fz_check(fz_req.method_len > 0 && strlen(fz_req.method) == fz_req.method_len);
		fz_check(fz_req.framing != RV_HTTP_BODY_CLOSE && fz_req.framing != RV_HTTP_BODY_TUNNEL);
		fz_check(fz_req.auth_user_len <= RV_HTTP_CRED_MAX &&
			 fz_req.auth_pass_len <= RV_HTTP_CRED_MAX);
		if (fz_req.target == RV_HTTP_TARGET_ABSOLUTE)
			fz_check_forward(&fz_req);
		else
			fz_check(fz_req.target == RV_HTTP_TARGET_CONNECT ||
				 fz_req.target == RV_HTTP_TARGET_ORIGIN);
		if (fz_req.target != RV_HTTP_TARGET_ORIGIN)
			fz_check(fz_req.dst.atyp != RV_ATYP_INVALID && fz_req.dst.port > 0);
		(void)rv_http_auth_match(&fz_req, "user", 4, "password", 8);
		fz_body_rest(&in, fz_req.framing, fz_req.content_length);
	}

	rv_buf_init(&in, 1 << 20);
	rv_http_request_init(&fz_req2);
	while (off < size && ret2 == RV_ERR_NEED_MORE) {
		size_t n = seg == 0 ? size - off : seg;

		if (n > size - off)
			n = size - off;
		fz_check(rv_buf_put(&in, data + off, n) == RV_OK);
		off += n;
		used2 = rv_buf_len(&in);
		ret2 = rv_http_parse_request(&in, &fz_req2, NULL);
		if (ret2 != RV_OK)
			fz_check(rv_buf_len(&in) == used2);
		used2 -= rv_buf_len(&in);
	}
	if (size == 0)
		ret2 = ret;
	fz_check(ret2 == ret);
	if (ret == RV_OK)
		fz_check(used2 == used1 && fz_req2.framing == fz_req.framing &&
			 fz_req2.content_length == fz_req.content_length);
	else if (ret != RV_ERR_NEED_MORE)
		fz_check(fz_req2.status == fz_req.status);
	rv_http_request_wipe(&fz_req2);
	rv_buf_cleanup(&in);
}

/* Whole vs segmented body scan: same result, same bytes passed. */
static void fz_body(const uint8_t *data, size_t size, size_t seg, enum rv_http_framing f,
		    uint64_t len)
{
	struct rv_http_body b;
	struct rv_buf in;
	size_t pass, total1, total2 = 0, off = 0;
	int ret, ret2 = RV_ERR_NEED_MORE;

	rv_buf_init_view(&in, data, size);
	rv_http_body_init(&b, f, len);
	ret = rv_http_body_scan(&b, &in, &pass, NULL);
	fz_check(rv_buf_len(&in) == size && pass <= size);
	if (ret == RV_ERR_NEED_MORE)
		fz_check(pass == size);
	total1 = pass;

	rv_http_body_init(&b, f, len);
	rv_buf_init(&in, 1 << 20);
	while (off < size && ret2 == RV_ERR_NEED_MORE) {
		size_t n = seg == 0 ? size - off : seg;

		if (n > size - off)
			n = size - off;
		fz_check(rv_buf_put(&in, data + off, n) == RV_OK);
		off += n;
		ret2 = rv_http_body_scan(&b, &in, &pass, NULL);
		fz_check(pass <= rv_buf_len(&in));
		total2 += pass;
		fz_check(rv_buf_consume(&in, pass) == RV_OK);
	}
	if (size == 0)
		ret2 = ret;
	fz_check(ret2 == ret);
	fz_check(total1 == total2);
	rv_buf_cleanup(&in);
}

static void fz_response(const uint8_t *data, size_t size, size_t seg)
{
	struct rv_http_response r1, r2;
	struct rv_buf in;
	unsigned flags;
	size_t off = 0;
	int ret, ret2 = RV_ERR_NEED_MORE;

	if (size < 1)
		return;
	flags = data[0] & 3;
	data++;
	size--;
	rv_buf_init_view(&in, data, size);
	rv_http_response_init(&r1);
	ret = rv_http_parse_response(&in, &r1, flags, NULL);
	fz_check(rv_buf_len(&in) == size);
	if (ret == RV_OK) {
		fz_check(r1.head_len <= size && r1.head_len <= RV_HTTP_RESP_HEAD_MAX);
		fz_check(r1.status >= 100 && r1.status <= 599);
		if (r1.framing == RV_HTTP_BODY_CLOSE || r1.framing == RV_HTTP_BODY_TUNNEL)
			fz_check(r1.keep_alive == 0);
		if (r1.framing == RV_HTTP_BODY_TUNNEL)
			fz_check(r1.status == 101 && (flags & RV_HTTP_REQ_WAS_UPGRADE));
		if (r1.interim || (flags & RV_HTTP_REQ_WAS_HEAD))
			fz_check(r1.framing == RV_HTTP_BODY_NONE || r1.status == 101);
		fz_check(rv_buf_consume(&in, r1.head_len) == RV_OK);
		fz_body_rest(&in, r1.framing, r1.content_length);
	}

	rv_buf_init(&in, 1 << 20);
	rv_http_response_init(&r2);
	while (off < size && ret2 == RV_ERR_NEED_MORE) {
		size_t n = seg == 0 ? size - off : seg;

		if (n > size - off)
			n = size - off;
		fz_check(rv_buf_put(&in, data + off, n) == RV_OK);
		off += n;
		ret2 = rv_http_parse_response(&in, &r2, flags, NULL);
		fz_check(rv_buf_len(&in) == off);
	}
	if (size == 0)
		ret2 = ret;
	fz_check(ret2 == ret);
	if (ret == RV_OK)
		fz_check(r1.head_len == r2.head_len && r1.framing == r2.framing &&
			 r1.content_length == r2.content_length && r1.status == r2.status);
	rv_buf_cleanup(&in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t seg;

	if (size < 1)
		return 0;
	seg = data[0] >> 2;
	switch (data[0] & 3) {
	case 0:
		fz_request(data + 1, size - 1, seg);
		break;
	case 1:
		fz_body(data + 1, size - 1, seg, RV_HTTP_BODY_CHUNKED, 0);
		break;
	case 2:
		fz_response(data + 1, size - 1, seg);
		break;
	default:
		/* Content-Length body: length from the segment bits. */
		fz_body(data + 1, size - 1, seg, RV_HTTP_BODY_LENGTH, seg * 7);
		break;
	}
	return 0;
}
