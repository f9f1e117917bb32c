/* rv_keys.h - X25519 key pairs and their text form.
 *
 * Text form: standard base64 with padding, 44 characters (as WireGuard).
 * Key files hold one base64 private key (surrounding whitespace allowed).
 * Callers own every rv_keypair they pass in; wipe it with rv_keypair_wipe().
 */
#ifndef RV_KEYS_H
#define RV_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "rv_wire.h"

enum rv_key_text {
	RV_KEY_B64_LEN = 44,
	RV_KEY_B64_SIZE = RV_KEY_B64_LEN + 1, /* with NUL */
};

struct rv_keypair {
	uint8_t priv[RV_KEY_LEN];
	uint8_t pub[RV_KEY_LEN];
};

int rv_keypair_generate(struct rv_keypair *kp);
/* Derives pub from priv (priv is clamped by X25519 itself). */
int rv_keypair_from_private(struct rv_keypair *kp, const uint8_t priv[RV_KEY_LEN]);
void rv_keypair_wipe(struct rv_keypair *kp);

/* out gets RV_KEY_B64_LEN chars plus NUL. */
void rv_key_to_base64(const uint8_t key[RV_KEY_LEN], char out[RV_KEY_B64_SIZE]);
/* Exactly one key; leading/trailing whitespace ignored; else RV_ERR_MALFORMED. */
int rv_key_from_base64(const char *text, size_t len, uint8_t key[RV_KEY_LEN]);

/* Load a private key file.  Refuses (RV_ERR_PERMISSION) a file that is
 * group- or world-readable; err (if not NULL) gets a message naming the file
 * and the problem, suitable for the user. */
int rv_key_load_private_file(const char *path, struct rv_keypair *kp,
			     char *err, size_t errlen);

#endif
