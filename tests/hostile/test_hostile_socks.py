#!/usr/bin/env python3
"""Hostile local apps against rvpn-client's SOCKS port.

idle_flood: 1,100+ idle connections held open (and re-opened when the client
closes them) must not starve a real app: its SOCKS CONNECT + echo round trip
through the tunnel succeeds within a bound during the flood (p50/p99
reported); the client's descriptors and RSS stay bounded before, during and
after.

password_guessing: wrong RFC 1929 passwords from one source are throttled
(measured guess rate far below the ~4,000/s an unthrottled client allows) and
logged (rate-limited, with a summary); the right password from another
source still works.
Owner: client helper."""

import os
import resource
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from rvpn_it import (MiB, Runner, World, check, log, metric, recv_exact,  # noqa: E402
                     socks_read_reply, socks_request, wait_until)

R = Runner("hostile_socks")

N_IDLE = 1100           # > RV_CLIENT_MAX_LOCAL_CONNS (1024)
PENDING_CAP = 1024
FLOOD_S = 8.0           # how long the flood is kept up while honest apps work
N_HONEST = 40
AUTH = ("rvpn-user", "correct horse battery staple")


def nfds(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return -1


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def honest_round_trip(w, timeout):
    """SOCKS CONNECT to the echo target through the tunnel + one echoed
    byte; returns seconds."""
    t0 = time.monotonic()
    s = socket.create_connection(("127.0.0.1", w.socks_port), timeout=timeout)
    try:
        s.settimeout(timeout)
        s.sendall(b"\x05\x01\x00" + socks_request("127.0.0.1", w.targets.ports["echo"]))
        m = recv_exact(s, 2)
        check(m == b"\x05\x00", "method selection %r" % m)
        rep, _h, _p = socks_read_reply(s)
        check(rep == 0, "honest CONNECT during the flood: reply %d" % rep)
        s.sendall(b"x")
        check(recv_exact(s, 1) == b"x", "echo through the tunnel")
    finally:
        s.close()
    return time.monotonic() - t0


class IdleFlood:
    """Keeps up to n idle connections to port open (sending nothing),
    re-opening the ones the client closed, until stop()."""

    def __init__(self, port, n):
        self.port = port
        self.n = n
        self.socks = []
        self.opened = 0
        self.reopened = 0
        self.failed = 0
        self._stop = threading.Event()
        self.full = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _one(self):
        try:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=2)
            s.setblocking(False)
            self.socks.append(s)
            self.opened += 1
        except OSError:
            self.failed += 1

    def _prune(self):
        alive = []
        for s in self.socks:
            try:
                d = s.recv(1)
                gone = d == b""
            except BlockingIOError:
                gone = False
            except OSError:
                gone = True
            if gone:
                s.close()
                self.reopened += 1
            else:
                alive.append(s)
        self.socks = alive

    def _run(self):
        deadline = time.monotonic() + 120
        while len(self.socks) < self.n and time.monotonic() < deadline and \
                not self._stop.is_set():
            self._one()
        self.full.set()
        # Bounded: re-open closed ones until told to stop.
        while not self._stop.wait(0.2) and time.monotonic() < deadline:
            self._prune()
            for _ in range(min(200, self.n - len(self.socks))):
                self._one()

    def start(self):
        self._t.start()

    def stop(self):
        self._stop.set()
        self._t.join(30)
        for s in self.socks:
            s.close()
        self.socks = []


@R.test(timeout=240, fresh=True)
def idle_flood_does_not_starve_real_apps(w):
    got = raise_nofile(N_IDLE + 512)
    check(got >= N_IDLE + 256, "cannot raise RLIMIT_NOFILE to %d (got %d)" % (N_IDLE + 512, got))
    pid = w.client.pid
    honest_round_trip(w, 10)
    fd0, rss0 = nfds(pid), w.client.rss_kib()
    log("client before: %d fds, %d KiB" % (fd0, rss0))
    flood = IdleFlood(w.socks_port, N_IDLE)
    flood.start()
    try:
        check(flood.full.wait(150), "could not open %d idle connections" % N_IDLE)
        log("flood: %d idle connections open (%d opened, %d failed)" % (
            len(flood.socks), flood.opened, flood.failed))
        times, fd_max, rss_max = [], fd0, rss0
        t_end = time.monotonic() + FLOOD_S
        for i in range(N_HONEST):
            times.append(honest_round_trip(w, 10))
            fd_max = max(fd_max, nfds(pid))
            rss_max = max(rss_max, w.client.rss_kib() or 0)
            if time.monotonic() > t_end and i >= N_HONEST // 2:
                break
            time.sleep(0.05)  # pacing, as a browser opening connections
        log("flood while honest: %d idle held, %d re-opened after the client closed them" % (
            len(flood.socks), flood.reopened))
    finally:
        flood.stop()
    p50, p99 = pct(times, 50), pct(times, 99)
    metric("honest_rtt_during_flood_p50_ms", p50 * 1000, "ms")
    metric("honest_rtt_during_flood_p99_ms", p99 * 1000, "ms")
    metric("client_fds_during_flood_max", fd_max)
    metric("client_rss_during_flood_max_kib", rss_max, "KiB")
    bound = 5.0 if w.sanitize else 2.0
    check(p99 < bound, "honest round trip p99 %.2fs during the flood (bound %.1fs)" % (p99, bound))
    # Pending local connections are capped.  Each watched socket costs two
    # descriptors (common/loop/lws_loop.c hands lws a dup()), plus a few
    # dozen (listeners, tunnel, streams, lws internals).
    check(fd_max <= fd0 + 2 * PENDING_CAP + 64,
          "client holds %d descriptors during the flood (before %d)" % (fd_max, fd0))
    rss_bound = (256 if w.sanitize else 32) * 1024
    check(rss_max - rss0 < rss_bound, "client RSS grew by %d KiB during the flood" % (
        rss_max - rss0))
    # Afterwards everything is given back.
    wait_until(lambda: nfds(pid) <= fd0 + 8, 30, "client descriptors to return to %d" % fd0)
    metric("client_fds_after_flood", nfds(pid))
    metric("client_rss_after_flood_kib", w.client.rss_kib(), "KiB")
    honest_round_trip(w, 10)
    text = w.client.log_text()
    check("unfinished SOCKS negotiation" in text, "no warning about the flood in the log")
    check(text.count("local connections at the limit") <= 2 + int(FLOOD_S + 30) // 10,
          "flood warnings are not rate-limited")


def auth_attempt(port, user, password, source=None, timeout=5):
    """One RFC 1929 login.  Returns 'ok', 'denied' (auth reply != 0) or
    'refused' (closed or reset before an answer)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        if source:
            s.bind((source, 0))
        s.connect(("127.0.0.1", port))
        u, p = user.encode(), password.encode()
        s.sendall(b"\x05\x01\x02" + bytes([1, len(u)]) + u + bytes([len(p)]) + p)
        m = recv_exact(s, 2)
        if m != b"\x05\x02":
            return "refused"
        a = recv_exact(s, 2)
        return "ok" if a[1] == 0 else "denied"
    except (EOFError, ConnectionResetError, BrokenPipeError):
        return "refused"
    finally:
        s.close()


def connect_with_auth_from(w, source):
    """Full SOCKS CONNECT with the right password from source; True if the
    tunnel carried an echoed byte."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(10)
    try:
        s.bind((source, 0))
        s.connect(("127.0.0.1", w.socks_port))
        u, p = AUTH[0].encode(), AUTH[1].encode()
        s.sendall(b"\x05\x01\x02")
        check(recv_exact(s, 2) == b"\x05\x02", "method selection")
        s.sendall(bytes([1, len(u)]) + u + bytes([len(p)]) + p)
        a = recv_exact(s, 2)
        if a[1] != 0:
            return False
        s.sendall(socks_request("127.0.0.1", w.targets.ports["echo"]))
        rep, _h, _p = socks_read_reply(s)
        if rep != 0:
            return False
        s.sendall(b"y")
        return recv_exact(s, 1) == b"y"
    except (EOFError, ConnectionResetError, BrokenPipeError):
        return False
    finally:
        s.close()


def auth_world(args):
    return World(args, socks_auth=AUTH)


@R.test(timeout=180, world=auth_world)
def password_guessing_is_throttled_and_logged(w):
    pid = w.client.pid
    fd0 = nfds(pid)
    check(connect_with_auth_from(w, "127.0.0.1"), "the right password does not work at all")
    counts = {"ok": 0, "denied": 0, "refused": 0}
    n, t0 = 0, time.monotonic()
    # An attacker guessing as fast as it can, bounded in count and time.
    while n < 2000 and time.monotonic() - t0 < 4.0:
        counts[auth_attempt(w.socks_port, AUTH[0], "guess-%d" % n)] += 1
        n += 1
    secs = time.monotonic() - t0
    guesses = counts["denied"] + counts["ok"]
    # Per second of the attack, but over at least one second: a loop that
    # ends in 0.1 s would turn the 5 allowed guesses into a "rate" of 50/s.
    rate = guesses / max(secs, 1.0)
    log("%d attempts in %.2fs: %d answered (wrong password), %d refused while throttled" % (
        n, secs, counts["denied"], counts["refused"]))
    metric("auth_attempts", n)
    metric("auth_guesses_answered", guesses)
    metric("auth_guess_rate_per_s", rate, "/s")
    check(counts["ok"] == 0, "a wrong password was accepted")
    check(counts["refused"] > 0, "further attempts were never refused")
    check(guesses <= 10, "%d passwords checked in %.1fs from one source" % (guesses, secs))
    check(rate < 40, "guess rate %.1f/s, not throttled" % rate)
    # The throttled source is refused even with the right password...
    check(auth_attempt(w.socks_port, AUTH[0], AUTH[1]) == "refused",
          "the throttled source still gets its password checked")
    # ...while another source logs in and uses the tunnel.
    t1 = time.monotonic()
    check(connect_with_auth_from(w, "127.0.0.2"),
          "the right password from another source (127.0.0.2) did not work")
    metric("other_source_connect_ms", (time.monotonic() - t1) * 1000, "ms")
    check(nfds(pid) <= fd0 + 16, "client descriptors grew from %d to %d" % (fd0, nfds(pid)))
    # Logged, rate-limited: one line for the first failure and one for the
    # block (not one per guess), and a summary with the counts at exit.
    text = w.client.log_text()
    first = text.count("wrong SOCKS user name or password")
    blocked = text.count("failed SOCKS logins within")
    check(first == 1 and blocked == 1,
          "per-source log lines: %d first-failure, %d throttled (want 1 and 1)" % (first, blocked))
    w.stop_proc(w.client, "rvpn-client")
    text = w.client.log_text()
    w.client = None
    check("SOCKS logins in the last" in text and "connections refused while throttled" in text,
          "no summary line with the counts at exit")
    _ = MiB


if __name__ == "__main__":
    R.main()
