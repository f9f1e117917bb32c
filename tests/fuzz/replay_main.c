/* Stand-in for libFuzzer's main() in ordinary (gcc, sanitizer) builds: feeds
 * each file named on the command line, or every regular file in each named
 * directory, to LLVMFuzzerTestOneInput once.  Lets ctest replay the seed
 * corpus and keeps the fuzz targets compiling without clang.  Owner: infra. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { REPLAY_MAX_INPUT = 1 << 20 }; /* libFuzzer's default -max_len is far below this */

static int replay_file(const char *path, size_t *count)
{
	FILE *f = NULL;
	uint8_t *data = NULL;
	long len;
	int rc = -1;

	f = fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		goto out;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		fprintf(stderr, "replay: %s: cannot size file\n", path);
		goto out;
	}
	if (len > REPLAY_MAX_INPUT) {
		fprintf(stderr, "replay: %s: larger than %d bytes, skipped\n", path, REPLAY_MAX_INPUT);
		rc = 0;
		goto out;
	}
	/* Exact-size heap copy so ASan flags any read past the input. */
	data = malloc(len > 0 ? (size_t)len : 1);
	if (data == NULL || fread(data, 1, (size_t)len, f) != (size_t)len) {
		fprintf(stderr, "replay: %s: read failed\n", path);
		goto out;
	}
	LLVMFuzzerTestOneInput(data, (size_t)len);
	(*count)++;
	rc = 0;
out:
	free(data);
	if (f != NULL)
		fclose(f);
	return rc;
}

static int replay_dir(const char *dir, size_t *count)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[4096];
	struct stat st;
	int rc = 0;

	if (d == NULL) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path))
			continue;
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		if (replay_file(path, count) != 0)
			rc = -1;
	}
	closedir(d);
	return rc;
}

int main(int argc, char **argv)
{
	size_t count = 0;
	struct stat st;
	int rc = 0;

	/* An empty input must never crash a target either. */
	LLVMFuzzerTestOneInput((const uint8_t *)"", 0);
	count++;
	for (int i = 1; i < argc; i++) {
		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "replay: %s: no seed corpus (%s)\n", argv[i], strerror(errno));
			continue;
		}
		if ((S_ISDIR(st.st_mode) ? replay_dir(argv[i], &count) : replay_file(argv[i], &count)) != 0)
			rc = 1;
	}
	printf("replay: %zu inputs executed\n", count);
	return rc;
}
