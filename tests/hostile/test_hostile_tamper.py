#!/usr/bin/env python3
"""A tampering relay on the path (tamper_relay.py) between rvpn-client and
rvpn-server, over ws:// and over wss:// with the client's --insecure-tls
(the relay terminates TLS on both legs with its own certificate).  While
several streams carry deterministic data both ways (checked byte by byte
and by SHA-256 against what was sent), the relay drops,
swaps, duplicates, bit-flips or truncates one WebSocket message, or cuts
the connection in the middle of one.

Asserts: no application (SOCKS client or target) ever receives bytes that
are not a prefix of what was sent, and none sees a clean end of data
before the last byte: every stream ends with an error (reset); the side
that received the tampered message logs the reason once; the client
reconnects and a new stream works; the server's descriptors come back.
Owner: ordering helper."""

import hashlib
import os
import random
import socket
import struct
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)
from rvpn_it import (MiB, RssSampler, Runner, TestFailure, World, check,  # noqa: E402
                     http_get_raw, log, make_self_signed, metric, socks_open, wait_until)
from tamper_relay import C2S, DIR_NAMES, S2C, TamperRelay, tls_contexts  # noqa: E402

R = Runner("tamper")

# What the receiving side must log (rv_err_str of the ratchet's code).
REASON = {"drop": "out of order", "swap": "out of order", "dup": "replayed",
          "flip": "authentication failed", "truncate": "authentication failed", "cut": None}
NSTREAMS = 3
SIZE = 64 * MiB          # per direction per stream: never finishes before the tampering
FLOWING = 256 * 1024     # bytes each reader must have seen before the relay acts
STREAM_TIMEOUT = 30.0


class Pat:
    """Deterministic stream content for a seed: 64 KiB chunks of a 1 MiB
    random block at rotating offsets (no period a dropped message could
    hide in)."""
    BLOCK = MiB
    CH = 65536

    def __init__(self, seed):
        r = random.Random(seed)
        self.buf = r.randbytes(self.BLOCK + self.CH)

    def slice(self, pos, n):
        out = bytearray()
        while n > 0:
            i, o = divmod(pos, self.CH)
            off = (i * 7 * self.CH + i * 4099) % self.BLOCK
            take = min(n, self.CH - o)
            out += self.buf[off + o:off + o + take]
            pos += take
            n -= take
        return bytes(out)


class End:
    """One application's view of one direction of a stream."""

    def __init__(self, name, size):
        self.name = name
        self.size = size
        self.got = 0
        self.sha = hashlib.sha256()  # of everything received
        self.pat = None              # what should have been received
        self.mismatch_at = None
        self.end = None  # reading: "eof", "reset", "timeout", "error: ..."
        # A reset is reported once per socket, to whichever call comes
        # first: the reader or the concurrent writer.
        self.send_reset = False
        self.done = threading.Event()  # reader and writer both finished

    def reset_seen(self):
        return self.end == "reset" or self.send_reset

    def prefix_sha_ok(self):
        """SHA-256 of what arrived = SHA-256 of the first `got` bytes sent."""
        want = hashlib.sha256()
        for pos in range(0, self.got, MiB):
            want.update(self.pat.slice(pos, min(MiB, self.got - pos)))
        return want.digest() == self.sha.digest()

    def verdict(self):
        """None if acceptable: intact, or a prefix that ended with an error."""
        if self.mismatch_at is not None:
            return "%s: received bytes differ from those sent at offset %d" % (
                self.name, self.mismatch_at)
        if not self.prefix_sha_ok():
            return "%s: SHA-256 of the %d bytes received is not that of the bytes sent" % (
                self.name, self.got)
        if self.end == "eof" and self.got != self.size and not self.reset_seen():
            return "%s: clean end of data after %d of %d bytes" % (self.name, self.got, self.size)
        if self.end in (None, "timeout"):
            return "%s: still open / hung after %d bytes" % (self.name, self.got)
        return None


def pump_out(sock, pat, size, stop, end):
    pos = 0
    try:
        while pos < size and not stop.is_set():
            n = min(Pat.CH, size - pos)
            sock.sendall(pat.slice(pos, n))
            pos += n
        sock.shutdown(socket.SHUT_WR)
    except ConnectionResetError:
        end.send_reset = True
    except OSError:
        pass


def check_in(sock, pat, end, stop):
    end.pat = pat
    try:
        while not stop.is_set():
            d = sock.recv(65536)
            if not d:
                end.end = "eof"
                return
            if end.mismatch_at is None and d != pat.slice(end.got, len(d)):
                end.mismatch_at = end.got
            end.sha.update(d)
            end.got += len(d)
        end.end = "stopped"
    except socket.timeout:
        end.end = "timeout"
    except ConnectionResetError:
        end.end = "reset"
    except OSError as e:
        end.end = "error: %s" % e


def both_ways(sock, seed, size, end, stop, first=b""):
    """Send pattern seed*2 (+1 for the target side) while checking the
    other one; sock is closed on return."""
    sock.settimeout(STREAM_TIMEOUT)
    up = threading.Thread(target=pump_out,
                          args=(sock, Pat(2 * seed + (first == b"")), size, stop, end),
                          daemon=True)
    try:
        if first:
            sock.sendall(first)
        up.start()
        check_in(sock, Pat(2 * seed + (first != b"")), end, stop)
    except OSError as e:
        end.end = end.end or "error: %s" % e
    finally:
        stop.set()
        if up.is_alive():
            up.join(STREAM_TIMEOUT)
        sock.close()
        end.done.set()


class PatternTarget:
    """Target on 127.0.0.1: reads a header (seed u64 | size u64), then sends
    size bytes of its pattern and checks the client's, both ways at once."""

    def __init__(self):
        self.ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(64)
        self.port = self.ls.getsockname()[1]
        self.ends = {}  # seed -> End (what the target received)
        self.stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            c.settimeout(STREAM_TIMEOUT)
            hdr = b""
            while len(hdr) < 16:
                d = c.recv(16 - len(hdr))
                if not d:
                    c.close()
                    return
                hdr += d
        except OSError:
            c.close()
            return
        seed, size = struct.unpack(">QQ", hdr)
        end = End("target of stream %d" % seed, size)
        self.ends[seed] = end
        both_ways(c, seed, size, end, threading.Event())

    def close(self):
        self.ls.close()


def tunnel_works(w):
    try:
        s = socks_open(w.socks_port, "127.0.0.1", w.targets.http_port, timeout=5)
    except (TestFailure, OSError):
        return False
    try:
        st, _h, body = http_get_raw(s, "127.0.0.1", "/", 5)
        return st == 200 and body == w.targets.files["/"]
    except (OSError, EOFError, TestFailure):
        return False
    finally:
        s.close()


def fd_count(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return -1


def scenario(w, relay, target, kind, d, seed0):
    """One act of tampering while NSTREAMS streams carry data both ways."""
    wait_until(lambda: tunnel_works(w), 30, "the tunnel to work before %s" % kind, interval=0.1)
    detector = w.server if d == C2S else w.client
    log_off = detector.log_size()
    srv_log_off = w.server.log_size()
    ends, threads = [], []
    for i in range(NSTREAMS):
        seed = seed0 + i
        s = socks_open(w.socks_port, "127.0.0.1", target.port, timeout=20)
        e = End("client app of stream %d" % seed, SIZE)
        ends.append(e)
        t = threading.Thread(target=both_ways,
                             args=(s, seed, SIZE, e, threading.Event(),
                                   struct.pack(">QQ", seed, SIZE)), daemon=True)
        t.start()
        threads.append(t)
    seeds = [seed0 + i for i in range(NSTREAMS)]
    wait_until(lambda: all(e.got >= FLOWING for e in ends) and
               all(s in target.ends and target.ends[s].got >= FLOWING for s in seeds),
               30, "every stream to carry %d bytes each way" % FLOWING)
    t0 = time.monotonic()
    relay.arm(kind, d)
    check(relay.done.wait(20), "the relay found no %s message to %s" % (DIR_NAMES[d], kind))
    for t in threads:
        t.join(STREAM_TIMEOUT + 5)
    wait_until(lambda: all(target.ends[s].done.is_set() for s in seeds), STREAM_TIMEOUT + 5,
               "every target socket to end")
    elapsed = time.monotonic() - t0
    all_ends = ends + [target.ends[s] for s in seeds]
    bad = [v for v in (e.verdict() for e in all_ends) if v]
    check(not bad, "%s %s: %s" % (kind, DIR_NAMES[d], "; ".join(bad)))
    # Nothing completed: each of the 2 x NSTREAMS applications saw a reset.
    check(all(e.reset_seen() for e in all_ends),
          "%s %s: a stream ended without a reset: %s" % (
              kind, DIR_NAMES[d], [(e.name, e.end, e.send_reset, e.got) for e in all_ends]))
    reason = REASON[kind]
    if reason is not None:
        def refused():
            return [ln for ln in detector.log_since(log_off).splitlines() if " refused: " in ln]
        wait_until(lambda: refused(), 10, "%s to log the refused message" % detector.name)
        lines = refused()
        check(len(lines) == 1 and reason in lines[0],
              "%s should log one refused message (%s), logged %r" % (detector.name, reason,
                                                                     lines))
    else:
        wait_until(lambda: "disconnected" in w.server.log_since(srv_log_off), 10,
                   "rvpn-server to log the cut connection")
    log("%-8s %s: every stream reset within %.2fs (%s), received %s" % (
        kind, DIR_NAMES[d], elapsed, reason or "connection cut",
        ", ".join("%dK" % (e.got // 1024) for e in all_ends)))
    # The client reconnects and a new stream works.
    t1 = time.monotonic()
    wait_until(lambda: tunnel_works(w), 30, "the tunnel to work again after %s" % kind,
               interval=0.1)
    return elapsed, time.monotonic() - t1


def run_all(w, relay, plan, tag):
    target = PatternTarget()
    try:
        wait_until(lambda: tunnel_works(w), 30, "the tunnel to work", interval=0.1)
        procs = (w.server, w.client)
        fds0 = {p.name: fd_count(p.pid) for p in procs}
        worst_reset = worst_back = 0.0
        with RssSampler(list(procs)) as rss:
            for i, (kind, d) in enumerate(plan):
                r, b = scenario(w, relay, target, kind, d, 100 * (i + 1))
                worst_reset = max(worst_reset, r)
                worst_back = max(worst_back, b)
        check(relay.conns >= len(plan) + 1, "only %d WebSocket connections for %d acts" % (
            relay.conns, len(plan)))
        # Every reset stream's descriptors are gone again (the server's
        # warm pool may hold a spare or two more).
        for p in procs:
            wait_until(lambda: fd_count(p.pid) <= fds0[p.name] + 3, 10,
                       "%s's descriptors to come back to %d (now %d)" % (
                           p.name, fds0[p.name], fd_count(p.pid)))
        # Memory stays bounded however many sessions end this way.
        bound = (256 if w.sanitize else 64) * 1024
        for p in procs:
            grew = rss.max[p.name] - (rss.first[p.name] or 0)
            metric("tamper_%s_%s_rss_growth_kib" % (tag, p.name.replace("-", "_")), grew, "KiB")
            check(grew <= bound, "%s grew by %d KiB over %d sessions ended by tampering" % (
                p.name, grew, len(plan)))
        return worst_reset, worst_back
    finally:
        target.close()


def relay_world(args, tls):
    w = World(args, client=False, tls=tls)
    try:
        if tls:
            # The client trusts nothing (--insecure-tls); the relay shows
            # its own certificate and verifies the server's.
            i = w.client_extra.index("--ca")
            del w.client_extra[i:i + 2]
            w.client_extra.append("--insecure-tls")
            cert, key = make_self_signed(w.tmp, "relay", cn="relay.invalid")
            srv_ctx, cli_ctx = tls_contexts(cert, key, w.cert)
            w.relay = TamperRelay(w.server_port, server_ssl=srv_ctx, client_ssl=cli_ctx)
        else:
            w.relay = TamperRelay(w.server_port)
        w.url_port = w.relay.port
        w.start_client(forwards=False)
    except BaseException:
        if getattr(w, "relay", None) is not None:
            w.relay.close()
        w.teardown(check_exit=False)
        raise
    return w


PLAN_WS = [("drop", C2S), ("drop", S2C), ("swap", C2S), ("swap", S2C), ("dup", C2S),
           ("dup", S2C), ("flip", C2S), ("flip", S2C), ("truncate", C2S), ("truncate", S2C),
           ("cut", C2S), ("cut", S2C)]
PLAN_WSS = [("drop", C2S), ("swap", S2C), ("dup", C2S), ("flip", S2C), ("truncate", C2S),
            ("cut", S2C)]


@R.test(timeout=240, world=lambda a: relay_world(a, False))
def tamper_ws(w):
    try:
        r, b = run_all(w, w.relay, PLAN_WS, "ws")
    finally:
        w.relay.close()
    metric("tamper_ws_worst_reset_s", round(r, 3), "s")
    metric("tamper_ws_worst_reconnect_s", round(b, 3), "s")


@R.test(timeout=240, world=lambda a: relay_world(a, True))
def tamper_wss_insecure_tls(w):
    try:
        r, b = run_all(w, w.relay, PLAN_WSS, "wss")
    finally:
        w.relay.close()
    metric("tamper_wss_worst_reset_s", round(r, 3), "s")
    metric("tamper_wss_worst_reconnect_s", round(b, 3), "s")


if __name__ == "__main__":
    R.main()
