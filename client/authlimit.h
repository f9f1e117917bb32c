/* authlimit.h - throttling of failed SOCKS logins per source address
 * (owner: client helper).
 *
 * After RV_AUTHLIMIT_MAX_FAILS failed RFC 1929 logins from one source
 * within RV_AUTHLIMIT_WINDOW_MS, that source is refused at accept for
 * RV_AUTHLIMIT_BLOCK_MS (failures while blocked cannot happen: nothing is
 * read).  Sources are IPv4 addresses or IPv6 /64 prefixes (one host owns a
 * whole /64).  The table is bounded (RV_AUTHLIMIT_SLOTS); when full, the
 * least recently seen unblocked entry is replaced, else the block that ends
 * first.  Logging is rate-limited: one line per source per window (first
 * failure, block), plus one summary line per window with counts.
 *
 * The table lives inside struct rv_client; it owns one loop timer (the
 * summary), freed by rv_authlimit_cleanup().
 */
#ifndef RV_CLIENT_AUTHLIMIT_H
#define RV_CLIENT_AUTHLIMIT_H

#include <stdint.h>
#include <sys/socket.h>

#include "rv_loop.h"

enum rv_authlimit_limits {
	RV_AUTHLIMIT_SLOTS = 256,
	RV_AUTHLIMIT_MAX_FAILS = 5,
	RV_AUTHLIMIT_WINDOW_MS = 60000,
	RV_AUTHLIMIT_BLOCK_MS = 60000,
	RV_AUTHLIMIT_KEY_LEN = 9, /* family byte + 8 address bytes (v4: 4) */
};

enum rv_authlimit_slot_state {
	RV_AUTHLIMIT_FREE = 0,
	RV_AUTHLIMIT_COUNTING = 1, /* failures within the window */
	RV_AUTHLIMIT_BLOCKED = 2,  /* refused until until_ms */
};

struct rv_authlimit_slot {
	enum rv_authlimit_slot_state state;
	uint8_t key[RV_AUTHLIMIT_KEY_LEN];
	uint32_t fails;         /* in the current window */
	uint64_t window_start;  /* loop ms */
	uint64_t until_ms;      /* BLOCKED: end of the block */
	uint64_t last_seen;
};

struct rv_authlimit {
	struct rv_loop *loop;
	struct rv_loop_timer *summary;
	int summary_armed;
	uint64_t n_failed, n_refused; /* since the last summary */
	uint32_t n_sources;           /* sources that failed since then */
	struct rv_authlimit_slot slots[RV_AUTHLIMIT_SLOTS];
};

int rv_authlimit_init(struct rv_authlimit *al, struct rv_loop *loop);
void rv_authlimit_cleanup(struct rv_authlimit *al);
/* 1 if this source is blocked now (counted as refused), else 0. */
int rv_authlimit_blocked(struct rv_authlimit *al, const struct sockaddr *sa, const char *peer);
/* A failed login from sa (peer: its text form, for the log). */
void rv_authlimit_failed(struct rv_authlimit *al, const struct sockaddr *sa, const char *peer);

#endif
