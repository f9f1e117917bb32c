/* rv_socks5.h - the server side of SOCKS5 (RFC 1928) with username/password
 * authentication (RFC 1929), as spoken on rvpn-client's -D ports.
 *
 * Owner: client helper.  No I/O here: the parsers are three-result over
 * rv_buf (RV_OK with the message consumed, RV_ERR_NEED_MORE with the buffer
 * unchanged, or another error), they never read past the buffer and never
 * cast structs over input.  rv_socks5_feed() drives them as a state machine
 * so that one byte at a time and greeting + request (+ early data) in one
 * segment both work.  CONNECT, and UDP ASSOCIATE when the config allows it
 * (cfg->udp); the reply comes later from the caller, after the tunnel
 * answered (rv_socks5_build_reply).  The UDP datagram header is in
 * rv_socks5_udp.h.
 */
#ifndef RV_SOCKS5_H
#define RV_SOCKS5_H

#include <stddef.h>
#include <stdint.h>

#include "rv_buf.h"
#include "rv_frame.h"
#include "rv_wire.h"

struct rv_socks5_config {
	/* 1: only RFC 1929 with exactly these credentials.  0: no
	 * authentication; a client offering only username/password gets it
	 * and any credentials pass. */
	int require_auth;
	const char *user; /* not NUL-terminated necessarily: lengths rule */
	size_t user_len;  /* 1..RV_SOCKS5_CRED_MAX */
	const char *pass;
	size_t pass_len;  /* 1..RV_SOCKS5_CRED_MAX */
	/* 1: UDP ASSOCIATE is parsed like CONNECT (state DONE, cmd 3) and the
	 * caller answers it; 0: refused with COMMAND_NOT_SUPPORTED. */
	int udp;
};

enum rv_socks5_state {
	RV_SOCKS5_STATE_INVALID = 0,
	RV_SOCKS5_GREETING = 1, /* waiting for version/methods */
	RV_SOCKS5_AUTH = 2,     /* waiting for RFC 1929 user/password */
	RV_SOCKS5_REQUEST = 3,  /* waiting for the request */
	RV_SOCKS5_DONE = 4,     /* request parsed: cmd and dst are valid */
	RV_SOCKS5_FAILED = 5,   /* refused; send what is in out, then close */
};

struct rv_socks5 {
	enum rv_socks5_state state;
	const struct rv_socks5_config *cfg;
	uint8_t method;           /* chosen in GREETING */
	uint8_t cmd;              /* DONE: RV_SOCKS5_CMD_CONNECT or _UDP_ASSOCIATE */
	struct rv_addr dst;       /* DONE: the CONNECT destination, or for UDP
				   * ASSOCIATE the client's expected source
				   * (often 0.0.0.0:0) */
	enum rv_status fail_reply; /* FAILED: reply code sent, if any */
};

/* Greeting: VER NMETHODS METHODS.  RV_OK: *method is the choice
 * (RV_SOCKS5_METHOD_NONE if none is acceptable).  RV_ERR_MALFORMED: not
 * SOCKS5. */
int rv_socks5_parse_greeting(struct rv_buf *in, const struct rv_socks5_config *cfg,
			     uint8_t *method);
/* RFC 1929: VER ULEN UNAME PLEN PASSWD.  RV_OK: *ok is 1 when the
 * credentials match (constant-time compare), else 0.  RV_ERR_MALFORMED:
 * wrong subnegotiation version. */
int rv_socks5_parse_auth(struct rv_buf *in, const struct rv_socks5_config *cfg, int *ok);
/* Request: VER CMD RSV ATYP DST.ADDR DST.PORT.  RV_OK: a CONNECT to *dst.
 * Errors set *reply to the SOCKS5 reply to send before closing:
 * RV_ERR_UNSUPPORTED with COMMAND_NOT_SUPPORTED (BIND, UDP, unknown; the
 * whole request is consumed) or ATYP_NOT_SUPPORTED (nothing consumed: its
 * length is unknown); RV_ERR_MALFORMED with GENERAL_FAILURE (version,
 * reserved byte, empty domain or a NUL in it). */
int rv_socks5_parse_request(struct rv_buf *in, struct rv_addr *dst, enum rv_status *reply);
/* The same, but CONNECT and UDP ASSOCIATE both give RV_OK with *cmd set
 * (only BIND and unknown commands are RV_ERR_UNSUPPORTED). */
int rv_socks5_parse_request_cmd(struct rv_buf *in, uint8_t *cmd, struct rv_addr *dst,
				enum rv_status *reply);

/* Builders append; on failure out is unchanged. */
int rv_socks5_build_method(struct rv_buf *out, uint8_t method);
int rv_socks5_build_auth_reply(struct rv_buf *out, int ok);
/* VER REP RSV ATYP BND.ADDR BND.PORT; bound NULL (or without an address
 * type) gives 0.0.0.0:0, as failures carry. */
int rv_socks5_build_reply(struct rv_buf *out, enum rv_status rep, const struct rv_addr *bound);

void rv_socks5_init(struct rv_socks5 *s, const struct rv_socks5_config *cfg);
/* Consume what in holds, appending the method and auth replies to out.
 * RV_OK: state DONE, s->dst set; bytes left in `in` are early data for the
 * stream.  RV_ERR_NEED_MORE: call again with more input.  Other errors:
 * state FAILED; out holds the refusal to send (maybe nothing), then close.
 * RV_ERR_NO_SPACE if out cannot take a reply (state unchanged). */
int rv_socks5_feed(struct rv_socks5 *s, struct rv_buf *in, struct rv_buf *out);
const char *rv_socks5_state_str(enum rv_socks5_state st);

#endif
