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

/* StrictModes (as sshd): fd is the open file at path.  RV_ERR_PERMISSION
 * if it is writable by group or others, or if path's directory is writable
 * by group or others without the sticky bit (anyone could replace the
 * file); RV_ERR_INVALID_ARG if it is not a regular file; RV_ERR_IO if fstat
 * or stat fails.  err names the file, what it is (what: "authorized keys
 * file") and the fix ("chmod go-w ...").  Ownership is not checked. */
int rv_file_check_modes(int fd, const char *path, const char *what, char *err, size_t errlen);

/* Load a private key file.  Refuses (RV_ERR_PERMISSION) a file that is
 * group- or world-readable (any group/other bit), or whose directory fails
 * rv_file_check_modes; err (if not NULL) gets a message naming the file
 * and the problem, suitable for the user. */
int rv_key_load_private_file(const char *path, struct rv_keypair *kp,
			     char *err, size_t errlen);

#endif
