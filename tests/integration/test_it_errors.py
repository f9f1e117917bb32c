#!/usr/bin/env python3
"""Exact SOCKS5 reply codes for failures: refused -> 5, unknown name -> 4,
denied by rule -> 2, connect timeout -> 6 (a loopback listener with a full
backlog), plus Happy-Eyeballs fallback between ::1 and 127.0.0.1.
Owner: integration helper."""

import hashlib
import os
import select
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rvpn_it import (NAME_DENIED, NAME_DUAL, NAME_UNKNOWN, NAME_V4, SOCKS_REPLY_NAMES,  # noqa: E402
                     Runner, TestFailure, World, check, client_status_json, free_port,
                     free_port_both, log, metric, recv_exact, socks_connect, socks_read_reply,
                     socks_request, wait_closed, wait_until)

R = Runner("errors")


def expect_reply(w, host, port, want, timeout=40):
    r = socks_connect(w.socks_port, host, port, timeout=timeout)
    try:
        got = "closed without a reply" if r.rep is None else "%d (%s)" % (
            r.rep, SOCKS_REPLY_NAMES.get(r.rep, "?"))
        check(r.rep == want, "CONNECT %s:%d: reply %s, expected %d (%s)" % (
            host, port, got, want, SOCKS_REPLY_NAMES[want]))
        check(wait_closed(r.sock, 10), "SOCKS connection stays open after failure reply %d" % want)
        return r.elapsed
    finally:
        r.close()


@R.test(timeout=60)
def refused_ipv4_reply_5(w):
    expect_reply(w, "127.0.0.1", free_port(), 5)


@R.test(timeout=60)
def refused_ipv6_reply_5(w):
    expect_reply(w, "::1", free_port("::1"), 5)


@R.test(timeout=60)
def refused_by_name_reply_5(w):
    expect_reply(w, NAME_V4, free_port(), 5)


@R.test(timeout=60)
def unknown_name_reply_4(w):
    expect_reply(w, NAME_UNKNOWN, 80, 4)
    expect_reply(w, "nothing-here.test-rvpn.invalid", 443, 4)


@R.test(timeout=60)
def denied_loopback_reply_2(w):
    # 127.0.0.2 is loopback but only 127.0.0.1 is allowed: default deny.
    expect_reply(w, "127.0.0.2", 80, 2)


@R.test(timeout=60)
def denied_by_name_reply_2(w):
    expect_reply(w, NAME_DENIED, 80, 2)


@R.test(timeout=60)
def denied_ipv4_mapped_reply_2(w):
    expect_reply(w, "::ffff:127.0.0.2", 80, 2)


@R.test(timeout=60)
def denied_unspecified_reply_2(w):
    expect_reply(w, "0.0.0.0", w.targets.http_port, 2)
    expect_reply(w, "::", w.targets.http_port, 2)


class FullBacklog:
    """A 127.0.0.1 listener that never accepts, with its accept queue full:
    further SYNs are dropped, so a connect to it times out."""

    def __init__(self):
        self.l = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.l.bind(("127.0.0.1", 0))
        self.l.listen(0)
        self.port = self.l.getsockname()[1]
        self.fillers = []
        for _ in range(64):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", self.port))
            self.fillers.append(s)
            _r, wr, _x = select.select([], [s], [], 0.5)
            if not wr:
                return  # this one stalls: the queue is full
        raise TestFailure("could not fill the listen backlog of 127.0.0.1:%d" % self.port)

    def close(self):
        for s in self.fillers:
            s.close()
        self.l.close()


@R.test(timeout=120)
def connect_timeout_reply_6(w):
    fb = FullBacklog()
    try:
        secs = expect_reply(w, "127.0.0.1", fb.port, 6, timeout=90)
        metric("connect_timeout_reply_s", secs, "s")
        w.assert_works()
    finally:
        fb.close()


@R.test(timeout=60)
def happy_eyeballs_v6_refused_v4_listens(w):
    port = free_port_both()
    l4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    l4.bind(("127.0.0.1", port))
    l4.listen(8)
    try:
        r = socks_connect(w.socks_port, NAME_DUAL, port, timeout=30)
        try:
            check(r.rep == 0, "%s:%d (only 127.0.0.1 listens): reply %s" % (NAME_DUAL, port, r.rep))
            log("connected in %.3fs, bound %s" % (r.elapsed, r.bound))
        finally:
            r.close()
    finally:
        l4.close()


@R.test(timeout=60)
def happy_eyeballs_v4_refused_v6_listens(w):
    port = free_port_both()
    l6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    l6.bind(("::1", port))
    l6.listen(8)
    try:
        r = socks_connect(w.socks_port, NAME_DUAL, port, timeout=30)
        try:
            check(r.rep == 0, "%s:%d (only ::1 listens): reply %s" % (NAME_DUAL, port, r.rep))
        finally:
            r.close()
    finally:
        l6.close()


@R.test(timeout=60)
def happy_eyeballs_v6_blackholed_v4_listens(w):
    # ::1 side: full backlog (SYNs dropped); 127.0.0.1 side listens.  RFC 8305
    # must not wait for the IPv6 attempt's timeout.
    port = free_port_both()
    l6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    l6.bind(("::1", port))
    l6.listen(0)
    fillers = []
    l4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    l4.bind(("127.0.0.1", port))
    l4.listen(8)
    try:
        for _ in range(64):
            s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex(("::1", port))
            fillers.append(s)
            if not select.select([], [s], [], 0.5)[1]:
                break
        r = socks_connect(w.socks_port, NAME_DUAL, port, timeout=30)
        try:
            check(r.rep == 0, "reply %s" % r.rep)
            metric("happy_eyeballs_fallback_s", r.elapsed, "s")
            check(r.elapsed < 5, "fallback to IPv4 took %.1fs (RFC 8305: ~250 ms)" % r.elapsed)
        finally:
            r.close()
    finally:
        for s in fillers:
            s.close()
        l6.close()
        l4.close()


def deny_world(args):
    # The echo target's port is denied explicitly; the more specific rule wins
    # over "--allow 127.0.0.1" (rv_acl.h).  The port is only known once the
    # targets run, so the server is restarted with the rule.
    w = World(args)
    try:
        w.stop_proc(w.server, "rvpn-server (first)")
        w.start_server(extra=["--deny", "127.0.0.1:%d" % w.targets.ports["echo"]])
        w.wait_client(timeout=40)
    except BaseException:
        w.teardown(check_exit=False)
        raise
    return w


@R.test(timeout=120, world=deny_world)
def denied_by_explicit_rule_reply_2(w):
    expect_reply(w, "127.0.0.1", w.targets.ports["echo"], 2)
    # Another port on the same address stays allowed.
    w.assert_works()


def optimistic_world(args):
    return World(args, forwards=False, client_extra=("--optimistic",))


@R.test(timeout=90, world=optimistic_world)
def optimistic_refused_is_a_reset(w):
    """--optimistic: the reply comes at once (bound 0.0.0.0:0), so a refused
    destination shows as a reset of the connection, not as reply 5."""
    r = socks_connect(w.socks_port, "127.0.0.1", free_port(), timeout=20)
    try:
        check(r.rep == 0, "optimistic CONNECT to a closed port: reply %s, expected 0" % r.rep)
        check(r.bound == ("0.0.0.0", 0), "optimistic bound address %r" % (r.bound,))
        r.sock.settimeout(20)
        try:
            d = r.sock.recv(100)
            raise TestFailure("expected a reset, got %r" % d)
        except ConnectionResetError:
            pass
    finally:
        r.close()
    w.assert_works()


@R.test(timeout=90, world=optimistic_world)
def optimistic_data_goes_early(w):
    """--optimistic: data sent right behind the request (one segment with the
    greeting and the request, as a pipelining client does) arrives in order,
    and the echo comes back; many in a row keep working."""
    echo = w.targets.ports["echo"]
    for i in range(20):
        s = socket.create_connection(("127.0.0.1", w.socks_port), timeout=20)
        try:
            s.settimeout(20)
            msg = b"hello %d " % i + os.urandom(3000)
            req = b"\x05\x01\x00" + b"\x05\x01\x00\x01" + socket.inet_aton("127.0.0.1") + \
                echo.to_bytes(2, "big")
            s.sendall(req + msg if i % 2 else req)
            if i % 2 == 0:
                s.sendall(msg)
            got = bytearray()
            deadline = time.monotonic() + 20
            want = 2 + 10 + len(msg)
            while len(got) < want and time.monotonic() < deadline:
                d = s.recv(65536)
                if not d:
                    break
                got += d
            check(bytes(got[:2]) == b"\x05\x00", "method reply %r" % bytes(got[:2]))
            check(bytes(got[2:4]) == b"\x05\x00", "CONNECT reply %r" % bytes(got[2:12]))
            check(bytes(got[12:]) == msg, "echo %d: %d of %d bytes, equal prefix %s" % (
                i, len(got) - 12, len(msg), bytes(got[12:12 + 10]) == msg[:10]))
        finally:
            s.close()
    w.assert_works()


def echo_after_reply(w, delay, n):
    """n connections in a row: greeting and request, then (after our reply
    and delay seconds) 64 bytes, their echo, close.  Returns the client's
    WebSocket messages sent for them, counted once every stream is gone."""
    echo = w.targets.ports["echo"]
    before = client_status_json(w)["messages_out"]
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", w.socks_port), timeout=20)
        try:
            s.sendall(b"\x05\x01\x00" + socks_request("127.0.0.1", echo))
            check(recv_exact(s, 2) == b"\x05\x00", "method reply")
            rep, _a, _p = socks_read_reply(s)
            check(rep == 0, "reply %s" % rep)
            if delay:
                time.sleep(delay)
            msg = b"%02d" % i + os.urandom(62)
            s.sendall(msg)
            check(recv_exact(s, len(msg)) == msg, "echo %d" % i)
        finally:
            s.close()
    wait_until(lambda: client_status_json(w)["streams_open"] == 0, 20, "the streams to close")
    return client_status_json(w)["messages_out"] - before


@R.test(timeout=120, world=optimistic_world)
def optimistic_first_bytes_ride_with_the_request(w):
    """--optimistic: after the reply the request waits a moment for the
    program's first bytes and takes them along, one message fewer per
    connection.  Control: bytes written 60 ms after the reply (well past the
    wait) go on their own.  Timing on a loaded machine may cost a few."""
    n = 20
    late = echo_after_reply(w, 0.06, n)
    prompt = echo_after_reply(w, 0, n)
    metric("optimistic_messages_per_conn_prompt", prompt / n, "")
    metric("optimistic_messages_per_conn_late", late / n, "")
    check(prompt <= late - n // 4,
          "%d connections whose app writes at once cost %d messages, against %d when it "
          "writes late: the first bytes did not go with the request" % (n, prompt, late))
    w.assert_works()


@R.test(timeout=90, world=optimistic_world)
def optimistic_silent_app_still_connects(w):
    """--optimistic: a program that waits for the server to speak (SMTP-like)
    writes nothing after the reply; the request goes anyway and the
    server's first bytes (1 MiB and its SHA-256) arrive whole."""
    for i in range(3):
        s = socket.create_connection(("127.0.0.1", w.socks_port), timeout=20)
        try:
            s.settimeout(20)
            s.sendall(b"\x05\x01\x00" + socks_request("127.0.0.1", w.targets.ports["early"]))
            check(recv_exact(s, 2) == b"\x05\x00", "method reply")
            rep, _a, _p = socks_read_reply(s)
            check(rep == 0, "reply %s" % rep)
            got = recv_exact(s, (1 << 20) + 32)
            check(hashlib.sha256(got[:1 << 20]).digest() == got[1 << 20:],
                  "connection %d: the server's first bytes arrived damaged" % i)
        finally:
            s.close()
    w.assert_works()


if __name__ == "__main__":
    R.main()
