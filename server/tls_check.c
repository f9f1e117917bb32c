/* tls_check.c - start-up check of the TLS certificate against its key.
 * lws loads them without comparing, and a mismatch then fails every client
 * with an opaque "mbedtls connect -1 5 0"; refuse to start instead. */
#include <mbedtls/error.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include "rv_err.h"
#include "rv_log.h"
#include "server_int.h"

int rv_server_tls_check(const char *cert_file, const char *key_file)
{
	mbedtls_x509_crt crt;
	mbedtls_pk_context key;
	char msg[160];
	int m, r = RV_ERR_CONFIG;

	mbedtls_x509_crt_init(&crt);
	mbedtls_pk_init(&key);
	m = mbedtls_x509_crt_parse_file(&crt, cert_file);
	if (m != 0) {
		mbedtls_strerror(m, msg, sizeof(msg));
		rv_log_error("--cert %s: cannot load the certificate: %s", cert_file, msg);
		goto out;
	}
	m = mbedtls_pk_parse_keyfile(&key, key_file, NULL);
	if (m != 0) {
		mbedtls_strerror(m, msg, sizeof(msg));
		rv_log_error("--cert-key %s: cannot load the private key: %s", key_file, msg);
		goto out;
	}
	/* The first certificate of the chain is the server's. */
	m = mbedtls_pk_check_pair(&crt.pk, &key);
	if (m != 0) {
		rv_log_error("--cert %s does not match --cert-key %s: the certificate was made "
			     "for another key; no client could connect", cert_file, key_file);
		goto out;
	}
	if (mbedtls_x509_time_is_past(&crt.valid_to))
		rv_log_warn("--cert %s expired on %04d-%02d-%02d: clients will refuse it",
			    cert_file, crt.valid_to.year, crt.valid_to.mon, crt.valid_to.day);
	else if (mbedtls_x509_time_is_future(&crt.valid_from))
		rv_log_warn("--cert %s is not valid before %04d-%02d-%02d: clients will refuse "
			    "it until then", cert_file, crt.valid_from.year, crt.valid_from.mon,
			    crt.valid_from.day);
	r = RV_OK;
out:
	mbedtls_pk_free(&key);
	mbedtls_x509_crt_free(&crt);
	return r;
}
