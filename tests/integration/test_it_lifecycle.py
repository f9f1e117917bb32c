#!/usr/bin/env python3
"""Lifecycle: connection pooling on a repeated destination (hit/miss counts
read from the server's log at SIGTERM, hit rate reported), and SIGTERM
draining (streams in flight finish, the server exits 0, the client
reconnects to a new server).
Owner: integration helper."""

import hashlib
import os
import re
import signal
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rvpn_it import (MiB, NAME_V4, Runner, check, http_get_raw, log, metric,  # noqa: E402
                     recv_exact, socks_connect, socks_open, wait_until)

R = Runner("lifecycle")

N_REPEAT = 100
PACE_S = 0.02  # think time between requests, as a browser would have


def parse_pool_counts(text):
    """(hits, misses, line) from the server's shutdown log, or None.
    Accepts "pool: 40 requests, 30 hits (75.0%), 10 misses, ..." (rv_pool.h)
    and "hits=30 misses=10" / "hits: 30, misses: 10"."""
    lines = text.splitlines()
    lines = [l for l in lines if "pool" in l.lower()] + lines
    for line in reversed(lines):
        h = re.search(r"\bhits?\s*[=:]\s*(\d+)", line, re.I) or \
            re.search(r"(\d+)\s+hits?\b", line, re.I)
        m = re.search(r"\bmiss(?:es)?\s*[=:]\s*(\d+)", line, re.I) or \
            re.search(r"(\d+)\s+miss(?:es)?\b", line, re.I)
        if h and m:
            return int(h.group(1)), int(m.group(1)), line.strip()
    return None


@R.test(timeout=300, fresh=True)
def pool_repeated_destination_hit_rate(w):
    # The pool pre-connects only to --pool-ports (default 80,443): add the
    # HTTP target's port, then let the client reconnect.
    w.stop_proc(w.server, "rvpn-server")
    w.start_server(extra=["--pool-ports", "80,443,%d" % w.targets.http_port])
    w.wait_client()
    t0 = time.monotonic()
    for i in range(N_REPEAT):
        host = "127.0.0.1" if i % 2 == 0 else NAME_V4
        s = socks_open(w.socks_port, host, w.targets.http_port)
        try:
            st, _h, body = http_get_raw(s, host, "/small")
            check(st == 200 and body == w.targets.files["/small"], "request %d: status %d" % (i, st))
        finally:
            s.close()
        time.sleep(PACE_S)
    log("%d requests in %.1fs" % (N_REPEAT, time.monotonic() - t0))
    w.stop_proc(w.client, "rvpn-client")
    w.client = None
    rc, secs = w.stop_proc(w.server, "rvpn-server")
    check(rc == 0, "server exit %s after SIGTERM" % rc)
    # One summary line per worker process: sum them.
    found = [parse_pool_counts(l) for l in w.server.log_text().splitlines()
             if "pool: " in l and "requests" in l]
    found = [c for c in found if c is not None]
    check(found, "no pool hit/miss line in the server's log at shutdown")
    hits, misses = sum(c[0] for c in found), sum(c[1] for c in found)
    line = " | ".join(c[2] for c in found)
    log("server: %s" % line)
    total = hits + misses
    metric("pool_hits", hits)
    metric("pool_misses", misses)
    rate = 100.0 * hits / total if total else 0.0
    metric("pool_hit_rate_pct", rate, "%")
    check(total >= N_REPEAT // 2, "pool counted only %d lookups for %d connects" % (total,
                                                                                    N_REPEAT))
    check(hits > 0, "no pool hit in %d connects to the same destination" % N_REPEAT)


@R.test(timeout=300, fresh=True)
def sigterm_drains_streams_and_exits_0(w):
    size = 32 * MiB
    s = socks_open(w.socks_port, "127.0.0.1", w.targets.ports["duplex"])
    try:
        s.settimeout(60)
        s.sendall(struct.pack(">QQ", 0, size) + hashlib.sha256(b"").digest())
        h = hashlib.sha256()
        first = recv_exact(s, MiB)  # the stream is live and mid-transfer
        h.update(first)
        got = len(first)
        t0 = time.monotonic()
        w.server.send_signal(signal.SIGTERM)
        # Keep reading: the draining server should let this stream finish.
        while got < size:
            d = s.recv(min(MiB, size - got))
            check(d, "stream cut during drain after %d of %d bytes" % (got, size))
            h.update(d)
            got += len(d)
        tail = recv_exact(s, 33)
        check(tail[:32] == h.digest(), "checksum mismatch across the drain")
    finally:
        s.close()
    rc = w.server.wait(60)
    secs = time.monotonic() - t0
    check(rc is not None, "server still running 60 s after SIGTERM")
    metric("server_sigterm_exit_s", secs, "s")
    check(rc == 0, "server exited %s after SIGTERM, expected 0" % rc)
    rep = w.server.sanitizer_report()
    check(rep is None, "server sanitizer report:\n%s" % rep)
    # While no server runs, the client lives on; a new server is found again.
    check(w.client.alive(), "client died when the server drained")
    w.start_server(wait=True)
    t1 = time.monotonic()
    wait_until(lambda: (w.assert_works() or True), 120, "the client to use the new server",
               interval=0.1)
    metric("reconnect_after_drain_s", time.monotonic() - t1, "s")


@R.test(timeout=300, fresh=True)
def sigterm_with_idle_streams_exits_0(w):
    # Streams that stay open and quiet must not hold the server beyond its
    # bounded drain time.
    socks = [socks_open(w.socks_port, "127.0.0.1", w.targets.ports["echo"]) for _ in range(20)]
    try:
        rc, secs = w.stop_proc(w.server, "rvpn-server", timeout=60)
        metric("server_sigterm_idle_streams_exit_s", secs, "s")
        check(rc == 0, "server exit %s" % rc)
        for s in socks:
            check(__import__("rvpn_it").wait_closed(s, 30),
                  "a local stream stayed open after its server went away")
    finally:
        for s in socks:
            s.close()


@R.test(timeout=200, fresh=True)
def client_sigterm_exits_0_with_streams_open(w):
    socks = [socks_open(w.socks_port, "127.0.0.1", w.targets.ports["echo"]) for _ in range(10)]
    try:
        rc, secs = w.stop_proc(w.client, "rvpn-client", timeout=60)
        metric("client_sigterm_exit_s", secs, "s")
        check(rc == 0, "client exit %s" % rc)
    finally:
        for s in socks:
            s.close()


@R.test(timeout=300, fresh=True)
def many_sequential_connections_no_fd_leak(w):
    def nfds(pid):
        return len(os.listdir("/proc/%d/fd" % pid))
    w.assert_works()
    c0, s0 = nfds(w.client.pid), w.server.fd_count()
    for i in range(300):
        r = socks_connect(w.socks_port, "127.0.0.1", w.targets.ports["echo"])
        try:
            check(r.rep == 0, "connect %d: reply %s" % (i, r.rep))
            r.sock.sendall(b"x")
            check(recv_exact(r.sock, 1) == b"x", "echo")
        finally:
            r.close()
    # Closing is asynchronous in the tunnel: poll until the counts settle.
    def settled():
        return nfds(w.client.pid) <= c0 + 8 and w.server.fd_count() <= s0 + 16
    try:
        wait_until(settled, 30, "file descriptor counts to settle")
    finally:
        metric("fd_growth_client", nfds(w.client.pid) - c0)
        metric("fd_growth_server", w.server.fd_count() - s0)


if __name__ == "__main__":
    _ = threading
    R.main()
