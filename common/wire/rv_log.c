#include "rv_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static const char *rv_log_prog = "rvpn";
static enum rv_log_level rv_log_level_cur = RV_LOG_INFO;

void rv_log_init(const char *progname, enum rv_log_level level)
{
	if (progname != NULL)
		rv_log_prog = progname;
	rv_log_level_cur = level;
}

void rv_log_set_level(enum rv_log_level level)
{
	rv_log_level_cur = level;
}

enum rv_log_level rv_log_get_level(void)
{
	return rv_log_level_cur;
}

static int rv_log_to_journal(void)
{
	static int cached = -1;

	if (cached < 0)
		cached = getenv("JOURNAL_STREAM") != NULL;
	return cached;
}

void rv_log(enum rv_log_level level, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	char line[1024];
	va_list ap;
	struct timespec ts;
	struct tm tm;
	char stamp[32] = "";

	if (level > rv_log_level_cur)
		return;
	/* journald stamps lines itself; add our own only for a tty or file. */
	if (!rv_log_to_journal()) {
		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S ", &tm);
	}
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s%s[%ld]: %s: %s\n", stamp, rv_log_prog, (long)getpid(),
		names[level], line);
}
