/* fuzz_handshake_responder.c - libFuzzer target: arbitrary bytes as a
 * handshake message 1 to rv_handshake_server_read_init, with a fixed server
 * key.  An input that is accepted (the seed corpus holds valid ones) goes on
 * through rv_handshake_server_respond, so the responder's whole path up to
 * the ratchet is covered.  Owner: crypto helper. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rv_buf.h"
#include "rv_err.h"
#include "rv_handshake.h"
#include "rv_keys.h"
#include "rv_ratchet.h"
#include "rv_wire.h"

/* Fixed server private key; gen_handshake_corpus.c makes valid seeds for it. */
static const uint8_t fuzz_server_priv[RV_KEY_LEN] = {
	0x58, 0x9f, 0x2a, 0x4c, 0x11, 0xe3, 0x7d, 0x90, 0x05, 0xb6, 0x42, 0x8e,
	0x63, 0x1f, 0xd7, 0x2b, 0x9c, 0x70, 0x34, 0xa8, 0xef, 0x16, 0x5d, 0x83,
	0xc1, 0x0a, 0x77, 0x3e, 0xb2, 0x49, 0x6f, 0x54,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rv_keypair server;
	struct rv_handshake hs, snap;
	struct rv_hs_server_params params = {
		.keepalive_s = RV_KEEPALIVE_DEFAULT_S,
		.max_streams = RV_MAX_STREAMS_DEFAULT,
		.stream_window = RV_STREAM_WINDOW_DEFAULT,
		.max_message = RV_MSG_MAX,
	};
	struct rv_ratchet *ratchet = NULL;
	struct rv_buf out;
	int r;

	if (rv_keypair_from_private(&server, fuzz_server_priv) != RV_OK)
		__builtin_trap();
	memset(&hs, 0xa5, sizeof(hs));
	memcpy(&snap, &hs, sizeof(hs));
	r = rv_handshake_server_read_init(&hs, &server, data, size);
	if (r != RV_OK) {
		/* A rejected message must leave the state untouched. */
		if (memcmp(&hs, &snap, sizeof(hs)) != 0)
			__builtin_trap();
		goto out;
	}
	if (size != RV_HS_INIT_MSG_LEN)
		__builtin_trap(); /* accepted a message of the wrong length */
	rv_buf_init(&out, RV_MSG_MAX);
	r = rv_handshake_server_respond(&hs, &params, 0, &out, &ratchet);
	if (r != RV_OK || rv_buf_len(&out) != RV_HS_RESP_MSG_LEN || ratchet == NULL)
		__builtin_trap();
	rv_ratchet_free(ratchet);
	rv_buf_cleanup(&out);
out:
	rv_handshake_wipe(&hs);
	rv_keypair_wipe(&server);
	return 0;
}
