/* fuzz_permit_listen.c - libFuzzer target for permit-listen="SPEC"
 * (rv_permitlisten.c).  The input is one spec.  Checks: only the documented
 * results; a refusal leaves the rule set unchanged; an accepted set has at
 * most RV_PERMIT_LISTEN_MAX entries, valid port ranges, and never allows a
 * domain or a non-loopback address unless an entry names it or "*". */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rv_addr.h"
#include "rv_err.h"
#include "rv_permitlisten.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rv_permit_listen p, before;
	struct rv_addr dom, pub;
	const uint8_t ip[4] = { 192, 0, 2, 1 };
	char err[200];
	int r, named = 0;

	memset(&p, 0, sizeof(p));
	before = p;
	r = rv_permit_listen_parse(&p, (const char *)data, size, err, sizeof(err));
	if (r != RV_OK) {
		if ((r != RV_ERR_CONFIG && r != RV_ERR_LIMIT) || memcmp(&p, &before, sizeof(p)) != 0)
			abort();
		return 0;
	}
	if (p.n == 0 || p.n > RV_PERMIT_LISTEN_MAX)
		abort();
	for (unsigned i = 0; i < p.n; i++) {
		if (!p.r[i].any_port && (p.r[i].port_lo == 0 || p.r[i].port_lo > p.r[i].port_hi))
			abort();
		if (p.r[i].host == RV_PERMIT_HOST_ANY ||
		    (p.r[i].host == RV_PERMIT_HOST_IPV4 && memcmp(p.r[i].ip, ip, 4) == 0))
			named = 1;
	}
	rv_addr_set_domain(&dom, "localhost", 9, 80);
	if (rv_permit_listen_check(&p, &dom) != RV_ERR_DENIED)
		abort();
	for (unsigned port = 0; port < 65536; port += 4099) {
		rv_addr_set_ipv4(&pub, ip, (uint16_t)port);
		if (rv_permit_listen_check(&p, &pub) == RV_OK && !named)
			abort();
	}
	return 0;
}
