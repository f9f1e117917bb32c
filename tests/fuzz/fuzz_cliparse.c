/* fuzz_cliparse.c - libFuzzer target for the command-line value parsers
 * (rv_cliparse_listen / _forward / _url / _port).  Owner: fuzz-extra helper.
 *
 * Input byte 0 selects: bits 0-1 the parser (0 listen, 1 forward, 2 url,
 * 3 port), bits 2-3 the default bind address ("127.0.0.1", "::1", "*",
 * "localhost").  The rest, cut at its first NUL, is the value.  Checks:
 * only RV_OK or RV_ERR_CONFIG; an error message is always written and
 * NUL-terminated (also into a tiny buffer); accepted values are sane (port
 * 1..65535, host and path within their limits) and round-trip: printing
 * the result and parsing that text again gives the same address or URL.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rv_cliparse.h"
#include "rv_err.h"
#include "rv_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { FZ_ERR_LEN = 2048 };

static const char *const fz_binds[] = {"127.0.0.1", "::1", "*", "localhost"};

static void fz_check(int cond)
{
	if (!cond)
		abort();
}

static void fz_check_result(int ret, const char *err, const char *small, size_t smalllen)
{
	fz_check(ret == RV_OK || ret == RV_ERR_CONFIG);
	if (ret == RV_OK)
		return;
	fz_check(err[0] != '\0' && strnlen(err, FZ_ERR_LEN) < FZ_ERR_LEN);
	fz_check(strlen(small) < smalllen);
}

/* Family, address and port (the scope id is not printed, so not compared). */
static void fz_check_same_sockaddr(const struct rv_cli_sockaddr *a,
				   const struct rv_cli_sockaddr *b)
{
	const struct sockaddr *sa = (const struct sockaddr *)&a->ss;
	const struct sockaddr *sb = (const struct sockaddr *)&b->ss;

	fz_check(sa->sa_family == sb->sa_family && a->len == b->len);
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)sa, *y = (const void *)sb;

		fz_check(x->sin_port == y->sin_port &&
			 x->sin_addr.s_addr == y->sin_addr.s_addr);
	} else {
		const struct sockaddr_in6 *x = (const void *)sa, *y = (const void *)sb;

		fz_check(sa->sa_family == AF_INET6);
		fz_check(x->sin6_port == y->sin6_port &&
			 memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0);
	}
}

static void fz_check_sockaddr(const struct rv_cli_sockaddr *a)
{
	const struct sockaddr *sa = (const struct sockaddr *)&a->ss;

	if (sa->sa_family == AF_INET) {
		fz_check(a->len == sizeof(struct sockaddr_in) && !a->wildcard);
		fz_check(((const struct sockaddr_in *)(const void *)sa)->sin_port != 0);
	} else {
		const struct sockaddr_in6 *s6 = (const void *)sa;

		fz_check(sa->sa_family == AF_INET6 && a->len == sizeof(struct sockaddr_in6));
		fz_check(s6->sin6_port != 0);
		if (a->wildcard)
			fz_check(memcmp(&s6->sin6_addr, &in6addr_any, sizeof(in6addr_any)) == 0);
	}
}

static void fz_listen(const char *text, const char *def)
{
	struct rv_cli_sockaddr a, b;
	char err[FZ_ERR_LEN] = "", small[5] = "", str[RV_CLI_ADDRSTR_MAX + 1];
	int ret;

	ret = rv_cliparse_listen("-D", text, def, &a, err, sizeof(err));
	fz_check(rv_cliparse_listen("-D", text, def, &b, small, sizeof(small)) == ret);
	fz_check_result(ret, err, small, sizeof(small));
	if (ret != RV_OK)
		return;
	fz_check_sockaddr(&a);
	rv_cli_sockaddr_str((const struct sockaddr *)&a.ss, str, sizeof(str));
	fz_check(rv_cliparse_listen("-D", str, def, &b, err, sizeof(err)) == RV_OK);
	fz_check_same_sockaddr(&a, &b);
}

static void fz_forward(const char *text, const char *def)
{
	struct rv_cli_forward a, b;
	char err[FZ_ERR_LEN] = "", small[5] = "";
	char bstr[RV_CLI_ADDRSTR_MAX + 1], tstr[RV_CLI_ADDRSTR_MAX + 1];
	char again[2 * RV_CLI_ADDRSTR_MAX + 2];
	int ret;

	ret = rv_cliparse_forward("-L", text, def, &a, err, sizeof(err));
	fz_check(rv_cliparse_forward("-L", text, def, &b, small, sizeof(small)) == ret);
	fz_check_result(ret, err, small, sizeof(small));
	if (ret != RV_OK)
		return;
	fz_check_sockaddr(&a.bind);
	fz_check(a.target.port != 0);
	fz_check(a.target.atyp == RV_ATYP_IPV4 || a.target.atyp == RV_ATYP_IPV6 ||
		 a.target.atyp == RV_ATYP_DOMAIN);
	if (a.target.atyp == RV_ATYP_DOMAIN)
		fz_check(a.target.domain_len > 0 &&
			 strlen(a.target.domain) == a.target.domain_len);
	rv_cli_sockaddr_str((const struct sockaddr *)&a.bind.ss, bstr, sizeof(bstr));
	rv_cli_addr_str(&a.target, tstr, sizeof(tstr));
	snprintf(again, sizeof(again), "%s:%s", bstr, tstr);
	fz_check(rv_cliparse_forward("-L", again, def, &b, err, sizeof(err)) == RV_OK);
	fz_check_same_sockaddr(&a.bind, &b.bind);
	fz_check(a.target.atyp == b.target.atyp && a.target.port == b.target.port);
	if (a.target.atyp == RV_ATYP_DOMAIN)
		fz_check(strcmp(a.target.domain, b.target.domain) == 0 &&
			 a.target.domain_len == b.target.domain_len);
	else
		fz_check(memcmp(a.target.ip, b.target.ip, sizeof(a.target.ip)) == 0);
}

static void fz_url(const char *text)
{
	struct rv_cli_url a, b;
	char err[FZ_ERR_LEN] = "", small[5] = "";
	char again[16 + RV_CLI_HOST_MAX + RV_CLI_PATH_MAX];
	int ret;

	ret = rv_cliparse_url("--url", text, &a, err, sizeof(err));
	fz_check(rv_cliparse_url("--url", text, &b, small, sizeof(small)) == ret);
	fz_check_result(ret, err, small, sizeof(small));
	if (ret != RV_OK)
		return;
	fz_check(a.scheme == RV_CLI_URL_WS || a.scheme == RV_CLI_URL_WSS);
	fz_check(a.port != 0 && a.host[0] != '\0' && a.path[0] == '/');
	fz_check(strnlen(a.host, sizeof(a.host)) < sizeof(a.host));
	fz_check(strnlen(a.path, sizeof(a.path)) < sizeof(a.path));
	snprintf(again, sizeof(again), "%s://%s%s%s:%u%s", a.scheme == RV_CLI_URL_WSS ? "wss" : "ws",
		 a.host_is_ipv6 ? "[" : "", a.host, a.host_is_ipv6 ? "]" : "", (unsigned)a.port,
		 a.path);
	fz_check(rv_cliparse_url("--url", again, &b, err, sizeof(err)) == RV_OK);
	fz_check(a.scheme == b.scheme && a.port == b.port && a.host_is_ipv6 == b.host_is_ipv6 &&
		 strcmp(a.host, b.host) == 0 && strcmp(a.path, b.path) == 0);
}

static void fz_port(const char *text)
{
	char err[FZ_ERR_LEN] = "", small[5] = "";
	uint16_t p = 0, q = 0;
	int ret;

	ret = rv_cliparse_port("-p", text, &p, err, sizeof(err));
	fz_check(rv_cliparse_port("-p", text, &q, small, sizeof(small)) == ret);
	fz_check_result(ret, err, small, sizeof(small));
	if (ret == RV_OK)
		fz_check(p != 0 && p == q && (unsigned long)p == strtoul(text, NULL, 10));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *def;
	char *text;
	uint8_t sel;

	if (size == 0)
		return 0;
	sel = data[0];
	def = fz_binds[(sel >> 2) & 3];
	text = strndup((const char *)data + 1, size - 1);
	fz_check(text != NULL);
	switch (sel & 3) {
	case 0:
		fz_listen(text, def);
		break;
	case 1:
		fz_forward(text, def);
		break;
	case 2:
		fz_url(text);
		break;
	default:
		fz_port(text);
		break;
	}
	free(text);
	return 0;
}
