/* fuzz_acl_rule.c - libFuzzer target for the --allow/--deny rule parser
 * (rv_acl_add) and the matcher (rv_acl_check).  Owner: fuzz-extra helper.
 *
 * The input, cut at its first NUL, is one rule.  It is added as "deny" to an
 * empty ACL and as "allow" to another (same text, so same result), and to a
 * third ACL holding the default deny list.  Each ACL is then checked against
 * fixed addresses and against the rule's own network address.  Checks:
 * only the documented results; a refusal names the value and leaves the ACL
 * unchanged; the two single-rule ACLs agree on what the rule matches; a
 * rule without ports always matches its own network address; an IPv6
 * address in a folded form (mapped, compatible, NAT64, 6to4: see rv_acl.h)
 * is judged exactly as its IPv4 address.
 * Afterwards every '\n'-separated line is added to one more ACL (alternating
 * allow/deny) so rule interaction and the rule limit are exercised too.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rv_acl.h"
#include "rv_err.h"
#include "rv_sockaddr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { FZ_ERR_LEN = 160, FZ_MAX_LINES = RV_ACL_MAX_RULES + 16 };

struct fz_addr {
	int family;
	const char *ip;
	uint16_t port;
};

static const struct fz_addr fz_fixed[] = {
	{AF_INET, "127.0.0.1", 80},      {AF_INET, "10.1.2.3", 22},
	{AF_INET, "8.8.8.8", 53},        {AF_INET, "0.0.0.0", 0},
	{AF_INET, "255.255.255.255", 65535}, {AF_INET, "192.0.2.7", 443},
	{AF_INET6, "::1", 443},          {AF_INET6, "::", 0},
	{AF_INET6, "2001:db8::1", 80},   {AF_INET6, "fe80::1", 22},
	{AF_INET6, "2606:4700::1111", 443}, {AF_INET6, "2002:a00:1::", 8080},
	{AF_INET6, "::ffff:127.0.0.1", 80}, {AF_INET6, "64:ff9b::808:808", 53},
	{AF_INET6, "64:ff9b:1:a00:0:100::", 80}, {AF_INET6, "::10.0.0.1", 25},
};

static const uint16_t fz_ports[] = {0, 1, 22, 80, 443, 8080, 65535};

static void fz_check(int cond)
{
	if (!cond)
		abort();
}

static void fz_check_err(const char *err)
{
	size_t len = strnlen(err, FZ_ERR_LEN);

	fz_check(len > 0 && len < FZ_ERR_LEN);
	fz_check(strncmp(err, "bad access rule '", 17) == 0);
}

/* Check one address; returns the result (RV_OK or RV_ERR_DENIED). */
static int fz_check_one(const struct rv_acl *acl, const struct rv_sockaddr *sa,
			const char **rule)
{
	const char *r = NULL, *r4 = NULL;
	struct rv_sockaddr v4;
	uint8_t folded[4];
	const uint8_t *ip;
	size_t len;
	int ret, ret4;

	ret = rv_acl_check(acl, sa, &r);
	fz_check(ret == RV_OK || ret == RV_ERR_DENIED);
	fz_check(r != NULL && strnlen(r, RV_ACL_TEXT_MAX) < RV_ACL_TEXT_MAX);
	fz_check(ret == RV_OK || strcmp(r, "no rule") != 0);
	fz_check(rv_acl_check(acl, sa, NULL) == ret);
	ip = rv_sockaddr_ip(sa, &len);
	if (len == 16 && rv_acl_fold_v4(ip, folded)) {
		/* Folded form and plain IPv4 must be one decision. */
		fz_check(rv_sockaddr_from_ip(&v4, AF_INET, folded, rv_sockaddr_port(sa)) ==
			 RV_OK);
		ret4 = rv_acl_check(acl, &v4, &r4);
		fz_check(ret4 == ret && r4 == r);
	}
	if (rule != NULL)
		*rule = r;
	return ret;
}

static void fz_check_fixed(const struct rv_acl *acl)
{
	struct rv_sockaddr sa, empty;
	uint8_t ip[16];
	size_t i;

	for (i = 0; i < sizeof(fz_fixed) / sizeof(fz_fixed[0]); i++) {
		fz_check(inet_pton(fz_fixed[i].family, fz_fixed[i].ip, ip) == 1);
		fz_check(rv_sockaddr_from_ip(&sa, fz_fixed[i].family, ip, fz_fixed[i].port) ==
			 RV_OK);
		fz_check_one(acl, &sa, NULL);
	}
	memset(&empty, 0, sizeof(empty));
	fz_check(rv_acl_check(acl, &empty, NULL) == RV_ERR_INVALID_ARG);
}

/* The rule's address as the parser sees it: "[A/L]:P", "A/L:P" (IPv4, one
 * ':'), or "A/L" (IPv6).  Sets *has_ports; 0 if it is not an IP literal. */
static int fz_rule_addr(const char *spec, int *family, uint8_t ip[16], int *has_ports)
{
	char buf[INET6_ADDRSTRLEN + 1];
	const char *start = spec, *end, *colon;
	size_t len;

	*has_ports = 0;
	if (spec[0] == '[') {
		start = spec + 1;
		end = strchr(start, ']');
		if (end == NULL)
			return 0;
		*has_ports = end[1] == ':';
	} else {
		colon = strchr(spec, ':');
		if (colon != NULL && strchr(colon + 1, ':') == NULL) {
			end = colon;
			*has_ports = 1;
		} else {
			end = spec + strlen(spec);
		}
	}
	len = (size_t)(end - start);
	if (memchr(start, '/', len) != NULL)
		len = (size_t)((const char *)memchr(start, '/', len) - start);
	if (len == 0 || len >= sizeof(buf))
		return 0;
	memcpy(buf, start, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET, buf, ip) == 1) {
		*family = AF_INET;
		return 1;
	}
	if (inet_pton(AF_INET6, buf, ip) == 1) {
		*family = AF_INET6;
		return 1;
	}
	return 0;
}

/* The accepted rule, checked in a deny-only and an allow-only ACL. */
static void fz_check_single(const struct rv_acl *deny, const struct rv_acl *allow,
			    const char *spec)
{
	struct rv_sockaddr sa;
	uint8_t ip[16], folded[4];
	int family, has_ports;
	size_t i;

	if (!fz_rule_addr(spec, &family, ip, &has_ports))
		abort(); /* accepted, so it starts with an IP literal */
	for (i = 0; i < sizeof(fz_ports) / sizeof(fz_ports[0]); i++) {
		const char *rd, *ra;
		int d, a;

		fz_check(rv_sockaddr_from_ip(&sa, family, ip, fz_ports[i]) == RV_OK);
		d = fz_check_one(deny, &sa, &rd);
		a = fz_check_one(allow, &sa, &ra);
		fz_check(a == RV_OK);
		/* Same rule, same match: "deny X" decides iff "allow X" does. */
		fz_check((d == RV_ERR_DENIED) == (strcmp(ra, "no rule") != 0));
		if (d == RV_ERR_DENIED)
			fz_check(strncmp(rd, "deny ", 5) == 0 && strncmp(ra, "allow ", 6) == 0 &&
				 strcmp(rd + 5, ra + 6) == 0);
		/* A network always contains its own address (an address in a
		 * folded form is IPv4, which an unfolded IPv6 rule never
		 * matches; a folded rule still does, see rv_acl.h). */
		if (!has_ports && !(family == AF_INET6 && rv_acl_fold_v4(ip, folded)))
			fz_check(d == RV_ERR_DENIED);
	}
}

static void fz_add_lines(const char *text)
{
	struct rv_acl *acl = NULL;
	char err[FZ_ERR_LEN];
	const char *p = text;
	size_t lines = 0, before;
	int ret;

	fz_check(rv_acl_new(0, &acl) == RV_OK);
	while (*p != '\0' && lines < FZ_MAX_LINES) {
		const char *nl = strchr(p, '\n');
		size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
		char *line = strndup(p, len);

		fz_check(line != NULL);
		before = rv_acl_count(acl);
		ret = rv_acl_add(acl, (lines & 1) ? RV_ACL_ALLOW : RV_ACL_DENY, line, err,
				 sizeof(err));
		fz_check(ret == RV_OK || ret == RV_ERR_CONFIG || ret == RV_ERR_LIMIT);
		fz_check(rv_acl_count(acl) == before + (ret == RV_OK));
		fz_check(rv_acl_count(acl) <= RV_ACL_MAX_RULES);
		if (ret != RV_OK)
			fz_check_err(err);
		free(line);
		lines++;
		p += len;
		if (*p == '\n')
			p++;
	}
	fz_check_fixed(acl);
	rv_acl_free(acl);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rv_acl *deny = NULL, *allow = NULL, *defs = NULL;
	char err[FZ_ERR_LEN], small[8];
	char *spec;
	size_t ndefs;
	int rd, ra, rdef;

	spec = strndup((const char *)data, size); /* stops at an embedded NUL */
	fz_check(spec != NULL);
	fz_check(rv_acl_new(0, &deny) == RV_OK && rv_acl_new(0, &allow) == RV_OK &&
		 rv_acl_new(1, &defs) == RV_OK);
	ndefs = rv_acl_count(defs);

	memset(err, 0, sizeof(err));
	rd = rv_acl_add(deny, RV_ACL_DENY, spec, err, sizeof(err));
	fz_check(rd == RV_OK || rd == RV_ERR_CONFIG);
	if (rd != RV_OK)
		fz_check_err(err);
	ra = rv_acl_add(allow, RV_ACL_ALLOW, spec, small, sizeof(small)); /* truncates */
	fz_check(ra == rd);
	if (ra != RV_OK)
		fz_check(strlen(small) == sizeof(small) - 1);
	rdef = rv_acl_add(defs, RV_ACL_DENY, spec, NULL, 0);
	fz_check(rdef == rd);
	fz_check(rv_acl_count(deny) == (rd == RV_OK) && rv_acl_count(allow) == (rd == RV_OK) &&
		 rv_acl_count(defs) == ndefs + (rd == RV_OK));

	fz_check_fixed(deny);
	fz_check_fixed(allow);
	fz_check_fixed(defs);
	if (rd == RV_OK)
		fz_check_single(deny, allow, spec);
	rv_acl_free(deny);
	rv_acl_free(allow);
	rv_acl_free(defs);
	free(spec);

	/* The input (up to its first NUL) as a list of rules, one a line. */
	if (memchr(data, '\n', size) != NULL) {
		spec = strndup((const char *)data, size);
		fz_check(spec != NULL);
		fz_add_lines(spec);
		free(spec);
	}
	return 0;
}
