/* rv_err.h - the one error table of rvpn.
 *
 * Every function that can fail returns 0 (RV_OK) or one of these negative
 * codes.  Parsers use RV_ERR_NEED_MORE for "input truncated, call again with
 * more bytes"; every other negative value is final for that input.
 */
#ifndef RV_ERR_H
#define RV_ERR_H

enum rv_err {
	RV_OK = 0,
	RV_ERR_INTERNAL = -1,      /* a bug: invariant broken */
	RV_ERR_NOMEM = -2,         /* allocation failed */
	RV_ERR_INVALID_ARG = -3,   /* caller passed something unusable */
	RV_ERR_NEED_MORE = -4,     /* input truncated: parser wants more bytes */
	RV_ERR_NO_SPACE = -5,      /* a buffer's size cap would be exceeded */
	RV_ERR_MALFORMED = -6,     /* input violates the wire format */
	RV_ERR_UNSUPPORTED = -7,   /* valid but not supported (version, type) */
	RV_ERR_AUTH = -8,          /* AEAD tag or MAC did not verify */
	RV_ERR_REPLAY = -9,        /* message or timestamp seen before / too old */
	RV_ERR_ORDER = -10,        /* ratchet message out of order (gap, reorder) */
	RV_ERR_CRYPTO = -11,       /* primitive failed (e.g. low-order point) */
	RV_ERR_STATE = -12,        /* operation not valid in the current state */
	RV_ERR_IO = -13,           /* system call failed; see errno / log */
	RV_ERR_PERMISSION = -14,   /* file mode too open, or EACCES */
	RV_ERR_NOT_FOUND = -15,    /* file, key, name or entry absent */
	RV_ERR_CONFIG = -16,       /* bad configuration value or line */
	RV_ERR_LIMIT = -17,        /* a count limit (streams, sessions) reached */
	RV_ERR_TIMEOUT = -18,      /* deadline passed */
	RV_ERR_DENIED = -19,       /* refused by policy (ACL, unknown key) */
	RV_ERR_CLOSED = -20,       /* peer or object already closed */
	RV_ERR_MIN_ = -21          /* sentinel, keep last */
};

/* Static, never NULL; "unknown error" for codes outside the table. */
const char *rv_err_str(int err);

#include <stddef.h>

/* Format a message for the user into err[errlen] (the "err, errlen"
 * out-parameters of loaders and parsers); NULL or 0 means not wanted. */
void rv_err_set(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
