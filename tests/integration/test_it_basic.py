#!/usr/bin/env python3
"""End-to-end basics: curl through SOCKS5 (v4, v6, name; --socks5 and
--socks5-hostname), curl and nc through -L forwards, SOCKS5 protocol details
(exact replies, bound address, one-byte-at-a-time and one-segment input,
unsupported commands), half-close both ways, and the server's ordinary 404.
Owner: integration helper."""

import hashlib
import os
import shutil
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rvpn_it import (MiB, NAME_DUAL, NAME_V4, NAME_V6, Pattern, Runner, TestFailure, TestSkip, check,  # noqa: E402
                     http_get_raw, log, recv_exact, socks_connect, socks_open, wait_closed,
                     ws_handshake)

R = Runner("basic")


def curl(args, timeout=30):
    if not shutil.which("curl"):
        raise TestSkip("curl not installed")
    r = subprocess.run(["curl", "-sS", "--fail", "--max-time", str(timeout - 5), "--noproxy", ""]
                       + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                       env={k: v for k, v in os.environ.items() if "proxy" not in k.lower()})
    return r.returncode, r.stdout, r.stderr.decode(errors="replace")


def curl_ok(w, args, path="/1m"):
    rc, out, err = curl(args)
    check(rc == 0, "curl %s: exit %d: %s" % (" ".join(args), rc, err.strip()))
    want = w.targets.files[path]
    check(out == want, "curl %s: got %d bytes, sha256 %s; want %d bytes" % (
        " ".join(args), len(out), hashlib.sha256(out).hexdigest()[:16], len(want)))


@R.test(timeout=60)
def curl_socks5_hostname_ipv4(w):
    curl_ok(w, ["--socks5-hostname", "127.0.0.1:%d" % w.socks_port,
                "http://127.0.0.1:%d/1m" % w.targets.http_port])


@R.test(timeout=60)
def curl_socks5_hostname_ipv6(w):
    curl_ok(w, ["--socks5-hostname", "127.0.0.1:%d" % w.socks_port,
                "http://[::1]:%d/1m" % w.targets.http_port])


@R.test(timeout=60)
def curl_socks5_hostname_name_v4(w):
    curl_ok(w, ["--socks5-hostname", "127.0.0.1:%d" % w.socks_port,
                "http://%s:%d/1m" % (NAME_V4, w.targets.http_port)])


@R.test(timeout=60)
def curl_socks5_hostname_name_v6(w):
    curl_ok(w, ["--socks5-hostname", "127.0.0.1:%d" % w.socks_port,
                "http://%s:%d/1m" % (NAME_V6, w.targets.http_port)])


@R.test(timeout=60)
def curl_socks5_hostname_name_dual(w):
    curl_ok(w, ["--socks5-hostname", "127.0.0.1:%d" % w.socks_port,
                "http://%s:%d/1m" % (NAME_DUAL, w.targets.http_port)])


@R.test(timeout=60)
def curl_socks5_ipv4(w):
    curl_ok(w, ["--socks5", "127.0.0.1:%d" % w.socks_port,
                "http://127.0.0.1:%d/1m" % w.targets.http_port])


@R.test(timeout=60)
def curl_socks5_ipv6(w):
    curl_ok(w, ["--socks5", "127.0.0.1:%d" % w.socks_port,
                "http://[::1]:%d/1m" % w.targets.http_port])


@R.test(timeout=60)
def curl_http_404_through_tunnel(w):
    # The target's 404 must arrive as such (curl without --fail here).
    if not shutil.which("curl"):
        raise TestSkip("curl not installed")
    r = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "20",
                        "--socks5-hostname", "127.0.0.1:%d" % w.socks_port,
                        "http://127.0.0.1:%d/nope" % w.targets.http_port],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    check(r.stdout == b"404", "curl got %r (%s)" % (r.stdout, r.stderr.decode(errors="replace")))


@R.test(timeout=60)
def curl_forward_ipv4(w):
    curl_ok(w, ["http://127.0.0.1:%d/1m" % w.fwd["http4"]])


@R.test(timeout=60)
def curl_forward_ipv6_target(w):
    curl_ok(w, ["http://127.0.0.1:%d/1m" % w.fwd["http6"]])


@R.test(timeout=60)
def curl_forward_name_target(w):
    curl_ok(w, ["http://127.0.0.1:%d/1m" % w.fwd["httpname"]])


@R.test(timeout=60)
def nc_forward_echo(w):
    if not shutil.which("nc"):
        raise TestSkip("nc not installed")
    data = os.urandom(200000)
    # netcat-openbsd: -N shuts the socket down after EOF on stdin, so the
    # echo target's half-close ends nc.
    r = subprocess.run(["nc", "-N", "127.0.0.1", str(w.fwd["echo"])], input=data,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    check(r.stdout == data, "nc through -L echo: sent %d bytes, got %d back (exit %d, %s)" % (
        len(data), len(r.stdout), r.returncode, r.stderr.decode(errors="replace")))


@R.test(timeout=60)
def forward_several_at_once(w):
    socks = []
    try:
        for name in ("http4", "http6", "httpname"):
            s = socket.create_connection(("127.0.0.1", w.fwd[name]), timeout=20)
            socks.append(s)
        for s in socks:
            st, _h, body = http_get_raw(s, "x", "/small")
            check(st == 200 and body == w.targets.files["/small"], "forward: status %d" % st)
    finally:
        for s in socks:
            s.close()


@R.test(timeout=60)
def socks_success_reply_has_bound_address(w):
    r = socks_connect(w.socks_port, "127.0.0.1", w.targets.ports["echo"])
    try:
        check(r.rep == 0, "reply %s" % r.rep)
        host, port = r.bound
        log("bound address in reply: %s:%d" % (host, port))
        check(host == "127.0.0.1" and port != 0,
              "success reply carries %s:%d, expected the server's real local address "
              "127.0.0.1:<nonzero>" % (host, port))
        r.sock.sendall(b"ping")
        check(recv_exact(r.sock, 4) == b"ping", "echo after reply")
    finally:
        r.close()


@R.test(timeout=60)
def socks_bytewise_input(w):
    for host in ("127.0.0.1", "::1", NAME_V4):
        r = socks_connect(w.socks_port, host, w.targets.ports["echo"], mode="bytewise")
        try:
            check(r.rep == 0, "bytewise CONNECT %s: reply %s" % (host, r.rep))
            r.sock.sendall(b"x")
            check(recv_exact(r.sock, 1) == b"x", "echo")
        finally:
            r.close()


@R.test(timeout=60)
def socks_greeting_and_request_in_one_segment(w):
    for host in ("127.0.0.1", "::1", NAME_V4):
        r = socks_connect(w.socks_port, host, w.targets.ports["echo"], mode="onesegment")
        try:
            check(r.rep == 0, "one-segment CONNECT %s: reply %s" % (host, r.rep))
        finally:
            r.close()


@R.test(timeout=60)
def socks_data_right_after_request(w):
    # A client may pipeline its first data before the reply (optimistic).
    s = socket.create_connection(("127.0.0.1", w.socks_port), timeout=20)
    try:
        from rvpn_it import socks_request, socks_read_reply
        s.sendall(b"\x05\x01\x00" + socks_request("127.0.0.1", w.targets.ports["echo"]) + b"early")
        check(recv_exact(s, 2) == b"\x05\x00", "method")
        rep, _a, _p = socks_read_reply(s)
        check(rep == 0, "reply %d" % rep)
        check(recv_exact(s, 5) == b"early", "pipelined data echoed")
    finally:
        s.close()


@R.test(timeout=60)
def socks_unsupported_commands_reply_7(w):
    # BIND; UDP ASSOCIATE (3) is supported now: test_it_udp.py (7 only
    # against a server without UDP).
    for cmd in (2,):
        r = socks_connect(w.socks_port, "127.0.0.1", w.targets.ports["echo"], cmd=cmd)
        try:
            check(r.rep == 7, "command %d: reply %s, expected 7" % (cmd, r.rep))
        finally:
            r.close()
    w.assert_works()


@R.test(timeout=60)
def socks_no_acceptable_method(w):
    s = socket.create_connection(("127.0.0.1", w.socks_port), timeout=20)
    try:
        s.sendall(b"\x05\x01\x80")  # only a private method
        check(recv_exact(s, 2) == b"\x05\xff", "expected 05 ff (no acceptable methods)")
        check(wait_closed(s, 10), "connection not closed after 05 ff")
    finally:
        s.close()


@R.test(timeout=60)
def halfclose_client_shuts_write_gets_whole_response(w):
    s = socks_open(w.socks_port, "127.0.0.1", w.targets.ports["halfclose"])
    try:
        h = hashlib.sha256()
        for c in Pattern().chunks(3 * MiB):
            h.update(c)
            s.sendall(c)
        s.shutdown(socket.SHUT_WR)
        s.settimeout(30)
        data = bytearray()
        while True:
            try:
                d = s.recv(MiB)
            except socket.timeout:
                raise TestFailure("after SHUT_WR: %d of %d response bytes, then nothing for 30 s"
                                  % (len(data), 32 + 4 * MiB + 32))
            if not d:
                break
            data += d
        check(len(data) == 32 + 4 * MiB + 32, "after SHUT_WR got %d bytes, expected %d" %
              (len(data), 32 + 4 * MiB + 32))
        check(data[:32] == h.digest(), "target saw different upload")
        body = bytes(data[32:-32])
        check(hashlib.sha256(body).digest() == data[-32:], "response body checksum")
    finally:
        s.close()


@R.test(timeout=60)
def halfclose_target_shuts_first_client_keeps_sending(w):
    n0 = len(w.targets.early_results)
    s = socks_open(w.socks_port, "127.0.0.1", w.targets.ports["early"])
    try:
        s.settimeout(30)
        data = bytearray()
        while True:
            d = s.recv(MiB)
            if not d:
                break
            data += d
        check(len(data) == MiB + 32 and hashlib.sha256(data[:-32]).digest() == data[-32:],
              "target's data before its FIN: %d bytes" % len(data))
        # The target half-closed; our direction must still work.
        h = hashlib.sha256()
        for c in Pattern().chunks(2 * MiB):
            h.update(c)
            s.sendall(c)
        s.shutdown(socket.SHUT_WR)
        from rvpn_it import wait_until
        wait_until(lambda: len(w.targets.early_results) > n0, 20,
                   "target to see our data and EOF after its own FIN")
        total, dig = w.targets.early_results[n0]
        check(total == 2 * MiB and dig == h.digest(),
              "target got %d bytes after its half-close, expected %d" % (total, 2 * MiB))
    finally:
        s.close()


@R.test(timeout=60)
def server_wrong_path_plain_404(w):
    for path in ("/", "/index.html", "/nope" + w.path, w.path + "x"):
        s = socket.create_connection(("127.0.0.1", w.server_port), timeout=10)
        try:
            st, headers, body = http_get_raw(s, "127.0.0.1:%d" % w.server_port, path, 10)
        finally:
            s.close()
        blob = ("\n".join(headers)).encode() + body
        check(st == 404, "GET %s on the server: status %d, expected 404" % (path, st))
        check(b"rvpn" not in blob.lower() and b"websocket" not in blob.lower()
              and b"noise" not in blob.lower(),
              "404 page for %s hints at rvpn: %r" % (path, blob[:300]))
    w.assert_works()


@R.test(timeout=60)
def server_right_path_without_upgrade_no_hint(w):
    s = socket.create_connection(("127.0.0.1", w.server_port), timeout=10)
    try:
        st, headers, body = http_get_raw(s, "127.0.0.1:%d" % w.server_port, w.path, 10)
    finally:
        s.close()
    blob = ("\n".join(headers)).encode() + body
    log("plain GET on the tunnel path: status %d" % st)
    check(st in (400, 403, 404, 426) or st >= 500 or st == 200,
          "status %d" % st)
    check(b"rvpn" not in blob.lower() and b"noise" not in blob.lower(),
          "answer hints at rvpn: %r" % blob[:300])


@R.test(timeout=60)
def websocket_on_wrong_path_refused(w):
    s, status = ws_handshake(w.server_port, "/not" + w.path)
    try:
        check(status is None or " 101 " not in status + " ",
              "WebSocket upgrade on a wrong path accepted: %r" % status)
    finally:
        s.close()
    w.assert_works()


@R.test(timeout=60)
def websocket_without_subprotocol_refused(w):
    s, status = ws_handshake(w.server_port, w.path, protocol=None)
    try:
        check(status is None or " 101 " not in status + " ",
              "WebSocket upgrade without the subprotocol accepted: %r" % status)
        log("upgrade without subprotocol: %r" % status)
    finally:
        s.close()
    s, status = ws_handshake(w.server_port, w.path, protocol="chat")
    try:
        check(status is None or " 101 " not in status + " ",
              "WebSocket upgrade with another subprotocol accepted: %r" % status)
    finally:
        s.close()
    w.assert_works()


def auth_world(args):
    from rvpn_it import World
    return World(args, forwards=False, socks_auth=("alice", "s3cret:with-colon"))


@R.test(timeout=120, world=auth_world)
def socks_username_password_rfc1929(w):
    from rvpn_it import recv_exact as rx
    # Right credentials (the password may hold ':'), also byte by byte.
    for mode in ("normal", "bytewise"):
        r = socks_connect(w.socks_port, "127.0.0.1", w.targets.ports["echo"], mode=mode,
                          auth=w.socks_auth)
        try:
            check(r.rep == 0, "%s: right credentials: reply %s" % (mode, r.rep))
        finally:
            r.close()
    # Wrong password: RFC 1929 status != 0, then the connection closes.
    for user, pw in (("alice", "wrong"), ("bob", "s3cret:with-colon"), ("alice", "s3cret")):
        s = socket.create_connection(("127.0.0.1", w.socks_port), timeout=10)
        try:
            s.sendall(b"\x05\x01\x02")
            check(rx(s, 2) == b"\x05\x02", "method selection")
            u, p = user.encode(), pw.encode()
            s.sendall(bytes([1, len(u)]) + u + bytes([len(p)]) + p)
            st = rx(s, 2)
            check(st[0] == 1 and st[1] != 0, "wrong credentials %s/%s accepted: %r" % (user, pw, st))
            check(wait_closed(s, 10), "connection open after failed authentication")
        finally:
            s.close()
    # Offering only no-auth gets 05 FF.
    s = socket.create_connection(("127.0.0.1", w.socks_port), timeout=10)
    try:
        s.sendall(b"\x05\x01\x00")
        check(rx(s, 2) == b"\x05\xff", "no-auth accepted although --socks-auth is set")
    finally:
        s.close()
    w.assert_works()


if __name__ == "__main__":
    R.main()
