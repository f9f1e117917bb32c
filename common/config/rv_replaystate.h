/* rv_replaystate.h - the server's persisted replay floors: per client key,
 * a TAI64N value no accepted handshake timestamp exceeds.  Read at start
 * (so a restart does not reopen the replay window), rewritten atomically by
 * rv_authkeys when a floor moves.  Owner: server-libs.
 *
 * File format (STATE_DIR/replay-state), one line per key, '\n' ended:
 *     # comment (the writer puts one header line)
 *     <base64 public key, 44 chars> <TAI64N, 24 hex digits>
 * Nothing else: no blank lines, no trailing spaces.  A bad line is an error
 * naming "PATH:LINE:"; the file holds at most one line per authorized key
 * (the reader takes at most max_entries entries, more is an error).
 *
 * Why a floor and not the last timestamp: see PROTOCOL.md "Replay
 * protection across restarts" (reserve windows).
 */
#ifndef RV_REPLAYSTATE_H
#define RV_REPLAYSTATE_H

#include <stddef.h>
#include <stdint.h>

#include "rv_buf.h"
#include "rv_keys.h"
#include "rv_wire.h"

enum rv_replaystate_limits {
	RV_REPLAYSTATE_HEX_LEN = 2 * RV_TAI64N_LEN,
	/* key, space, hex; the longest line (a comment) may be this long too */
	RV_REPLAYSTATE_LINE_MAX = RV_KEY_B64_LEN + 1 + RV_REPLAYSTATE_HEX_LEN,
	/* A floor is the accepted timestamp plus this much (coalesces writes). */
	RV_REPLAY_RESERVE_S = 3,
	/* At most one state write per key per this interval (bounds fsyncs). */
	RV_REPLAY_WRITE_MIN_MS = 1000,
	/* The reader refuses a file longer than (max_entries + this) lines of
	 * RV_REPLAYSTATE_LINE_MAX + 1 bytes (RV_ERR_LIMIT), comments or not. */
	RV_REPLAYSTATE_SPARE_LINES = 8,
};

struct rv_replay_entry {
	uint8_t pub[RV_KEY_LEN];
	uint8_t ts[RV_TAI64N_LEN];
};

/* Parse the next line of in.  Returns the bytes consumed (> 0; *is_entry
 * 1 and *e set for an entry, 0 for a comment), RV_ERR_NEED_MORE when in
 * holds no complete line yet, or RV_ERR_MALFORMED.  in is advanced only on
 * success. */
int rv_replaystate_parse_line(struct rv_buf *in, struct rv_replay_entry *e, int *is_entry);

/* Read path.  A missing file is RV_OK with no entries.  *out (free()) gets
 * the entries, at most max_entries of them.  Errors (err = "PATH:LINE: ..."
 * or "PATH: ..."): RV_ERR_CONFIG (corrupt), RV_ERR_LIMIT (too many lines),
 * RV_ERR_PERMISSION (mode, see rv_file_check_modes), RV_ERR_IO, RV_ERR_NOMEM. */
int rv_replaystate_read(const char *path, size_t max_entries, struct rv_replay_entry **out,
			size_t *n, char *err, size_t errlen);

/* Replace path atomically: PATH.tmp (mode 0600), fsync, rename, fsync the
 * directory.  RV_ERR_IO with err set on any failure (path untouched). */
int rv_replaystate_write(const char *path, const struct rv_replay_entry *e, size_t n,
			 char *err, size_t errlen);

/* ts += secs (saturating at the largest label). */
void rv_tai64n_add_s(uint8_t ts[RV_TAI64N_LEN], uint32_t secs);

#endif
