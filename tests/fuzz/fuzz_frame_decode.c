/* fuzz_frame_decode.c - libFuzzer target for the frame decoder.  Owner:
 * frames helper.
 *
 * Decodes frames from the input until the decoder stops.  Every decoded
 * frame must re-encode to exactly the bytes it consumed (the codec is a
 * bijection on valid frames), and every refusal must leave the buffer as it
 * was.  A violation aborts.  The input is also replayed through an owned
 * buffer one byte at a time, which must yield the same frames.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rv_buf.h"
#include "rv_err.h"
#include "rv_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_reencode(const struct rv_frame *f, const uint8_t *start, size_t used)
{
	struct rv_buf out;

	rv_buf_init(&out, RV_BUF_DEFAULT_MAX);
	if (rv_frame_encode(&out, f) != RV_OK || rv_buf_len(&out) != used ||
	    rv_frame_encoded_len(f) != used || memcmp(rv_buf_ptr(&out), start, used) != 0)
		abort();
	rv_buf_cleanup(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rv_buf in, inc;
	struct rv_frame f;
	size_t frames = 0, frames_inc = 0, fed = 0;
	int r, last;

	/* Pass 1: the whole input as a view. */
	rv_buf_init_view(&in, data, size);
	for (;;) {
		size_t before = rv_buf_len(&in);
		const uint8_t *start = rv_buf_ptr(&in);

		r = rv_frame_decode(&in, &f);
		if (r != RV_OK && r != RV_ERR_NEED_MORE && r != RV_ERR_MALFORMED &&
		    r != RV_ERR_UNSUPPORTED)
			abort(); /* the decoder's only results */
		if (r != RV_OK) {
			if (rv_buf_len(&in) != before || rv_buf_ptr(&in) != start)
				abort();
			break;
		}
		if (rv_buf_len(&in) >= before)
			abort();
		check_reencode(&f, start, before - rv_buf_len(&in));
		/* Id spaces (PROTOCOL.md §7.1): REMOTE_CONNECT only opens a
		 * server id; the LISTEN frames carry a request id, no stream. */
		if (f.type == RV_FRAME_REMOTE_CONNECT && (f.stream_id & RV_STREAM_ID_SERVER) == 0)
			abort();
		if ((f.type == RV_FRAME_LISTEN || f.type == RV_FRAME_LISTEN_RESPONSE ||
		     f.type == RV_FRAME_LISTEN_CLOSE) && f.stream_id != 0)
			abort();
		frames++;
	}
	last = r;

	/* Pass 2: the same bytes fed one at a time into an owned buffer. */
	rv_buf_init(&inc, RV_BUF_DEFAULT_MAX);
	r = RV_ERR_NEED_MORE;
	while (fed < size) {
		if (rv_buf_put_u8(&inc, data[fed++]) != RV_OK)
			abort();
		r = rv_frame_decode(&inc, &f);
		if (r == RV_OK) {
			frames_inc++;
			if (rv_buf_len(&inc) != 0)
				abort(); /* at most one frame completes per byte */
			continue;
		}
		if (r != RV_ERR_NEED_MORE)
			break;
	}
	rv_buf_cleanup(&inc);
	if (frames_inc != frames)
		abort();
	/* Both passes stop for the same reason (NEED_MORE also at clean end). */
	if (r != last && !(r == RV_OK && last == RV_ERR_NEED_MORE))
		abort();
	return 0;
}
