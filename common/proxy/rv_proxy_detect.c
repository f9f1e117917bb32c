/* rv_proxy_detect.c - protocol detection on the mixed port (see the header). */
#include "rv_proxy_detect.h"

#include <string.h>

#include "rv_err.h"
#include "rv_wire.h"

/* Each with its space: the space is what makes "GETX" not HTTP. */
static const char *const rv_detect_methods[] = {
	"CONNECT ", "GET ", "POST ", "HEAD ", "PUT ", "DELETE ", "OPTIONS ", "PATCH ", "TRACE ",
};

static void rv_detect_why(const char **why, const char *text)
{
	if (why != NULL)
		*why = text;
}

int rv_proxy_detect(const struct rv_buf *in, enum rv_proxy_kind *kind, const char **why)
{
	const uint8_t *p = rv_buf_ptr(in);
	size_t len = rv_buf_len(in), i, mlen;
	int prefix = 0;

	*kind = RV_PROXY_KIND_UNKNOWN;
	rv_detect_why(why, NULL);
	if (len == 0)
		return RV_ERR_NEED_MORE;
	if (p[0] == RV_SOCKS5_VERSION) {
		*kind = RV_PROXY_KIND_SOCKS5;
		return RV_OK;
	}
	if (p[0] == RV_SOCKS4_VERSION) {
		*kind = RV_PROXY_KIND_SOCKS4;
		return RV_OK;
	}
	for (i = 0; i < sizeof(rv_detect_methods) / sizeof(rv_detect_methods[0]); i++) {
		mlen = strlen(rv_detect_methods[i]);
		if (len >= mlen && memcmp(p, rv_detect_methods[i], mlen) == 0) {
			*kind = RV_PROXY_KIND_HTTP;
			return RV_OK;
		}
		if (len < mlen && memcmp(p, rv_detect_methods[i], len) == 0)
			prefix = 1;
	}
	if (prefix)
		return RV_ERR_NEED_MORE;
	rv_detect_why(why, p[0] == 0x16 ? "TLS handshake on a proxy port (use a proxy, not a server URL)"
					: "unknown protocol (not SOCKS4, SOCKS5 or an HTTP method)");
	return RV_ERR_UNSUPPORTED;
}

const char *rv_proxy_kind_str(enum rv_proxy_kind kind)
{
	switch (kind) {
	case RV_PROXY_KIND_SOCKS5:
		return "socks5";
	case RV_PROXY_KIND_SOCKS4:
		return "socks4";
	case RV_PROXY_KIND_HTTP:
		return "http";
	default:
		return "unknown";
	}
}
