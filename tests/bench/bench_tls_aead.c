/* bench_tls_aead - mbedTLS's own single-core AEAD rate, used the way its
 * TLS 1.2 record layer uses it (tests/bench/run compares rvpn's wss bulk
 * rate with it).
 *
 * For AES-128-GCM, AES-256-GCM and ChaCha20-Poly1305: mbedtls_cipher with
 * mbedtls_cipher_auth_{en,de}crypt_ext on 16 KiB records (TLS's largest
 * plaintext), each with its own nonce built as TLS 1.2 builds it (GCM: 4
 * fixed bytes + the 8-byte sequence number; ChaCha20-Poly1305: the 12-byte
 * IV XOR the sequence number, RFC 7905) and 13 bytes of additional data
 * (sequence, type, version, length), the tag appended in place.  Encrypt
 * runs for --seconds; decrypt then verifies and opens a pool of records
 * sealed beforehand (each its own nonce) for --seconds.
 *
 *   bench_tls_aead [--seconds S]     (default 0.5)
 *
 * Output: one JSON line per cipher,
 *   {"cipher": "AES-256-GCM", "encrypt_MBps": ..., "decrypt_MBps": ...,
 *    "record": 16384, "mbedtls": "2.28.3", "aesni": true}
 * MB = 10^6 bytes of plaintext.  Errors: {"error": ...} and exit status 1.
 * Plain C, no rvpn library; links mbedcrypto, the library lws uses. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/aesni.h>
#include <mbedtls/cipher.h>
#include <mbedtls/version.h>

enum {
	RECORD = 16384,	  /* TLS maximum plaintext per record */
	TAG_LEN = 16,
	AAD_LEN = 13,	  /* seq(8) type(1) version(2) length(2) */
	NONCE_LEN = 12,
	POOL = 32,	  /* sealed records the decrypt pass cycles through */
	CHECK_EVERY = 8,  /* records between clock reads */
};

struct aead_case {
	const char *name;
	mbedtls_cipher_type_t type;
	int key_bits;
	int xor_iv; /* 1: ChaCha20-Poly1305 nonce (IV XOR seq), 0: GCM (salt || seq) */
};

static const struct aead_case cases[] = {
	{ "AES-128-GCM", MBEDTLS_CIPHER_AES_128_GCM, 128, 0 },
	{ "AES-256-GCM", MBEDTLS_CIPHER_AES_256_GCM, 256, 0 },
	{ "ChaCha20-Poly1305", MBEDTLS_CIPHER_CHACHA20_POLY1305, 256, 1 },
};

static uint8_t pool[POOL][RECORD + TAG_LEN];
static uint8_t work[RECORD + TAG_LEN];
static uint8_t plain[RECORD];

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static _Noreturn void fail(const char *cipher, const char *what, int ret)
{
	printf("{\"error\": \"%s: %s (mbedTLS -0x%04x)\"}\n", cipher, what, (unsigned)-ret);
	exit(1);
}

static void make_nonce(const struct aead_case *c, const uint8_t iv[NONCE_LEN], uint64_t seq,
		       uint8_t out[NONCE_LEN])
{
	memcpy(out, iv, NONCE_LEN);
	for (int i = 0; i < 8; i++) {
		uint8_t b = (uint8_t)(seq >> (56 - 8 * i));
		if (c->xor_iv)
			out[4 + i] ^= b;
		else
			out[4 + i] = b;
	}
}

static void make_aad(uint64_t seq, uint8_t out[AAD_LEN])
{
	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)(seq >> (56 - 8 * i));
	out[8] = 23;				/* application_data */
	out[9] = 3;
	out[10] = 3;				/* TLS 1.2 */
	out[11] = (uint8_t)(RECORD >> 8);
	out[12] = (uint8_t)(RECORD & 0xff);
}

static void cipher_open(const struct aead_case *c, const uint8_t *key, mbedtls_operation_t op,
			mbedtls_cipher_context_t *ctx)
{
	const mbedtls_cipher_info_t *info = mbedtls_cipher_info_from_type(c->type);
	int ret;

	if (info == NULL)
		fail(c->name, "cipher not built into this mbedTLS", 0);
	mbedtls_cipher_init(ctx);
	ret = mbedtls_cipher_setup(ctx, info);
	if (ret == 0)
		ret = mbedtls_cipher_setkey(ctx, key, c->key_bits, op);
	if (ret != 0)
		fail(c->name, "cipher setup", ret);
}

/* Seal one record in place (plaintext in buf[0..RECORD), tag appended). */
static void seal(const struct aead_case *c, mbedtls_cipher_context_t *ctx,
		 const uint8_t iv[NONCE_LEN], uint64_t seq, uint8_t *buf)
{
	uint8_t nonce[NONCE_LEN], aad[AAD_LEN];
	size_t olen = 0;
	int ret;

	make_nonce(c, iv, seq, nonce);
	make_aad(seq, aad);
	ret = mbedtls_cipher_auth_encrypt_ext(ctx, nonce, NONCE_LEN, aad, AAD_LEN, buf, RECORD, buf,
					      RECORD + TAG_LEN, &olen, TAG_LEN);
	if (ret != 0 || olen != RECORD + TAG_LEN)
		fail(c->name, "encrypt", ret);
}

static void open_record(const struct aead_case *c, mbedtls_cipher_context_t *ctx,
			const uint8_t iv[NONCE_LEN], uint64_t seq, const uint8_t *in, uint8_t *out)
{
	uint8_t nonce[NONCE_LEN], aad[AAD_LEN];
	size_t olen = 0;
	int ret;

	make_nonce(c, iv, seq, nonce);
	make_aad(seq, aad);
	ret = mbedtls_cipher_auth_decrypt_ext(ctx, nonce, NONCE_LEN, aad, AAD_LEN, in,
					      RECORD + TAG_LEN, out, RECORD, &olen, TAG_LEN);
	if (ret != 0 || olen != RECORD)
		fail(c->name, "decrypt (authentication failed?)", ret);
}

static void run_case(const struct aead_case *c, double seconds)
{
	mbedtls_cipher_context_t enc, dec;
	uint8_t key[32], iv[NONCE_LEN];
	uint64_t seq, n;
	double t0, t, enc_rate, dec_rate;

	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(0x40 + i * 7);
	for (size_t i = 0; i < sizeof(iv); i++)
		iv[i] = (uint8_t)(0xa0 + i * 3);
	cipher_open(c, key, MBEDTLS_ENCRYPT, &enc);
	cipher_open(c, key, MBEDTLS_DECRYPT, &dec);

	/* The decrypt pool, sealed with sequence numbers 0..POOL-1; the first
	 * record is opened once and compared, so a broken setup cannot pass. */
	for (int i = 0; i < POOL; i++) {
		memcpy(pool[i], plain, RECORD);
		seal(c, &enc, iv, (uint64_t)i, pool[i]);
	}
	open_record(c, &dec, iv, 0, pool[0], work);
	if (memcmp(work, plain, RECORD) != 0)
		fail(c->name, "decrypted record differs", 0);

	/* Encrypt: the record is sealed in place again and again, as the
	 * record layer does with each new plaintext; its own nonce each time. */
	seq = POOL;
	n = 0;
	t0 = now_s();
	do {
		for (int i = 0; i < CHECK_EVERY; i++, n++)
			seal(c, &enc, iv, seq++, work);
		t = now_s() - t0;
	} while (t < seconds);
	enc_rate = (double)n * RECORD / t / 1e6;

	n = 0;
	t0 = now_s();
	do {
		for (int i = 0; i < CHECK_EVERY; i++, n++)
			open_record(c, &dec, iv, n % POOL, pool[n % POOL], work);
		t = now_s() - t0;
	} while (t < seconds);
	dec_rate = (double)n * RECORD / t / 1e6;

	mbedtls_cipher_free(&enc);
	mbedtls_cipher_free(&dec);
	printf("{\"cipher\": \"%s\", \"encrypt_MBps\": %.1f, \"decrypt_MBps\": %.1f, "
	       "\"record\": %d, \"mbedtls\": \"%s\", \"aesni\": %s}\n",
	       c->name, enc_rate, dec_rate, RECORD, MBEDTLS_VERSION_STRING,
	       mbedtls_aesni_has_support(MBEDTLS_AESNI_AES) ? "true" : "false");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	double seconds = 0.5;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
			char *end;
			seconds = strtod(argv[++i], &end);
			if (*end != '\0' || !(seconds > 0.0 && seconds <= 60.0)) {
				printf("{\"error\": \"--seconds: a number in (0, 60]\"}\n");
				return 1;
			}
		} else {
			fprintf(stderr, "usage: %s [--seconds S]   (default 0.5 per direction "
					"and cipher)\n", argv[0]);
			return strcmp(argv[i], "--help") == 0 ? 0 : 1;
		}
	}
	for (size_t i = 0; i < sizeof(plain); i++)
		plain[i] = (uint8_t)(i * 131 + 7);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i], seconds);
	return 0;
}
