#!/usr/bin/env python3
"""Per-request latency plumbing: every established TCP socket of rvpn-client
and rvpn-server that carries request-sized writes (the WebSocket on both
ends, the accepted local socket, the target socket) has TCP_NODELAY, over
ws:// and wss://.  Without it a small tail segment waits for the peer's
delayed ACK (the 44 ms per 64 KiB response of wss in the benchmark: the
server's adopted WebSocket socket had Nagle on).

The option is read from the running programs: pidfd_getfd(2) gives us a
copy of each of their socket descriptors (same user, or root; skipped where
the kernel refuses).  A 64 KiB echo loop reports its p50 as a metric only.
Owner: latency helper."""

import ctypes
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rvpn_it import (Runner, TestSkip, World, check, log, metric,  # noqa: E402
                     recv_exact, socks_open)

R = Runner("latency")
SYS_PIDFD_GETFD = 438  # the same number on every Linux architecture
IO_TIMEOUT = 10.0


def tcp_states(pid):
    """{socket inode: TCP state} of pid's TCP sockets, from /proc/net."""
    st = {}
    for f in ("/proc/%d/net/tcp" % pid, "/proc/%d/net/tcp6" % pid):
        with open(f) as fh:
            next(fh)
            for line in fh:
                p = line.split()
                st[p[9]] = p[3]
    return st


def established_nodelay(pid):
    """[(fd, nodelay)] for every established TCP socket of pid."""
    libc = ctypes.CDLL(None, use_errno=True)
    states = tcp_states(pid)
    out = []
    pidfd = os.pidfd_open(pid)
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                t = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                continue
            if not t.startswith("socket:[") or states.get(t[8:-1]) != "01":
                continue
            mine = libc.syscall(SYS_PIDFD_GETFD, pidfd, int(fd), 0)
            if mine < 0:
                e = ctypes.get_errno()
                if e in (1, 38):  # EPERM, ENOSYS
                    raise TestSkip("pidfd_getfd: %s" % os.strerror(e))
                continue  # closed meanwhile
            try:
                s = socket.socket(fileno=mine)
                try:
                    v = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
                finally:
                    s.detach()
            finally:
                os.close(mine)
            out.append((int(fd), v != 0))
    finally:
        os.close(pidfd)
    return out


def echo_round_trips(s, size, count):
    """p50 of `count` round trips of `size` bytes through the echo target."""
    msg = os.urandom(size)
    lat = []
    for _ in range(count):
        t0 = time.monotonic()
        s.sendall(msg)
        check(recv_exact(s, size) == msg, "echo returned other bytes")
        lat.append(time.monotonic() - t0)
    lat.sort()
    return lat[len(lat) // 2]


def check_nodelay(w):
    s = socks_open(w.socks_port, "127.0.0.1", w.targets.ports["echo"])
    try:
        s.settimeout(IO_TIMEOUT)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        echo_round_trips(s, 1, 3)  # the stream is open end to end
        for who, proc, least in (("client", w.client, 2), ("server", w.server, 2)):
            socks = [x for pid in proc.tree_pids() for x in established_nodelay(pid)]
            log("%s: established TCP sockets (fd, nodelay): %s" % (who, socks))
            check(len(socks) >= least, "%s: %d established TCP sockets, expected >= %d"
                  % (who, len(socks), least))
            bad = [fd for fd, on in socks if not on]
            check(not bad, "%s: TCP_NODELAY missing on fd %s" % (who, bad))
        n = 20 if w.sanitize else 100
        p50 = echo_round_trips(s, 65536, n)
        metric("%s_echo_64k_p50_us" % ("wss" if w.tls else "ws"), int(p50 * 1e6), "us")
    finally:
        s.close()


@R.test(timeout=90, world=lambda a: World(a))
def nodelay_everywhere_ws(w):
    check_nodelay(w)


@R.test(timeout=90, world=lambda a: World(a, tls=True))
def nodelay_everywhere_wss(w):
    check_nodelay(w)


if __name__ == "__main__":
    R.main()
