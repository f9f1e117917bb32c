/* rv_keypath.c - default WebSocket path from the server key (rv_keypath.h). */
#include "rv_keypath.h"

#include <string.h>

#include <sodium.h>

#include "rv_err.h"
#include "rv_hkdf.h"

int rv_keypath_derive(const uint8_t priv[RV_KEY_LEN], char out[RV_KEYPATH_SIZE])
{
	uint8_t okm[RV_KEYPATH_BYTES];
	char text[RV_KEYPATH_SIZE];
	int r;

	r = rv_hkdf_sha256(okm, sizeof(okm), NULL, 0, priv, RV_KEY_LEN,
			   (const uint8_t *)RV_KEYPATH_INFO, strlen(RV_KEYPATH_INFO));
	if (r != RV_OK)
		goto out;
	text[0] = '/';
	if (sodium_bin2base64(text + 1, sizeof(text) - 1, okm, sizeof(okm),
			      sodium_base64_VARIANT_URLSAFE_NO_PADDING) == NULL ||
	    strlen(text) != RV_KEYPATH_LEN) {
		r = RV_ERR_INTERNAL;
		goto out;
	}
	memcpy(out, text, sizeof(text));
out:
	sodium_memzero(okm, sizeof(okm));
	return r;
}
