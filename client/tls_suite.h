/* tls_suite.h - the TLS ciphersuite of each wss:// connection, for the
 * log (owner: client helper).
 *
 * lws 4.1.6 on mbedTLS has no lws_get_ssl() and its OpenSSL wrapper does
 * not implement SSL_get_current_cipher().  So the link wraps mbedtls_ssl_
 * get_peer_cert(), which the wrapper calls exactly once per connection,
 * right after a successful TLS handshake (client/CMakeLists.txt: --wrap),
 * and notes mbedTLS's name of the suite against the socket.  The tunnel
 * takes it when that socket's WebSocket is established.
 *
 * Names are mbedTLS's static strings ("TLS-ECDHE-ECDSA-WITH-CHACHA20-
 * POLY1305-SHA256"): valid for the life of the program.
 */
#ifndef RV_CLIENT_TLS_SUITE_H
#define RV_CLIENT_TLS_SUITE_H

/* The suite of the last TLS handshake completed on socket fd, and forget
 * it; NULL if none was noted (plain ws://, or the table overflowed). */
const char *rv_tls_suite_take(int fd);

#endif
