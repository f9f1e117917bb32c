/* rv_pac.c - PAC file builder (see rv_pac.h). */
#include "rv_pac.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "rv_err.h"
#include "rv_http_proxy.h"

static const char rv_pac_content_type[] = "application/x-ns-proxy-autoconfig";

static int rv_pac_fail(const char **why, const char *text)
{
	if (why != NULL)
		*why = text;
	return RV_ERR_INVALID_ARG;
}

/* [A-Za-z0-9.-]+, at most max bytes, not starting or ending with '.'. */
static int rv_pac_is_name(const char *s, size_t len, size_t max)
{
	size_t i;

	if (len == 0 || len > max || s[0] == '.' || s[len - 1] == '.')
		return 0;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.'))
			return 0;
	}
	return 1;
}

static int rv_pac_is_ipv4(const char *s)
{
	uint8_t ip[4];

	return inet_pton(AF_INET, s, ip) == 1;
}

/* IPv6 literal (without brackets); s is NUL-terminated. */
static int rv_pac_is_ipv6(const char *s)
{
	uint8_t ip[16];

	return strlen(s) < INET6_ADDRSTRLEN && inet_pton(AF_INET6, s, ip) == 1;
}

/* Strip one pair of brackets into buf: RV_OK if what is inside is an IPv6
 * literal. */
static int rv_pac_unbracket(const char *s, char *buf, size_t buflen)
{
	size_t len = strlen(s);

	if (len < 2 || s[0] != '[' || s[len - 1] != ']' || len - 2 >= buflen)
		return RV_ERR_INVALID_ARG;
	memcpy(buf, s + 1, len - 2);
	buf[len - 2] = '\0';
	return rv_pac_is_ipv6(buf) ? RV_OK : RV_ERR_INVALID_ARG;
}

static void rv_pac_lower(char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s + ('a' - 'A'));
}

/* "HOST:PORT" with IPv6 bracketed; host validated. */
static int rv_pac_endpoint(const struct rv_pac_config *cfg, char *out, size_t outlen,
			   const char **why)
{
	char v6[INET6_ADDRSTRLEN];
	size_t len;
	int n;

	if (cfg->host == NULL)
		return rv_pac_fail(why, "no listen host");
	len = strnlen(cfg->host, RV_PAC_HOST_MAX + 1);
	if (len == 0 || len > RV_PAC_HOST_MAX)
		return rv_pac_fail(why, "listen host empty or too long");
	if (cfg->port == 0)
		return rv_pac_fail(why, "listen port 0");
	if (rv_pac_is_ipv6(cfg->host))
		n = snprintf(out, outlen, "[%s]:%u", cfg->host, (unsigned)cfg->port);
	else if (rv_pac_unbracket(cfg->host, v6, sizeof(v6)) == RV_OK)
		n = snprintf(out, outlen, "[%s]:%u", v6, (unsigned)cfg->port);
	else if (rv_pac_is_ipv4(cfg->host) || rv_pac_is_name(cfg->host, len, RV_PAC_HOST_MAX))
		n = snprintf(out, outlen, "%s:%u", cfg->host, (unsigned)cfg->port);
	else
		return rv_pac_fail(why, "listen host is neither an IP literal nor [A-Za-z0-9.-]");
	if (n < 0 || (size_t)n >= outlen)
		return rv_pac_fail(why, "listen host too long");
	rv_pac_lower(out);
	return RV_OK;
}

/* One bypass pattern as a JavaScript condition on the lower-cased host `h`
 * (and `ip`, the host as an IPv4 number or -1). */
static int rv_pac_condition(const char *pat, char *out, size_t outlen, const char **why)
{
	char buf[RV_PAC_PATTERN_MAX + 1], v6[INET6_ADDRSTRLEN];
	const char *slash;
	size_t len;
	int n = -1;

	if (pat == NULL)
		return rv_pac_fail(why, "NULL bypass pattern");
	len = strnlen(pat, RV_PAC_PATTERN_MAX + 1);
	if (len == 0 || len > RV_PAC_PATTERN_MAX)
		return rv_pac_fail(why, "bypass pattern empty or too long");
	memcpy(buf, pat, len);
	buf[len] = '\0';
	rv_pac_lower(buf);
	slash = strchr(buf, '/');
	if (strcmp(buf, "<local>") == 0) {
		n = snprintf(out, outlen, "h.indexOf(\".\") < 0 && h.indexOf(\":\") < 0");
	} else if (slash != NULL) {
		char net[INET_ADDRSTRLEN];
		uint8_t ip[4];
		unsigned bits = 0;
		size_t i, nl = (size_t)(slash - buf);
		unsigned long v, mask;

		if (nl >= sizeof(net) || slash[1] == '\0' || strlen(slash + 1) > 2)
			return rv_pac_fail(why, "bad IPv4 CIDR bypass (only a.b.c.d/len)");
		for (i = 1; slash[i] != '\0'; i++) {
			if (slash[i] < '0' || slash[i] > '9')
				return rv_pac_fail(why, "bad CIDR prefix length");
			bits = bits * 10 + (unsigned)(slash[i] - '0');
		}
		memcpy(net, buf, nl);
		net[nl] = '\0';
		if (bits > 32 || inet_pton(AF_INET, net, ip) != 1)
			return rv_pac_fail(why, "bad IPv4 CIDR bypass (only a.b.c.d/len, len <= 32)");
		v = ((unsigned long)ip[0] << 24) | ((unsigned long)ip[1] << 16) |
		    ((unsigned long)ip[2] << 8) | ip[3];
		/* Compare the top bits by division: JavaScript bit operators are
		 * 32-bit signed. */
		mask = bits == 0 ? 0 : (0xffffffffUL << (32 - bits)) & 0xffffffffUL;
		n = snprintf(out, outlen, "ip >= 0 && Math.floor(ip / %lu) == %lu",
			     1UL << (32 - bits), (v & mask) >> (32 - bits));
		if (bits == 0)
			n = snprintf(out, outlen, "ip >= 0");
	} else if (rv_pac_is_ipv4(buf)) {
		n = snprintf(out, outlen, "h == \"%s\"", buf);
	} else if (rv_pac_is_ipv6(buf)) {
		n = snprintf(out, outlen, "h == \"%s\" || h == \"[%s]\"", buf, buf);
	} else if (rv_pac_unbracket(buf, v6, sizeof(v6)) == RV_OK) {
		n = snprintf(out, outlen, "h == \"%s\" || h == \"[%s]\"", v6, v6);
	} else if (buf[0] == '*' && buf[1] == '.' && rv_pac_is_name(buf + 2, len - 2, len)) {
		n = snprintf(out, outlen, "rvEnds(h, \"%s\")", buf + 1);
	} else if (buf[0] == '.' && rv_pac_is_name(buf + 1, len - 1, len)) {
		n = snprintf(out, outlen, "h == \"%s\" || rvEnds(h, \"%s\")", buf + 1, buf);
	} else if (rv_pac_is_name(buf, len, len)) {
		n = snprintf(out, outlen, "h == \"%s\"", buf);
	} else {
		return rv_pac_fail(why, "bad bypass pattern (host name [A-Za-z0-9.-], *.name, .name, "
					"IPv4/IPv6 literal, a.b.c.d/len or <local>)");
	}
	if (n < 0 || (size_t)n >= outlen)
		return rv_pac_fail(why, "bypass pattern too long");
	return RV_OK;
}

static const char rv_pac_prologue[] =
	"// rvpn-client proxy auto-config.  No DIRECT fallback: if the proxy is down,\n"
	"// requests fail instead of leaking outside the tunnel.\n"
	"function rvEnds(h, s) {\n"
	"  return h.length > s.length && h.substring(h.length - s.length) == s;\n"
	"}\n"
	"function rvIp4(h) {\n"
	"  var m = /^(\\d{1,3})\\.(\\d{1,3})\\.(\\d{1,3})\\.(\\d{1,3})$/.exec(h);\n"
	"  if (!m) return -1;\n"
	"  var a = +m[1], b = +m[2], c = +m[3], d = +m[4];\n"
	"  if (a > 255 || b > 255 || c > 255 || d > 255) return -1;\n"
	"  return ((a * 256 + b) * 256 + c) * 256 + d;\n"
	"}\n"
	"function FindProxyForURL(url, host) {\n"
	"  var h = String(host).toLowerCase();\n"
	"  var ip = rvIp4(h);\n";

int rv_pac_build(struct rv_buf *out, const struct rv_pac_config *cfg, const char **why)
{
	/* line: a bypass condition, or the final return with ep three times. */
	char ep[RV_PAC_HOST_MAX + 16], line[3 * (RV_PAC_HOST_MAX + 16) + 2 * RV_PAC_PATTERN_MAX + 128];
	size_t start = rv_buf_len(out), i;
	int n, ret;

	if (why != NULL)
		*why = NULL;
	if (cfg == NULL || (cfg->n_bypass > 0 && cfg->bypass == NULL))
		return rv_pac_fail(why, "no PAC configuration");
	if (cfg->n_bypass > RV_PAC_BYPASS_MAX)
		return rv_pac_fail(why, "too many bypass patterns");
	if ((ret = rv_pac_endpoint(cfg, ep, sizeof(ep), why)) != RV_OK)
		return ret;
	/* Validate everything before writing anything. */
	for (i = 0; i < cfg->n_bypass; i++)
		if ((ret = rv_pac_condition(cfg->bypass[i], line, sizeof(line), why)) != RV_OK)
			return ret;
	if ((ret = rv_buf_put(out, rv_pac_prologue, sizeof(rv_pac_prologue) - 1)) != RV_OK)
		goto out;
	for (i = 0; i < cfg->n_bypass; i++) {
		char cond[2 * RV_PAC_PATTERN_MAX + 96];

		(void)rv_pac_condition(cfg->bypass[i], cond, sizeof(cond), NULL);
		n = snprintf(line, sizeof(line), "  if (%s) return \"DIRECT\";\n", cond);
		if (n < 0 || (size_t)n >= sizeof(line)) {
			ret = RV_ERR_INTERNAL;
			goto out;
		}
		if ((ret = rv_buf_put(out, line, (size_t)n)) != RV_OK)
			goto out;
	}
	if (cfg->omit_socks4)
		n = snprintf(line, sizeof(line), "  return \"SOCKS5 %s; PROXY %s\";\n}\n", ep, ep);
	else
		n = snprintf(line, sizeof(line), "  return \"SOCKS5 %s; SOCKS %s; PROXY %s\";\n}\n",
			     ep, ep, ep);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		ret = RV_ERR_INTERNAL;
		goto out;
	}
	ret = rv_buf_put(out, line, (size_t)n);
out:
	if (ret == RV_OK && rv_buf_len(out) - start > RV_PAC_MAX)
		ret = RV_ERR_NO_SPACE;
	if (ret != RV_OK)
		(void)rv_buf_unput(out, rv_buf_len(out) - start);
	return ret;
}

int rv_pac_build_response(struct rv_buf *out, const struct rv_pac_config *cfg, unsigned flags,
			  const char **why)
{
	struct rv_buf pac;
	int ret;

	rv_buf_init(&pac, RV_PAC_MAX);
	if ((ret = rv_pac_build(&pac, cfg, why)) != RV_OK)
		goto out;
	ret = rv_http_build_body_response(out, rv_pac_content_type, rv_buf_ptr(&pac),
					  rv_buf_len(&pac), flags);
out:
	rv_buf_cleanup(&pac);
	return ret;
}

int rv_pac_path_match(const char *path, size_t len)
{
	const char *q = memchr(path, '?', len);

	if (q != NULL)
		len = (size_t)(q - path);
	return (len == 10 && memcmp(path, "/proxy.pac", 10) == 0) ||
	       (len == 9 && memcmp(path, "/wpad.dat", 9) == 0);
}
