/* test_cliparse.c - ports, listen addresses, -L specs, ws(s) URLs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "rv_cliparse.h"
#include "rv_err.h"

static char err[512];

static void listen_ok(const char *text, const char *want_str, int wildcard)
{
	struct rv_cli_sockaddr sa;
	char s[RV_CLI_ADDRSTR_MAX];

	err[0] = '\0';
	assert_int_equal(rv_cliparse_listen("-D", text, "127.0.0.1", &sa, err, sizeof(err)), RV_OK);
	rv_cli_sockaddr_str((const struct sockaddr *)&sa.ss, s, sizeof(s));
	assert_string_equal(s, want_str);
	assert_int_equal(sa.wildcard, wildcard);
	assert_int_equal(sa.len, sa.ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
							       sizeof(struct sockaddr_in));
}

static void listen_bad(const char *text, const char *must_contain)
{
	struct rv_cli_sockaddr sa;

	err[0] = '\0';
	assert_int_equal(rv_cliparse_listen("-D", text, "127.0.0.1", &sa, err, sizeof(err)),
			 RV_ERR_CONFIG);
	assert_non_null(strstr(err, "-D"));
	assert_non_null(strstr(err, must_contain));
}

static void test_port(void **state)
{
	uint16_t p = 0;

	(void)state;
	assert_int_equal(rv_cliparse_port("--x", "1", &p, err, sizeof(err)), RV_OK);
	assert_int_equal(p, 1);
	assert_int_equal(rv_cliparse_port("--x", "65535", &p, err, sizeof(err)), RV_OK);
	assert_int_equal(p, 65535);
	assert_int_equal(rv_cliparse_port("--x", "65536", &p, err, sizeof(err)), RV_ERR_CONFIG);
	assert_non_null(strstr(err, "--x"));
	assert_non_null(strstr(err, "65536"));
	assert_int_equal(rv_cliparse_port("--x", "0", &p, err, sizeof(err)), RV_ERR_CONFIG);
	assert_int_equal(rv_cliparse_port("--x", "", &p, err, sizeof(err)), RV_ERR_CONFIG);
	assert_int_equal(rv_cliparse_port("--x", "-1", &p, err, sizeof(err)), RV_ERR_CONFIG);
	assert_int_equal(rv_cliparse_port("--x", "+80", &p, err, sizeof(err)), RV_ERR_CONFIG);
	assert_int_equal(rv_cliparse_port("--x", "80x", &p, err, sizeof(err)), RV_ERR_CONFIG);
	assert_int_equal(rv_cliparse_port("--x", "000080", &p, err, sizeof(err)), RV_ERR_CONFIG);
	assert_int_equal(rv_cliparse_port("--x", NULL, &p, err, sizeof(err)), RV_ERR_CONFIG);
}

static void test_listen(void **state)
{
	(void)state;
	listen_ok("1080", "127.0.0.1:1080", 0);
	listen_ok("0.0.0.0:1", "0.0.0.0:1", 0);
	listen_ok("192.168.1.2:8080", "192.168.1.2:8080", 0);
	listen_ok("[::1]:1080", "[::1]:1080", 0);
	listen_ok("[fe80::1]:9", "[fe80::1]:9", 0);
	listen_ok("localhost:1081", "127.0.0.1:1081", 0);
	listen_ok("*:1080", "[::]:1080", 1);
	listen_ok(":1080", "[::]:1080", 1);

	listen_bad("", "port");
	listen_bad("0", "port");
	listen_bad("70000", "port");
	listen_bad("abc", "port");
	listen_bad("::1:1080", "brackets");
	listen_bad("[::1]1080", "[BIND:]PORT");
	listen_bad("[::1:1080", "[BIND:]PORT");
	listen_bad("example.com:1080", "numeric");
	listen_bad("[1.2.3.4]:1080", "numeric");
	listen_bad("1.2.3:80", "numeric");
	listen_bad("1.2.3.4:80:90", "[BIND:]PORT");
	listen_bad("[::1]:", "port");
}

static void test_listen_ipv6_default_bind(void **state)
{
	struct rv_cli_sockaddr sa;
	char s[RV_CLI_ADDRSTR_MAX];

	(void)state;
	assert_int_equal(rv_cliparse_listen("-l", "8443", "::1", &sa, err, sizeof(err)), RV_OK);
	rv_cli_sockaddr_str((const struct sockaddr *)&sa.ss, s, sizeof(s));
	assert_string_equal(s, "[::1]:8443");
}

static void fwd_ok(const char *text, const char *bind, const char *target, enum rv_atyp atyp)
{
	struct rv_cli_forward f;
	char s[RV_CLI_ADDRSTR_MAX];

	err[0] = '\0';
	assert_int_equal(rv_cliparse_forward("-L", text, "127.0.0.1", &f, err, sizeof(err)), RV_OK);
	rv_cli_sockaddr_str((const struct sockaddr *)&f.bind.ss, s, sizeof(s));
	assert_string_equal(s, bind);
	rv_cli_addr_str(&f.target, s, sizeof(s));
	assert_string_equal(s, target);
	assert_int_equal(f.target.atyp, atyp);
}

static void fwd_bad(const char *text, const char *must_contain)
{
	struct rv_cli_forward f;

	err[0] = '\0';
	assert_int_equal(rv_cliparse_forward("-L", text, "127.0.0.1", &f, err, sizeof(err)),
			 RV_ERR_CONFIG);
	assert_non_null(strstr(err, "-L"));
	assert_non_null(strstr(err, must_contain));
}

static void test_forward(void **state)
{
	struct rv_cli_forward f;

	(void)state;
	fwd_ok("8080:example.com:80", "127.0.0.1:8080", "example.com:80", RV_ATYP_DOMAIN);
	fwd_ok("0.0.0.0:8080:10.0.0.1:22", "0.0.0.0:8080", "10.0.0.1:22", RV_ATYP_IPV4);
	fwd_ok("[::1]:2222:[2001:db8::5]:22", "[::1]:2222", "[2001:db8::5]:22", RV_ATYP_IPV6);
	fwd_ok("2222:[::1]:22", "127.0.0.1:2222", "[::1]:22", RV_ATYP_IPV6);
	fwd_ok("*:53:dns_server.internal:53", "[::]:53", "dns_server.internal:53", RV_ATYP_DOMAIN);
	fwd_ok("localhost:1:a:65535", "127.0.0.1:1", "a:65535", RV_ATYP_DOMAIN);

	assert_int_equal(rv_cliparse_forward("-L", "9000:host.example:443", "127.0.0.1", &f, err,
					     sizeof(err)), RV_OK);
	assert_int_equal(f.target.domain_len, strlen("host.example"));
	assert_string_equal(f.target.domain, "host.example");
	assert_int_equal(f.target.port, 443);

	fwd_bad("8080", "[BIND:]PORT:HOST:HOSTPORT");
	fwd_bad("8080:host", "[BIND:]PORT:HOST:HOSTPORT");
	fwd_bad("a:b:c:d:e", "[BIND:]PORT:HOST:HOSTPORT");
	fwd_bad("8080:host:0", "target port");
	fwd_bad("8080:host:http", "target port");
	fwd_bad("x:host:80", "local port");
	fwd_bad("8080:2001:db8::1:80", "[BIND:]PORT:HOST:HOSTPORT");
	fwd_bad("8080:[2001:db8::1:80", "[BIND:]PORT:HOST:HOSTPORT");
	fwd_bad("8080:[example.com]:80", "target host");
	fwd_bad("8080:bad host:80", "target host");
	fwd_bad("8080::80", "target host");
	fwd_bad("name.example:8080:h:80", "bind address");
}

static void test_forward_long_host(void **state)
{
	char text[400], host[300];

	(void)state;
	memset(host, 'h', 255);
	host[255] = '\0';
	snprintf(text, sizeof(text), "1:%s:2", host);
	fwd_ok(text, "127.0.0.1:1", strcat(host, ":2"), RV_ATYP_DOMAIN);
	memset(host, 'h', 256);
	host[256] = '\0';
	snprintf(text, sizeof(text), "1:%s:2", host);
	fwd_bad(text, "target host");
}

static void url_ok(const char *text, enum rv_cli_url_scheme scheme, const char *host,
		   uint16_t port, const char *path, int v6)
{
	struct rv_cli_url u;

	err[0] = '\0';
	assert_int_equal(rv_cliparse_url("URL", text, &u, err, sizeof(err)), RV_OK);
	assert_int_equal(u.scheme, scheme);
	assert_string_equal(u.host, host);
	assert_int_equal(u.port, port);
	assert_string_equal(u.path, path);
	assert_int_equal(u.host_is_ipv6, v6);
}

static void url_bad(const char *text, const char *must_contain)
{
	struct rv_cli_url u;

	err[0] = '\0';
	assert_int_equal(rv_cliparse_url("URL", text, &u, err, sizeof(err)), RV_ERR_CONFIG);
	assert_non_null(strstr(err, "URL"));
	assert_non_null(strstr(err, must_contain));
}

/* Error texts name the real mistake (issue: "-L 2222:h:22:x" was reported
 * as a bad local port). */
static void test_forward_messages(void **state)
{
	struct rv_cli_forward f;
	char err[256];

	(void)state;
	assert_int_not_equal(rv_cliparse_forward("-L", "2222:h:22:x", "127.0.0.1", &f, err,
						 sizeof(err)), RV_OK);
	assert_non_null(strstr(err, "too many fields"));
	assert_non_null(strstr(err, "-L 2222:h:22"));
	assert_int_not_equal(rv_cliparse_forward("-L", "2222:h:x", "127.0.0.1", &f, err,
						 sizeof(err)), RV_OK);
	assert_non_null(strstr(err, "target port 'x'"));
}

static void test_url(void **state)
{
	(void)state;
	url_ok("ws://example.com/tunnel", RV_CLI_URL_WS, "example.com", 80, "/tunnel", 0);
	url_ok("wss://example.com/tunnel", RV_CLI_URL_WSS, "example.com", 443, "/tunnel", 0);
	url_ok("WSS://Example.com:8443/a/b?x=1", RV_CLI_URL_WSS, "Example.com", 8443,
	       "/a/b?x=1", 0);
	url_ok("ws://127.0.0.1:8080/", RV_CLI_URL_WS, "127.0.0.1", 8080, "/", 0);
	url_ok("ws://[::1]:8080/rvpn", RV_CLI_URL_WS, "::1", 8080, "/rvpn", 1);
	url_ok("wss://[2001:db8::1]/p", RV_CLI_URL_WSS, "2001:db8::1", 443, "/p", 1);
	url_ok("wss://host", RV_CLI_URL_WSS, "host", 443, "/rvpn", 0);
	url_ok("ws://host:81", RV_CLI_URL_WS, "host", 81, "/rvpn", 0);
	url_ok("ws://host?q", RV_CLI_URL_WS, "host", 80, "/?q", 0);

	url_bad("http://example.com/", "ws:// or wss://");
	url_bad("example.com", "ws:// or wss://");
	url_bad("", "ws:// or wss://");
	url_bad("ws://", "not a valid host");
	url_bad("ws:///path", "not a valid host");
	url_bad("ws://user:pw@host/", "user names");
	url_bad("ws://host:0/", "port");
	url_bad("ws://host:65536/", "port");
	url_bad("ws://host:/", "port");
	url_bad("ws://host:8x/", "port");
	url_bad("ws://[::1/", "']'");
	url_bad("ws://[nothex]:80/", "IPv6");
	url_bad("ws://[::1]x/", "after ']'");
	url_bad("ws://ho st/", "not a valid host");
	url_bad("ws://host/a b", "path");
	url_bad("ws://host/a#frag", "path");
}

static void test_url_long_path(void **state)
{
	char text[RV_CLI_PATH_MAX + 64];
	struct rv_cli_url u;

	(void)state;
	strcpy(text, "ws://h/");
	memset(text + 7, 'p', RV_CLI_PATH_MAX - 1);
	text[7 + RV_CLI_PATH_MAX - 1] = '\0';
	assert_int_equal(rv_cliparse_url("URL", text, &u, err, sizeof(err)), RV_OK);
	assert_int_equal(strlen(u.path), RV_CLI_PATH_MAX);
	strcat(text, "p");
	assert_int_equal(rv_cliparse_url("URL", text, &u, err, sizeof(err)), RV_ERR_CONFIG);
	assert_non_null(strstr(err, "longer"));
}

static void test_addr_str(void **state)
{
	struct rv_addr a;
	char s[RV_CLI_ADDRSTR_MAX];

	(void)state;
	memset(&a, 0, sizeof(a));
	rv_cli_addr_str(&a, s, sizeof(s));
	assert_string_equal(s, "(no address)");
	a.atyp = RV_ATYP_IPV4;
	memcpy(a.ip, "\x01\x02\x03\x04", 4);
	a.port = 5;
	rv_cli_addr_str(&a, s, sizeof(s));
	assert_string_equal(s, "1.2.3.4:5");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_port),
		cmocka_unit_test(test_listen),
		cmocka_unit_test(test_listen_ipv6_default_bind),
		cmocka_unit_test(test_forward),
		cmocka_unit_test(test_forward_long_host),
		cmocka_unit_test(test_forward_messages),
		cmocka_unit_test(test_url),
		cmocka_unit_test(test_url_long_path),
		cmocka_unit_test(test_addr_str),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
