/* rv_authkeys.h - the server's authorized client keys, with per-key replay
 * state.  Owner: server-libs.
 *
 * File format (one entry per line, like ssh's authorized_keys):
 *     # comment
 *     [options] <base64 public key, 44 chars> [name...]
 * options (before the key, comma-separated, no blanks outside quotes):
 *     permit-listen="SPEC"  where this key may ask the server to listen
 *                           (rvpn-client -R); SPEC in rv_permitlisten.h.
 *                           Without it the key may not listen at all.
 * The name is the rest of the line, trimmed (at most RV_AUTHKEY_NAME_MAX
 * bytes, printable); a name starting with '#' is a comment.  Blank lines
 * and lines starting with '#' are skipped.
 *
 * rv_authkeys_load() (start-up) is strict: a bad line, a duplicate key or
 * an over-long line is an error naming "FILE:LINE: ..." and nothing is
 * loaded (the server does not start: fail closed while the admin watches).
 * rv_authkeys_reload() (SIGHUP) skips such a line with a warning naming the
 * file and line and applies the rest, so that removing a key always takes
 * effect; only a file that cannot be used at all (missing, unreadable,
 * group/other-writable, too many keys) keeps the old set in force.  Both
 * refuse a file that is group/other-writable or whose directory is (see
 * rv_file_check_modes).  An empty file is valid (nobody may connect).
 *
 * Replay protection: each key remembers the newest TAI64N timestamp it was
 * accepted with (12 bytes, compared big-endian as WireGuard does).  A
 * handshake must carry a strictly greater one.  Keys still present after a
 * reload keep their timestamps (a reload must not reopen the replay
 * window); removed keys are forgotten.  With a state file
 * (rv_authkeys_set_state_file) the per-key floor survives restarts: before
 * a timestamp above the persisted floor is accepted, floor = timestamp +
 * RV_REPLAY_RESERVE_S is written (atomically, fsync'd), at most once per
 * RV_REPLAY_WRITE_MIN_MS per key (see rv_replaystate.h, PROTOCOL.md).
 *
 * Lookups compare with sodium_memcmp over every entry (linear, constant
 * time per entry); fine for the hundreds of keys one server has.
 * Not thread-safe: one event loop owns the object.
 */
#ifndef RV_AUTHKEYS_H
#define RV_AUTHKEYS_H

#include <stddef.h>
#include <stdint.h>

#include "rv_permitlisten.h"
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

/* What a reload changed, for the log.  text lists the keys added and
 * removed as "+name (AbCdEfGh) -name (IjKlMnOp)" (name "" for unnamed keys;
 * the 8 characters are the start of the base64 key), cut with "..." when
 * longer than the buffer. */
struct rv_authkeys_change {
	size_t added, removed, skipped; /* skipped: bad lines */
	char text[512];
};

/* Re-read the same path (SIGHUP); see above for bad lines.  chg (may be
 * NULL) gets the difference.  Whole-file errors (the old set stays):
 * RV_ERR_NOT_FOUND / RV_ERR_PERMISSION / RV_ERR_IO / RV_ERR_INVALID_ARG,
 * RV_ERR_LIMIT, RV_ERR_NOMEM. */
int rv_authkeys_reload(struct rv_authkeys *ak, struct rv_authkeys_change *chg, char *err,
		       size_t errlen);

/* Persist replay floors in path (STATE_DIR/replay-state): reads it now
 * (floors of keys not authorized are dropped) and rewrites it whenever a
 * floor moves.  Errors from rv_replaystate_read, with err set. */
int rv_authkeys_set_state_file(struct rv_authkeys *ak, const char *path, char *err,
			       size_t errlen);

size_t rv_authkeys_count(const struct rv_authkeys *ak);
const char *rv_authkeys_path(const struct rv_authkeys *ak);

/* Is pub authorized?  RV_OK or RV_ERR_DENIED.  name (if not NULL) gets the
 * key's name ("" if none); valid until the next reload or free. */
int rv_authkeys_lookup(const struct rv_authkeys *ak, const uint8_t pub[RV_KEY_LEN],
		       const char **name);

/* The key's permit-listen entries copied to *out (n == 0: none, listening
 * not permitted).  RV_ERR_DENIED if pub is not authorized. */
int rv_authkeys_permit_listen(const struct rv_authkeys *ak, const uint8_t pub[RV_KEY_LEN],
			      struct rv_permit_listen *out);

/* The handshake's authorization step, after Noise message 1 decrypted (so
 * pub and tai64n are authentic): RV_ERR_DENIED if pub is not authorized,
 * RV_ERR_REPLAY if tai64n is not newer than the last accepted one for pub
 * (or the persisted floor); with a state file, RV_ERR_LIMIT if the floor
 * must move but moved less than RV_REPLAY_WRITE_MIN_MS ago, RV_ERR_IO if
 * it could not be written (logged).  Otherwise records tai64n, RV_OK. */
int rv_authkeys_accept(struct rv_authkeys *ak, const uint8_t pub[RV_KEY_LEN],
		       const uint8_t tai64n[RV_TAI64N_LEN], const char **name);

#endif
