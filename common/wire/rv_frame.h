/* rv_frame.h - the frame codec for stream multiplexing inside ratchet
 * plaintexts.  Layouts are in rv_wire.h and common/PROTOCOL.md.
 * Owner: frames helper.
 *
 * rv_frame_decode is a three-result parser: RV_OK (one frame consumed from
 * in), RV_ERR_NEED_MORE (in holds a truncated frame; in unchanged), or
 * another negative error (in unchanged).  Each body length is validated
 * exactly for its type before any field is read.  A decoded DATA frame
 * points into in's memory (valid until in is modified).
 *
 * Rules beyond the lengths (both directions): stream id != 0 for stream
 * frames, == 0 for PING/PONG/GOAWAY/DATAGRAM/DATAGRAM_CLOSE (their
 * association id, in the union, != 0); DATAGRAM payload
 * 0..RV_DATAGRAM_MAX bytes, close reason from its enum; DATA 1..RV_FRAME_DATA_MAX bytes;
 * CONNECT window and WINDOW_UPDATE credit 1..RV_STREAM_WINDOW_MAX; status,
 * reset and goaway reasons and atyp from their enums; domain 1..255 bytes,
 * no NUL.  Decode errors: RV_ERR_MALFORMED, or RV_ERR_UNSUPPORTED for an
 * unknown frame type.  Encode errors: RV_ERR_INVALID_ARG (bad frame),
 * RV_ERR_NO_SPACE/RV_ERR_NOMEM; a DATA frame's bytes must not point into out.
 */
#ifndef RV_FRAME_H
#define RV_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "rv_buf.h"
#include "rv_wire.h"

struct rv_addr {
	enum rv_atyp atyp;
	uint8_t ip[16];                 /* IPV4: first 4 bytes */
	char domain[RV_DOMAIN_MAX + 1]; /* NUL-terminated, DOMAIN only */
	uint8_t domain_len;
	uint16_t port;
};

struct rv_frame {
	enum rv_frame_type type;
	uint32_t stream_id; /* 0 for PING, PONG, GOAWAY, DATAGRAM, DATAGRAM_CLOSE */
	union {
		struct { struct rv_addr addr; uint32_t window; } connect;
		struct { enum rv_status status; struct rv_addr bound; } response;
		struct { const uint8_t *data; size_t len; } data;
		struct { enum rv_reset_reason reason; } reset;
		struct { uint32_t credit; } window_update;
		struct { uint64_t opaque; } ping; /* PING and PONG */
		struct { uint32_t last_stream; enum rv_goaway_reason reason; } goaway;
		/* DATAGRAM: addr is the destination (client -> server) or the
		 * source of a reply (server -> client); data points into the
		 * input like DATA's, len 0..RV_DATAGRAM_MAX. */
		struct {
			uint32_t assoc;
			struct rv_addr addr;
			const uint8_t *data;
			size_t len;
		} datagram;
		struct { uint32_t assoc; enum rv_dgram_close_reason reason; } datagram_close;
	} u;
};

int rv_frame_decode(struct rv_buf *in, struct rv_frame *f);
/* Appends; on RV_ERR_NO_SPACE or a bad frame, out is unchanged. */
int rv_frame_encode(struct rv_buf *out, const struct rv_frame *f);
/* Bytes rv_frame_encode would append (0 for an invalid frame). */
size_t rv_frame_encoded_len(const struct rv_frame *f);

#endif
