#include "rv_buf.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "rv_err.h"

struct rv_buf *rv_buf_new(size_t max_size)
{
	struct rv_buf *b = malloc(sizeof(*b));

	if (b != NULL)
		rv_buf_init(b, max_size);
	return b;
}

void rv_buf_free(struct rv_buf *b)
{
	if (b == NULL)
		return;
	rv_buf_cleanup(b);
	free(b);
}

void rv_buf_init(struct rv_buf *b, size_t max_size)
{
	memset(b, 0, sizeof(*b));
	b->max_size = max_size;
}

void rv_buf_cleanup(struct rv_buf *b)
{
	if (b == NULL)
		return;
	if (!b->readonly && b->data != NULL) {
		sodium_memzero(b->data, b->alloc);
		free(b->data);
	}
	memset(b, 0, sizeof(*b));
}

void rv_buf_init_view(struct rv_buf *b, const void *p, size_t len)
{
	memset(b, 0, sizeof(*b));
	b->data = (uint8_t *)(uintptr_t)p;
	b->size = len;
	b->alloc = len;
	b->max_size = len;
	b->readonly = 1;
}

void rv_buf_reset(struct rv_buf *b)
{
	if (b->readonly) {
		b->off = b->size;
		return;
	}
	b->off = 0;
	b->size = 0;
}

size_t rv_buf_len(const struct rv_buf *b)
{
	return b->size - b->off;
}

const uint8_t *rv_buf_ptr(const struct rv_buf *b)
{
	return b->data == NULL ? (const uint8_t *)"" : b->data + b->off;
}

size_t rv_buf_room(const struct rv_buf *b)
{
	size_t len = rv_buf_len(b);

	return len >= b->max_size ? 0 : b->max_size - len;
}

/* Make room for len more bytes at size: compact first, then grow. */
static int rv_buf_make_room(struct rv_buf *b, size_t len)
{
	size_t used = rv_buf_len(b), want, nalloc;
	uint8_t *nd;

	if (b->readonly)
		return RV_ERR_STATE;
	if (len > b->max_size || used > b->max_size - len)
		return RV_ERR_NO_SPACE;
	if (b->alloc - b->size >= len)
		return RV_OK;
	want = used + len;
	if (b->off > 0 && b->alloc >= want) {
		memmove(b->data, b->data + b->off, used);
		b->off = 0;
		b->size = used;
		return RV_OK;
	}
	nalloc = b->alloc < 256 ? 256 : b->alloc;
	while (nalloc < want)
		nalloc = nalloc > SIZE_MAX / 2 ? want : nalloc * 2;
	if (nalloc > b->max_size && want <= b->max_size)
		nalloc = b->max_size;
	nd = malloc(nalloc);
	if (nd == NULL)
		return RV_ERR_NOMEM;
	if (used > 0)
		memcpy(nd, b->data + b->off, used);
	if (b->data != NULL) {
		sodium_memzero(b->data, b->alloc);
		free(b->data);
	}
	b->data = nd;
	b->alloc = nalloc;
	b->off = 0;
	b->size = used;
	return RV_OK;
}

int rv_buf_reserve(struct rv_buf *b, size_t len, uint8_t **dp)
{
	int r = rv_buf_make_room(b, len);

	if (r != RV_OK)
		return r;
	/* NULL + 0 is undefined behaviour: an empty, never-allocated buffer
	 * hands out NULL for a zero-length reserve. */
	if (dp != NULL)
		*dp = b->data != NULL ? b->data + b->size : NULL;
	b->size += len;
	return RV_OK;
}

int rv_buf_put(struct rv_buf *b, const void *p, size_t len)
{
	uint8_t *d;
	int r = rv_buf_reserve(b, len, &d);

	if (r == RV_OK && len > 0)
		memcpy(d, p, len);
	return r;
}

int rv_buf_put_u8(struct rv_buf *b, uint8_t v)
{
	return rv_buf_put(b, &v, 1);
}

int rv_buf_put_u16(struct rv_buf *b, uint16_t v)
{
	uint8_t t[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	return rv_buf_put(b, t, sizeof(t));
}

int rv_buf_put_u32(struct rv_buf *b, uint32_t v)
{
	uint8_t t[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16),
			 (uint8_t)(v >> 8), (uint8_t)v };

	return rv_buf_put(b, t, sizeof(t));
}

int rv_buf_put_u64(struct rv_buf *b, uint64_t v)
{
	uint8_t t[8];
	int i;

	for (i = 7; i >= 0; i--, v >>= 8)
		t[i] = (uint8_t)v;
	return rv_buf_put(b, t, sizeof(t));
}

int rv_buf_unput(struct rv_buf *b, size_t len)
{
	if (b->readonly)
		return RV_ERR_STATE;
	if (len > rv_buf_len(b))
		return RV_ERR_INVALID_ARG;
	b->size -= len;
	return RV_OK;
}

int rv_buf_peek(const struct rv_buf *b, size_t offset, void *out, size_t len)
{
	size_t have = rv_buf_len(b);

	if (offset > have || len > have - offset)
		return RV_ERR_NEED_MORE;
	if (out != NULL && len > 0)
		memcpy(out, b->data + b->off + offset, len);
	return RV_OK;
}

int rv_buf_peek_u8(const struct rv_buf *b, size_t offset, uint8_t *v)
{
	return rv_buf_peek(b, offset, v, 1);
}

int rv_buf_peek_u16(const struct rv_buf *b, size_t offset, uint16_t *v)
{
	uint8_t t[2];
	int r = rv_buf_peek(b, offset, t, sizeof(t));

	if (r == RV_OK)
		*v = (uint16_t)((t[0] << 8) | t[1]);
	return r;
}

int rv_buf_peek_u32(const struct rv_buf *b, size_t offset, uint32_t *v)
{
	uint8_t t[4];
	int r = rv_buf_peek(b, offset, t, sizeof(t));

	if (r == RV_OK)
		*v = ((uint32_t)t[0] << 24) | ((uint32_t)t[1] << 16) |
		     ((uint32_t)t[2] << 8) | t[3];
	return r;
}

int rv_buf_consume(struct rv_buf *b, size_t len)
{
	if (len > rv_buf_len(b))
		return RV_ERR_NEED_MORE;
	b->off += len;
	if (b->off == b->size && !b->readonly)
		b->off = b->size = 0;
	return RV_OK;
}

int rv_buf_get(struct rv_buf *b, void *out, size_t len)
{
	int r = rv_buf_peek(b, 0, out, len);

	return r == RV_OK ? rv_buf_consume(b, len) : r;
}

int rv_buf_get_u8(struct rv_buf *b, uint8_t *v)
{
	return rv_buf_get(b, v, 1);
}

int rv_buf_get_u16(struct rv_buf *b, uint16_t *v)
{
	int r = rv_buf_peek_u16(b, 0, v);

	return r == RV_OK ? rv_buf_consume(b, 2) : r;
}

int rv_buf_get_u32(struct rv_buf *b, uint32_t *v)
{
	int r = rv_buf_peek_u32(b, 0, v);

	return r == RV_OK ? rv_buf_consume(b, 4) : r;
}

int rv_buf_get_u64(struct rv_buf *b, uint64_t *v)
{
	uint8_t t[8];
	uint64_t x = 0;
	int i, r = rv_buf_get(b, t, sizeof(t));

	if (r != RV_OK)
		return r;
	for (i = 0; i < 8; i++)
		x = (x << 8) | t[i];
	*v = x;
	return RV_OK;
}

int rv_buf_get_view(struct rv_buf *b, size_t len, const uint8_t **p)
{
	if (len > rv_buf_len(b))
		return RV_ERR_NEED_MORE;
	*p = b->data + b->off;
	/* Not rv_buf_consume: it may rewind off, and *p must stay valid. */
	b->off += len;
	return RV_OK;
}
