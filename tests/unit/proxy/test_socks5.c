/* test_socks5.c - SOCKS5 server-side parser, auth, replies, state machine. */
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
#include "rv_socks5.h"

static const struct rv_socks5_config cfg_open = { 0, NULL, 0, NULL, 0, 0 };
static const struct rv_socks5_config cfg_auth = { 1, "alice", 5, "s3cret", 6, 0 };

static const uint8_t greet_noauth[] = { 5, 1, 0 };
static const uint8_t greet_both[] = { 5, 3, 0x80, 0, 2 };
static const uint8_t auth_good[] = { 1, 5, 'a', 'l', 'i', 'c', 'e', 6, 's', '3', 'c', 'r', 'e', 't' };
static const uint8_t req_v4[] = { 5, 1, 0, 1, 10, 1, 2, 3, 0x1f, 0x90 };
static const uint8_t req_v6[] = { 5, 1, 0, 4, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
				  0, 0, 0, 0, 0, 0, 0, 1, 0, 80 };
static const uint8_t req_dom[] = { 5, 1, 0, 3, 11, 'e', 'x', 'a', 'm', 'p', 'l',
				   'e', '.', 'o', 'r', 'g', 0x01, 0xbb };

static void buf_load(struct rv_buf *b, const void *p, size_t len)
{
	rv_buf_init(b, 4096);
	assert_int_equal(rv_buf_put(b, p, len), RV_OK);
}

static void assert_buf_is(const struct rv_buf *b, const void *p, size_t len)
{
	assert_int_equal(rv_buf_len(b), len);
	if (len > 0)
		assert_memory_equal(rv_buf_ptr(b), p, len);
}

/* Every strict prefix: NEED_MORE and the buffer exactly as before. */
typedef int (*parse_fn)(struct rv_buf *in, void *ctx);

static void check_prefixes(const uint8_t *msg, size_t len, parse_fn fn, void *ctx)
{
	size_t cut;

	for (cut = 0; cut < len; cut++) {
		struct rv_buf b;

		buf_load(&b, msg, cut);
		assert_int_equal(fn(&b, ctx), RV_ERR_NEED_MORE);
		assert_buf_is(&b, msg, cut);
		rv_buf_cleanup(&b);
	}
}

static int parse_greeting_open(struct rv_buf *in, void *ctx)
{
	uint8_t m = 0x55;

	(void)ctx;
	return rv_socks5_parse_greeting(in, &cfg_open, &m);
}

static int parse_auth_cfg(struct rv_buf *in, void *ctx)
{
	int ok = -1;

	(void)ctx;
	return rv_socks5_parse_auth(in, &cfg_auth, &ok);
}

static int parse_request_any(struct rv_buf *in, void *ctx)
{
	struct rv_addr a;
	enum rv_status rep;

	(void)ctx;
	return rv_socks5_parse_request(in, &a, &rep);
}

static void test_greeting_prefixes(void **state)
{
	(void)state;
	check_prefixes(greet_noauth, sizeof(greet_noauth), parse_greeting_open, NULL);
	check_prefixes(greet_both, sizeof(greet_both), parse_greeting_open, NULL);
	check_prefixes(auth_good, sizeof(auth_good), parse_auth_cfg, NULL);
	check_prefixes(req_v4, sizeof(req_v4), parse_request_any, NULL);
	check_prefixes(req_v6, sizeof(req_v6), parse_request_any, NULL);
	check_prefixes(req_dom, sizeof(req_dom), parse_request_any, NULL);
}

static uint8_t greeting_choice(const struct rv_socks5_config *cfg, const uint8_t *msg,
			       size_t len, int expect_ret)
{
	struct rv_buf b;
	uint8_t m = 0x55;
	static const uint8_t tail[] = { 0xAA, 0xBB };

	buf_load(&b, msg, len);
	assert_int_equal(rv_buf_put(&b, tail, sizeof(tail)), RV_OK);
	assert_int_equal(rv_socks5_parse_greeting(&b, cfg, &m), expect_ret);
	if (expect_ret == RV_OK)
		assert_buf_is(&b, tail, sizeof(tail)); /* consumed exactly */
	rv_buf_cleanup(&b);
	return m;
}

static void test_greeting_method_choice(void **state)
{
	static const uint8_t only_userpass[] = { 5, 1, 2 };
	static const uint8_t only_gssapi[] = { 5, 1, 1 };
	static const uint8_t empty[] = { 5, 0 };
	static const uint8_t socks4[] = { 4, 1, 0, 80, 1, 2, 3, 4, 0 };
	uint8_t all[2 + 255];
	int i;

	(void)state;
	assert_int_equal(greeting_choice(&cfg_open, greet_noauth, 3, RV_OK), 0);
	assert_int_equal(greeting_choice(&cfg_open, greet_both, 5, RV_OK), 0);
	assert_int_equal(greeting_choice(&cfg_open, only_userpass, 3, RV_OK), 2);
	assert_int_equal(greeting_choice(&cfg_open, only_gssapi, 3, RV_OK), 0xFF);
	assert_int_equal(greeting_choice(&cfg_open, empty, 2, RV_OK), 0xFF);
	assert_int_equal(greeting_choice(&cfg_auth, greet_noauth, 3, RV_OK), 0xFF);
	assert_int_equal(greeting_choice(&cfg_auth, greet_both, 5, RV_OK), 2);
	assert_int_equal(greeting_choice(&cfg_auth, only_userpass, 3, RV_OK), 2);
	greeting_choice(&cfg_open, socks4, sizeof(socks4), RV_ERR_MALFORMED);
	/* 255 methods, no-auth last. */
	all[0] = 5;
	all[1] = 255;
	for (i = 0; i < 255; i++)
		all[2 + i] = (uint8_t)(i == 254 ? 0 : 0x80 + (i % 0x7f));
	assert_int_equal(greeting_choice(&cfg_open, all, sizeof(all), RV_OK), 0);
}

static int auth_result(const struct rv_socks5_config *cfg, const uint8_t *msg, size_t len,
		       int *ok)
{
	struct rv_buf b;
	int ret;

	*ok = -1;
	buf_load(&b, msg, len);
	ret = rv_socks5_parse_auth(&b, cfg, ok);
	if (ret == RV_OK)
		assert_int_equal(rv_buf_len(&b), 0);
	else
		assert_buf_is(&b, msg, len);
	rv_buf_cleanup(&b);
	return ret;
}

static void test_auth(void **state)
{
	static const uint8_t wrong_pass[] = { 1, 5, 'a', 'l', 'i', 'c', 'e', 6, 's', '3', 'c', 'r', 'e', 'T' };
	static const uint8_t wrong_user[] = { 1, 5, 'a', 'l', 'i', 'c', 'E', 6, 's', '3', 'c', 'r', 'e', 't' };
	static const uint8_t short_pass[] = { 1, 5, 'a', 'l', 'i', 'c', 'e', 5, 's', '3', 'c', 'r', 'e' };
	static const uint8_t long_pass[] = { 1, 5, 'a', 'l', 'i', 'c', 'e', 7, 's', '3', 'c', 'r', 'e', 't', 'x' };
	static const uint8_t empty[] = { 1, 0, 0 };
	static const uint8_t bad_ver[] = { 5, 5, 'a', 'l', 'i', 'c', 'e', 6, 's', '3', 'c', 'r', 'e', 't' };
	int ok;

	(void)state;
	assert_int_equal(auth_result(&cfg_auth, auth_good, sizeof(auth_good), &ok), RV_OK);
	assert_int_equal(ok, 1);
	assert_int_equal(auth_result(&cfg_auth, wrong_pass, sizeof(wrong_pass), &ok), RV_OK);
	assert_int_equal(ok, 0);
	assert_int_equal(auth_result(&cfg_auth, wrong_user, sizeof(wrong_user), &ok), RV_OK);
	assert_int_equal(ok, 0);
	assert_int_equal(auth_result(&cfg_auth, short_pass, sizeof(short_pass), &ok), RV_OK);
	assert_int_equal(ok, 0);
	assert_int_equal(auth_result(&cfg_auth, long_pass, sizeof(long_pass), &ok), RV_OK);
	assert_int_equal(ok, 0);
	assert_int_equal(auth_result(&cfg_auth, empty, sizeof(empty), &ok), RV_OK);
	assert_int_equal(ok, 0);
	assert_int_equal(auth_result(&cfg_auth, bad_ver, sizeof(bad_ver), &ok), RV_ERR_MALFORMED);
	/* Without required auth any credentials pass (client insisted on 0x02). */
	assert_int_equal(auth_result(&cfg_open, wrong_pass, sizeof(wrong_pass), &ok), RV_OK);
	assert_int_equal(ok, 1);
}

static int request(const uint8_t *msg, size_t len, struct rv_addr *a, enum rv_status *rep,
		   size_t *left)
{
	struct rv_buf b;
	int ret;

	memset(a, 0x5a, sizeof(*a));
	buf_load(&b, msg, len);
	ret = rv_socks5_parse_request(&b, a, rep);
	*left = rv_buf_len(&b);
	rv_buf_cleanup(&b);
	return ret;
}

static void test_request_valid(void **state)
{
	static const uint8_t v6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
	struct rv_addr a;
	enum rv_status rep;
	size_t left;

	(void)state;
	assert_int_equal(request(req_v4, sizeof(req_v4), &a, &rep, &left), RV_OK);
	assert_int_equal(left, 0);
	assert_int_equal(a.atyp, RV_ATYP_IPV4);
	assert_memory_equal(a.ip, "\x0a\x01\x02\x03", 4);
	assert_int_equal(a.port, 8080);

	assert_int_equal(request(req_v6, sizeof(req_v6), &a, &rep, &left), RV_OK);
	assert_int_equal(a.atyp, RV_ATYP_IPV6);
	assert_memory_equal(a.ip, v6, 16);
	assert_int_equal(a.port, 80);

	assert_int_equal(request(req_dom, sizeof(req_dom), &a, &rep, &left), RV_OK);
	assert_int_equal(a.atyp, RV_ATYP_DOMAIN);
	assert_int_equal(a.domain_len, 11);
	assert_string_equal(a.domain, "example.org");
	assert_int_equal(a.port, 443);
}

static void test_request_longest_domain(void **state)
{
	uint8_t msg[4 + 1 + 255 + 2];
	struct rv_addr a;
	enum rv_status rep;
	size_t left;

	(void)state;
	memcpy(msg, "\x05\x01\x00\x03", 4);
	msg[4] = 255;
	memset(msg + 5, 'x', 255);
	msg[260] = 0;
	msg[261] = 22;
	check_prefixes(msg, sizeof(msg), parse_request_any, NULL);
	assert_int_equal(request(msg, sizeof(msg), &a, &rep, &left), RV_OK);
	assert_int_equal(a.domain_len, 255);
	assert_int_equal(strlen(a.domain), 255);
	assert_int_equal(a.port, 22);
}

static void test_request_errors(void **state)
{
	static const uint8_t bind_v4[] = { 5, 2, 0, 1, 10, 1, 2, 3, 0, 80 };
	static const uint8_t udp_dom[] = { 5, 3, 0, 3, 1, 'a', 0, 53 };
	static const uint8_t cmd9[] = { 5, 9, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1 };
	static const uint8_t atyp2[] = { 5, 1, 0, 2, 1, 2, 3, 4, 0, 80 };
	static const uint8_t atyp0[] = { 5, 1, 0, 0 };
	static const uint8_t ver4[] = { 4, 1, 0, 1, 10, 1, 2, 3, 0, 80 };
	static const uint8_t rsv1[] = { 5, 1, 1, 1, 10, 1, 2, 3, 0, 80 };
	static const uint8_t dom0[] = { 5, 1, 0, 3, 0, 0, 80 };
	static const uint8_t dom_nul[] = { 5, 1, 0, 3, 3, 'a', 0, 'b', 0, 80 };
	struct rv_addr a;
	enum rv_status rep;
	size_t left;

	(void)state;
	/* Unsupported commands: consumed whole (the reply follows all input). */
	assert_int_equal(request(bind_v4, sizeof(bind_v4), &a, &rep, &left), RV_ERR_UNSUPPORTED);
	assert_int_equal(rep, RV_STATUS_COMMAND_NOT_SUPPORTED);
	assert_int_equal(left, 0);
	assert_int_equal(request(udp_dom, sizeof(udp_dom), &a, &rep, &left), RV_ERR_UNSUPPORTED);
	assert_int_equal(rep, 7);
	assert_int_equal(left, 0);
	assert_int_equal(request(cmd9, sizeof(cmd9), &a, &rep, &left), RV_ERR_UNSUPPORTED);
	assert_int_equal(rep, 7);
	/* ...but only once complete. */
	check_prefixes(bind_v4, sizeof(bind_v4), parse_request_any, NULL);
	/* Unknown address types: reply 8 at once. */
	assert_int_equal(request(atyp2, sizeof(atyp2), &a, &rep, &left), RV_ERR_UNSUPPORTED);
	assert_int_equal(rep, RV_STATUS_ATYP_NOT_SUPPORTED);
	assert_int_equal(left, sizeof(atyp2));
	assert_int_equal(request(atyp0, sizeof(atyp0), &a, &rep, &left), RV_ERR_UNSUPPORTED);
	assert_int_equal(rep, 8);
	/* Malformed: general failure, nothing consumed. */
	assert_int_equal(request(ver4, sizeof(ver4), &a, &rep, &left), RV_ERR_MALFORMED);
	assert_int_equal(rep, RV_STATUS_GENERAL_FAILURE);
	assert_int_equal(left, sizeof(ver4));
	assert_int_equal(request(rsv1, sizeof(rsv1), &a, &rep, &left), RV_ERR_MALFORMED);
	assert_int_equal(rep, 1);
	assert_int_equal(request(dom0, sizeof(dom0), &a, &rep, &left), RV_ERR_MALFORMED);
	assert_int_equal(request(dom_nul, sizeof(dom_nul), &a, &rep, &left), RV_ERR_MALFORMED);
	assert_int_equal(left, sizeof(dom_nul));
}

static void test_reply_builders(void **state)
{
	struct rv_buf b;
	struct rv_addr a;
	static const uint8_t fail[] = { 5, 5, 0, 1, 0, 0, 0, 0, 0, 0 };
	static const uint8_t ok4[] = { 5, 0, 0, 1, 192, 0, 2, 7, 0xc3, 0x50 };
	static const uint8_t ok6_head[] = { 5, 0, 0, 4 };
	static const uint8_t okdom[] = { 5, 0, 0, 3, 3, 'a', '.', 'b', 0, 1 };

	(void)state;
	rv_buf_init(&b, 64);
	assert_int_equal(rv_socks5_build_reply(&b, RV_STATUS_CONNECTION_REFUSED, NULL), RV_OK);
	assert_buf_is(&b, fail, sizeof(fail));
	rv_buf_reset(&b);

	memset(&a, 0, sizeof(a));
	a.atyp = RV_ATYP_IPV4;
	memcpy(a.ip, "\xc0\x00\x02\x07", 4);
	a.port = 50000;
	assert_int_equal(rv_socks5_build_reply(&b, RV_STATUS_OK, &a), RV_OK);
	assert_buf_is(&b, ok4, sizeof(ok4));
	rv_buf_reset(&b);

	a.atyp = RV_ATYP_IPV6;
	memset(a.ip, 0xfe, 16);
	a.port = 0x1234;
	assert_int_equal(rv_socks5_build_reply(&b, RV_STATUS_OK, &a), RV_OK);
	assert_int_equal(rv_buf_len(&b), 22);
	assert_memory_equal(rv_buf_ptr(&b), ok6_head, 4);
	assert_int_equal(rv_buf_ptr(&b)[20], 0x12);
	assert_int_equal(rv_buf_ptr(&b)[21], 0x34);
	rv_buf_reset(&b);

	memset(&a, 0, sizeof(a));
	a.atyp = RV_ATYP_DOMAIN;
	strcpy(a.domain, "a.b");
	a.domain_len = 3;
	a.port = 1;
	assert_int_equal(rv_socks5_build_reply(&b, RV_STATUS_OK, &a), RV_OK);
	assert_buf_is(&b, okdom, sizeof(okdom));
	rv_buf_cleanup(&b);

	/* No room: unchanged. */
	rv_buf_init(&b, 9);
	assert_int_equal(rv_buf_put_u8(&b, 0x42), RV_OK);
	assert_int_equal(rv_socks5_build_reply(&b, RV_STATUS_OK, NULL), RV_ERR_NO_SPACE);
	assert_buf_is(&b, "\x42", 1);
	rv_buf_cleanup(&b);

	rv_buf_init(&b, 8);
	assert_int_equal(rv_socks5_build_method(&b, 0), RV_OK);
	assert_int_equal(rv_socks5_build_auth_reply(&b, 0), RV_OK);
	assert_buf_is(&b, "\x05\x00\x01\x01", 4);
	rv_buf_cleanup(&b);
}

/* Conversation pieces concatenated: greeting [auth] request [early]. */
static size_t conversation(uint8_t *out, int with_auth, const uint8_t *req, size_t req_len,
			   const char *early)
{
	size_t n = 0;

	if (with_auth) {
		memcpy(out + n, greet_both, sizeof(greet_both));
		n += sizeof(greet_both);
		memcpy(out + n, auth_good, sizeof(auth_good));
		n += sizeof(auth_good);
	} else {
		memcpy(out + n, greet_noauth, sizeof(greet_noauth));
		n += sizeof(greet_noauth);
	}
	memcpy(out + n, req, req_len);
	n += req_len;
	memcpy(out + n, early, strlen(early));
	return n + strlen(early);
}

static void run_byte_at_a_time(int with_auth, const uint8_t *req, size_t req_len)
{
	const struct rv_socks5_config *cfg = with_auth ? &cfg_auth : &cfg_open;
	uint8_t conv[512];
	size_t len = conversation(conv, with_auth, req, req_len, "");
	struct rv_socks5 s;
	struct rv_buf in, out;
	size_t i;
	int ret = RV_ERR_NEED_MORE;

	rv_socks5_init(&s, cfg);
	rv_buf_init(&in, 1024);
	rv_buf_init(&out, 1024);
	for (i = 0; i < len; i++) {
		assert_int_equal(ret, RV_ERR_NEED_MORE);
		assert_int_equal(rv_buf_put_u8(&in, conv[i]), RV_OK);
		ret = rv_socks5_feed(&s, &in, &out);
	}
	assert_int_equal(ret, RV_OK);
	assert_int_equal(s.state, RV_SOCKS5_DONE);
	assert_int_equal(rv_buf_len(&in), 0);
	if (with_auth)
		assert_buf_is(&out, "\x05\x02\x01\x00", 4);
	else
		assert_buf_is(&out, "\x05\x00", 2);
	rv_buf_cleanup(&in);
	rv_buf_cleanup(&out);
}

static void test_feed_byte_at_a_time(void **state)
{
	(void)state;
	run_byte_at_a_time(0, req_v4, sizeof(req_v4));
	run_byte_at_a_time(0, req_v6, sizeof(req_v6));
	run_byte_at_a_time(0, req_dom, sizeof(req_dom));
	run_byte_at_a_time(1, req_v4, sizeof(req_v4));
	run_byte_at_a_time(1, req_dom, sizeof(req_dom));
}

static void test_feed_one_segment_with_early_data(void **state)
{
	static const char early[] = "GET / HTTP/1.1\r\nHost: example.org\r\n\r\n";
	uint8_t conv[512];
	struct rv_socks5 s;
	struct rv_buf in, out;
	size_t len;
	int auth;

	(void)state;
	for (auth = 0; auth <= 1; auth++) {
		len = conversation(conv, auth, req_dom, sizeof(req_dom), early);
		rv_socks5_init(&s, auth ? &cfg_auth : &cfg_open);
		buf_load(&in, conv, len);
		rv_buf_init(&out, 64);
		assert_int_equal(rv_socks5_feed(&s, &in, &out), RV_OK);
		assert_int_equal(s.state, RV_SOCKS5_DONE);
		assert_string_equal(s.dst.domain, "example.org");
		assert_int_equal(s.dst.port, 443);
		assert_buf_is(&in, early, strlen(early));
		assert_int_equal(rv_buf_len(&out), auth ? 4 : 2);
		/* Feeding again after DONE changes nothing. */
		assert_int_equal(rv_socks5_feed(&s, &in, &out), RV_OK);
		assert_buf_is(&in, early, strlen(early));
		rv_buf_cleanup(&in);
		rv_buf_cleanup(&out);
	}
}

/* Every split of the whole conversation into two segments. */
static void test_feed_every_split(void **state)
{
	uint8_t conv[512];
	size_t len, cut;

	(void)state;
	len = conversation(conv, 1, req_v6, sizeof(req_v6), "xyz");
	for (cut = 0; cut <= len; cut++) {
		struct rv_socks5 s;
		struct rv_buf in, out;
		int ret;

		rv_socks5_init(&s, &cfg_auth);
		buf_load(&in, conv, cut);
		rv_buf_init(&out, 64);
		ret = rv_socks5_feed(&s, &in, &out);
		if (cut < len - 3)
			assert_int_equal(ret, RV_ERR_NEED_MORE);
		assert_int_equal(rv_buf_put(&in, conv + cut, len - cut), RV_OK);
		assert_int_equal(rv_socks5_feed(&s, &in, &out), RV_OK);
		assert_buf_is(&in, "xyz", 3);
		assert_buf_is(&out, "\x05\x02\x01\x00", 4);
		rv_buf_cleanup(&in);
		rv_buf_cleanup(&out);
	}
}

static int feed_all(const struct rv_socks5_config *cfg, const uint8_t *msg, size_t len,
		    struct rv_socks5 *s, struct rv_buf *out)
{
	struct rv_buf in;
	int ret;

	rv_socks5_init(s, cfg);
	buf_load(&in, msg, len);
	rv_buf_init(out, 64);
	ret = rv_socks5_feed(s, &in, out);
	rv_buf_cleanup(&in);
	return ret;
}

/* cfg->udp: UDP ASSOCIATE parsed like CONNECT (cmd 3), every prefix needs
 * more; BIND is still refused; without cfg->udp the old refusal stays. */
static void test_feed_udp_associate(void **state)
{
	static const struct rv_socks5_config cfg_udp = { 0, NULL, 0, NULL, 0, 1 };
	static const uint8_t udp[] = { 5, 1, 0, 5, 3, 0, 1, 127, 0, 0, 1, 0x30, 0x39 };
	static const uint8_t bind[] = { 5, 1, 0, 5, 2, 0, 1, 0, 0, 0, 0, 0, 0 };
	struct rv_socks5 s;
	struct rv_buf out, in;
	size_t cut;

	(void)state;
	assert_int_equal(feed_all(&cfg_udp, udp, sizeof(udp), &s, &out), RV_OK);
	assert_int_equal(s.state, RV_SOCKS5_DONE);
	assert_int_equal(s.cmd, RV_SOCKS5_CMD_UDP_ASSOCIATE);
	assert_int_equal(s.dst.atyp, RV_ATYP_IPV4);
	assert_memory_equal(s.dst.ip, "\x7f\x00\x00\x01", 4);
	assert_int_equal(s.dst.port, 12345);
	assert_buf_is(&out, "\x05\x00", 2); /* the reply is the caller's */
	rv_buf_cleanup(&out);

	for (cut = 3; cut < sizeof(udp); cut++) {
		rv_socks5_init(&s, &cfg_udp);
		buf_load(&in, udp, cut);
		rv_buf_init(&out, 64);
		assert_int_equal(rv_socks5_feed(&s, &in, &out), RV_ERR_NEED_MORE);
		assert_int_equal(s.state, RV_SOCKS5_REQUEST);
		assert_buf_is(&in, udp + 3, cut - 3);
		rv_buf_cleanup(&in);
		rv_buf_cleanup(&out);
	}

	assert_int_equal(feed_all(&cfg_udp, bind, sizeof(bind), &s, &out), RV_ERR_UNSUPPORTED);
	assert_int_equal(s.fail_reply, RV_STATUS_COMMAND_NOT_SUPPORTED);
	rv_buf_cleanup(&out);

	/* CONNECT under cfg_udp: cmd 1. */
	{
		static const uint8_t conn[] = { 5, 1, 0, 5, 1, 0, 1, 10, 1, 2, 3, 0, 80 };

		assert_int_equal(feed_all(&cfg_udp, conn, sizeof(conn), &s, &out), RV_OK);
		assert_int_equal(s.cmd, RV_SOCKS5_CMD_CONNECT);
		rv_buf_cleanup(&out);
	}
	/* The low-level parser keeps refusing UDP, consuming the request. */
	{
		enum rv_status rep;
		struct rv_addr a;
		uint8_t cmd = 0;

		buf_load(&in, udp + 3, sizeof(udp) - 3);
		assert_int_equal(rv_socks5_parse_request(&in, &a, &rep), RV_ERR_UNSUPPORTED);
		assert_int_equal(rep, RV_STATUS_COMMAND_NOT_SUPPORTED);
		assert_int_equal(rv_buf_len(&in), 0);
		rv_buf_cleanup(&in);
		buf_load(&in, udp + 3, sizeof(udp) - 3);
		assert_int_equal(rv_socks5_parse_request_cmd(&in, &cmd, &a, &rep), RV_OK);
		assert_int_equal(cmd, RV_SOCKS5_CMD_UDP_ASSOCIATE);
		assert_int_equal(rv_buf_len(&in), 0);
		rv_buf_cleanup(&in);
	}
}

static void test_feed_failures(void **state)
{
	static const uint8_t bad_pass[] = { 5, 1, 2, 1, 5, 'a', 'l', 'i', 'c', 'e', 1, 'x' };
	static const uint8_t noauth_only[] = { 5, 1, 0, 5, 1, 0, 1, 1, 2, 3, 4, 0, 80 };
	static const uint8_t udp[] = { 5, 1, 0, 5, 3, 0, 1, 0, 0, 0, 0, 0, 0 };
	static const uint8_t atyp7[] = { 5, 1, 0, 5, 1, 0, 7 };
	static const uint8_t http[] = "GET / HTTP/1.1\r\n";
	static const uint8_t bad_authver[] = { 5, 1, 2, 2, 1, 'a', 1, 'b' };
	struct rv_socks5 s;
	struct rv_buf out;

	(void)state;
	assert_int_equal(feed_all(&cfg_auth, bad_pass, sizeof(bad_pass), &s, &out), RV_ERR_DENIED);
	assert_int_equal(s.state, RV_SOCKS5_FAILED);
	assert_buf_is(&out, "\x05\x02\x01\x01", 4);
	rv_buf_cleanup(&out);

	assert_int_equal(feed_all(&cfg_auth, noauth_only, sizeof(noauth_only), &s, &out),
			 RV_ERR_DENIED);
	assert_buf_is(&out, "\x05\xff", 2);
	rv_buf_cleanup(&out);

	assert_int_equal(feed_all(&cfg_open, udp, sizeof(udp), &s, &out), RV_ERR_UNSUPPORTED);
	assert_buf_is(&out, "\x05\x00\x05\x07\x00\x01\x00\x00\x00\x00\x00\x00", 12);
	assert_int_equal(s.fail_reply, RV_STATUS_COMMAND_NOT_SUPPORTED);
	rv_buf_cleanup(&out);

	assert_int_equal(feed_all(&cfg_open, atyp7, sizeof(atyp7), &s, &out), RV_ERR_UNSUPPORTED);
	assert_buf_is(&out, "\x05\x00\x05\x08\x00\x01\x00\x00\x00\x00\x00\x00", 12);
	rv_buf_cleanup(&out);

	assert_int_equal(feed_all(&cfg_open, http, sizeof(http) - 1, &s, &out), RV_ERR_MALFORMED);
	assert_int_equal(rv_buf_len(&out), 0); /* not SOCKS5: no answer at all */
	rv_buf_cleanup(&out);

	assert_int_equal(feed_all(&cfg_auth, bad_authver, sizeof(bad_authver), &s, &out),
			 RV_ERR_MALFORMED);
	assert_buf_is(&out, "\x05\x02\x01\x01", 4);
	assert_int_equal(s.state, RV_SOCKS5_FAILED);
	/* A failed state stays failed. */
	{
		struct rv_buf in;

		buf_load(&in, req_v4, sizeof(req_v4));
		assert_int_equal(rv_socks5_feed(&s, &in, &out), RV_ERR_STATE);
		assert_buf_is(&in, req_v4, sizeof(req_v4));
		rv_buf_cleanup(&in);
	}
	rv_buf_cleanup(&out);
}

static void test_feed_no_room_for_reply(void **state)
{
	struct rv_socks5 s;
	struct rv_buf in, out;

	(void)state;
	rv_socks5_init(&s, &cfg_open);
	buf_load(&in, greet_noauth, sizeof(greet_noauth));
	rv_buf_init(&out, 1);
	assert_int_equal(rv_socks5_feed(&s, &in, &out), RV_ERR_NO_SPACE);
	assert_int_equal(s.state, RV_SOCKS5_GREETING);
	assert_buf_is(&in, greet_noauth, sizeof(greet_noauth));
	assert_int_equal(rv_buf_len(&out), 0);
	rv_buf_cleanup(&in);
	rv_buf_cleanup(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_greeting_prefixes),
		cmocka_unit_test(test_greeting_method_choice),
		cmocka_unit_test(test_auth),
		cmocka_unit_test(test_request_valid),
		cmocka_unit_test(test_request_longest_domain),
		cmocka_unit_test(test_request_errors),
		cmocka_unit_test(test_reply_builders),
		cmocka_unit_test(test_feed_byte_at_a_time),
		cmocka_unit_test(test_feed_one_segment_with_early_data),
		cmocka_unit_test(test_feed_every_split),
		cmocka_unit_test(test_feed_failures),
		cmocka_unit_test(test_feed_udp_associate),
		cmocka_unit_test(test_feed_no_room_for_reply),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
