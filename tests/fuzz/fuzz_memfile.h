/* fuzz_memfile.h - for fuzz targets whose parser takes a file path: one
 * memfd per process, rewritten with each input and opened by the parser as
 * /proc/self/fd/N.  Include once per target (the state is per translation
 * unit).  fz_check() aborts, which libFuzzer reports as a crash. */
#ifndef FUZZ_MEMFILE_H
#define FUZZ_MEMFILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int fz_fd = -1;
static char fz_path[64];

static void fz_check(int cond)
{
	if (!cond)
		abort();
}

/* Idempotent; 0 or -1. */
static int fz_memfile_open(const char *name)
{
	if (fz_fd >= 0)
		return 0;
	fz_fd = memfd_create(name, MFD_CLOEXEC);
	if (fz_fd < 0)
		return -1;
	/* A memfd is mode 0777: the parsers refuse group/other-writable files. */
	if (fchmod(fz_fd, 0600) != 0)
		return -1;
	snprintf(fz_path, sizeof(fz_path), "/proc/self/fd/%d", fz_fd);
	return 0;
}

/* Replace the file's contents with data[0..size). */
static void fz_write(const uint8_t *data, size_t size)
{
	size_t off = 0;

	fz_check(ftruncate(fz_fd, 0) == 0);
	while (off < size) {
		ssize_t n = pwrite(fz_fd, data + off, size - off, (off_t)off);

		fz_check(n > 0);
		off += (size_t)n;
	}
}

#endif
