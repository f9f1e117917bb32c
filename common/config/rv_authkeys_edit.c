/* rv_authkeys_edit.c - atomic add/remove of authorized_keys lines (see
 * rv_authkeys_edit.h). */
#include "rv_authkeys_edit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "rv_clienturl.h"
#include "rv_err.h"
#include "rv_file.h"
#include "rv_keys.h"
#include "rv_permitlisten.h"

static int rv_ake_space(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* Key options before the key (permit-listen="SPEC", rv_authkeys.h), as
 * rv_authkeys' parse_options reads them: *i moves past them; RV_ERR_CONFIG
 * for options the loader refuses. */
static int rv_ake_options(const uint8_t *s, size_t len, size_t *i)
{
	static const char opt[] = "permit-listen=\"";
	const size_t olen = sizeof(opt) - 1;
	struct rv_permit_listen p;
	size_t j = *i, v;

	while (j < len && ((s[j] >= 'a' && s[j] <= 'z') || s[j] == '-'))
		j++;
	if (j == *i || j + 1 >= len || s[j] != '=' || s[j + 1] != '"')
		return RV_OK; /* no options */
	memset(&p, 0, sizeof(p));
	j = *i;
	for (;;) {
		if (len - j < olen || memcmp(s + j, opt, olen) != 0)
			return RV_ERR_CONFIG;
		j += olen;
		v = j;
		while (j < len && s[j] != '"')
			j++;
		if (j == len ||
		    rv_permit_listen_parse(&p, (const char *)s + v, j - v, NULL, 0) != RV_OK)
			return RV_ERR_CONFIG;
		j++;
		if (j < len && s[j] == ',') {
			j++;
			continue;
		}
		if (j < len && !rv_ake_space(s[j]))
			return RV_ERR_CONFIG;
		break;
	}
	while (j < len && rv_ake_space(s[j]))
		j++;
	*i = j;
	return RV_OK;
}

/* Classify one line as rv_authkeys' parse_line does. */
static void rv_ake_classify(struct rv_authkeys_line *l)
{
	const uint8_t *s = l->text;
	size_t i = 0, kstart, nend, j, len = l->len;

	memset(l->name, 0, sizeof(l->name));
	while (i < len && rv_ake_space(s[i]))
		i++;
	if (i == len) {
		l->kind = RV_AKLINE_BLANK;
		return;
	}
	if (s[i] == '#') {
		l->kind = RV_AKLINE_COMMENT;
		return;
	}
	l->kind = RV_AKLINE_BAD;
	if (memchr(s, '\0', len) != NULL)
		return;
	if (rv_ake_options(s, len, &i) != RV_OK)
		return;
	kstart = i;
	while (i < len && !rv_ake_space(s[i]))
		i++;
	if (rv_key_from_base64((const char *)s + kstart, i - kstart, l->pub) != RV_OK)
		return;
	while (i < len && rv_ake_space(s[i]))
		i++;
	nend = len;
	while (nend > i && rv_ake_space(s[nend - 1]))
		nend--;
	if (i < nend && s[i] != '#') {
		if (nend - i > RV_AUTHKEY_NAME_MAX)
			return;
		for (j = i; j < nend; j++)
			if (s[j] < 0x20 || s[j] == 0x7f)
				return;
		memcpy(l->name, s + i, nend - i);
	}
	l->kind = RV_AKLINE_KEY;
}

int rv_authkeys_edit_next(struct rv_buf *in, struct rv_authkeys_line *l)
{
	size_t avail = rv_buf_len(in), len, used;
	const uint8_t *p = rv_buf_ptr(in), *nl;

	if (avail == 0)
		return 0;
	nl = memchr(p, '\n', avail);
	len = nl != NULL ? (size_t)(nl - p) : avail;
	used = nl != NULL ? len + 1 : len;
	if (len > RV_AUTHKEYS_LINE_MAX)
		return RV_ERR_LIMIT;
	l->text = p;
	l->len = len;
	rv_ake_classify(l);
	if (rv_buf_consume(in, used) != RV_OK)
		return RV_ERR_INTERNAL;
	return (int)used;
}

int rv_authkeys_edit_add_text(const uint8_t *in, size_t len, const uint8_t pub[RV_KEY_LEN],
			      const char *name, struct rv_buf *out, char *err, size_t errlen)
{
	struct rv_authkeys_line l;
	struct rv_buf b;
	char b64[RV_KEY_B64_SIZE];
	size_t start = rv_buf_len(out);
	unsigned lineno = 0;
	int r;

	if (name == NULL || !rv_clienturl_name_valid(name, strlen(name))) {
		rv_err_set(err, errlen, "client name '%s' must be 1 to %d of A-Z a-z 0-9 . _ @ -",
			   name != NULL ? name : "", RV_CLIENTURL_NAME_MAX);
		return RV_ERR_INVALID_ARG;
	}
	rv_buf_init_view(&b, in, len);
	while ((r = rv_authkeys_edit_next(&b, &l)) > 0) {
		lineno++;
		if (l.kind != RV_AKLINE_KEY)
			continue;
		if (strcmp(l.name, name) == 0) {
			rv_err_set(err, errlen, "a client named '%s' exists already (line %u)", name,
				   lineno);
			return RV_ERR_DENIED;
		}
		if (sodium_memcmp(l.pub, pub, RV_KEY_LEN) == 0) {
			rv_err_set(err, errlen, "this key is authorized already (line %u, name "
				   "'%s')", lineno, l.name);
			return RV_ERR_DENIED;
		}
	}
	if (r < 0) {
		rv_err_set(err, errlen, "line %u is longer than %d bytes", lineno + 1,
			   RV_AUTHKEYS_LINE_MAX);
		return r;
	}
	rv_key_to_base64(pub, b64);
	if ((r = rv_buf_put(out, in, len)) != RV_OK ||
	    (len > 0 && in[len - 1] != '\n' && (r = rv_buf_put_u8(out, '\n')) != RV_OK) ||
	    (r = rv_buf_put(out, b64, RV_KEY_B64_LEN)) != RV_OK ||
	    (r = rv_buf_put_u8(out, ' ')) != RV_OK ||
	    (r = rv_buf_put(out, name, strlen(name))) != RV_OK ||
	    (r = rv_buf_put_u8(out, '\n')) != RV_OK) {
		rv_buf_unput(out, rv_buf_len(out) - start);
		rv_err_set(err, errlen, "the file would grow beyond %zu bytes", out->max_size);
		return r == RV_ERR_NO_SPACE ? RV_ERR_LIMIT : r;
	}
	return RV_OK;
}

int rv_authkeys_edit_remove_text(const uint8_t *in, size_t len, const char *name,
				 struct rv_buf *out, size_t *removed, char *err, size_t errlen)
{
	struct rv_authkeys_line l;
	struct rv_buf b;
	size_t start = rv_buf_len(out), n = 0;
	unsigned lineno = 0;
	int r;

	*removed = 0;
	if (name == NULL || !rv_clienturl_name_valid(name, strlen(name))) {
		rv_err_set(err, errlen, "client name '%s' must be 1 to %d of A-Z a-z 0-9 . _ @ -",
			   name != NULL ? name : "", RV_CLIENTURL_NAME_MAX);
		return RV_ERR_INVALID_ARG;
	}
	rv_buf_init_view(&b, in, len);
	while ((r = rv_authkeys_edit_next(&b, &l)) > 0) {
		lineno++;
		if (l.kind == RV_AKLINE_KEY && strcmp(l.name, name) == 0) {
			n++;
			continue;
		}
		if ((r = rv_buf_put(out, l.text, (size_t)r)) != RV_OK)
			break;
	}
	if (r < 0 || n == 0) {
		rv_buf_unput(out, rv_buf_len(out) - start);
		if (r == RV_ERR_LIMIT)
			rv_err_set(err, errlen, "line %u is longer than %d bytes", lineno + 1,
				   RV_AUTHKEYS_LINE_MAX);
		else if (r < 0)
			rv_err_set(err, errlen, "out of buffer space");
		else
			rv_err_set(err, errlen, "no client named '%s'", name);
		return r < 0 ? r : RV_ERR_NOT_FOUND;
	}
	*removed = n;
	return RV_OK;
}

static int rv_ake_open_err(const char *path, char *err, size_t errlen)
{
	int e = errno;

	rv_err_set(err, errlen, "%s: %s", path, strerror(e));
	if (e == ENOENT)
		return RV_ERR_NOT_FOUND;
	return e == EACCES || e == EPERM ? RV_ERR_PERMISSION : RV_ERR_IO;
}

static int rv_ake_read_fd(int fd, const char *path, struct rv_buf *out, char *err,
			  size_t errlen)
{
	uint8_t chunk[4096];
	size_t start = rv_buf_len(out);
	ssize_t n;

	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rv_err_set(err, errlen, "%s: %s", path, strerror(errno));
			goto fail;
		}
		if (n == 0)
			return RV_OK;
		if (rv_buf_put(out, chunk, (size_t)n) != RV_OK) {
			rv_err_set(err, errlen, "%s: larger than %zu bytes", path, out->max_size);
			rv_buf_unput(out, rv_buf_len(out) - start);
			return RV_ERR_LIMIT;
		}
	}
fail:
	rv_buf_unput(out, rv_buf_len(out) - start);
	return RV_ERR_IO;
}

int rv_authkeys_edit_read(const char *path, struct rv_buf *out, char *err, size_t errlen)
{
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return rv_ake_open_err(path, err, errlen);
	r = rv_ake_read_fd(fd, path, out, err, errlen);
	close(fd);
	return r;
}

struct rv_ake_op {
	const uint8_t *pub; /* add */
	const char *name;
	size_t removed;     /* remove */
};

/* Lock path (retrying while it is being replaced), read, edit, replace. */
static int rv_ake_update(const char *path, struct rv_ake_op *op, char *err, size_t errlen)
{
	struct rv_buf in, out;
	struct stat st, now;
	int fd = -1, r = RV_ERR_LIMIT, tries;

	rv_buf_init(&in, RV_AUTHKEYS_EDIT_FILE_MAX);
	rv_buf_init(&out, RV_AUTHKEYS_EDIT_FILE_MAX);
	for (tries = 0; tries < RV_AUTHKEYS_EDIT_TRIES; tries++) {
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0) {
			r = rv_ake_open_err(path, err, errlen);
			goto out;
		}
		if (flock(fd, LOCK_EX) != 0 || fstat(fd, &st) != 0) {
			r = rv_ake_open_err(path, err, errlen);
			goto out;
		}
		/* Still the file the name points at?  Else a concurrent editor
		 * replaced it while we waited: lock the new one. */
		if (stat(path, &now) == 0 && now.st_dev == st.st_dev && now.st_ino == st.st_ino)
			break;
		close(fd);
		fd = -1;
	}
	if (fd < 0) {
		rv_err_set(err, errlen, "%s: replaced too often while waiting for its lock", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rv_err_set(err, errlen, "%s: not a regular file", path);
		r = RV_ERR_INVALID_ARG;
		goto out;
	}
	r = rv_ake_read_fd(fd, path, &in, err, errlen);
	if (r != RV_OK)
		goto out;
	if (op->pub != NULL)
		r = rv_authkeys_edit_add_text(rv_buf_ptr(&in), rv_buf_len(&in), op->pub, op->name,
					      &out, err, errlen);
	else
		r = rv_authkeys_edit_remove_text(rv_buf_ptr(&in), rv_buf_len(&in), op->name, &out,
						 &op->removed, err, errlen);
	if (r != RV_OK)
		goto out;
	r = rv_file_replace(path, &st, rv_buf_ptr(&out), rv_buf_len(&out), err, errlen);
out:
	if (fd >= 0)
		close(fd); /* releases the lock, after the rename */
	rv_buf_cleanup(&in);
	rv_buf_cleanup(&out);
	return r;
}

int rv_authkeys_edit_add(const char *path, const uint8_t pub[RV_KEY_LEN], const char *name,
			 char *err, size_t errlen)
{
	struct rv_ake_op op = { .pub = pub, .name = name };

	if (path == NULL || pub == NULL)
		return RV_ERR_INVALID_ARG;
	return rv_ake_update(path, &op, err, errlen);
}

int rv_authkeys_edit_remove(const char *path, const char *name, size_t *removed, char *err,
			    size_t errlen)
{
	struct rv_ake_op op = { .name = name };
	int r;

	if (path == NULL || removed == NULL)
		return RV_ERR_INVALID_ARG;
	r = rv_ake_update(path, &op, err, errlen);
	*removed = r == RV_OK ? op.removed : 0;
	return r;
}
