#!/usr/bin/env python3
"""Faults: garbage / truncated HTTP, WebSocket and Noise input to the server
port, garbage to the SOCKS port (that connection closes, processes live on,
later requests work); unauthorised client key and wrong server key refused
(and logged); a replayed handshake refused; authorized_keys re-read on
SIGHUP; server killed and restarted (reconnect time measured); a stopped
server noticed by keepalive.
Owner: integration helper."""

import os
import re
import signal
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rvpn_it import (Proc, Relay, Runner, free_port, TestFailure, World, check, log, make_keypair,  # noqa: E402
                     metric, port_accepts, recv_exact, socks_connect, tcp_conns_to, wait_closed,
                     wait_until, ws_frame, ws_handshake, ws_parse_frame)

R = Runner("faults")

CLOSE_BOUND_S = 30  # handshake timeout is 10 s (rv_wire.h); generous slack


def expect_server_closes(w, payload_fn, what, bound=CLOSE_BOUND_S):
    t0 = time.monotonic()
    s = payload_fn()
    try:
        closed = wait_closed(s, bound)
    finally:
        s.close()
    secs = time.monotonic() - t0
    check(closed, "%s: the server kept the connection open for %ds" % (what, bound))
    w.assert_alive()
    return secs


def raw(w, data, shut=True):
    def f():
        s = socket.create_connection(("127.0.0.1", w.server_port), timeout=10)
        s.sendall(data)
        if shut:
            s.shutdown(socket.SHUT_WR)
        return s
    return f


def ws_then(w, frames, path=None, shut=False):
    def f():
        s, status = ws_handshake(w.server_port, path or w.path)
        check(status is not None and " 101 " in status + " ",
              "WebSocket upgrade on the tunnel path: %r" % status)
        for fr in frames:
            s.sendall(fr)
        if shut:
            s.shutdown(socket.SHUT_WR)
        return s
    return f


@R.test(timeout=300)
def garbage_http_to_server_port(w):
    cases = [
        ("random bytes", os.urandom(1024)),
        ("NUL bytes", b"\0" * 300),
        ("TLS ClientHello on plain port", bytes.fromhex("160301002e010000")),
        ("truncated request line", b"GET / HT"),
        ("truncated headers", b"GET %s HTTP/1.1\r\nHost: x\r\nUpgr" % w.path.encode()),
        ("bad method", b"FOO / HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("header line 64 KiB", b"GET / HTTP/1.1\r\nX-A: " + b"a" * 65536 + b"\r\n\r\n"),
        ("10000 headers", b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 10000 + b"\r\n"),
        ("bad content-length", b"POST / HTTP/1.1\r\nContent-Length: -5\r\n\r\n"),
        ("chunked junk", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
        ("upgrade without key", b"GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
         b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n" % w.path.encode()),
        ("upgrade bad version", b"GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
         b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
         b"Sec-WebSocket-Version: 99\r\n\r\n" % w.path.encode()),
    ]
    for what, data in cases:
        secs = expect_server_closes(w, raw(w, data), what)
        log("  %-32s closed after %.2fs" % (what, secs))
    w.assert_works()


@R.test(timeout=300)
def garbage_websocket_and_noise_to_server(w):
    cases = [
        ("garbage after upgrade", [os.urandom(2000)]),
        ("text frame", [ws_frame(b"hello", opcode=1)]),
        ("truncated Noise msg1 (5 bytes)", [ws_frame(os.urandom(5))]),
        ("random Noise-sized msg1 (96 bytes)", [ws_frame(os.urandom(96))]),
        ("random msg1 (200 bytes)", [ws_frame(os.urandom(200))]),
        ("random msg1 (64 KiB)", [ws_frame(os.urandom(65536))]),
        ("unmasked client frame", [ws_frame(os.urandom(96), mask=False)]),
        ("2^63 length header", [bytes([0x82, 0xFF]) + struct.pack(">Q", 1 << 63) + b"abcd"]),
        ("fragment never finished", [ws_frame(os.urandom(50), fin=False)]),
        ("close frame", [ws_frame(struct.pack(">H", 1000), opcode=8)]),
        ("ping then garbage frame", [ws_frame(b"p", opcode=9), ws_frame(os.urandom(300))]),
        ("reserved opcode", [ws_frame(os.urandom(10), opcode=3)]),
        ("frame header cut", [bytes([0x82, 0xFE, 0x01])]),
    ]
    # Held open (no FIN from us): the server must close because of what it
    # got (or at the latest at its handshake timeout, 10 s).
    for what, frames in cases:
        secs = expect_server_closes(w, ws_then(w, frames, shut=False), what)
        log("  %-36s closed after %.2fs" % (what, secs))
    # Same without our FIN: the server must not wait for us (handshake timeout).
    for what, frames in (("random msg1, held open", [ws_frame(os.urandom(96))]),
                         ("nothing after upgrade, held open", [])):
        secs = expect_server_closes(w, ws_then(w, frames, shut=False), what)
        log("  %-36s closed after %.2fs" % (what, secs))
        metric("server_close_%s_s" % re.sub(r"\W+", "_", what).strip("_"), secs, "s")
    w.assert_works()


@R.test(timeout=200)
def slow_partial_http_request_times_out(w):
    # A partial request held open (slowloris) must be closed in bounded time.
    s = socket.create_connection(("127.0.0.1", w.server_port), timeout=10)
    try:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        t0 = time.monotonic()
        closed = wait_closed(s, 120)
        secs = time.monotonic() - t0
    finally:
        s.close()
    metric("server_close_partial_http_s", secs, "s")
    check(closed, "partial HTTP request kept open for 120 s")
    w.assert_works()


@R.test(timeout=300)
def garbage_to_socks_port(w):
    cases = [
        ("SOCKS4 request", b"\x04\x01\x00\x50\x7f\x00\x00\x01user\x00"),
        ("HTTP request", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("random bytes", os.urandom(512)),
        ("zero methods", b"\x05\x00"),
        ("bad ATYP", b"\x05\x01\x00\x05\x01\x00\x09\x01\x02\x03\x04\x00\x50"),
        ("bad request version", b"\x05\x01\x00\x04\x01\x00\x01\x7f\x00\x00\x01\x00\x50"),
        ("domain length 0", b"\x05\x01\x00\x05\x01\x00\x03\x00\x00\x50"),
        ("truncated greeting", b"\x05\x05\x00"),
        ("truncated request", b"\x05\x01\x00\x05\x01\x00\x03\x20abc"),
        ("reserved byte set", b"\x05\x01\x00\x05\x01\x07\x01\x7f\x00\x00\x01\x00\x50"),
    ]
    for what, data in cases:
        s = socket.create_connection(("127.0.0.1", w.socks_port), timeout=10)
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            check(wait_closed(s, 20), "SOCKS port: %s: connection not closed" % what)
        finally:
            s.close()
        w.assert_alive()
    w.assert_works()


@R.test(timeout=200)
def idle_socks_handshake_times_out(w):
    s = socket.create_connection(("127.0.0.1", w.socks_port), timeout=10)
    try:
        s.sendall(b"\x05\x01")  # half a greeting, then silence
        t0 = time.monotonic()
        closed = wait_closed(s, 120)
        secs = time.monotonic() - t0
    finally:
        s.close()
    metric("client_close_idle_socks_handshake_s", secs, "s")
    check(closed, "a SOCKS connection with half a greeting stayed open 120 s")


def server_log_mentions_refusal(w, offset, pub):
    text = w.server.log_since(offset)
    pat = re.compile(r"(unauthori[sz]ed|not authori[sz]ed|unknown (client|key|peer)|refus|"
                     r"reject|denied|handshake fail|not in )", re.I)
    lines = [l for l in text.splitlines() if pat.search(l) or pub in l or pub[:8] in l]
    return lines


@R.test(timeout=200)
def unauthorised_client_key_refused(w):
    key = os.path.join(w.tmp, "stranger.key")
    pub = make_keypair(w.client_bin, key)
    off = w.server.log_size()
    p, port = w.start_extra_client(key, wait=True)
    r = socks_connect(port, "127.0.0.1", w.targets.http_port, timeout=90)
    try:
        check(r.rep != 0, "a client whose key is not in authorized_keys got a working stream")
        log("stranger's CONNECT: %s after %.1fs" % (
            "closed without reply" if r.rep is None else "reply %d" % r.rep, r.elapsed))
    finally:
        r.close()
    lines = wait_until(lambda: server_log_mentions_refusal(w, off, pub), 20,
                       "a server log line about the refused key")
    log("server log: %s" % lines[0].strip())
    w.assert_works()
    w.stop_proc(p, "stranger client")
    w.extra_clients.remove(p)


@R.test(timeout=200)
def wrong_server_key_refused(w):
    other = os.path.join(w.tmp, "other-server.key")
    other_pub = make_keypair(w.server_bin, other)
    # Same authorised client key, but pinned to a server key that is not the
    # server's: the handshake must fail.
    port = free_port()
    a = [w.client_bin, "-k", w.client_key, "-s", other_pub, "-D", "127.0.0.1:%d" % port, w.url]
    p = Proc("rvpn-client-wrongkey", a, w.tmp, env=w.env())
    w.extra_clients.append(p)
    wait_until(lambda: port_accepts("127.0.0.1", port), 20, "wrong-key client's SOCKS port")
    r = socks_connect(port, "127.0.0.1", w.targets.http_port, timeout=90)
    try:
        check(r.rep != 0, "a client pinned to the wrong server key got a working stream")
    finally:
        r.close()
    w.assert_works()
    w.stop_proc(p, "wrong-key client")
    w.extra_clients.remove(p)


def relay_world(args):
    w = World(args, client=False)
    try:
        w.relay = Relay(w.server_port)
        w.url_port = w.relay.port
        w.start_client(forwards=False)
    except BaseException:
        w.teardown(check_exit=False)
        raise
    return w


@R.test(timeout=200, world=relay_world)
def replayed_handshake_refused(w):
    msg1 = wait_until(lambda: w.relay.first_ws_message(0), 10, "the client's first message")
    log("captured Noise message 1: %d bytes" % len(msg1))
    s, status = ws_handshake(w.server_port, w.path)
    try:
        check(status and " 101 " in status + " ", "upgrade: %r" % status)
        s.sendall(ws_frame(msg1))
        s.settimeout(CLOSE_BOUND_S)
        buf = b""
        got_data = False
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    break
                buf += d
                f = ws_parse_frame(buf)
                if f and f[0] in (1, 2):
                    got_data = True
                    break
        except socket.timeout:
            raise TestFailure("server neither answered nor closed a replayed message 1")
        except OSError:
            pass
        check(not got_data, "the server answered a replayed Noise message 1")
    finally:
        s.close()
    w.assert_works()
    w.relay.close()


@R.test(timeout=240, fresh=True)
def sighup_rereads_authorized_keys(w):
    key = os.path.join(w.tmp, "late.key")
    pub = make_keypair(w.client_bin, key)
    p, port = w.start_extra_client(key, wait=True)
    r = socks_connect(port, "127.0.0.1", w.targets.http_port, timeout=60)
    r.close()
    check(r.rep != 0, "key not yet authorised but the stream worked")
    with open(w.authorized, "a") as f:
        f.write("%s late-client\n" % pub)
    w.server.send_signal(signal.SIGHUP)

    def works():
        x = socks_connect(port, "127.0.0.1", w.targets.http_port, timeout=20)
        x.close()
        return x.rep == 0
    t0 = time.monotonic()
    wait_until(works, 120, "the newly authorised client to work after SIGHUP", interval=0.5)
    metric("sighup_new_key_usable_s", time.monotonic() - t0, "s")
    w.assert_works()


@R.test(timeout=300, fresh=True)
def server_killed_and_restarted_client_reconnects(w):
    w.assert_works()
    w.server.kill()
    # A connection made while the tunnel is down must get an answer (success
    # after reconnecting, or a SOCKS failure), never a silent close.
    res = {}

    def pending():
        res["r"] = socks_connect(w.socks_port, "127.0.0.1", w.targets.http_port, timeout=120)
    t = threading.Thread(target=pending, daemon=True)
    t.start()
    w.start_server(wait=True)
    t_listen = time.monotonic()

    def works():
        x = socks_connect(w.socks_port, "127.0.0.1", w.targets.http_port, timeout=20)
        x.close()
        return x.rep == 0
    wait_until(works, 120, "a new stream to work after the server restart", interval=0.05)
    secs = time.monotonic() - t_listen
    metric("reconnect_after_server_restart_s", secs, "s")
    t.join(130)
    r = res.get("r")
    check(r is not None, "the connection made while the server was down never got an answer")
    r.close()
    log("connection made while down: %s after %.2fs" % (
        "closed without reply" if r.rep is None else "reply %d" % r.rep, r.elapsed))
    check(r.rep is not None, "a SOCKS connection made while the tunnel was down was closed "
          "without any SOCKS reply")
    # And a second restart, to see the backoff reset.
    w.server.kill()
    w.start_server(wait=True)
    t_listen = time.monotonic()
    wait_until(works, 120, "streams after the second restart", interval=0.05)
    metric("reconnect_after_second_restart_s", time.monotonic() - t_listen, "s")


@R.test(timeout=300, fresh=True)
def server_down_for_a_while_then_back(w):
    # The client backs off while the server is away; once it is back, how long
    # until streams work again?  (Down time is the scenario, not a wait.)
    down_s = float(os.environ.get("RVPN_IT_DOWN_S", "8"))
    w.assert_works()
    w.server.kill()
    t_down = time.monotonic()
    deadline = t_down + down_s
    for _ in range(int(down_s / 0.5) + 2):
        # Meanwhile SOCKS requests must get answers, not silence.
        r = socks_connect(w.socks_port, "127.0.0.1", w.targets.http_port, timeout=60)
        r.close()
        check(r.rep is not None, "SOCKS request during the outage closed without a reply")
        if time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    w.start_server(wait=True)
    t_listen = time.monotonic()

    def works():
        x = socks_connect(w.socks_port, "127.0.0.1", w.targets.http_port, timeout=20)
        x.close()
        return x.rep == 0
    wait_until(works, 120, "streams after an outage of %.0f s" % down_s, interval=0.05)
    secs = time.monotonic() - t_listen
    metric("reconnect_after_%.0fs_outage_s" % down_s, secs, "s")
    check(secs <= 35, "reconnect took %.1f s after the server came back" % secs)


@R.test(timeout=300, fresh=True)
def stopped_server_noticed_by_keepalive(w):
    before = tcp_conns_to(w.client.pid, w.server_port)
    check(before, "client has no connection to the server port")
    w.server.send_signal_tree(signal.SIGSTOP)
    t0 = time.monotonic()
    try:
        wait_until(lambda: not (tcp_conns_to(w.client.pid, w.server_port) & before), 60,
                   "the client to drop its tunnel to the stopped server", interval=0.2)
        secs = time.monotonic() - t0
    finally:
        w.server.send_signal_tree(signal.SIGCONT)
    metric("dead_tunnel_noticed_s", secs, "s")
    check(secs <= 35, "dead tunnel noticed after %.1fs (at most 30 s expected)" % secs)
    wait_until(lambda: (w.assert_works() or True), 60, "the tunnel to work again", interval=0.5)


if __name__ == "__main__":
    R.main()
