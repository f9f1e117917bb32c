/* perkey.h - per-client-key accounting on the server: the sessions and
 * streams of all the connections of one key, so that one key (stolen, or a
 * hostile user) cannot take every slot of the server.
 *
 * Owner: struct rv_server holds the table; each authenticated rv_conn holds
 * one reference to its key's entry (rv_perkey_get/rv_perkey_put) and is
 * linked into the entry's list of connections.  Entries exist only while a
 * connection refers to them, so the table is bounded by the session cap.
 */
#ifndef RV_SERVER_PERKEY_H
#define RV_SERVER_PERKEY_H

#include <stddef.h>
#include <stdint.h>

#include "rv_session.h"
#include "rv_wire.h"

struct rv_conn;

enum rv_perkey_sizes {
	RV_PERKEY_BUCKETS = 256,
};

struct rv_perkey {
	uint8_t pub[RV_KEY_LEN];
	uint32_t refs;               /* connections holding this entry */
	uint32_t sessions;           /* of refs: sessions counted against the cap */
	uint32_t streams;            /* open or connecting streams, all sessions */
	uint32_t udp_assocs;         /* UDP associations, all sessions (udp.c);
				      * counted with streams against
				      * --max-streams-per-key */
	struct rv_conn *conns;       /* linked by rv_conn.pk_next */
	/* Window growth of all its sessions (rv_session_config.window_pool):
	 * granted window is memory a session may have to hold, so the key's
	 * growth stays within its buffer budget (--max-buffer-per-key). */
	struct rv_window_pool window_pool;
	struct rv_perkey *next;      /* hash chain */
};

struct rv_perkey_table {
	struct rv_perkey *buckets[RV_PERKEY_BUCKETS];
	size_t n;
};

/* The entry for pub, created at refs 0 if missing; NULL when out of memory.
 * The caller must take a reference (refs++) or call rv_perkey_put. */
struct rv_perkey *rv_perkey_get(struct rv_perkey_table *t, const uint8_t pub[RV_KEY_LEN]);
/* Frees the entry once nothing refers to it or is counted in it. */
void rv_perkey_put(struct rv_perkey_table *t, struct rv_perkey *pk);
/* Frees every entry (shutdown). */
void rv_perkey_clear(struct rv_perkey_table *t);

#endif
