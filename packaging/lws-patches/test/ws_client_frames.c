/*
 * Check for packaging/lws-patches: a libwebsockets ws client that prints every
 * receive callback (length, first/final fragment, FNV-1a hash of the bytes),
 * every peer close, and sends messages of many lengths (masked, as a client
 * must).  ws_frames_check.py runs it against a scripted server linked with the
 * pristine and the patched lws: the outputs must be identical.
 *   ws_client_frames PORT RX_BUFFER_SIZE
 */
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const size_t tx_lens[] = { 0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 125, 126,
				  127, 128, 1000, 4095, 4096, 65535, 65536, 100001 };
enum { TX_N = sizeof(tx_lens) / sizeof(tx_lens[0]), TX_MAX = 100001 };
static unsigned char txbuf[LWS_PRE + TX_MAX];
static size_t tx_i;
static int done, failed;

static unsigned long long fnv(const unsigned char *p, size_t n)
{
	unsigned long long h = 1469598103934665603ULL;

	while (n--)
		h = (h ^ *p++) * 1099511628211ULL;
	return h;
}

static int cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
	      size_t len)
{
	size_t i, n;

	(void)user;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		printf("established\n");
		lws_callback_on_writable(wsi);
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		printf("rx len=%zu first=%d final=%d binary=%d hash=%016llx\n", len,
		       lws_is_first_fragment(wsi), lws_is_final_fragment(wsi),
		       lws_frame_is_binary(wsi), fnv(in, len));
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE_PONG:
		printf("pong len=%zu hash=%016llx\n", len, fnv(in, len));
		break;
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		printf("peer close len=%zu code=%d\n", len,
		       len >= 2 ? (((unsigned char *)in)[0] << 8) | ((unsigned char *)in)[1] : -1);
		break;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		if (tx_i >= TX_N)
			break;
		n = tx_lens[tx_i];
		for (i = 0; i < n; i++)
			txbuf[LWS_PRE + i] = (unsigned char)(i * 7 + n);
		if (lws_write(wsi, txbuf + LWS_PRE, n, LWS_WRITE_BINARY) < (int)n) {
			failed = 1;
			return -1;
		}
		tx_i++;
		lws_callback_on_writable(wsi);
		break;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		printf("connection error: %s\n", in ? (char *)in : "?");
		failed = 1;
		done = 1;
		break;
	case LWS_CALLBACK_CLIENT_CLOSED:
		printf("closed\n");
		done = 1;
		break;
	default:
		break;
	}
	return 0;
}

static struct lws_protocols protocols[] = {
	{ "frames", cb, 0, 0, 0, NULL, TX_MAX + 16 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

int main(int argc, char **argv)
{
	struct lws_context_creation_info info;
	struct lws_client_connect_info ci;
	struct lws_context *ctx;
	int i;

	if (argc != 3)
		return 2;
	protocols[0].rx_buffer_size = (size_t)atoi(argv[2]);
	lws_set_log_level(LLL_ERR, NULL);
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	ctx = lws_create_context(&info);
	if (!ctx)
		return 1;
	memset(&ci, 0, sizeof(ci));
	ci.context = ctx;
	ci.address = "127.0.0.1";
	ci.port = atoi(argv[1]);
	ci.path = "/";
	ci.host = "127.0.0.1";
	ci.origin = "127.0.0.1";
	ci.protocol = "frames";
	if (!lws_client_connect_via_info(&ci))
		return 1;
	for (i = 0; !done && i < 20000; i++)
		lws_service(ctx, 0);
	lws_context_destroy(ctx);
	printf("sent %zu of %d\n", tx_i, TX_N);
	fflush(stdout);
	return failed || !done;
}
