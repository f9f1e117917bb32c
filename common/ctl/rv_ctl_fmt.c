/* rv_ctl_fmt.c - text, JSON and Prometheus writers (see rv_ctl_fmt.h). */
#include "rv_ctl_fmt.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "rv_err.h"

enum { RV_CTL_W_LINE_MAX = 4096 }; /* one printf call */

void rv_ctl_w_init(struct rv_ctl_w *w, struct rv_buf *b)
{
	w->b = b;
	w->err = b == NULL ? RV_ERR_INVALID_ARG : RV_OK;
}

static int rv_ctl_w_put(struct rv_ctl_w *w, const void *p, size_t len)
{
	int r;

	if (w->err != RV_OK)
		return w->err;
	r = rv_buf_put(w->b, p, len);
	if (r != RV_OK)
		w->err = r;
	return r;
}

int rv_ctl_w_printf(struct rv_ctl_w *w, const char *fmt, ...)
{
	char line[RV_CTL_W_LINE_MAX];
	va_list ap;
	int n;

	if (w->err != RV_OK)
		return w->err;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		w->err = RV_ERR_NO_SPACE;
		return w->err;
	}
	return rv_ctl_w_put(w, line, (size_t)n);
}

/* Length of the valid UTF-8 sequence at p (1..4), 0 if invalid. */
static size_t rv_ctl_utf8_len(const unsigned char *p, size_t left)
{
	size_t n, i;
	uint32_t cp;

	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xe0) == 0xc0) {
		n = 2;
		cp = p[0] & 0x1f;
	} else if ((p[0] & 0xf0) == 0xe0) {
		n = 3;
		cp = p[0] & 0x0f;
	} else if ((p[0] & 0xf8) == 0xf0) {
		n = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	if (n > left)
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	/* Overlong forms, surrogates and beyond U+10FFFF are invalid. */
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

int rv_ctl_w_json_str(struct rv_ctl_w *w, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t before, len, i, n;
	char esc[8];

	if (w->err != RV_OK)
		return w->err;
	if (s == NULL)
		return rv_ctl_w_put(w, "null", 4);
	before = rv_buf_len(w->b);
	len = strlen(s);
	rv_ctl_w_put(w, "\"", 1);
	for (i = 0; i < len && w->err == RV_OK; i += n) {
		n = 1;
		if (p[i] == '"' || p[i] == '\\') {
			esc[0] = '\\';
			esc[1] = (char)p[i];
			rv_ctl_w_put(w, esc, 2);
		} else if (p[i] < 0x20 || p[i] == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", p[i]);
			rv_ctl_w_put(w, esc, 6);
		} else if (p[i] < 0x80) {
			rv_ctl_w_put(w, p + i, 1);
		} else if ((n = rv_ctl_utf8_len(p + i, len - i)) > 0) {
			rv_ctl_w_put(w, p + i, n);
		} else {
			n = 1;
			rv_ctl_w_put(w, "\\ufffd", 6);
		}
	}
	rv_ctl_w_put(w, "\"", 1);
	if (w->err != RV_OK) /* no half string */
		(void)rv_buf_unput(w->b, rv_buf_len(w->b) - before);
	return w->err;
}

int rv_ctl_prom_name_ok(const char *name)
{
	size_t i;

	if (name == NULL || name[0] == '\0' || (name[0] >= '0' && name[0] <= '9'))
		return 0;
	for (i = 0; name[i] != '\0'; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == ':'))
			return 0;
	}
	return 1;
}

int rv_ctl_w_prom_meta(struct rv_ctl_w *w, const char *name, const char *type,
		       const char *help)
{
	if (w->err != RV_OK)
		return w->err;
	if (!rv_ctl_prom_name_ok(name) || type == NULL || help == NULL ||
	    (strcmp(type, "counter") != 0 && strcmp(type, "gauge") != 0) ||
	    strpbrk(help, "\\\n") != NULL) {
		w->err = RV_ERR_INVALID_ARG;
		return w->err;
	}
	return rv_ctl_w_printf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

int rv_ctl_w_prom_val(struct rv_ctl_w *w, const char *name, const char *labels,
		      uint64_t value)
{
	if (w->err != RV_OK)
		return w->err;
	if (!rv_ctl_prom_name_ok(name) || (labels != NULL && strchr(labels, '\n') != NULL)) {
		w->err = RV_ERR_INVALID_ARG;
		return w->err;
	}
	if (labels == NULL || labels[0] == '\0')
		return rv_ctl_w_printf(w, "%s %llu\n", name, (unsigned long long)value);
	return rv_ctl_w_printf(w, "%s{%s} %llu\n", name, labels, (unsigned long long)value);
}

int rv_ctl_w_prom_val_ms(struct rv_ctl_w *w, const char *name, const char *labels,
			 uint64_t ms)
{
	if (w->err != RV_OK)
		return w->err;
	if (!rv_ctl_prom_name_ok(name) || (labels != NULL && strchr(labels, '\n') != NULL)) {
		w->err = RV_ERR_INVALID_ARG;
		return w->err;
	}
	if (labels == NULL || labels[0] == '\0')
		return rv_ctl_w_printf(w, "%s %llu.%03llu\n", name,
				       (unsigned long long)(ms / 1000), (unsigned long long)(ms % 1000));
	return rv_ctl_w_printf(w, "%s{%s} %llu.%03llu\n", name, labels,
			       (unsigned long long)(ms / 1000), (unsigned long long)(ms % 1000));
}

const char *rv_ctl_fmt_duration(uint64_t s, char *out, size_t outlen)
{
	unsigned long long d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60, sec = s % 60;

	if (d > 0)
		snprintf(out, outlen, "%llud%02lluh%02llum%02llus", d, h, m, sec);
	else if (h > 0)
		snprintf(out, outlen, "%lluh%02llum%02llus", h, m, sec);
	else if (m > 0)
		snprintf(out, outlen, "%llum%02llus", m, sec);
	else
		snprintf(out, outlen, "%llus", sec);
	return out;
}

int rv_ctl_w_prom(struct rv_ctl_w *w, const char *name, const char *type, const char *help,
		  uint64_t value)
{
	rv_ctl_w_prom_meta(w, name, type, help);
	return rv_ctl_w_prom_val(w, name, NULL, value);
}
