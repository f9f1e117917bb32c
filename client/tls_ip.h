/* tls_ip.h - wss:// to an IP literal: check the server certificate's
 * iPAddress subjectAltNames (owner: client helper).
 *
 * mbedTLS 2.28 matches a host only against dNSName entries and the CN, so
 * a certificate naming IP:127.0.0.1 fails for wss://127.0.0.1 with
 * "hostname mismatch" although OpenSSL, curl and browsers accept it.  For
 * an IP literal the tunnel therefore asks lws to skip only the hostname
 * check (LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK: the chain is still
 * verified against --ca) and this module does the address check instead:
 * the link wraps lws' one call of SSL_get_verify_result() after the TLS
 * handshake (client/CMakeLists.txt: --wrap), and when the chain is good but
 * no iPAddress SAN equals the URL's address exactly (4 or 16 bytes), the
 * result becomes X509_V_ERR_IP_ADDRESS_MISMATCH and lws refuses the
 * connection.  DNS names are untouched (mbedTLS checks them as before).
 *
 * The expectation is process-wide: rvpn-client has one server URL and TLS
 * is used only for its WebSockets.
 */
#ifndef RV_CLIENT_TLS_IP_H
#define RV_CLIENT_TLS_IP_H

#include <stddef.h>
#include <stdint.h>

enum { RV_TLS_IP_MAX = 16 };

/* 1 and the address bytes (4 or 16) if host is an IPv4 or IPv6 literal
 * (IPv6 without brackets), else 0. */
int rv_tls_ip_parse(const char *host, uint8_t out[RV_TLS_IP_MAX], size_t *len);
/* From now on, a verified certificate must name this address (an IP
 * literal, see rv_tls_ip_parse).  NULL: no address check. */
void rv_tls_ip_expect(const char *host);
/* 1 if the last certificate checked was refused because it does not name
 * the address; cleared by rv_tls_ip_expect and each check. */
int rv_tls_ip_mismatch_seen(void);
/* The certificate's iPAddress SANs as text ("127.0.0.1, ::1"; "none"), as
 * seen in the last refused certificate. */
const char *rv_tls_ip_seen_sans(void);

#endif
