/* rv_authkeys.h - the server's authorized client keys, with per-key replay
 * state.  Owner: server-libs.
 *
 * File format (one entry per line, like ssh's authorized_keys):
 *     # comment
 *     <base64 public key, 44 chars> [name...]
 * The name is the rest of the line, trimmed (at most RV_AUTHKEY_NAME_MAX
 * bytes, printable); a name starting with '#' is a comment.  Blank lines
 * and lines starting with '#' are skipped.  A bad line, a duplicate key,
 * an over-long line or an unreadable file is an error whose message names
 * the file and line ("FILE:LINE: ...").  An empty file is valid (nobody
 * may connect) and logged as a warning by the caller if it wishes.
 *
 * Replay protection: each key remembers the newest TAI64N timestamp it was
 * accepted with (12 bytes, compared big-endian as WireGuard does).  A
 * handshake must carry a strictly greater one.  rv_authkeys_reload()
 * re-reads the file atomically: on any error the old set stays in force;
 * on success, keys still present keep their timestamps (a reload must not
 * reopen the replay window), removed keys are forgotten.
 *
 * Lookups compare with sodium_memcmp over every entry (linear, constant
 * time per entry); fine for the hundreds of keys one server has.
 * Not thread-safe: one event loop owns the object.
 */
#ifndef RV_AUTHKEYS_H
#define RV_AUTHKEYS_H

#include <stddef.h>
#include <stdint.h>

#include "rv_wire.h"

enum rv_authkeys_limits {
	RV_AUTHKEY_NAME_MAX = 64,
	RV_AUTHKEYS_LINE_MAX = 1024,
	RV_AUTHKEYS_MAX = 100000,
};

struct rv_authkeys;

/* Load path.  err gets "PATH:LINE: what is wrong" on failure.
 * Errors: RV_ERR_NOT_FOUND / RV_ERR_PERMISSION / RV_ERR_IO (open/read),
 * RV_ERR_CONFIG (bad content), RV_ERR_LIMIT, RV_ERR_NOMEM. */
int rv_authkeys_load(const char *path, struct rv_authkeys **out, char *err, size_t errlen);
void rv_authkeys_free(struct rv_authkeys *ak); /* NULL safe */

/* Re-read the same path (SIGHUP).  Atomic; see above.  Same errors as load. */
int rv_authkeys_reload(struct rv_authkeys *ak, char *err, size_t errlen);

size_t rv_authkeys_count(const struct rv_authkeys *ak);
const char *rv_authkeys_path(const struct rv_authkeys *ak);

/* Is pub authorized?  RV_OK or RV_ERR_DENIED.  name (if not NULL) gets the
 * key's name ("" if none); valid until the next reload or free. */
int rv_authkeys_lookup(const struct rv_authkeys *ak, const uint8_t pub[RV_KEY_LEN],
		       const char **name);

/* The handshake's authorization step, after Noise message 1 decrypted (so
 * pub and tai64n are authentic): RV_ERR_DENIED if pub is not authorized,
 * RV_ERR_REPLAY if tai64n is not newer than the last accepted one for pub;
 * otherwise records tai64n and returns RV_OK. */
int rv_authkeys_accept(struct rv_authkeys *ak, const uint8_t pub[RV_KEY_LEN],
		       const uint8_t tai64n[RV_TAI64N_LEN], const char **name);

#endif
