/* test_keypath.c - default WebSocket path from the server key (rv_keypath.c).
 * Expected values were computed independently (Python hmac/hashlib, RFC 5869
 * with no salt, info "rvpn url path", L = 16, base64url without padding). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "rv_err.h"
#include "rv_keypath.h"

static void test_known_answers(void **state)
{
	uint8_t priv[RV_KEY_LEN];
	char path[RV_KEYPATH_SIZE];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(priv); i++)
		priv[i] = (uint8_t)i;
	assert_int_equal(rv_keypath_derive(priv, path), RV_OK);
	assert_string_equal(path, "/b7ht56WNjMoSVZM9zXFcOg");
	memset(priv, 0xff, sizeof(priv));
	assert_int_equal(rv_keypath_derive(priv, path), RV_OK);
	assert_string_equal(path, "/Hc7tfwx282RJkHyclapO9A");
}

static void test_shape_and_distinct(void **state)
{
	uint8_t priv[RV_KEY_LEN];
	char a[RV_KEYPATH_SIZE], b[RV_KEYPATH_SIZE];
	size_t i;

	(void)state;
	for (i = 0; i < 64; i++) {
		randombytes_buf(priv, sizeof(priv));
		assert_int_equal(rv_keypath_derive(priv, a), RV_OK);
		assert_int_equal(strlen(a), RV_KEYPATH_LEN);
		assert_int_equal(a[0], '/');
		/* Only URL-safe characters: usable in a URL and a config file. */
		assert_int_equal(strspn(a + 1, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					       "0123456789-_"), RV_KEYPATH_LEN - 1);
		/* Stable for one key, different for another. */
		assert_int_equal(rv_keypath_derive(priv, b), RV_OK);
		assert_string_equal(a, b);
		priv[0] ^= 1;
		assert_int_equal(rv_keypath_derive(priv, b), RV_OK);
		assert_string_not_equal(a, b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_answers),
		cmocka_unit_test(test_shape_and_distinct),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
