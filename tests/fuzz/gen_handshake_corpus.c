/* gen_handshake_corpus.c - writes the seed corpus of fuzz_handshake_responder:
 * valid handshake message 1 files for the target's fixed server key, plus a
 * few near-misses.  Not built by default; regenerate with
 *   cc -std=c17 -D_GNU_SOURCE -Icommon tests/fuzz/gen_handshake_corpus.c \
 *      BUILD/common/librvpn_common.a -lsodium -lcares -linih -lm -o gen
 *   ./gen tests/fuzz/corpus/fuzz_handshake_responder
 * Owner: crypto helper. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_handshake_responder.c"

static int write_file(const char *dir, const char *name, const uint8_t *p, size_t len)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(p, 1, len, f) != len || fclose(f) != 0) {
		perror(path);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct rv_keypair server, client;
	struct rv_handshake c, s;
	struct rv_buf out;
	uint8_t msg[RV_HS_INIT_MSG_LEN];
	char name[64];
	int i, rc = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	if (rv_keypair_from_private(&server, fuzz_server_priv) != RV_OK)
		return 1;
	rv_buf_init(&out, RV_MSG_MAX);
	for (i = 0; i < 3; i++) {
		rv_buf_reset(&out);
		if (rv_keypair_generate(&client) != RV_OK ||
		    rv_handshake_client_start(&c, &client, server.pub, 0, &out) != RV_OK ||
		    rv_buf_len(&out) != RV_HS_INIT_MSG_LEN)
			return 1;
		memcpy(msg, rv_buf_ptr(&out), sizeof(msg));
		/* Check it really is accepted by the target's key. */
		if (rv_handshake_server_read_init(&s, &server, msg, sizeof(msg)) != RV_OK)
			return 1;
		snprintf(name, sizeof(name), "valid-%d", i);
		rc |= write_file(argv[1], name, msg, sizeof(msg));
		if (i == 0) {
			rc |= write_file(argv[1], "truncated", msg, sizeof(msg) - 1);
			msg[1] ^= 0x02; /* protocol version 3 */
			rc |= write_file(argv[1], "bad-version", msg, sizeof(msg));
			msg[1] ^= 0x02;
			msg[sizeof(msg) - 1] ^= 0x01; /* tag */
			rc |= write_file(argv[1], "bad-tag", msg, sizeof(msg));
		}
		rv_handshake_wipe(&c);
		rv_handshake_wipe(&s);
		rv_keypair_wipe(&client);
	}
	rv_buf_cleanup(&out);
	rv_keypair_wipe(&server);
	return rc;
}
