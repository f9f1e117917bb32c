/* fuzz_authkeys_edit.c - libFuzzer target for the authorized_keys editor
 * (rv_authkeys_edit_next / _add_text / _remove_text).  Owner: onboarding
 * helper.
 *
 * Input: byte 0 selects the name ("alice", "b", "x.y@z-1", or the invalid
 * "a b"), byte 1 the key to add (32 copies of it); the rest is the file.
 * Checks: the line iterator covers every byte exactly once and never
 * returns an over-long line; add either refuses (then out is untouched and
 * the name is invalid, or the name or key is present, or a line is too long)
 * or returns the input unchanged plus an optional '\n' plus "KEY NAME\n";
 * remove either refuses (out untouched) or drops exactly the key lines named
 * NAME, keeping every other line byte for byte; removing what was just
 * added gives the input back (plus the '\n' add may have put at its end).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "rv_authkeys_edit.h"
#include "rv_buf.h"
#include "rv_err.h"
#include "rv_keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fz_names[] = {"alice", "b", "x.y@z-1", "a b"};

static void fz_check(int cond)
{
	if (!cond)
		abort();
}

/* Key lines named name, key lines with pub, and whether a line is too long. */
static void fz_scan(const uint8_t *in, size_t len, const char *name, const uint8_t *pub,
		    size_t *named, size_t *keyed, int *too_long)
{
	struct rv_authkeys_line l;
	struct rv_buf b;
	size_t total = 0;
	int r;

	*named = *keyed = 0;
	*too_long = 0;
	rv_buf_init_view(&b, in, len);
	while ((r = rv_authkeys_edit_next(&b, &l)) > 0) {
		fz_check(l.len <= RV_AUTHKEYS_LINE_MAX && l.text == in + total);
		fz_check((size_t)r == l.len || ((size_t)r == l.len + 1 && l.text[l.len] == '\n'));
		fz_check(memchr(l.text, '\n', l.len) == NULL);
		total += (size_t)r;
		if (l.kind == RV_AKLINE_KEY) {
			fz_check(strlen(l.name) <= RV_AUTHKEY_NAME_MAX);
			if (strcmp(l.name, name) == 0)
				(*named)++;
			if (memcmp(l.pub, pub, RV_KEY_LEN) == 0)
				(*keyed)++;
		}
	}
	fz_check(r == 0 || r == RV_ERR_LIMIT);
	if (r == RV_ERR_LIMIT)
		*too_long = 1;
	else
		fz_check(total == len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rv_buf out, back;
	const uint8_t *in;
	const char *name;
	uint8_t pub[RV_KEY_LEN];
	char b64[RV_KEY_B64_SIZE], line[RV_KEY_B64_LEN + 2 + 16];
	size_t len, named, keyed, removed, nl, ll;
	int too_long, valid, r;

	if (size < 2 || sodium_init() < 0)
		return 0;
	name = fz_names[data[0] & 3];
	valid = (data[0] & 3) != 3;
	memset(pub, data[1], sizeof(pub));
	in = data + 2;
	len = size - 2;
	fz_scan(in, len, name, pub, &named, &keyed, &too_long);
	rv_buf_init(&out, 1 << 20);
	rv_buf_init(&back, 1 << 20);

	r = rv_authkeys_edit_add_text(in, len, pub, name, &out, NULL, 0);
	if (!valid || too_long || named > 0 || keyed > 0) {
		fz_check(r != RV_OK && rv_buf_len(&out) == 0);
	} else {
		fz_check(r == RV_OK);
		rv_key_to_base64(pub, b64);
		ll = (size_t)snprintf(line, sizeof(line), "%s %s\n", b64, name);
		nl = len > 0 && in[len - 1] != '\n';
		fz_check(rv_buf_len(&out) == len + nl + ll);
		fz_check(len == 0 || memcmp(rv_buf_ptr(&out), in, len) == 0);
		fz_check(!nl || rv_buf_ptr(&out)[len] == '\n');
		fz_check(memcmp(rv_buf_ptr(&out) + len + nl, line, ll) == 0);
		/* And back. */
		fz_check(rv_authkeys_edit_remove_text(rv_buf_ptr(&out), rv_buf_len(&out), name,
						      &back, &removed, NULL, 0) == RV_OK);
		fz_check(removed == 1 && rv_buf_len(&back) == len + nl);
		fz_check(len == 0 || memcmp(rv_buf_ptr(&back), in, len) == 0);
	}

	rv_buf_reset(&out);
	r = rv_authkeys_edit_remove_text(in, len, name, &out, &removed, NULL, 0);
	if (!valid || too_long || named == 0) {
		fz_check(r != RV_OK && rv_buf_len(&out) == 0 && removed == 0);
	} else {
		size_t named2, keyed2;
		int tl2;

		fz_check(r == RV_OK && removed == named && rv_buf_len(&out) < len);
		fz_scan(rv_buf_ptr(&out), rv_buf_len(&out), name, pub, &named2, &keyed2, &tl2);
		fz_check(named2 == 0 && !tl2);
	}
	rv_buf_cleanup(&out);
	rv_buf_cleanup(&back);
	return 0;
}
