/* fuzz_clienturl.c - libFuzzer target for the rvpn:// client URL parser
 * (rv_clienturl_parse) and builder.  Owner: onboarding helper.
 *
 * Input: the URL bytes (any length; NULs included).  Checks: only RV_OK or
 * RV_ERR_MALFORMED; an error message is written, NUL-terminated (also into
 * a tiny buffer) and the output is untouched; an accepted URL has sane
 * fields (host, path, name within limits and NUL-terminated, port != 0,
 * path starting with '/'), builds back to a canonical URL that parses to
 * exactly the same fields and builds to the same text again, and gives a
 * ws(s):// URL.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "rv_clienturl.h"
#include "rv_err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fz_check(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rv_clienturl u, v, w;
	char err[512] = "", small[6] = "", text[RV_CLIENTURL_SIZE], again[RV_CLIENTURL_SIZE];
	char ws[RV_CLIENTURL_WS_SIZE];
	int r;

	if (sodium_init() < 0)
		abort();
	memset(&u, 0xa5, sizeof(u));
	memset(&w, 0xa5, sizeof(w));
	r = rv_clienturl_parse((const char *)data, size, &u, err, sizeof(err));
	fz_check(rv_clienturl_parse((const char *)data, size, &v, small, sizeof(small)) == r);
	fz_check(r == RV_OK || r == RV_ERR_MALFORMED);
	if (r != RV_OK) {
		fz_check(err[0] != '\0' && strnlen(err, sizeof(err)) < sizeof(err));
		fz_check(strnlen(small, sizeof(small)) < sizeof(small));
		memset(&v, 0xa5, sizeof(v));
		fz_check(memcmp(&u, &v, sizeof(u)) == 0);
		return 0;
	}
	fz_check(memcmp(&u, &v, sizeof(u)) == 0);
	fz_check(strnlen(u.host, sizeof(u.host)) < sizeof(u.host) && u.host[0] != '\0');
	fz_check(strnlen(u.path, sizeof(u.path)) < sizeof(u.path) && u.path[0] == '/');
	fz_check(strnlen(u.name, sizeof(u.name)) < sizeof(u.name));
	fz_check(u.port != 0 && (u.tls == 0 || u.tls == 1));
	fz_check(rv_clienturl_build(&u, text, sizeof(text)) == RV_OK);
	fz_check(rv_clienturl_parse(text, strlen(text), &w, err, sizeof(err)) == RV_OK);
	fz_check(memcmp(&u, &w, sizeof(u)) == 0);
	fz_check(rv_clienturl_build(&w, again, sizeof(again)) == RV_OK);
	fz_check(strcmp(text, again) == 0);
	fz_check(rv_clienturl_ws_url(&u, ws, sizeof(ws)) == RV_OK);
	rv_clienturl_wipe(&u);
	rv_clienturl_wipe(&v);
	rv_clienturl_wipe(&w);
	return 0;
}
