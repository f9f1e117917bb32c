/* rv_log.h - leveled logging to stderr.  Lines carry a local timestamp
 * unless stderr goes to journald (JOURNAL_STREAM set), which stamps itself.
 * The program name and level are process-global; set them once in main().
 */
#ifndef RV_LOG_H
#define RV_LOG_H

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

#define rv_log_error(...) rv_log(RV_LOG_ERROR, __VA_ARGS__)
#define rv_log_warn(...) rv_log(RV_LOG_WARN, __VA_ARGS__)
#define rv_log_info(...) rv_log(RV_LOG_INFO, __VA_ARGS__)
#define rv_log_debug(...)                                  \
	do {                                               \
		if (rv_log_get_level() >= RV_LOG_DEBUG)    \
			rv_log(RV_LOG_DEBUG, __VA_ARGS__); \
	} while (0)

#endif
