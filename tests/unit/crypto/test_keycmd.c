/* test_keycmd.c - the genkey / pubkey subcommands shared by both programs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "rv_err.h"
#include "rv_keycmd.h"
#include "rv_keys.h"

static size_t slurp(FILE *f, char *buf, size_t size)
{
	size_t n;

	rewind(f);
	n = fread(buf, 1, size - 1, f);
	buf[n] = '\0';
	return n;
}

static FILE *file_with(const char *text)
{
	FILE *f = tmpfile();

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	rewind(f);
	return f;
}

/* genkey prints a 44-char key + newline; pubkey of it matches rv_keys. */
static void test_genkey_then_pubkey(void **state)
{
	FILE *out = tmpfile(), *err = tmpfile(), *pub = tmpfile();
	char key[128], pubtext[128], want[RV_KEY_B64_SIZE];
	uint8_t priv[RV_KEY_LEN];
	struct rv_keypair kp;

	(void)state;
	assert_non_null(out);
	assert_non_null(err);
	assert_non_null(pub);
	assert_int_equal(rv_keycmd_genkey(out, err), RV_OK);
	assert_int_equal(slurp(out, key, sizeof(key)), RV_KEY_B64_LEN + 1);
	assert_int_equal(key[RV_KEY_B64_LEN], '\n');
	assert_int_equal(rv_key_from_base64(key, RV_KEY_B64_LEN, priv), RV_OK);
	assert_int_equal(rv_keypair_from_private(&kp, priv), RV_OK);
	rv_key_to_base64(kp.pub, want);

	rewind(out);
	assert_int_equal(rv_keycmd_pubkey(out, pub, err), RV_OK);
	assert_int_equal(slurp(pub, pubtext, sizeof(pubtext)), RV_KEY_B64_LEN + 1);
	assert_memory_equal(pubtext, want, RV_KEY_B64_LEN);
	/* Public != private. */
	assert_memory_not_equal(pubtext, key, RV_KEY_B64_LEN);
	fclose(out);
	fclose(err);
	fclose(pub);
}

/* Two keys are different (the generator is not constant). */
static void test_genkey_differs(void **state)
{
	FILE *a = tmpfile(), *b = tmpfile(), *err = tmpfile();
	char ka[64], kb[64];

	(void)state;
	assert_int_equal(rv_keycmd_genkey(a, err), RV_OK);
	assert_int_equal(rv_keycmd_genkey(b, err), RV_OK);
	slurp(a, ka, sizeof(ka));
	slurp(b, kb, sizeof(kb));
	assert_string_not_equal(ka, kb);
	fclose(a);
	fclose(b);
	fclose(err);
}

/* RFC 7748 6.1 Alice: private 77076d0a..., public 8520f009... */
static void test_pubkey_known_answer(void **state)
{
	static const uint8_t priv[32] = {
		0x77, 0x07, 0x6d, 0x0a, 0x73, 0x18, 0xa5, 0x7d, 0x3c, 0x16, 0xc1,
		0x72, 0x51, 0xb2, 0x66, 0x45, 0xdf, 0x4c, 0x2f, 0x87, 0xeb, 0xc0,
		0x99, 0x2a, 0xb1, 0x77, 0xfb, 0xa5, 0x1d, 0xb9, 0x2c, 0x2a };
	static const uint8_t pub[32] = {
		0x85, 0x20, 0xf0, 0x09, 0x89, 0x30, 0xa7, 0x54, 0x74, 0x8b, 0x7d,
		0xdc, 0xb4, 0x3e, 0xf7, 0x5a, 0x0d, 0xbf, 0x3a, 0x0d, 0x26, 0x38,
		0x1a, 0xf4, 0xeb, 0xa4, 0xa9, 0x8e, 0xaa, 0x9b, 0x4e, 0x6a };
	char in_text[RV_KEY_B64_SIZE + 8], want[RV_KEY_B64_SIZE], got[128];
	FILE *in, *out = tmpfile(), *err = tmpfile();

	(void)state;
	rv_key_to_base64(priv, want);
	snprintf(in_text, sizeof(in_text), "  %s \n\n", want); /* whitespace allowed */
	in = file_with(in_text);
	rv_key_to_base64(pub, want);
	assert_int_equal(rv_keycmd_pubkey(in, out, err), RV_OK);
	slurp(out, got, sizeof(got));
	assert_int_equal(strlen(got), RV_KEY_B64_LEN + 1);
	assert_memory_equal(got, want, RV_KEY_B64_LEN);
	fclose(in);
	fclose(out);
	fclose(err);
}

static void pubkey_refuses(const char *text)
{
	FILE *in = file_with(text), *out = tmpfile(), *err = tmpfile();
	char msg[512];

	assert_int_not_equal(rv_keycmd_pubkey(in, out, err), RV_OK);
	assert_int_equal(slurp(out, msg, sizeof(msg)), 0); /* nothing on stdout */
	assert_true(slurp(err, msg, sizeof(msg)) > 0);
	assert_non_null(strstr(msg, "pubkey"));
	fclose(in);
	fclose(out);
	fclose(err);
}

static void test_pubkey_bad_input(void **state)
{
	char big[2048];

	(void)state;
	pubkey_refuses("");
	pubkey_refuses("not a key\n");
	pubkey_refuses("dzdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo\n"); /* 43 chars */
	pubkey_refuses("dzdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo= extra\n");
	memset(big, ' ', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big + 10, "dzdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=", 44);
	pubkey_refuses(big); /* longer than any key file */
}

/* genkey into a group/world-readable file tightens it to 0600. */
static void test_genkey_tightens_file_mode(void **state)
{
	char path[] = "/tmp/rvpn-test-keycmd-XXXXXX";
	int fd = mkstemp(path);
	FILE *out, *err = tmpfile();
	struct stat st;

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(fchmod(fd, 0644), 0);
	out = fdopen(fd, "w");
	assert_non_null(out);
	assert_int_equal(rv_keycmd_genkey(out, err), RV_OK);
	assert_int_equal(fstat(fileno(out), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	fclose(out);
	fclose(err);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_genkey_then_pubkey),
		cmocka_unit_test(test_genkey_differs),
		cmocka_unit_test(test_pubkey_known_answer),
		cmocka_unit_test(test_pubkey_bad_input),
		cmocka_unit_test(test_genkey_tightens_file_mode),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
