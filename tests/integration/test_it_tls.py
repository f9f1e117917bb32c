#!/usr/bin/env python3
"""wss://: the server with --cert/--cert-key (a self-signed certificate made
on the fly with the openssl CLI), the client verifying it with --ca; a wrong
CA refused; --insecure-tls accepted (the Noise handshake pins the key); an
HTTPS request on a wrong path gets an ordinary 404.

IP literals (client helper): wss://127.0.0.1 and wss://[::1] against a
certificate whose subjectAltName has only IP:127.0.0.1 / IP:::1 (no DNS
entry) connect; a certificate naming a different IP is refused with a hint
naming the address; the DNS-name check is unchanged (wss://localhost with
DNS:localhost works, with another name it is refused); wss:// to a plain
ws:// server says so.
Owner: integration helper (IP-literal cases: client helper)."""

import os
import shutil
import ssl
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rvpn_it import (MiB, Proc, Runner, TestSkip, World, check, free_port,  # noqa: E402
                     http_get_raw, log, make_self_signed, metric, port_accepts, run_tool,
                     socks_connect, socks_open, wait_until)

R = Runner("tls")


def tls_world(args):
    return World(args, tls=True)


def extra_client(w, extra):
    port = free_port()
    a = [w.client_bin, "-k", w.client_key, "-s", w.server_pub, "-D", "127.0.0.1:%d" % port] \
        + extra + [w.url]
    p = Proc("rvpn-client-tls", a, w.tmp, env=w.env())
    w.extra_clients.append(p)
    wait_until(lambda: port_accepts("127.0.0.1", port), 20, "extra client's SOCKS port")
    return p, port


@R.test(timeout=120, world=tls_world)
def wss_with_ca_carries_streams(w):
    w.assert_works()
    s = socks_open(w.socks_port, "::1", w.targets.http_port)
    try:
        st, _h, body = http_get_raw(s, "x", "/1m")
        check(st == 200 and body == w.targets.files["/1m"], "1 MiB over wss: status %d" % st)
    finally:
        s.close()


@R.test(timeout=200, world=tls_world)
def wss_wrong_ca_refused(w):
    other_cert, _k = make_self_signed(w.tmp, "other")
    _p, port = extra_client(w, ["--ca", other_cert])
    r = socks_connect(port, "127.0.0.1", w.targets.http_port, timeout=90)
    r.close()
    check(r.rep != 0, "a certificate not signed by --ca was accepted")
    log("wrong CA: %s" % ("closed" if r.rep is None else "reply %d" % r.rep))
    w.assert_works()


@R.test(timeout=200, world=tls_world)
def wss_insecure_tls_works(w):
    _p, port = extra_client(w, ["--insecure-tls"])
    w.wait_client(timeout=60, proxy_port=port, proc=_p)


@R.test(timeout=120, world=tls_world)
def https_wrong_path_plain_404(w):
    ctx = ssl.create_default_context(cafile=w.cert)
    raw = socket.create_connection(("127.0.0.1", w.server_port), timeout=10)
    s = ctx.wrap_socket(raw, server_hostname="localhost")
    try:
        st, headers, body = http_get_raw(s, "localhost", "/index.html", 10)
    finally:
        s.close()
    blob = ("\n".join(headers)).encode() + body
    check(st == 404, "HTTPS GET on a wrong path: status %d" % st)
    check(b"rvpn" not in blob.lower(), "404 page hints at rvpn")


@R.test(timeout=300, world=tls_world)
def wss_large_stream_checksum(w):
    import test_it_load as L
    size = 64 * MiB if w.sanitize else 256 * MiB
    metric("wss_upload_%dMiB_MBps" % (size // MiB), L.large_upload(w, size), "MB/s")
    metric("wss_download_%dMiB_MBps" % (size // MiB), L.large_download(w, size), "MB/s")


# ---------------------------------------------------------------- IP literals

def make_cert(w, name, san):
    """Self-signed P-256 certificate whose subjectAltName is exactly san
    (e.g. "IP:127.0.0.1"); returns (cert, key)."""
    exe = shutil.which("openssl")
    if not exe:
        raise TestSkip("openssl CLI not installed (Debian package openssl)")
    cert = os.path.join(w.tmp, name + ".crt")
    key = os.path.join(w.tmp, name + ".key.pem")
    run_tool([exe, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
              "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=rvpn-test",
              "-addext", "subjectAltName=" + san])
    os.chmod(key, 0o600)
    return cert, key


def tls_server(w, cert, key, host="127.0.0.1"):
    """An extra rvpn-server (same keys) with this certificate on host;
    returns its port."""
    port = free_port(host)
    argv = w.server_argv() + ["--cert", cert, "--cert-key", key]
    argv[argv.index("-l") + 1] = ("[%s]:%d" if ":" in host else "%s:%d") % (host, port)
    p = Proc("rvpn-server-tls", argv, w.tmp, env=w.env())
    w.extra_clients.append(p)  # stopped and checked (exit 0) at teardown
    wait_until(lambda: p.alive() and port_accepts(host, port), 20,
               "TLS server on %s port %d" % (host, port))
    return port


def url_client(w, url, ca):
    port = free_port()
    a = [w.client_bin, "-k", w.client_key, "-s", w.server_pub, "-D", "127.0.0.1:%d" % port,
         "--ca", ca, url]
    p = Proc("rvpn-client-url", a, w.tmp, env=w.env())
    w.extra_clients.append(p)
    wait_until(lambda: p.alive() and port_accepts("127.0.0.1", port), 20,
               "extra client's SOCKS port")
    return p, port


def assert_connects(w, url, ca, label):
    p, port = url_client(w, url, ca)
    t0 = time.monotonic()

    def ready():
        check(p.alive(), "client for %s exited:\n%s" % (url, p.tail()))
        r = socks_connect(port, "127.0.0.1", w.targets.http_port, timeout=5)
        r.close()
        return r.rep == 0
    try:
        wait_until(ready, 30, "a stream through %s" % url, interval=0.2)
    except BaseException:
        log(p.tail())
        raise
    metric("tls_connect_%s_s" % label, time.monotonic() - t0, "s")
    check("Hostname mismatch" not in p.log_text() and "does not name" not in p.log_text(),
          "a mismatch was logged for %s" % url)


def assert_refused(w, url, ca, hint):
    p, _port = url_client(w, url, ca)
    wait_until(lambda: "cannot connect" in p.log_text(), 30, "the client to report the failure")
    text = p.log_text()
    line = [l for l in text.splitlines() if "cannot connect" in l][0]
    log("%s: %s" % (url, line.strip()))
    check(hint in line, "no hint %r in %r" % (hint, line))
    check("tunnel up" not in text, "the tunnel came up for %s" % url)


def plain_world(args):
    return World(args)


@R.test(timeout=120, world=plain_world)
def wss_ipv4_literal_with_ip_san(w):
    cert, key = make_cert(w, "ip4", "IP:127.0.0.1")
    port = tls_server(w, cert, key)
    assert_connects(w, "wss://127.0.0.1:%d%s" % (port, w.path), cert, "ipv4_literal")


@R.test(timeout=120, world=plain_world)
def wss_ipv6_literal_with_ip_san(w):
    if not port_accepts("::1", w.targets.http_port):
        raise TestSkip("no IPv6 loopback")
    cert, key = make_cert(w, "ip6", "IP:::1")
    port = tls_server(w, cert, key, host="::1")
    assert_connects(w, "wss://[::1]:%d%s" % (port, w.path), cert, "ipv6_literal")


@R.test(timeout=120, world=plain_world)
def wss_ip_literal_wrong_ip_san_refused(w):
    cert, key = make_cert(w, "ipother", "IP:127.0.0.2,DNS:localhost")
    port = tls_server(w, cert, key)
    assert_refused(w, "wss://127.0.0.1:%d%s" % (port, w.path), cert,
                   "certificate does not name 127.0.0.1")
    # An IPv6 certificate entry never matches an IPv4 URL (exact bytes).
    cert6, key6 = make_cert(w, "ip6only", "IP:::ffff:127.0.0.1")
    port6 = tls_server(w, cert6, key6)
    assert_refused(w, "wss://127.0.0.1:%d%s" % (port6, w.path), cert6,
                   "certificate does not name 127.0.0.1")


@R.test(timeout=120, world=plain_world)
def wss_dns_name_check_unchanged(w):
    cert, key = make_cert(w, "dns", "DNS:localhost")
    port = tls_server(w, cert, key)
    assert_connects(w, "wss://localhost:%d%s" % (port, w.path), cert, "dns_name")
    cert2, key2 = make_cert(w, "dnsother", "DNS:other.test.rvpn,IP:127.0.0.1")
    port2 = tls_server(w, cert2, key2)
    assert_refused(w, "wss://localhost:%d%s" % (port2, w.path), cert2,
                   "certificate does not name localhost")


@R.test(timeout=120, world=plain_world)
def wss_to_plain_ws_server_hint(w):
    cert, _key = make_cert(w, "any", "IP:127.0.0.1")
    assert_refused(w, "wss://127.0.0.1:%d%s" % (w.server_port, w.path), cert,
                   "plain ws:// server")


if __name__ == "__main__":
    R.main()
