/* rv_keys.c - X25519 key pairs, base64 text form, private key files.
 * Owner: crypto helper. */
#include "rv_keys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "rv_err.h"

/* A key file holds one key and whitespace; anything longer is not ours. */
enum { RV_KEY_FILE_MAX = 1024 };

int rv_keypair_generate(struct rv_keypair *kp)
{
	uint8_t priv[RV_KEY_LEN];
	int r;

	if (kp == NULL)
		return RV_ERR_INVALID_ARG;
	if (sodium_init() < 0)
		return RV_ERR_CRYPTO;
	randombytes_buf(priv, sizeof(priv));
	/* Store the clamped form, as WireGuard's genkey prints it. */
	priv[0] &= 248;
	priv[31] &= 127;
	priv[31] |= 64;
	r = rv_keypair_from_private(kp, priv);
	sodium_memzero(priv, sizeof(priv));
	return r;
}

int rv_keypair_from_private(struct rv_keypair *kp, const uint8_t priv[RV_KEY_LEN])
{
	struct rv_keypair tmp;
	int r = RV_OK;

	if (kp == NULL || priv == NULL)
		return RV_ERR_INVALID_ARG;
	if (sodium_init() < 0)
		return RV_ERR_CRYPTO;
	memcpy(tmp.priv, priv, RV_KEY_LEN);
	if (crypto_scalarmult_base(tmp.pub, tmp.priv) != 0) {
		r = RV_ERR_CRYPTO;
		goto out;
	}
	memcpy(kp, &tmp, sizeof(tmp));
out:
	sodium_memzero(&tmp, sizeof(tmp));
	return r;
}

void rv_keypair_wipe(struct rv_keypair *kp)
{
	if (kp != NULL)
		sodium_memzero(kp, sizeof(*kp));
}

void rv_key_to_base64(const uint8_t key[RV_KEY_LEN], char out[RV_KEY_B64_SIZE])
{
	sodium_bin2base64(out, RV_KEY_B64_SIZE, key, RV_KEY_LEN,
			  sodium_base64_VARIANT_ORIGINAL);
}

static int rv_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

int rv_key_from_base64(const char *text, size_t len, uint8_t key[RV_KEY_LEN])
{
	uint8_t tmp[RV_KEY_LEN];
	const char *end = NULL;
	size_t bin_len = 0;
	int r = RV_ERR_MALFORMED;

	if ((text == NULL && len > 0) || key == NULL)
		return RV_ERR_INVALID_ARG;
	while (len > 0 && rv_is_space(text[0])) {
		text++;
		len--;
	}
	while (len > 0 && rv_is_space(text[len - 1]))
		len--;
	/* Exactly 44 characters: 43 data + one '=' (32 bytes = 256 bits). */
	if (len != RV_KEY_B64_LEN || memchr(text, '\0', len) != NULL)
		return RV_ERR_MALFORMED;
	/* libsodium rejects bad characters, missing padding and non-zero
	 * trailing bits, so only the canonical encoding is accepted. */
	if (sodium_base642bin(tmp, sizeof(tmp), text, len, NULL, &bin_len, &end,
			      sodium_base64_VARIANT_ORIGINAL) != 0)
		goto out;
	if (bin_len != RV_KEY_LEN || end != text + len)
		goto out;
	memcpy(key, tmp, RV_KEY_LEN);
	r = RV_OK;
out:
	sodium_memzero(tmp, sizeof(tmp));
	return r;
}

/* The directory part of path ("." if none), into out. */
static void rv_path_dir(const char *path, char *out, size_t outlen)
{
	const char *slash = strrchr(path, '/');
	size_t n;

	if (slash == NULL) {
		snprintf(out, outlen, ".");
		return;
	}
	n = (size_t)(slash - path);
	if (n == 0)
		n = 1; /* "/file": the root */
	snprintf(out, outlen, "%.*s", (int)n, path);
}

int rv_file_check_modes(int fd, const char *path, const char *what, char *err, size_t errlen)
{
	char dir[4096];
	struct stat st;

	if (fd < 0 || path == NULL || what == NULL)
		return RV_ERR_INVALID_ARG;
	if (fstat(fd, &st) != 0) {
		rv_err_set(err, errlen, "cannot stat %s %s: %s", what, path, strerror(errno));
		return RV_ERR_IO;
	}
	if (!S_ISREG(st.st_mode)) {
		rv_err_set(err, errlen, "%s %s is not a regular file", what, path);
		return RV_ERR_INVALID_ARG;
	}
	/* Whoever can write the file decides who may connect / what runs. */
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		rv_err_set(err, errlen,
			   "%s %s is writable by group/others (mode %04o); run chmod go-w %s",
			   what, path, (unsigned)(st.st_mode & 07777), path);
		return RV_ERR_PERMISSION;
	}
	/* Whoever can write the directory can replace the file (unless the
	 * sticky bit stops them, as in /tmp). */
	rv_path_dir(path, dir, sizeof(dir));
	if (stat(dir, &st) != 0) {
		rv_err_set(err, errlen, "cannot stat directory %s of %s %s: %s", dir, what, path,
			   strerror(errno));
		return RV_ERR_IO;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (st.st_mode & S_ISVTX) == 0) {
		rv_err_set(err, errlen,
			   "directory %s of %s %s is writable by group/others (mode %04o); "
			   "run chmod go-w %s",
			   dir, what, path, (unsigned)(st.st_mode & 07777), dir);
		return RV_ERR_PERMISSION;
	}
	return RV_OK;
}

int rv_key_load_private_file(const char *path, struct rv_keypair *kp,
			     char *err, size_t errlen)
{
	char text[RV_KEY_FILE_MAX + 1];
	uint8_t priv[RV_KEY_LEN];
	struct stat st;
	size_t len = 0;
	ssize_t n;
	int fd = -1, r;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (path == NULL || kp == NULL)
		return RV_ERR_INVALID_ARG;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		int e = errno;

		rv_err_set(err, errlen, "cannot open key file %s: %s", path, strerror(e));
		r = e == ENOENT ? RV_ERR_NOT_FOUND :
		    e == EACCES || e == EPERM ? RV_ERR_PERMISSION : RV_ERR_IO;
		goto out;
	}
	/* fstat the open descriptor: no window between check and read.
	 * O_NONBLOCK above keeps a FIFO from hanging us before this check. */
	if (fstat(fd, &st) != 0) {
		rv_err_set(err, errlen, "cannot stat key file %s: %s", path,
			     strerror(errno));
		r = RV_ERR_IO;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rv_err_set(err, errlen, "key file %s is not a regular file", path);
		r = RV_ERR_INVALID_ARG;
		goto out;
	}
	/* Like ssh: any group/other access to a private key is refused. */
	if ((st.st_mode & 077) != 0) {
		rv_err_set(err, errlen,
			     "key file %s is %s by group/others (mode %04o); run chmod 600 %s",
			     path,
			     (st.st_mode & (S_IRGRP | S_IROTH)) ? "readable" :
			     (st.st_mode & (S_IWGRP | S_IWOTH)) ? "writable" : "accessible",
			     (unsigned)(st.st_mode & 07777), path);
		r = RV_ERR_PERMISSION;
		goto out;
	}
	r = rv_file_check_modes(fd, path, "key file", err, errlen);
	if (r != RV_OK)
		goto out;
	while (len < sizeof(text)) {
		n = read(fd, text + len, sizeof(text) - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rv_err_set(err, errlen, "cannot read key file %s: %s", path,
				     strerror(errno));
			r = RV_ERR_IO;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > RV_KEY_FILE_MAX) {
		rv_err_set(err, errlen, "key file %s is too large for one key", path);
		r = RV_ERR_MALFORMED;
		goto out;
	}
	r = rv_key_from_base64(text, len, priv);
	if (r != RV_OK) {
		rv_err_set(err, errlen,
			     "key file %s does not hold one base64 private key (%d characters)",
			     path, RV_KEY_B64_LEN);
		goto out;
	}
	r = rv_keypair_from_private(kp, priv);
	if (r != RV_OK)
		rv_err_set(err, errlen, "key file %s: unusable private key", path);
out:
	if (fd >= 0)
		close(fd);
	sodium_memzero(text, sizeof(text));
	sodium_memzero(priv, sizeof(priv));
	return r;
}
