/* fuzz_ratchet_decrypt.c - libFuzzer target for the Double Ratchet decrypt
 * path.  Owner: ratchet helper.
 *
 * Random bytes alone never pass an AEAD tag, so the input is a script that
 * drives a real Alice/Bob pair (fixed keys, libsodium's RNG replaced by a
 * deterministic one reset per input) and lets the fuzzer decide what the
 * network does:
 *
 *   byte 0: config  bit0 AEAD (AES-GCM if available), bits1-2 deferral
 *           interval {0, 10, 100, 1000} ms, bits3-7 unused
 *   then ops (op byte % 8, operands follow):
 *     0 len       Alice encrypts len bytes -> A->B queue
 *     1 len       Bob encrypts (only once he may)
 *     2 idx       A->B queue, i = (idx & 0x7f) % len: bit7 clear: deliver
 *                 queue[i] to Bob (the next in send order must open to the
 *                 exact bytes; any other must fail; a non-head one stays
 *                 queued);
 *                 bit7 set: drop queue[i] (every later message on this
 *                 link must then fail: the receiver never skips)
 *     3 idx       the same for the B->A queue and Alice
 *     4 dir idx pos xor   tampered copy of a queued message: must fail
 *     5 idx       replay a delivered message: must fail
 *     6 ms        advance the clock by ms * 8
 *     7 dir len bytes     raw bytes as a message (anything but a crash)
 *
 * Invariants (violation = abort): every failed decrypt leaves the state
 * (rv_ratchet_equal) and the output buffer unchanged; the receiver accepts
 * exactly the sender's next message and nothing else (strict order: a
 * reorder, a message after a drop, a replay or a changed byte all fail,
 * with the codes the order rule allows); key changes alternate (a party
 * never makes a key pair without a new remote key).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "rv_aead.h"
#include "rv_buf.h"
#include "rv_err.h"
#include "rv_keys.h"
#include "rv_ratchet.h"
#include "rv_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { QMAX = 32, DONE_MAX = 32, PT_MAX = 300, MSG_CAP = PT_MAX + RV_TRANSPORT_OVERHEAD,
       OPS_MAX = 400 };

/* ---- deterministic RNG for libsodium (reset per input) -------------- */

static uint64_t rng_state;

static uint64_t rng_next(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static const char *rng_name(void)
{
	return "fuzz-deterministic";
}

static uint32_t rng_random(void)
{
	return (uint32_t)rng_next();
}

static void rng_buf(void *const buf, const size_t size)
{
	uint8_t *p = buf;
	size_t i;

	for (i = 0; i < size; i++)
		p[i] = (uint8_t)rng_next();
}

static randombytes_implementation rng_impl = {
	rng_name, rng_random, NULL, NULL, rng_buf, NULL,
};

/* ---- the simulated pair ---------------------------------------------- */

struct qmsg {
	uint8_t b[MSG_CAP];
	size_t len;
	uint8_t pt[PT_MAX];
	size_t pt_len;
	uint32_t seq; /* position in its direction's send order */
};

struct queue {
	struct qmsg m[QMAX];
	int len;
	uint32_t sent; /* messages sealed for this direction */
	uint32_t next; /* the only seq the receiver may accept: it never
			* skips, so a drop stops it here for good */
};

struct fz {
	struct rv_ratchet *a, *b;
	struct queue ab, ba;
	struct qmsg done[DONE_MAX];
	int done_to_alice[DONE_MAX];
	int n_done;
	uint64_t now;
	int raw_ok; /* a raw input opened: strict delivery checks are off */
	const uint8_t *p, *end;
};

static int take(struct fz *z, uint8_t *v)
{
	if (z->p >= z->end)
		return 0;
	*v = *z->p++;
	return 1;
}

static void check_alternation(const struct fz *z)
{
	struct rv_ratchet_stats sa, sb;

	rv_ratchet_get_stats(z->a, &sa);
	rv_ratchet_get_stats(z->b, &sb);
	if (sa.dh_send_steps > sa.dh_recv_steps + 1 || sb.dh_send_steps > sb.dh_recv_steps)
		abort();
	if (!z->raw_ok &&
	    (sa.dh_recv_steps > sb.dh_send_steps || sb.dh_recv_steps > sa.dh_send_steps))
		abort();
}

/* Decrypt; on failure state and output must be unchanged.  Returns the error. */
static int open_checked(struct rv_ratchet *r, const uint8_t *msg, size_t len,
			struct rv_buf *out)
{
	struct rv_ratchet *before = NULL;
	size_t out_len = rv_buf_len(out);
	int ret;

	if (rv_ratchet_clone(r, &before) != RV_OK)
		abort();
	ret = rv_ratchet_decrypt(r, msg, len, out);
	if (ret != RV_OK && (!rv_ratchet_equal(r, before) || rv_buf_len(out) != out_len))
		abort();
	rv_ratchet_free(before);
	return ret;
}

static void op_encrypt(struct fz *z, int alice)
{
	struct rv_ratchet *r = alice ? z->a : z->b;
	struct queue *q = alice ? &z->ab : &z->ba;
	struct qmsg *m;
	struct rv_buf out;
	uint8_t len8;
	size_t i;
	int ret;

	if (!take(z, &len8) || q->len >= QMAX)
		return;
	m = &q->m[q->len];
	m->pt_len = (size_t)len8 * PT_MAX / 256;
	for (i = 0; i < m->pt_len; i++)
		m->pt[i] = (uint8_t)(i * 31 + len8 + (size_t)q->len);
	rv_buf_init(&out, MSG_CAP);
	ret = rv_ratchet_encrypt(r, z->now, m->pt, m->pt_len, &out);
	if (ret == RV_OK) {
		if (rv_buf_len(&out) != m->pt_len + RV_TRANSPORT_OVERHEAD)
			abort();
		memcpy(m->b, rv_buf_ptr(&out), rv_buf_len(&out));
		m->len = rv_buf_len(&out);
		m->seq = q->sent++;
		q->len++;
	} else if (ret != RV_ERR_STATE || rv_ratchet_can_send(r)) {
		abort();
	}
	rv_buf_cleanup(&out);
	check_alternation(z);
}

/* A genuine message refused by the order rule: ORDER on the header, or
 * AUTH when a later chain's pn happens to equal Nr and the DH runs. */
static void expect_order_refusal(const struct fz *z, int ret)
{
	if (!z->raw_ok && ret != RV_ERR_ORDER && ret != RV_ERR_AUTH)
		abort();
}

static void op_deliver(struct fz *z, int to_alice)
{
	struct queue *q = to_alice ? &z->ba : &z->ab;
	struct rv_ratchet *r = to_alice ? z->a : z->b;
	struct qmsg m;
	struct rv_buf out;
	uint8_t idx;
	int ret, i;

	if (!take(z, &idx) || q->len == 0)
		return;
	i = (idx & 0x7f) % q->len;
	m = q->m[i];
	if ((idx & 0x80) != 0 || i == 0) {
		memmove(&q->m[i], &q->m[i + 1], (size_t)(q->len - i - 1) * sizeof(q->m[0]));
		q->len--;
	}
	if ((idx & 0x80) != 0)
		return; /* dropped on the way */
	rv_buf_init(&out, RV_PLAINTEXT_MAX);
	ret = open_checked(r, m.b, m.len, &out);
	if (m.seq == q->next) {
		if (ret != RV_OK && !z->raw_ok)
			abort();
		if (ret == RV_OK)
			q->next++;
	} else if (ret == RV_OK) {
		if (!z->raw_ok)
			abort(); /* accepted out of order */
	} else {
		expect_order_refusal(z, ret);
	}
	if (ret == RV_OK) {
		if (rv_buf_len(&out) != m.pt_len ||
		    (m.pt_len > 0 && memcmp(rv_buf_ptr(&out), m.pt, m.pt_len) != 0))
			abort();
		i = z->n_done < DONE_MAX ? z->n_done++ : (int)(z->now % DONE_MAX);
		z->done[i] = m;
		z->done_to_alice[i] = to_alice;
	}
	rv_buf_cleanup(&out);
	check_alternation(z);
}

static void op_tamper(struct fz *z)
{
	uint8_t dir, idx, pos, x;
	struct queue *q;
	struct qmsg m;
	struct rv_buf out;
	static const uint8_t mark[3] = { 7, 7, 7 };

	if (!take(z, &dir) || !take(z, &idx) || !take(z, &pos) || !take(z, &x))
		return;
	q = (dir & 1) ? &z->ba : &z->ab;
	if (q->len == 0 || x == 0)
		return;
	m = q->m[idx % q->len];
	m.b[pos % m.len] ^= x;
	rv_buf_init(&out, RV_PLAINTEXT_MAX);
	rv_buf_put(&out, mark, sizeof(mark));
	if (open_checked((dir & 1) ? z->a : z->b, m.b, m.len, &out) == RV_OK)
		abort(); /* a changed byte must never authenticate */
	if (memcmp(rv_buf_ptr(&out), mark, sizeof(mark)) != 0)
		abort();
	rv_buf_cleanup(&out);
}

static void op_replay(struct fz *z)
{
	uint8_t idx;
	struct rv_buf out;
	int i;

	if (!take(z, &idx) || z->n_done == 0)
		return;
	i = idx % z->n_done;
	rv_buf_init(&out, RV_PLAINTEXT_MAX);
	if (open_checked(z->done_to_alice[i] ? z->a : z->b, z->done[i].b, z->done[i].len,
			 &out) == RV_OK)
		abort();
	rv_buf_cleanup(&out);
}

static void op_raw(struct fz *z)
{
	uint8_t dir, len;
	struct rv_buf out;
	size_t n;
	uint8_t *copy;

	if (!take(z, &dir) || !take(z, &len))
		return;
	n = (size_t)(z->end - z->p) < len ? (size_t)(z->end - z->p) : len;
	/* Exact-size heap copy: ASan sees any read past the message. */
	copy = malloc(n > 0 ? n : 1);
	if (copy == NULL)
		return;
	memcpy(copy, z->p, n);
	z->p += n;
	rv_buf_init(&out, RV_PLAINTEXT_MAX);
	if (open_checked((dir & 1) ? z->a : z->b, copy, n, &out) == RV_OK)
		z->raw_ok = 1;
	rv_buf_cleanup(&out);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int inited;
	static const uint32_t intervals[4] = { 0, 10, 100, 1000 };
	struct fz *z;
	struct rv_ratchet_config cfg;
	struct rv_keypair bob;
	uint8_t sk[RV_KEY_LEN], ad[RV_HASH_LEN], bob_priv[RV_KEY_LEN], c, op;
	int ops;

	if (!inited) {
		/* Must precede sodium_init(). */
		randombytes_set_implementation(&rng_impl);
		if (sodium_init() < 0)
			abort();
		inited = 1;
	}
	rng_state = 0x0123456789abcdefULL;
	if (size < 1)
		return 0;
	c = data[0];
	memset(&cfg, 0, sizeof(cfg));
	cfg.aead = (c & 1) && rv_aead_available(RV_AEAD_AES256GCM) ? RV_AEAD_AES256GCM
								   : RV_AEAD_CHACHA20POLY1305;
	cfg.min_interval_ms = intervals[(c >> 1) & 3];
	memset(sk, 0x5a, sizeof(sk));
	memset(ad, 0xa5, sizeof(ad));
	memset(bob_priv, 0x42, sizeof(bob_priv));

	z = calloc(1, sizeof(*z));
	if (z == NULL)
		return 0;
	if (rv_keypair_from_private(&bob, bob_priv) != RV_OK ||
	    rv_ratchet_init_alice(&z->a, &cfg, sk, bob.pub, ad) != RV_OK ||
	    rv_ratchet_init_bob(&z->b, &cfg, sk, &bob, ad) != RV_OK)
		abort();
	rv_keypair_wipe(&bob);
	z->p = data + 1;
	z->end = data + size;
	for (ops = 0; ops < OPS_MAX && take(z, &op); ops++) {
		switch (op % 8) {
		case 0: op_encrypt(z, 1); break;
		case 1: op_encrypt(z, 0); break;
		case 2: op_deliver(z, 0); break;
		case 3: op_deliver(z, 1); break;
		case 4: op_tamper(z); break;
		case 5: op_replay(z); break;
		case 6:
			if (take(z, &op))
				z->now += (uint64_t)op * 8;
			break;
		default: op_raw(z); break;
		}
	}
	rv_ratchet_free(z->a);
	rv_ratchet_free(z->b);
	free(z);
	return 0;
}
