/* fuzz_authkeys.c - libFuzzer target for the authorized-keys file parser
 * (rv_authkeys_load / rv_authkeys_reload).  Owner: fuzz-extra helper.
 *
 * Input: FILE_A [ "\n--reload--\n" FILE_B ].  FILE_A is written to a memfd
 * (created once, rewritten per input) and loaded through /proc/self/fd/N;
 * then FILE_B (FILE_A again if there is no separator) replaces the contents
 * and the set is reloaded.  Checks: only the documented results; a content
 * error names the file; on success the set holds exactly the keys an
 * independent line split of the text finds, with the names it expects (a
 * reload skips bad lines and repeated keys); replay state survives a
 * reload for kept keys, and a failed reload leaves the old set in force.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <sodium.h>

#include "fuzz_memfile.h"
#include "rv_authkeys.h"
#include "rv_err.h"
#include "rv_keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fz_sep[] = "\n--reload--\n";

enum { FZ_ERR_LEN = 256 };

struct fz_key {
	uint8_t pub[RV_KEY_LEN];
	char name[RV_AUTHKEY_NAME_MAX + 1];
};

static int fz_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* Key options before the key (rv_authkeys.h): a line whose first token
 * looks like name="..." must hold only permit-listen="SPEC" options, comma
 * separated, each SPEC valid (rv_permit_listen_parse, fuzzed on its own),
 * then a blank.  Returns 1 with *i after them (or untouched when the line
 * has none), 0 for a bad line. */
static int fz_options(const char *line, size_t len, size_t *i)
{
	static const char opt[] = "permit-listen=\"";
	struct rv_permit_listen p;
	size_t j = *i, v;
	char err[200];

	while (j < len && ((line[j] >= 'a' && line[j] <= 'z') || line[j] == '-'))
		j++;
	if (j == *i || j + 1 >= len || line[j] != '=' || line[j + 1] != '"')
		return 1;
	memset(&p, 0, sizeof(p));
	j = *i;
	for (;;) {
		if (len - j < sizeof(opt) - 1 || memcmp(line + j, opt, sizeof(opt) - 1) != 0)
			return 0;
		j += sizeof(opt) - 1;
		v = j;
		while (j < len && line[j] != '"')
			j++;
		if (j == len || rv_permit_listen_parse(&p, line + v, j - v, err, sizeof(err)) != RV_OK)
			return 0;
		j++;
		if (j < len && line[j] == ',') {
			j++;
			continue;
		}
		if (j < len && !fz_space(line[j]))
			return 0;
		break;
	}
	while (j < len && fz_space(line[j]))
		j++;
	*i = j;
	return 1;
}

/* The keys the documented format says text holds.  Strict (load; only
 * called when the loader accepted it): every non-comment line is a valid
 * entry.  Lenient (reload): bad lines and repeated keys are skipped. */
static size_t fz_expect(const char *text, size_t size, struct fz_key *keys, int lenient)
{
	size_t n = 0, pos = 0;

	while (pos < size) {
		const char *line = text + pos, *nl = memchr(line, '\n', size - pos);
		size_t len = nl != NULL ? (size_t)(nl - line) : size - pos;
		size_t i = 0, ks, nend;

		pos += len + (nl != NULL);
		if (lenient && (len > RV_AUTHKEYS_LINE_MAX || memchr(line, '\0', len) != NULL))
			continue;
		while (i < len && fz_space(line[i]))
			i++;
		if (i == len || line[i] == '#')
			continue;
		if (line[i] >= 'a' && line[i] <= 'z') {
			int ok = fz_options(line, len, &i);

			if (lenient && !ok)
				continue;
			fz_check(ok);
		}
		ks = i;
		while (i < len && !fz_space(line[i]))
			i++;
		if (lenient && rv_key_from_base64(line + ks, i - ks, keys[n].pub) != RV_OK)
			continue;
		fz_check(rv_key_from_base64(line + ks, i - ks, keys[n].pub) == RV_OK);
		while (i < len && fz_space(line[i]))
			i++;
		nend = len;
		while (nend > i && fz_space(line[nend - 1]))
			nend--;
		memset(keys[n].name, 0, sizeof(keys[n].name));
		if (i < nend && line[i] != '#') {
			size_t j, bad = 0;

			for (j = i; j < nend; j++)
				bad |= (unsigned char)line[j] < 0x20 || line[j] == 0x7f;
			if (lenient && (nend - i > RV_AUTHKEY_NAME_MAX || bad))
				continue;
			fz_check(nend - i <= RV_AUTHKEY_NAME_MAX);
			memcpy(keys[n].name, line + i, nend - i);
		}
		if (lenient) {
			size_t j, dup = 0;

			for (j = 0; j < n; j++)
				dup |= memcmp(keys[j].pub, keys[n].pub, RV_KEY_LEN) == 0;
			if (dup)
				continue;
		}
		n++;
	}
	return n;
}

static void fz_check_set(const struct rv_authkeys *ak, const struct fz_key *keys, size_t n)
{
	static const uint8_t other[RV_KEY_LEN] = {0x55, 0x55, 0x55, 0x55};
	const char *name;
	size_t i;
	int in_set = 0;

	fz_check(rv_authkeys_count(ak) == n);
	fz_check(strcmp(rv_authkeys_path(ak), fz_path) == 0);
	for (i = 0; i < n; i++) {
		name = NULL;
		fz_check(rv_authkeys_lookup(ak, keys[i].pub, &name) == RV_OK);
		fz_check(name != NULL && strcmp(name, keys[i].name) == 0);
		if (memcmp(keys[i].pub, other, RV_KEY_LEN) == 0)
			in_set = 1;
	}
	fz_check(rv_authkeys_lookup(ak, other, NULL) == (in_set ? RV_OK : RV_ERR_DENIED));
}

static void fz_check_err(int ret, const char *err)
{
	fz_check(ret == RV_ERR_CONFIG || ret == RV_ERR_LIMIT || ret == RV_ERR_NOMEM ||
		 ret == RV_ERR_IO);
	fz_check(strnlen(err, FZ_ERR_LEN) < FZ_ERR_LEN);
	if (ret == RV_ERR_CONFIG || ret == RV_ERR_LIMIT)
		fz_check(strncmp(err, fz_path, strlen(fz_path)) == 0 &&
			 err[strlen(fz_path)] == ':');
}

static int fz_init(void)
{
	if (fz_fd >= 0)
		return 0;
	if (sodium_init() < 0)
		return -1;
	return fz_memfile_open("fuzz_authkeys");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t ts1[RV_TAI64N_LEN] = {0x40, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1};
	static const uint8_t ts0[RV_TAI64N_LEN] = {0};
	const uint8_t *b = data, *sep = NULL;
	size_t alen = size, blen = size, na, nb, i;
	struct fz_key *ka = NULL, *kb = NULL;
	struct rv_authkeys *ak = NULL;
	char err[FZ_ERR_LEN];
	int ret, kept = 0;

	fz_check(fz_init() == 0);
	if (size >= sizeof(fz_sep) - 1)
		sep = memmem(data, size, fz_sep, sizeof(fz_sep) - 1);
	if (sep != NULL) {
		alen = (size_t)(sep - data) + 1; /* keep A's last newline */
		b = sep + sizeof(fz_sep) - 1;
		blen = size - (size_t)(b - data);
	}
	/* At most one key per 44 bytes of text. */
	ka = calloc(alen / RV_KEY_B64_LEN + 1, sizeof(*ka));
	kb = calloc(blen / RV_KEY_B64_LEN + 1, sizeof(*kb));
	fz_check(ka != NULL && kb != NULL);

	fz_write(data, alen);
	memset(err, 0, sizeof(err));
	ret = rv_authkeys_load(fz_path, &ak, err, sizeof(err));
	if (ret != RV_OK) {
		fz_check(ak == NULL);
		fz_check_err(ret, err);
		goto out;
	}
	na = fz_expect((const char *)data, alen, ka, 0);
	fz_check_set(ak, ka, na);

	/* Replay state on the first key. */
	if (na > 0) {
		fz_check(rv_authkeys_accept(ak, ka[0].pub, ts0, NULL) == RV_ERR_REPLAY);
		fz_check(rv_authkeys_accept(ak, ka[0].pub, ts1, NULL) == RV_OK);
		fz_check(rv_authkeys_accept(ak, ka[0].pub, ts1, NULL) == RV_ERR_REPLAY);
	}

	fz_write(b, blen);
	memset(err, 0, sizeof(err));
	ret = rv_authkeys_reload(ak, NULL, err, sizeof(err));
	if (ret != RV_OK) {
		fz_check_err(ret, err);
		fz_check_set(ak, ka, na); /* old set in force */
		kept = na > 0;
	} else {
		nb = fz_expect((const char *)b, blen, kb, 1);
		fz_check_set(ak, kb, nb);
		for (i = 0; na > 0 && i < nb; i++)
			if (memcmp(kb[i].pub, ka[0].pub, RV_KEY_LEN) == 0)
				kept = 1;
	}
	if (na > 0)
		fz_check(rv_authkeys_accept(ak, ka[0].pub, ts1, NULL) ==
			 (kept ? RV_ERR_REPLAY : RV_ERR_DENIED));
out:
	rv_authkeys_free(ak);
	free(ka);
	free(kb);
	return 0;
}
