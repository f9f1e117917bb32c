/* test_hkdf.c - HMAC-SHA256 against RFC 4231 (cases 1, 2, 6, 7) and against
 * libsodium's HMAC (an independent implementation: every key length 0..200,
 * message lengths and split points); HKDF-SHA256 against RFC 5869 appendix A
 * (cases 1-3) and against HKDF built on libsodium's HMAC (long info). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "rv_err.h"
#include "rv_hkdf.h"

static size_t hex_decode(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = strlen(hex) / 2, i;

	assert_true(strlen(hex) % 2 == 0);
	assert_true(n <= cap);
	for (i = 0; i < n; i++) {
		unsigned v;

		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
	return n;
}

struct rfc_case {
	uint8_t ikm[80], salt[80], info[80];
	size_t ikm_len, salt_len, info_len, okm_len;
	const char *prk_hex, *okm_hex;
};

static void run_case(const struct rfc_case *c)
{
	uint8_t prk[32], want_prk[32], okm[128], want_okm[128];
	size_t want_len;

	hex_decode(c->prk_hex, want_prk, sizeof(want_prk));
	want_len = hex_decode(c->okm_hex, want_okm, sizeof(want_okm));
	assert_int_equal(want_len, c->okm_len);

	assert_int_equal(rv_hkdf_sha256_extract(prk, c->salt, c->salt_len, c->ikm, c->ikm_len), RV_OK);
	assert_memory_equal(prk, want_prk, 32);

	memset(okm, 0xaa, sizeof(okm));
	assert_int_equal(rv_hkdf_sha256_expand(okm, c->okm_len, prk, c->info, c->info_len),
			 RV_OK);
	assert_memory_equal(okm, want_okm, c->okm_len);
	assert_int_equal(okm[c->okm_len], 0xaa); /* nothing written past L */

	memset(okm, 0, sizeof(okm));
	assert_int_equal(rv_hkdf_sha256(okm, c->okm_len, c->salt, c->salt_len, c->ikm,
					c->ikm_len, c->info, c->info_len),
			 RV_OK);
	assert_memory_equal(okm, want_okm, c->okm_len);
}

/* A.1: basic test case with SHA-256. */
static void test_rfc5869_case1(void **state)
{
	struct rfc_case c;

	(void)state;
	memset(&c, 0, sizeof(c));
	memset(c.ikm, 0x0b, 22);
	c.ikm_len = 22;
	c.salt_len = hex_decode("000102030405060708090a0b0c", c.salt, sizeof(c.salt));
	c.info_len = hex_decode("f0f1f2f3f4f5f6f7f8f9", c.info, sizeof(c.info));
	c.okm_len = 42;
	c.prk_hex = "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5";
	c.okm_hex = "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
		    "34007208d5b887185865";
	run_case(&c);
}

/* A.2: longer inputs/outputs (80-byte IKM, salt, info; L = 82). */
static void test_rfc5869_case2(void **state)
{
	struct rfc_case c;
	size_t i;

	(void)state;
	memset(&c, 0, sizeof(c));
	for (i = 0; i < 80; i++) {
		c.ikm[i] = (uint8_t)i;
		c.salt[i] = (uint8_t)(0x60 + i);
		c.info[i] = (uint8_t)(0xb0 + i);
	}
	c.ikm_len = c.salt_len = c.info_len = 80;
	c.okm_len = 82;
	c.prk_hex = "06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244";
	c.okm_hex = "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
		    "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
		    "cc30c58179ec3e87c14c01d5c1f3434f1d87";
	run_case(&c);
}

/* A.3: zero-length salt and info. */
static void test_rfc5869_case3(void **state)
{
	struct rfc_case c;

	(void)state;
	memset(&c, 0, sizeof(c));
	memset(c.ikm, 0x0b, 22);
	c.ikm_len = 22;
	c.okm_len = 42;
	c.prk_hex = "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04";
	c.okm_hex = "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
		    "9d201395faa4b61a96c8";
	run_case(&c);
	/* NULL salt means the same as an empty one. */
	{
		uint8_t a[42], b[42];

		assert_int_equal(rv_hkdf_sha256(a, 42, NULL, 0, c.ikm, 22, NULL, 0), RV_OK);
		assert_int_equal(rv_hkdf_sha256(b, 42, c.salt, 0, c.ikm, 22, c.info, 0),
				 RV_OK);
		assert_memory_equal(a, b, 42);
	}
}

static void test_hkdf_limits(void **state)
{
	static uint8_t big[RV_HKDF_MAX_OUT + 1];
	uint8_t prk[32] = { 1 }, first[64];

	(void)state;
	assert_int_equal(rv_hkdf_sha256(big, RV_HKDF_MAX_OUT + 1, NULL, 0, prk, 32, NULL, 0),
			 RV_ERR_INVALID_ARG);
	assert_int_equal(rv_hkdf_sha256_expand(big, RV_HKDF_MAX_OUT + 1, prk, NULL, 0),
			 RV_ERR_INVALID_ARG);
	assert_int_equal(rv_hkdf_sha256_expand(big, RV_HKDF_MAX_OUT, prk, NULL, 0), RV_OK);
	/* Output is a prefix-stable stream: shorter L is a prefix of longer L. */
	assert_int_equal(rv_hkdf_sha256_expand(first, sizeof(first), prk, NULL, 0), RV_OK);
	assert_memory_equal(first, big, sizeof(first));
	assert_int_equal(rv_hkdf_sha256_expand(first, 0, prk, NULL, 0), RV_OK);
}

/* RFC 4231: cases 1, 2 (short keys), 6 and 7 (a 131-byte key, hashed first). */
static void test_hmac_rfc4231(void **state)
{
	static const struct {
		const char *key_hex, *data, *mac_hex;
	} cases[] = {
		{ "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "Hi There",
		  "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7" },
		{ "4a656665", "what do ya want for nothing?",
		  "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" },
		{ NULL, "Test Using Larger Than Block-Size Key - Hash Key First",
		  "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54" },
		{ NULL,
		  "This is a test using a larger than block-size key and a larger than "
		  "block-size data. The key needs to be hashed before being used by the "
		  "HMAC algorithm.",
		  "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2" },
	};
	uint8_t key[131], want[32], got[32];
	size_t i, klen, dlen;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (cases[i].key_hex != NULL) {
			klen = hex_decode(cases[i].key_hex, key, sizeof(key));
		} else {
			memset(key, 0xaa, sizeof(key));
			klen = sizeof(key);
		}
		assert_int_equal(hex_decode(cases[i].mac_hex, want, sizeof(want)), 32);
		dlen = strlen(cases[i].data);
		/* Whole, and split in two at every point. */
		assert_int_equal(rv_hmac_sha256(got, key, klen, (const uint8_t *)cases[i].data, dlen,
						NULL, 0), RV_OK);
		assert_memory_equal(got, want, 32);
		for (size_t cut = 0; cut <= dlen; cut++) {
			memset(got, 0, sizeof(got));
			assert_int_equal(rv_hmac_sha256(got, key, klen, (const uint8_t *)cases[i].data,
							cut, (const uint8_t *)cases[i].data + cut,
							dlen - cut), RV_OK);
			assert_memory_equal(got, want, 32);
		}
	}
}

/* Against libsodium's HMAC-SHA256 for every key length 0..200 (around
 * the 64-byte block) and message lengths 0..300. */
static void test_hmac_matches_libsodium(void **state)
{
	uint8_t key[200], msg[300], want[32], got[32];
	crypto_auth_hmacsha256_state st;
	size_t klen, mlen, cut;

	(void)state;
	assert_true(sodium_init() >= 0);
	randombytes_buf(key, sizeof(key));
	randombytes_buf(msg, sizeof(msg));
	for (klen = 0; klen <= sizeof(key); klen++) {
		mlen = (klen * 37) % (sizeof(msg) + 1);
		cut = mlen == 0 ? 0 : (klen * 11) % (mlen + 1);
		crypto_auth_hmacsha256_init(&st, key, klen);
		crypto_auth_hmacsha256_update(&st, msg, mlen);
		crypto_auth_hmacsha256_final(&st, want);
		assert_int_equal(rv_hmac_sha256(got, key, klen, msg, cut, msg + cut, mlen - cut),
				 RV_OK);
		assert_memory_equal(got, want, 32);
		/* A changed key byte or message byte changes the MAC. */
		if (klen > 0) {
			key[klen / 2] ^= 0x80;
			assert_int_equal(rv_hmac_sha256(got, key, klen, msg, mlen, NULL, 0), RV_OK);
			assert_memory_not_equal(got, want, 32);
			key[klen / 2] ^= 0x80;
		}
	}
}

/* Two MACs under one key (the ratchet's KDF_CK) equal two single ones
 * (checked against libsodium above), for keys around the block size; an
 * output may be the key itself. */
static void test_hmac_two_matches_single(void **state)
{
	uint8_t key[130], k2[130], a[40], b[70], wa[32], wb[32], ga[32], gb[32];
	size_t klen;

	(void)state;
	randombytes_buf(key, sizeof(key));
	randombytes_buf(a, sizeof(a));
	randombytes_buf(b, sizeof(b));
	for (klen = 0; klen <= sizeof(key); klen++) {
		assert_int_equal(rv_hmac_sha256(wa, key, klen, a, klen % 41, NULL, 0), RV_OK);
		assert_int_equal(rv_hmac_sha256(wb, key, klen, b, sizeof(b) - klen % 7, NULL, 0),
				 RV_OK);
		assert_int_equal(rv_hmac_sha256_two(ga, a, klen % 41, gb, b, sizeof(b) - klen % 7,
						    key, klen), RV_OK);
		assert_memory_equal(ga, wa, 32);
		assert_memory_equal(gb, wb, 32);
		assert_memory_not_equal(ga, gb, 32);
	}
	/* KDF_CK's shape: 32-byte key, 1-byte inputs, the second output
	 * written over the key. */
	memcpy(k2, key, 32);
	assert_int_equal(rv_hmac_sha256(wa, key, 32, (const uint8_t *)"\x01", 1, NULL, 0), RV_OK);
	assert_int_equal(rv_hmac_sha256(wb, key, 32, (const uint8_t *)"\x02", 1, NULL, 0), RV_OK);
	assert_int_equal(rv_hmac_sha256_two(ga, (const uint8_t *)"\x01", 1, k2,
					    (const uint8_t *)"\x02", 1, k2, 32), RV_OK);
	assert_memory_equal(ga, wa, 32);
	assert_memory_equal(k2, wb, 32);
}

/* HKDF with an info longer than a block, against RFC 5869 on libsodium. */
static void test_hkdf_long_info(void **state)
{
	uint8_t prk[32], info[150], want[96], got[96], t[32];
	crypto_auth_hmacsha256_state st;
	size_t done = 0;
	uint8_t ctr;

	(void)state;
	randombytes_buf(prk, sizeof(prk));
	randombytes_buf(info, sizeof(info));
	for (ctr = 1; done < sizeof(want); ctr++) {
		crypto_auth_hmacsha256_init(&st, prk, sizeof(prk));
		if (ctr > 1)
			crypto_auth_hmacsha256_update(&st, t, sizeof(t));
		crypto_auth_hmacsha256_update(&st, info, sizeof(info));
		crypto_auth_hmacsha256_update(&st, &ctr, 1);
		crypto_auth_hmacsha256_final(&st, t);
		memcpy(want + done, t, 32);
		done += 32;
	}
	assert_int_equal(rv_hkdf_sha256_expand(got, sizeof(got), prk, info, sizeof(info)), RV_OK);
	assert_memory_equal(got, want, sizeof(want));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc5869_case1),
		cmocka_unit_test(test_rfc5869_case2),
		cmocka_unit_test(test_rfc5869_case3),
		cmocka_unit_test(test_hkdf_limits),
		cmocka_unit_test(test_hmac_rfc4231),
		cmocka_unit_test(test_hmac_matches_libsodium),
		cmocka_unit_test(test_hmac_two_matches_single),
		cmocka_unit_test(test_hkdf_long_info),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
