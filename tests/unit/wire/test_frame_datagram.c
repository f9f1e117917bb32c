/* test_frame_datagram.c - DATAGRAM (10) and DATAGRAM_CLOSE (11) in the
 * frame codec (PROTOCOL.md §6.11, §6.12): golden bytes, round trips for
 * every address type and payload size boundary, every prefix of a valid
 * frame (need more), every body length of the type's range (the address
 * is parsed from its atyp: too short is malformed, longer is payload), bad
 * fields, and encoder refusals.  A rejected input leaves buffer and frame
 * untouched.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rv_addr.h"
#include "rv_buf.h"
#include "rv_err.h"
#include "rv_frame.h"
#include "rv_wire.h"

enum { SENTINEL = 0xa5 };

static uint8_t payload[RV_DATAGRAM_MAX + 1];

static void fill_payload(void)
{
	size_t i;

	for (i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7 + 3);
}

static void dgram(struct rv_frame *f, uint32_t assoc, const struct rv_addr *a, size_t len)
{
	memset(f, 0, sizeof(*f));
	f->type = RV_FRAME_DATAGRAM;
	f->u.datagram.assoc = assoc;
	f->u.datagram.addr = *a;
	f->u.datagram.data = len > 0 ? payload : NULL;
	f->u.datagram.len = len;
}

static void addr_v4(struct rv_addr *a, uint16_t port)
{
	const uint8_t ip[4] = { 192, 0, 2, 7 };

	rv_addr_set_ipv4(a, ip, port);
}

static void addr_v6(struct rv_addr *a, uint16_t port)
{
	uint8_t ip[16] = { 0x20, 0x01, 0x0d, 0xb8 };

	ip[15] = 9;
	rv_addr_set_ipv6(a, ip, port);
}

static void addr_name(struct rv_addr *a, size_t n, uint16_t port)
{
	char name[RV_DOMAIN_MAX];
	size_t i;

	for (i = 0; i < n; i++)
		name[i] = (char)('a' + i % 26);
	assert_int_equal(rv_addr_set_domain(a, name, n, port), RV_OK);
}

static size_t encode(const struct rv_frame *f, uint8_t *out, size_t cap)
{
	struct rv_buf b;
	size_t len;

	rv_buf_init(&b, RV_BUF_DEFAULT_MAX);
	assert_int_equal(rv_frame_encode(&b, f), RV_OK);
	len = rv_buf_len(&b);
	assert_int_equal(len, rv_frame_encoded_len(f));
	assert_true(len <= cap);
	memcpy(out, rv_buf_ptr(&b), len);
	rv_buf_cleanup(&b);
	return len;
}

static void expect_reject(const uint8_t *p, size_t len, int err)
{
	struct rv_buf b;
	struct rv_frame f, sentinel;

	rv_buf_init_view(&b, p, len);
	memset(&f, SENTINEL, sizeof(f));
	memcpy(&sentinel, &f, sizeof(f));
	assert_int_equal(rv_frame_decode(&b, &f), err);
	assert_int_equal(rv_buf_len(&b), len);
	assert_memory_equal(&f, &sentinel, sizeof(f));
}

static void expect_same(const struct rv_frame *a, const struct rv_frame *d)
{
	assert_int_equal(d->type, a->type);
	assert_int_equal(d->stream_id, 0);
	if (a->type == RV_FRAME_DATAGRAM_CLOSE) {
		assert_int_equal(d->u.datagram_close.assoc, a->u.datagram_close.assoc);
		assert_int_equal(d->u.datagram_close.reason, a->u.datagram_close.reason);
		return;
	}
	assert_int_equal(d->u.datagram.assoc, a->u.datagram.assoc);
	assert_true(rv_addr_equal(&d->u.datagram.addr, &a->u.datagram.addr));
	assert_int_equal(d->u.datagram.len, a->u.datagram.len);
	if (a->u.datagram.len > 0)
		assert_memory_equal(d->u.datagram.data, a->u.datagram.data, a->u.datagram.len);
}

static uint8_t wire[RV_FRAME_HDR_LEN + 65535 + 16];

static void roundtrip(const struct rv_frame *f)
{
	struct rv_buf b;
	struct rv_frame d;
	size_t len = encode(f, wire, sizeof(wire));

	rv_buf_init_view(&b, wire, len);
	assert_int_equal(rv_frame_decode(&b, &d), RV_OK);
	assert_int_equal(rv_buf_len(&b), 0);
	expect_same(f, &d);
}

static void test_golden(void **state)
{
	static const uint8_t want[] = {
		10, 0x00, 0x0d,          /* type, body 13 */
		0x00, 0x00, 0x00, 0x05,  /* assoc 5 */
		0x00, 0x35,              /* port 53 */
		0x01, 192, 0, 2, 7,      /* IPv4 */
		0xab, 0xcd,              /* payload */
	};
	static const uint8_t want_close[] = { 11, 0x00, 0x05, 0x00, 0x00, 0x01, 0x00, 0x02 };
	uint8_t got[64];
	struct rv_frame f;
	struct rv_addr a;
	const uint8_t pl[2] = { 0xab, 0xcd };

	(void)state;
	addr_v4(&a, 53);
	dgram(&f, 5, &a, 2);
	f.u.datagram.data = pl;
	assert_int_equal(encode(&f, got, sizeof(got)), sizeof(want));
	assert_memory_equal(got, want, sizeof(want));
	memset(&f, 0, sizeof(f));
	f.type = RV_FRAME_DATAGRAM_CLOSE;
	f.u.datagram_close.assoc = 256;
	f.u.datagram_close.reason = RV_DGRAM_CLOSE_IDLE_TIMEOUT;
	assert_int_equal(encode(&f, got, sizeof(got)), sizeof(want_close));
	assert_memory_equal(got, want_close, sizeof(want_close));
}

static void test_roundtrip(void **state)
{
	static const size_t lens[] = { 0, 1, 1200, RV_DATAGRAM_MAX - 1, RV_DATAGRAM_MAX };
	struct rv_frame f;
	struct rv_addr a[5];
	size_t i, j;
	unsigned r;

	(void)state;
	addr_v4(&a[0], 0);
	addr_v6(&a[1], 65535);
	addr_name(&a[2], 1, 53);
	addr_name(&a[3], RV_DOMAIN_MAX, 443);
	addr_name(&a[4], 17, 1);
	for (i = 0; i < 5; i++)
		for (j = 0; j < sizeof(lens) / sizeof(lens[0]); j++) {
			dgram(&f, i == 0 ? 1 : 0xffffffffu, &a[i], lens[j]);
			roundtrip(&f);
		}
	for (r = RV_DGRAM_CLOSE_NORMAL; r <= RV_DGRAM_CLOSE_SHUTDOWN; r++) {
		memset(&f, 0, sizeof(f));
		f.type = RV_FRAME_DATAGRAM_CLOSE;
		f.u.datagram_close.assoc = r;
		f.u.datagram_close.reason = (enum rv_dgram_close_reason)r;
		roundtrip(&f);
	}
	/* the largest frame's body fits the u16 length */
	addr_name(&a[0], RV_DOMAIN_MAX, 1);
	dgram(&f, 1, &a[0], RV_DATAGRAM_MAX);
	assert_int_equal(rv_frame_encoded_len(&f), RV_FRAME_HDR_LEN + 7 + 256 + RV_DATAGRAM_MAX);
}

/* Every proper prefix of a valid frame needs more, and consumes nothing. */
static void test_prefixes(void **state)
{
	struct rv_frame f;
	struct rv_addr a[3];
	size_t i, n, len;

	(void)state;
	addr_v4(&a[0], 7);
	addr_v6(&a[1], 7);
	addr_name(&a[2], 30, 7);
	for (i = 0; i < 3; i++) {
		dgram(&f, 3, &a[i], 40);
		len = encode(&f, wire, sizeof(wire));
		for (n = 0; n < len; n++)
			expect_reject(wire, n, RV_ERR_NEED_MORE);
	}
	memset(&f, 0, sizeof(f));
	f.type = RV_FRAME_DATAGRAM_CLOSE;
	f.u.datagram_close.assoc = 1;
	f.u.datagram_close.reason = RV_DGRAM_CLOSE_NORMAL;
	len = encode(&f, wire, sizeof(wire));
	for (n = 0; n < len; n++)
		expect_reject(wire, n, RV_ERR_NEED_MORE);
}

/* Every body length 0..65535 with the bytes present: outside the type's
 * range or shorter than the address is malformed, otherwise the rest is
 * the payload. */
static void check_lengths(const struct rv_addr *a, size_t addr_wire)
{
	struct rv_frame f, d;
	struct rv_buf b;
	size_t body, min_body = 6 + addr_wire;
	size_t max_body = 7 + 256 + RV_DATAGRAM_MAX;

	dgram(&f, 9, a, RV_DATAGRAM_MAX);
	(void)encode(&f, wire, sizeof(wire));
	memset(wire + RV_FRAME_HDR_LEN + min_body + RV_DATAGRAM_MAX, 0x5a,
	       sizeof(wire) - RV_FRAME_HDR_LEN - min_body - RV_DATAGRAM_MAX);
	for (body = 0; body <= 65535; body++) {
		wire[1] = (uint8_t)(body >> 8);
		wire[2] = (uint8_t)body;
		if (body < 9 || body > max_body || body < min_body ||
		    body - min_body > RV_DATAGRAM_MAX) {
			expect_reject(wire, RV_FRAME_HDR_LEN + body, RV_ERR_MALFORMED);
			continue;
		}
		rv_buf_init_view(&b, wire, RV_FRAME_HDR_LEN + body);
		assert_int_equal(rv_frame_decode(&b, &d), RV_OK);
		assert_int_equal(d.u.datagram.len, body - min_body);
		assert_int_equal(rv_buf_len(&b), 0);
	}
}

static void test_lengths(void **state)
{
	struct rv_addr a;
	struct rv_frame f;
	size_t body;

	(void)state;
	addr_v4(&a, 1);
	check_lengths(&a, 5);
	addr_v6(&a, 1);
	check_lengths(&a, 17);
	addr_name(&a, 3, 1);
	check_lengths(&a, 5);
	addr_name(&a, RV_DOMAIN_MAX, 1);
	check_lengths(&a, 257);
	/* CLOSE: exactly 5 */
	memset(&f, 0, sizeof(f));
	f.type = RV_FRAME_DATAGRAM_CLOSE;
	f.u.datagram_close.assoc = 1;
	f.u.datagram_close.reason = RV_DGRAM_CLOSE_NORMAL;
	(void)encode(&f, wire, sizeof(wire));
	for (body = 0; body <= 64; body++) {
		if (body == RV_FRAME_DATAGRAM_CLOSE_LEN)
			continue;
		wire[1] = 0;
		wire[2] = (uint8_t)body;
		expect_reject(wire, RV_FRAME_HDR_LEN + body, RV_ERR_MALFORMED);
	}
}

static void test_bad_fields(void **state)
{
	struct rv_frame f;
	struct rv_addr a;
	size_t len;
	unsigned v;

	(void)state;
	addr_name(&a, 4, 53);
	dgram(&f, 1, &a, 8);
	len = encode(&f, wire, sizeof(wire));
	/* assoc 0 */
	memset(wire + 3, 0, 4);
	expect_reject(wire, len, RV_ERR_MALFORMED);
	wire[6] = 1;
	/* atyp: only 1, 3, 4 */
	for (v = 0; v < 256; v++) {
		if (v == RV_ATYP_IPV4 || v == RV_ATYP_DOMAIN || v == RV_ATYP_IPV6)
			continue;
		wire[9] = (uint8_t)v;
		expect_reject(wire, len, RV_ERR_MALFORMED);
	}
	wire[9] = RV_ATYP_DOMAIN;
	/* empty name; NUL inside the name */
	wire[10] = 0;
	expect_reject(wire, len, RV_ERR_MALFORMED);
	wire[10] = 4;
	wire[12] = 0;
	expect_reject(wire, len, RV_ERR_MALFORMED);
	/* a name length past the body */
	wire[12] = 'x';
	wire[10] = 200;
	expect_reject(wire, len, RV_ERR_MALFORMED);
	/* CLOSE: assoc 0, every bad reason */
	memset(&f, 0, sizeof(f));
	f.type = RV_FRAME_DATAGRAM_CLOSE;
	f.u.datagram_close.assoc = 1;
	f.u.datagram_close.reason = RV_DGRAM_CLOSE_NORMAL;
	len = encode(&f, wire, sizeof(wire));
	for (v = 0; v < 256; v++) {
		if (v >= RV_DGRAM_CLOSE_NORMAL && v <= RV_DGRAM_CLOSE_SHUTDOWN)
			continue;
		wire[7] = (uint8_t)v;
		expect_reject(wire, len, RV_ERR_MALFORMED);
	}
	wire[7] = RV_DGRAM_CLOSE_NORMAL;
	wire[6] = 0;
	expect_reject(wire, len, RV_ERR_MALFORMED);
}

static void expect_encode_reject(const struct rv_frame *f)
{
	struct rv_buf b;

	rv_buf_init(&b, RV_BUF_DEFAULT_MAX);
	assert_int_equal(rv_frame_encode(&b, f), RV_ERR_INVALID_ARG);
	assert_int_equal(rv_buf_len(&b), 0);
	assert_int_equal(rv_frame_encoded_len(f), 0);
	rv_buf_cleanup(&b);
}

static void test_encode_invalid(void **state)
{
	struct rv_frame f;
	struct rv_addr a;

	(void)state;
	addr_v4(&a, 1);
	dgram(&f, 0, &a, 1);
	expect_encode_reject(&f);                 /* assoc 0 */
	dgram(&f, 1, &a, RV_DATAGRAM_MAX + 1);
	expect_encode_reject(&f);                 /* too long */
	dgram(&f, 1, &a, 4);
	f.u.datagram.data = NULL;
	expect_encode_reject(&f);                 /* no bytes */
	dgram(&f, 1, &a, 4);
	f.stream_id = 1;
	expect_encode_reject(&f);                 /* not a stream frame */
	dgram(&f, 1, &a, 4);
	f.u.datagram.addr.atyp = RV_ATYP_INVALID;
	expect_encode_reject(&f);
	memset(&f, 0, sizeof(f));
	f.type = RV_FRAME_DATAGRAM_CLOSE;
	f.u.datagram_close.assoc = 1;
	expect_encode_reject(&f);                 /* reason 0 */
	f.u.datagram_close.reason = RV_DGRAM_CLOSE_SHUTDOWN + 1;
	expect_encode_reject(&f);
	f.u.datagram_close.reason = RV_DGRAM_CLOSE_NORMAL;
	f.u.datagram_close.assoc = 0;
	expect_encode_reject(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_bad_fields),
		cmocka_unit_test(test_encode_invalid),
	};

	fill_payload();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
