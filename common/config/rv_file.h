/* rv_file.h - crash-safe replacement of a small file, shared by the files
 * the server rewrites (authorized_keys edits, the replay state).
 *
 * rv_file_replace writes data to PATH.tmp (created O_EXCL, never through a
 * link), gives it like's owner and mode (or keeps 0600 and our owner when
 * like is NULL), fsyncs it, renames it over path and fsyncs the directory.
 * On failure path is unchanged (unless only the directory sync failed: then
 * the new file is in place and RV_ERR_IO says the rename may not survive a
 * crash) and no PATH.tmp is left.  The caller serializes writers. */
#ifndef RV_FILE_H
#define RV_FILE_H

#include <stddef.h>
#include <sys/stat.h>

int rv_file_replace(const char *path, const struct stat *like, const void *data, size_t len,
		    char *err, size_t errlen);

#endif
