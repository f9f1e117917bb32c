/* rv_authkeys.c - authorized-keys file and replay timestamps.
 * Owner: server-libs. */
#include "rv_authkeys.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "rv_err.h"
#include "rv_keys.h"
#include "rv_log.h"
#include "rv_permitlisten.h"
#include "rv_replaystate.h"

struct rv_authkey {
	uint8_t pub[RV_KEY_LEN];
	uint8_t ts[RV_TAI64N_LEN]; /* newest accepted (or persisted floor); 0 = none */
	uint8_t floor[RV_TAI64N_LEN]; /* persisted in the state file */
	uint64_t floor_written_ms;   /* monotonic; 0 = never */
	char name[RV_AUTHKEY_NAME_MAX + 1];
	struct rv_permit_listen *permit; /* permit-listen option; NULL: none */
};

struct rv_authkeys {
	char *path;
	char *state_path;            /* NULL: replay floors in memory only */
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

static void keys_free(struct rv_authkey *keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(keys[i].permit);
	free(keys);
}

/* Key options before the key, as in OpenSSH: name="value"[,name="value"...]
 * up to the first blank outside quotes.  Known: permit-listen.  *i is at
 * the first option; on success after the options.  k->permit is set (the
 * caller frees it) or NULL. */
static int parse_options(const char *line, size_t len, size_t *i, struct rv_authkey *k,
			 const char *path, unsigned long lineno, char *err, size_t errlen)
{
	static const char opt_listen[] = "permit-listen=\"";
	const size_t olen = sizeof(opt_listen) - 1;
	char perr[192];
	size_t p = *i, vstart;
	int r;

	for (;;) {
		if (len - p < olen || memcmp(line + p, opt_listen, olen) != 0) {
			rv_err_set(err, errlen, "%s:%lu: not a base64 public key (expected %d "
				   "characters) nor a known key option (permit-listen=\"...\")",
				   path, lineno, RV_KEY_B64_LEN);
			return RV_ERR_CONFIG;
		}
		p += olen;
		vstart = p;
		while (p < len && line[p] != '"')
			p++;
		if (p == len) {
			rv_err_set(err, errlen, "%s:%lu: unterminated quote in key options", path,
				   lineno);
			return RV_ERR_CONFIG;
		}
		if (k->permit == NULL && (k->permit = calloc(1, sizeof(*k->permit))) == NULL) {
			rv_err_set(err, errlen, "%s: out of memory", path);
			return RV_ERR_NOMEM;
		}
		r = rv_permit_listen_parse(k->permit, line + vstart, p - vstart, perr, sizeof(perr));
		if (r != RV_OK) {
			rv_err_set(err, errlen, "%s:%lu: %s", path, lineno, perr);
			return RV_ERR_CONFIG;
		}
		p++; /* closing quote */
		if (p < len && line[p] == ',') {
			p++;
			continue;
		}
		if (p < len && !is_space(line[p])) {
			rv_err_set(err, errlen, "%s:%lu: expected a blank after the key options",
				   path, lineno);
			return RV_ERR_CONFIG;
		}
		break;
	}
	while (p < len && is_space(line[p]))
		p++;
	*i = p;
	return RV_OK;
}

/* Parse one line (NUL-free, without its newline) into k.  Returns 0 for an
 * entry, 1 for a blank/comment line, or RV_ERR_CONFIG with err set.  On 0,
 * k->permit is the caller's (keys_free); on failure it is freed. */
static int parse_line(char *line, size_t len, struct rv_authkey *k, const char *path,
		      unsigned long lineno, char *err, size_t errlen)
{
	size_t i = 0, kstart, kend, nend;
	int r;

	k->permit = NULL;
	while (i < len && is_space(line[i]))
		i++;
	if (i == len || line[i] == '#')
		return 1;
	/* Options first, if the line starts with a lowercase option name (a
	 * base64 key never has a '=' before its last character). */
	if (line[i] >= 'a' && line[i] <= 'z') {
		size_t j = i;

		while (j < len && ((line[j] >= 'a' && line[j] <= 'z') || line[j] == '-'))
			j++;
		if (j < len && line[j] == '=' && j + 1 < len && line[j + 1] == '"') {
			r = parse_options(line, len, &i, k, path, lineno, err, errlen);
			if (r != RV_OK) {
				free(k->permit);
				k->permit = NULL;
				return r;
			}
		}
	}
	r = 0;
	kstart = i;
	while (i < len && !is_space(line[i]))
		i++;
	kend = i;
	if (rv_key_from_base64(line + kstart, kend - kstart, k->pub) != RV_OK) {
		rv_err_set(err, errlen,
		     "%s:%lu: not a base64 public key (expected %d characters, then an optional name)",
		     path, lineno, RV_KEY_B64_LEN);
		goto bad;
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
			goto bad;
		}
		for (j = i; j < nend; j++) {
			unsigned char c = (unsigned char)line[j];

			if (c < 0x20 || c == 0x7f) {
				rv_err_set(err, errlen, "%s:%lu: control character in name", path,
				     lineno);
				goto bad;
			}
		}
		memcpy(k->name, line + i, nend - i);
	}
	memset(k->ts, 0, sizeof(k->ts));
	memset(k->floor, 0, sizeof(k->floor));
	k->floor_written_ms = 0;
	return 0;
bad:
	free(k->permit);
	k->permit = NULL;
	return RV_ERR_CONFIG;
}

/* A bad line: strict mode fails with err; lenient mode logs err as a
 * warning, counts it and goes on.  Returns 0 to go on, or ret. */
static int bad_line(int lenient, int ret, const char *err, size_t *skipped)
{
	if (!lenient)
		return ret;
	rv_log_warn("%s; line skipped", err);
	(*skipped)++;
	return 0;
}

/* Read path into a new key array (lenient: skip bad lines, see header). */
static int read_file(const char *path, int lenient, struct rv_authkey **out, size_t *out_n,
		     size_t *skipped, char *err, size_t errlen)
{
	struct rv_authkey *keys = NULL, k;
	size_t n = 0, cap = 0;
	unsigned long lineno = 0;
	char *line = NULL, lerr[256];
	size_t linecap = 0;
	ssize_t got;
	FILE *f;
	int ret = RV_OK;

	*skipped = 0;
	f = fopen(path, "re");
	if (f == NULL) {
		int e = errno;

		rv_err_set(err, errlen, "authorized keys file %s: %s", path, strerror(e));
		return e == ENOENT ? RV_ERR_NOT_FOUND :
		       (e == EACCES || e == EPERM) ? RV_ERR_PERMISSION : RV_ERR_IO;
	}
	/* Whoever may write this file decides who may connect. */
	ret = rv_file_check_modes(fileno(f), path, "authorized keys file", err, errlen);
	if (ret != RV_OK)
		goto out;
	while ((got = getline(&line, &linecap, f)) >= 0) {
		size_t len = (size_t)got;
		int r;

		lineno++;
		if (len > 0 && line[len - 1] == '\n')
			len--;
		if (len > RV_AUTHKEYS_LINE_MAX) {
			rv_err_set(lerr, sizeof(lerr), "%s:%lu: line longer than %d bytes", path,
				   lineno, RV_AUTHKEYS_LINE_MAX);
			if ((ret = bad_line(lenient, RV_ERR_CONFIG, lerr, skipped)) != 0)
				goto out_lerr;
			continue;
		}
		if (memchr(line, '\0', len) != NULL) {
			rv_err_set(lerr, sizeof(lerr), "%s:%lu: NUL byte in line", path, lineno);
			if ((ret = bad_line(lenient, RV_ERR_CONFIG, lerr, skipped)) != 0)
				goto out_lerr;
			continue;
		}
		r = parse_line(line, len, &k, path, lineno, lerr, sizeof(lerr));
		if (r < 0) {
			if ((ret = bad_line(lenient, r, lerr, skipped)) != 0)
				goto out_lerr;
			continue;
		}
		if (r == 1)
			continue;
		if (find(keys, n, k.pub) != NULL) {
			free(k.permit);
			k.permit = NULL;
			rv_err_set(lerr, sizeof(lerr), "%s:%lu: key listed twice", path, lineno);
			if ((ret = bad_line(lenient, RV_ERR_CONFIG, lerr, skipped)) != 0)
				goto out_lerr;
			continue;
		}
		if (n == RV_AUTHKEYS_MAX) {
			free(k.permit);
			rv_err_set(err, errlen, "%s:%lu: more than %d keys", path, lineno,
			     RV_AUTHKEYS_MAX);
			ret = RV_ERR_LIMIT;
			goto out;
		}
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct rv_authkey *nk = realloc(keys, ncap * sizeof(*nk));

			if (nk == NULL) {
				free(k.permit);
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
	goto out;
out_lerr:
	rv_err_set(err, errlen, "%s", lerr);
out:
	free(line);
	fclose(f);
	if (ret != RV_OK) {
		keys_free(keys, n);
		return ret;
	}
	*out = keys;
	*out_n = n;
	return RV_OK;
}

int rv_authkeys_load(const char *path, struct rv_authkeys **out, char *err, size_t errlen)
{
	struct rv_authkeys *ak = NULL;
	size_t skipped = 0;
	int ret = RV_ERR_NOMEM;

	if (path == NULL || out == NULL)
		return RV_ERR_INVALID_ARG;
	*out = NULL;
	ak = calloc(1, sizeof(*ak));
	if (ak == NULL || (ak->path = strdup(path)) == NULL) {
		rv_err_set(err, errlen, "%s: out of memory", path);
		goto out;
	}
	ret = read_file(path, 0, &ak->keys, &ak->n, &skipped, err, errlen);
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
	keys_free(ak->keys, ak->n);
	free(ak->path);
	free(ak->state_path);
	free(ak);
}

/* Append " +name (AbCdEfGh)" to text, or "..." once it is full. */
static void change_note(char *text, size_t cap, char sign, const struct rv_authkey *k)
{
	char b64[RV_KEY_B64_SIZE], item[RV_AUTHKEY_NAME_MAX + 32];
	size_t used = strlen(text), need;

	rv_key_to_base64(k->pub, b64);
	snprintf(item, sizeof(item), "%s%c%s (%.8s)", used ? " " : "", sign, k->name, b64);
	need = strlen(item);
	if (used >= 3 && strcmp(text + used - 3, "...") == 0)
		return;
	if (used + need + 4 < cap)
		memcpy(text + used, item, need + 1);
	else if (used + 4 < cap)
		memcpy(text + used, used ? " ..." : "...", used ? 5 : 4);
}

int rv_authkeys_reload(struct rv_authkeys *ak, struct rv_authkeys_change *chg, char *err,
		       size_t errlen)
{
	struct rv_authkeys_change local;
	struct rv_authkey *keys = NULL;
	size_t n = 0, i;
	int ret;

	if (ak == NULL)
		return RV_ERR_INVALID_ARG;
	if (chg == NULL)
		chg = &local;
	memset(chg, 0, sizeof(*chg));
	ret = read_file(ak->path, 1, &keys, &n, &chg->skipped, err, errlen);
	if (ret != RV_OK)
		return ret; /* old set stays in force */
	for (i = 0; i < n; i++) {
		const struct rv_authkey *old = find(ak->keys, ak->n, keys[i].pub);

		if (old != NULL) {
			memcpy(keys[i].ts, old->ts, RV_TAI64N_LEN);
			memcpy(keys[i].floor, old->floor, RV_TAI64N_LEN);
			keys[i].floor_written_ms = old->floor_written_ms;
		} else {
			chg->added++;
			change_note(chg->text, sizeof(chg->text), '+', &keys[i]);
		}
	}
	for (i = 0; i < ak->n; i++) {
		if (find(keys, n, ak->keys[i].pub) == NULL) {
			chg->removed++;
			change_note(chg->text, sizeof(chg->text), '-', &ak->keys[i]);
		}
	}
	keys_free(ak->keys, ak->n);
	ak->keys = keys;
	ak->n = n;
	return RV_OK;
}

/* Write every known floor (k's as floor); RV_OK or RV_ERR_IO/NOMEM. */
static int persist_floor(struct rv_authkeys *ak, const struct rv_authkey *k,
			 const uint8_t *floor, char *err, size_t errlen)
{
	static const uint8_t zero[RV_TAI64N_LEN];
	struct rv_replay_entry *ents;
	size_t i, n = 0;
	int ret;

	ents = calloc(ak->n ? ak->n : 1, sizeof(*ents));
	if (ents == NULL) {
		rv_err_set(err, errlen, "%s: out of memory", ak->state_path);
		return RV_ERR_NOMEM;
	}
	for (i = 0; i < ak->n; i++) {
		const uint8_t *f = &ak->keys[i] == k ? floor : ak->keys[i].floor;

		if (memcmp(f, zero, RV_TAI64N_LEN) == 0)
			continue;
		memcpy(ents[n].pub, ak->keys[i].pub, RV_KEY_LEN);
		memcpy(ents[n].ts, f, RV_TAI64N_LEN);
		n++;
	}
	ret = rv_replaystate_write(ak->state_path, ents, n, err, errlen);
	free(ents);
	return ret;
}

int rv_authkeys_set_state_file(struct rv_authkeys *ak, const char *path, char *err,
			       size_t errlen)
{
	struct rv_replay_entry *ents = NULL;
	size_t n = 0, i;
	char *copy;
	int ret;

	if (ak == NULL || path == NULL)
		return RV_ERR_INVALID_ARG;
	/* Entries for keys no longer authorized may remain until the next
	 * write: allow the file's own bound, not just today's key count. */
	ret = rv_replaystate_read(path, RV_AUTHKEYS_MAX, &ents, &n, err, errlen);
	if (ret != RV_OK)
		return ret;
	copy = strdup(path);
	if (copy == NULL) {
		free(ents);
		rv_err_set(err, errlen, "%s: out of memory", path);
		return RV_ERR_NOMEM;
	}
	for (i = 0; i < n; i++) {
		struct rv_authkey *k = find(ak->keys, ak->n, ents[i].pub);

		if (k == NULL)
			continue;
		if (memcmp(ents[i].ts, k->floor, RV_TAI64N_LEN) > 0)
			memcpy(k->floor, ents[i].ts, RV_TAI64N_LEN);
		if (memcmp(k->floor, k->ts, RV_TAI64N_LEN) > 0)
			memcpy(k->ts, k->floor, RV_TAI64N_LEN);
	}
	free(ents);
	free(ak->state_path);
	ak->state_path = copy;
	/* Write it back now: drops keys no longer authorized, and a state
	 * directory we cannot write is found at start, not at a handshake. */
	ret = persist_floor(ak, NULL, NULL, err, errlen);
	if (ret != RV_OK) {
		free(ak->state_path);
		ak->state_path = NULL;
	}
	return ret;
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

int rv_authkeys_permit_listen(const struct rv_authkeys *ak, const uint8_t pub[RV_KEY_LEN],
			      struct rv_permit_listen *out)
{
	const struct rv_authkey *k;

	if (ak == NULL || pub == NULL || out == NULL)
		return RV_ERR_INVALID_ARG;
	memset(out, 0, sizeof(*out));
	k = find(ak->keys, ak->n, pub);
	if (k == NULL)
		return RV_ERR_DENIED;
	if (k->permit != NULL)
		*out = *k->permit;
	return RV_OK;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u + 1u;
}

int rv_authkeys_accept(struct rv_authkeys *ak, const uint8_t pub[RV_KEY_LEN],
		       const uint8_t tai64n[RV_TAI64N_LEN], const char **name)
{
	uint8_t floor[RV_TAI64N_LEN];
	struct rv_authkey *k;
	char err[512];
	uint64_t now;
	int ret;

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
	/* Persisted floor >= every accepted timestamp, before we act on it:
	 * a restart then cannot reopen the window. */
	if (ak->state_path != NULL && memcmp(tai64n, k->floor, RV_TAI64N_LEN) > 0) {
		now = now_ms();
		if (k->floor_written_ms != 0 &&
		    now - k->floor_written_ms < RV_REPLAY_WRITE_MIN_MS)
			return RV_ERR_LIMIT; /* a key handshaking faster than we fsync */
		memcpy(floor, tai64n, RV_TAI64N_LEN);
		rv_tai64n_add_s(floor, RV_REPLAY_RESERVE_S);
		ret = persist_floor(ak, k, floor, err, sizeof(err));
		if (ret != RV_OK) {
			rv_log_error("replay state not saved, refusing the handshake: %s", err);
			return ret;
		}
		memcpy(k->floor, floor, RV_TAI64N_LEN);
		k->floor_written_ms = now;
	}
	memcpy(k->ts, tai64n, RV_TAI64N_LEN);
	return RV_OK;
}
