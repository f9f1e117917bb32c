/* test_noise_vectors.c - rv_noise against public Noise test vectors.
 *
 * Checks every Noise_IK_25519_{ChaChaPoly,AESGCM}_SHA256 vector of every
 * JSON file in ../shared/vectors/ and of the file named by
 * RVPN_NOISE_VECTORS (format: Noise wiki "Test vectors").  Unknown fields
 * (init_psks, ...) are ignored; other protocols are skipped.  Messages 0 and
 * 1 are the handshake; later ones are transport messages alternating
 * initiator->responder, responder->initiator under the Split() states.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>

#include "rv_aead.h"
#include "rv_buf.h"
#include "rv_err.h"
#include "rv_keys.h"
#include "rv_noise.h"
#include "rv_wire.h"

enum { MAX_FILES = 64, MAX_VECTORS_PER_FILE = 10000, MAX_MESSAGES = 1000 };

struct tally {
	unsigned checked, checked_chacha, checked_aesgcm;
	unsigned skipped_protocol, skipped_no_aesni, skipped_fail;
};

struct hexval {
	uint8_t *p;
	size_t len;
};

static void hexval_free(struct hexval *h)
{
	free(h->p);
	h->p = NULL;
	h->len = 0;
}

/* 1 if field present (decoded into out), 0 if absent; fails on bad hex. */
static int get_hex(json_t *obj, const char *field, struct hexval *out)
{
	json_t *v = json_object_get(obj, field);
	const char *s;
	size_t slen, blen = 0;

	out->p = NULL;
	out->len = 0;
	if (v == NULL || json_is_null(v))
		return 0;
	assert_true(json_is_string(v));
	s = json_string_value(v);
	slen = strlen(s);
	assert_true(slen % 2 == 0);
	out->p = malloc(slen / 2 + 1);
	assert_non_null(out->p);
	assert_int_equal(sodium_hex2bin(out->p, slen / 2 + 1, s, slen, NULL, &blen, NULL), 0);
	assert_int_equal(blen, slen / 2);
	out->len = blen;
	return 1;
}

static void get_key(json_t *obj, const char *field, uint8_t key[32])
{
	struct hexval h;

	assert_int_equal(get_hex(obj, field, &h), 1);
	assert_int_equal(h.len, 32);
	memcpy(key, h.p, 32);
	hexval_free(&h);
}

/* Writes msg with the sender, compares with the vector, reads it with the
 * receiver, compares the payload. */
static void check_hs_message(struct rv_noise_hs *snd, struct rv_noise_hs *rcv,
			     const struct hexval *payload, const struct hexval *ct)
{
	struct rv_buf out, pt;
	struct rv_noise_hs saved;

	rv_buf_init(&out, 65535);
	rv_buf_init(&pt, 65535);
	assert_int_equal(rv_noise_write_message(snd, payload->p, payload->len, &out), RV_OK);
	assert_int_equal(rv_buf_len(&out), ct->len);
	assert_memory_equal(rv_buf_ptr(&out), ct->p, ct->len);

	/* A flipped last byte (in the tag) fails and changes nothing. */
	if (ct->len > 0) {
		ct->p[ct->len - 1] ^= 0x01;
		memcpy(&saved, rcv, sizeof(saved));
		assert_int_equal(rv_noise_read_message(rcv, ct->p, ct->len, &pt), RV_ERR_AUTH);
		assert_int_equal(rv_buf_len(&pt), 0);
		assert_memory_equal(&saved, rcv, sizeof(saved));
		ct->p[ct->len - 1] ^= 0x01;
	}
	assert_int_equal(rv_noise_read_message(rcv, ct->p, ct->len, &pt), RV_OK);
	assert_int_equal(rv_buf_len(&pt), payload->len);
	if (payload->len > 0)
		assert_memory_equal(rv_buf_ptr(&pt), payload->p, payload->len);
	rv_buf_cleanup(&out);
	rv_buf_cleanup(&pt);
}

static void check_transport_message(struct rv_noise_cipherstate *snd,
				    struct rv_noise_cipherstate *rcv,
				    const struct hexval *payload, const struct hexval *ct)
{
	struct rv_buf out, pt;
	struct rv_noise_cipherstate saved;

	rv_buf_init(&out, 65535);
	rv_buf_init(&pt, 65535);
	assert_int_equal(rv_noise_cs_encrypt(snd, NULL, 0, payload->p, payload->len, &out),
			 RV_OK);
	assert_int_equal(rv_buf_len(&out), ct->len);
	assert_memory_equal(rv_buf_ptr(&out), ct->p, ct->len);

	assert_true(ct->len >= RV_TAG_LEN);
	ct->p[0] ^= 0x80;
	saved = *rcv;
	assert_int_equal(rv_noise_cs_decrypt(rcv, NULL, 0, ct->p, ct->len, &pt), RV_ERR_AUTH);
	assert_int_equal(rv_buf_len(&pt), 0);
	assert_memory_equal(&saved, rcv, sizeof(saved)); /* nonce not consumed */
	ct->p[0] ^= 0x80;

	assert_int_equal(rv_noise_cs_decrypt(rcv, NULL, 0, ct->p, ct->len, &pt), RV_OK);
	assert_int_equal(rv_buf_len(&pt), payload->len);
	if (payload->len > 0)
		assert_memory_equal(rv_buf_ptr(&pt), payload->p, payload->len);
	rv_buf_cleanup(&out);
	rv_buf_cleanup(&pt);
}

static void run_vector(json_t *v, enum rv_noise_cipher cipher)
{
	struct rv_noise_hs ini, res;
	struct rv_noise_cipherstate ic1, ic2, rc1, rc2;
	struct rv_keypair is, ie, rs, re;
	uint8_t key[32], init_rs[32];
	struct hexval ipro, rpro, hh;
	json_t *msgs;
	size_t i, n;

	get_key(v, "init_static", key);
	assert_int_equal(rv_keypair_from_private(&is, key), RV_OK);
	get_key(v, "init_ephemeral", key);
	assert_int_equal(rv_keypair_from_private(&ie, key), RV_OK);
	get_key(v, "resp_static", key);
	assert_int_equal(rv_keypair_from_private(&rs, key), RV_OK);
	get_key(v, "resp_ephemeral", key);
	assert_int_equal(rv_keypair_from_private(&re, key), RV_OK);
	if (json_object_get(v, "init_remote_static") != NULL)
		get_key(v, "init_remote_static", init_rs);
	else
		memcpy(init_rs, rs.pub, 32);
	get_hex(v, "init_prologue", &ipro);
	get_hex(v, "resp_prologue", &rpro);

	assert_int_equal(rv_noise_hs_init(&ini, RV_NOISE_INITIATOR, cipher, ipro.p, ipro.len,
					  &is, init_rs),
			 RV_OK);
	assert_int_equal(rv_noise_hs_init(&res, RV_NOISE_RESPONDER, cipher, rpro.p, rpro.len,
					  &rs, NULL),
			 RV_OK);
	rv_noise_hs_set_ephemeral(&ini, &ie);
	rv_noise_hs_set_ephemeral(&res, &re);

	msgs = json_object_get(v, "messages");
	assert_true(json_is_array(msgs));
	n = json_array_size(msgs);
	assert_true(n >= 2 && n <= MAX_MESSAGES);
	for (i = 0; i < n; i++) {
		json_t *m = json_array_get(msgs, i);
		struct hexval pl, ct;

		assert_true(json_is_object(m));
		assert_int_equal(get_hex(m, "payload", &pl), 1);
		assert_int_equal(get_hex(m, "ciphertext", &ct), 1);
		if (i == 0) {
			check_hs_message(&ini, &res, &pl, &ct);
			/* The responder learned the initiator's static key. */
			assert_memory_equal(res.rs, is.pub, 32);
		} else if (i == 1) {
			check_hs_message(&res, &ini, &pl, &ct);
			assert_int_equal(ini.state, RV_NOISE_STATE_DONE);
			assert_int_equal(res.state, RV_NOISE_STATE_DONE);
			assert_memory_equal(ini.h, res.h, 32);
			if (get_hex(v, "handshake_hash", &hh)) {
				assert_int_equal(hh.len, 32);
				assert_memory_equal(ini.h, hh.p, 32);
				hexval_free(&hh);
			}
			assert_int_equal(rv_noise_split(&ini, &ic1, &ic2), RV_OK);
			assert_int_equal(rv_noise_split(&res, &rc1, &rc2), RV_OK);
			assert_memory_equal(ic1.k, rc1.k, 32);
			assert_memory_equal(ic2.k, rc2.k, 32);
			assert_memory_not_equal(ic1.k, ic2.k, 32);
		} else if (i % 2 == 0) {
			check_transport_message(&ic1, &rc1, &pl, &ct);
		} else {
			check_transport_message(&rc2, &ic2, &pl, &ct);
		}
		hexval_free(&pl);
		hexval_free(&ct);
	}
	if (n >= 2) {
		rv_noise_cs_wipe(&ic1);
		rv_noise_cs_wipe(&ic2);
		rv_noise_cs_wipe(&rc1);
		rv_noise_cs_wipe(&rc2);
	}
	rv_noise_hs_wipe(&ini);
	rv_noise_hs_wipe(&res);
	assert_true(sodium_is_zero((const unsigned char *)&ini, sizeof(ini)));
	hexval_free(&ipro);
	hexval_free(&rpro);
}

/* Runs every vector we implement in one file; returns how many ran. */
static void run_file(const char *path, struct tally *t)
{
	json_error_t jerr;
	json_t *root, *vectors;
	size_t i, n;
	unsigned before = t->checked;

	root = json_load_file(path, 0, &jerr);
	if (root == NULL)
		fail_msg("%s:%d: %s", path, jerr.line, jerr.text);
	/* Either {"vectors": [...]} (the wiki format) or a bare array. */
	vectors = json_is_array(root) ? root : json_object_get(root, "vectors");
	if (!json_is_array(vectors))
		fail_msg("%s: no \"vectors\" array", path);
	n = json_array_size(vectors);
	assert_true(n <= MAX_VECTORS_PER_FILE);
	for (i = 0; i < n; i++) {
		json_t *v = json_array_get(vectors, i);
		const char *name;
		enum rv_noise_cipher cipher;

		assert_true(json_is_object(v));
		name = json_string_value(json_object_get(v, "protocol_name"));
		if (name == NULL)
			name = json_string_value(json_object_get(v, "name"));
		if (name != NULL && strcmp(name, RV_NOISE_PROTOCOL_CHACHA) == 0) {
			cipher = RV_NOISE_CIPHER_CHACHAPOLY;
		} else if (name != NULL && strcmp(name, RV_NOISE_PROTOCOL_AESGCM) == 0) {
			cipher = RV_NOISE_CIPHER_AESGCM;
		} else {
			t->skipped_protocol++;
			continue;
		}
		/* A vector that is meant to fail has no ciphertexts to match. */
		if (json_is_true(json_object_get(v, "fail"))) {
			t->skipped_fail++;
			continue;
		}
		if (cipher == RV_NOISE_CIPHER_AESGCM &&
		    !rv_aead_available(RV_AEAD_AES256GCM)) {
			printf("[ SKIPPED  ] %s vector %zu (%s): no hardware AES on this "
			       "machine\n",
			       path, i, name);
			t->skipped_no_aesni++;
			continue;
		}
		run_vector(v, cipher);
		t->checked++;
		if (cipher == RV_NOISE_CIPHER_AESGCM)
			t->checked_aesgcm++;
		else
			t->checked_chacha++;
	}
	printf("[ VECTORS  ] %s: %u checked\n", path, t->checked - before);
	json_decref(root);
}

static void print_tally(const char *what, const struct tally *t)
{
	printf("[ VECTORS  ] %s: checked %u Noise IK vectors (ChaChaPoly %u, AESGCM %u); "
	       "skipped %u other protocols, %u AESGCM without AES-NI, %u fail vectors\n",
	       what, t->checked, t->checked_chacha, t->checked_aesgcm, t->skipped_protocol,
	       t->skipped_no_aesni, t->skipped_fail);
}

static int is_dir(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* RVPN_SHARED_DIR (ctest sets it), else ../shared next to the source tree
 * or the working directory. */
static int find_shared(char *out, size_t cap)
{
	const char *env = getenv("RVPN_SHARED_DIR");
	char here[256];
	const char *rel[] = { "../shared", "../../shared", "../../../shared" };
	char *slash;
	size_t i;

	if (env != NULL && env[0] != '\0' && is_dir(env)) {
		snprintf(out, cap, "%s", env);
		return 1;
	}
	/* Source tree: <root>/tests/unit/this.c -> <root>/../shared */
	snprintf(here, sizeof(here), "%s", __FILE__);
	slash = strrchr(here, '/');
	if (slash != NULL) {
		*slash = '\0';
		if (snprintf(out, cap, "%s/../../../shared", here) < (int)cap && is_dir(out))
			return 1;
	}
	for (i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		snprintf(out, cap, "%s", rel[i]);
		if (is_dir(out))
			return 1;
	}
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_shared_vectors(void **state)
{
	char shared[512], vdir[600];
	char *files[MAX_FILES];
	size_t nfiles = 0, i;
	struct tally t;
	struct dirent *de;
	DIR *d;

	(void)state;
	memset(&t, 0, sizeof(t));
	if (!find_shared(shared, sizeof(shared))) {
		printf("\n*** SKIPPED: ../shared not found (set RVPN_SHARED_DIR); "
		       "NO shared Noise vectors were checked ***\n\n");
		skip();
	}
	snprintf(vdir, sizeof(vdir), "%s/vectors", shared);
	d = opendir(vdir);
	if (d == NULL)
		fail_msg("%s exists but %s cannot be opened", shared, vdir);
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		char path[1024];

		if (len < 5 || strcmp(de->d_name + len - 5, ".json") != 0)
			continue;
		assert_true(nfiles < MAX_FILES);
		snprintf(path, sizeof(path), "%s/%s", vdir, de->d_name);
		files[nfiles] = strdup(path);
		assert_non_null(files[nfiles]);
		nfiles++;
	}
	closedir(d);
	qsort(files, nfiles, sizeof(files[0]), cmp_str);
	for (i = 0; i < nfiles; i++) {
		run_file(files[i], &t);
		free(files[i]);
	}
	print_tally(vdir, &t);
	/* The shared set is known to hold IK vectors: none checked is a bug. */
	assert_true(nfiles > 0);
	assert_true(t.checked > 0);
	assert_true(t.checked_chacha > 0);
}

static void test_env_vectors(void **state)
{
	const char *path = getenv("RVPN_NOISE_VECTORS");
	struct tally t;

	(void)state;
	if (path == NULL || path[0] == '\0') {
		printf("[ SKIPPED  ] RVPN_NOISE_VECTORS not set\n");
		skip();
	}
	memset(&t, 0, sizeof(t));
	run_file(path, &t);
	print_tally(path, &t);
}

/* Generic Noise behaviour not covered by fixed vectors. */
static void test_noise_roundtrip_random(void **state)
{
	enum rv_noise_cipher ciphers[] = { RV_NOISE_CIPHER_CHACHAPOLY, RV_NOISE_CIPHER_AESGCM };
	size_t c;

	(void)state;
	for (c = 0; c < 2; c++) {
		struct rv_keypair is, rs;
		struct rv_noise_hs ini, res;
		struct rv_noise_cipherstate a1, a2, b1, b2;
		struct rv_buf m, p;

		if (ciphers[c] == RV_NOISE_CIPHER_AESGCM && !rv_aead_available(RV_AEAD_AES256GCM))
			continue;
		rv_buf_init(&m, 65535);
		rv_buf_init(&p, 65535);
		assert_int_equal(rv_keypair_generate(&is), RV_OK);
		assert_int_equal(rv_keypair_generate(&rs), RV_OK);
		assert_int_equal(rv_noise_hs_init(&ini, RV_NOISE_INITIATOR, ciphers[c],
						  (const uint8_t *)"p", 1, &is, rs.pub),
				 RV_OK);
		assert_int_equal(rv_noise_hs_init(&res, RV_NOISE_RESPONDER, ciphers[c],
						  (const uint8_t *)"p", 1, &rs, NULL),
				 RV_OK);
		/* Wrong order is a state error. */
		assert_int_equal(rv_noise_write_message(&res, NULL, 0, &m), RV_ERR_STATE);
		assert_int_equal(rv_noise_split(&ini, &a1, &a2), RV_ERR_STATE);
		assert_int_equal(rv_noise_write_message(&ini, NULL, 0, &m), RV_OK);
		assert_int_equal(rv_buf_len(&m), 32 + 48 + 16);
		/* Truncated: malformed or auth failure, never success. */
		assert_int_not_equal(rv_noise_read_message(&res, rv_buf_ptr(&m), 95, &p), RV_OK);
		assert_int_equal(rv_noise_read_message(&res, rv_buf_ptr(&m), rv_buf_len(&m), &p),
				 RV_OK);
		assert_int_equal(rv_buf_len(&p), 0);
		assert_memory_equal(res.rs, is.pub, 32);
		rv_buf_reset(&m);
		assert_int_equal(rv_noise_write_message(&res, (const uint8_t *)"hi", 2, &m), RV_OK);
		assert_int_equal(rv_noise_read_message(&ini, rv_buf_ptr(&m), rv_buf_len(&m), &p),
				 RV_OK);
		assert_memory_equal(rv_buf_ptr(&p), "hi", 2);
		assert_memory_equal(ini.h, res.h, 32);
		assert_int_equal(rv_noise_split(&ini, &a1, &a2), RV_OK);
		assert_int_equal(rv_noise_split(&res, &b1, &b2), RV_OK);
		assert_memory_equal(a1.k, b1.k, 32);
		assert_memory_equal(a2.k, b2.k, 32);
		rv_noise_hs_wipe(&ini);
		rv_noise_hs_wipe(&res);
		rv_noise_cs_wipe(&a1);
		rv_noise_cs_wipe(&a2);
		rv_noise_cs_wipe(&b1);
		rv_noise_cs_wipe(&b2);
		rv_buf_cleanup(&m);
		rv_buf_cleanup(&p);
	}
}

/* A low-order remote ephemeral makes DH all-zero: refused, state kept. */
static void test_noise_rejects_zero_dh(void **state)
{
	struct rv_keypair is, rs;
	struct rv_noise_hs ini, res, saved;
	struct rv_buf m, p;

	(void)state;
	rv_buf_init(&m, 65535);
	rv_buf_init(&p, 65535);
	assert_int_equal(rv_keypair_generate(&is), RV_OK);
	assert_int_equal(rv_keypair_generate(&rs), RV_OK);
	assert_int_equal(rv_noise_hs_init(&ini, RV_NOISE_INITIATOR, RV_NOISE_CIPHER_CHACHAPOLY,
					  NULL, 0, &is, rs.pub),
			 RV_OK);
	assert_int_equal(rv_noise_hs_init(&res, RV_NOISE_RESPONDER, RV_NOISE_CIPHER_CHACHAPOLY,
					  NULL, 0, &rs, NULL),
			 RV_OK);
	assert_int_equal(rv_noise_write_message(&ini, NULL, 0, &m), RV_OK);
	/* e = 0 (the identity point): every DH with it is zero. */
	{
		uint8_t msg[96];

		memcpy(msg, rv_buf_ptr(&m), sizeof(msg));
		memset(msg, 0, 32);
		memcpy(&saved, &res, sizeof(saved));
		assert_int_equal(rv_noise_read_message(&res, msg, sizeof(msg), &p), RV_ERR_CRYPTO);
		assert_memory_equal(&saved, &res, sizeof(saved));
	}
	/* An initiator told a zero server key cannot even write message 1. */
	{
		uint8_t zero[32] = { 0 };
		struct rv_noise_hs bad;

		rv_buf_reset(&m);
		assert_int_equal(rv_noise_hs_init(&bad, RV_NOISE_INITIATOR,
						  RV_NOISE_CIPHER_CHACHAPOLY, NULL, 0, &is, zero),
				 RV_OK);
		assert_int_equal(rv_noise_write_message(&bad, NULL, 0, &m), RV_ERR_CRYPTO);
		assert_int_equal(rv_buf_len(&m), 0);
		assert_int_equal(bad.state, RV_NOISE_STATE_MSG1);
		rv_noise_hs_wipe(&bad);
	}
	rv_noise_hs_wipe(&ini);
	rv_noise_hs_wipe(&res);
	rv_buf_cleanup(&m);
	rv_buf_cleanup(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shared_vectors),
		cmocka_unit_test(test_env_vectors),
		cmocka_unit_test(test_noise_roundtrip_random),
		cmocka_unit_test(test_noise_rejects_zero_dh),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
