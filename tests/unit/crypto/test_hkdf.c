/* test_hkdf.c - HKDF-SHA256 against RFC 5869 appendix A (cases 1-3). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

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

	rv_hkdf_sha256_extract(prk, c->salt, c->salt_len, c->ikm, c->ikm_len);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc5869_case1),
		cmocka_unit_test(test_rfc5869_case2),
		cmocka_unit_test(test_rfc5869_case3),
		cmocka_unit_test(test_hkdf_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
