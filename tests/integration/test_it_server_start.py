#!/usr/bin/env python3
"""test_it_server_start - rvpn-server's start-up edge: it binds exactly the
-l address (IPv4 or IPv6), refuses an address the host does not have, refuses
a TLS certificate that does not match its key, and by default serves a
secret path derived from its key that `rvpn-server url` prints.

Only loopback is used: 127.0.0.2 is loopback too, so connecting to it tests
"not bound there" without leaving the host; 192.0.2.1 (TEST-NET-1) is only
bound to, never connected to."""

import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from rvpn_it import (Proc, Runner, TestSkip, World, check, free_port, log, make_self_signed,
                     port_accepts, wait_until, ws_handshake)

R = Runner("server_start")


def start(w, listen, extra=(), path=True):
    a = [w.server_bin, "-l", listen, "-k", w.server_key, "-a", w.authorized]
    if path:
        a += ["--path", w.path]
    return Proc("rvpn-server-start", a + list(extra), w.tmp, env=w.env())


def wait_accepts(p, host, port):
    def ok():
        check(p.alive(), "rvpn-server exited:\n%s" % p.tail())
        return port_accepts(host, port)
    wait_until(ok, 20, "rvpn-server to accept on %s port %d" % (host, port))


def wait_logged(p, text):
    """The kernel accepts as soon as the socket listens, which is before the
    server logs the address it bound: wait for the line, do not expect it."""
    def ok():
        check(p.alive(), "rvpn-server exited:\n%s" % p.tail())
        return text in p.log_text()
    wait_until(ok, 20, "rvpn-server's start-up log to show %r" % text)


def stop_clean(p):
    """SIGTERM: exit 0, no sanitizer report (leaks on any exit path count)."""
    rc, _, killed = p.stop()
    check(not killed and rc == 0, "rvpn-server exited %s after SIGTERM" % rc)
    rep = p.sanitizer_report()
    check(rep is None, "sanitizer report:\n%s" % rep)


def expect_exit(p, what, text):
    rc = p.wait(20)
    check(rc is not None, "rvpn-server kept running with %s:\n%s" % (what, p.tail()))
    check(rc != 0, "rvpn-server exited 0 with %s" % what)
    check(text in p.log_text(), "rvpn-server's message for %s lacks %r:\n%s" % (
        what, text, p.tail()))
    rep = p.sanitizer_report()
    check(rep is None, "sanitizer report after refusing %s:\n%s" % (what, rep))
    p.stop()


def have_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@R.test(timeout=60)
def listen_ipv4_binds_only_that_address(w):
    port = free_port()
    p = start(w, "127.0.0.1:%d" % port)
    try:
        wait_accepts(p, "127.0.0.1", port)
        # Before the fix lws bound [::]:port: 127.0.0.2 and ::1 were served too.
        check(not port_accepts("127.0.0.2", port),
              "-l 127.0.0.1:%d also accepts on 127.0.0.2" % port)
        if have_ipv6_loopback():
            check(not port_accepts("::1", port), "-l 127.0.0.1:%d also accepts on ::1" % port)
        wait_logged(p, "bound to 127.0.0.1:%d" % port)
    finally:
        stop_clean(p)


@R.test(timeout=60)
def listen_ipv6_binds_only_that_address(w):
    if not have_ipv6_loopback():
        raise TestSkip("no IPv6 loopback")
    port = free_port()
    p = start(w, "[::1]:%d" % port)
    try:
        wait_accepts(p, "::1", port)
        check(not port_accepts("127.0.0.1", port),
              "-l [::1]:%d also accepts on 127.0.0.1" % port)
        wait_logged(p, "bound to [::1]:%d" % port)
    finally:
        stop_clean(p)


@R.test(timeout=60)
def listen_address_not_on_host_refused(w):
    # Binding only: 192.0.2.1 is TEST-NET-1, never an address of this host.
    p = start(w, "192.0.2.1:%d" % free_port())
    expect_exit(p, "-l 192.0.2.1", "the host has no address 192.0.2.1")


@R.test(timeout=60)
def listen_address_in_use_refused(w):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        p = start(w, "127.0.0.1:%d" % port)
        expect_exit(p, "a port in use", "already in use")


@R.test(timeout=60)
def tls_certificate_of_another_key_refused(w):
    cert_a, key_a = make_self_signed(w.tmp, "a")
    cert_b, key_b = make_self_signed(w.tmp, "b")
    p = start(w, "127.0.0.1:%d" % free_port(), ["--cert", cert_a, "--cert-key", key_b])
    expect_exit(p, "a certificate made for another key", "does not match")
    # The matching pair starts.
    port = free_port()
    p = start(w, "127.0.0.1:%d" % port, ["--cert", cert_b, "--cert-key", key_b])
    try:
        wait_accepts(p, "127.0.0.1", port)
    finally:
        stop_clean(p)


@R.test(timeout=60)
def tls_expired_certificate_warned(w):
    key = os.path.join(w.tmp, "expired.key.pem")
    csr = os.path.join(w.tmp, "expired.csr")
    cert = os.path.join(w.tmp, "expired.crt")
    try:
        subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", csr,
                        "-subj", "/CN=localhost"], check=True, timeout=30,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Valid until yesterday.
        subprocess.run(["openssl", "x509", "-req", "-in", csr, "-signkey", key, "-days", "-1",
                        "-out", cert], check=True, timeout=30,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except (OSError, subprocess.CalledProcessError):
        raise TestSkip("openssl CLI cannot make an expired certificate here")
    os.chmod(key, 0o600)
    port = free_port()
    p = start(w, "127.0.0.1:%d" % port, ["--cert", cert, "--cert-key", key])
    try:
        wait_accepts(p, "127.0.0.1", port)
        wait_until(lambda: "expired on" in p.log_text(), 10,
                   "a warning that the certificate expired")
    finally:
        stop_clean(p)


@R.test(timeout=60)
def default_path_is_secret_derived_and_printed_by_url(w):
    with open(w.server_key, "rb") as f:
        r = subprocess.run([w.server_bin, "url", "ws://127.0.0.1:1"], stdin=f,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
    check(r.returncode == 0, "rvpn-server url failed: %r" % r.stderr)
    url = r.stdout.decode().strip()
    path = url[len("ws://127.0.0.1:1"):]
    check(path.startswith("/") and len(path) == 23 and path != "/rvpn",
          "url printed %r: not a 23-character secret path" % url)
    port = free_port()
    p = start(w, "127.0.0.1:%d" % port, path=False)
    try:
        wait_accepts(p, "127.0.0.1", port)
        wait_until(lambda: "client URL path %s" % path in p.log_text(), 10,
                   "the start-up log to name the path %s" % path)
        s, st = ws_handshake(port, path)
        s.close()
        check(st is not None and " 101 " in st + " ", "upgrade on the derived path: %r" % st)
        for other in ("/rvpn", "/"):
            s, st = ws_handshake(port, other)
            s.close()
            check(st is not None and " 404 " in st + " ",
                  "upgrade on %s: %r, expected nginx's 404" % (other, st))
    finally:
        stop_clean(p)
    # Another key, another path.
    other_key = os.path.join(w.tmp, "other.key")
    fd = os.open(other_key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    subprocess.run([w.server_bin, "genkey"], stdout=fd, timeout=20, check=True)
    os.close(fd)
    with open(other_key, "rb") as f:
        r2 = subprocess.run([w.server_bin, "url"], stdin=f, stdout=subprocess.PIPE,
                            timeout=20, check=True)
    check(r2.stdout.decode().strip() != path, "two keys gave the same path")


if __name__ == "__main__":
    R.main(make_world=lambda a: World(a, client=False))
