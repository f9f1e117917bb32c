/* test_socks5_udp.c - the SOCKS5 UDP request header (RFC 1928 §7):
 * every prefix of a valid header, bad inputs, fragments, round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rv_buf.h"
#include "rv_err.h"
#include "rv_socks5_udp.h"

static const uint8_t dg_v4[] = { 0, 0, 0, 1, 127, 0, 0, 1, 0, 53, 'h', 'i' };
static const uint8_t dg_v6[] = { 0, 0, 0, 4, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0,
				 0, 0, 0, 1, 0x01, 0xbb, 'x' };
static const uint8_t dg_dom[] = { 0, 0, 0, 3, 11, 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.',
				  'o', 'r', 'g', 0, 53 };

static void buf_load(struct rv_buf *b, const void *p, size_t len)
{
	rv_buf_init(b, 1 << 17);
	if (len > 0)
		assert_int_equal(rv_buf_put(b, p, len), RV_OK);
}

/* Parse msg; the result, and the buffer unchanged unless RV_OK. */
static int parse(const uint8_t *msg, size_t len, struct rv_addr *a, uint8_t *frag,
		 size_t *left)
{
	struct rv_buf b;
	int ret;

	buf_load(&b, msg, len);
	ret = rv_socks5_udp_parse(&b, a, frag);
	*left = rv_buf_len(&b);
	if (ret != RV_OK) {
		assert_int_equal(*left, len);
		if (len > 0)
			assert_memory_equal(rv_buf_ptr(&b), msg, len);
	}
	rv_buf_cleanup(&b);
	return ret;
}

static void check_prefixes(const uint8_t *msg, size_t hdr_len)
{
	struct rv_addr a;
	size_t cut, left;
	uint8_t frag;

	for (cut = 0; cut < hdr_len; cut++)
		assert_int_equal(parse(msg, cut, &a, &frag, &left), RV_ERR_NEED_MORE);
}

static void test_parse_v4(void **state)
{
	struct rv_addr a;
	size_t left;
	uint8_t frag = 9;

	(void)state;
	check_prefixes(dg_v4, 10);
	assert_int_equal(parse(dg_v4, sizeof(dg_v4), &a, &frag, &left), RV_OK);
	assert_int_equal(frag, 0);
	assert_int_equal(a.atyp, RV_ATYP_IPV4);
	assert_memory_equal(a.ip, "\x7f\x00\x00\x01", 4);
	assert_int_equal(a.port, 53);
	assert_int_equal(left, 2); /* "hi" is the payload */
	/* An empty payload is a valid datagram. */
	assert_int_equal(parse(dg_v4, 10, &a, NULL, &left), RV_OK);
	assert_int_equal(left, 0);
}

static void test_parse_v6_and_domain(void **state)
{
	struct rv_addr a;
	size_t left;

	(void)state;
	check_prefixes(dg_v6, 22);
	assert_int_equal(parse(dg_v6, sizeof(dg_v6), &a, NULL, &left), RV_OK);
	assert_int_equal(a.atyp, RV_ATYP_IPV6);
	assert_int_equal(a.ip[0], 0x20);
	assert_int_equal(a.ip[15], 1);
	assert_int_equal(a.port, 443);
	assert_int_equal(left, 1);

	check_prefixes(dg_dom, sizeof(dg_dom));
	assert_int_equal(parse(dg_dom, sizeof(dg_dom), &a, NULL, &left), RV_OK);
	assert_int_equal(a.atyp, RV_ATYP_DOMAIN);
	assert_int_equal(a.domain_len, 11);
	assert_string_equal(a.domain, "example.org");
	assert_int_equal(a.port, 53);
	assert_int_equal(left, 0);
}

static void test_parse_bad(void **state)
{
	static const uint8_t rsv1[] = { 0, 1, 0, 1, 127, 0, 0, 1, 0, 53 };
	static const uint8_t rsv2[] = { 1, 0, 0, 1, 127, 0, 0, 1, 0, 53 };
	static const uint8_t atyp0[] = { 0, 0, 0, 0, 127, 0, 0, 1, 0, 53 };
	static const uint8_t atyp2[] = { 0, 0, 0, 2, 127, 0, 0, 1, 0, 53 };
	static const uint8_t dom0[] = { 0, 0, 0, 3, 0, 0, 53 };
	static const uint8_t domnul[] = { 0, 0, 0, 3, 3, 'a', 0, 'b', 0, 53 };
	static const uint8_t frag1[] = { 0, 0, 1, 1, 127, 0, 0, 1, 0, 53, 'x' };
	static const uint8_t frag80[] = { 0, 0, 0x80, 3, 1, 'a', 0, 53 };
	/* A fragment that is also truncated: truncation is seen first. */
	static const uint8_t frag_short[] = { 0, 0, 1, 1, 127, 0 };
	struct rv_addr a;
	size_t left;
	uint8_t frag = 0;

	(void)state;
	assert_int_equal(parse(rsv1, sizeof(rsv1), &a, NULL, &left), RV_ERR_MALFORMED);
	assert_int_equal(parse(rsv2, sizeof(rsv2), &a, NULL, &left), RV_ERR_MALFORMED);
	assert_int_equal(parse(atyp0, sizeof(atyp0), &a, NULL, &left), RV_ERR_UNSUPPORTED);
	assert_int_equal(parse(atyp2, sizeof(atyp2), &a, NULL, &left), RV_ERR_UNSUPPORTED);
	assert_int_equal(parse(dom0, sizeof(dom0), &a, NULL, &left), RV_ERR_MALFORMED);
	assert_int_equal(parse(domnul, sizeof(domnul), &a, NULL, &left), RV_ERR_MALFORMED);
	assert_int_equal(parse(frag1, sizeof(frag1), &a, &frag, &left), RV_ERR_UNSUPPORTED);
	assert_int_equal(frag, 1);
	assert_int_equal(parse(frag80, sizeof(frag80), &a, &frag, &left), RV_ERR_UNSUPPORTED);
	assert_int_equal(frag, 0x80);
	assert_int_equal(parse(frag_short, sizeof(frag_short), &a, NULL, &left), RV_ERR_NEED_MORE);
}

static void test_build_roundtrip(void **state)
{
	const uint8_t *msgs[] = { dg_v4, dg_v6, dg_dom };
	const size_t hdr[] = { 10, 22, sizeof(dg_dom) };
	struct rv_addr a, b;
	struct rv_buf out;
	size_t i, left;

	(void)state;
	for (i = 0; i < 3; i++) {
		assert_int_equal(parse(msgs[i], hdr[i], &a, NULL, &left), RV_OK);
		rv_buf_init(&out, RV_SOCKS5_UDP_HEADER_MAX);
		assert_int_equal(rv_socks5_udp_build(&out, &a), RV_OK);
		assert_int_equal(rv_buf_len(&out), hdr[i]);
		assert_memory_equal(rv_buf_ptr(&out), msgs[i], hdr[i]);
		assert_int_equal(rv_socks5_udp_parse(&out, &b, NULL), RV_OK);
		assert_int_equal(b.port, a.port);
		rv_buf_cleanup(&out);
	}
}

static void test_build_bad(void **state)
{
	struct rv_addr a;
	struct rv_buf out;

	(void)state;
	memset(&a, 0, sizeof(a));
	rv_buf_init(&out, 64);
	assert_int_equal(rv_socks5_udp_build(&out, NULL), RV_ERR_INVALID_ARG);
	assert_int_equal(rv_socks5_udp_build(&out, &a), RV_ERR_INVALID_ARG);
	a.atyp = RV_ATYP_DOMAIN;
	assert_int_equal(rv_socks5_udp_build(&out, &a), RV_ERR_INVALID_ARG);
	assert_int_equal(rv_buf_len(&out), 0);
	rv_buf_cleanup(&out);
	/* No room: out unchanged. */
	a.atyp = RV_ATYP_IPV6;
	rv_buf_init(&out, 10);
	assert_int_equal(rv_buf_put(&out, "ab", 2), RV_OK);
	assert_int_equal(rv_socks5_udp_build(&out, &a), RV_ERR_NO_SPACE);
	assert_int_equal(rv_buf_len(&out), 2);
	rv_buf_cleanup(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_v4),
		cmocka_unit_test(test_parse_v6_and_domain),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_build_roundtrip),
		cmocka_unit_test(test_build_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
