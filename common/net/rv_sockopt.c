#include "rv_sockopt.h"

#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

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
