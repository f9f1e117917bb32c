/* rv_rlimit.h - process limits both programs adjust at start-up. */
#ifndef RV_RLIMIT_H
#define RV_RLIMIT_H

enum rv_rlimit_defaults {
	/* Each relayed connection costs a descriptor; the usual soft limit
	 * of 1024 would cap a program near 1000 streams. */
	RV_RLIMIT_NOFILE_WANT = 65536,
	/* Buffers at least this large are mmap()ed and go back to the kernel
	 * when freed (see rv_rlimit_pin_mmap_threshold). */
	RV_RLIMIT_MMAP_THRESHOLD = 1024 * 1024,
};

/* Raise the soft RLIMIT_NOFILE towards want (never above the hard limit);
 * a failure is logged at debug level only. */
void rv_rlimit_raise_nofile(unsigned long want);

/* Pin glibc's mmap threshold at RV_RLIMIT_MMAP_THRESHOLD.  Left dynamic,
 * glibc raises it after the first large free, so a grown stream buffer
 * (up to a 16 MiB window) is later served from the heap and its pages stay
 * resident after the stream drains: measured 36 MiB RSS for one stalled
 * stream instead of 12. */
void rv_rlimit_pin_mmap_threshold(void);

#endif
