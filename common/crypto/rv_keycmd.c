/* rv_keycmd.c - genkey / pubkey / version (see rv_keycmd.h). */
#include "rv_keycmd.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "rv_err.h"
#include "rv_keys.h"

/* A private key is 44 chars; allow generous surrounding whitespace but
 * refuse anything large enough to be something else entirely. */
enum { RV_KEYCMD_INPUT_MAX = 1024 };

static void rv_keycmd_tighten_mode(FILE *out, FILE *err)
{
	struct stat st;
	int fd = fileno(out);

	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		return;
	if ((st.st_mode & 077) == 0)
		return;
	if (fchmod(fd, st.st_mode & 0700) == 0)
		fprintf(err, "note: output file was readable by others; its mode is now 0%o\n",
			(unsigned)(st.st_mode & 0700));
	else
		fprintf(err, "warning: output file is readable by others and its mode could "
			     "not be changed; rvpn will refuse to load it\n");
}

int rv_keycmd_genkey(FILE *out, FILE *err)
{
	struct rv_keypair kp;
	char text[RV_KEY_B64_SIZE];
	int ret;

	ret = rv_keypair_generate(&kp);
	if (ret != RV_OK) {
		fprintf(err, "genkey: %s\n", rv_err_str(ret));
		goto out;
	}
	rv_keycmd_tighten_mode(out, err);
	rv_key_to_base64(kp.priv, text);
	if (fprintf(out, "%s\n", text) < 0 || fflush(out) != 0) {
		fprintf(err, "genkey: cannot write the key to standard output\n");
		ret = RV_ERR_IO;
	}
out:
	sodium_memzero(text, sizeof(text));
	rv_keypair_wipe(&kp);
	return ret;
}

int rv_keycmd_pubkey(FILE *in, FILE *out, FILE *err)
{
	char input[RV_KEYCMD_INPUT_MAX + 1];
	uint8_t priv[RV_KEY_LEN];
	struct rv_keypair kp;
	char text[RV_KEY_B64_SIZE];
	size_t n;
	int ret;

	memset(&kp, 0, sizeof(kp));
	n = fread(input, 1, sizeof(input), in);
	if (ferror(in)) {
		fprintf(err, "pubkey: cannot read standard input\n");
		ret = RV_ERR_IO;
		goto out;
	}
	if (n > RV_KEYCMD_INPUT_MAX) {
		fprintf(err, "pubkey: standard input is too long for a private key "
			     "(expected one 44-character base64 key)\n");
		ret = RV_ERR_MALFORMED;
		goto out;
	}
	ret = rv_key_from_base64(input, n, priv);
	if (ret != RV_OK) {
		fprintf(err, "pubkey: standard input does not hold a private key "
			     "(expected one 44-character base64 key, as printed by genkey)\n");
		goto out;
	}
	ret = rv_keypair_from_private(&kp, priv);
	if (ret != RV_OK) {
		fprintf(err, "pubkey: %s\n", rv_err_str(ret));
		goto out;
	}
	rv_key_to_base64(kp.pub, text);
	if (fprintf(out, "%s\n", text) < 0 || fflush(out) != 0) {
		fprintf(err, "pubkey: cannot write to standard output\n");
		ret = RV_ERR_IO;
	}
out:
	sodium_memzero(input, sizeof(input));
	sodium_memzero(priv, sizeof(priv));
	rv_keypair_wipe(&kp);
	return ret;
}

/* pubkey -k FILE: the key file is read by this process, so
 * "sudo rvpn-server pubkey -k /etc/rvpn/server.key" works where a shell
 * redirect would run without the privilege.  Same checks as -k elsewhere. */
static int rv_keycmd_pubkey_file(const char *path, FILE *out, FILE *err)
{
	struct rv_keypair kp;
	char text[RV_KEY_B64_SIZE], msg[512];
	int ret;

	ret = rv_key_load_private_file(path, &kp, msg, sizeof(msg));
	if (ret != RV_OK) {
		fprintf(err, "pubkey: %s\n", msg);
		return ret;
	}
	rv_key_to_base64(kp.pub, text);
	if (fprintf(out, "%s\n", text) < 0 || fflush(out) != 0) {
		fprintf(err, "pubkey: cannot write to standard output\n");
		ret = RV_ERR_IO;
	}
	rv_keypair_wipe(&kp);
	return ret;
}

int rv_keycmd_dispatch(int argc, char **argv, const char *prog, int *exit_code)
{
	const char *key_file = NULL;
	int ret;

	if (argc < 2)
		return 0;
	if (strcmp(argv[1], "genkey") != 0 && strcmp(argv[1], "pubkey") != 0)
		return 0;
	if (strcmp(argv[1], "pubkey") == 0 && argc == 4 && strcmp(argv[2], "-k") == 0)
		key_file = argv[3];
	else if (argc > 2) {
		fprintf(stderr, "%s %s: unexpected argument '%s' (usage: %s genkey; %s pubkey "
				"[-k KEYFILE])\n", prog, argv[1], argv[2], prog, prog);
		*exit_code = 2;
		return 1;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "%s: libsodium failed to initialise\n", prog);
		*exit_code = 1;
		return 1;
	}
	if (strcmp(argv[1], "genkey") == 0)
		ret = rv_keycmd_genkey(stdout, stderr);
	else if (key_file != NULL)
		ret = rv_keycmd_pubkey_file(key_file, stdout, stderr);
	else
		ret = rv_keycmd_pubkey(stdin, stdout, stderr);
	/* An unusable key (input) is a usage/config error, like everywhere. */
	*exit_code = ret == RV_OK ? 0 : ret == RV_ERR_IO || ret == RV_ERR_NOMEM ||
		     ret == RV_ERR_CRYPTO ? 1 : 2;
	return 1;
}

void rv_keycmd_print_version(FILE *out, const char *prog, const char *extra)
{
	fprintf(out, "%s %s (libsodium %s%s%s)\n", prog, RVPN_VERSION,
		sodium_version_string(), extra != NULL ? ", " : "", extra != NULL ? extra : "");
}
