/* client.c - rvpn-client run loop (work in progress). */
#include "client.h"

#include "rv_err.h"
#include "rv_log.h"

int rv_client_run(const struct rv_client_opts *opts)
{
	(void)opts;
	rv_log_error("the tunnel is not implemented yet");
	return RV_ERR_UNSUPPORTED;
}
