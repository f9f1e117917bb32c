#include "rv_rlimit.h"

#include <errno.h>
#include <malloc.h>
#include <string.h>
#include <sys/resource.h>

#include "rv_log.h"

void rv_rlimit_raise_nofile(unsigned long want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		rv_log_debug("cannot raise the descriptor limit: %s", strerror(errno));
}

void rv_rlimit_pin_mmap_threshold(void)
{
	if (mallopt(M_MMAP_THRESHOLD, RV_RLIMIT_MMAP_THRESHOLD) != 1)
		rv_log_debug("cannot set the malloc mmap threshold");
}
