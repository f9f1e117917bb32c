/* tls_ip.c - iPAddress subjectAltName check for wss:// to an IP literal
 * (see tls_ip.h). */
#include "tls_ip.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <mbedtls/asn1.h>
#include <mbedtls/x509_crt.h>

/* The mbedTLS build of lws exports OpenSSL-named wrappers; these two are
 * what we need (lib/tls/mbedtls/wrapper in the lws source). */
struct ssl_st;
long __real_SSL_get_verify_result(const struct ssl_st *ssl);
long __wrap_SSL_get_verify_result(const struct ssl_st *ssl);
mbedtls_x509_crt *ssl_get_peer_mbedtls_x509_crt(struct ssl_st *ssl);

enum {
	RV_TLS_X509_V_OK = 0,
	RV_TLS_X509_V_ERR_IP_ADDRESS_MISMATCH = 64, /* wrapper's x509_vfy.h */
	/* GeneralName iPAddress: [7] IMPLICIT OCTET STRING */
	RV_TLS_SAN_IP_TAG = MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7,
	RV_TLS_SANS_TEXT_MAX = 256,
};

static struct {
	int active;
	uint8_t ip[RV_TLS_IP_MAX];
	size_t len;
	int mismatch;
	char seen[RV_TLS_SANS_TEXT_MAX];
} rv_tls_ip;

int rv_tls_ip_parse(const char *host, uint8_t out[RV_TLS_IP_MAX], size_t *len)
{
	if (inet_pton(AF_INET, host, out) == 1) {
		*len = 4;
		return 1;
	}
	if (inet_pton(AF_INET6, host, out) == 1) {
		*len = 16;
		return 1;
	}
	return 0;
}

void rv_tls_ip_expect(const char *host)
{
	memset(&rv_tls_ip, 0, sizeof(rv_tls_ip));
	if (host != NULL)
		rv_tls_ip.active = rv_tls_ip_parse(host, rv_tls_ip.ip, &rv_tls_ip.len);
}

int rv_tls_ip_mismatch_seen(void)
{
	return rv_tls_ip.mismatch;
}

const char *rv_tls_ip_seen_sans(void)
{
	return rv_tls_ip.seen[0] != '\0' ? rv_tls_ip.seen : "none";
}

static void rv_tls_ip_note(const mbedtls_x509_buf *b)
{
	char txt[INET6_ADDRSTRLEN];
	size_t used = strlen(rv_tls_ip.seen);

	if (inet_ntop(b->len == 4 ? AF_INET : AF_INET6, b->p, txt, sizeof(txt)) == NULL)
		return;
	snprintf(rv_tls_ip.seen + used, sizeof(rv_tls_ip.seen) - used, "%s%s",
		 used > 0 ? ", " : "", txt);
}

/* 1 if an iPAddress SAN of crt equals the expected address exactly. */
static int rv_tls_ip_match(const mbedtls_x509_crt *crt)
{
	const mbedtls_x509_sequence *s;
	int found = 0;

	rv_tls_ip.seen[0] = '\0';
	for (s = &crt->subject_alt_names; s != NULL && s->buf.p != NULL; s = s->next) {
		if (s->buf.tag != RV_TLS_SAN_IP_TAG || (s->buf.len != 4 && s->buf.len != 16))
			continue;
		rv_tls_ip_note(&s->buf);
		if (s->buf.len == rv_tls_ip.len && memcmp(s->buf.p, rv_tls_ip.ip, rv_tls_ip.len) == 0)
			found = 1;
	}
	return found;
}

/* lws calls this once per TLS handshake, to decide on the peer's
 * certificate (lws_tls_client_confirm_peer_cert). */
long __wrap_SSL_get_verify_result(const struct ssl_st *ssl)
{
	long r = __real_SSL_get_verify_result(ssl);
	const mbedtls_x509_crt *crt;

	if (r != RV_TLS_X509_V_OK || !rv_tls_ip.active)
		return r;
	rv_tls_ip.mismatch = 0;
	crt = ssl_get_peer_mbedtls_x509_crt((struct ssl_st *)ssl);
	if (crt != NULL && rv_tls_ip_match(crt))
		return r;
	rv_tls_ip.mismatch = 1;
	return RV_TLS_X509_V_ERR_IP_ADDRESS_MISMATCH;
}
