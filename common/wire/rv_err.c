#include "rv_err.h"

#include <stdarg.h>
#include <stdio.h>

static const char *const rv_err_table[] = {
	[0] = "success",
	[-RV_ERR_INTERNAL] = "internal error",
	[-RV_ERR_NOMEM] = "out of memory",
	[-RV_ERR_INVALID_ARG] = "invalid argument",
	[-RV_ERR_NEED_MORE] = "input truncated",
	[-RV_ERR_NO_SPACE] = "buffer size limit reached",
	[-RV_ERR_MALFORMED] = "malformed input",
	[-RV_ERR_UNSUPPORTED] = "unsupported",
	[-RV_ERR_AUTH] = "authentication failed",
	[-RV_ERR_REPLAY] = "replayed or too old",
	[-RV_ERR_ORDER] = "message out of order (gap or reorder)",
	[-RV_ERR_CRYPTO] = "cryptographic operation failed",
	[-RV_ERR_STATE] = "invalid in current state",
	[-RV_ERR_IO] = "I/O error",
	[-RV_ERR_PERMISSION] = "permission problem",
	[-RV_ERR_NOT_FOUND] = "not found",
	[-RV_ERR_CONFIG] = "configuration error",
	[-RV_ERR_LIMIT] = "limit reached",
	[-RV_ERR_TIMEOUT] = "timed out",
	[-RV_ERR_DENIED] = "denied",
	[-RV_ERR_CLOSED] = "closed",
};

const char *rv_err_str(int err)
{
	if (err > 0 || err <= RV_ERR_MIN_)
		return "unknown error";
	return rv_err_table[-err];
}

void rv_err_set(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}
