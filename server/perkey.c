/* perkey.c - per-client-key accounting (see perkey.h). */
#include "perkey.h"

#include <stdlib.h>
#include <string.h>

static size_t rv_perkey_bucket(const uint8_t pub[RV_KEY_LEN])
{
	/* Keys are public X25519 values chosen by their owners: not secret,
	 * but a client could only pick keys the operator authorized, so a
	 * plain byte mix is enough against collisions. */
	size_t h = 0;

	for (size_t i = 0; i < RV_KEY_LEN; i++)
		h = h * 31u + pub[i];
	return h % RV_PERKEY_BUCKETS;
}

struct rv_perkey *rv_perkey_get(struct rv_perkey_table *t, const uint8_t pub[RV_KEY_LEN])
{
	size_t b = rv_perkey_bucket(pub);
	struct rv_perkey *pk;

	for (pk = t->buckets[b]; pk != NULL; pk = pk->next)
		if (memcmp(pk->pub, pub, RV_KEY_LEN) == 0)
			return pk;
	pk = calloc(1, sizeof(*pk));
	if (pk == NULL)
		return NULL;
	memcpy(pk->pub, pub, RV_KEY_LEN);
	pk->next = t->buckets[b];
	t->buckets[b] = pk;
	t->n++;
	return pk;
}

void rv_perkey_put(struct rv_perkey_table *t, struct rv_perkey *pk)
{
	struct rv_perkey **pp;

	if (pk == NULL || pk->refs > 0 || pk->streams > 0)
		return;
	for (pp = &t->buckets[rv_perkey_bucket(pk->pub)]; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == pk) {
			*pp = pk->next;
			t->n--;
			free(pk);
			return;
		}
	}
}

void rv_perkey_clear(struct rv_perkey_table *t)
{
	for (size_t b = 0; b < RV_PERKEY_BUCKETS; b++) {
		while (t->buckets[b] != NULL) {
			struct rv_perkey *pk = t->buckets[b];

			t->buckets[b] = pk->next;
			free(pk);
		}
	}
	t->n = 0;
}
