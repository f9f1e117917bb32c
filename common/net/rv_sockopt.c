#include "rv_sockopt.h"

#include <limits.h>
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
/* Linux's own header: glibc's struct tcp_info stops before
 * tcpi_delivery_rate (kernel 4.9). */
#include <linux/tcp.h>

#include "rv_err.h"

int rv_sockopt_set_nodelay(int fd)
{
	int one = 1;

	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
		return RV_ERR_IO;
	return RV_OK;
}

int rv_sockopt_get_nodelay(int fd, int *on)
{
	int v = 0;
	socklen_t len = sizeof(v);

	if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len) != 0)
		return RV_ERR_IO;
	*on = v != 0;
	return RV_OK;
}

int rv_sockopt_set_notsent_lowat(int fd, int bytes)
{
	if (bytes <= 0)
		return RV_ERR_INVALID_ARG;
	if (setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &bytes, sizeof(bytes)) != 0)
		return RV_ERR_IO;
	return RV_OK;
}

int rv_sockopt_get_notsent_lowat(int fd, int *bytes)
{
	/* The kernel reports an unsigned value; the sysctl default is
	 * UINT_MAX, which an int cannot hold: read it as unsigned. */
	unsigned v = 0;
	socklen_t len = sizeof(v);

	if (getsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &v, &len) != 0)
		return RV_ERR_IO;
	*bytes = v > (unsigned)INT_MAX ? INT_MAX : (int)v;
	return RV_OK;
}

int rv_sockopt_lowat_for_path(uint64_t rate_Bps, uint32_t srtt_us)
{
	uint64_t t = srtt_us / RV_WS_NOTSENT_RTT_DIV, b;

	if (t > RV_WS_NOTSENT_TIME_MAX_US)
		t = RV_WS_NOTSENT_TIME_MAX_US;
	/* rate * t / 1e6 without overflow: rate is below 2^44 (16 TB/s). */
	if (rate_Bps > ((uint64_t)1 << 44))
		rate_Bps = (uint64_t)1 << 44;
	b = rate_Bps * t / 1000000u;
	if (b < RV_WS_NOTSENT_LOWAT)
		return RV_WS_NOTSENT_LOWAT;
	if (b > RV_WS_NOTSENT_LOWAT_MAX)
		return RV_WS_NOTSENT_LOWAT_MAX;
	return (int)b;
}

int rv_sockopt_lowat_init(int fd, struct rv_sockopt_lowat *lw, int64_t now_us)
{
	lw->cur = 0;
	lw->due_us = now_us + RV_WS_NOTSENT_RETUNE_US;
	if (rv_sockopt_set_notsent_lowat(fd, RV_WS_NOTSENT_LOWAT) != RV_OK)
		return RV_ERR_IO;
	lw->cur = RV_WS_NOTSENT_LOWAT;
	return RV_OK;
}

int rv_sockopt_lowat_retune(int fd, struct rv_sockopt_lowat *lw, int64_t now_us)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	int want, diff;

	if (lw->cur <= 0 || now_us < lw->due_us)
		return RV_OK;
	lw->due_us = now_us + RV_WS_NOTSENT_RETUNE_US;
	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0)
		return RV_ERR_IO;
	/* An older kernel fills less: no rate means the floor. */
	if (len < offsetof(struct tcp_info, tcpi_delivery_rate) + sizeof(ti.tcpi_delivery_rate))
		ti.tcpi_delivery_rate = 0;
	want = rv_sockopt_lowat_for_path(ti.tcpi_delivery_rate, ti.tcpi_rtt);
	diff = want > lw->cur ? want - lw->cur : lw->cur - want;
	if (diff <= lw->cur / 8)
		return RV_OK;
	if (rv_sockopt_set_notsent_lowat(fd, want) != RV_OK)
		return RV_ERR_IO;
	lw->cur = want;
	return RV_OK;
}
