/* rv_log.h - leveled logging to stderr.  Lines carry a local timestamp
 * unless stderr goes to journald (JOURNAL_STREAM set), which stamps itself.
 * The program name and level are process-global; set them once in main().
 */
#ifndef RV_LOG_H
#define RV_LOG_H

#include <stdint.h>

enum rv_log_level {
	RV_LOG_ERROR = 0,
	RV_LOG_WARN = 1,
	RV_LOG_INFO = 2,
	RV_LOG_DEBUG = 3,
};

void rv_log_init(const char *progname, enum rv_log_level level);
void rv_log_set_level(enum rv_log_level level);
enum rv_log_level rv_log_get_level(void);
void rv_log(enum rv_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Rate limit for log lines a peer can trigger: one state per call site
 * (a static in the caller).  Up to RV_LOG_RL_BURST lines per
 * RV_LOG_RL_INTERVAL_MS window; the first line of a later window is preceded
 * by "N similar messages suppressed". */
enum rv_log_rl_limits {
	RV_LOG_RL_BURST = 5,
	RV_LOG_RL_INTERVAL_MS = 10000,
};

struct rv_log_ratelimit {
	uint64_t window_start_ms; /* 0: never used */
	uint32_t in_window;       /* lines printed in this window */
	uint32_t suppressed;      /* lines dropped since the last printed one */
};

/* The decision alone (testable): 1 = print, 0 = suppress.  On 1,
 * *suppressed_before is how many were dropped since the last printed line
 * (then reset). */
int rv_log_ratelimit_allow(struct rv_log_ratelimit *rl, uint64_t now_ms,
			   uint32_t *suppressed_before);
void rv_log_ratelimited(struct rv_log_ratelimit *rl, enum rv_log_level level,
			const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* rv_log() through a per-site limit. */
#define rv_log_rl(level, ...)                                           \
	do {                                                            \
		static struct rv_log_ratelimit rv_log_rl_site_;         \
		rv_log_ratelimited(&rv_log_rl_site_, (level), __VA_ARGS__); \
	} while (0)

#define rv_log_error(...) rv_log(RV_LOG_ERROR, __VA_ARGS__)
#define rv_log_warn(...) rv_log(RV_LOG_WARN, __VA_ARGS__)
#define rv_log_info(...) rv_log(RV_LOG_INFO, __VA_ARGS__)
#define rv_log_debug(...)                                  \
	do {                                               \
		if (rv_log_get_level() >= RV_LOG_DEBUG)    \
			rv_log(RV_LOG_DEBUG, __VA_ARGS__); \
	} while (0)

#endif
