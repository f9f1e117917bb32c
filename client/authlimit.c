/* authlimit.c - failed SOCKS login throttling per source (see authlimit.h). */
#include "authlimit.h"

#include <netinet/in.h>
#include <string.h>

#include "rv_log.h"

static void rv_authlimit_key(const struct sockaddr *sa, uint8_t key[RV_AUTHLIMIT_KEY_LEN])
{
	memset(key, 0, RV_AUTHLIMIT_KEY_LEN);
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			key[0] = 4;
			memcpy(key + 1, s6->sin6_addr.s6_addr + 12, 4);
		} else {
			key[0] = 6; /* the /64 */
			memcpy(key + 1, s6->sin6_addr.s6_addr, 8);
		}
	} else if (sa->sa_family == AF_INET) {
		key[0] = 4;
		memcpy(key + 1, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	}
}

static void rv_authlimit_on_summary(struct rv_loop_timer *t, void *arg)
{
	struct rv_authlimit *al = arg;

	(void)t;
	al->summary_armed = 0;
	if (al->n_failed == 0 && al->n_refused == 0)
		return;
	rv_log_warn("SOCKS logins in the last %d s: %llu failed, %llu connections refused "
		    "while throttled, from %u source(s)",
		    RV_AUTHLIMIT_WINDOW_MS / 1000, (unsigned long long)al->n_failed,
		    (unsigned long long)al->n_refused, al->n_sources);
	al->n_failed = al->n_refused = 0;
	al->n_sources = 0;
}

static void rv_authlimit_arm(struct rv_authlimit *al)
{
	if (al->summary_armed)
		return;
	al->summary_armed = 1;
	rv_loop_timer_set(al->summary, RV_AUTHLIMIT_WINDOW_MS);
}

int rv_authlimit_init(struct rv_authlimit *al, struct rv_loop *loop)
{
	memset(al, 0, sizeof(*al));
	al->loop = loop;
	return rv_loop_timer_new(loop, rv_authlimit_on_summary, al, &al->summary);
}

void rv_authlimit_cleanup(struct rv_authlimit *al)
{
	if (al->loop == NULL)
		return;
	rv_authlimit_on_summary(al->summary, al); /* the last counts */
	rv_loop_timer_free(al->summary);
	al->summary = NULL;
	al->loop = NULL;
}

/* Expire a slot's window or block as of now. */
static void rv_authlimit_age(struct rv_authlimit_slot *s, uint64_t now)
{
	if (s->state == RV_AUTHLIMIT_BLOCKED && now >= s->until_ms)
		s->state = RV_AUTHLIMIT_FREE;
	else if (s->state == RV_AUTHLIMIT_COUNTING && now - s->window_start >= RV_AUTHLIMIT_WINDOW_MS)
		s->state = RV_AUTHLIMIT_FREE;
}

static struct rv_authlimit_slot *rv_authlimit_find(struct rv_authlimit *al,
						   const uint8_t key[RV_AUTHLIMIT_KEY_LEN],
						   uint64_t now)
{
	size_t i;

	for (i = 0; i < RV_AUTHLIMIT_SLOTS; i++) {
		struct rv_authlimit_slot *s = &al->slots[i];

		rv_authlimit_age(s, now);
		if (s->state != RV_AUTHLIMIT_FREE && memcmp(s->key, key, RV_AUTHLIMIT_KEY_LEN) == 0)
			return s;
	}
	return NULL;
}

/* A slot for a new source: a free one, else the least recently seen
 * counting one, else the block that ends first. */
static struct rv_authlimit_slot *rv_authlimit_take(struct rv_authlimit *al)
{
	struct rv_authlimit_slot *counting = NULL, *blocked = NULL;
	size_t i;

	for (i = 0; i < RV_AUTHLIMIT_SLOTS; i++) {
		struct rv_authlimit_slot *s = &al->slots[i];

		if (s->state == RV_AUTHLIMIT_FREE)
			return s;
		if (s->state == RV_AUTHLIMIT_COUNTING &&
		    (counting == NULL || s->last_seen < counting->last_seen))
			counting = s;
		if (s->state == RV_AUTHLIMIT_BLOCKED &&
		    (blocked == NULL || s->until_ms < blocked->until_ms))
			blocked = s;
	}
	return counting != NULL ? counting : blocked;
}

int rv_authlimit_blocked(struct rv_authlimit *al, const struct sockaddr *sa, const char *peer)
{
	uint8_t key[RV_AUTHLIMIT_KEY_LEN];
	uint64_t now = rv_loop_now_ms(al->loop);
	struct rv_authlimit_slot *s;

	(void)peer;
	rv_authlimit_key(sa, key);
	s = rv_authlimit_find(al, key, now);
	if (s == NULL || s->state != RV_AUTHLIMIT_BLOCKED)
		return 0;
	s->last_seen = now;
	al->n_refused++;
	rv_authlimit_arm(al);
	return 1;
}

void rv_authlimit_failed(struct rv_authlimit *al, const struct sockaddr *sa, const char *peer)
{
	uint8_t key[RV_AUTHLIMIT_KEY_LEN];
	uint64_t now = rv_loop_now_ms(al->loop);
	struct rv_authlimit_slot *s;

	rv_authlimit_key(sa, key);
	al->n_failed++;
	rv_authlimit_arm(al);
	s = rv_authlimit_find(al, key, now);
	if (s == NULL) {
		s = rv_authlimit_take(al);
		memset(s, 0, sizeof(*s));
		memcpy(s->key, key, RV_AUTHLIMIT_KEY_LEN);
		s->state = RV_AUTHLIMIT_COUNTING;
		s->window_start = now;
		al->n_sources++;
		rv_log_warn("socks %s: wrong SOCKS user name or password (further failures from "
			    "this source are counted, not logged, for %d s)",
			    peer, RV_AUTHLIMIT_WINDOW_MS / 1000);
	}
	s->last_seen = now;
	if (s->state != RV_AUTHLIMIT_COUNTING)
		return;
	if (++s->fails < RV_AUTHLIMIT_MAX_FAILS)
		return;
	s->state = RV_AUTHLIMIT_BLOCKED;
	s->until_ms = now + RV_AUTHLIMIT_BLOCK_MS;
	rv_log_warn("socks %s: %u failed SOCKS logins within %d s: refusing this source for %d s",
		    peer, s->fails, RV_AUTHLIMIT_WINDOW_MS / 1000, RV_AUTHLIMIT_BLOCK_MS / 1000);
}
