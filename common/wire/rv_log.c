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

static void rv_log_v(enum rv_log_level level, const char *fmt, va_list ap)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	char line[1024];
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
	vsnprintf(line, sizeof(line), fmt, ap);
	fprintf(stderr, "%s%s[%ld]: %s: %s\n", stamp, rv_log_prog, (long)getpid(),
		names[level], line);
}

void rv_log(enum rv_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rv_log_v(level, fmt, ap);
	va_end(ap);
}

int rv_log_ratelimit_allow(struct rv_log_ratelimit *rl, uint64_t now_ms,
			   uint32_t *suppressed_before)
{
	*suppressed_before = 0;
	if (rl->window_start_ms == 0 || now_ms - rl->window_start_ms >= RV_LOG_RL_INTERVAL_MS) {
		rl->window_start_ms = now_ms != 0 ? now_ms : 1;
		rl->in_window = 0;
	}
	if (rl->in_window >= RV_LOG_RL_BURST) {
		if (rl->suppressed < UINT32_MAX)
			rl->suppressed++;
		return 0;
	}
	rl->in_window++;
	*suppressed_before = rl->suppressed;
	rl->suppressed = 0;
	return 1;
}

void rv_log_ratelimited(struct rv_log_ratelimit *rl, enum rv_log_level level,
			const char *fmt, ...)
{
	struct timespec ts;
	uint32_t dropped;
	va_list ap;

	if (level > rv_log_level_cur)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (!rv_log_ratelimit_allow(rl, (uint64_t)ts.tv_sec * 1000u +
					    (uint64_t)ts.tv_nsec / 1000000u, &dropped))
		return;
	if (dropped > 0)
		rv_log(level, "%u similar messages suppressed", dropped);
	va_start(ap, fmt);
	rv_log_v(level, fmt, ap);
	va_end(ap);
}
