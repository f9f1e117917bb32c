/* http.c - what anyone who is not an rvpn client sees: an ordinary nginx
 * that answers 404 to every request (400 to a malformed one), including
 * WebSocket upgrades on any path but ours or without exactly our
 * subprotocol.  Every answer has nginx's status line, headers and page,
 * and closes the connection right after it, so no failure differs from
 * another in wording or timing.  Nothing names rvpn.
 *
 * Also protocols[0] of the vhost: every wsi's WSI_DESTROY comes here, which
 * frees its pre-auth slot (preauth.c). */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lws_loop.h"
#include "rv_err.h"
#include "rv_httpreq.h"
#include "rv_log.h"
#include "rv_wire.h"
#include "server_int.h"

/* 1 if list (a Sec-WebSocket-Protocol value: tokens separated by commas
 * and optional whitespace) holds our subprotocol and nothing else. */
static int rv_http_subprotocol_ok(const char *list)
{
	const char *p = list, *tok;
	size_t n, want = strlen(RV_WS_SUBPROTOCOL);
	int found = 0;

	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		tok = p;
		while (*p != '\0' && *p != ',' && *p != ' ' && *p != '\t')
			p++;
		n = (size_t)(p - tok);
		if (n != want || memcmp(tok, RV_WS_SUBPROTOCOL, want) != 0)
			return 0;
		found = 1;
	}
	return found;
}

static int rv_http_is_ours(struct lws *wsi, struct rv_server *srv)
{
	char uri[512], proto[128];
	int n;

	n = lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI);
	if (n <= 0 || strcmp(uri, srv->opts->path) != 0)
		return 0;
	n = lws_hdr_copy(wsi, proto, sizeof(proto), WSI_TOKEN_PROTOCOL);
	if (n <= 0 || !rv_http_subprotocol_ok(proto))
		return 0;
	return srv->state == RV_SERVER_RUNNING;
}

/* The peer of a pre-auth slot, for log lines (IPv4 without ::ffff:). */
static const char *rv_http_peer_str(const struct rv_preauth *p, char *out, size_t len)
{
	static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (p == NULL)
		snprintf(out, len, "?");
	else if (memcmp(p->src, v4mapped, sizeof(v4mapped)) == 0)
		(void)inet_ntop(AF_INET, p->src + 12, out, (socklen_t)len);
	else
		(void)inet_ntop(AF_INET6, p->src, out, (socklen_t)len);
	return out;
}

/* Why an upgrade is not ours, for the log (the answer is the same 404). */
static const char *rv_http_upgrade_why(struct lws *wsi, struct rv_server *srv, const char *up)
{
	char uri[512], proto[128];

	if (up == NULL || strcmp(up, "websocket") != 0)
		return "an upgrade to something other than a WebSocket";
	if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0 ||
	    strcmp(uri, srv->opts->path) != 0)
		return "WebSocket upgrade to an unknown path (does the client URL's path match "
		       "--path?)";
	if (lws_hdr_copy(wsi, proto, sizeof(proto), WSI_TOKEN_PROTOCOL) <= 0 ||
	    !rv_http_subprotocol_ok(proto))
		return "WebSocket upgrade without the rvpn subprotocol (not an rvpn client?)";
	return "WebSocket upgrade while the server is shutting down";
}

/* nginx 1.22 with "server_tokens off" and "keepalive_timeout 0". */
static size_t rv_http_build(char *out, size_t size, enum rv_httpreq_verdict answer, int head)
{
	const char *reason = rv_httpreq_reason(answer);
	char body[256], date[64];
	struct tm tm;
	time_t now = time(NULL);
	int nb, n;

	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	nb = snprintf(body, sizeof(body),
		      "<html>\r\n<head><title>%d %s</title></head>\r\n<body>\r\n"
		      "<center><h1>%d %s</h1></center>\r\n<hr><center>nginx</center>\r\n"
		      "</body>\r\n</html>\r\n", (int)answer, reason, (int)answer, reason);
	n = snprintf(out, size,
		     "HTTP/1.1 %d %s\r\nServer: nginx\r\nDate: %s\r\nContent-Type: text/html\r\n"
		     "Content-Length: %d\r\nConnection: close\r\n\r\n%s", (int)answer, reason,
		     date, nb, head ? "" : body);
	return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

/* Answer once writable; the caller returns 0 and waits for WRITEABLE.  The
 * answer lives in the pre-auth slot: lws's per-session data does not
 * survive the role and protocol changes on the way. */
static void rv_http_answer_soon(struct lws *wsi, enum rv_httpreq_verdict answer, int head)
{
	struct rv_preauth *p = rv_preauth_of(rv_server_from_wsi(wsi), wsi);

	if (p == NULL)
		return; /* timed out meanwhile: being closed */
	if (p->answer == RV_HTTPREQ_VERDICT_NONE) {
		p->answer = answer;
		p->answer_head = head;
	}
	lws_callback_on_writable(wsi);
}

/* WRITEABLE: the whole answer, then close (lws flushes a partial write
 * before closing). */
static int rv_http_write_answer(struct lws *wsi)
{
	struct rv_preauth *p = rv_preauth_of(rv_server_from_wsi(wsi), wsi);
	unsigned char buf[LWS_PRE + 1024];
	size_t n;

	if (p == NULL)
		return -1;
	if (p->answer == RV_HTTPREQ_VERDICT_NONE)
		return 0;
	n = rv_http_build((char *)buf + LWS_PRE, sizeof(buf) - LWS_PRE,
			  (enum rv_httpreq_verdict)p->answer, p->answer_head);
	if (n > 0)
		(void)lws_write(wsi, buf + LWS_PRE, n, LWS_WRITE_RAW);
	return -1;
}

static enum rv_httpreq_verdict rv_http_classify(struct lws *wsi)
{
	char ver[16];

	if (lws_hdr_copy(wsi, ver, sizeof(ver), WSI_TOKEN_HTTP) <= 0)
		ver[0] = '\0';
	/* nginx: HTTP/2 and later on an HTTP/1 connection get 505. */
	if (strncmp(ver, "HTTP/", 5) == 0 && ver[5] >= '2' && ver[5] <= '9')
		return RV_HTTPREQ_VERSION_NOT_SUPPORTED;
	/* HTTP/1.1 requires Host (RFC 9112 3.2); nginx answers 400. */
	if (strcmp(ver, "HTTP/1.1") == 0 && lws_hdr_total_length(wsi, WSI_TOKEN_HOST) <= 0)
		return RV_HTTPREQ_BAD_REQUEST;
	return RV_HTTPREQ_NOT_FOUND;
}

static void rv_http_answer_request(struct lws *wsi)
{
	rv_http_answer_soon(wsi, rv_http_classify(wsi),
			    lws_hdr_total_length(wsi, WSI_TOKEN_HEAD_URI) > 0);
}

/* A wss:// listener's connection that ends before any request: most often
 * a failed TLS handshake (lws says nothing at our level). */
static void rv_http_log_silent_close(struct rv_server *srv, struct rv_preauth *p)
{
	char who[INET6_ADDRSTRLEN];

	if (srv == NULL || p == NULL || srv->opts->cert_file == NULL ||
	    p->state != RV_PREAUTH_HTTP || p->answer != RV_HTTPREQ_VERDICT_NONE ||
	    p->head != NULL)
		return;
	rv_log_rl(RV_LOG_INFO, "%s: closed before a request: no TLS handshake (plain HTTP or "
		  "ws:// to this wss:// listener? the client must use wss://), a client that "
		  "does not trust the certificate, or one that just left",
		  rv_http_peer_str(p, who, sizeof(who)));
}

static int rv_http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
			    void *in, size_t len)
{
	struct rv_server *srv;

	/* protocols[0]: lws reports its sockets here */
	if (RV_LWS_LOOP_IS_POLL_REASON(reason))
		return rv_lws_loop_poll_reason(wsi, reason, in);
	switch (reason) {
	case LWS_CALLBACK_HTTP:
		if (rv_log_get_level() >= RV_LOG_DEBUG)
			rv_log_rl(RV_LOG_DEBUG, "http: %.*s -> decoy", in != NULL ? (int)len : 1,
				  in != NULL ? (const char *)in : "?");
		rv_http_answer_request(wsi);
		return 0;
	case LWS_CALLBACK_HTTP_BODY:
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		return 0; /* discarded; the answer is already on its way */
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return rv_http_write_answer(wsi);
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		srv = rv_server_from_wsi(wsi);
		if (in != NULL && strcmp(in, "websocket") == 0 && rv_http_is_ours(wsi, srv))
			return 0;
		{
			char who[INET6_ADDRSTRLEN];

			rv_log_rl(RV_LOG_INFO, "%s: %s; answered 404 like nginx",
				  rv_http_peer_str(rv_preauth_of(srv, wsi), who, sizeof(who)),
				  rv_http_upgrade_why(wsi, srv, in));
		}
		/* Not ours: the same answer as a plain request.  lws ends the
		 * transaction when this returns, so there is no WRITEABLE turn to
		 * wait for: write now (as lws_return_http_status does) and close;
		 * lws flushes what the socket did not take before closing. */
		rv_http_answer_request(wsi);
		(void)rv_http_write_answer(wsi);
		return -1;
	case LWS_CALLBACK_WSI_DESTROY:
		srv = rv_server_from_wsi(wsi);
		rv_http_log_silent_close(srv, rv_preauth_of(srv, wsi));
		rv_preauth_release(rv_preauth_of(srv, wsi));
		return 0;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

const struct lws_protocols rv_server_http_protocol = {
	.name = "http",
	.callback = rv_http_callback,
};

/* What lws's HTTP parser gives up on (unknown method, CONNECT, garbage)
 * falls back to this raw protocol with the bytes read so far; rv_httpreq
 * judges them as nginx would, once it can. */
static void rv_http_raw_rx(struct lws *wsi, const void *in, size_t len)
{
	struct rv_preauth *p = rv_preauth_of(rv_server_from_wsi(wsi), wsi);
	enum rv_httpreq_verdict v = RV_HTTPREQ_VERDICT_NONE;

	if (p == NULL || p->answer != RV_HTTPREQ_VERDICT_NONE)
		return; /* answered: the rest (a body) is ignored */
	if (p->head == NULL && in != NULL && len >= 2 && ((const uint8_t *)in)[0] == 0x16 &&
	    ((const uint8_t *)in)[1] == 0x03) {
		char who[INET6_ADDRSTRLEN];

		rv_log_rl(RV_LOG_INFO, "%s: TLS handshake to a plain ws:// listener: is the "
			  "client using wss://? (use ws://, or give the server --cert); answered "
			  "400 like nginx", rv_http_peer_str(p, who, sizeof(who)));
	}
	if (p->head == NULL)
		p->head = rv_buf_new(RV_HTTPREQ_HEAD_MAX);
	if (p->head == NULL) {
		rv_http_answer_soon(wsi, RV_HTTPREQ_BAD_REQUEST, 0);
		return;
	}
	if (len > rv_buf_room(p->head))
		len = rv_buf_room(p->head); /* the judge gives 400 at the cap */
	if (in != NULL && len > 0)
		(void)rv_buf_put(p->head, in, len);
	if (rv_httpreq_judge(p->head, &v) == RV_OK)
		rv_http_answer_soon(wsi, v, 0);
}

static int rv_http_raw_callback(struct lws *wsi, enum lws_callback_reasons reason,
				void *user, void *in, size_t len)
{
	(void)user;
	switch (reason) {
	case LWS_CALLBACK_RAW_ADOPT:
		return 0;
	case LWS_CALLBACK_RAW_RX:
		rv_http_raw_rx(wsi, in, len);
		return 0;
	case LWS_CALLBACK_RAW_WRITEABLE:
		return rv_http_write_answer(wsi);
	default:
		return 0;
	}
}

const struct lws_protocols rv_server_http_raw_protocol = {
	.name = RV_SERVER_HTTP_RAW_PROTOCOL,
	.callback = rv_http_raw_callback,
};
