/* rv_aead.h - the two AEADs rvpn uses, behind one interface:
 * ChaCha20-Poly1305-IETF and AES-256-GCM.  32-byte key, 12-byte nonce,
 * 16-byte tag appended to the ciphertext.  The bulk work is OpenSSL's
 * libcrypto (EVP): its AES-GCM and ChaCha20-Poly1305 run 2.2x and 3x as fast
 * as libsodium's on the machines we measured (AVX-512/VAES), and this is
 * where a tunnel spends its CPU.  Messages up to 1 KiB go through
 * libsodium's one-shot calls instead, which cost a third to a half of EVP's
 * set-up per key (rv_aead.c).  AES-GCM is offered only where libsodium
 * finds AES-NI.  On a failed open the unverified plaintext is wiped and out
 * is unchanged (length and contents).  The caller owns every buffer; the
 * input must not overlap out's free space.
 */
#ifndef RV_AEAD_H
#define RV_AEAD_H

#include <stddef.h>
#include <stdint.h>

#include "rv_buf.h"
#include "rv_wire.h"

enum { RV_AEAD_NONCE_LEN = 12 };

/* 1 if alg can be used on this machine. */
int rv_aead_available(enum rv_aead alg);
/* Appends ciphertext||tag (pt_len + RV_TAG_LEN bytes) to out. */
int rv_aead_seal(enum rv_aead alg, const uint8_t key[RV_KEY_LEN],
		 const uint8_t nonce[RV_AEAD_NONCE_LEN], const uint8_t *ad, size_t ad_len,
		 const uint8_t *pt, size_t pt_len, struct rv_buf *out);
/* Appends plaintext (ct_len - RV_TAG_LEN bytes) to out; RV_ERR_AUTH on a bad tag. */
int rv_aead_open(enum rv_aead alg, const uint8_t key[RV_KEY_LEN],
		 const uint8_t nonce[RV_AEAD_NONCE_LEN], const uint8_t *ad, size_t ad_len,
		 const uint8_t *ct, size_t ct_len, struct rv_buf *out);

#endif
