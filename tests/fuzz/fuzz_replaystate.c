/* fuzz_replaystate.c - libFuzzer target for the replay state file parser
 * (rv_replaystate_parse_line, rv_replaystate_read).  Owner: server-libs.
 *
 * The input is parsed line by line from an rv_buf view and, written to a
 * memfd, read as a file through /proc/self/fd/N.  Checks: only documented
 * results; a failed parse leaves the buffer unchanged; every success
 * consumes exactly one '\n'-ended line; NEED_MORE only without a newline
 * in reach; the file reader accepts exactly when the line parser accepts
 * every line and the file fits its size cap, with the same entries, and
 * names the file on error; every entry re-formatted parses back to itself.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fuzz_memfile.h"
#include "rv_buf.h"
#include "rv_err.h"
#include "rv_keys.h"
#include "rv_replaystate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { FZ_MAX_ENTRIES = 64 };

static int fz_init(void)
{
	if (fz_fd >= 0)
		return 0;
	if (sodium_init() < 0)
		return -1;
	return fz_memfile_open("fuzz_replaystate");
}

static void fz_round_trip(const struct rv_replay_entry *e)
{
	char line[RV_REPLAYSTATE_LINE_MAX + 1], b64[RV_KEY_B64_SIZE];
	struct rv_replay_entry back;
	struct rv_buf b;
	size_t i, n;
	int is_entry = -1;

	rv_key_to_base64(e->pub, b64);
	n = (size_t)snprintf(line, sizeof(line), "%s ", b64);
	for (i = 0; i < RV_TAI64N_LEN; i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, "%02x", e->ts[i]);
	fz_check(n == RV_REPLAYSTATE_LINE_MAX);
	line[n++] = '\n';
	rv_buf_init_view(&b, line, n);
	fz_check(rv_replaystate_parse_line(&b, &back, &is_entry) == (int)n);
	fz_check(is_entry == 1 && memcmp(&back, e, sizeof(back)) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rv_replay_entry mine[FZ_MAX_ENTRIES], e, *got = NULL;
	size_t n_mine = 0, n_got = 0, before;
	int all_ok = 1, too_many = 0, r, is_entry;
	char err[512];
	struct rv_buf b;

	fz_check(fz_init() == 0);
	rv_buf_init_view(&b, data, size);
	while (rv_buf_len(&b) > 0) {
		const uint8_t *p = rv_buf_ptr(&b);

		before = rv_buf_len(&b);
		r = rv_replaystate_parse_line(&b, &e, &is_entry);
		if (r < 0) {
			fz_check(r == RV_ERR_NEED_MORE || r == RV_ERR_MALFORMED);
			fz_check(rv_buf_len(&b) == before && rv_buf_ptr(&b) == p);
			if (r == RV_ERR_NEED_MORE)
				fz_check(memchr(p, '\n', before) == NULL &&
					 before <= RV_REPLAYSTATE_LINE_MAX);
			all_ok = 0;
			break;
		}
		fz_check(r > 0 && (size_t)r <= before && p[r - 1] == '\n');
		fz_check(memchr(p, '\n', (size_t)r - 1) == NULL);
		fz_check(rv_buf_len(&b) == before - (size_t)r);
		if (!is_entry)
			continue;
		fz_round_trip(&e);
		if (n_mine == FZ_MAX_ENTRIES)
			too_many = 1;
		else
			mine[n_mine++] = e;
	}

	fz_write(data, size);
	memset(err, 0, sizeof(err));
	r = rv_replaystate_read(fz_path, FZ_MAX_ENTRIES, &got, &n_got, err, sizeof(err));
	/* The reader also caps the file's size (RV_REPLAYSTATE_SPARE_LINES):
	 * many comment lines parse one by one but make too big a file. */
	if (size > (FZ_MAX_ENTRIES + RV_REPLAYSTATE_SPARE_LINES) * (RV_REPLAYSTATE_LINE_MAX + 1))
		too_many = 1;
	if (all_ok && !too_many) {
		fz_check(r == RV_OK);
		fz_check(n_got == n_mine);
		fz_check(n_got == 0 || memcmp(got, mine, n_got * sizeof(*got)) == 0);
	} else {
		fz_check(r == RV_ERR_CONFIG || r == RV_ERR_LIMIT);
		fz_check(got == NULL);
		fz_check(strncmp(err, fz_path, strlen(fz_path)) == 0);
	}
	free(got);
	return 0;
}
