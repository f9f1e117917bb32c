/* rv_ctl_fmt.h - writers for status answers: text, JSON and the Prometheus
 * text exposition format, appended to a caller-owned rv_buf.
 *
 * A writer carries a sticky error: after the first failure (the buffer's cap
 * reached, bad argument) every later call does nothing, so a status function
 * writes everything and checks w->err once.  A failed call leaves the buffer
 * as it was (no partial line or value).
 */
#ifndef RV_CTL_FMT_H
#define RV_CTL_FMT_H

#include <stddef.h>
#include <stdint.h>

#include "rv_buf.h"

struct rv_ctl_w {
	struct rv_buf *b;  /* borrowed */
	int err;           /* first failure, 0 while fine */
};

void rv_ctl_w_init(struct rv_ctl_w *w, struct rv_buf *b);
/* printf-style text. */
int rv_ctl_w_printf(struct rv_ctl_w *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* A JSON string: quotes, escapes for '"', '\\' and control bytes (\u00XX);
 * bytes >= 0x80 are passed through if s is valid UTF-8, else replaced by
 * "\ufffd" per bad byte.  NULL is written as null. */
int rv_ctl_w_json_str(struct rv_ctl_w *w, const char *s);
/* Prometheus: "# HELP name help\n# TYPE name type\n".  name must match
 * [a-zA-Z_:][a-zA-Z0-9_:]*, type one of counter, gauge. */
int rv_ctl_w_prom_meta(struct rv_ctl_w *w, const char *name, const char *type,
		       const char *help);
/* Prometheus: "name{labels} value\n"; labels NULL or "" for none, else
 * 'key="value",...' already escaped by the caller. */
int rv_ctl_w_prom_val(struct rv_ctl_w *w, const char *name, const char *labels,
		      uint64_t value);
/* Prometheus: a duration in seconds from milliseconds ("name 1.234"). */
int rv_ctl_w_prom_val_ms(struct rv_ctl_w *w, const char *name, const char *labels,
			 uint64_t ms);
/* meta and one unlabelled value. */
int rv_ctl_w_prom(struct rv_ctl_w *w, const char *name, const char *type, const char *help,
		  uint64_t value);

/* "3d04h05m06s", "5m00s", "42s" (seconds); out of at least 24 bytes. */
const char *rv_ctl_fmt_duration(uint64_t s, char *out, size_t outlen);

/* 1 if name is a valid Prometheus metric name. */
int rv_ctl_prom_name_ok(const char *name);

#endif
