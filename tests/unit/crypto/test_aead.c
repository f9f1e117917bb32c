/* test_aead.c - rv_aead (OpenSSL EVP) against libsodium's implementation of
 * the same AEADs, an independent one: every length from 0 to past a few
 * blocks and a few large ones, with and without AD, both directions (what
 * one seals the other opens, byte for byte).  A flipped bit anywhere (nonce,
 * AD, ciphertext, tag) or a short input is refused, leaves out unchanged and
 * leaves no plaintext in out's free space.  The Noise vectors in
 * test_noise_vectors are the known answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "rv_aead.h"
#include "rv_buf.h"
#include "rv_err.h"

enum { BIG = 300000, CAP = BIG + 64 };

static const enum rv_aead algs[] = { RV_AEAD_CHACHA20POLY1305, RV_AEAD_AES256GCM };

/* libsodium's seal of the same input: ciphertext||tag into c. */
static void ref_seal(enum rv_aead alg, const uint8_t *k, const uint8_t *n, const uint8_t *ad,
		     size_t ad_len, const uint8_t *m, size_t len, uint8_t *c)
{
	unsigned long long clen = 0;

	if (alg == RV_AEAD_CHACHA20POLY1305)
		assert_int_equal(crypto_aead_chacha20poly1305_ietf_encrypt(
					 c, &clen, m, len, ad, ad_len, NULL, n, k), 0);
	else
		assert_int_equal(crypto_aead_aes256gcm_encrypt(c, &clen, m, len, ad, ad_len,
							       NULL, n, k), 0);
	assert_int_equal(clen, len + RV_TAG_LEN);
}

static int ref_open(enum rv_aead alg, const uint8_t *k, const uint8_t *n, const uint8_t *ad,
		    size_t ad_len, const uint8_t *c, size_t clen, uint8_t *m)
{
	unsigned long long mlen = 0;

	if (alg == RV_AEAD_CHACHA20POLY1305)
		return crypto_aead_chacha20poly1305_ietf_decrypt(m, &mlen, NULL, c, clen, ad,
								 ad_len, n, k);
	return crypto_aead_aes256gcm_decrypt(m, &mlen, NULL, c, clen, ad, ad_len, n, k);
}

struct fx {
	uint8_t key[RV_KEY_LEN], nonce[RV_AEAD_NONCE_LEN], ad[64];
	uint8_t *m, *ref, *back;
	struct rv_buf out;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL || sodium_init() < 0)
		return -1;
	f->m = malloc(CAP);
	f->ref = malloc(CAP);
	f->back = malloc(CAP);
	if (f->m == NULL || f->ref == NULL || f->back == NULL)
		return -1;
	rv_buf_init(&f->out, CAP);
	randombytes_buf(f->key, sizeof(f->key));
	randombytes_buf(f->nonce, sizeof(f->nonce));
	randombytes_buf(f->ad, sizeof(f->ad));
	randombytes_buf(f->m, CAP);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	rv_buf_cleanup(&f->out);
	free(f->m);
	free(f->ref);
	free(f->back);
	free(f);
	return 0;
}

/* Seal with both, compare, open each other's output. */
static void check_len(struct fx *f, enum rv_aead alg, size_t len, size_t ad_len)
{
	rv_buf_reset(&f->out);
	assert_int_equal(rv_aead_seal(alg, f->key, f->nonce, f->ad, ad_len, f->m, len, &f->out),
			 RV_OK);
	assert_int_equal(rv_buf_len(&f->out), len + RV_TAG_LEN);
	ref_seal(alg, f->key, f->nonce, f->ad, ad_len, f->m, len, f->ref);
	assert_memory_equal(rv_buf_ptr(&f->out), f->ref, len + RV_TAG_LEN);
	assert_int_equal(ref_open(alg, f->key, f->nonce, f->ad, ad_len, rv_buf_ptr(&f->out),
				  len + RV_TAG_LEN, f->back), 0);

	rv_buf_reset(&f->out);
	assert_int_equal(rv_aead_open(alg, f->key, f->nonce, f->ad, ad_len, f->ref,
				      len + RV_TAG_LEN, &f->out), RV_OK);
	assert_int_equal(rv_buf_len(&f->out), len);
	if (len > 0)
		assert_memory_equal(rv_buf_ptr(&f->out), f->m, len);
}

static void test_matches_libsodium(void **state)
{
	static const size_t big[] = { 1000, 1023, 1024, 1025, 2048, 4095, 4096, 16383, 16384, 16385, 65536, 131073, BIG };
	struct fx *f = *state;
	size_t a, len, i, ad_len;

	for (a = 0; a < sizeof(algs) / sizeof(algs[0]); a++) {
		if (!rv_aead_available(algs[a])) {
			print_message("AES-256-GCM: no AES-NI here, skipped\n");
			continue;
		}
		for (len = 0; len <= 300; len++) {
			ad_len = len % 3 == 0 ? 0 : (len % 61) + 1;
			check_len(f, algs[a], len, ad_len);
			/* A fresh nonce each time: the ciphers must follow it. */
			f->nonce[len % RV_AEAD_NONCE_LEN]++;
		}
		for (i = 0; i < sizeof(big) / sizeof(big[0]); i++) {
			check_len(f, algs[a], big[i], 48);
			f->key[i]++;
		}
	}
}

/* Sealed len bytes into f->ref; every single-bit flip is refused. */
static void check_refused(struct fx *f, enum rv_aead alg, const uint8_t *nonce, size_t ad_len,
			  const uint8_t *c, size_t clen)
{
	const uint8_t *tail;

	rv_buf_reset(&f->out);
	assert_int_equal(rv_buf_put(&f->out, (const uint8_t *)"keep", 4), RV_OK);
	assert_int_not_equal(rv_aead_open(alg, f->key, nonce, f->ad, ad_len, c, clen, &f->out),
			     RV_OK);
	assert_int_equal(rv_buf_len(&f->out), 4);
	assert_memory_equal(rv_buf_ptr(&f->out), "keep", 4);
	/* No unauthenticated plaintext left where it would have gone. */
	if (clen > RV_TAG_LEN) {
		tail = rv_buf_ptr(&f->out) + 4;
		assert_true(sodium_is_zero(tail, clen - RV_TAG_LEN));
	}
}

/* At 100 bytes (libsodium's one-shot path) and 1100 (EVP's, rv_aead.c). */
static void test_tamper_refused(void **state)
{
	struct fx *f = *state;
	static const size_t lens[] = { 100, 1100 };
	uint8_t n2[RV_AEAD_NONCE_LEN];
	size_t a, i, li, LEN;

	for (li = 0; li < sizeof(lens) / sizeof(lens[0]); li++)
	for (a = 0; a < sizeof(algs) / sizeof(algs[0]); a++) {
		LEN = lens[li];
		if (!rv_aead_available(algs[a]))
			continue;
		ref_seal(algs[a], f->key, f->nonce, f->ad, 20, f->m, LEN, f->ref);
		for (i = 0; i < (LEN + RV_TAG_LEN) * 8; i++) {
			f->ref[i / 8] ^= (uint8_t)(1u << (i % 8));
			check_refused(f, algs[a], f->nonce, 20, f->ref, LEN + RV_TAG_LEN);
			f->ref[i / 8] ^= (uint8_t)(1u << (i % 8));
		}
		for (i = 0; i < 20 * 8; i++) {
			f->ad[i / 8] ^= (uint8_t)(1u << (i % 8));
			check_refused(f, algs[a], f->nonce, 20, f->ref, LEN + RV_TAG_LEN);
			f->ad[i / 8] ^= (uint8_t)(1u << (i % 8));
		}
		for (i = 0; i < RV_AEAD_NONCE_LEN * 8; i++) {
			memcpy(n2, f->nonce, sizeof(n2));
			n2[i / 8] ^= (uint8_t)(1u << (i % 8));
			check_refused(f, algs[a], n2, 20, f->ref, LEN + RV_TAG_LEN);
		}
		/* Missing AD, a truncated input, a wrong key. */
		check_refused(f, algs[a], f->nonce, 0, f->ref, LEN + RV_TAG_LEN);
		for (i = 0; i < LEN + RV_TAG_LEN; i++)
			check_refused(f, algs[a], f->nonce, 20, f->ref, i);
		f->key[0] ^= 1;
		check_refused(f, algs[a], f->nonce, 20, f->ref, LEN + RV_TAG_LEN);
		f->key[0] ^= 1;
		/* And the untouched one still opens. */
		rv_buf_reset(&f->out);
		assert_int_equal(rv_aead_open(algs[a], f->key, f->nonce, f->ad, 20, f->ref,
					      LEN + RV_TAG_LEN, &f->out), RV_OK);
		assert_memory_equal(rv_buf_ptr(&f->out), f->m, LEN);
	}
}

/* No room: an error, out unchanged. */
static void test_no_room(void **state)
{
	struct fx *f = *state;
	struct rv_buf small;

	rv_buf_init(&small, 64);
	assert_int_equal(rv_buf_put(&small, (const uint8_t *)"x", 1), RV_OK);
	assert_int_not_equal(rv_aead_seal(RV_AEAD_CHACHA20POLY1305, f->key, f->nonce, NULL, 0,
					  f->m, 64, &small), RV_OK);
	assert_int_equal(rv_buf_len(&small), 1);
	ref_seal(RV_AEAD_CHACHA20POLY1305, f->key, f->nonce, NULL, 0, f->m, 80, f->ref);
	assert_int_not_equal(rv_aead_open(RV_AEAD_CHACHA20POLY1305, f->key, f->nonce, NULL, 0,
					  f->ref, 80 + RV_TAG_LEN, &small), RV_OK);
	assert_int_equal(rv_buf_len(&small), 1);
	assert_int_equal(rv_aead_available((enum rv_aead)0x7f), 0);
	rv_buf_cleanup(&small);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_matches_libsodium),
		cmocka_unit_test(test_tamper_refused),
		cmocka_unit_test(test_no_room),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
