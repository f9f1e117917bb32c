"""tamper_relay - a WebSocket-aware man in the middle for hostile tests.

Owner: ordering helper.  Sits between rvpn-client and rvpn-server on
127.0.0.1, optionally terminating TLS on both legs (Python's ssl module: it
presents its own certificate to the client and verifies the server's), and
forwards the HTTP upgrade verbatim, then WebSocket frames.  On request
(arm) it tampers once with the next binary message in one direction:

  drop      the message is not forwarded
  swap      held back and forwarded after the next one
  dup       forwarded twice
  flip      one bit of its last byte (the AEAD tag) flipped
  truncate  its last byte cut off (frame length rewritten)
  cut       half of it is sent, then both connections are closed

Masked client frames are never unmasked: flipping a masked byte flips the
same plaintext bit, and cutting the tail keeps the mask aligned.  Control
frames pass through.  One asyncio loop in a daemon thread; everything
listens on and connects to 127.0.0.1 only.
"""

import asyncio
import ssl
import struct
import threading

KINDS = ("drop", "swap", "dup", "flip", "truncate", "cut")
C2S, S2C = 0, 1
DIR_NAMES = ("client->server", "server->client")
FRAME_MAX = 1 << 20  # rvpn messages are <= 64 KiB; refuse anything absurd


class Frame:
    __slots__ = ("b0", "masked", "mask", "payload")

    def __init__(self, b0, masked, mask, payload):
        self.b0 = b0
        self.masked = masked
        self.mask = mask
        self.payload = payload

    @property
    def opcode(self):
        return self.b0 & 0x0F

    @property
    def fin(self):
        return bool(self.b0 & 0x80)

    def encode(self):
        n = len(self.payload)
        b1 = 0x80 if self.masked else 0
        if n < 126:
            h = bytes([self.b0, b1 | n])
        elif n < 65536:
            h = bytes([self.b0, b1 | 126]) + struct.pack(">H", n)
        else:
            h = bytes([self.b0, b1 | 127]) + struct.pack(">Q", n)
        return h + self.mask + self.payload


async def read_frame(r):
    h = await r.readexactly(2)
    masked = bool(h[1] & 0x80)
    n = h[1] & 0x7F
    if n == 126:
        n = struct.unpack(">H", await r.readexactly(2))[0]
    elif n == 127:
        n = struct.unpack(">Q", await r.readexactly(8))[0]
    if n > FRAME_MAX:
        raise ValueError("frame of %d bytes" % n)
    mask = await r.readexactly(4) if masked else b""
    return Frame(h[0], masked, mask, await r.readexactly(n))


class TamperRelay:
    def __init__(self, target_port, server_ssl=None, client_ssl=None,
                 server_hostname="localhost"):
        """server_ssl: context for the rvpn-client leg (we are its TLS
        server); client_ssl: context for the leg to rvpn-server."""
        self.target_port = target_port
        self.server_ssl = server_ssl
        self.client_ssl = client_ssl
        self.server_hostname = server_hostname
        self.lock = threading.Lock()
        self.plan = None          # (kind, direction) for the next message
        self.done = threading.Event()
        self.events = []          # (conn, direction, kind, message index, length)
        self.conns = 0
        self.counts = {}          # (conn, direction) -> data messages seen
        self.loop = asyncio.new_event_loop()
        self._writers = set()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("tamper relay did not start")

    # ---- test side
    def arm(self, kind, direction):
        assert kind in KINDS and direction in (C2S, S2C)
        with self.lock:
            self.done.clear()
            self.plan = (kind, direction)

    def messages(self, direction):
        """Data messages seen in one direction, all connections."""
        with self.lock:
            return sum(v for (c, d), v in self.counts.items() if d == direction)

    def close(self):
        async def shut():
            self._server.close()
            for w in list(self._writers):
                w.transport.abort()
            me = asyncio.current_task()
            rest = [t for t in asyncio.all_tasks() if t is not me]
            for t in rest:
                t.cancel()
            await asyncio.gather(*rest, return_exceptions=True)
        try:
            asyncio.run_coroutine_threadsafe(shut(), self.loop).result(5)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5)

    # ---- loop side
    def _run(self):
        asyncio.set_event_loop(self.loop)
        self._server = self.loop.run_until_complete(asyncio.start_server(
            self._handle, "127.0.0.1", 0, ssl=self.server_ssl))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self.loop.run_forever()

    def _take(self, conn, d):
        """Count a data message; return the tampering due for it, if any
        (never the first message: that is the Noise handshake)."""
        with self.lock:
            n = self.counts.get((conn, d), 0)
            self.counts[(conn, d)] = n + 1
            if self.plan is None or self.plan[1] != d or n == 0:
                return None, n
            kind = self.plan[0]
            self.plan = None
            return kind, n

    def _record(self, conn, d, kind, n, length):
        with self.lock:
            self.events.append((conn, d, kind, n, length))
        self.done.set()

    async def _handle(self, cr, cw):
        conn = self.conns
        self.conns += 1
        try:
            sr, sw = await asyncio.open_connection(
                "127.0.0.1", self.target_port, ssl=self.client_ssl,
                server_hostname=self.server_hostname if self.client_ssl else None)
        except (OSError, ssl.SSLError):
            cw.close()
            return
        self._writers |= {cw, sw}

        def close_all():
            for w in (cw, sw):
                if not w.is_closing():
                    w.close()
        await asyncio.gather(self._pipe(cr, sw, conn, C2S, close_all),
                             self._pipe(sr, cw, conn, S2C, close_all),
                             return_exceptions=True)
        close_all()
        self._writers -= {cw, sw}

    async def _pipe(self, r, w, conn, d, close_all):
        held = None
        try:
            w.write(await r.readuntil(b"\r\n\r\n"))  # the HTTP upgrade, as is
            msg = []
            while True:
                f = await read_frame(r)
                if f.opcode >= 8:  # control frame, may sit inside a message
                    w.write(f.encode())
                    await w.drain()
                    continue
                msg.append(f)
                if not f.fin:
                    continue
                frames, msg = msg, []
                data = b"".join(x.encode() for x in frames)
                kind, n = self._take(conn, d)
                if held is not None:  # swap: the later one goes first
                    w.write(data + held)
                    held = None
                    await w.drain()
                    continue
                if kind is None:
                    w.write(data)
                elif kind == "drop":
                    pass
                elif kind == "swap":
                    held = data
                elif kind == "dup":
                    w.write(data + data)
                elif kind in ("flip", "truncate"):
                    last = frames[-1]
                    p = bytearray(last.payload)
                    if kind == "flip":
                        p[-1] ^= 0x01
                    else:
                        del p[-1]
                    last.payload = bytes(p)
                    w.write(b"".join(x.encode() for x in frames))
                else:  # cut
                    w.write(data[:len(data) // 2])
                    await w.drain()
                    self._record(conn, d, kind, n, len(data))
                    close_all()
                    return
                if kind is not None:
                    self._record(conn, d, kind, n, len(data))
                await w.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError,
                OSError, ssl.SSLError, ValueError):
            pass
        finally:
            close_all()


def tls_contexts(relay_cert, relay_key, server_ca):
    """(context facing rvpn-client, context facing rvpn-server)."""
    srv = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    srv.load_cert_chain(relay_cert, relay_key)
    cli = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    cli.load_verify_locations(server_ca)
    return srv, cli
