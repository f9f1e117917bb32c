/* http.c - what anyone who is not an rvpn client sees: an ordinary small web
 * server that answers 404 to every request, including WebSocket upgrades on
 * any path but ours or without our subprotocol.  Nothing names rvpn. */
#include <string.h>

#include "rv_log.h"
#include "rv_wire.h"
#include "server_int.h"

static int rv_http_is_ours(struct lws *wsi, struct rv_server *srv)
{
	char uri[512], proto[128];
	int n;

	n = lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI);
	if (n <= 0 || strcmp(uri, srv->opts->path) != 0)
		return 0;
	n = lws_hdr_copy(wsi, proto, sizeof(proto), WSI_TOKEN_PROTOCOL);
	if (n <= 0 || strstr(proto, RV_WS_SUBPROTOCOL) == NULL)
		return 0;
	return srv->state == RV_SERVER_RUNNING;
}

static int rv_http_not_found(struct lws *wsi)
{
	/* lws builds a minimal HTML body for the status; close afterwards so a
	 * scanner cannot pipeline. */
	if (lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, NULL))
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int rv_http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
			    void *in, size_t len)
{
	struct rv_server *srv;

	switch (reason) {
	case LWS_CALLBACK_HTTP:
		rv_log_debug("http: %s -> 404", in != NULL ? (const char *)in : "?");
		return rv_http_not_found(wsi);
	case LWS_CALLBACK_HTTP_BODY:
		return 0; /* discard */
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		return rv_http_not_found(wsi);
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		srv = rv_server_from_wsi(wsi);
		if (in == NULL || strcmp(in, "websocket") != 0 || !rv_http_is_ours(wsi, srv)) {
			if (lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, NULL))
				return -1;
			return 1; /* we answered; lws completes the transaction */
		}
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
