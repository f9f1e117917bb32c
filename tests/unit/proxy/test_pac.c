/* test_pac.c - PAC file builder: no DIRECT fallback, validated host and
 * bypass patterns, the HTTP response around it. */
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
#include "rv_http_proxy.h"
#include "rv_pac.h"

static char g_text[RV_PAC_MAX + 1];

/* Build into a buffer that already holds "xy": on failure it must still
 * hold exactly "xy"; on success g_text is the PAC text. */
static int build(const char *host, uint16_t port, const char *const *bypass, size_t n,
		 const char **why)
{
	struct rv_pac_config cfg = { host, port, bypass, n, 0 };
	struct rv_buf out;
	int ret;

	rv_buf_init(&out, 2 + RV_PAC_MAX);
	assert_int_equal(rv_buf_put(&out, "xy", 2), RV_OK);
	ret = rv_pac_build(&out, &cfg, why);
	if (ret == RV_OK) {
		size_t len = rv_buf_len(&out) - 2;

		assert_true(len <= RV_PAC_MAX);
		memcpy(g_text, rv_buf_ptr(&out) + 2, len);
		g_text[len] = '\0';
	} else {
		assert_int_equal(rv_buf_len(&out), 2);
	}
	rv_buf_cleanup(&out);
	return ret;
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	const char *p = hay;

	while ((p = strstr(p, needle)) != NULL) {
		n++;
		p += strlen(needle);
	}
	return n;
}

/* Only printable ASCII and newlines; quotes balanced per line. */
static void assert_clean(const char *s)
{
	size_t q = 0;

	for (; *s != '\0'; s++) {
		assert_true(*s == '\n' || (*s >= 0x20 && *s < 0x7f));
		if (*s == '"')
			q++;
		if (*s == '\n')
			assert_int_equal(q % 2, 0);
	}
}

static void test_no_direct(void **state)
{
	(void)state;
	assert_int_equal(build("127.0.0.1", 1080, NULL, 0, NULL), RV_OK);
	assert_non_null(strstr(g_text, "function FindProxyForURL(url, host)"));
	assert_non_null(strstr(g_text, "return \"SOCKS5 127.0.0.1:1080; SOCKS 127.0.0.1:1080; "
				       "PROXY 127.0.0.1:1080\";"));
	assert_null(strstr(g_text, "DIRECT\""));
	assert_null(strstr(g_text, "isInNet"));
	assert_null(strstr(g_text, "dnsResolve"));
	assert_clean(g_text);

	assert_int_equal(build("::1", 8080, NULL, 0, NULL), RV_OK);
	assert_non_null(strstr(g_text, "\"SOCKS5 [::1]:8080; SOCKS [::1]:8080; PROXY [::1]:8080\""));
	assert_int_equal(build("[::1]", 8080, NULL, 0, NULL), RV_OK);
	assert_non_null(strstr(g_text, "\"SOCKS5 [::1]:8080; SOCKS [::1]:8080; PROXY [::1]:8080\""));
	assert_int_equal(build("Proxy.LAN", 65535, NULL, 0, NULL), RV_OK);
	assert_non_null(strstr(g_text, "\"SOCKS5 proxy.lan:65535;"));
}

static void test_omit_socks4(void **state)
{
	struct rv_pac_config cfg = { "::1", 1080, NULL, 0, 1 };
	struct rv_buf out;
	const char *text;

	(void)state;
	rv_buf_init(&out, RV_PAC_MAX);
	assert_int_equal(rv_pac_build(&out, &cfg, NULL), RV_OK);
	assert_int_equal(rv_buf_put_u8(&out, 0), RV_OK);
	text = (const char *)rv_buf_ptr(&out);
	assert_non_null(strstr(text, "return \"SOCKS5 [::1]:1080; PROXY [::1]:1080\";\n}\n"));
	assert_null(strstr(text, "SOCKS "));
	assert_null(strstr(text, "DIRECT\""));
	rv_buf_cleanup(&out);
}

static void test_hostile_host(void **state)
{
	static const char *const bad[] = {
		"", "evil\"; return \"DIRECT", "a\nb", "a\\b", "a b", "a'b", "a;b", "[1.2.3.4]",
		"[::1", "::1]", "[]", "-/", ".a", "a.", "a:1", "\xc3\xa9.example",
	};
	char longname[RV_PAC_HOST_MAX + 2];
	const char *why;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		assert_int_equal(build(bad[i], 1080, NULL, 0, &why), RV_ERR_INVALID_ARG);
		assert_non_null(why);
	}
	assert_int_equal(build(NULL, 1080, NULL, 0, &why), RV_ERR_INVALID_ARG);
	assert_int_equal(build("127.0.0.1", 0, NULL, 0, &why), RV_ERR_INVALID_ARG);
	assert_non_null(strstr(why, "port"));
	/* Host length: max passes, max + 1 fails. */
	memset(longname, 'a', sizeof(longname));
	longname[RV_PAC_HOST_MAX] = '\0';
	assert_int_equal(build(longname, 1, NULL, 0, NULL), RV_OK);
	longname[RV_PAC_HOST_MAX] = 'a';
	longname[RV_PAC_HOST_MAX + 1] = '\0';
	assert_int_equal(build(longname, 1, NULL, 0, &why), RV_ERR_INVALID_ARG);
}

static void test_bypass(void **state)
{
	static const char *const pats[] = {
		"localhost", "127.0.0.0/8", "*.Corp.Example", ".lan", "::1", "[fe80::1]", "<local>",
		"10.1.2.3", "0.0.0.0/0", "192.168.1.1/32",
	};
	const size_t n = sizeof(pats) / sizeof(pats[0]);

	(void)state;
	assert_int_equal(build("127.0.0.1", 1080, pats, n, NULL), RV_OK);
	assert_int_equal(count(g_text, "return \"DIRECT\";"), n);
	assert_non_null(strstr(g_text, "if (h == \"localhost\") return \"DIRECT\";"));
	assert_non_null(strstr(g_text, "if (ip >= 0 && Math.floor(ip / 16777216) == 127) return"));
	assert_non_null(strstr(g_text, "if (rvEnds(h, \".corp.example\")) return"));
	assert_non_null(strstr(g_text, "if (h == \"lan\" || rvEnds(h, \".lan\")) return"));
	assert_non_null(strstr(g_text, "if (h == \"::1\" || h == \"[::1]\") return"));
	assert_non_null(strstr(g_text, "if (h == \"fe80::1\" || h == \"[fe80::1]\") return"));
	assert_non_null(strstr(g_text, "if (h.indexOf(\".\") < 0 && h.indexOf(\":\") < 0) return"));
	assert_non_null(strstr(g_text, "if (h == \"10.1.2.3\") return"));
	assert_non_null(strstr(g_text, "if (ip >= 0) return"));
	assert_non_null(strstr(g_text, "Math.floor(ip / 1) == 3232235777)"));
	/* The proxy line is still last and still without DIRECT. */
	assert_non_null(strstr(g_text, "return \"SOCKS5 127.0.0.1:1080; SOCKS 127.0.0.1:1080; "
				       "PROXY 127.0.0.1:1080\";\n}\n"));
	assert_clean(g_text);
}

static void test_bad_bypass(void **state)
{
	static const char *const bad[] = {
		"", "a\"b", "a b", "1.2.3.4/33", "1.2.3.4/", "1.2.3/8", "1.2.3.4/8x", "1.2.3.4/008",
		"::1/128", "*.", "*", "..", "*.a\"", "a\\b", "<LOCAL>x", "[::g]", "*x.com",
		"1.2.3.4/-1", "a\nb",
	};
	static const char *const one[] = { NULL };
	const char *why, *p[1];
	char longpat[RV_PAC_PATTERN_MAX + 2];
	const char *many[RV_PAC_BYPASS_MAX + 1];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		p[0] = bad[i];
		why = NULL;
		if (build("127.0.0.1", 1080, p, 1, &why) != RV_ERR_INVALID_ARG)
			fail_msg("pattern \"%s\" accepted", bad[i]);
		assert_non_null(why);
	}
	assert_int_equal(build("127.0.0.1", 1080, one, 1, &why), RV_ERR_INVALID_ARG);
	assert_int_equal(build("127.0.0.1", 1080, NULL, 1, &why), RV_ERR_INVALID_ARG);
	/* Pattern length: max passes, max + 1 fails. */
	memset(longpat, 'b', sizeof(longpat));
	longpat[RV_PAC_PATTERN_MAX] = '\0';
	p[0] = longpat;
	assert_int_equal(build("127.0.0.1", 1080, p, 1, NULL), RV_OK);
	longpat[RV_PAC_PATTERN_MAX] = 'b';
	longpat[RV_PAC_PATTERN_MAX + 1] = '\0';
	assert_int_equal(build("127.0.0.1", 1080, p, 1, &why), RV_ERR_INVALID_ARG);
	/* Pattern count: max passes, max + 1 fails. */
	for (i = 0; i < RV_PAC_BYPASS_MAX + 1; i++)
		many[i] = "localhost";
	assert_int_equal(build("127.0.0.1", 1080, many, RV_PAC_BYPASS_MAX, NULL), RV_OK);
	assert_int_equal(count(g_text, "DIRECT\";"), RV_PAC_BYPASS_MAX);
	assert_int_equal(build("127.0.0.1", 1080, many, RV_PAC_BYPASS_MAX + 1, &why),
			 RV_ERR_INVALID_ARG);
	assert_non_null(strstr(why, "too many"));
}

/* The biggest PAC (max patterns of max length, longest host) fits
 * RV_PAC_MAX; a too small buffer leaves out unchanged. */
static void test_sizes(void **state)
{
	char host[RV_PAC_HOST_MAX + 1], pat[RV_PAC_PATTERN_MAX + 1];
	const char *many[RV_PAC_BYPASS_MAX];
	struct rv_pac_config cfg = { "127.0.0.1", 1080, NULL, 0, 0 };
	struct rv_buf out;
	size_t i;

	(void)state;
	memset(host, 'h', RV_PAC_HOST_MAX);
	host[RV_PAC_HOST_MAX] = '\0';
	pat[0] = '.';
	memset(pat + 1, 'p', RV_PAC_PATTERN_MAX - 1);
	pat[RV_PAC_PATTERN_MAX] = '\0';
	for (i = 0; i < RV_PAC_BYPASS_MAX; i++)
		many[i] = pat;
	assert_int_equal(build(host, 65535, many, RV_PAC_BYPASS_MAX, NULL), RV_OK);

	rv_buf_init(&out, 100);
	assert_int_equal(rv_buf_put(&out, "ab", 2), RV_OK);
	assert_int_equal(rv_pac_build(&out, &cfg, NULL), RV_ERR_NO_SPACE);
	assert_int_equal(rv_buf_len(&out), 2);
	rv_buf_cleanup(&out);
}

static int has(const struct rv_buf *b, const char *s)
{
	return memmem(rv_buf_ptr(b), rv_buf_len(b), s, strlen(s)) != NULL;
}

static void test_response(void **state)
{
	struct rv_pac_config cfg = { "127.0.0.1", 1080, NULL, 0, 0 };
	struct rv_http_response resp;
	struct rv_buf out;
	size_t body;

	(void)state;
	assert_int_equal(build("127.0.0.1", 1080, NULL, 0, NULL), RV_OK);
	body = strlen(g_text);
	rv_buf_init(&out, 1 << 16);
	assert_int_equal(rv_pac_build_response(&out, &cfg, RV_HTTP_RESP_KEEP_ALIVE, NULL), RV_OK);
	assert_true(has(&out, "\r\nContent-Type: application/x-ns-proxy-autoconfig\r\n"));
	rv_http_response_init(&resp);
	assert_int_equal(rv_http_parse_response(&out, &resp, 0, NULL), RV_OK);
	assert_int_equal(resp.status, 200);
	assert_int_equal(resp.keep_alive, 1);
	assert_int_equal(resp.framing, RV_HTTP_BODY_LENGTH);
	assert_int_equal(resp.content_length, body);
	assert_int_equal(rv_buf_len(&out) - resp.head_len, body);
	assert_memory_equal(rv_buf_ptr(&out) + resp.head_len, g_text, body);
	rv_buf_reset(&out);
	/* HEAD: same head, no body. */
	assert_int_equal(rv_pac_build_response(&out, &cfg, RV_HTTP_RESP_HEAD_ONLY, NULL), RV_OK);
	rv_http_response_init(&resp);
	assert_int_equal(rv_http_parse_response(&out, &resp, RV_HTTP_REQ_WAS_HEAD, NULL), RV_OK);
	assert_int_equal(rv_buf_len(&out), resp.head_len);
	assert_true(has(&out, "\r\nContent-Length: "));
	rv_buf_reset(&out);
	cfg.host = "bad host";
	assert_int_equal(rv_pac_build_response(&out, &cfg, 0, NULL), RV_ERR_INVALID_ARG);
	assert_int_equal(rv_buf_len(&out), 0);
	rv_buf_cleanup(&out);
}

static void test_path_match(void **state)
{
	(void)state;
	assert_int_equal(rv_pac_path_match("/proxy.pac", 10), 1);
	assert_int_equal(rv_pac_path_match("/wpad.dat", 9), 1);
	assert_int_equal(rv_pac_path_match("/proxy.pac?x=1", 14), 1);
	assert_int_equal(rv_pac_path_match("/proxy.pacx", 11), 0);
	assert_int_equal(rv_pac_path_match("/PROXY.PAC", 10), 0);
	assert_int_equal(rv_pac_path_match("/", 1), 0);
	assert_int_equal(rv_pac_path_match("*", 1), 0);
	assert_int_equal(rv_pac_path_match("/proxy.pac", 9), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_direct),
		cmocka_unit_test(test_omit_socks4),
		cmocka_unit_test(test_hostile_host),
		cmocka_unit_test(test_bypass),
		cmocka_unit_test(test_bad_bypass),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_response),
		cmocka_unit_test(test_path_match),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
