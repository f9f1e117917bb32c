/* rv_rlimit.h - process limits both programs adjust at start-up. */
#ifndef RV_RLIMIT_H
#define RV_RLIMIT_H

enum rv_rlimit_defaults {
	/* Each relayed connection costs two descriptors (the socket and the
	 * event loop's dup of it); the usual soft limit of 1024 would cap a
	 * program near 500 streams. */
	RV_RLIMIT_NOFILE_WANT = 65536,
};

/* Raise the soft RLIMIT_NOFILE towards want (never above the hard limit);
 * a failure is logged at debug level only. */
void rv_rlimit_raise_nofile(unsigned long want);

#endif
