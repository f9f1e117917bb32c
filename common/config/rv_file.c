/* rv_file.c - crash-safe file replacement (see rv_file.h). */
#include "rv_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "rv_err.h"

static int rv_file_write_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int rv_file_replace(const char *path, const struct stat *like, const void *data, size_t len,
		    char *err, size_t errlen)
{
	char tmp[4096], dir[4096];
	const char *slash;
	int fd = -1, dfd = -1, ret = RV_ERR_IO;

	if (path == NULL || (data == NULL && len > 0))
		return RV_ERR_INVALID_ARG;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
		rv_err_set(err, errlen, "%s: path too long", path);
		return RV_ERR_INVALID_ARG;
	}
	slash = strrchr(path, '/');
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
	(void)unlink(tmp); /* a stale one from a crash; writers are serialized */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		rv_err_set(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
		goto out;
	}
	/* Owner first (chown clears set-id bits), then the exact mode (umask). */
	if (like != NULL && (like->st_uid != geteuid() || like->st_gid != getegid()) &&
	    fchown(fd, like->st_uid, like->st_gid) != 0) {
		rv_err_set(err, errlen, "cannot give %s the owner of %s (%u:%u): %s", tmp, path,
			   (unsigned)like->st_uid, (unsigned)like->st_gid, strerror(errno));
		goto out;
	}
	/* The data must be on disk before the name points at it. */
	if ((like != NULL && fchmod(fd, like->st_mode & 07777) != 0) ||
	    rv_file_write_all(fd, data, len) != 0 || fsync(fd) != 0) {
		rv_err_set(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		rv_err_set(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		rv_err_set(err, errlen, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
		goto out;
	}
	/* And the rename itself must survive a crash. */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) != 0) {
		rv_err_set(err, errlen, "cannot sync directory %s: %s", dir, strerror(errno));
		goto out;
	}
	ret = RV_OK;
out:
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	if (ret != RV_OK)
		(void)unlink(tmp); /* ENOENT after the rename: harmless */
	return ret;
}
