/* rv_authkeys_edit.h - add and remove clients in the server's
 * authorized_keys file (rvpn-server add-client / remove-client /
 * list-clients).  Owner: onboarding helper.
 *
 * The file format is rv_authkeys.h's; lines are classified the way the
 * server reads them (key, then the name: the rest of the line, trimmed; a
 * name starting with '#' is a comment).  Edits touch only the line they add
 * or remove: comments, blank lines, lines the server would skip and every
 * other byte stay as they were.
 *
 * File updates are atomic and serialized: the editor takes flock(LOCK_EX)
 * on the file (and retries if the name was replaced while it waited, so two
 * concurrent add-client runs both land), writes PATH.tmp with the old file's
 * mode and owner, fsyncs it, renames it over PATH and fsyncs the directory.
 * The server never sees a half-written file.  The caller signals the server
 * (SIGHUP) afterwards.
 */
#ifndef RV_AUTHKEYS_EDIT_H
#define RV_AUTHKEYS_EDIT_H

#include <stddef.h>
#include <stdint.h>

#include "rv_authkeys.h"
#include "rv_buf.h"
#include "rv_wire.h"

enum rv_authkeys_edit_limits {
	RV_AUTHKEYS_EDIT_FILE_MAX = 16 * 1024 * 1024, /* bytes read from the file */
	RV_AUTHKEYS_EDIT_TRIES = 16, /* lock attempts while the file is being replaced */
};

enum rv_authkeys_line_kind {
	RV_AKLINE_BLANK = 0,
	RV_AKLINE_COMMENT = 1,
	RV_AKLINE_KEY = 2,
	RV_AKLINE_BAD = 3, /* the server skips it (reload) or refuses it (start) */
};

struct rv_authkeys_line {
	enum rv_authkeys_line_kind kind;
	const uint8_t *text;     /* into the input; without the '\n' */
	size_t len;
	uint8_t pub[RV_KEY_LEN]; /* KEY */
	char name[RV_AUTHKEY_NAME_MAX + 1]; /* KEY: "" when unnamed */
};

/* Next line of in (a last line without '\n' counts).  Returns the bytes
 * consumed (> 0), 0 when in is empty, or RV_ERR_LIMIT for a line longer than
 * RV_AUTHKEYS_LINE_MAX (in unchanged).  l->text points into in. */
int rv_authkeys_edit_next(struct rv_buf *in, struct rv_authkeys_line *l);

/* In-memory edits: out gets the whole new file.  add refuses a NAME that is
 * not [A-Za-z0-9._@-]{1,64} (RV_ERR_INVALID_ARG) and a NAME or key already
 * present (RV_ERR_DENIED); remove deletes every key line named NAME
 * (*removed = how many; RV_ERR_NOT_FOUND when none).  err says why. */
int rv_authkeys_edit_add_text(const uint8_t *in, size_t len, const uint8_t pub[RV_KEY_LEN],
			      const char *name, struct rv_buf *out, char *err, size_t errlen);
int rv_authkeys_edit_remove_text(const uint8_t *in, size_t len, const char *name,
				 struct rv_buf *out, size_t *removed, char *err, size_t errlen);

/* The same on the file at path (which must exist), atomically (see above).
 * Errors: those of the text edits, RV_ERR_NOT_FOUND / RV_ERR_PERMISSION /
 * RV_ERR_IO (file), RV_ERR_LIMIT (file too big or too busy), RV_ERR_NOMEM. */
int rv_authkeys_edit_add(const char *path, const uint8_t pub[RV_KEY_LEN], const char *name,
			 char *err, size_t errlen);
int rv_authkeys_edit_remove(const char *path, const char *name, size_t *removed, char *err,
			    size_t errlen);

/* Read the whole file into out (an rv_buf the caller initialised with
 * rv_buf_init(out, RV_AUTHKEYS_EDIT_FILE_MAX) and cleans up). */
int rv_authkeys_edit_read(const char *path, struct rv_buf *out, char *err, size_t errlen);

#endif
