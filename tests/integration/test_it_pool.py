#!/usr/bin/env python3
"""The server's warm pool must never break a target.  Real programs, loopback
targets written here:

- one-shot listeners (accept one connection, serve it, close the listener),
  on a port the pool does not pre-connect to by default: every stream is
  served, and the target sees exactly the connections the client asked for;
- greeting targets (a banner on accept): never pre-connected by default;
  with the port forced into the pool (--pool-ports), the pool notices the
  banner on its spare, blacklists the destination, and every client gets a
  banner made for its own connection (fresh, not one that waited in a spare);
- login-timeout targets (close when nothing arrives within 1 s) and targets
  that close idle connections after 1 s, forced into the pool: no request
  is lost, the pool stops pre-connecting after the first closed spare;
- a well-behaved client-speaks-first target forced into the pool: hits, and
  the shutdown stats line reports hits, misses and the time saved per hit.
And the rest of the server's dial path on real programs: "localhost" with
--dns resolves locally (RFC 6761) and is judged by the rules; NAT64, 6to4
and mapped spellings of an IPv4 target meet the operator's IPv4 rules; the
server's own address is denied by default.
Owner: net helper."""

import os
import re
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rvpn_it import (Runner, World, check, free_port, log, metric, socks_connect,  # noqa: E402
                     wait_until)

R = Runner("pool")
IO_TIMEOUT = 10.0


def recv_line(s, timeout=IO_TIMEOUT):
    s.settimeout(timeout)
    buf = b""
    while not buf.endswith(b"\n"):
        b = s.recv(1)
        if not b:
            break
        buf += b
        check(len(buf) < 4096, "line too long")
    return buf


class Target:
    """A loopback target on its own thread.  kind: 'greet' (banner with the
    accept time, then echo), 'login' (close if nothing arrives within 1 s,
    else echo one line), 'idleclose' (echo lines, close after 1 s idle),
    'echo' (echo lines until EOF).  Counts accepted connections."""

    def __init__(self, kind, port=None):
        self.kind = kind
        self.lock = threading.Lock()
        self.accepted = []  # monotonic accept times
        self.stop_ev = threading.Event()
        self.ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", port or 0))
        self.ls.listen(64)
        self.ls.settimeout(0.1)
        self.port = self.ls.getsockname()[1]
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def count(self):
        with self.lock:
            return len(self.accepted)

    def _accept(self):
        while not self.stop_ev.is_set():
            try:
                c, _ = self.ls.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                n = len(self.accepted)
                self.accepted.append(time.monotonic())
            t = threading.Thread(target=self._serve, args=(c, n), daemon=True)
            t.start()

    def _serve(self, c, n):
        try:
            if self.kind == "greet":
                c.sendall(b"220 conn %d at %.6f\r\n" % (n, self.accepted[n]))
            c.settimeout(1.0 if self.kind in ("login", "idleclose") else IO_TIMEOUT)
            for _ in range(100):
                line = recv_line(c, c.gettimeout())
                if not line:
                    break
                c.sendall(b"echo " + line)
                if self.kind == "login":
                    break
        except (OSError, socket.timeout):
            pass
        finally:
            c.close()

    def close(self):
        self.stop_ev.set()
        self.ls.close()
        for t in self.threads:
            t.join(5)


def one_shot(port, ready, result):
    """Accept one connection, serve one line, close it and the listener; then
    report how many more connections waited in the backlog (pre-connects)."""
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(8)
    ready.set()
    ls.settimeout(IO_TIMEOUT)
    try:
        c, _ = ls.accept()
        line = recv_line(c)
        c.sendall(b"echo " + line)
        c.close()
        ls.setblocking(False)
        extra = 0
        for _ in range(16):
            try:
                x, _ = ls.accept()
                x.close()
                extra += 1
            except BlockingIOError:
                break
        result["extra"] = extra
    except (OSError, socket.timeout) as e:
        result["error"] = repr(e)
    finally:
        ls.close()


def stream(w, port, line):
    """One SOCKS stream: send line, return the reply line (b"" on EOF)."""
    r = socks_connect(w.socks_port, "127.0.0.1", port, timeout=IO_TIMEOUT)
    try:
        check(r.rep == 0, "CONNECT 127.0.0.1:%d: reply %r" % (port, r.rep))
        r.sock.sendall(line)
        return recv_line(r.sock)
    finally:
        r.close()


POOL_LINE = re.compile(
    r"pool: (\d+) requests, (\d+) hits \(([0-9.]+)%\), (\d+) misses, ([0-9.]+) ms saved per hit "
    r"\(miss connect ([0-9.]+) ms avg\), (\d+) pre-connects \((\d+) failed\), (\d+) evictions "
    r"\((\d+) dead, (\d+) touched by target\), (\d+) blacklisted, (\d+) spares now")


def pool_stats(w):
    """Stop the server; its shutdown pool stats, one line per worker process
    summed into one line of the same format (the ms figures weighted)."""
    w.stop_proc(w.server, "rvpn-server")
    lines = [l for l in w.server.log_text().splitlines() if "pool: " in l and "requests" in l]
    check(lines, "no pool stats line in the server log")
    found = [POOL_LINE.search(l) for l in lines]
    check(all(found), "pool stats line format: %r" % lines)
    n = [[float(x) for x in m.groups()] for m in found]
    tot = [sum(v[i] for v in n) for i in range(len(n[0]))]
    hits, misses = tot[1], tot[3]
    saved = sum(v[4] * v[1] for v in n) / hits if hits else 0.0
    miss_ms = sum(v[5] * v[3] for v in n) / misses if misses else 0.0
    line = ("pool: %d requests, %d hits (%.1f%%), %d misses, %.2f ms saved per hit (miss connect "
            "%.2f ms avg), %d pre-connects (%d failed), %d evictions (%d dead, %d touched by "
            "target), %d blacklisted, %d spares now" %
            (tot[0], hits, 100.0 * hits / tot[0] if tot[0] else 0.0, misses, saved, miss_ms,
             tot[6], tot[7], tot[8], tot[9], tot[10], tot[11], tot[12]))
    log(line + ("  (%d processes)" % len(lines) if len(lines) > 1 else ""))
    return line


def forced_world(kind):
    """A world whose server pools the target's port (--pool-ports)."""
    def make(args):
        port = free_port()
        w = World(args, server_extra=["--pool-ports", "80,443,%d" % port])
        w.pool_target = Target(kind, port)
        return w
    return make


@R.test(timeout=90, fresh=True)
def one_shot_listeners_default_ports(w):
    """6 streams, each to a fresh one-shot listener on the same port."""
    port = free_port()
    for i in range(6):
        ready, result = threading.Event(), {}
        t = threading.Thread(target=one_shot, args=(port, ready, result), daemon=True)
        t.start()
        check(ready.wait(5), "one-shot listener did not start")
        got = stream(w, port, b"round %d\n" % i)
        t.join(IO_TIMEOUT + 5)
        check(got == b"echo round %d\n" % i, "round %d: got %r (%s)" % (i, got, result))
        check(result.get("extra") == 0,
              "round %d: the target saw connections nobody asked for: %s" % (i, result))
    check("pool: 0 requests" in pool_stats(w), "a non-80/443 port went through the pool")


@R.test(timeout=90, fresh=True)
def greeting_target_never_preconnected(w):
    t = Target("greet")
    try:
        for i in range(6):
            t0 = time.monotonic()
            r = socks_connect(w.socks_port, "127.0.0.1", t.port, timeout=IO_TIMEOUT)
            try:
                check(r.rep == 0, "CONNECT: reply %r" % r.rep)
                banner = recv_line(r.sock)
                m = re.match(rb"220 conn (\d+) at ([0-9.]+)", banner)
                check(m, "banner %r" % banner)
                check(float(m.group(2)) >= t0, "stream %d got a stale banner %r" % (i, banner))
                r.sock.sendall(b"hello %d\n" % i)
                check(recv_line(r.sock) == b"echo hello %d\n" % i, "echo")
            finally:
                r.close()
        check(t.count() == 6, "the target saw %d connections for 6 streams" % t.count())
    finally:
        t.close()
    check("pool: 0 requests" in pool_stats(w), "a non-80/443 port went through the pool")


@R.test(timeout=90, world=forced_world("greet"))
def greeting_target_forced_into_pool(w):
    t = w.pool_target
    try:
        def one(i):
            t0 = time.monotonic()
            r = socks_connect(w.socks_port, "127.0.0.1", t.port, timeout=IO_TIMEOUT)
            try:
                check(r.rep == 0, "CONNECT: reply %r" % r.rep)
                banner = recv_line(r.sock)
                m = re.match(rb"220 conn (\d+) at ([0-9.]+)", banner)
                check(m, "stream %d: banner %r" % (i, banner))
                check(float(m.group(2)) >= t0,
                      "stream %d got a banner %.3f s old: %r" % (
                          i, time.monotonic() - float(m.group(2)), banner))
                r.sock.sendall(b"hello %d\n" % i)
                check(recv_line(r.sock) == b"echo hello %d\n" % i, "stream %d: echo" % i)
            finally:
                r.close()
        one(0)
        one(1)  # hot now: the pool pre-connects, the target greets the spares
        wait_until(lambda: "not pre-connecting to 127.0.0.1:%d" % t.port in w.server.log_text(),
                   10, "the pool to give up on the greeting target")
        n = t.count()
        for i in range(2, 8):
            one(i)
        check(t.count() == n + 6, "pre-connects after the blacklist: %d connections for 6 "
              "streams" % (t.count() - n))
    finally:
        t.close()
    st = pool_stats(w)
    check(re.search(r" 0 hits", st), "a greeted spare was handed out: " + st)
    check("1 blacklisted" in st, st)


def timeout_target_case(w):
    t = w.pool_target
    try:
        for i in range(2):
            check(stream(w, t.port, b"a%d\n" % i) == b"echo a%d\n" % i, "stream %d" % i)
        # Hot: the pool pre-connects; the target closes those spares after 1 s.
        wait_until(lambda: "not pre-connecting to 127.0.0.1:%d" % t.port in w.server.log_text(),
                   10, "the pool to give up on a target that closes idle connections")
        n = t.count()
        for i in range(2, 10):
            got = stream(w, t.port, b"a%d\n" % i)
            check(got == b"echo a%d\n" % i, "stream %d lost its data: got %r" % (i, got))
        check(t.count() == n + 8, "pre-connects after the blacklist")
    finally:
        t.close()
    st = pool_stats(w)
    check("1 blacklisted" in st, st)


@R.test(timeout=90, world=forced_world("login"))
def login_timeout_target_forced_into_pool(w):
    timeout_target_case(w)


@R.test(timeout=90, world=forced_world("idleclose"))
def idle_close_target_forced_into_pool(w):
    timeout_target_case(w)


@R.test(timeout=90, world=forced_world("echo"))
def client_speaks_first_target_hits(w):
    """A target that waits for the client: the pool helps, and says how much."""
    t = w.pool_target
    try:
        for i in range(12):
            check(stream(w, t.port, b"q%d\n" % i) == b"echo q%d\n" % i, "stream %d" % i)
    finally:
        t.close()
    st = pool_stats(w)
    m = re.search(r"(\d+) requests, (\d+) hits \(([0-9.]+)%\), (\d+) misses, ([0-9.]+) ms saved "
                  r"per hit \(miss connect ([0-9.]+) ms avg\)", st)
    check(m, "stats line format: " + st)
    check(int(m.group(1)) == 12 and int(m.group(2)) >= 1, st)
    check("0 blacklisted" in st, st)
    metric("pool_hit_rate", float(m.group(3)), "%")
    metric("pool_saved_ms_per_hit", float(m.group(5)), "ms")


def expect_reply(w, host, port, want):
    r = socks_connect(w.socks_port, host, port, timeout=IO_TIMEOUT)
    try:
        check(r.rep == want, "CONNECT %s:%d: reply %r, expected %d" % (host, port, r.rep, want))
    finally:
        r.close()


@R.test(timeout=60)
def localhost_resolves_locally(w):
    """--dns is set (dnsmasq knows no localhost): still loopback, allowed by
    --allow 127.0.0.1 / ::1; "invalid" names are NXDOMAIN (4)."""
    for name in ("localhost", "localhost.", "app.localhost"):
        r = socks_connect(w.socks_port, name, w.targets.ports["echo"], timeout=IO_TIMEOUT)
        try:
            check(r.rep == 0, "CONNECT %s: reply %r, expected 0" % (name, r.rep))
        finally:
            r.close()
    expect_reply(w, "anything.invalid", 80, 4)


def deny_smtp_world(args):
    return World(args, server_extra=["--deny", "0.0.0.0/0:25"])


@R.test(timeout=60, world=deny_smtp_world)
def ipv4_rules_cover_ipv6_forms(w):
    for host in ("1.2.3.4", "::ffff:1.2.3.4", "64:ff9b::102:304", "2002:102:304::1",
                 "::1.2.3.4"):
        expect_reply(w, host, 25, 2)


@R.test(timeout=60)
def own_address_denied(w):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.connect(("192.0.2.1", 9))  # UDP: picks a source address, sends nothing
        own = u.getsockname()[0]
    except OSError:
        own = None
    finally:
        u.close()
    if not own or own.startswith("127."):
        from rvpn_it import TestSkip
        raise TestSkip("no non-loopback IPv4 address on this host")
    # Decided before any connect: the rules deny it (2), whatever listens.
    expect_reply(w, own, w.targets.ports["echo"], 2)


if __name__ == "__main__":
    R.main()
