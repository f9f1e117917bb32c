#!/usr/bin/env python3
"""Differential check of packaging/lws-patches on the ws client path.

Builds ws_client_frames.c twice, against a pristine and a patched lws (install
prefixes), runs each against this scripted server (127.0.0.1 only) with
several TCP chunkings and client rx buffer sizes, and requires identical client
output (every receive callback: length, first/final, hash).  The server also
checks every message the client sends (masked, many lengths, 7/16/64-bit
length forms) and the pongs and the close ack it answers with.

  [CFLAGS=...] ws_frames_check.py PRISTINE_PREFIX PATCHED_PREFIX
"""
import base64, hashlib, os, random, socket, struct, subprocess, sys, tempfile, threading, time

HERE = os.path.dirname(os.path.abspath(__file__))
TX_LENS = [0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 125, 126, 127, 128, 1000, 4095, 4096,
           65535, 65536, 100001]
R = random.Random(6455)
MASKS = []  # every mask key the client used, per connection (serve resets it)


def data(n):
    return R.randbytes(n)


def frame(op, payload, fin=True, mask=None, form=None):
    n = len(payload)
    m = 0x80 if mask else 0
    form = form or (7 if n < 126 else 16 if n < 65536 else 64)
    h = bytes([(0x80 if fin else 0) | op])
    if form == 7:
        h += bytes([m | n])
    elif form == 16:
        h += bytes([m | 126]) + struct.pack(">H", n)
    else:
        h += bytes([m | 127]) + struct.pack(">Q", n)
    if mask:
        payload = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
        h += mask
    return h + payload


def script():
    f = [frame(2, b""), frame(1, b"hello")]
    for n in (1, 2, 3, 125, 126, 127, 999, 1000, 1001, 4095, 4096, 4097, 65535, 65536, 300000):
        f.append(frame(2, data(n)))
    f += [frame(2, data(5), form=16), frame(2, data(200), form=64)]
    # fragmented, with control frames between the fragments
    f += [frame(2, data(1000), fin=False), frame(9, b"abc"), None, frame(0, data(70000), fin=False),
          frame(10, b"xy"), frame(0, b"", fin=False), frame(0, data(3))]
    f += [frame(9, b""), None]
    # Masked server frames (a server must not send them, but lws takes them).
    # lws keeps one mask for rx and tx: any client write while they arrive
    # (a pong, a message) changes how they are unmasked, with or without our
    # patches.  So the server sends its frames only once the client has sent
    # all its messages, waits for each pong (None in the list), and sends no
    # ping among the masked frames.
    m = [frame(2, data(1001), mask=b"\x11\x22\x33\x44"), frame(2, data(7), mask=b"\x01\x02\x03\x04"),
         frame(2, data(10), fin=False, mask=b"\xa0\xb0\xc0\xd0"), frame(10, b"po", mask=b"\x05\x06\x07\x08"),
         frame(0, data(70003), mask=b"\xff\x00\xff\x00", fin=False), frame(0, data(1), mask=b"\x0f\x00\x0f\x00")]
    return f + m


def read_exact(s, n):
    b = bytearray()
    while len(b) < n:
        d = s.recv(n - len(b))
        if not d:
            raise EOFError
        b += d
    return bytes(b)


def read_frame(s):
    b0, b1 = read_exact(s, 2)
    n = b1 & 0x7f
    if n == 126:
        n = struct.unpack(">H", read_exact(s, 2))[0]
    elif n == 127:
        n = struct.unpack(">Q", read_exact(s, 8))[0]
    mask = read_exact(s, 4) if b1 & 0x80 else None
    if mask:
        MASKS.append(mask)
    p = read_exact(s, n)
    if mask:
        p = bytes(b ^ mask[i & 3] for i, b in enumerate(p)) if n < 4096 else \
            (int.from_bytes(p, "little") ^ int.from_bytes((mask * (n // 4 + 1))[:n], "little")).to_bytes(n, "little")
    return b0 & 0x80, b0 & 0xf, bool(mask), p


def send_chunked(s, stream, chunking, rnd):
    i = 0
    while i < len(stream):
        if chunking == "whole":
            n = len(stream)
        elif chunking == "tiny":
            n = rnd.choice((1, 1, 2, 3, 5, 9, 14)) if i < 20000 else 65536
        else:
            n = rnd.choice((1, 2, 3, 7, 100, 1499, 1500, 4000, 16384, 70000))
        s.sendall(stream[i:i + n])
        i += n
        if chunking != "whole" and rnd.random() < 0.02:
            time.sleep(0.001)


def serve(ls, frames, chunking, report):
    s, _ = ls.accept()
    del MASKS[:]
    s.settimeout(20)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    req = b""
    while b"\r\n\r\n" not in req:
        req += s.recv(4096)
    key = [l.split(b":", 1)[1].strip() for l in req.split(b"\r\n") if l.lower().startswith(b"sec-websocket-key:")][0]
    acc = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
    s.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Accept: " + acc + b"\r\nSec-WebSocket-Protocol: frames\r\n\r\n")
    got = []
    all_in = threading.Event()
    pongs = threading.Semaphore(0)
    closed = threading.Event()

    def reader():
        try:
            while True:
                fin, op, masked, p = read_frame(s)
                if not masked:
                    report.append("server: unmasked frame from the client")
                if op == 2:
                    got.append(p)
                    if len(got) == len(TX_LENS):
                        # 0004 draws keys from a pool: each frame its own
                        if len(set(MASKS)) != len(MASKS) or b"\0\0\0\0" in MASKS:
                            report.append("server: a mask key repeated or zero")
                        all_in.set()
                elif op == 10:
                    report.append("server: pong %r" % p)
                    pongs.release()
                elif op == 8:
                    report.append("server: close ack %r" % p)
                    closed.set()
                    return
                else:
                    report.append("server: opcode %d" % op)
        except (EOFError, OSError) as e:
            report.append("server: reader ended: %r" % e)
            all_in.set()
            closed.set()
    t = threading.Thread(target=reader, daemon=True)
    t.start()
    rnd = random.Random(len(chunking))
    all_in.wait(20)
    part = []
    for f in frames + ["end"]:
        if isinstance(f, bytes):
            part.append(f)
            continue
        send_chunked(s, b"".join(part), chunking, rnd)
        part = []
        if f is None and not pongs.acquire(timeout=20):
            report.append("server: no pong")
    s.sendall(frame(8, struct.pack(">H", 1000) + b"bye"))
    closed.wait(20)
    s.close()
    t.join(5)
    ok = [len(p) == n and p == bytes((i * 7 + n) & 0xff for i in range(n)) for p, n in zip(got, TX_LENS)]
    report.append("server: %d client messages, %d correct" % (len(got), sum(ok)))


def run(client, chunking, rxbuf):
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    report = []
    frames = script()
    def serve_safe():
        try:
            serve(ls, frames, chunking, report)
        except OSError as e:
            report.append("server: %r" % e)
    th = threading.Thread(target=serve_safe, daemon=True)
    th.start()
    p = subprocess.run([client, str(ls.getsockname()[1]), str(rxbuf)], capture_output=True,
                       text=True, timeout=60)
    th.join(30)
    ls.close()
    return p.returncode, p.stdout.splitlines() + report


def build(prefix, out):
    # CFLAGS: e.g. -fsanitize=address,undefined for an lws built with them.
    subprocess.run(["cc", "-O2", "-Wall", "-Wextra", "-Werror"] + os.environ.get("CFLAGS", "").split() +
                   ["-I", prefix + "/include", "-o", out,
                    os.path.join(HERE, "ws_client_frames.c"), prefix + "/lib/libwebsockets.a",
                    "-lmbedtls", "-lmbedx509", "-lmbedcrypto", "-lpthread"], check=True)


def main():
    pristine, patched = sys.argv[1:3]
    tmp = tempfile.mkdtemp(prefix="lws-frames-")
    a, b = os.path.join(tmp, "pristine"), os.path.join(tmp, "patched")
    build(pristine, a)
    build(patched, b)
    fails = 0
    for chunking in ("whole", "random", "tiny"):
        for rxbuf in (0, 1000, 65550):
            global R
            R = random.Random(6455)
            ra = run(a, chunking, rxbuf)
            R = random.Random(6455)
            rb = run(b, chunking, rxbuf)
            good = ra == rb and ra[0] == 0 and \
                "server: %d client messages, %d correct" % (len(TX_LENS), len(TX_LENS)) in ra[1] and \
                any(l.startswith("peer close len=5 code=1000") for l in ra[1])
            print("%-6s rxbuf=%-5d %s (%d lines)" % (chunking, rxbuf, "same, ok" if good else "DIFFERENT/BAD", len(rb[1])))
            if not good:
                fails += 1
                import difflib
                print("\n".join(difflib.unified_diff(ra[1], rb[1], "pristine", "patched", lineterm="")))
                print("rc", ra[0], rb[0])
    print("ws_frames_check: %s" % ("FAILED" if fails else "OK"))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
