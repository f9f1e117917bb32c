/* test_frame.c - frame codec (rv_frame.c) and wire address helpers
 * (rv_addr.c).  Owner: frames helper.
 *
 * Golden encodings pin the byte layout of every frame type; the table of
 * valid frames is then used for round trips, every truncated prefix,
 * every wrong length, back-to-back and byte-at-a-time decoding.  Every
 * rejected input must leave both the buffer and the output frame untouched.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rv_addr.h"
#include "rv_buf.h"
#include "rv_err.h"
#include "rv_frame.h"
#include "rv_wire.h"

enum { MAX_FRAMES = 64, SENTINEL = 0xa5 };

static uint8_t data_max[RV_FRAME_DATA_MAX];
static const uint8_t data_one[1] = { 0x42 };

struct frame_set {
	struct rv_frame f[MAX_FRAMES];
	size_t n;
};

static struct rv_frame *add(struct frame_set *s, enum rv_frame_type type, uint32_t id)
{
	struct rv_frame *f;

	assert_true(s->n < MAX_FRAMES);
	f = &s->f[s->n++];
	memset(f, 0, sizeof(*f));
	f->type = type;
	f->stream_id = id;
	return f;
}

static void addr_v4(struct rv_addr *a, uint8_t a0, uint8_t a1, uint8_t a2, uint8_t a3,
		    uint16_t port)
{
	const uint8_t ip[4] = { a0, a1, a2, a3 };

	rv_addr_set_ipv4(a, ip, port);
}

static void addr_v6(struct rv_addr *a, uint8_t last, uint16_t port)
{
	uint8_t ip[16] = { 0x20, 0x01, 0x0d, 0xb8 };

	ip[15] = last;
	rv_addr_set_ipv6(a, ip, port);
}

static void addr_domain_n(struct rv_addr *a, size_t n, uint16_t port)
{
	char name[RV_DOMAIN_MAX];
	size_t i;

	for (i = 0; i < n; i++)
		name[i] = (char)('a' + i % 26);
	assert_int_equal(rv_addr_set_domain(a, name, n, port), RV_OK);
}

/* Every frame type, every address type, boundary values of every field. */
static void valid_frames(struct frame_set *s)
{
	struct rv_frame *f;

	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < sizeof(data_max); i++)
		data_max[i] = (uint8_t)(i * 7 + 1);

	f = add(s, RV_FRAME_PROXY_CONNECT, 1);
	f->u.connect.window = RV_STREAM_WINDOW_DEFAULT;
	addr_v4(&f->u.connect.addr, 127, 0, 0, 1, 80);
	f = add(s, RV_FRAME_PROXY_CONNECT, 0xffffffffu);
	f->u.connect.window = 1;
	addr_v6(&f->u.connect.addr, 1, 65535);
	f = add(s, RV_FRAME_PROXY_CONNECT, 7);
	f->u.connect.window = RV_STREAM_WINDOW_MAX;
	addr_domain_n(&f->u.connect.addr, 1, 0);
	f = add(s, RV_FRAME_PROXY_CONNECT, 8);
	f->u.connect.window = 65536;
	addr_domain_n(&f->u.connect.addr, RV_DOMAIN_MAX, 443);
	f = add(s, RV_FRAME_PROXY_CONNECT, 9);
	f->u.connect.window = 4096;
	assert_int_equal(rv_addr_set_domain(&f->u.connect.addr, "example.com", 11, 443), RV_OK);

	for (unsigned st = RV_STATUS_OK; st <= RV_STATUS_ATYP_NOT_SUPPORTED; st++) {
		f = add(s, RV_FRAME_PROXY_RESPONSE, 1 + st);
		f->u.response.status = (enum rv_status)st;
		addr_v4(&f->u.response.bound, 0, 0, 0, 0, 0);
	}
	f = add(s, RV_FRAME_PROXY_RESPONSE, 3);
	addr_v6(&f->u.response.bound, 9, 40000);
	f = add(s, RV_FRAME_PROXY_RESPONSE, 4);
	addr_domain_n(&f->u.response.bound, 1, 1);
	f = add(s, RV_FRAME_PROXY_RESPONSE, 5);
	addr_domain_n(&f->u.response.bound, RV_DOMAIN_MAX, 2);

	f = add(s, RV_FRAME_PROXY_DATA, 1);
	f->u.data.data = data_one;
	f->u.data.len = 1;
	f = add(s, RV_FRAME_PROXY_DATA, 0x80000000u);
	f->u.data.data = data_max;
	f->u.data.len = RV_FRAME_DATA_MAX;
	f = add(s, RV_FRAME_PROXY_DATA, 2);
	f->u.data.data = data_max;
	f->u.data.len = 1000;

	add(s, RV_FRAME_PROXY_FIN, 1);
	add(s, RV_FRAME_PROXY_FIN, 0xffffffffu);

	for (unsigned r = RV_RESET_PROTOCOL_ERROR; r <= RV_RESET_REFUSED_STREAM; r++) {
		f = add(s, RV_FRAME_PROXY_RESET, 100 + r);
		f->u.reset.reason = (enum rv_reset_reason)r;
	}

	f = add(s, RV_FRAME_WINDOW_UPDATE, 1);
	f->u.window_update.credit = 1;
	f = add(s, RV_FRAME_WINDOW_UPDATE, 2);
	f->u.window_update.credit = RV_STREAM_WINDOW_MAX;

	f = add(s, RV_FRAME_PING, 0);
	f->u.ping.opaque = 0;
	f = add(s, RV_FRAME_PING, 0);
	f->u.ping.opaque = UINT64_MAX;
	f = add(s, RV_FRAME_PONG, 0);
	f->u.ping.opaque = 0x0102030405060708ull;

	for (unsigned r = RV_GOAWAY_SHUTDOWN; r <= RV_GOAWAY_REVOKED; r++) {
		f = add(s, RV_FRAME_GOAWAY, 0);
		f->u.goaway.reason = (enum rv_goaway_reason)r;
		f->u.goaway.last_stream = r == 1 ? 0 : 0xffffffffu - r;
	}
}

static void assert_addr_equal(const struct rv_addr *a, const struct rv_addr *b)
{
	assert_int_equal(a->atyp, b->atyp);
	assert_int_equal(a->port, b->port);
	assert_true(rv_addr_equal(a, b));
	if (a->atyp == RV_ATYP_DOMAIN) {
		assert_int_equal(a->domain_len, b->domain_len);
		assert_memory_equal(a->domain, b->domain, a->domain_len);
		assert_int_equal(b->domain[b->domain_len], 0);
	}
}

static void assert_frame_equal(const struct rv_frame *a, const struct rv_frame *b)
{
	assert_int_equal(a->type, b->type);
	assert_int_equal(a->stream_id, b->stream_id);
	switch (a->type) {
	case RV_FRAME_PROXY_CONNECT:
		assert_int_equal(a->u.connect.window, b->u.connect.window);
		assert_addr_equal(&a->u.connect.addr, &b->u.connect.addr);
		break;
	case RV_FRAME_PROXY_RESPONSE:
		assert_int_equal(a->u.response.status, b->u.response.status);
		assert_addr_equal(&a->u.response.bound, &b->u.response.bound);
		break;
	case RV_FRAME_PROXY_DATA:
		assert_int_equal(a->u.data.len, b->u.data.len);
		assert_memory_equal(a->u.data.data, b->u.data.data, a->u.data.len);
		break;
	case RV_FRAME_PROXY_RESET:
		assert_int_equal(a->u.reset.reason, b->u.reset.reason);
		break;
	case RV_FRAME_WINDOW_UPDATE:
		assert_int_equal(a->u.window_update.credit, b->u.window_update.credit);
		break;
	case RV_FRAME_PING:
	case RV_FRAME_PONG:
		assert_true(a->u.ping.opaque == b->u.ping.opaque);
		break;
	case RV_FRAME_GOAWAY:
		assert_int_equal(a->u.goaway.last_stream, b->u.goaway.last_stream);
		assert_int_equal(a->u.goaway.reason, b->u.goaway.reason);
		break;
	default:
		break;
	}
}

/* Encode f alone; the caller frees the returned bytes. */
static uint8_t *encode_one(const struct rv_frame *f, size_t *len)
{
	struct rv_buf b;
	uint8_t *p;

	rv_buf_init(&b, RV_BUF_DEFAULT_MAX);
	assert_int_equal(rv_frame_encode(&b, f), RV_OK);
	*len = rv_buf_len(&b);
	assert_int_equal(*len, rv_frame_encoded_len(f));
	p = malloc(*len);
	assert_non_null(p);
	memcpy(p, rv_buf_ptr(&b), *len);
	rv_buf_cleanup(&b);
	return p;
}

/* Decode bytes [p, p+len) as an owned buffer and expect err with no change
 * to the buffer or the frame. */
static void expect_reject(const uint8_t *p, size_t len, int err)
{
	struct rv_buf b;
	struct rv_frame f, sentinel;
	size_t off;

	rv_buf_init(&b, RV_BUF_DEFAULT_MAX);
	/* A leading byte already consumed: the read position is not 0. */
	assert_int_equal(rv_buf_put_u8(&b, 0xee), RV_OK);
	if (len > 0)
		assert_int_equal(rv_buf_put(&b, p, len), RV_OK);
	assert_int_equal(rv_buf_consume(&b, 1), RV_OK);
	off = b.off;
	memset(&f, SENTINEL, sizeof(f));
	memcpy(&sentinel, &f, sizeof(f));
	assert_int_equal(rv_frame_decode(&b, &f), err);
	assert_int_equal(rv_buf_len(&b), len);
	assert_int_equal(b.off, off);
	if (len > 0)
		assert_memory_equal(rv_buf_ptr(&b), p, len);
	assert_memory_equal(&f, &sentinel, sizeof(f));
	rv_buf_cleanup(&b);
}

/* ---- golden encodings ------------------------------------------------ */

static void golden(const struct rv_frame *f, const uint8_t *want, size_t want_len)
{
	size_t len;
	uint8_t *got = encode_one(f, &len);
	struct rv_buf b;
	struct rv_frame d;

	assert_int_equal(len, want_len);
	assert_memory_equal(got, want, want_len);
	rv_buf_init_view(&b, want, want_len);
	assert_int_equal(rv_frame_decode(&b, &d), RV_OK);
	assert_int_equal(rv_buf_len(&b), 0);
	assert_frame_equal(f, &d);
	free(got);
}

static void test_golden(void **state)
{
	struct rv_frame f;
	(void)state;

	memset(&f, 0, sizeof(f));
	f.type = RV_FRAME_PROXY_CONNECT;
	f.stream_id = 1;
	f.u.connect.window = 0x00080000;
	addr_v4(&f.u.connect.addr, 127, 0, 0, 1, 80);
	static const uint8_t connect_v4[] = { 0x01, 0x00, 0x0f, 0, 0, 0, 1, 0x00, 0x08, 0, 0,
					      0x00, 0x50, 0x01, 127, 0, 0, 1 };
	golden(&f, connect_v4, sizeof(connect_v4));

	memset(&f, 0, sizeof(f));
	f.type = RV_FRAME_PROXY_CONNECT;
	f.stream_id = 0x01020304;
	f.u.connect.window = 0x10;
	assert_int_equal(rv_addr_set_domain(&f.u.connect.addr, "ab.c", 4, 0x1bb), RV_OK);
	static const uint8_t connect_dom[] = { 0x01, 0x00, 0x10, 1, 2, 3, 4, 0, 0, 0, 0x10,
					       0x01, 0xbb, 0x03, 0x04, 'a', 'b', '.', 'c' };
	golden(&f, connect_dom, sizeof(connect_dom));

	memset(&f, 0, sizeof(f));
	f.type = RV_FRAME_PROXY_RESPONSE;
	f.stream_id = 5;
	f.u.response.status = RV_STATUS_CONNECTION_REFUSED;
	addr_v6(&f.u.response.bound, 0x77, 0x1234);
	static const uint8_t resp_v6[] = { 0x02, 0x00, 0x18, 0, 0, 0, 5, 0x05, 0x12, 0x34, 0x04,
					   0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
					   0, 0x77 };
	golden(&f, resp_v6, sizeof(resp_v6));

	/* The example of PROTOCOL.md section 14. */
	memset(&f, 0, sizeof(f));
	f.type = RV_FRAME_PROXY_RESPONSE;
	f.stream_id = 1;
	f.u.response.status = RV_STATUS_OK;
	addr_v4(&f.u.response.bound, 127, 0, 0, 1, 40000);
	static const uint8_t resp_v4[] = { 0x02, 0x00, 0x0c, 0, 0, 0, 1, 0x00, 0x9c, 0x40, 0x01,
					   127, 0, 0, 1 };
	golden(&f, resp_v4, sizeof(resp_v4));

	memset(&f, 0, sizeof(f));
	f.type = RV_FRAME_PROXY_DATA;
	f.stream_id = 3;
	f.u.data.data = (const uint8_t *)"xyz";
	f.u.data.len = 3;
	static const uint8_t data[] = { 0x03, 0x00, 0x07, 0, 0, 0, 3, 'x', 'y', 'z' };
	golden(&f, data, sizeof(data));

	memset(&f, 0, sizeof(f));
	f.type = RV_FRAME_PROXY_FIN;
	f.stream_id = 0xdeadbeef;
	static const uint8_t fin[] = { 0x04, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xef };
	golden(&f, fin, sizeof(fin));

	memset(&f, 0, sizeof(f));
	f.type = RV_FRAME_PROXY_RESET;
	f.stream_id = 9;
	f.u.reset.reason = RV_RESET_FLOW_CONTROL;
	static const uint8_t reset[] = { 0x05, 0x00, 0x05, 0, 0, 0, 9, 0x05 };
	golden(&f, reset, sizeof(reset));

	memset(&f, 0, sizeof(f));
	f.type = RV_FRAME_WINDOW_UPDATE;
	f.stream_id = 9;
	f.u.window_update.credit = 0x00012345;
	static const uint8_t wu[] = { 0x06, 0x00, 0x08, 0, 0, 0, 9, 0, 0x01, 0x23, 0x45 };
	golden(&f, wu, sizeof(wu));

	memset(&f, 0, sizeof(f));
	f.type = RV_FRAME_PING;
	f.u.ping.opaque = 0x1122334455667788ull;
	static const uint8_t ping[] = { 0x07, 0x00, 0x08, 0x11, 0x22, 0x33, 0x44,
					0x55, 0x66, 0x77, 0x88 };
	golden(&f, ping, sizeof(ping));
	f.type = RV_FRAME_PONG;
	static const uint8_t pong[] = { 0x08, 0x00, 0x08, 0x11, 0x22, 0x33, 0x44,
					0x55, 0x66, 0x77, 0x88 };
	golden(&f, pong, sizeof(pong));

	memset(&f, 0, sizeof(f));
	f.type = RV_FRAME_GOAWAY;
	f.u.goaway.last_stream = 41;
	f.u.goaway.reason = RV_GOAWAY_SHUTDOWN;
	static const uint8_t goaway[] = { 0x09, 0x00, 0x05, 0, 0, 0, 41, 0x01 };
	golden(&f, goaway, sizeof(goaway));
}

/* The example frames of PROTOCOL.md section 14, byte for byte. */
static void test_protocol_md_example(void **state)
{
	static const char *const want[] = {
		"01000f00000001000800000050017f000001",
		"02000c00000001009c40017f000001",
		"0300070000000178797a",
		"04000400000001",
		"0600080000000100012345",
		"0700081122334455667788",
		"0900050000002901",
	};
	struct rv_frame f[7];
	(void)state;

	memset(f, 0, sizeof(f));
	for (int i = 0; i < 7; i++)
		f[i].stream_id = 1;
	f[0].type = RV_FRAME_PROXY_CONNECT;
	f[0].u.connect.window = 0x80000;
	addr_v4(&f[0].u.connect.addr, 127, 0, 0, 1, 80);
	f[1].type = RV_FRAME_PROXY_RESPONSE;
	addr_v4(&f[1].u.response.bound, 127, 0, 0, 1, 40000);
	f[2].type = RV_FRAME_PROXY_DATA;
	f[2].u.data.data = (const uint8_t *)"xyz";
	f[2].u.data.len = 3;
	f[3].type = RV_FRAME_PROXY_FIN;
	f[4].type = RV_FRAME_WINDOW_UPDATE;
	f[4].u.window_update.credit = 0x12345;
	f[5].type = RV_FRAME_PING;
	f[5].stream_id = 0;
	f[5].u.ping.opaque = 0x1122334455667788ull;
	f[6].type = RV_FRAME_GOAWAY;
	f[6].stream_id = 0;
	f[6].u.goaway.last_stream = 41;
	f[6].u.goaway.reason = RV_GOAWAY_SHUTDOWN;
	for (int i = 0; i < 7; i++) {
		size_t len;
		uint8_t *p = encode_one(&f[i], &len);
		char hex[128];

		assert_true(2 * len < sizeof(hex));
		for (size_t k = 0; k < len; k++)
			snprintf(hex + 2 * k, 3, "%02x", p[k]);
		assert_string_equal(hex, want[i]);
		free(p);
	}
}

/* ---- round trips, prefixes, wrong lengths ----------------------------- */

static void test_roundtrip(void **state)
{
	struct frame_set s;
	size_t checked = 0;
	(void)state;

	valid_frames(&s);
	for (size_t i = 0; i < s.n; i++) {
		size_t len;
		uint8_t *p = encode_one(&s.f[i], &len);
		struct rv_buf b;
		struct rv_frame d;

		rv_buf_init_view(&b, p, len);
		assert_int_equal(rv_frame_decode(&b, &d), RV_OK);
		assert_int_equal(rv_buf_len(&b), 0);
		assert_frame_equal(&s.f[i], &d);
		if (d.type == RV_FRAME_PROXY_DATA) /* points into the input */
			assert_ptr_equal(d.u.data.data, p + RV_FRAME_HDR_LEN + 4);
		assert_int_equal(rv_frame_decode(&b, &d), RV_ERR_NEED_MORE);
		free(p);
		checked++;
	}
	/* Every type, both IP families and the domain form are covered. */
	assert_true(checked >= 9);
	printf("roundtrip: %zu frames\n", checked);
}

static void test_truncated_prefixes(void **state)
{
	struct frame_set s;
	size_t prefixes = 0;
	(void)state;

	valid_frames(&s);
	for (size_t i = 0; i < s.n; i++) {
		size_t len;
		uint8_t *p = encode_one(&s.f[i], &len);

		for (size_t k = 0; k < len; k++) {
			/* Exact-size copy: ASan catches any read past k. */
			uint8_t *q = malloc(k ? k : 1);

			assert_non_null(q);
			memcpy(q, p, k);
			expect_reject(q, k, RV_ERR_NEED_MORE);
			free(q);
			prefixes++;
		}
		free(p);
	}
	printf("truncated prefixes: %zu\n", prefixes);
}

/* Rewrite the length field to every other value from 0 to len+300 (body
 * padded with zeros or cut): only the true length may decode, except that
 * any DATA length in range is itself a valid DATA frame. */
static void test_wrong_lengths(void **state)
{
	struct frame_set s;
	size_t rejected = 0;
	(void)state;

	valid_frames(&s);
	for (size_t i = 0; i < s.n; i++) {
		size_t len, body;
		uint8_t *p = encode_one(&s.f[i], &len);

		body = len - RV_FRAME_HDR_LEN;
		for (size_t l = 0; l <= body + 300 && l <= 0xffff; l++) {
			uint8_t *q;

			if (l == body)
				continue;
			if (s.f[i].type == RV_FRAME_PROXY_DATA && l > 4 &&
			    l <= 4 + RV_FRAME_DATA_MAX)
				continue;
			q = calloc(1, RV_FRAME_HDR_LEN + l);
			assert_non_null(q);
			memcpy(q, p, RV_FRAME_HDR_LEN + (l < body ? l : body));
			q[1] = (uint8_t)(l >> 8);
			q[2] = (uint8_t)l;
			expect_reject(q, RV_FRAME_HDR_LEN + l, RV_ERR_MALFORMED);
			free(q);
			rejected++;
		}
		free(p);
	}
	/* DATA above the maximum, and the largest length field. */
	for (size_t l = 4 + RV_FRAME_DATA_MAX + 1; l <= 0xffff; l += 4093) {
		uint8_t *q = calloc(1, RV_FRAME_HDR_LEN + l);

		assert_non_null(q);
		q[0] = RV_FRAME_PROXY_DATA;
		q[1] = (uint8_t)(l >> 8);
		q[2] = (uint8_t)l;
		q[6] = 1;
		expect_reject(q, RV_FRAME_HDR_LEN + l, RV_ERR_MALFORMED);
		/* A bad length is refused from the header alone, without body. */
		expect_reject(q, RV_FRAME_HDR_LEN, RV_ERR_MALFORMED);
		free(q);
		rejected++;
	}
	printf("wrong lengths rejected: %zu\n", rejected);
}

/* ---- field values ----------------------------------------------------- */

static void reject_bytes(const uint8_t *p, size_t len, int err)
{
	uint8_t *q = malloc(len);

	assert_non_null(q);
	memcpy(q, p, len);
	expect_reject(q, len, err);
	free(q);
}

/* Encode f, let mutate change the bytes, expect err. */
static void reject_mutated(const struct rv_frame *f, size_t at, uint8_t value, int err)
{
	size_t len;
	uint8_t *p = encode_one(f, &len);

	assert_true(at < len);
	p[at] = value;
	reject_bytes(p, len, err);
	free(p);
}

static void test_bad_types(void **state)
{
	uint8_t hdr[RV_FRAME_HDR_LEN + 8] = { 0, 0, 8 };
	(void)state;

	/* Type 0 is never valid; unknown types are unsupported. */
	reject_bytes(hdr, sizeof(hdr), RV_ERR_MALFORMED);
	reject_bytes(hdr, RV_FRAME_HDR_LEN, RV_ERR_MALFORMED);
	for (unsigned t = RV_FRAME_TYPE_MAX_; t <= 255; t++) {
		hdr[0] = (uint8_t)t;
		reject_bytes(hdr, sizeof(hdr), RV_ERR_UNSUPPORTED);
		reject_bytes(hdr, RV_FRAME_HDR_LEN, RV_ERR_UNSUPPORTED);
	}
}

static void test_bad_fields(void **state)
{
	struct frame_set s;
	size_t cases = 0;
	(void)state;

	valid_frames(&s);
	for (size_t i = 0; i < s.n; i++) {
		const struct rv_frame *f = &s.f[i];
		const size_t b = RV_FRAME_HDR_LEN; /* body offset */
		size_t len;
		uint8_t *p = encode_one(f, &len);

		switch (f->type) {
		case RV_FRAME_PROXY_CONNECT:
		case RV_FRAME_PROXY_RESPONSE:
		case RV_FRAME_PROXY_DATA:
		case RV_FRAME_PROXY_FIN:
		case RV_FRAME_PROXY_RESET:
		case RV_FRAME_WINDOW_UPDATE:
			/* Stream id 0. */
			memset(p + b, 0, 4);
			reject_bytes(p, len, RV_ERR_MALFORMED);
			cases++;
			break;
		default:
			break;
		}
		free(p);

		if (f->type == RV_FRAME_PROXY_CONNECT || f->type == RV_FRAME_PROXY_RESPONSE) {
			const struct rv_addr *a = f->type == RV_FRAME_PROXY_CONNECT ?
							  &f->u.connect.addr : &f->u.response.bound;
			size_t at = b + (f->type == RV_FRAME_PROXY_CONNECT ? 10 : 7);

			/* Unknown address types. */
			for (unsigned t = 0; t <= 255; t++) {
				if (t == RV_ATYP_IPV4 || t == RV_ATYP_IPV6 || t == RV_ATYP_DOMAIN)
					continue;
				reject_mutated(f, at, (uint8_t)t, RV_ERR_MALFORMED);
				cases++;
			}
			/* A valid atyp of the wrong size for the body. */
			if (a->atyp != RV_ATYP_IPV4) {
				reject_mutated(f, at, RV_ATYP_IPV4, RV_ERR_MALFORMED);
				cases++;
			}
			if (a->atyp != RV_ATYP_IPV6) {
				reject_mutated(f, at, RV_ATYP_IPV6, RV_ERR_MALFORMED);
				cases++;
			}
			if (a->atyp == RV_ATYP_DOMAIN) {
				/* Domain length byte disagreeing with the body. */
				for (unsigned n = 0; n <= 255; n++) {
					if (n == a->domain_len)
						continue;
					reject_mutated(f, at + 1, (uint8_t)n, RV_ERR_MALFORMED);
					cases++;
				}
				/* A NUL anywhere in the name. */
				for (size_t k = 0; k < a->domain_len; k++) {
					reject_mutated(f, at + 2 + k, 0, RV_ERR_MALFORMED);
					cases++;
				}
			}
		}
		if (f->type == RV_FRAME_PROXY_CONNECT) {
			/* Window 0 and above the maximum. */
			p = encode_one(f, &len);
			memset(p + b + 4, 0, 4);
			reject_bytes(p, len, RV_ERR_MALFORMED);
			p[b + 4] = (uint8_t)((RV_STREAM_WINDOW_MAX + 1u) >> 24);
			p[b + 5] = (uint8_t)((RV_STREAM_WINDOW_MAX + 1u) >> 16);
			p[b + 6] = (uint8_t)((RV_STREAM_WINDOW_MAX + 1u) >> 8);
			p[b + 7] = (uint8_t)(RV_STREAM_WINDOW_MAX + 1u);
			reject_bytes(p, len, RV_ERR_MALFORMED);
			memset(p + b + 4, 0xff, 4);
			reject_bytes(p, len, RV_ERR_MALFORMED);
			free(p);
			cases += 3;
		}
		if (f->type == RV_FRAME_PROXY_RESPONSE) {
			for (unsigned v = RV_STATUS_ATYP_NOT_SUPPORTED + 1; v <= 255; v++) {
				reject_mutated(f, b + 4, (uint8_t)v, RV_ERR_MALFORMED);
				cases++;
			}
		}
		if (f->type == RV_FRAME_PROXY_RESET) {
			for (unsigned v = 0; v <= 255; v++) {
				if (v >= RV_RESET_PROTOCOL_ERROR && v <= RV_RESET_REFUSED_STREAM)
					continue;
				reject_mutated(f, b + 4, (uint8_t)v, RV_ERR_MALFORMED);
				cases++;
			}
		}
		if (f->type == RV_FRAME_WINDOW_UPDATE) {
			p = encode_one(f, &len);
			memset(p + b + 4, 0, 4);
			reject_bytes(p, len, RV_ERR_MALFORMED);
			memset(p + b + 4, 0xff, 4);
			reject_bytes(p, len, RV_ERR_MALFORMED);
			p[b + 4] = (uint8_t)((RV_STREAM_WINDOW_MAX + 1u) >> 24);
			p[b + 5] = (uint8_t)((RV_STREAM_WINDOW_MAX + 1u) >> 16);
			p[b + 6] = (uint8_t)((RV_STREAM_WINDOW_MAX + 1u) >> 8);
			p[b + 7] = (uint8_t)(RV_STREAM_WINDOW_MAX + 1u);
			reject_bytes(p, len, RV_ERR_MALFORMED);
			free(p);
			cases += 3;
		}
		if (f->type == RV_FRAME_GOAWAY) {
			for (unsigned v = 0; v <= 255; v++) {
				if (v >= RV_GOAWAY_SHUTDOWN && v <= RV_GOAWAY_REVOKED)
					continue;
				reject_mutated(f, b + 4, (uint8_t)v, RV_ERR_MALFORMED);
				cases++;
			}
		}
	}
	printf("bad field values rejected: %zu\n", cases);
}

/* ---- encoder validation ---------------------------------------------- */

static void expect_encode_reject(const struct rv_frame *f, int err)
{
	struct rv_buf b;

	rv_buf_init(&b, RV_BUF_DEFAULT_MAX);
	assert_int_equal(rv_buf_put(&b, "prefix", 6), RV_OK);
	assert_int_equal(rv_frame_encode(&b, f), err);
	assert_int_equal(rv_buf_len(&b), 6);
	assert_memory_equal(rv_buf_ptr(&b), "prefix", 6);
	if (err == RV_ERR_INVALID_ARG)
		assert_int_equal(rv_frame_encoded_len(f), 0);
	rv_buf_cleanup(&b);
}

static void test_encode_invalid(void **state)
{
	struct frame_set s;
	struct rv_frame f;
	size_t cases = 0;
	(void)state;

	valid_frames(&s);
	for (size_t i = 0; i < s.n; i++) {
		f = s.f[i];
		/* Stream id rule, both ways round. */
		f.stream_id = f.stream_id == 0 ? 1 : 0;
		expect_encode_reject(&f, RV_ERR_INVALID_ARG);
		cases++;

		f = s.f[i];
		switch (f.type) {
		case RV_FRAME_PROXY_CONNECT:
		case RV_FRAME_PROXY_RESPONSE: {
			struct rv_addr *a = f.type == RV_FRAME_PROXY_CONNECT ?
						    &f.u.connect.addr : &f.u.response.bound;
			struct rv_addr keep = *a;

			a->atyp = RV_ATYP_INVALID;
			expect_encode_reject(&f, RV_ERR_INVALID_ARG);
			a->atyp = (enum rv_atyp)2;
			expect_encode_reject(&f, RV_ERR_INVALID_ARG);
			a->atyp = (enum rv_atyp)0x103; /* would truncate to DOMAIN */
			expect_encode_reject(&f, RV_ERR_INVALID_ARG);
			*a = keep;
			cases += 3;
			if (a->atyp == RV_ATYP_DOMAIN) {
				a->domain_len = 0;
				expect_encode_reject(&f, RV_ERR_INVALID_ARG);
				*a = keep;
				a->domain[a->domain_len - 1] = '\0';
				expect_encode_reject(&f, RV_ERR_INVALID_ARG);
				*a = keep;
				cases += 2;
			}
			if (f.type == RV_FRAME_PROXY_CONNECT) {
				f.u.connect.window = 0;
				expect_encode_reject(&f, RV_ERR_INVALID_ARG);
				f.u.connect.window = RV_STREAM_WINDOW_MAX + 1u;
				expect_encode_reject(&f, RV_ERR_INVALID_ARG);
				cases += 2;
			} else {
				f.u.response.status = (enum rv_status)9;
				expect_encode_reject(&f, RV_ERR_INVALID_ARG);
				cases++;
			}
			break;
		}
		case RV_FRAME_PROXY_DATA:
			f.u.data.len = 0;
			expect_encode_reject(&f, RV_ERR_INVALID_ARG);
			f.u.data.len = RV_FRAME_DATA_MAX + 1;
			expect_encode_reject(&f, RV_ERR_INVALID_ARG);
			f.u.data.len = 1;
			f.u.data.data = NULL;
			expect_encode_reject(&f, RV_ERR_INVALID_ARG);
			cases += 3;
			break;
		case RV_FRAME_PROXY_RESET:
			f.u.reset.reason = RV_RESET_INVALID;
			expect_encode_reject(&f, RV_ERR_INVALID_ARG);
			f.u.reset.reason = (enum rv_reset_reason)(RV_RESET_REFUSED_STREAM + 1);
			expect_encode_reject(&f, RV_ERR_INVALID_ARG);
			cases += 2;
			break;
		case RV_FRAME_WINDOW_UPDATE:
			f.u.window_update.credit = 0;
			expect_encode_reject(&f, RV_ERR_INVALID_ARG);
			f.u.window_update.credit = RV_STREAM_WINDOW_MAX + 1u;
			expect_encode_reject(&f, RV_ERR_INVALID_ARG);
			cases += 2;
			break;
		case RV_FRAME_GOAWAY:
			f.u.goaway.reason = RV_GOAWAY_INVALID;
			expect_encode_reject(&f, RV_ERR_INVALID_ARG);
			f.u.goaway.reason = (enum rv_goaway_reason)(RV_GOAWAY_REVOKED + 1);
			expect_encode_reject(&f, RV_ERR_INVALID_ARG);
			cases += 2;
			break;
		default:
			break;
		}
	}
	memset(&f, 0, sizeof(f));
	f.stream_id = 1;
	f.type = RV_FRAME_INVALID;
	expect_encode_reject(&f, RV_ERR_INVALID_ARG);
	f.type = RV_FRAME_TYPE_MAX_;
	expect_encode_reject(&f, RV_ERR_INVALID_ARG);
	expect_encode_reject(NULL, RV_ERR_INVALID_ARG);
	cases += 3;
	printf("invalid frames refused by the encoder: %zu\n", cases);
}

/* A frame that does not fit appends nothing; one that just fits works. */
static void test_encode_no_space(void **state)
{
	struct frame_set s;
	(void)state;

	valid_frames(&s);
	for (size_t i = 0; i < s.n; i++) {
		size_t need = rv_frame_encoded_len(&s.f[i]);
		struct rv_buf b;

		assert_true(need > 0);
		rv_buf_init(&b, need + 1);
		assert_int_equal(rv_buf_put_u8(&b, 0x77), RV_OK);
		/* Two bytes held: room is need - 1, one byte short. */
		assert_int_equal(rv_buf_put_u8(&b, 0x78), RV_OK);
		assert_int_equal(rv_frame_encode(&b, &s.f[i]), RV_ERR_NO_SPACE);
		assert_int_equal(rv_buf_len(&b), 2);
		assert_int_equal(rv_buf_get_u8(&b, NULL), RV_OK);
		assert_int_equal(rv_frame_encode(&b, &s.f[i]), RV_OK);
		assert_int_equal(rv_buf_len(&b), 1 + need);
		rv_buf_cleanup(&b);
	}
}

/* ---- streams of frames ------------------------------------------------ */

static void test_back_to_back(void **state)
{
	struct frame_set s;
	struct rv_buf b;
	struct rv_frame d;
	size_t total = 0;
	(void)state;

	valid_frames(&s);
	rv_buf_init(&b, RV_BUF_DEFAULT_MAX);
	for (size_t i = 0; i < s.n; i++) {
		assert_int_equal(rv_frame_encode(&b, &s.f[i]), RV_OK);
		total += rv_frame_encoded_len(&s.f[i]);
	}
	assert_int_equal(rv_buf_len(&b), total);
	for (size_t i = 0; i < s.n; i++) {
		assert_int_equal(rv_frame_decode(&b, &d), RV_OK);
		assert_frame_equal(&s.f[i], &d);
		total -= rv_frame_encoded_len(&s.f[i]);
		assert_int_equal(rv_buf_len(&b), total);
	}
	assert_int_equal(rv_frame_decode(&b, &d), RV_ERR_NEED_MORE);
	rv_buf_cleanup(&b);
}

static void test_byte_at_a_time(void **state)
{
	struct frame_set s;
	struct rv_buf all, in;
	struct rv_frame d;
	size_t next = 0, need_more = 0;
	(void)state;

	valid_frames(&s);
	rv_buf_init(&all, RV_BUF_DEFAULT_MAX);
	rv_buf_init(&in, RV_BUF_DEFAULT_MAX);
	for (size_t i = 0; i < s.n; i++)
		assert_int_equal(rv_frame_encode(&all, &s.f[i]), RV_OK);
	for (size_t k = 0; k < rv_buf_len(&all); k++) {
		int r;

		assert_int_equal(rv_buf_put_u8(&in, rv_buf_ptr(&all)[k]), RV_OK);
		/* At most one frame can complete per byte. */
		r = rv_frame_decode(&in, &d);
		if (r == RV_ERR_NEED_MORE) {
			need_more++;
			continue;
		}
		assert_int_equal(r, RV_OK);
		assert_true(next < s.n);
		assert_frame_equal(&s.f[next], &d);
		next++;
		assert_int_equal(rv_buf_len(&in), 0);
	}
	assert_int_equal(next, s.n);
	assert_int_equal(need_more, rv_buf_len(&all) - s.n);
	rv_buf_cleanup(&all);
	rv_buf_cleanup(&in);
}

/* ---- random input: never crashes, whatever decodes re-encodes --------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rng(void)
{
	/* xorshift64*: deterministic, so a failure reproduces. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 0x2545f4914f6cdd1dull) >> 32);
}

static void test_random_input(void **state)
{
	struct frame_set s;
	size_t decoded = 0;
	(void)state;

	valid_frames(&s);
	for (int iter = 0; iter < 20000; iter++) {
		/* Half pure noise, half a valid frame with a few bytes flipped. */
		uint8_t buf[600];
		size_t len;
		struct rv_buf in;
		struct rv_frame d;

		if (iter & 1) {
			len = rng() % sizeof(buf);
			for (size_t i = 0; i < len; i++)
				buf[i] = (uint8_t)rng();
			/* Mostly plausible types and short lengths. */
			if (len >= 3) {
				buf[0] = (uint8_t)(rng() % 11);
				buf[1] = 0;
			}
		} else {
			const struct rv_frame *f = &s.f[rng() % s.n];
			uint8_t *p;

			if (rv_frame_encoded_len(f) > sizeof(buf))
				continue;
			p = encode_one(f, &len);
			memcpy(buf, p, len);
			free(p);
			for (int k = rng() % 3; k >= 0; k--)
				buf[rng() % len] ^= (uint8_t)(1u << (rng() % 8));
		}
		rv_buf_init_view(&in, buf, len);
		for (int guard = 0; guard < 300; guard++) {
			size_t before = rv_buf_len(&in);
			const uint8_t *start = rv_buf_ptr(&in);
			struct rv_buf out;
			int r = rv_frame_decode(&in, &d);

			if (r != RV_OK) {
				assert_int_equal(rv_buf_len(&in), before);
				break;
			}
			decoded++;
			rv_buf_init(&out, RV_BUF_DEFAULT_MAX);
			assert_int_equal(rv_frame_encode(&out, &d), RV_OK);
			assert_int_equal(rv_buf_len(&out), before - rv_buf_len(&in));
			assert_memory_equal(rv_buf_ptr(&out), start, rv_buf_len(&out));
			rv_buf_cleanup(&out);
		}
	}
	assert_true(decoded > 0);
	printf("random inputs: %zu frames decoded and re-encoded identically\n", decoded);
}

/* ---- rv_addr ---------------------------------------------------------- */

static void test_addr(void **state)
{
	struct rv_addr a, b;
	char str[RV_ADDR_STRLEN], small[8];
	char name[RV_DOMAIN_MAX + 1];
	(void)state;

	assert_int_equal(rv_addr_from_literal(&a, "192.0.2.7", 8080), RV_OK);
	assert_int_equal(a.atyp, RV_ATYP_IPV4);
	assert_string_equal(rv_addr_str(&a, str, sizeof(str)), "192.0.2.7:8080");
	assert_int_equal(rv_addr_check(&a), RV_OK);

	assert_int_equal(rv_addr_from_literal(&b, "2001:db8::1", 443), RV_OK);
	assert_int_equal(b.atyp, RV_ATYP_IPV6);
	assert_string_equal(rv_addr_str(&b, str, sizeof(str)), "[2001:db8::1]:443");
	assert_false(rv_addr_equal(&a, &b));
	assert_int_equal(rv_addr_from_literal(&a, "2001:db8::1", 443), RV_OK);
	assert_true(rv_addr_equal(&a, &b));
	a.port = 444;
	assert_false(rv_addr_equal(&a, &b));

	assert_int_equal(rv_addr_from_literal(&a, "example.com", 1), RV_ERR_NOT_FOUND);
	assert_int_equal(rv_addr_from_literal(&a, "[::1]", 1), RV_ERR_NOT_FOUND);

	assert_int_equal(rv_addr_set_domain(&a, "Example.COM", 11, 80), RV_OK);
	assert_int_equal(rv_addr_set_domain(&b, "example.com", 11, 80), RV_OK);
	assert_true(rv_addr_equal(&a, &b));
	assert_string_equal(rv_addr_str(&a, str, sizeof(str)), "Example.COM:80");
	assert_int_equal(rv_addr_check(&a), RV_OK);

	/* Refused names leave the address as it was. */
	assert_int_equal(rv_addr_set_domain(&a, "", 0, 80), RV_ERR_INVALID_ARG);
	assert_int_equal(rv_addr_set_domain(&a, "a\0b", 3, 80), RV_ERR_INVALID_ARG);
	memset(name, 'x', sizeof(name));
	assert_int_equal(rv_addr_set_domain(&a, name, RV_DOMAIN_MAX + 1, 80), RV_ERR_INVALID_ARG);
	assert_string_equal(a.domain, "Example.COM");
	assert_int_equal(rv_addr_set_domain(&a, name, RV_DOMAIN_MAX, 80), RV_OK);
	assert_int_equal(a.domain_len, RV_DOMAIN_MAX);
	assert_int_equal(a.domain[RV_DOMAIN_MAX], 0);

	/* Hostile names print escaped, never raw control bytes. */
	assert_int_equal(rv_addr_set_domain(&a, "a\nb\\c\xff", 6, 1), RV_OK);
	assert_string_equal(rv_addr_str(&a, str, sizeof(str)), "a\\x0ab\\x5cc\\xff:1");
	/* 255 bytes that all need escaping still fit RV_ADDR_STRLEN. */
	memset(name, 0x01, RV_DOMAIN_MAX);
	assert_int_equal(rv_addr_set_domain(&a, name, RV_DOMAIN_MAX, 65535), RV_OK);
	rv_addr_str(&a, str, sizeof(str));
	assert_int_equal(strlen(str), RV_DOMAIN_MAX * 4 + 6);
	/* Truncation always NUL-terminates. */
	rv_addr_str(&b, small, sizeof(small));
	assert_string_equal(small, "example");

	memset(&a, 0, sizeof(a));
	assert_int_equal(rv_addr_check(&a), RV_ERR_INVALID_ARG);
	assert_string_equal(rv_addr_str(&a, str, sizeof(str)), "(invalid address)");
	a.atyp = RV_ATYP_DOMAIN;
	assert_int_equal(rv_addr_check(&a), RV_ERR_INVALID_ARG);
	assert_int_equal(rv_addr_check(NULL), RV_ERR_INVALID_ARG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_protocol_md_example),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_truncated_prefixes),
		cmocka_unit_test(test_wrong_lengths),
		cmocka_unit_test(test_bad_types),
		cmocka_unit_test(test_bad_fields),
		cmocka_unit_test(test_encode_invalid),
		cmocka_unit_test(test_encode_no_space),
		cmocka_unit_test(test_back_to_back),
		cmocka_unit_test(test_byte_at_a_time),
		cmocka_unit_test(test_random_input),
		cmocka_unit_test(test_addr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
