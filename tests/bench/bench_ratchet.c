/* bench_ratchet.c - Double Ratchet throughput: 16 KiB plaintexts sealed by
 * one party and opened by the other (encrypt + decrypt, one core), for
 * both AEADs, one-way and strictly alternating traffic, with the sending
 * DH half deferred (1000 ms, real monotonic clock) and not deferred (0).
 * Alternating traffic without deferral is the worst case: one X25519 key
 * pair and two DH per message.  Prints MB/s (10^6 bytes of plaintext per
 * second) and the key pairs made.  Then the cost of refusing a forged
 * message (strict order: a gap is refused on the header; a forged new
 * ratchet key costs one X25519 before the tag fails).  Owner: ratchet
 * helper.
 *
 * Usage: bench_ratchet [MiB per case, default 256]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "rv_aead.h"
#include "rv_buf.h"
#include "rv_err.h"
#include "rv_keys.h"
#include "rv_ratchet.h"
#include "rv_wire.h"

enum { MSG_PT = 16384 };

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int run_case(enum rv_aead aead, uint32_t interval, int alternate, size_t mib)
{
	struct rv_ratchet_config cfg;
	struct rv_ratchet *a = NULL, *b = NULL, *tx, *rx;
	struct rv_keypair bob;
	struct rv_ratchet_stats sa, sb;
	uint8_t sk[RV_KEY_LEN], ad[RV_HASH_LEN];
	uint8_t *pt = malloc(MSG_PT);
	struct rv_buf msg, out;
	size_t i, n = mib * 1024 * 1024 / MSG_PT;
	uint64_t t0, t1, enc_ns = 0, dec_ns = 0;
	int ret = -1;

	rv_buf_init(&msg, RV_MSG_MAX);
	rv_buf_init(&out, RV_PLAINTEXT_MAX);
	if (pt == NULL)
		goto out;
	randombytes_buf(pt, MSG_PT);
	randombytes_buf(sk, sizeof(sk));
	randombytes_buf(ad, sizeof(ad));
	memset(&cfg, 0, sizeof(cfg));
	cfg.aead = aead;
	cfg.min_interval_ms = interval;
	if (rv_keypair_generate(&bob) != RV_OK ||
	    rv_ratchet_init_alice(&a, &cfg, sk, bob.pub, ad) != RV_OK ||
	    rv_ratchet_init_bob(&b, &cfg, sk, &bob, ad) != RV_OK)
		goto out;
	for (i = 0; i < n; i++) {
		/* Bob speaks only once he has heard Alice. */
		int from_a = !alternate || i % 2 == 0;

		tx = from_a ? a : b;
		rx = from_a ? b : a;
		rv_buf_reset(&msg);
		rv_buf_reset(&out);
		t0 = now_ns();
		if (rv_ratchet_encrypt(tx, t0 / 1000000, pt, MSG_PT, &msg) != RV_OK)
			goto out;
		t1 = now_ns();
		if (rv_ratchet_decrypt(rx, rv_buf_ptr(&msg), rv_buf_len(&msg), &out) != RV_OK ||
		    rv_buf_len(&out) != MSG_PT)
			goto out;
		enc_ns += t1 - t0;
		dec_ns += now_ns() - t1;
	}
	rv_ratchet_get_stats(a, &sa);
	rv_ratchet_get_stats(b, &sb);
	printf("%-18s %-11s %-9u %10.1f %10.1f %10.1f %8llu\n",
	       aead == RV_AEAD_AES256GCM ? "AES-256-GCM" : "ChaCha20-Poly1305",
	       alternate ? "alternate" : "one-way", interval,
	       (double)n * MSG_PT * 1e3 / (double)(enc_ns + dec_ns),
	       (double)n * MSG_PT * 1e3 / (double)enc_ns, (double)n * MSG_PT * 1e3 / (double)dec_ns,
	       (unsigned long long)(sa.dh_send_steps + sb.dh_send_steps));
	ret = 0;
out:
	if (ret != 0)
		fprintf(stderr, "bench_ratchet: case failed\n");
	rv_ratchet_free(a);
	rv_ratchet_free(b);
	rv_keypair_wipe(&bob);
	rv_buf_cleanup(&msg);
	rv_buf_cleanup(&out);
	free(pt);
	return ret;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Microseconds per refused forgery of each kind, on a running pair. */
static int run_forgeries(void)
{
	enum { N = 2000, PT = 1024 };
	struct rv_ratchet_config cfg;
	struct rv_ratchet *a = NULL, *b = NULL;
	struct rv_keypair bob;
	uint8_t sk[RV_KEY_LEN], ad[RV_HASH_LEN], pt[PT], f[PT + RV_TRANSPORT_OVERHEAD];
	uint8_t *hdr = f + RV_OUTER_HDR_LEN;
	struct rv_buf msg, out;
	static const char *const names[3] = { "gap (n = Nr + 1000)", "bad tag, current chain",
					      "forged new ratchet key" };
	uint64_t t0;
	int k, i, r, ret = -1;

	rv_buf_init(&msg, RV_MSG_MAX);
	rv_buf_init(&out, RV_PLAINTEXT_MAX);
	randombytes_buf(sk, sizeof(sk));
	randombytes_buf(ad, sizeof(ad));
	memset(pt, 0x33, sizeof(pt));
	memset(&cfg, 0, sizeof(cfg));
	cfg.aead = RV_AEAD_CHACHA20POLY1305;
	if (rv_keypair_generate(&bob) != RV_OK ||
	    rv_ratchet_init_alice(&a, &cfg, sk, bob.pub, ad) != RV_OK ||
	    rv_ratchet_init_bob(&b, &cfg, sk, &bob, ad) != RV_OK ||
	    rv_ratchet_encrypt(a, 0, pt, PT, &msg) != RV_OK ||
	    rv_ratchet_decrypt(b, rv_buf_ptr(&msg), rv_buf_len(&msg), &out) != RV_OK)
		goto out;
	rv_buf_reset(&msg);
	if (rv_ratchet_encrypt(a, 0, pt, PT, &msg) != RV_OK || rv_buf_len(&msg) != sizeof(f))
		goto out;
	printf("\nrefusing a forged %d-byte message (ChaCha20-Poly1305):\n", PT);
	for (k = 0; k < 3; k++) {
		int expect = k == 0 ? RV_ERR_ORDER : RV_ERR_AUTH;

		memcpy(f, rv_buf_ptr(&msg), sizeof(f));
		if (k == 0) {
			put_be32(hdr + RV_KEY_LEN + 4, 1001);
		} else if (k == 1) {
			f[sizeof(f) - 1] ^= 1;
		} else { /* new key, pn = Nr = 1, n = 0: passes the order rule */
			hdr[5] ^= 1;
			put_be32(hdr + RV_KEY_LEN, 1);
			put_be32(hdr + RV_KEY_LEN + 4, 0);
		}
		t0 = now_ns();
		for (i = 0; i < N; i++) {
			rv_buf_reset(&out);
			r = rv_ratchet_decrypt(b, f, sizeof(f), &out);
			if (r != expect && !(k == 2 && r == RV_ERR_CRYPTO))
				goto out;
		}
		printf("  %-26s %8.2f us  (%s)\n", names[k], (double)(now_ns() - t0) / N / 1e3,
		       rv_err_str(expect));
	}
	ret = 0;
out:
	if (ret != 0)
		fprintf(stderr, "bench_ratchet: forgery case failed\n");
	rv_ratchet_free(a);
	rv_ratchet_free(b);
	rv_keypair_wipe(&bob);
	rv_buf_cleanup(&msg);
	rv_buf_cleanup(&out);
	return ret;
}

int main(int argc, char **argv)
{
	static const enum rv_aead aeads[] = { RV_AEAD_CHACHA20POLY1305, RV_AEAD_AES256GCM };
	static const uint32_t intervals[] = { 1000, 0 };
	size_t mib = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 256;
	unsigned i, j, alt;
	int rc = 0;

	if (sodium_init() < 0 || mib == 0)
		return 1;
	printf("Double Ratchet, %d-byte plaintexts, %zu MiB per case, one core\n", MSG_PT, mib);
	printf("%-18s %-11s %-9s %10s %10s %10s %8s\n", "aead", "traffic", "defer_ms",
	       "enc+dec", "enc MB/s", "dec MB/s", "keypairs");
	for (i = 0; i < 2; i++) {
		if (!rv_aead_available(aeads[i])) {
			printf("AES-256-GCM: not available on this CPU, skipped\n");
			continue;
		}
		for (alt = 0; alt < 2; alt++)
			for (j = 0; j < 2; j++)
				if (run_case(aeads[i], intervals[j], (int)alt, mib) != 0)
					rc = 1;
	}
	if (run_forgeries() != 0)
		rc = 1;
	return rc;
}
