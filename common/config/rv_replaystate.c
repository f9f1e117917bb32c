/* rv_replaystate.c - persisted replay floors (see rv_replaystate.h).
 * Owner: server-libs. */
#include "rv_replaystate.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rv_err.h"
#include "rv_file.h"
#include "rv_keys.h"

static const char rv_replaystate_header[] = "# rvpn replay state v1: KEY TAI64N-FLOOR\n";

static int rv_hex_val(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int rv_replaystate_parse_line(struct rv_buf *in, struct rv_replay_entry *e, int *is_entry)
{
	struct rv_replay_entry tmp;
	const uint8_t *p;
	size_t avail, len, i;

	if (in == NULL || e == NULL || is_entry == NULL)
		return RV_ERR_INVALID_ARG;
	avail = rv_buf_len(in);
	p = rv_buf_ptr(in);
	/* Find the newline within one line's length. */
	for (len = 0; len < avail && len <= RV_REPLAYSTATE_LINE_MAX && p[len] != '\n'; len++)
		;
	if (len > RV_REPLAYSTATE_LINE_MAX)
		return RV_ERR_MALFORMED;
	if (len == avail)
		return RV_ERR_NEED_MORE;
	if (len > 0 && p[0] == '#') {
		for (i = 0; i < len; i++)
			if (p[i] < 0x20 && p[i] != '\t')
				return RV_ERR_MALFORMED;
		*is_entry = 0;
		goto done;
	}
	if (len != RV_REPLAYSTATE_LINE_MAX || p[RV_KEY_B64_LEN] != ' ')
		return RV_ERR_MALFORMED;
	/* rv_key_from_base64 trims whitespace: the exact-length check above
	 * plus the separator position leave no room for any. */
	if (p[0] == ' ' || p[RV_KEY_B64_LEN - 1] == ' ' ||
	    rv_key_from_base64((const char *)p, RV_KEY_B64_LEN, tmp.pub) != RV_OK)
		return RV_ERR_MALFORMED;
	for (i = 0; i < RV_TAI64N_LEN; i++) {
		int hi = rv_hex_val(p[RV_KEY_B64_LEN + 1 + 2 * i]);
		int lo = rv_hex_val(p[RV_KEY_B64_LEN + 2 + 2 * i]);

		if (hi < 0 || lo < 0)
			return RV_ERR_MALFORMED;
		tmp.ts[i] = (uint8_t)(hi << 4 | lo);
	}
	*e = tmp;
	*is_entry = 1;
done:
	if (rv_buf_consume(in, len + 1) != RV_OK)
		return RV_ERR_INTERNAL;
	return (int)(len + 1);
}

static int rv_replaystate_errno(int e)
{
	return (e == EACCES || e == EPERM) ? RV_ERR_PERMISSION : RV_ERR_IO;
}

int rv_replaystate_read(const char *path, size_t max_entries, struct rv_replay_entry **out,
			size_t *n, char *err, size_t errlen)
{
	/* One line per entry, a few comment lines: anything bigger is not ours. */
	size_t cap_bytes = (max_entries + RV_REPLAYSTATE_SPARE_LINES) *
			   (RV_REPLAYSTATE_LINE_MAX + 1);
	struct rv_replay_entry *ents = NULL, e;
	struct rv_buf b;
	unsigned long lineno = 0;
	size_t cnt = 0, cap;
	uint8_t chunk[4096];
	ssize_t got;
	int fd = -1, ret, is_entry;

	if (path == NULL || out == NULL || n == NULL)
		return RV_ERR_INVALID_ARG;
	*out = NULL;
	*n = 0;
	rv_buf_init(&b, cap_bytes);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT) {
			ret = RV_OK; /* first start: nothing accepted yet */
			goto out;
		}
		rv_err_set(err, errlen, "replay state file %s: %s", path, strerror(errno));
		ret = rv_replaystate_errno(errno);
		goto out;
	}
	ret = rv_file_check_modes(fd, path, "replay state file", err, errlen);
	if (ret != RV_OK)
		goto out;
	for (;;) {
		got = read(fd, chunk, sizeof(chunk));
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			rv_err_set(err, errlen, "%s: read error: %s", path, strerror(errno));
			ret = RV_ERR_IO;
			goto out;
		}
		if (got == 0)
			break;
		ret = rv_buf_put(&b, chunk, (size_t)got);
		if (ret == RV_ERR_NO_SPACE) {
			rv_err_set(err, errlen, "%s: larger than %zu bytes (one line per key)",
				   path, cap_bytes);
			ret = RV_ERR_LIMIT;
			goto out;
		}
		if (ret != RV_OK) {
			rv_err_set(err, errlen, "%s: out of memory", path);
			ret = RV_ERR_NOMEM;
			goto out;
		}
	}
	/* Every entry line is exactly RV_REPLAYSTATE_LINE_MAX + 1 bytes. */
	cap = rv_buf_len(&b) / (RV_REPLAYSTATE_LINE_MAX + 1);
	if (cap > max_entries)
		cap = max_entries;
	ents = calloc(cap ? cap : 1, sizeof(*ents));
	if (ents == NULL) {
		rv_err_set(err, errlen, "%s: out of memory", path);
		ret = RV_ERR_NOMEM;
		goto out;
	}
	while (rv_buf_len(&b) > 0) {
		lineno++;
		ret = rv_replaystate_parse_line(&b, &e, &is_entry);
		if (ret == RV_ERR_NEED_MORE) {
			rv_err_set(err, errlen, "%s:%lu: truncated line (no newline)", path, lineno);
			ret = RV_ERR_CONFIG;
			goto out;
		}
		if (ret < 0) {
			rv_err_set(err, errlen,
				   "%s:%lu: corrupt line (want '# comment' or KEY TAI64N-HEX); "
				   "remove the file to start over", path, lineno);
			ret = RV_ERR_CONFIG;
			goto out;
		}
		if (!is_entry)
			continue;
		if (cnt == max_entries) {
			rv_err_set(err, errlen, "%s:%lu: more entries than authorized keys (%zu)",
				   path, lineno, max_entries);
			ret = RV_ERR_LIMIT;
			goto out;
		}
		if (cnt == cap) {
			ret = RV_ERR_INTERNAL; /* cannot happen: see cap */
			goto out;
		}
		ents[cnt++] = e;
	}
	ret = RV_OK;
	*out = ents;
	*n = cnt;
	ents = NULL;
out:
	if (fd >= 0)
		close(fd);
	rv_buf_cleanup(&b);
	free(ents);
	return ret;
}

int rv_replaystate_write(const char *path, const struct rv_replay_entry *e, size_t n,
			 char *err, size_t errlen)
{
	char line[RV_REPLAYSTATE_LINE_MAX + 2], b64[RV_KEY_B64_SIZE];
	struct rv_buf out;
	size_t i, j;
	int ret = RV_ERR_NOMEM;

	if (path == NULL || (e == NULL && n > 0) || n > SIZE_MAX / sizeof(line) - 1)
		return RV_ERR_INVALID_ARG;
	rv_buf_init(&out, sizeof(rv_replaystate_header) + n * sizeof(line));
	if (rv_buf_put(&out, rv_replaystate_header, sizeof(rv_replaystate_header) - 1) != RV_OK)
		goto out;
	for (i = 0; i < n; i++) {
		static const char hex[] = "0123456789abcdef";
		char *q = line;

		rv_key_to_base64(e[i].pub, b64);
		memcpy(q, b64, RV_KEY_B64_LEN);
		q += RV_KEY_B64_LEN;
		*q++ = ' ';
		for (j = 0; j < RV_TAI64N_LEN; j++) {
			*q++ = hex[e[i].ts[j] >> 4];
			*q++ = hex[e[i].ts[j] & 15];
		}
		*q++ = '\n';
		if (rv_buf_put(&out, line, (size_t)(q - line)) != RV_OK)
			goto out;
	}
	ret = rv_file_replace(path, NULL, rv_buf_ptr(&out), rv_buf_len(&out), err, errlen);
out:
	if (ret == RV_ERR_NOMEM)
		rv_err_set(err, errlen, "%s: out of memory", path);
	rv_buf_cleanup(&out);
	return ret;
}

void rv_tai64n_add_s(uint8_t ts[RV_TAI64N_LEN], uint32_t secs)
{
	uint64_t s = 0;
	int i;

	for (i = 0; i < 8; i++)
		s = s << 8 | ts[i];
	if (s > UINT64_MAX - secs) {
		memset(ts, 0xff, 8);
		return;
	}
	s += secs;
	for (i = 7; i >= 0; i--) {
		ts[i] = (uint8_t)(s & 0xff);
		s >>= 8;
	}
}
