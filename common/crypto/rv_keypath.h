/* rv_keypath.h - the server's default WebSocket path, derived from its
 * private key so that it is secret, stable across restarts and needs no
 * file of its own:
 *   "/" + base64url-nopad(HKDF-SHA256(salt = none, ikm = private key,
 *                                     info = "rvpn url path", L = 16))
 * 23 characters.  A prober who does not know the path gets the decoy site.
 * Owner: server helper. */
#ifndef RV_KEYPATH_H
#define RV_KEYPATH_H

#include <stdint.h>

#include "rv_keys.h"

enum rv_keypath_limits {
	RV_KEYPATH_BYTES = 16,
	RV_KEYPATH_LEN = 1 + 22,          /* "/" + base64url of 16 bytes */
	RV_KEYPATH_SIZE = RV_KEYPATH_LEN + 1,
};

#define RV_KEYPATH_INFO "rvpn url path"

/* out gets the NUL-terminated path.  0 or RV_ERR_*. */
int rv_keypath_derive(const uint8_t priv[RV_KEY_LEN], char out[RV_KEYPATH_SIZE]);

#endif
