/* rv_wire.h - every wire constant and limit of the rvpn protocol.
 *
 * common/PROTOCOL.md is the prose specification; this header is its
 * single source of numbers.  All multi-byte integers are big-endian.
 * Value 0 of every type enum is invalid on the wire.
 */
#ifndef RV_WIRE_H
#define RV_WIRE_H

/* ---- WebSocket ---------------------------------------------------- */

/* Sec-WebSocket-Protocol value; binary messages only, one rvpn message
 * per WebSocket message. */
#define RV_WS_SUBPROTOCOL "rvpn.v1"
#define RV_WS_DEFAULT_PATH "/rvpn"

/* Noise prologue: binds the handshake to this protocol version. */
#define RV_NOISE_PROLOGUE "rvpn v1"
#define RV_NOISE_PROTOCOL_CHACHA "Noise_IK_25519_ChaChaPoly_SHA256"
/* The handshake always uses ChaChaPoly; AESGCM is for the test vectors
 * (the ratchet's AEAD is negotiated separately, enum rv_aead). */
#define RV_NOISE_PROTOCOL_AESGCM "Noise_IK_25519_AESGCM_SHA256"

/* ---- outer message ------------------------------------------------ */

/* Every WebSocket message starts with a 4-byte outer header:
 * type (u8) | version (u8) | reserved (u16, must be 0). */
enum rv_msg_type {
	RV_MSG_INVALID = 0,
	RV_MSG_HANDSHAKE_INIT = 1, /* client -> server, Noise IK message 1 */
	RV_MSG_HANDSHAKE_RESP = 2, /* server -> client, Noise IK message 2 */
	RV_MSG_TRANSPORT = 3,      /* either way, Double Ratchet message */
};

enum rv_wire_sizes {
	RV_PROTOCOL_VERSION = 1,
	RV_OUTER_HDR_LEN = 4,
	RV_KEY_LEN = 32,        /* X25519 public/private key, symmetric key */
	RV_HASH_LEN = 32,       /* SHA-256 */
	RV_TAG_LEN = 16,        /* AEAD tag, both AEADs */
	RV_TAI64N_LEN = 12,

	/* Handshake payloads (plaintext inside Noise). */
	RV_HS_INIT_PAYLOAD_LEN = 16, /* version u8 | caps u8 | rsvd u16 | tai64n[12] */
	RV_HS_RESP_PAYLOAD_LEN = 16, /* version u8 | aead u8 | keepalive_s u16 |
				      * max_streams u32 | stream_window u32 |
				      * max_message u32 */
	/* Noise IK message 1: e | enc(s) | enc(payload) */
	RV_HS_INIT_NOISE_LEN = RV_KEY_LEN + RV_KEY_LEN + RV_TAG_LEN +
			       RV_HS_INIT_PAYLOAD_LEN + RV_TAG_LEN, /* 112 */
	/* Noise IK message 2: e | enc(payload) */
	RV_HS_RESP_NOISE_LEN = RV_KEY_LEN + RV_HS_RESP_PAYLOAD_LEN + RV_TAG_LEN, /* 64 */
	RV_HS_INIT_MSG_LEN = RV_OUTER_HDR_LEN + RV_HS_INIT_NOISE_LEN, /* 116 */
	RV_HS_RESP_MSG_LEN = RV_OUTER_HDR_LEN + RV_HS_RESP_NOISE_LEN, /* 68 */

	/* Ratchet header: dh_pub[32] | pn u32 | n u32 */
	RV_RATCHET_HDR_LEN = RV_KEY_LEN + 4 + 4, /* 40 */
	/* Transport: outer hdr | ratchet hdr | ciphertext(frames) | tag */
	RV_TRANSPORT_OVERHEAD = RV_OUTER_HDR_LEN + RV_RATCHET_HDR_LEN + RV_TAG_LEN,

	/* Largest WebSocket message either side sends or accepts. */
	RV_MSG_MAX = 65536,
	RV_PLAINTEXT_MAX = RV_MSG_MAX - RV_TRANSPORT_OVERHEAD, /* 65476 */
};

/* Capability bits in the handshake init payload. */
enum rv_caps {
	RV_CAP_AESGCM_HW = 0x01, /* client has hardware AES (AES-NI) */
	/* client lets receivers grow stream windows past the announced one
	 * (PROTOCOL.md §8.1) */
	RV_CAP_WINDOW_GROWTH = 0x02,
	/* Features a client offers and the server may agree to (PROTOCOL.md
	 * §4.7); each is used only once the response's matching flag is set. */
	RV_CAP_DATAGRAM = 0x04,   /* UDP datagram frames (§6.11) */
	RV_CAP_REMOTE_FWD = 0x08, /* server-side listeners, server-opened streams (§6.13) */
	/* client accepts, and grants, windows up to RV_STREAM_WINDOW_LARGE_MAX
	 * (§8.1); meaningful only together with RV_CAP_WINDOW_GROWTH */
	RV_CAP_WINDOW_LARGE = 0x10,
	RV_CAP_FEATURES_ = RV_CAP_DATAGRAM | RV_CAP_REMOTE_FWD,
};

/* The response payload's aead byte: the AEAD in the low 4 bits, and flags
 * the server sets only for what the client offered. */
enum rv_hs_aead_byte {
	RV_HS_AEAD_MASK = 0x0f,
	RV_HS_DATAGRAM = 0x10,   /* answers RV_CAP_DATAGRAM */
	RV_HS_REMOTE_FWD = 0x20, /* answers RV_CAP_REMOTE_FWD */
	/* answers RV_CAP_WINDOW_LARGE; only with RV_HS_WINDOW_GROWTH */
	RV_HS_WINDOW_LARGE = 0x40,
	RV_HS_WINDOW_GROWTH = 0x80, /* answers RV_CAP_WINDOW_GROWTH */
};

/* AEAD chosen by the server for the ratchet (response payload). */
enum rv_aead {
	RV_AEAD_INVALID = 0,
	RV_AEAD_CHACHA20POLY1305 = 1,
	RV_AEAD_AES256GCM = 2, /* only if both ends have hardware AES */
};

/* ---- Double Ratchet parameters ------------------------------------ */

/* No skipped-key limits: the receiver takes messages strictly in order
 * (PROTOCOL.md section 5.5), so it never stores or derives skipped keys. */
enum rv_ratchet_limits {
	RV_RATCHET_DEFAULT_INTERVAL_MS = 1000, /* min time between new key pairs */
};

/* KDF labels (HKDF info strings). */
#define RV_KDF_INFO_RATCHET_INIT "rvpn v1 ratchet init"
#define RV_KDF_INFO_ROOT "rvpn v1 ratchet root"
#define RV_KDF_INFO_MESSAGE "rvpn v1 ratchet message"
/* KDF_CK: message key = HMAC(ck, 0x01), next chain key = HMAC(ck, 0x02) */
enum rv_kdf_ck_const {
	RV_KDF_CK_MESSAGE = 0x01,
	RV_KDF_CK_CHAIN = 0x02,
};

/* ---- frames (inside ratchet plaintext) ---------------------------- */

/* Each frame: type u8 | length u16 | body[length].  A plaintext holds one
 * or more frames back to back and nothing else. */
enum rv_frame_type {
	RV_FRAME_INVALID = 0,
	RV_FRAME_PROXY_CONNECT = 1,  /* stream u32 | window u32 | port u16 | atyp u8 | addr
				      * (window 1..RV_STREAM_WINDOW_MAX) */
	RV_FRAME_PROXY_RESPONSE = 2, /* stream u32 | status u8 | port u16 | atyp u8 | addr */
	RV_FRAME_PROXY_DATA = 3,     /* stream u32 | data[1..RV_FRAME_DATA_MAX] */
	RV_FRAME_PROXY_FIN = 4,      /* stream u32 */
	RV_FRAME_PROXY_RESET = 5,    /* stream u32 | reason u8 */
	RV_FRAME_WINDOW_UPDATE = 6,  /* stream u32 | credit u32 (1..RV_STREAM_WINDOW_MAX) */
	RV_FRAME_PING = 7,           /* opaque u64 */
	RV_FRAME_PONG = 8,           /* opaque u64 (echo of PING) */
	RV_FRAME_GOAWAY = 9,         /* last_stream u32 | reason u8 */
	/* Only once RV_CAP_DATAGRAM is agreed (§6.11, §6.12): */
	RV_FRAME_DATAGRAM = 10,       /* assoc u32 | port u16 | atyp u8 | addr |
				       * payload[0..RV_DATAGRAM_MAX] */
	RV_FRAME_DATAGRAM_CLOSE = 11, /* assoc u32 | reason u8 */
	/* Only once RV_HS_REMOTE_FWD is agreed (§6.13-6.16): */
	RV_FRAME_LISTEN = 12,          /* client -> server: req u32 | kind u8 | port u16 |
					* atyp u8 | bind addr */
	RV_FRAME_LISTEN_RESPONSE = 13, /* server -> client: req u32 | status u8 | port u16 */
	RV_FRAME_LISTEN_CLOSE = 14,    /* either way: req u32 | reason u8 */
	RV_FRAME_REMOTE_CONNECT = 15,  /* server -> client: stream u32 | window u32 |
					* req u32 | port u16 | atyp u8 | addr */
	RV_FRAME_TYPE_MAX_ = 16,
};

enum rv_frame_sizes {
	RV_FRAME_HDR_LEN = 3,
	RV_FRAME_DATA_MAX = 16384,
	RV_FRAME_FIN_LEN = 4,
	RV_FRAME_RESET_LEN = 5,
	RV_FRAME_WINDOW_UPDATE_LEN = 8,
	RV_FRAME_PING_LEN = 8,
	RV_FRAME_GOAWAY_LEN = 5,
	RV_FRAME_CONNECT_FIXED_LEN = 11,  /* before the address */
	RV_FRAME_RESPONSE_FIXED_LEN = 8,  /* before the address */
	RV_FRAME_LISTEN_FIXED_LEN = 8,    /* before the address */
	RV_FRAME_LISTEN_RESPONSE_LEN = 7,
	RV_FRAME_LISTEN_CLOSE_LEN = 5,
	RV_FRAME_REMOTE_CONNECT_FIXED_LEN = 15, /* before the address */
	RV_DOMAIN_MAX = 255,
	RV_FRAME_DATAGRAM_FIXED_LEN = 7,  /* assoc, port, atyp: before the address */
	RV_FRAME_DATAGRAM_CLOSE_LEN = 5,
	/* Largest UDP payload carried (PROTOCOL.md §8A): the same as a DATA
	 * frame's, so a datagram frame (<= 16384 + 7 + 256 bytes) fits every
	 * message a peer may announce room for next to control frames, and one
	 * datagram never takes a whole message from the streams.  Real traffic
	 * (DNS, QUIC, WireGuard, RTP) stays far below; larger datagrams are
	 * dropped and counted by the sender, never sent. */
	RV_DATAGRAM_MAX = RV_FRAME_DATA_MAX,
};

/* Address types: the SOCKS5 ATYP values. */
enum rv_atyp {
	RV_ATYP_INVALID = 0,
	RV_ATYP_IPV4 = 1,   /* 4 bytes */
	RV_ATYP_DOMAIN = 3, /* len u8 (1..255) | name */
	RV_ATYP_IPV6 = 4,   /* 16 bytes */
};

/* PROXY_RESPONSE status: numerically the SOCKS5 reply codes (RFC 1928). */
enum rv_status {
	RV_STATUS_OK = 0,
	RV_STATUS_GENERAL_FAILURE = 1,
	RV_STATUS_NOT_ALLOWED = 2,
	RV_STATUS_NET_UNREACHABLE = 3,
	RV_STATUS_HOST_UNREACHABLE = 4, /* also: name does not resolve */
	RV_STATUS_CONNECTION_REFUSED = 5,
	RV_STATUS_TTL_EXPIRED = 6,      /* also: connect timed out */
	RV_STATUS_COMMAND_NOT_SUPPORTED = 7,
	RV_STATUS_ATYP_NOT_SUPPORTED = 8,
};

/* PROXY_RESET reasons. */
enum rv_reset_reason {
	RV_RESET_INVALID = 0,
	RV_RESET_PROTOCOL_ERROR = 1,
	RV_RESET_TARGET_ERROR = 2,    /* target socket error after connect */
	RV_RESET_LOCAL_ERROR = 3,     /* client-side socket error */
	RV_RESET_IDLE_TIMEOUT = 4,
	RV_RESET_FLOW_CONTROL = 5,    /* peer sent beyond its window */
	RV_RESET_SHUTDOWN = 6,
	RV_RESET_CANCELED = 7,        /* local side closed before response */
	RV_RESET_REFUSED_STREAM = 8,  /* stream limit reached */
};

/* ---- remote forwards (PROTOCOL.md "Remote forwards") ------------- */

/* Stream ids the server opens have the top bit set (RV_STREAM_ID_SERVER |
 * n, n = 1, 2, ...); client-opened ids stay below it. */
enum rv_stream_id_space {
	RV_STREAM_ID_SERVER = 0x80000000u,
};

/* LISTEN kind: what the server does with an accepted connection. */
enum rv_listen_kind {
	RV_LISTEN_KIND_INVALID = 0,
	RV_LISTEN_KIND_FORWARD = 1, /* REMOTE_CONNECT at once; client dials its HOST:PORT */
	RV_LISTEN_KIND_SOCKS = 2,   /* SOCKS5 CONNECT server; the target goes to the client */
};

/* LISTEN_RESPONSE status. */
enum rv_listen_status {
	RV_LISTEN_OK = 0,
	RV_LISTEN_DENIED = 1,      /* not permitted by the server's policy for this key */
	RV_LISTEN_IN_USE = 2,      /* address already in use */
	RV_LISTEN_LIMIT = 3,       /* too many listeners for this session or key */
	RV_LISTEN_BAD_ADDRESS = 4, /* not a bindable address */
	RV_LISTEN_FAILED = 5,      /* any other bind/listen error */
	RV_LISTEN_STATUS_MAX_ = 6,
};

/* LISTEN_CLOSE reasons. */
enum rv_listen_close_reason {
	RV_LISTEN_CLOSE_INVALID = 0,
	RV_LISTEN_CLOSE_CANCELED = 1, /* client: no longer wanted */
	RV_LISTEN_CLOSE_ERROR = 2,    /* server: the listening socket failed */
	RV_LISTEN_CLOSE_SHUTDOWN = 3, /* server: going away / policy changed */
	RV_LISTEN_CLOSE_MAX_ = 4,
};

/* GOAWAY reasons. */
enum rv_goaway_reason {
	RV_GOAWAY_INVALID = 0,
	RV_GOAWAY_SHUTDOWN = 1,
	RV_GOAWAY_PROTOCOL_ERROR = 2,
	RV_GOAWAY_IDLE = 3,
	RV_GOAWAY_REVOKED = 4, /* server: the client's key was removed */
};

/* DATAGRAM_CLOSE reasons (either direction). */
enum rv_dgram_close_reason {
	RV_DGRAM_CLOSE_INVALID = 0,
	RV_DGRAM_CLOSE_NORMAL = 1,       /* the sender is done with it (client:
					  * its UDP ASSOCIATE or -L udp ended) */
	RV_DGRAM_CLOSE_IDLE_TIMEOUT = 2, /* no datagram either way for a while */
	RV_DGRAM_CLOSE_LIMIT = 3,        /* association limit reached: refused */
	RV_DGRAM_CLOSE_DENIED = 4,       /* UDP not allowed for this peer */
	RV_DGRAM_CLOSE_ERROR = 5,        /* local socket failure */
	RV_DGRAM_CLOSE_SHUTDOWN = 6,     /* the sender is going away */
};

/* ---- SOCKS5 on the client's local side (RFC 1928, RFC 1929) -------- */

/* Reply codes are enum rv_status; address types are enum rv_atyp. */
enum rv_socks5_wire {
	RV_SOCKS5_VERSION = 5,
	RV_SOCKS5_AUTH_VERSION = 1, /* RFC 1929 subnegotiation version */
	RV_SOCKS5_METHOD_NOAUTH = 0x00,
	RV_SOCKS5_METHOD_USERPASS = 0x02,
	RV_SOCKS5_METHOD_NONE = 0xFF, /* no acceptable method */
	RV_SOCKS5_CMD_CONNECT = 1,
	RV_SOCKS5_CMD_BIND = 2,
	RV_SOCKS5_CMD_UDP_ASSOCIATE = 3,
	RV_SOCKS5_AUTH_SUCCESS = 0x00,
	RV_SOCKS5_AUTH_FAILURE = 0x01,
	RV_SOCKS5_CRED_MAX = 255,           /* user name, password */
	RV_SOCKS5_REQUEST_FIXED_LEN = 4,    /* ver cmd rsv atyp */
	RV_SOCKS5_REPLY_MAX = 4 + 1 + RV_DOMAIN_MAX + 2,
};

/* ---- flow control and session limits (defaults) ------------------- */

enum rv_limits {
	RV_STREAM_WINDOW_DEFAULT = 512 * 1024, /* initial credit, each direction */
	/* Largest announced window and largest single WINDOW_UPDATE credit;
	 * with window growth, also the bound on a sender's credit. */
	RV_STREAM_WINDOW_MAX = 16 * 1024 * 1024,
	/* The bound on a sender's credit with large windows agreed (§8.1): a
	 * path of 1 Gbit/s x 100 ms holds 12.5 MB, and a window only just
	 * above that stalls the stream on every loss the TCP below repairs. */
	RV_STREAM_WINDOW_LARGE_MAX = 64 * 1024 * 1024,
	/* Window growth (PROTOCOL.md §8.1): window bytes granted beyond the
	 * announced windows, summed over a session's streams. */
	RV_SESSION_WINDOW_BUDGET_DEFAULT = 64 * 1024 * 1024,
	RV_MAX_STREAMS_DEFAULT = 1024,       /* per session */
	RV_MAX_SESSIONS_DEFAULT = 256,       /* per server */
	RV_REMOTE_STREAMS_DEFAULT = 256,     /* server-opened streams per session */
	RV_LISTENERS_MAX_DEFAULT = 8,        /* remote-forward listeners per session */
	RV_KEEPALIVE_DEFAULT_S = 10,         /* client PING interval */
	RV_KEEPALIVE_TIMEOUT_DEFAULT_S = 25, /* dead if nothing heard */
	RV_HANDSHAKE_TIMEOUT_S = 10,
	RV_STREAM_IDLE_TIMEOUT_DEFAULT_S = 300,
	RV_CONNECT_TIMEOUT_DEFAULT_S = 10,
	RV_HAPPY_EYEBALLS_DELAY_MS = 250,    /* RFC 8305 connection attempt delay */
	RV_WS_SEND_HIGH_WATER = 1024 * 1024, /* stop reading sockets above */
	RV_WS_SEND_LOW_WATER = 256 * 1024,   /* resume below */
	/* Stop reading the WebSocket while this much is queued for it: only
	 * control frames (answers to the peer's input) can pass the high mark,
	 * so a peer that sends without reading is stopped here. */
	RV_WS_INPUT_STOP = 2 * RV_WS_SEND_HIGH_WATER,
	/* TCP_NOTSENT_LOWAT on relayed sockets: the kernel keeps at most about
	 * this much unsent data per socket; the rest waits in the stream's
	 * buffer, inside its credit window, so it is bounded and counted. */
	RV_SOCKET_NOTSENT_LOWAT = 128 * 1024,
	/* Datagrams (§8A): bytes of DATAGRAM frames a session queues before it
	 * drops new ones (they are not flow controlled, so the queue is what
	 * bounds them); the server's defaults per session. */
	RV_DGRAM_QUEUE_DEFAULT = 256 * 1024,
	RV_DGRAM_ASSOC_MAX_DEFAULT = 64,
	RV_DGRAM_IDLE_TIMEOUT_DEFAULT_S = 60,
};

#endif
