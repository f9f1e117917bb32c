/* tls_suite.c - the TLS ciphersuite of each wss:// connection (see
 * tls_suite.h). */
#include "tls_suite.h"

#include <stddef.h>

#include <mbedtls/ssl.h>

/* The mbedTLS build of lws exports OpenSSL-named wrappers; these two map
 * the mbedTLS context lws handed us to its socket (lib/tls/mbedtls/wrapper
 * in the lws source). */
struct ssl_st;
struct ssl_st *SSL_SSL_from_mbedtls_ssl_context(mbedtls_ssl_context *msc);
int SSL_get_fd(const struct ssl_st *ssl);
const mbedtls_x509_crt *__real_mbedtls_ssl_get_peer_cert(const mbedtls_ssl_context *ssl);
const mbedtls_x509_crt *__wrap_mbedtls_ssl_get_peer_cert(const mbedtls_ssl_context *ssl);

enum {
	/* Handshakes done but not yet taken: at most one per link in
	 * flight (16 servers + 2), so this never overflows in practice; if
	 * it does, a slot is reused and that link just logs no suite. */
	RV_TLS_SUITE_SLOTS = 32,
};

static struct {
	int fd; /* 0: free (lws never runs TLS on fd 0 here) */
	const char *name;
} rv_tls_suite[RV_TLS_SUITE_SLOTS];

static void rv_tls_suite_note(int fd, const char *name)
{
	size_t i, free_slot = RV_TLS_SUITE_SLOTS;

	if (fd <= 0 || name == NULL)
		return;
	for (i = 0; i < RV_TLS_SUITE_SLOTS; i++) {
		if (rv_tls_suite[i].fd == fd)
			break;
		if (rv_tls_suite[i].fd == 0 && free_slot == RV_TLS_SUITE_SLOTS)
			free_slot = i;
	}
	if (i == RV_TLS_SUITE_SLOTS)
		i = free_slot < RV_TLS_SUITE_SLOTS ? free_slot : (size_t)fd % RV_TLS_SUITE_SLOTS;
	rv_tls_suite[i].fd = fd;
	rv_tls_suite[i].name = name;
}

const char *rv_tls_suite_take(int fd)
{
	const char *name;

	for (size_t i = 0; fd > 0 && i < RV_TLS_SUITE_SLOTS; i++) {
		if (rv_tls_suite[i].fd != fd)
			continue;
		name = rv_tls_suite[i].name;
		rv_tls_suite[i].fd = 0;
		rv_tls_suite[i].name = NULL;
		return name;
	}
	return NULL;
}

/* The wrapper's ssl_pm_handshake() calls this once the handshake is over
 * (mbedTLS's session, and so its suite, is set only then). */
const mbedtls_x509_crt *__wrap_mbedtls_ssl_get_peer_cert(const mbedtls_ssl_context *ssl)
{
	struct ssl_st *s;

	if (ssl != NULL) {
		s = SSL_SSL_from_mbedtls_ssl_context((mbedtls_ssl_context *)ssl);
		if (s != NULL)
			rv_tls_suite_note(SSL_get_fd(s), mbedtls_ssl_get_ciphersuite(ssl));
	}
	return __real_mbedtls_ssl_get_peer_cert(ssl);
}
