/* rv_ratchet_skipped.c - the store of skipped message keys, keyed by
 * (remote ratchet key, message number), oldest first.  Owner: ratchet helper.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "rv_err.h"
#include "rv_ratchet_int.h"

long rv_skipped_find(const struct rv_skipped_store *s, const uint8_t dh[RV_KEY_LEN],
		     uint32_t n)
{
	uint32_t i;

	/* dh and n are public header values: a plain compare is fine. */
	for (i = 0; i < s->count; i++) {
		if (s->keys[i].n == n && memcmp(s->keys[i].dh, dh, RV_KEY_LEN) == 0)
			return (long)i;
	}
	return -1;
}

/* Replace the array by a larger one; the old one is wiped, never realloc'd
 * (realloc could leave key copies behind in freed memory). */
static int rv_skipped_grow(struct rv_skipped_store *s, uint32_t want)
{
	struct rv_skipped_key *nk;

	nk = calloc(want, sizeof(*nk));
	if (nk == NULL)
		return RV_ERR_NOMEM;
	if (s->count > 0)
		memcpy(nk, s->keys, (size_t)s->count * sizeof(*nk));
	if (s->keys != NULL) {
		sodium_memzero(s->keys, (size_t)s->cap * sizeof(*s->keys));
		free(s->keys);
	}
	s->keys = nk;
	s->cap = want;
	return RV_OK;
}

int rv_skipped_reserve(struct rv_skipped_store *s, uint32_t n_add, uint32_t max_total)
{
	uint64_t need = (uint64_t)s->count + n_add, want;

	/* Commit removes/evicts before appending, so the array never holds
	 * more than max(count, min(count + n_add, max_total)). */
	if (need > max_total)
		need = max_total;
	if (need <= s->cap)
		return RV_OK;
	want = (uint64_t)s->cap * 2;
	if (want < 16)
		want = 16;
	if (want < need)
		want = need;
	if (want > max_total)
		want = max_total;
	return rv_skipped_grow(s, (uint32_t)want);
}

/* Drop entries [i, i + k) and close the gap; wipes the freed tail. */
static void rv_skipped_drop(struct rv_skipped_store *s, uint32_t i, uint32_t k)
{
	uint32_t tail = s->count - i - k;

	if (k == 0)
		return;
	sodium_memzero(&s->keys[i], (size_t)k * sizeof(*s->keys));
	if (tail > 0)
		memmove(&s->keys[i], &s->keys[i + k], (size_t)tail * sizeof(*s->keys));
	s->count -= k;
	sodium_memzero(&s->keys[s->count], (size_t)k * sizeof(*s->keys));
}

uint32_t rv_skipped_commit(struct rv_skipped_store *s, long rm,
			   const struct rv_skipped_key *add, uint32_t n_add,
			   uint32_t max_total)
{
	uint64_t total;
	uint32_t evict = 0, old_evict, skip_new = 0;

	if (rm >= 0 && (uint32_t)rm < s->count)
		rv_skipped_drop(s, (uint32_t)rm, 1);
	total = (uint64_t)s->count + n_add;
	if (total > max_total) {
		evict = (uint32_t)(total - max_total);
		old_evict = evict < s->count ? evict : s->count;
		rv_skipped_drop(s, 0, old_evict);
		/* More new keys than the cap: the oldest of them go too. */
		skip_new = evict - old_evict;
	}
	if (n_add > skip_new) {
		memcpy(&s->keys[s->count], &add[skip_new],
		       (size_t)(n_add - skip_new) * sizeof(*add));
		s->count += n_add - skip_new;
	}
	return evict;
}

void rv_skipped_wipe(struct rv_skipped_store *s)
{
	if (s->keys != NULL) {
		sodium_memzero(s->keys, (size_t)s->cap * sizeof(*s->keys));
		free(s->keys);
	}
	s->keys = NULL;
	s->count = 0;
	s->cap = 0;
}

int rv_skipped_clone(const struct rv_skipped_store *s, struct rv_skipped_store *out)
{
	out->keys = NULL;
	out->count = 0;
	out->cap = 0;
	if (s->count == 0)
		return RV_OK;
	out->keys = calloc(s->count, sizeof(*out->keys));
	if (out->keys == NULL)
		return RV_ERR_NOMEM;
	memcpy(out->keys, s->keys, (size_t)s->count * sizeof(*out->keys));
	out->count = s->count;
	out->cap = s->count;
	return RV_OK;
}

int rv_skipped_equal(const struct rv_skipped_store *a, const struct rv_skipped_store *b)
{
	uint32_t i;

	if (a->count != b->count)
		return 0;
	for (i = 0; i < a->count; i++) {
		if (a->keys[i].n != b->keys[i].n ||
		    sodium_memcmp(a->keys[i].dh, b->keys[i].dh, RV_KEY_LEN) != 0 ||
		    sodium_memcmp(a->keys[i].mk, b->keys[i].mk, RV_KEY_LEN) != 0)
			return 0;
	}
	return 1;
}
