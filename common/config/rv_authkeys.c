/* rv_authkeys.c - authorized-keys file and replay timestamps.
 * Owner: server-libs. */
#include "rv_authkeys.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "rv_err.h"
#include "rv_keys.h"

struct rv_authkey {
	uint8_t pub[RV_KEY_LEN];
	uint8_t ts[RV_TAI64N_LEN]; /* newest accepted; all zero = none yet */
	char name[RV_AUTHKEY_NAME_MAX + 1];
};

struct rv_authkeys {
	char *path;
	struct rv_authkey *keys;
	size_t n;
};

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static struct rv_authkey *find(const struct rv_authkey *keys, size_t n,
			       const uint8_t pub[RV_KEY_LEN])
{
	struct rv_authkey *hit = NULL;
	size_t i;

	/* No early exit: time does not depend on where the key sits. */
	for (i = 0; i < n; i++)
		if (sodium_memcmp(keys[i].pub, pub, RV_KEY_LEN) == 0 && hit == NULL)
			hit = (struct rv_authkey *)&keys[i];
	return hit;
}

/* Parse one line (NUL-free, without its newline) into k.  Returns 0 for an
 * entry, 1 for a blank/comment line, or RV_ERR_CONFIG with err set. */
static int parse_line(char *line, size_t len, struct rv_authkey *k, const char *path,
		      unsigned long lineno, char *err, size_t errlen)
{
	size_t i = 0, kstart, kend, nend;

	while (i < len && is_space(line[i]))
		i++;
	if (i == len || line[i] == '#')
		return 1;
	kstart = i;
	while (i < len && !is_space(line[i]))
		i++;
	kend = i;
	if (rv_key_from_base64(line + kstart, kend - kstart, k->pub) != RV_OK) {
		rv_err_set(err, errlen,
		     "%s:%lu: not a base64 public key (expected %d characters, then an optional name)",
		     path, lineno, RV_KEY_B64_LEN);
		return RV_ERR_CONFIG;
	}
	while (i < len && is_space(line[i]))
		i++;
	nend = len;
	while (nend > i && is_space(line[nend - 1]))
		nend--;
	memset(k->name, 0, sizeof(k->name));
	if (i < nend && line[i] != '#') {
		size_t j;

		if (nend - i > RV_AUTHKEY_NAME_MAX) {
			rv_err_set(err, errlen, "%s:%lu: name longer than %d bytes", path, lineno,
			     RV_AUTHKEY_NAME_MAX);
			return RV_ERR_CONFIG;
		}
		for (j = i; j < nend; j++) {
			unsigned char c = (unsigned char)line[j];

			if (c < 0x20 || c == 0x7f) {
				rv_err_set(err, errlen, "%s:%lu: control character in name", path,
				     lineno);
				return RV_ERR_CONFIG;
			}
		}
		memcpy(k->name, line + i, nend - i);
	}
	memset(k->ts, 0, sizeof(k->ts));
	return 0;
}

/* Read path into a new key array. */
static int read_file(const char *path, struct rv_authkey **out, size_t *out_n, char *err,
		     size_t errlen)
{
	struct rv_authkey *keys = NULL, k;
	size_t n = 0, cap = 0;
	unsigned long lineno = 0;
	char *line = NULL;
	size_t linecap = 0;
	ssize_t got;
	FILE *f;
	int ret = RV_OK;

	f = fopen(path, "re");
	if (f == NULL) {
		int e = errno;

		rv_err_set(err, errlen, "authorized keys file %s: %s", path, strerror(e));
		return e == ENOENT ? RV_ERR_NOT_FOUND :
		       (e == EACCES || e == EPERM) ? RV_ERR_PERMISSION : RV_ERR_IO;
	}
	while ((got = getline(&line, &linecap, f)) >= 0) {
		size_t len = (size_t)got;
		int r;

		lineno++;
		if (len > 0 && line[len - 1] == '\n')
			len--;
		if (len > RV_AUTHKEYS_LINE_MAX) {
			rv_err_set(err, errlen, "%s:%lu: line longer than %d bytes", path, lineno,
			     RV_AUTHKEYS_LINE_MAX);
			ret = RV_ERR_CONFIG;
			goto out;
		}
		if (memchr(line, '\0', len) != NULL) {
			rv_err_set(err, errlen, "%s:%lu: NUL byte in line", path, lineno);
			ret = RV_ERR_CONFIG;
			goto out;
		}
		r = parse_line(line, len, &k, path, lineno, err, errlen);
		if (r < 0) {
			ret = r;
			goto out;
		}
		if (r == 1)
			continue;
		if (find(keys, n, k.pub) != NULL) {
			rv_err_set(err, errlen, "%s:%lu: key listed twice", path, lineno);
			ret = RV_ERR_CONFIG;
			goto out;
		}
		if (n == RV_AUTHKEYS_MAX) {
			rv_err_set(err, errlen, "%s:%lu: more than %d keys", path, lineno,
			     RV_AUTHKEYS_MAX);
			ret = RV_ERR_LIMIT;
			goto out;
		}
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct rv_authkey *nk = realloc(keys, ncap * sizeof(*nk));

			if (nk == NULL) {
				rv_err_set(err, errlen, "%s: out of memory", path);
				ret = RV_ERR_NOMEM;
				goto out;
			}
			keys = nk;
			cap = ncap;
		}
		keys[n++] = k;
	}
	if (ferror(f)) {
		rv_err_set(err, errlen, "%s:%lu: read error", path, lineno + 1);
		ret = RV_ERR_IO;
	}
out:
	free(line);
	fclose(f);
	if (ret != RV_OK) {
		free(keys);
		return ret;
	}
	*out = keys;
	*out_n = n;
	return RV_OK;
}

int rv_authkeys_load(const char *path, struct rv_authkeys **out, char *err, size_t errlen)
{
	struct rv_authkeys *ak = NULL;
	int ret = RV_ERR_NOMEM;

	if (path == NULL || out == NULL)
		return RV_ERR_INVALID_ARG;
	*out = NULL;
	ak = calloc(1, sizeof(*ak));
	if (ak == NULL || (ak->path = strdup(path)) == NULL) {
		rv_err_set(err, errlen, "%s: out of memory", path);
		goto out;
	}
	ret = read_file(path, &ak->keys, &ak->n, err, errlen);
	if (ret != RV_OK)
		goto out;
	*out = ak;
	ak = NULL;
out:
	rv_authkeys_free(ak);
	return ret;
}

void rv_authkeys_free(struct rv_authkeys *ak)
{
	if (ak == NULL)
		return;
	free(ak->keys);
	free(ak->path);
	free(ak);
}

int rv_authkeys_reload(struct rv_authkeys *ak, char *err, size_t errlen)
{
	struct rv_authkey *keys = NULL;
	size_t n = 0, i;
	int ret;

	if (ak == NULL)
		return RV_ERR_INVALID_ARG;
	ret = read_file(ak->path, &keys, &n, err, errlen);
	if (ret != RV_OK)
		return ret; /* old set stays in force */
	for (i = 0; i < n; i++) {
		const struct rv_authkey *old = find(ak->keys, ak->n, keys[i].pub);

		if (old != NULL)
			memcpy(keys[i].ts, old->ts, RV_TAI64N_LEN);
	}
	free(ak->keys);
	ak->keys = keys;
	ak->n = n;
	return RV_OK;
}

size_t rv_authkeys_count(const struct rv_authkeys *ak)
{
	return ak == NULL ? 0 : ak->n;
}

const char *rv_authkeys_path(const struct rv_authkeys *ak)
{
	return ak == NULL ? "" : ak->path;
}

int rv_authkeys_lookup(const struct rv_authkeys *ak, const uint8_t pub[RV_KEY_LEN],
		       const char **name)
{
	const struct rv_authkey *k;

	if (ak == NULL || pub == NULL)
		return RV_ERR_INVALID_ARG;
	k = find(ak->keys, ak->n, pub);
	if (k == NULL)
		return RV_ERR_DENIED;
	if (name != NULL)
		*name = k->name;
	return RV_OK;
}

int rv_authkeys_accept(struct rv_authkeys *ak, const uint8_t pub[RV_KEY_LEN],
		       const uint8_t tai64n[RV_TAI64N_LEN], const char **name)
{
	struct rv_authkey *k;

	if (ak == NULL || pub == NULL || tai64n == NULL)
		return RV_ERR_INVALID_ARG;
	k = find(ak->keys, ak->n, pub);
	if (k == NULL)
		return RV_ERR_DENIED;
	if (name != NULL)
		*name = k->name;
	/* Big-endian bytes: memcmp order is numeric order.  Must be newer. */
	if (memcmp(tai64n, k->ts, RV_TAI64N_LEN) <= 0)
		return RV_ERR_REPLAY;
	memcpy(k->ts, tai64n, RV_TAI64N_LEN);
	return RV_OK;
}
