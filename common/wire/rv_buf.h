/* rv_buf.h - one bounded byte buffer for all parsing and building.
 *
 * A buffer holds bytes [off, size) of data[].  get/consume advance off,
 * put appends at size.  Every buffer has a size cap (max_size); a put that
 * would exceed it fails with RV_ERR_NO_SPACE.  Every operation that fails
 * leaves the buffer exactly as it was.  A get/peek/consume on too few bytes
 * returns RV_ERR_NEED_MORE, so parsers can turn it into "need more input".
 * Integers are big-endian (network order).
 *
 * Ownership: a buffer made with rv_buf_new() or rv_buf_init() owns data[]
 * and frees it (wiped with sodium_memzero) in rv_buf_free()/rv_buf_cleanup().
 * A view made with rv_buf_init_view() borrows caller memory, is read-only
 * (put fails with RV_ERR_STATE) and frees nothing.
 */
#ifndef RV_BUF_H
#define RV_BUF_H

#include <stddef.h>
#include <stdint.h>

#define RV_BUF_DEFAULT_MAX (16u * 1024 * 1024)

struct rv_buf {
	uint8_t *data;
	size_t off;      /* first unread byte */
	size_t size;     /* one past the last valid byte */
	size_t alloc;    /* bytes allocated at data */
	size_t max_size; /* cap on unread bytes (size - off) */
	int readonly;    /* view over borrowed memory */
};

/* Heap object; NULL on allocation failure.  rv_buf_free(NULL) is safe. */
struct rv_buf *rv_buf_new(size_t max_size);
void rv_buf_free(struct rv_buf *b);

/* Embedded object: init never allocates; cleanup frees and wipes. */
void rv_buf_init(struct rv_buf *b, size_t max_size);
void rv_buf_cleanup(struct rv_buf *b);
/* Read-only view over [p, p+len); the memory must outlive the view. */
void rv_buf_init_view(struct rv_buf *b, const void *p, size_t len);

/* Drop all contents (keeps the allocation). */
void rv_buf_reset(struct rv_buf *b);

size_t rv_buf_len(const struct rv_buf *b);        /* unread bytes */
const uint8_t *rv_buf_ptr(const struct rv_buf *b); /* first unread byte */
size_t rv_buf_room(const struct rv_buf *b);       /* max_size - len */

/* Append: reserve returns a pointer to len new bytes the caller fills. */
int rv_buf_reserve(struct rv_buf *b, size_t len, uint8_t **dp);
int rv_buf_put(struct rv_buf *b, const void *p, size_t len);
int rv_buf_put_u8(struct rv_buf *b, uint8_t v);
int rv_buf_put_u16(struct rv_buf *b, uint16_t v);
int rv_buf_put_u32(struct rv_buf *b, uint32_t v);
int rv_buf_put_u64(struct rv_buf *b, uint64_t v);
/* Remove the last len bytes written (undo of a partial build). */
int rv_buf_unput(struct rv_buf *b, size_t len);

/* Read and consume.  out may be NULL for rv_buf_get (== consume). */
int rv_buf_get(struct rv_buf *b, void *out, size_t len);
int rv_buf_get_u8(struct rv_buf *b, uint8_t *v);
int rv_buf_get_u16(struct rv_buf *b, uint16_t *v);
int rv_buf_get_u32(struct rv_buf *b, uint32_t *v);
int rv_buf_get_u64(struct rv_buf *b, uint64_t *v);
/* Zero-copy get: *p points into the buffer, valid until the next put. */
int rv_buf_get_view(struct rv_buf *b, size_t len, const uint8_t **p);

/* Read without consuming, starting offset bytes past the read position. */
int rv_buf_peek(const struct rv_buf *b, size_t offset, void *out, size_t len);
int rv_buf_peek_u8(const struct rv_buf *b, size_t offset, uint8_t *v);
int rv_buf_peek_u16(const struct rv_buf *b, size_t offset, uint16_t *v);
int rv_buf_peek_u32(const struct rv_buf *b, size_t offset, uint32_t *v);

int rv_buf_consume(struct rv_buf *b, size_t len);

#endif
