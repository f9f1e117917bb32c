#!/usr/bin/env python3
"""Many concurrent idle streams through one client: each one alive (a byte
round trip on every stream), each costing one descriptor in each program
(not two: the loop watches fds without dup()ing them), all descriptors given
back when the streams close.  2,000 streams (400 under --sanitize).
Owner: session/loop engineer."""

import os
import resource
import selectors
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rvpn_it import (Runner, World, check, log, metric, wait_until)  # noqa: E402

R = Runner("manystreams")


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def stream_count(w):
    n = 400 if w.sanitize else 2000
    # This process holds each stream's SOCKS socket and the echo target's
    # socket: stay inside our own descriptor limit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    return min(n, (soft - 200) // 2)


def open_streams(proxy_port, target_port, n, window=64, timeout=60):
    """n SOCKS5 CONNECTs, at most `window` negotiating at once; returns the
    connected sockets (non-blocking)."""
    req = (b"\x05\x01\x00" + b"\x05\x01\x00\x01" + socket.inet_aton("127.0.0.1") +
           struct.pack(">H", target_port))
    sel = selectors.DefaultSelector()
    done, started, inflight = [], 0, 0
    deadline = time.monotonic() + timeout
    try:
        while len(done) < n:
            check(time.monotonic() < deadline, "opened only %d of %d streams in %d s" %
                  (len(done), n, timeout))
            while inflight < window and started < n:
                s = socket.socket()
                s.setblocking(False)
                try:
                    s.connect(("127.0.0.1", proxy_port))
                except BlockingIOError:
                    pass
                sel.register(s, selectors.EVENT_WRITE, [b"", False])
                started += 1
                inflight += 1
            for key, ev in sel.select(1.0):
                s, st = key.fileobj, key.data
                if not st[1]:
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    check(err == 0, "connect to the SOCKS port: %s" % os.strerror(err))
                    s.send(req)  # greeting and request at once
                    st[1] = True
                    sel.modify(s, selectors.EVENT_READ, st)
                    continue
                d = s.recv(64)
                check(d, "stream %d closed during SOCKS (got %r)" % (len(done), st[0]))
                st[0] += d
                if len(st[0]) >= 12:
                    check(st[0][:4] == b"\x05\x00\x05\x00", "SOCKS replies %r" % st[0])
                    sel.unregister(s)
                    done.append(s)
                    inflight -= 1
    except BaseException:
        for s in done:
            s.close()
        for key in list(sel.get_map().values()):
            key.fileobj.close()
        raise
    finally:
        sel.close()
    return done


def round_trip_all(socks, timeout=60):
    """A different byte on every stream; each must come back on its own."""
    sel = selectors.DefaultSelector()
    try:
        for i, s in enumerate(socks):
            s.send(bytes([i % 251]))
            sel.register(s, selectors.EVENT_READ, i)
        left = len(socks)
        deadline = time.monotonic() + timeout
        while left:
            check(time.monotonic() < deadline, "%d of %d streams did not echo" %
                  (left, len(socks)))
            for key, _ in sel.select(1.0):
                d = key.fileobj.recv(16)
                check(d == bytes([key.data % 251]),
                      "stream %d echoed %r" % (key.data, d))
                sel.unregister(key.fileobj)
                left -= 1
    finally:
        sel.close()


def make_world(args):
    return World(args, server_extra=["--max-streams", "4096", "--max-streams-per-key", "4096"])


@R.test(timeout=240, world=make_world)
def many_idle_streams_one_fd_each(w):
    n = stream_count(w)
    cp = w.client.pid
    base_c, base_s = fd_count(cp), w.server.fd_count()
    t0 = time.monotonic()
    socks = open_streams(w.socks_port, w.targets.ports["echo"], n)
    secs = time.monotonic() - t0
    try:
        round_trip_all(socks)
        dc, ds = fd_count(cp) - base_c, w.server.fd_count() - base_s
        rss_c, rss_s = w.client.rss_kib(), w.server.rss_kib()
        log("%d streams open in %.2f s; descriptors +%d client, +%d server; RSS %d + %d KiB" %
            (n, secs, dc, ds, rss_c, rss_s))
        metric("manystreams_%d_open_seconds" % n, secs, "s")
        metric("manystreams_%d_rss_kib" % n, rss_c + rss_s, "KiB")
        # One descriptor per stream in each program (a dup per watcher
        # would make it two), plus a little slack for lws and DNS.
        for who, d in (("client", dc), ("server", ds)):
            check(n - 16 <= d <= n + n // 20 + 16,
                  "%s holds %d more descriptors for %d streams (want ~1 each)" % (who, d, n))
        # Still alive after everything: a second round trip.
        round_trip_all(socks)
    finally:
        for s in socks:
            s.close()
    # Every stream's descriptor comes back.
    wait_until(lambda: fd_count(cp) <= base_c + 4 and w.server.fd_count() <= base_s + 4, 30,
               "descriptors back to the baseline (client %d, server %d)" % (base_c, base_s))
    w.assert_works()


if __name__ == "__main__":
    R.main(make_world)
