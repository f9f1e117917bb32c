#!/usr/bin/env python3
"""Load: 200 concurrent streams moving random data both ways with SHA-256
checked at both ends, and one large stream (256 MiB; 1 GiB with
RVPN_IT_LARGE=1) each way with a checksum, reporting MB/s.
Owner: integration helper."""

import asyncio
import hashlib
import os
import random
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rvpn_it import (GiB, MiB, NAME_V4, Pattern, Runner, check, log, metric,  # noqa: E402
                     socks_open, socks_request)

R = Runner("load")

N_STREAMS = int(os.environ.get("RVPN_IT_STREAMS", "200"))


def large_size(w):
    if os.environ.get("RVPN_IT_LARGE") == "1":
        return GiB
    if w.sanitize:
        return 64 * MiB
    return 256 * MiB


async def socks_open_async(proxy_port, host, port):
    r, w = await asyncio.open_connection("127.0.0.1", proxy_port, limit=MiB)
    w.write(b"\x05\x01\x00")
    m = await r.readexactly(2)
    check(m == b"\x05\x00", "method selection %r" % m)
    w.write(socks_request(host, port))
    h = await r.readexactly(4)
    alen = {1: 4, 4: 16}.get(h[3])
    if alen is None:
        alen = (await r.readexactly(1))[0]
    await r.readexactly(alen + 2)
    check(h[1] == 0, "SOCKS reply %d for %s:%d" % (h[1], host, port))
    return r, w


async def one_duplex_stream(proxy_port, host, port, up_len, down_len, pat, stats):
    r, w = await socks_open_async(proxy_port, host, port)
    try:
        w.write(struct.pack(">QQ", up_len, down_len))

        async def send():
            h = hashlib.sha256()
            for c in pat.chunks(up_len):
                h.update(c)
                w.write(c)
                await w.drain()
            w.write(h.digest())
            await w.drain()

        async def recv():
            h = hashlib.sha256()
            left = down_len
            while left:
                d = await r.read(min(left, 262144))
                if not d:
                    raise EOFError("download ended after %d of %d bytes" % (down_len - left,
                                                                           down_len))
                h.update(d)
                left -= len(d)
            tail = await r.readexactly(33)
            return h.digest() == tail[:32], tail[32] == 1

        _, (down_ok, up_ok) = await asyncio.gather(send(), recv())
        check(down_ok, "download checksum mismatch (%d bytes)" % down_len)
        check(up_ok, "target saw an upload checksum mismatch (%d bytes)" % up_len)
        stats["bytes"] += up_len + down_len
        stats["done"] += 1
    finally:
        w.close()


@R.test(timeout=300)
def concurrent_streams_200_sha256_both_ways(w):
    rnd = random.Random(1234)
    pat = Pattern(7)
    max_each = 512 * 1024 if not w.sanitize else 128 * 1024
    plan = []
    for i in range(N_STREAMS):
        host = ("127.0.0.1", "::1", NAME_V4)[i % 3]
        plan.append((host, rnd.randrange(1, max_each), rnd.randrange(1, max_each)))
    stats = {"bytes": 0, "done": 0}
    errors = []

    async def run_all():
        async def guarded(i, p):
            try:
                await one_duplex_stream(w.socks_port, p[0], w.targets.ports["duplex"], p[1], p[2],
                                        pat, stats)
            except Exception as e:  # noqa: BLE001 - collect, report all
                errors.append("stream %d (%s up %d down %d): %r" % (i, p[0], p[1], p[2], e))
        await asyncio.wait_for(asyncio.gather(*(guarded(i, p) for i, p in enumerate(plan))),
                               240)

    t0 = time.monotonic()
    asyncio.run(run_all())
    secs = time.monotonic() - t0
    log("%d/%d streams done, %d errors" % (stats["done"], N_STREAMS, len(errors)))
    for e in errors[:10]:
        log("  " + e)
    check(not errors and stats["done"] == N_STREAMS,
          "%d of %d concurrent streams failed" % (len(errors), N_STREAMS))
    metric("streams_%d_total_MB" % N_STREAMS, stats["bytes"] / 1e6, "MB")
    metric("streams_%d_seconds" % N_STREAMS, secs, "s")
    metric("streams_%d_MBps" % N_STREAMS, stats["bytes"] / 1e6 / secs, "MB/s")
    w.assert_works()


def tunnel_open(w, host, port):
    return socks_open(w.socks_port, host, port)


def large_upload(w, size, opener=tunnel_open):
    """Client -> target through the tunnel into the sink; returns MB/s.
    opener(w, host, port) makes the connection (the bench passes a direct
    one to measure the harness's own ceiling)."""
    s = opener(w, "127.0.0.1", w.targets.ports["sink"])
    try:
        s.settimeout(120)
        h = hashlib.sha256()
        pat = Pattern(11)
        t0 = time.monotonic()
        for c in pat.chunks(size):
            h.update(c)
            s.sendall(c)
        s.shutdown(socket.SHUT_WR)
        tail = bytearray()
        while len(tail) < 40:
            d = s.recv(40 - len(tail))
            if not d:
                break
            tail += d
        secs = time.monotonic() - t0
        check(len(tail) == 40, "sink's answer missing (got %d bytes)" % len(tail))
        total = struct.unpack(">Q", tail[:8])[0]
        check(total == size, "sink received %d bytes, sent %d" % (total, size))
        check(bytes(tail[8:]) == h.digest(), "upload checksum mismatch")
        return size / 1e6 / secs
    finally:
        s.close()


def large_download(w, size, opener=tunnel_open):
    """Target -> client (duplex protocol, nothing up); returns MB/s."""
    s = opener(w, "127.0.0.1", w.targets.ports["duplex"])
    try:
        s.settimeout(120)
        t0 = time.monotonic()
        s.sendall(struct.pack(">QQ", 0, size) + hashlib.sha256(b"").digest())
        h = hashlib.sha256()
        left = size
        buf = bytearray(MiB)
        mv = memoryview(buf)
        while left:
            n = s.recv_into(mv, min(left, MiB))
            check(n > 0, "download ended after %d of %d bytes" % (size - left, size))
            h.update(mv[:n])
            left -= n
        tail = bytearray()
        while len(tail) < 33:
            d = s.recv(33 - len(tail))
            check(d, "missing checksum trailer")
            tail += d
        secs = time.monotonic() - t0
        check(bytes(tail[:32]) == h.digest(), "download checksum mismatch")
        return size / 1e6 / secs
    finally:
        s.close()


@R.test(timeout=600)
def large_stream_upload_checksum(w):
    size = large_size(w)
    mbps = large_upload(w, size)
    metric("large_upload_%dMiB_MBps" % (size // MiB), mbps, "MB/s")


@R.test(timeout=600)
def large_stream_download_checksum(w):
    size = large_size(w)
    mbps = large_download(w, size)
    metric("large_download_%dMiB_MBps" % (size // MiB), mbps, "MB/s")


@R.test(timeout=600)
def large_streams_both_ways_at_once(w):
    size = large_size(w) // 4
    res = {}

    def up():
        try:
            res["up"] = large_upload(w, size)
        except Exception as e:  # noqa: BLE001
            res["up_err"] = e
    t = threading.Thread(target=up, daemon=True)
    t.start()
    res["down"] = large_download(w, size)
    t.join(300)
    check(not t.is_alive(), "upload did not finish")
    check("up_err" not in res, "upload failed: %r" % res.get("up_err"))
    metric("parallel_up_%dMiB_MBps" % (size // MiB), res["up"], "MB/s")
    metric("parallel_down_%dMiB_MBps" % (size // MiB), res["down"], "MB/s")


if __name__ == "__main__":
    R.main()
