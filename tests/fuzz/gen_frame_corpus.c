/* gen_frame_corpus.c - writes the seed corpus of fuzz_frame_decode: one file
 * per frame type and address type, plus several frames back to back.
 * Owner: frames helper.  Not built by CMake; run by hand after a wire change:
 *   cc -std=c17 -Icommon tests/fuzz/gen_frame_corpus.c BUILD/common/librvpn_common.a \
 *      -lsodium -o /tmp/gen && /tmp/gen tests/fuzz/corpus/fuzz_frame_decode */
#include <stdio.h>
#include <string.h>
#include "rv_addr.h"
#include "rv_frame.h"

static const char *dir = ".";

static void out(const char *name, const struct rv_frame *fs, int n)
{
	struct rv_buf b;
	char path[512];
	FILE *fp;

	rv_buf_init(&b, 1 << 20);
	for (int i = 0; i < n; i++)
		if (rv_frame_encode(&b, &fs[i]) != 0) { fprintf(stderr, "bad %s\n", name); return; }
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fp = fopen(path, "wb")) == NULL) { perror(path); return; }
	fwrite(rv_buf_ptr(&b), 1, rv_buf_len(&b), fp);
	fclose(fp);
	rv_buf_cleanup(&b);
}

int main(int argc, char **argv)
{
	struct rv_frame f[4];

	if (argc > 1)
		dir = argv[1];
	const uint8_t v4[4] = { 93, 184, 216, 34 }, v6[16] = { 0x20, 1, 0xd, 0xb8, [15] = 1 };

	memset(f, 0, sizeof(f));
	f[0].type = RV_FRAME_PROXY_CONNECT; f[0].stream_id = 1; f[0].u.connect.window = 524288;
	rv_addr_set_ipv4(&f[0].u.connect.addr, v4, 80);
	out("connect_ipv4", f, 1);
	rv_addr_set_ipv6(&f[0].u.connect.addr, v6, 443);
	out("connect_ipv6", f, 1);
	rv_addr_set_domain(&f[0].u.connect.addr, "example.com", 11, 443);
	out("connect_domain", f, 1);

	memset(f, 0, sizeof(f));
	f[0].type = RV_FRAME_PROXY_RESPONSE; f[0].stream_id = 1; f[0].u.response.status = RV_STATUS_OK;
	rv_addr_set_ipv4(&f[0].u.response.bound, v4, 40000);
	out("response_ok_ipv4", f, 1);
	f[0].u.response.status = RV_STATUS_CONNECTION_REFUSED;
	rv_addr_set_ipv6(&f[0].u.response.bound, v6, 0);
	out("response_refused_ipv6", f, 1);
	rv_addr_set_domain(&f[0].u.response.bound, "h", 1, 1);
	out("response_domain", f, 1);

	memset(f, 0, sizeof(f));
	f[0].type = RV_FRAME_PROXY_DATA; f[0].stream_id = 3;
	f[0].u.data.data = (const uint8_t *)"GET / HTTP/1.1\r\n\r\n"; f[0].u.data.len = 18;
	out("data", f, 1);

	memset(f, 0, sizeof(f));
	f[0].type = RV_FRAME_PROXY_FIN; f[0].stream_id = 3;
	out("fin", f, 1);
	f[0].type = RV_FRAME_PROXY_RESET; f[0].u.reset.reason = RV_RESET_FLOW_CONTROL;
	out("reset", f, 1);
	memset(f, 0, sizeof(f));
	f[0].type = RV_FRAME_WINDOW_UPDATE; f[0].stream_id = 3; f[0].u.window_update.credit = 262144;
	out("window_update", f, 1);
	memset(f, 0, sizeof(f));
	f[0].type = RV_FRAME_PING; f[0].u.ping.opaque = 0x0123456789abcdefull;
	out("ping", f, 1);
	f[0].type = RV_FRAME_PONG;
	out("pong", f, 1);
	memset(f, 0, sizeof(f));
	f[0].type = RV_FRAME_GOAWAY; f[0].u.goaway.last_stream = 7; f[0].u.goaway.reason = RV_GOAWAY_SHUTDOWN;
	out("goaway", f, 1);

	/* Datagrams (§6.11, §6.12): every address type, an empty payload. */
	memset(f, 0, sizeof(f));
	f[0].type = RV_FRAME_DATAGRAM; f[0].u.datagram.assoc = 1;
	rv_addr_set_ipv4(&f[0].u.datagram.addr, v4, 53);
	f[0].u.datagram.data = (const uint8_t *)"\x12\x34\x01\x00"; f[0].u.datagram.len = 4;
	out("datagram_ipv4", f, 1);
	rv_addr_set_ipv6(&f[0].u.datagram.addr, v6, 443);
	f[0].u.datagram.len = 0;
	out("datagram_ipv6_empty", f, 1);
	rv_addr_set_domain(&f[0].u.datagram.addr, "dns.example", 11, 53);
	f[0].u.datagram.len = 3;
	out("datagram_domain", f, 1);
	memset(f, 0, sizeof(f));
	f[0].type = RV_FRAME_DATAGRAM_CLOSE; f[0].u.datagram_close.assoc = 1;
	f[0].u.datagram_close.reason = RV_DGRAM_CLOSE_IDLE_TIMEOUT;
	out("datagram_close", f, 1);
	/* A datagram ahead of DATA, as the sender's priority puts them. */
	memset(f, 0, sizeof(f));
	f[0].type = RV_FRAME_DATAGRAM; f[0].u.datagram.assoc = 2;
	rv_addr_set_ipv4(&f[0].u.datagram.addr, v4, 4500);
	f[0].u.datagram.data = (const uint8_t *)"quic"; f[0].u.datagram.len = 4;
	f[1].type = RV_FRAME_PROXY_DATA; f[1].stream_id = 5;
	f[1].u.data.data = (const uint8_t *)"bulk"; f[1].u.data.len = 4;
	f[2].type = RV_FRAME_DATAGRAM_CLOSE; f[2].u.datagram_close.assoc = 2;
	f[2].u.datagram_close.reason = RV_DGRAM_CLOSE_NORMAL;
	out("multi_datagram", f, 3);

	/* Several frames back to back, as in a real ratchet plaintext. */
	memset(f, 0, sizeof(f));
	f[0].type = RV_FRAME_WINDOW_UPDATE; f[0].stream_id = 5; f[0].u.window_update.credit = 1;
	f[1].type = RV_FRAME_PROXY_DATA; f[1].stream_id = 5;
	f[1].u.data.data = (const uint8_t *)"hello"; f[1].u.data.len = 5;
	f[2].type = RV_FRAME_PROXY_FIN; f[2].stream_id = 5;
	f[3].type = RV_FRAME_PONG; f[3].u.ping.opaque = 1;
	out("multi", f, 4);
	return 0;
}
