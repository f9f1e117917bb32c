/* test_keys.c - X25519 key pairs, base64 text form, private key files. */
#include <fcntl.h>
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
#include "rv_keys.h"

static void hex32(const char *hex, uint8_t out[32])
{
	size_t len = 0;

	assert_int_equal(sodium_hex2bin(out, 32, hex, strlen(hex), NULL, &len, NULL), 0);
	assert_int_equal(len, 32);
}

/* RFC 7748 section 6.1: Alice's key pair. */
static void test_x25519_known_answer(void **state)
{
	uint8_t priv[32], pub[32];
	struct rv_keypair kp;

	(void)state;
	hex32("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a", priv);
	hex32("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a", pub);
	assert_int_equal(rv_keypair_from_private(&kp, priv), RV_OK);
	assert_memory_equal(kp.pub, pub, 32);
	assert_memory_equal(kp.priv, priv, 32);
	rv_keypair_wipe(&kp);
	assert_true(sodium_is_zero((const unsigned char *)&kp, sizeof(kp)));
}

static void test_generate_roundtrip(void **state)
{
	struct rv_keypair a, b, c;
	char text[RV_KEY_B64_SIZE];
	uint8_t back[32];

	(void)state;
	assert_int_equal(rv_keypair_generate(&a), RV_OK);
	assert_int_equal(rv_keypair_generate(&b), RV_OK);
	assert_memory_not_equal(a.priv, b.priv, 32);
	assert_memory_not_equal(a.pub, b.pub, 32);
	/* Stored clamped, as wg genkey does. */
	assert_int_equal(a.priv[0] & 7, 0);
	assert_int_equal(a.priv[31] & 0xc0, 0x40);
	assert_int_equal(rv_keypair_from_private(&c, a.priv), RV_OK);
	assert_memory_equal(c.pub, a.pub, 32);

	rv_key_to_base64(a.priv, text);
	assert_int_equal(strlen(text), RV_KEY_B64_LEN);
	assert_int_equal(text[43], '=');
	assert_int_equal(rv_key_from_base64(text, strlen(text), back), RV_OK);
	assert_memory_equal(back, a.priv, 32);
	rv_keypair_wipe(&a);
	rv_keypair_wipe(&b);
	rv_keypair_wipe(&c);
}

/* Known text form: 32 bytes 0x00..0x1f. */
static const char *const k_seq_b64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

static void test_base64_known(void **state)
{
	uint8_t key[32], back[32];
	char text[RV_KEY_B64_SIZE];
	int i;

	(void)state;
	for (i = 0; i < 32; i++)
		key[i] = (uint8_t)i;
	rv_key_to_base64(key, text);
	assert_string_equal(text, k_seq_b64);
	assert_int_equal(rv_key_from_base64(k_seq_b64, strlen(k_seq_b64), back), RV_OK);
	assert_memory_equal(back, key, 32);
}

static void test_base64_whitespace(void **state)
{
	const char *ok[] = {
		"  AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
		"\t\r\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8= \r\n\n",
	};
	uint8_t key[32], want[32];
	size_t i;

	(void)state;
	assert_int_equal(rv_key_from_base64(k_seq_b64, 44, want), RV_OK);
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		memset(key, 0, sizeof(key));
		assert_int_equal(rv_key_from_base64(ok[i], strlen(ok[i]), key), RV_OK);
		assert_memory_equal(key, want, 32);
	}
	/* Length bounds the text: trailing junk past len is not looked at. */
	assert_int_equal(rv_key_from_base64("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=!!",
					    44, key),
			 RV_OK);
}

static void test_base64_bad(void **state)
{
	const char *bad[] = {
		"",                                              /* empty */
		"   \n",                                         /* only space */
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",   /* 43: no padding */
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8==", /* 45: extra pad */
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8A",  /* 44, no '=' (33 bytes) */
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh=",   /* 43 with pad (31 bytes) */
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh!=",  /* bad character */
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh_=",  /* URL-safe alphabet */
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9=",  /* non-zero trailing bits */
		"AAECAwQFBgcICQoLDA0O DxAREhMUFRYXGBkaGxwdHh8=", /* inner space */
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8= AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=x", /* trailing junk */
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", /* too long */
	};
	uint8_t key[32], zero[32] = { 0 };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(key, 0, sizeof(key));
		assert_int_equal(rv_key_from_base64(bad[i], strlen(bad[i]), key),
				 RV_ERR_MALFORMED);
		/* Output untouched on failure. */
		assert_memory_equal(key, zero, 32);
	}
	/* Embedded NUL inside the 44 characters. */
	{
		char t[45];

		memcpy(t, k_seq_b64, 45);
		t[10] = '\0';
		assert_int_equal(rv_key_from_base64(t, 44, key), RV_ERR_MALFORMED);
	}
	assert_int_equal(rv_key_from_base64(NULL, 5, key), RV_ERR_INVALID_ARG);
}

/* ---- key files ---------------------------------------------------- */

struct kf {
	char dir[64];
	char path[128];
};

static int kf_setup(void **state)
{
	struct kf *k = calloc(1, sizeof(*k));

	assert_non_null(k);
	strcpy(k->dir, "/tmp/rvpn-test-keys-XXXXXX");
	assert_non_null(mkdtemp(k->dir));
	snprintf(k->path, sizeof(k->path), "%s/key", k->dir);
	*state = k;
	return 0;
}

static int kf_teardown(void **state)
{
	struct kf *k = *state;

	unlink(k->path);
	rmdir(k->dir);
	free(k);
	return 0;
}

static void kf_write(const struct kf *k, const char *text, mode_t mode)
{
	FILE *f;

	unlink(k->path);
	f = fopen(k->path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int_equal(fclose(f), 0);
	/* chmod, not umask: the test must not depend on the caller's umask. */
	assert_int_equal(chmod(k->path, mode), 0);
}

static void test_keyfile_ok(void **state)
{
	struct kf *k = *state;
	struct rv_keypair gen, kp;
	char text[RV_KEY_B64_SIZE + 8];
	char err[256];

	assert_int_equal(rv_keypair_generate(&gen), RV_OK);
	rv_key_to_base64(gen.priv, text);
	strcat(text, "\n");
	kf_write(k, text, 0600);
	assert_int_equal(rv_key_load_private_file(k->path, &kp, err, sizeof(err)), RV_OK);
	assert_memory_equal(kp.priv, gen.priv, 32);
	assert_memory_equal(kp.pub, gen.pub, 32);
	/* 0400 is fine too. */
	kf_write(k, text, 0400);
	assert_int_equal(rv_key_load_private_file(k->path, &kp, NULL, 0), RV_OK);
	rv_keypair_wipe(&gen);
	rv_keypair_wipe(&kp);
}

static void expect_mode_refused(struct kf *k, mode_t mode, const char *mode_text)
{
	struct rv_keypair kp, zero;
	char err[512];

	kf_write(k, k_seq_b64, mode);
	memset(&kp, 0, sizeof(kp));
	memset(&zero, 0, sizeof(zero));
	err[0] = '\0';
	assert_int_equal(rv_key_load_private_file(k->path, &kp, err, sizeof(err)),
			 RV_ERR_PERMISSION);
	assert_memory_equal(&kp, &zero, sizeof(kp));
	assert_non_null(strstr(err, k->path));
	assert_non_null(strstr(err, mode_text));
	assert_non_null(strstr(err, "group/others"));
	assert_non_null(strstr(err, "chmod 600"));
}

static void test_keyfile_permissions(void **state)
{
	struct kf *k = *state;

	expect_mode_refused(k, 0644, "0644");
	expect_mode_refused(k, 0640, "0640");
	expect_mode_refused(k, 0604, "0604");
	expect_mode_refused(k, 0620, "0620"); /* group-writable: also refused */
}

/* StrictModes: a key file in a directory others may write (no sticky bit)
 * could be replaced by them: refused, naming the directory and the fix. */
static void test_keyfile_dir_writable(void **state)
{
	struct kf *k = *state;
	struct rv_keypair kp;
	char err[512], want[200];

	kf_write(k, k_seq_b64, 0600);
	assert_int_equal(chmod(k->dir, 0770), 0);
	assert_int_equal(rv_key_load_private_file(k->path, &kp, err, sizeof(err)),
			 RV_ERR_PERMISSION);
	snprintf(want, sizeof(want), "chmod go-w %s", k->dir);
	assert_non_null(strstr(err, want));
	assert_int_equal(chmod(k->dir, 01777), 0); /* sticky, as /tmp */
	assert_int_equal(rv_key_load_private_file(k->path, &kp, err, sizeof(err)), RV_OK);
	assert_int_equal(chmod(k->dir, 0755), 0);
	assert_int_equal(rv_key_load_private_file(k->path, &kp, err, sizeof(err)), RV_OK);
	assert_int_equal(chmod(k->dir, 0700), 0);
	rv_keypair_wipe(&kp);
}

/* rv_file_check_modes on its own: only write bits matter (a public file
 * such as authorized_keys may be readable). */
static void test_check_modes(void **state)
{
	static const struct {
		mode_t mode;
		int want;
	} cases[] = {
		{0644, RV_OK}, {0600, RV_OK}, {0444, RV_OK}, {0664, RV_ERR_PERMISSION},
		{0646, RV_ERR_PERMISSION}, {0622, RV_ERR_PERMISSION}, {0660, RV_ERR_PERMISSION},
	};
	struct kf *k = *state;
	char err[512], want[200];
	size_t i;
	int fd;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		kf_write(k, "x\n", cases[i].mode);
		fd = open(k->path, O_RDONLY);
		assert_true(fd >= 0);
		err[0] = '\0';
		assert_int_equal(rv_file_check_modes(fd, k->path, "test file", err, sizeof(err)),
				 cases[i].want);
		if (cases[i].want != RV_OK) {
			snprintf(want, sizeof(want), "test file %s is writable by group/others",
				 k->path);
			assert_non_null(strstr(err, want));
			snprintf(want, sizeof(want), "chmod go-w %s", k->path);
			assert_non_null(strstr(err, want));
		}
		close(fd);
	}
	/* Not a regular file. */
	fd = open(k->dir, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	assert_int_equal(rv_file_check_modes(fd, k->dir, "test file", err, sizeof(err)),
			 RV_ERR_INVALID_ARG);
	close(fd);
}

static void test_keyfile_missing(void **state)
{
	struct kf *k = *state;
	struct rv_keypair kp;
	char err[256];

	unlink(k->path);
	assert_int_equal(rv_key_load_private_file(k->path, &kp, err, sizeof(err)),
			 RV_ERR_NOT_FOUND);
	assert_non_null(strstr(err, k->path));
	/* A directory is not a key file. */
	assert_int_not_equal(rv_key_load_private_file(k->dir, &kp, err, sizeof(err)), RV_OK);
	assert_non_null(strstr(err, k->dir));
}

static void test_keyfile_malformed(void **state)
{
	struct kf *k = *state;
	struct rv_keypair kp;
	char err[256];
	char big[2048];

	kf_write(k, "not a key\n", 0600);
	assert_int_equal(rv_key_load_private_file(k->path, &kp, err, sizeof(err)),
			 RV_ERR_MALFORMED);
	assert_non_null(strstr(err, k->path));
	kf_write(k, "", 0600);
	assert_int_equal(rv_key_load_private_file(k->path, &kp, err, sizeof(err)),
			 RV_ERR_MALFORMED);
	memset(big, ' ', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big + 100, k_seq_b64, 44);
	kf_write(k, big, 0600);
	assert_int_equal(rv_key_load_private_file(k->path, &kp, err, sizeof(err)),
			 RV_ERR_MALFORMED);
	/* Tiny error buffer: truncated, still NUL-terminated. */
	kf_write(k, "x", 0600);
	assert_int_equal(rv_key_load_private_file(k->path, &kp, err, 4), RV_ERR_MALFORMED);
	assert_true(strlen(err) < 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_x25519_known_answer),
		cmocka_unit_test(test_generate_roundtrip),
		cmocka_unit_test(test_base64_known),
		cmocka_unit_test(test_base64_whitespace),
		cmocka_unit_test(test_base64_bad),
		cmocka_unit_test_setup_teardown(test_keyfile_ok, kf_setup, kf_teardown),
		cmocka_unit_test_setup_teardown(test_keyfile_permissions, kf_setup, kf_teardown),
		cmocka_unit_test_setup_teardown(test_keyfile_missing, kf_setup, kf_teardown),
		cmocka_unit_test_setup_teardown(test_keyfile_dir_writable, kf_setup, kf_teardown),
		cmocka_unit_test_setup_teardown(test_check_modes, kf_setup, kf_teardown),
		cmocka_unit_test_setup_teardown(test_keyfile_malformed, kf_setup, kf_teardown),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
